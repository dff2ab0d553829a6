"""The moto-backed AWS sandbox: seeded state read back through real boto3 over HTTP."""

from __future__ import annotations

import configparser
import io
import os
import shlex
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbctl.sandbox import run_sandbox
from lbctl.sandbox.aws import (
    NODE_AMI_ID,
    MotoServer,
    SeededCluster,
    boto_client,
    sandbox_environment,
    seed_cluster,
)

CLUSTER_TAG = "kubernetes.io/cluster/sandbox"


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def test_vpc_is_tagged_for_the_cluster(aws_cluster: SeededCluster, boto: Any) -> None:
    (vpc,) = boto.ec2.describe_vpcs(VpcIds=[aws_cluster.vpc_id])["Vpcs"]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert tags_of(vpc) == {"Name": "lbctl-sandbox", CLUSTER_TAG: "shared"}
    # The VPC is discoverable the way a provider would look it up: by cluster tag.
    found = boto.ec2.describe_vpcs(Filters=[{"Name": f"tag:{CLUSTER_TAG}", "Values": ["shared"]}])
    assert [v["VpcId"] for v in found["Vpcs"]] == [aws_cluster.vpc_id]


def test_public_and_private_subnets_per_az(aws_cluster: SeededCluster, boto: Any) -> None:
    assert set(aws_cluster.public_subnets) == {"us-east-1a", "us-east-1b"}
    assert set(aws_cluster.private_subnets) == {"us-east-1a", "us-east-1b"}
    subnets = {
        s["SubnetId"]: s
        for s in boto.ec2.describe_subnets(
            Filters=[{"Name": "vpc-id", "Values": [aws_cluster.vpc_id]}]
        )["Subnets"]
    }
    assert set(subnets) == set(aws_cluster.public_subnets.values()) | set(
        aws_cluster.private_subnets.values()
    )

    expected_cidrs = {
        aws_cluster.public_subnets["us-east-1a"]: "10.0.0.0/20",
        aws_cluster.public_subnets["us-east-1b"]: "10.0.16.0/20",
        aws_cluster.private_subnets["us-east-1a"]: "10.0.128.0/20",
        aws_cluster.private_subnets["us-east-1b"]: "10.0.144.0/20",
    }
    for subnet_id, cidr in expected_cidrs.items():
        assert subnets[subnet_id]["CidrBlock"] == cidr

    for az, subnet_id in aws_cluster.public_subnets.items():
        subnet = subnets[subnet_id]
        assert subnet["AvailabilityZone"] == az
        tags = tags_of(subnet)
        assert tags["kubernetes.io/role/elb"] == "1"
        assert tags[CLUSTER_TAG] == "shared"
        assert "kubernetes.io/role/internal-elb" not in tags
        assert tags["Name"]
    for az, subnet_id in aws_cluster.private_subnets.items():
        subnet = subnets[subnet_id]
        assert subnet["AvailabilityZone"] == az
        tags = tags_of(subnet)
        assert tags["kubernetes.io/role/internal-elb"] == "1"
        assert tags[CLUSTER_TAG] == "shared"
        assert "kubernetes.io/role/elb" not in tags
        assert tags["Name"]

    by_role = boto.ec2.describe_subnets(
        Filters=[
            {"Name": "tag:kubernetes.io/role/elb", "Values": ["1"]},
            {"Name": f"tag:{CLUSTER_TAG}", "Values": ["shared", "owned"]},
        ]
    )["Subnets"]
    assert {s["SubnetId"] for s in by_role} == set(aws_cluster.public_subnets.values())


def test_only_public_subnets_route_to_the_internet_gateway(
    aws_cluster: SeededCluster, boto: Any
) -> None:
    (igw,) = boto.ec2.describe_internet_gateways(
        InternetGatewayIds=[aws_cluster.internet_gateway_id]
    )["InternetGateways"]
    assert igw["Attachments"] == [{"State": "available", "VpcId": aws_cluster.vpc_id}]

    tables = boto.ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [aws_cluster.vpc_id]}]
    )["RouteTables"]

    def has_igw_route(table: dict[str, Any]) -> bool:
        return any(
            route.get("DestinationCidrBlock") == "0.0.0.0/0"
            and route.get("GatewayId") == aws_cluster.internet_gateway_id
            for route in table["Routes"]
        )

    main_tables = [t for t in tables if any(a.get("Main") for a in t["Associations"])]
    assert len(main_tables) == 1
    assert not has_igw_route(main_tables[0])

    explicit = {
        assoc["SubnetId"]: table
        for table in tables
        for assoc in table["Associations"]
        if assoc.get("SubnetId")
    }
    assert set(explicit) == set(aws_cluster.public_subnets.values())
    assert all(has_igw_route(table) for table in explicit.values())
    # Private subnets fall back to the main table, which has no internet route.
    assert not set(aws_cluster.private_subnets.values()) & set(explicit)


def test_node_security_group(aws_cluster: SeededCluster, boto: Any) -> None:
    (group,) = boto.ec2.describe_security_groups(GroupIds=[aws_cluster.node_security_group_id])[
        "SecurityGroups"
    ]
    assert group["GroupName"] == "k8s-nodes-sandbox"
    assert group["VpcId"] == aws_cluster.vpc_id
    assert tags_of(group)[CLUSTER_TAG] == "owned"


def test_instances_are_cluster_nodes_in_private_subnets(
    aws_cluster: SeededCluster, boto: Any
) -> None:
    reservations = boto.ec2.describe_instances(
        Filters=[{"Name": f"tag:{CLUSTER_TAG}", "Values": ["owned"]}]
    )["Reservations"]
    instances = {i["InstanceId"]: i for r in reservations for i in r["Instances"]}
    assert set(instances) == {seeded.instance_id for seeded in aws_cluster.instances}
    assert len(aws_cluster.instances) == 3
    assert {seeded.az for seeded in aws_cluster.instances} == {"us-east-1a", "us-east-1b"}

    names = set()
    for seeded in aws_cluster.instances:
        instance = instances[seeded.instance_id]
        assert instance["State"]["Name"] == "running"
        assert instance["ImageId"] == NODE_AMI_ID
        assert instance["VpcId"] == aws_cluster.vpc_id
        assert instance["SubnetId"] == aws_cluster.private_subnets[seeded.az]
        assert instance["Placement"]["AvailabilityZone"] == seeded.az
        assert instance["PrivateDnsName"] == seeded.private_dns_name
        assert instance["PrivateIpAddress"] == seeded.private_ip
        assert [g["GroupId"] for g in instance["SecurityGroups"]] == [
            aws_cluster.node_security_group_id
        ]
        names.add(tags_of(instance)["Name"])
    assert names == {"node-1", "node-2", "node-3"}


def test_nodes_match_instances(aws_cluster: SeededCluster) -> None:
    assert len(aws_cluster.nodes) == len(aws_cluster.instances)
    for node, seeded in zip(aws_cluster.nodes, aws_cluster.instances, strict=True):
        assert node["apiVersion"] == "v1"
        assert node["kind"] == "Node"
        assert node["metadata"]["name"] == seeded.private_dns_name
        labels = node["metadata"]["labels"]
        assert labels["kubernetes.io/hostname"] == seeded.private_dns_name
        assert labels["topology.kubernetes.io/zone"] == seeded.az
        assert labels["node.kubernetes.io/instance-type"]
        assert node["spec"]["providerID"] == f"aws:///{seeded.az}/{seeded.instance_id}"
        addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
        assert addresses == {"InternalIP": seeded.private_ip, "Hostname": seeded.private_dns_name}
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert [c["status"] for c in ready] == ["True"]


def test_sandbox_files_are_parseable(
    aws_cluster: SeededCluster, sandbox_files: dict[str, Path]
) -> None:
    assert set(sandbox_files) == {"nodes", "cloud-config"}
    assert sandbox_files["nodes"].name == "nodes.yaml"

    document = yaml.safe_load(sandbox_files["nodes"].read_text(encoding="utf-8"))
    assert document["apiVersion"] == "v1"
    assert document["kind"] == "List"
    assert document["items"] == aws_cluster.nodes
    # "True" must survive as a string, not become a YAML boolean.
    assert document["items"][0]["status"]["conditions"][0]["status"] == "True"

    config = configparser.ConfigParser()
    config.optionxform = str  # type: ignore[assignment,method-assign]
    assert config.read(sandbox_files["cloud-config"]) == [str(sandbox_files["cloud-config"])]
    assert dict(config["Global"]) == {
        "KubernetesClusterID": "sandbox",
        "VPC": aws_cluster.vpc_id,
    }


def test_environment_points_default_boto3_at_the_sandbox(
    aws_cluster: SeededCluster, moto_server: MotoServer
) -> None:
    import boto3

    assert sandbox_environment(moto_server.endpoint, "us-east-1") == {
        "AWS_ENDPOINT_URL": moto_server.endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    assert os.environ["AWS_ENDPOINT_URL"] == moto_server.endpoint
    # A client built with no arguments (as lbctl's provider would) reaches moto.
    ec2 = boto3.session.Session().client("ec2")
    (vpc,) = ec2.describe_vpcs(VpcIds=[aws_cluster.vpc_id])["Vpcs"]
    assert vpc["VpcId"] == aws_cluster.vpc_id


def test_reset_clears_state(aws_cluster: SeededCluster, moto_server: MotoServer, boto: Any) -> None:
    assert boto.ec2.describe_instances()["Reservations"]
    moto_server.reset()
    assert boto.ec2.describe_instances()["Reservations"] == []
    vpcs = boto.ec2.describe_vpcs()["Vpcs"]
    assert aws_cluster.vpc_id not in {v["VpcId"] for v in vpcs}
    assert boto.elbv2.describe_load_balancers()["LoadBalancers"] == []


def test_seed_cluster_options(moto_server: MotoServer) -> None:
    moto_server.reset()
    cluster = seed_cluster(
        moto_server.endpoint, region="eu-west-1", cluster_id="blue", node_count=1
    )
    assert cluster.region == "eu-west-1"
    assert set(cluster.public_subnets) == {"eu-west-1a", "eu-west-1b"}
    assert len(cluster.instances) == len(cluster.nodes) == 1
    (node,) = cluster.nodes
    assert node["spec"]["providerID"].startswith("aws:///eu-west-1a/i-")

    ec2 = boto_client("ec2", moto_server.endpoint, "eu-west-1")
    (vpc,) = ec2.describe_vpcs(VpcIds=[cluster.vpc_id])["Vpcs"]
    assert tags_of(vpc)["kubernetes.io/cluster/blue"] == "shared"
    (group,) = ec2.describe_security_groups(GroupIds=[cluster.node_security_group_id])[
        "SecurityGroups"
    ]
    assert group["GroupName"] == "k8s-nodes-blue"
    # Regions are isolated: nothing of this cluster shows up in us-east-1.
    other = boto_client("ec2", moto_server.endpoint, "us-east-1")
    assert cluster.vpc_id not in {v["VpcId"] for v in other.describe_vpcs()["Vpcs"]}


def _wait_for_hint(stream: io.StringIO, thread: threading.Thread | None = None) -> str:
    deadline = time.monotonic() + 10
    while "# try:" not in stream.getvalue():
        assert time.monotonic() < deadline, "run_sandbox printed no hint in time"
        assert thread is None or thread.is_alive(), "run_sandbox exited early"
        time.sleep(0.02)
    return stream.getvalue()


def _seeded_instances(output: str) -> list[Any]:
    exports = _parse_exports(output)
    ec2 = boto_client("ec2", exports["AWS_ENDPOINT_URL"], exports["AWS_REGION"])
    reservations = ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["running"]}]
    )["Reservations"]

    class Found:
        def __init__(self, instance_id: str) -> None:
            self.instance_id = instance_id

    return [Found(i["InstanceId"]) for r in reservations for i in r["Instances"]]


def _parse_exports(output: str) -> dict[str, str]:
    exports = {}
    for line in output.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            (exports[name],) = shlex.split(value)
    return exports


def test_run_sandbox_in_a_thread(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    stop = threading.Event()
    result: list[int] = []
    directory = tmp_path / "my sandbox"  # needs quoting in the hint
    thread = threading.Thread(
        target=lambda: result.append(
            run_sandbox(
                directory=directory,
                port=0,
                region="us-west-2",
                cluster_id="dev",
                stream=stream,
                node_count=1,
                stop=stop,
            )
        ),
        daemon=True,
    )
    thread.start()
    try:
        output = _wait_for_hint(stream, thread)
        # The Kubernetes API server runs too, with the seeded Node, behind KUBECONFIG.
        from kubernetes import client, config

        api = client.CoreV1Api(
            config.new_client_from_config(config_file=_parse_exports(output)["KUBECONFIG"])
        )
        assert [n.spec.provider_id.split("/")[-1] for n in api.list_node().items] == [
            i.instance_id for i in _seeded_instances(output)
        ]
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert result == [0]

    lines = output.splitlines()
    assert all(line.startswith(("export ", "# try: ")) for line in lines)
    exports = _parse_exports(output)
    assert set(exports) == {
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "KUBECONFIG",
    }
    assert exports["KUBECONFIG"] == str(directory / "kubeconfig")
    assert exports["AWS_REGION"] == exports["AWS_DEFAULT_REGION"] == "us-west-2"
    assert exports["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert not exports["AWS_ENDPOINT_URL"].endswith(":0")

    hint = shlex.split(lines[-1].removeprefix("# try: "))
    assert hint[:4] == ["lbctl", "plan", "-f", "examples/"]
    assert hint[hint.index("--nodes") + 1] == str(directory / "nodes.yaml")
    assert hint[hint.index("--cloud-config") + 1] == str(directory / "cloud-config")
    assert hint[hint.index("--cluster-id") + 1] == "dev"

    config = configparser.ConfigParser()
    config.optionxform = str  # type: ignore[assignment,method-assign]
    config.read(directory / "cloud-config")
    assert config["Global"]["KubernetesClusterID"] == "dev"
    assert (directory / "nodes.yaml").is_file()
    # Nothing else went to the real stdout.
    assert capsys.readouterr().out == ""


def test_run_sandbox_stops_on_sigterm_in_main_thread(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    stream = io.StringIO()
    seen: dict[str, str] = {}

    def send_sigterm() -> None:
        try:
            exports = _parse_exports(_wait_for_hint(stream))
            seen.update(exports)
            # The server is really up while run_sandbox blocks.
            ec2 = boto_client("ec2", exports["AWS_ENDPOINT_URL"], exports["AWS_REGION"])
            seen["vpcs"] = str(len(ec2.describe_vpcs()["Vpcs"]))
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    sender = threading.Thread(target=send_sigterm, daemon=True)
    sender.start()
    assert run_sandbox(directory=tmp_path, port=0, stream=stream, node_count=1) == 0
    sender.join(timeout=10)
    assert int(seen["vpcs"]) >= 1
    # Handlers are restored and the server is gone.
    assert signal.getsignal(signal.SIGTERM) == before
    host, _, port = seen["AWS_ENDPOINT_URL"].removeprefix("http://").rpartition(":")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=2).close()
