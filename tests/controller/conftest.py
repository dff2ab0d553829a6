"""Integration fixtures: the sandbox Kubernetes API + a seeded moto server, and lbctl's
controller running against both through the real `kubernetes` client and boto3.

`cluster` gives a clean API server (reset per test) holding the seeded cluster's Nodes, a
moto account left clean by the previous test (see world.SeededAWS), and the helpers of
world.Cluster. Controllers started through it are stopped after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lbctl.sandbox.aws import MotoServer, sandbox_environment
from lbctl.sandbox.kube import KubeAPIServer
from tests.controller.world import Cluster, SeededAWS


@pytest.fixture(scope="session")
def kube_server() -> Iterator[KubeAPIServer]:
    server = KubeAPIServer(bookmark_interval=1.0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def seeded_aws(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> SeededAWS:
    return SeededAWS(moto_server, tmp_path_factory.mktemp("controller-aws"))


@pytest.fixture
def cluster(
    kube_server: KubeAPIServer,
    seeded_aws: SeededAWS,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Cluster]:
    for name, value in sandbox_environment(seeded_aws.server.endpoint, "us-east-1").items():
        monkeypatch.setenv(name, value)  # boto3 (in lbctl run subprocesses too) finds moto
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    aws, provider = seeded_aws.ready()
    kube_server.reset()
    for node in aws.nodes:
        kube_server.create(node)
    world = Cluster(
        kube=kube_server,
        aws=aws,
        endpoint=seeded_aws.server.endpoint,
        cloud_config=seeded_aws.cloud_config,
        kubeconfig=kube_server.write_kubeconfig(tmp_path / "kubeconfig"),
        provider=provider,
        ec2=seeded_aws.ec2,
        elb=seeded_aws.elb,
    )
    try:
        yield world
    finally:
        for ctl in world.controllers:
            ctl.stop(timeout=10)
