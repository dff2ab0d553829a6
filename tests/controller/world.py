"""The world the controller's integration tests run in: the sandbox Kubernetes API and a
seeded moto account, with helpers that read back what a user would look at (the Service,
its Events, the ELB). The fixtures that build it are in conftest.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, config

from lbctl.controller.controller import Controller
from lbctl.controller.options import Options
from lbctl.provider import Provider, ProviderConfig, load_provider
from lbctl.sandbox.aws import (
    MotoServer,
    SeededCluster,
    boto_client,
    seed_cluster,
    write_sandbox_files,
)
from lbctl.sandbox.kube import KubeAPIServer

T = TypeVar("T")
CLUSTER_ID = "sandbox"
ANN = "service.beta.kubernetes.io/aws-load-balancer-"
FINALIZER = "service.kubernetes.io/load-balancer-cleanup"


def wait_for(fn: Callable[[], T], *, timeout: float = 15.0, what: str = "condition") -> T:
    """Poll `fn` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class SeededAWS:
    """One seeded moto account reused by the controller tests of a worker.

    Seeding costs seconds and every test here leaves the cloud clean, so the account is
    re-seeded only when it is not as left: another module reset moto (the VPC is gone) or
    a failed test left balancers behind. The AWS provider (and its boto3 clients, whose
    models take a second to load) is shared the same way; tests look at call-count
    deltas, never at totals.
    """

    def __init__(self, server: MotoServer, directory: Path) -> None:
        self.server = server
        self.directory = directory
        self.cluster: SeededCluster | None = None
        self.provider: Provider | None = None
        self.cloud_config = directory / "cloud-config"
        self.ec2 = boto_client("ec2", server.endpoint, "us-east-1")
        self.elb = boto_client("elb", server.endpoint, "us-east-1")

    def ready(self) -> tuple[SeededCluster, Provider]:
        if self.cluster is None or self.provider is None or not self._intact(self.cluster):
            self.server.reset()
            self.cluster = seed_cluster(self.server.endpoint)
            write_sandbox_files(self.directory, self.cluster)
            self.provider = load_provider(
                "aws", ProviderConfig(cluster_id=CLUSTER_ID, cloud_config=self.cloud_config)
            )
        return self.cluster, self.provider

    def _intact(self, cluster: SeededCluster) -> bool:
        ec2, elb = self.ec2, self.elb
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [cluster.vpc_id]}])
        if not vpcs["Vpcs"]:
            return False
        if elb.describe_load_balancers()["LoadBalancerDescriptions"]:
            return False
        groups = ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": ["k8s-elb-*"]}]
        )["SecurityGroups"]
        return not groups


@dataclass
class Cluster:
    kube: KubeAPIServer
    aws: SeededCluster
    endpoint: str
    cloud_config: Path
    kubeconfig: Path
    provider: Provider
    ec2: Any
    elb: Any
    controllers: list[Controller] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.api = config.new_client_from_config(str(self.kubeconfig))
        self.core = client.CoreV1Api(self.api)

    # --- controllers ---------------------------------------------------------------------

    def options(self, **overrides: Any) -> Options:
        values: dict[str, Any] = {
            "cluster_id": CLUSTER_ID,
            "cloud_config": self.cloud_config,
            "metrics_bind_address": "127.0.0.1:0",
            "health_probe_bind_address": "127.0.0.1:0",
            "resync_period": 3600.0,
            "watch_timeout": 30,
            "lease_duration": 2.0,
            "renew_deadline": 1.5,
            "retry_period": 0.25,
            "lease_namespace": "kube-system",
        }
        values.update(overrides)
        return Options(**values)

    def controller(
        self,
        *,
        start: bool = True,
        identity: str | None = None,
        provider: Provider | None = None,
        **overrides: Any,
    ) -> Controller:
        ctl = Controller(
            self.options(**overrides),
            api_client=config.new_client_from_config(str(self.kubeconfig)),
            provider=provider or self.provider,
            identity=identity,
        )
        self.controllers.append(ctl)
        if start:
            ctl.start()
            assert ctl.wait_ready(10), "controller caches did not sync"
        return ctl

    # --- Services ------------------------------------------------------------------------

    def create_service(
        self,
        name: str,
        *,
        annotations: dict[str, str] | None = None,
        namespace: str = "default",
        **spec: Any,
    ) -> dict[str, Any]:
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {
                "type": "LoadBalancer",
                "selector": {"app": name},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
                **spec,
            },
        }
        return self.read(self.core.create_namespaced_service(namespace, body))

    def read(self, obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = self.api.sanitize_for_serialization(obj)
        return out

    def get(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        try:
            return self.read(self.core.read_namespaced_service(name, namespace))
        except client.exceptions.ApiException as e:
            if e.status == 404:
                return None
            raise

    def ingress(self, name: str) -> str | None:
        svc = self.get(name) or {}
        items = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        return items[0].get("hostname") if items else None

    def wait_ingress(self, name: str, timeout: float = 15.0) -> str:
        return wait_for(lambda: self.ingress(name), timeout=timeout, what=f"{name} ingress")

    def finalizers(self, name: str) -> list[str]:
        svc = self.get(name) or {}
        return list(svc["metadata"].get("finalizers") or []) if svc else []

    def delete(self, name: str, namespace: str = "default") -> None:
        self.core.delete_namespaced_service(name, namespace)

    def wait_gone(self, name: str, timeout: float = 15.0) -> None:
        wait_for(lambda: self.get(name) is None, timeout=timeout, what=f"{name} deleted")

    def events(self, name: str, namespace: str = "default") -> list[tuple[str, str, str]]:
        """(type, reason, message) of the Service's Events, oldest first."""
        items = self.core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name}"
        ).items
        items.sort(key=lambda e: int(e.metadata.resource_version))
        return [(e.type, e.reason, e.message) for e in items]

    def reasons(self, name: str) -> list[str]:
        return [reason for _, reason, _ in self.events(name)]

    # --- the cloud -----------------------------------------------------------------------

    @staticmethod
    def lb_name(svc: dict[str, Any]) -> str:
        return ("a" + svc["metadata"]["uid"].replace("-", ""))[:32]

    def balancer(self, lb: str) -> dict[str, Any] | None:
        found = self.elb.describe_load_balancers()["LoadBalancerDescriptions"]
        return next((d for d in found if d["LoadBalancerName"] == lb), None)

    def instances(self, lb: str) -> list[str]:
        desc = self.balancer(lb) or {}
        return sorted(i["InstanceId"] for i in desc.get("Instances", []))

    def balancers(self) -> list[str]:
        return [
            d["LoadBalancerName"]
            for d in self.elb.describe_load_balancers()["LoadBalancerDescriptions"]
        ]

    def managed_groups(self) -> list[str]:
        groups = self.ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": ["k8s-elb-*"]}]
        )["SecurityGroups"]
        return [g["GroupName"] for g in groups]

    def assert_cloud_clean(self) -> None:
        """No ELB and no lbctl security group left behind."""
        wait_for(
            lambda: not self.balancers() and not self.managed_groups(),
            timeout=10,
            what="every balancer and security group to be deleted",
        )

    def node_names(self) -> list[str]:
        return [n["metadata"]["name"] for n in self.aws.nodes]
