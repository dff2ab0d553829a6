"""Fixtures for the resilience tests: a sandbox Kubernetes API with a state file, a freshly
seeded moto account, and helpers that look at what a user would look at — the Service
objects through the `kubernetes` client, and the cloud read straight from moto with boto3
(never through the fault proxy).

Each test gets its own API server (so restarting it cannot disturb other tests) and a moto
account holding the seeded cluster and nothing else: the one the previous test left when
it is still exactly that, else a freshly reset and seeded one, so a leak left by one test
can never be blamed on, or hidden by, another.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import client, config

from lbctl.controller.controller import Controller
from lbctl.controller.options import Options
from lbctl.provider import Provider, ProviderConfig, load_provider
from lbctl.sandbox.aws import (
    MotoServer,
    SeededCluster,
    sandbox_environment,
    seed_cluster,
    write_sandbox_files,
)
from lbctl.sandbox.kube import KubeAPIServer
from tests.conftest import BotoClients

T = TypeVar("T")
CLUSTER_ID = "sandbox"
ANN = "service.beta.kubernetes.io/aws-load-balancer-"
FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
STATE_FILE = "kube-state.json"  # under the test's tmp_path
# `make test` runs the resilience tests at a size that fits its time budget on 2 cores;
# LBCTL_RESILIENCE=long (`make resilience`) runs them at full size.
LONG = os.environ.get("LBCTL_RESILIENCE", "") == "long"


def sized(default: int, long: int) -> int:
    """`long` under LBCTL_RESILIENCE=long, else `default`."""
    return long if LONG else default


def wait_for(fn: Callable[[], T], *, timeout: float, what: str, every: float = 0.1) -> T:
    """Poll `fn` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def lb_name(uid: str) -> str:
    """Upstream's DefaultLoadBalancerName: "a" + the UID without dashes, 32 characters."""
    return ("a" + uid.replace("-", ""))[:32]


def service_body(
    name: str,
    *,
    nlb: bool = False,
    ports: list[tuple[int, int]] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A type LoadBalancer Service; `ports` are (port, nodePort) pairs."""
    wanted = dict(annotations or {})
    if nlb:
        wanted[ANN + "type"] = "nlb"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "annotations": wanted},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": name},
            "ports": [
                {"name": f"p{port}", "port": port, "targetPort": 8080, "nodePort": node_port}
                for port, node_port in (ports or [(80, 30080)])
            ],
        },
    }


# --- the cloud, read straight from moto ----------------------------------------------------


@dataclass
class CloudState:
    """What lbctl owns in the account, by kind, as lists of names (repeats = duplicates)."""

    classic: list[str]
    network: list[str]
    target_groups: list[str]
    security_groups: list[str]  # every group in the VPC but "default" and the nodes' group
    node_rules: list[dict[str, Any]]  # ingress rules of the node security group
    listeners: dict[str, list[int]] = field(default_factory=dict)  # NLB name -> ports

    @property
    def balancers(self) -> list[str]:
        return self.classic + self.network

    def duplicates(self) -> dict[str, list[str]]:
        out = {}
        for kind, names in (
            ("balancer", self.balancers),
            ("target group", self.target_groups),
            ("security group", self.security_groups),
        ):
            repeated = sorted(n for n, c in Counter(names).items() if c > 1)
            if repeated:
                out[kind] = repeated
        for lb, ports in self.listeners.items():
            if len(ports) != len(set(ports)):
                out.setdefault("listener", []).append(f"{lb}: {sorted(ports)}")
        return out

    def empty(self) -> bool:
        return not (
            self.classic
            or self.network
            or self.target_groups
            or self.security_groups
            or self.node_rules
        )

    def leftovers(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in (
                ("classic", self.classic),
                ("network", self.network),
                ("target groups", self.target_groups),
                ("security groups", self.security_groups),
                ("node rules", self.node_rules),
            )
            if v
        }


def read_cloud(boto: BotoClients, cluster: SeededCluster) -> CloudState:
    """Everything in the account a balancer controller could have made, straight from moto."""
    classic = [
        d["LoadBalancerName"]
        for page in boto.elb.get_paginator("describe_load_balancers").paginate()
        for d in page["LoadBalancerDescriptions"]
    ]
    nlbs = [
        lb
        for page in boto.elbv2.get_paginator("describe_load_balancers").paginate()
        for lb in page["LoadBalancers"]
    ]
    listeners: dict[str, list[int]] = {}
    for lb in list(nlbs):
        try:
            found = boto.elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])
        except boto.elbv2.exceptions.LoadBalancerNotFoundException:
            nlbs.remove(lb)  # deleted since it was listed (the controller is at work)
            continue
        ports = [x["Port"] for x in found["Listeners"]]
        listeners.setdefault(lb["LoadBalancerName"], []).extend(ports)
    groups = [
        tg["TargetGroupName"]
        for page in boto.elbv2.get_paginator("describe_target_groups").paginate()
        for tg in page["TargetGroups"]
    ]
    in_vpc = [{"Name": "vpc-id", "Values": [cluster.vpc_id]}]
    security_groups = []
    node_rules: list[dict[str, Any]] = []
    for page in boto.ec2.get_paginator("describe_security_groups").paginate(Filters=in_vpc):
        for g in page["SecurityGroups"]:
            if g["GroupId"] == cluster.node_security_group_id:
                node_rules = g["IpPermissions"]
            elif g["GroupName"] != "default":
                # Anything else in the VPC was made by lbctl (the seed makes no other
                # group); owned or not, it must not outlive the Services.
                security_groups.append(g["GroupName"])
    return CloudState(
        classic=classic,
        network=[lb["LoadBalancerName"] for lb in nlbs],
        target_groups=groups,
        security_groups=security_groups,
        node_rules=node_rules,
        listeners=listeners,
    )


# --- the Kubernetes side -----------------------------------------------------------------


@dataclass
class World:
    kube: KubeAPIServer
    aws: SeededCluster
    moto: MotoServer
    boto: BotoClients
    cloud_config: Path
    kubeconfig: Path
    nodes_file: Path | None = None
    controllers: list[Controller] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.api = config.new_client_from_config(str(self.kubeconfig))
        self.core = client.CoreV1Api(self.api)

    # Services, through the client, as kubectl would.
    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = self.api.sanitize_for_serialization(
            self.core.create_namespaced_service("default", body)
        )
        return out

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            out: dict[str, Any] = self.api.sanitize_for_serialization(
                self.core.read_namespaced_service(name, "default")
            )
            return out
        except client.exceptions.ApiException as e:
            if e.status == 404:
                return None
            raise

    def services(self) -> dict[str, dict[str, Any]]:
        items = self.api.sanitize_for_serialization(
            self.core.list_namespaced_service("default").items
        )
        return {s["metadata"]["name"]: s for s in items}

    def delete(self, name: str) -> None:
        self.core.delete_namespaced_service(name, "default")

    @staticmethod
    def ingress_of(svc: dict[str, Any] | None) -> list[dict[str, Any]]:
        status = (svc or {}).get("status") or {}
        return list((status.get("loadBalancer") or {}).get("ingress") or [])

    def ingress(self, name: str) -> str | None:
        items = self.ingress_of(self.get(name))
        return items[0].get("hostname") if items else None

    def without_ingress(self, names: list[str]) -> list[str]:
        current = self.services()
        return [n for n in names if not self.ingress_of(current.get(n))]

    def cloud(self) -> CloudState:
        return read_cloud(self.boto, self.aws)

    def plan(self, directory: Path) -> dict[str, list[str]]:
        """`lbctl plan` of every Service in the API, straight against moto, as a user would
        run it to see whether anything is left to do: the changes by Service."""
        assert self.nodes_file is not None
        manifest = directory / "services.yaml"
        manifest.write_text(yaml.safe_dump_all(list(self.services().values())), encoding="utf-8")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "lbctl.cli",
                "plan",
                f"--filename={manifest}",
                f"--nodes={self.nodes_file}",
                f"--cloud-config={self.cloud_config}",
                f"--cluster-id={CLUSTER_ID}",
                "--output=json",
            ],
            env=dict(os.environ, AWS_ENDPOINT_URL=self.moto.endpoint),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"lbctl plan exited {done.returncode}: {done.stderr}"
        return {
            p["service"]: [f"{c['op']} {c['kind']} {c['name']}" for c in p["changes"]]
            for p in json.loads(done.stdout)["plans"]
        }

    # The controller, in this process.
    def provider(self) -> Provider:
        """The AWS provider; its boto3 clients read AWS_ENDPOINT_URL when first used."""
        return load_provider(
            "aws", ProviderConfig(cluster_id=CLUSTER_ID, cloud_config=self.cloud_config)
        )

    def controller(self, provider: Provider, **overrides: Any) -> Controller:
        values: dict[str, Any] = {
            "cluster_id": CLUSTER_ID,
            "cloud_config": self.cloud_config,
            "metrics_bind_address": "0",
            "health_probe_bind_address": "0",
            "resync_period": 3600.0,
            "watch_timeout": 30,
        }
        values.update(overrides)
        ctl = Controller(
            Options(**values),
            api_client=config.new_client_from_config(str(self.kubeconfig)),
            provider=provider,
        )
        self.controllers.append(ctl)
        ctl.start()
        assert ctl.wait_ready(15), "controller caches did not sync"
        return ctl


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[KubeAPIServer]:
    """A sandbox API server of this test's own, persisting to a state file."""
    server = KubeAPIServer(state_file=tmp_path / STATE_FILE, bookmark_interval=1.0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Account:
    cluster: SeededCluster
    files: dict[str, Path]


_ACCOUNT: list[Account] = []  # the seeded account these tests share, while it stays clean


def _reusable(moto: MotoServer, account: Account) -> bool:
    boto = BotoClients(endpoint=moto.endpoint, region=account.cluster.region)
    vpcs = boto.ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [account.cluster.vpc_id]}])[
        "Vpcs"
    ]
    return bool(vpcs) and read_cloud(boto, account.cluster).empty()


@pytest.fixture
def account(
    moto_server: MotoServer,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Account:
    """A seeded moto account with nothing of lbctl's in it. Seeding takes seconds, so the
    account the previous test of this module left is reused when it is still as seeded
    (another module reset moto, or a failed test left something behind: seeded afresh)."""
    if not _ACCOUNT or not _reusable(moto_server, _ACCOUNT[0]):
        moto_server.reset()
        cluster = seed_cluster(moto_server.endpoint)
        files = write_sandbox_files(tmp_path_factory.mktemp("resilience-aws"), cluster)
        _ACCOUNT[:] = [Account(cluster, files)]
    found = _ACCOUNT[0]
    for name, value in sandbox_environment(moto_server.endpoint, found.cluster.region).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return found


@pytest.fixture
def world(
    kube: KubeAPIServer, moto_server: MotoServer, account: Account, tmp_path: Path
) -> Iterator[World]:
    for node in account.cluster.nodes:
        kube.create(node)
    w = World(
        kube=kube,
        aws=account.cluster,
        moto=moto_server,
        boto=BotoClients(endpoint=moto_server.endpoint, region=account.cluster.region),
        cloud_config=account.files["cloud-config"],
        kubeconfig=kube.write_kubeconfig(tmp_path / "kubeconfig"),
        nodes_file=account.files["nodes"],
    )
    try:
        yield w
    finally:
        for ctl in w.controllers:
            ctl.stop(timeout=15)
