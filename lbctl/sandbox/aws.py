"""A seeded, realistic AWS cluster network on a local moto server (or LocalStack).

lbctl's AWS provider talks to EC2 / ELB / ELBv2 through real boto3 clients.  To
exercise it end to end without an AWS account, this module starts moto's HTTP
server on localhost and seeds it with what a real Kubernetes cluster on AWS
looks like: a VPC tagged for the cluster, public and private subnets in two
availability zones carrying the ``kubernetes.io/role/elb`` /
``kubernetes.io/role/internal-elb`` tags, an internet gateway routed only from
the public subnets, a node security group, node instances and a self-signed ACM
certificate (for the SSL examples).  It also renders the matching v1 ``Node``
objects and a ``cloud-config`` file, so the provider runs against real boto3
over HTTP with no patched SDK methods.

The seeding talks plain AWS APIs to any endpoint, so the same code seeds an
emulator that is already running (LocalStack, a moto server started elsewhere):
``lbctl.sandbox.aws_external`` wraps such an endpoint with the reset the emulator
offers and has the command line LocalStack's init hook runs (``localstack/``).

moto and boto3 are imported only inside functions: the core ``lbctl`` package
must not pull in a cloud SDK at import time.
"""

from __future__ import annotations

import configparser
import datetime
import functools
import json
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CERTIFICATE_ARN_FILE",
    "DEFAULT_INSTANCE_TYPE",
    "ENDPOINT_VARIABLE",
    "NODE_AMI_ID",
    "MotoServer",
    "SeededCluster",
    "SeededInstance",
    "boto_client",
    "import_certificate",
    "sandbox_environment",
    "seed_cluster",
    "start_moto",
    "write_sandbox_files",
]

# Names an AWS emulator that is already running (LocalStack, a moto server run elsewhere):
# the test suite then uses it instead of starting moto (tests/conftest.py).
ENDPOINT_VARIABLE = "LBCTL_AWS_ENDPOINT"

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
VPC_CIDR = "10.0.0.0/16"
PUBLIC_CIDRS = ("10.0.0.0/20", "10.0.16.0/20")
PRIVATE_CIDRS = ("10.0.128.0/20", "10.0.144.0/20")
AZ_SUFFIXES = ("a", "b")
CERTIFICATE_DOMAIN = "lbctl-sandbox.example.com"
CERTIFICATE_ARN_FILE = "certificate-arn"
DEFAULT_INSTANCE_TYPE = "m5.large"
CANONICAL_OWNER_ID = "099720109477"
# One of the AMIs moto loads by default in every region (Canonical's Ubuntu
# 14.04 image, from moto's ``ec2/resources/amis.json``).
NODE_AMI_ID = "ami-1e749f67"
# That image in the format of moto's AMI files, for ``start_moto(minimal_amis=True)``.
_NODE_AMI: dict[str, Any] = {
    "ami_id": NODE_AMI_ID,
    "state": "available",
    "public": True,
    "owner_id": CANONICAL_OWNER_ID,
    "image_location": "amazon/getting-started",
    "sriov": "simple",
    "root_device_type": "ebs",
    "root_device_name": "/dev/sda1",
    "description": "Canonical, Ubuntu, 14.04 LTS, amd64 trusty image build on 2017-07-27",
    "image_type": "machine",
    "platform": None,
    "architecture": "x86_64",
    "name": "ubuntu/images/hvm-ssd/ubuntu-trusty-14.04-amd64-server-20170727",
    "virtualization_type": "hvm",
    "hypervisor": "xen",
}


@dataclass
class MotoServer:
    """A running moto server; ``endpoint`` is its base URL (``http://host:port``).

    ``aws_external.connect`` makes one for an emulator this process did not start (``kind`` is
    then ``"localstack"``, ``"moto"`` or ``"other"``): ``stop()`` leaves it running and
    ``reset()`` uses that emulator's own reset (see ``aws_external.connect``).
    """

    endpoint: str
    _stop: Callable[[], None] = field(repr=False)
    _stopped: bool = field(default=False, repr=False)
    kind: str = "moto"
    _reset: Callable[[], None] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Shut the server down (idempotent)."""
        if not self._stopped:
            self._stopped = True
            self._stop()

    def reset(self) -> None:
        """Clear every resource in every moto backend (or the emulator's equivalent)."""
        if self._reset is not None:
            self._reset()
        else:
            post(f"{self.endpoint}/moto-api/reset", timeout=10)


def post(url: str, timeout: float = 60) -> None:
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()


def nothing() -> None:
    pass


def _use_minimal_amis() -> Callable[[], None]:
    """Point ``MOTO_AMIS_PATH`` at a one-image file; return the undo function."""
    workdir = tempfile.mkdtemp(prefix="lbctl-moto-")
    amis_path = os.path.join(workdir, "amis.json")
    with open(amis_path, "w", encoding="utf-8") as handle:
        json.dump([_NODE_AMI], handle)
    previous = os.environ.get("MOTO_AMIS_PATH")
    os.environ["MOTO_AMIS_PATH"] = amis_path

    def restore() -> None:
        if previous is None:
            os.environ.pop("MOTO_AMIS_PATH", None)
        else:
            os.environ["MOTO_AMIS_PATH"] = previous
        shutil.rmtree(workdir, ignore_errors=True)

    return restore


def start_moto(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    quiet: bool = True,
    minimal_amis: bool = False,
) -> MotoServer:
    """Start moto's threaded server (port 0 picks a free port) and return it.

    ``quiet`` silences werkzeug's per-request access log on stderr.

    ``minimal_amis`` makes every EC2 region backend load a single AMI (the node
    image) instead of ~1,300: moto's documented ``MOTO_AMIS_PATH`` setting, set in
    this process's environment (the server runs in-process) until ``stop()``.
    It cuts the cost of the first EC2 call after each ``reset()`` from ~0.4 s to
    milliseconds, which is what makes a per-test reset affordable.
    """
    from moto.server import ThreadedMotoServer

    if quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    restore_env = _use_minimal_amis() if minimal_amis else nothing
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    try:
        server.start()
    except BaseException:
        restore_env()
        raise
    bound_host, bound_port = server.get_host_and_port()

    def stop() -> None:
        try:
            server.stop()
        finally:
            restore_env()

    return MotoServer(endpoint=f"http://{bound_host}:{bound_port}", _stop=stop)


@dataclass(frozen=True)
class SeededInstance:
    """One node instance created by :func:`seed_cluster`."""

    instance_id: str
    az: str
    private_dns_name: str
    private_ip: str


@dataclass(frozen=True)
class SeededCluster:
    """Identifiers of everything :func:`seed_cluster` created."""

    cluster_id: str
    region: str
    vpc_id: str
    public_subnets: dict[str, str]
    private_subnets: dict[str, str]
    internet_gateway_id: str
    node_security_group_id: str
    instances: list[SeededInstance]
    nodes: list[dict[str, Any]]
    # The ACM ARN of a self-signed certificate for the SSL examples; moto assigns it.
    certificate_arn: str = ""


def boto_client(service: str, endpoint: str, region: str) -> Any:
    """A boto3 client for ``service`` pointed at the sandbox endpoint (moto or LocalStack)."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _tag_spec(resource_type: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": _tags(tags)}]


def _pick_ami(ec2: Any) -> str:
    """An AMI id moto knows: ``NODE_AMI_ID`` if loaded, else another Ubuntu image.

    With no images at all (``MOTO_EC2_LOAD_DEFAULT_AMIS=false``) ``NODE_AMI_ID``
    is still returned: moto does not validate AMI ids unless told to.
    """
    images = ec2.describe_images(
        Owners=[CANONICAL_OWNER_ID],
        Filters=[{"Name": "name", "Values": ["ubuntu/images/*"]}],
    )["Images"]
    image_ids = sorted(str(image["ImageId"]) for image in images)
    if NODE_AMI_ID in image_ids or not image_ids:
        return NODE_AMI_ID
    return image_ids[0]


@functools.lru_cache(maxsize=1)
def _self_signed_certificate() -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for ``CERTIFICATE_DOMAIN``, valid for a year.

    Generated once per process: RSA key generation is the slow part, and every seeded
    cluster may share the same certificate (ACM gives each import its own ARN).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CERTIFICATE_DOMAIN)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(CERTIFICATE_DOMAIN)]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def import_certificate(endpoint: str, region: str, cluster_id: str) -> str:
    """Import a self-signed certificate into the sandbox's ACM; return its ARN.

    moto (like ACM) assigns the ARN on import, so it differs from run to run: manifests
    that name a certificate have to be given the ARN this returns.
    """
    certificate, private_key = _self_signed_certificate()
    acm = boto_client("acm", endpoint, region)
    arn: str = acm.import_certificate(
        Certificate=certificate,
        PrivateKey=private_key,
        Tags=_tags({"Name": "lbctl-sandbox", f"kubernetes.io/cluster/{cluster_id}": "shared"}),
    )["CertificateArn"]
    return arn


def node_object(instance: SeededInstance, instance_type: str, region: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": instance.private_dns_name,
            "labels": {
                "kubernetes.io/hostname": instance.private_dns_name,
                "kubernetes.io/os": "linux",
                "topology.kubernetes.io/region": region,
                "topology.kubernetes.io/zone": instance.az,
                "node.kubernetes.io/instance-type": instance_type,
            },
        },
        "spec": {"providerID": f"aws:///{instance.az}/{instance.instance_id}"},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": instance.private_ip},
                {"type": "Hostname", "address": instance.private_dns_name},
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                }
            ],
        },
    }


def seed_cluster(
    endpoint: str,
    *,
    region: str = "us-east-1",
    cluster_id: str = "sandbox",
    node_count: int = 3,
) -> SeededCluster:
    """Create a cluster network and node instances at ``endpoint`` (moto, LocalStack, ...)."""
    if node_count < 0:
        raise ValueError("node_count must be >= 0")
    ec2 = boto_client("ec2", endpoint, region)
    cluster_tag = f"kubernetes.io/cluster/{cluster_id}"

    vpc_id: str = ec2.create_vpc(
        CidrBlock=VPC_CIDR,
        TagSpecifications=_tag_spec("vpc", {"Name": "lbctl-sandbox", cluster_tag: "shared"}),
    )["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})

    igw_id: str = ec2.create_internet_gateway(
        TagSpecifications=_tag_spec(
            "internet-gateway", {"Name": "lbctl-sandbox", cluster_tag: "shared"}
        ),
    )["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)

    public_rt_id: str = ec2.create_route_table(
        VpcId=vpc_id,
        TagSpecifications=_tag_spec(
            "route-table", {"Name": "lbctl-sandbox-public", cluster_tag: "shared"}
        ),
    )["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rt_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)

    azs = [f"{region}{suffix}" for suffix in AZ_SUFFIXES]
    public_subnets: dict[str, str] = {}
    private_subnets: dict[str, str] = {}
    for az, public_cidr, private_cidr in zip(azs, PUBLIC_CIDRS, PRIVATE_CIDRS, strict=True):
        public_id: str = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=public_cidr,
            AvailabilityZone=az,
            TagSpecifications=_tag_spec(
                "subnet",
                {
                    "Name": f"lbctl-sandbox-public-{az}",
                    "kubernetes.io/role/elb": "1",
                    cluster_tag: "shared",
                },
            ),
        )["Subnet"]["SubnetId"]
        ec2.associate_route_table(RouteTableId=public_rt_id, SubnetId=public_id)
        public_subnets[az] = public_id

        private_id: str = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=private_cidr,
            AvailabilityZone=az,
            TagSpecifications=_tag_spec(
                "subnet",
                {
                    "Name": f"lbctl-sandbox-private-{az}",
                    "kubernetes.io/role/internal-elb": "1",
                    cluster_tag: "shared",
                },
            ),
        )["Subnet"]["SubnetId"]
        private_subnets[az] = private_id

    node_sg_id: str = ec2.create_security_group(
        GroupName=f"k8s-nodes-{cluster_id}",
        Description=f"Kubernetes nodes of cluster {cluster_id}",
        VpcId=vpc_id,
        TagSpecifications=_tag_spec(
            "security-group", {"Name": f"k8s-nodes-{cluster_id}", cluster_tag: "owned"}
        ),
    )["GroupId"]

    ami_id = _pick_ami(ec2) if node_count else NODE_AMI_ID
    instances: list[SeededInstance] = []
    for index in range(node_count):
        az = azs[index % len(azs)]
        reservation = ec2.run_instances(
            ImageId=ami_id,
            InstanceType=DEFAULT_INSTANCE_TYPE,
            MinCount=1,
            MaxCount=1,
            SubnetId=private_subnets[az],
            SecurityGroupIds=[node_sg_id],
            TagSpecifications=_tag_spec(
                "instance", {"Name": f"node-{index + 1}", cluster_tag: "owned"}
            ),
        )
        created = reservation["Instances"][0]
        instances.append(
            SeededInstance(
                instance_id=created["InstanceId"],
                az=created["Placement"]["AvailabilityZone"],
                private_dns_name=created["PrivateDnsName"],
                private_ip=created["PrivateIpAddress"],
            )
        )

    nodes = [node_object(instance, DEFAULT_INSTANCE_TYPE, region) for instance in instances]
    certificate_arn = import_certificate(endpoint, region, cluster_id)
    return SeededCluster(
        cluster_id=cluster_id,
        region=region,
        vpc_id=vpc_id,
        public_subnets=public_subnets,
        private_subnets=private_subnets,
        internet_gateway_id=igw_id,
        node_security_group_id=node_sg_id,
        instances=instances,
        nodes=nodes,
        certificate_arn=certificate_arn,
    )


def write_sandbox_files(directory: Path, cluster: SeededCluster) -> dict[str, Path]:
    """Write ``nodes.yaml`` and ``cloud-config`` for ``cluster`` into ``directory``.

    The seeded certificate's ARN, when there is one, goes to ``certificate-arn`` (one
    line) beside them, for scripts that fill it into the SSL examples.
    """
    directory.mkdir(parents=True, exist_ok=True)

    nodes_path = directory / "nodes.yaml"
    node_list = {"apiVersion": "v1", "kind": "List", "items": cluster.nodes}
    nodes_path.write_text(yaml.safe_dump(node_list, sort_keys=False), encoding="utf-8")

    config = configparser.ConfigParser()
    config.optionxform = str  # type: ignore[assignment,method-assign]
    config["Global"] = {"KubernetesClusterID": cluster.cluster_id, "VPC": cluster.vpc_id}
    cloud_config_path = directory / "cloud-config"
    with cloud_config_path.open("w", encoding="utf-8") as handle:
        config.write(handle, space_around_delimiters=True)

    if cluster.certificate_arn:
        (directory / CERTIFICATE_ARN_FILE).write_text(
            cluster.certificate_arn + "\n", encoding="utf-8"
        )

    return {"nodes": nodes_path, "cloud-config": cloud_config_path}


def sandbox_environment(endpoint: str, region: str) -> dict[str, str]:
    """Environment variables that point boto3 (and so lbctl) at the sandbox."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }
