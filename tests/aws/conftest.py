"""Fixtures for the AWS classic-ELB tests: an lbctl runner, a cloud reader, an ACM cert."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lbctl.sandbox.aws import (
    MotoServer,
    SeededCluster,
    boto_client,
    sandbox_environment,
    seed_cluster,
    write_sandbox_files,
)
from tests.aws.helpers import Cloud, Lbctl


def _self_signed(common_name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


def import_certificate(acm: Any, common_name: str = "web.example.com") -> str:
    cert, key = _self_signed(common_name)
    return str(acm.import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"])


@pytest.fixture
def cert_arn(boto: Any) -> str:
    """An ACM certificate ARN moto accepts on CreateLoadBalancer (a self-signed import)."""
    return import_certificate(boto.acm)


@dataclass
class Sandbox:
    """A seeded cluster shared by the tests of one module (see `module_sandbox`)."""

    cluster: SeededCluster
    lbctl: Lbctl
    cloud: Cloud
    clients: dict[str, Any]
    directory: Path


@pytest.fixture(scope="module")
def module_sandbox(
    moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sandbox]:
    """Like `aws_cluster` + `lbctl` + `cloud`, but reset and seeded once per module.

    For table tests: one lbctl run applies every case of the table as its own Service, and
    each case is then checked by its own test. The moto server is reset here, so a module
    using this fixture must not also use the function-scoped `aws_cluster` fixture.
    """
    moto_server.reset()
    cluster = seed_cluster(moto_server.endpoint)
    directory = tmp_path_factory.mktemp("module-sandbox")
    files = write_sandbox_files(directory, cluster)
    manifests = directory / "manifests"
    manifests.mkdir()
    clients = {
        name: boto_client(name, moto_server.endpoint, cluster.region)
        for name in ("ec2", "elb", "acm")
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in sandbox_environment(moto_server.endpoint, cluster.region).items():
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        mp.delenv("AWS_SESSION_TOKEN", raising=False)
        yield Sandbox(
            cluster=cluster,
            lbctl=Lbctl(manifests, files["nodes"], files["cloud-config"]),
            cloud=Cloud(ec2=clients["ec2"], elb=clients["elb"], vpc_id=cluster.vpc_id),
            clients=clients,
            directory=directory,
        )


@pytest.fixture
def user_group(boto: Any, aws_cluster: SeededCluster) -> str:
    """A security group the user made by hand (no cluster tag), with one rule of its own."""
    group_id = str(
        boto.ec2.create_security_group(
            GroupName="team-web-elb",
            Description="hand-made by the web team",
            VpcId=aws_cluster.vpc_id,
            TagSpecifications=[
                {"ResourceType": "security-group", "Tags": [{"Key": "team", "Value": "web"}]}
            ],
        )["GroupId"]
    )
    boto.ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 8443,
                "ToPort": 8443,
                "IpRanges": [{"CidrIp": "192.0.2.0/24"}],
            }
        ],
    )
    return group_id


@pytest.fixture(scope="package", autouse=True)
def _long_lived_objects_out_of_gc(moto_server: MotoServer) -> Iterator[None]:
    """Keep the garbage collector off the objects that live all session (speed only).

    Each lbctl run builds fresh boto3 clients (it is a CLI: one session per run), and
    loading the EC2 model allocates enough to trigger full collections that walk moto's
    and botocore's long-lived objects every time. Freezing them once the moto server has
    started, and collecting less often, roughly halves the cost of a run. Behaviour is
    unchanged; both settings are restored when the package's tests are done.
    """
    import gc

    threshold = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
