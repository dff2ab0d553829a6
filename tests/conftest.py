"""Shared pytest fixtures: a moto server with a seeded AWS cluster network.

The server is real HTTP (moto's threaded server); tests talk to it through
real boto3 clients configured only through environment variables. No SDK
method is patched.

With ``LBCTL_AWS_ENDPOINT`` set (``make test-localstack``, localstack/README.md) no moto
server is started: the tests use the emulator at that URL, reset it the way it allows
(``lbctl.sandbox.aws_external.connect``) and must then run in one process (``-n 0``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from lbctl.sandbox.aws import (
    ENDPOINT_VARIABLE,
    MotoServer,
    SeededCluster,
    boto_client,
    sandbox_environment,
    seed_cluster,
    start_moto,
    write_sandbox_files,
)
from lbctl.sandbox.aws_external import connect
from tests.aws.helpers import Cloud, Lbctl


def _external_endpoint() -> str:
    return os.environ.get(ENDPOINT_VARIABLE, "").strip()


def pytest_configure(config: pytest.Config) -> None:
    workers = getattr(config.option, "numprocesses", None)
    if _external_endpoint() and isinstance(workers, int) and workers > 1:
        # Every worker would reset the one shared emulator under the others' feet.
        raise pytest.UsageError(
            f"{ENDPOINT_VARIABLE} is set: the tests share that one AWS endpoint and reset it"
            f" per test, so run them in one process (-n 0), or unset {ENDPOINT_VARIABLE}"
            " to use a moto server per worker"
        )


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server (random free port) for the whole test session.

    With ``LBCTL_AWS_ENDPOINT`` set, the emulator already running there instead (its
    regions us-east-1 and eu-west-1 are what a reset must clear when it has no reset API).
    """
    if _external_endpoint():
        yield connect(_external_endpoint(), regions=("us-east-1", "eu-west-1"))
        return
    server = start_moto(minimal_amis=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws_cluster(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> SeededCluster:
    """A freshly reset moto server seeded with a cluster; AWS_* env vars point at it."""
    moto_server.reset()
    cluster = seed_cluster(moto_server.endpoint)
    for name, value in sandbox_environment(moto_server.endpoint, cluster.region).items():
        monkeypatch.setenv(name, value)
    # Keep the developer's real AWS config/profile out of the picture.
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return cluster


@pytest.fixture
def sandbox_files(tmp_path: Path, aws_cluster: SeededCluster) -> dict[str, Path]:
    """``nodes.yaml`` and ``cloud-config`` for ``aws_cluster``, written under ``tmp_path``."""
    return write_sandbox_files(tmp_path, aws_cluster)


@dataclass
class BotoClients:
    """boto3 clients pointed at the moto server, for reading cloud state back."""

    endpoint: str
    region: str

    def client(self, service: str) -> Any:
        return boto_client(service, self.endpoint, self.region)

    @cached_property
    def ec2(self) -> Any:
        return self.client("ec2")

    @cached_property
    def elb(self) -> Any:
        return self.client("elb")

    @cached_property
    def elbv2(self) -> Any:
        return self.client("elbv2")

    @cached_property
    def acm(self) -> Any:
        return self.client("acm")

    @cached_property
    def iam(self) -> Any:
        return self.client("iam")


@pytest.fixture
def boto(moto_server: MotoServer, aws_cluster: SeededCluster) -> BotoClients:
    """``.ec2`` / ``.elb`` / ``.elbv2`` (and ``.acm`` / ``.iam``) clients for ``aws_cluster``."""
    return BotoClients(endpoint=moto_server.endpoint, region=aws_cluster.region)


# The AWS suites' lbctl runner and cloud reader (tests/aws, tests/property); tests/gce's
# conftest gives its own under the same names.
@pytest.fixture
def lbctl(tmp_path: Path, sandbox_files: dict[str, Path]) -> Lbctl:
    """Runs lbctl against the seeded sandbox (nodes file and cloud-config)."""
    work = tmp_path / "manifests"
    work.mkdir()
    return Lbctl(work, sandbox_files["nodes"], sandbox_files["cloud-config"])


@pytest.fixture
def cloud(boto: Any, aws_cluster: SeededCluster) -> Cloud:
    return Cloud(ec2=boto.ec2, elb=boto.elb, vpc_id=aws_cluster.vpc_id)
