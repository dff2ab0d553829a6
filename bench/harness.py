"""What every benchmark shares: the moto sandbox, a counted provider, Services and Nodes.

The moto server runs in a child process (bench/moto_process.py), where the one thing the
benchmarks change about it is done (`raise_rule_quota`): moto refuses a 61st ingress rule on a
VPC security group (AWS's default quota), while 200 CLBs and 200 NLBs put about 600 rules
on the one node group. The benchmark models an account whose quota was raised to AWS's
maximum (1 000), as such a fleet needs; lbctl and the floor run under the same limit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lbctl.calls import CallCounter, is_read
from lbctl.model import LOAD_BALANCER_CLEANUP_FINALIZER, NodeView
from lbctl.provider import Provider, ProviderConfig, load_provider
from lbctl.sandbox.aws import SeededCluster, sandbox_environment, seed_cluster

Obj = dict[str, Any]

NLB_TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
RULES_PER_GROUP = 1000  # AWS's maximum for a raised "inbound rules per security group" quota
NODE_PORT_FIRST = 30000
NODE_PORT_LAST = 32767
_UID_NAMESPACE = uuid.UUID("6b1f3c1e-2f54-4b8e-9a57-6c1b0e4c2d10")

# Parameters that scope a describe to named resources or a filter. A read with none of them
# lists everything the account has in the region ("a describe without a filter").
SCOPING_PARAMETERS = frozenset(
    {
        "Filters",
        "GroupIds",
        "InstanceIds",
        "SubnetIds",
        "LoadBalancerName",
        "LoadBalancerNames",
        "Names",
        "LoadBalancerArn",
        "LoadBalancerArns",
        "TargetGroupArn",
        "TargetGroupArns",
        "ListenerArns",
        "ResourceArns",
        "PolicyNames",
        "TagFilters",
    }
)


def raise_rule_quota(limit: int = RULES_PER_GROUP) -> None:
    """Let moto's VPC security groups hold `limit` ingress rules instead of 60."""
    from moto.ec2.exceptions import RulesPerSecurityGroupLimitExceededError
    from moto.ec2.models.security_groups import SecurityGroupBackend

    def verify(
        self: Any,
        group: Any,
        current_rule_nb: int,
        ip_ranges: Sequence[Any],
        source_groups: Sequence[Any] | None = None,
        egress: bool = False,
    ) -> None:
        if current_rule_nb + len(ip_ranges or ()) + len(source_groups or ()) > limit:
            raise RulesPerSecurityGroupLimitExceededError

    SecurityGroupBackend._verify_group_will_respect_rule_count_limit = verify  # type: ignore[method-assign]


class Sandbox:
    """One moto server for the whole run (bench/moto_process.py, a child process);
    `fresh()` resets it and seeds a new cluster."""

    def __init__(self) -> None:
        root = Path(__file__).resolve().parent.parent
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.moto_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=root,
            env=env,
            text=True,
        )
        assert self.process.stdout is not None
        self.endpoint = self.process.stdout.readline().strip()
        if not self.endpoint.startswith("http"):
            self.stop()
            raise RuntimeError("the moto server did not start (see its output above)")
        self.cluster: SeededCluster | None = None

    def fresh(self, *, node_count: int = 4) -> SeededCluster:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
        self.cluster = seed_cluster(self.endpoint, node_count=node_count)
        os.environ.update(sandbox_environment(self.endpoint, self.cluster.region))
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        return self.cluster

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Call:
    service: str
    operation: str
    scoped: bool
    error: str = ""  # the AWS error code the call was answered with

    @property
    def name(self) -> str:
        return f"{self.service}:{self.operation}"


@dataclass
class Counted:
    """A provider whose calls are counted (CallCounter) and logged with their scope."""

    provider: Provider
    counter: CallCounter
    log: list[Call] = field(default_factory=list)

    def snapshot(self) -> tuple[Counter[tuple[str, str]], int]:
        return self.counter.snapshot(), len(self.log)


def counted_provider(cluster: SeededCluster) -> Counted:
    counter = CallCounter()
    provider = load_provider("aws", ProviderConfig(cluster_id=cluster.cluster_id, counter=counter))
    counted = Counted(provider, counter)
    client: Any = getattr(provider, "client", None)
    if client is not None:  # lbctl's AWSClient: log each call's scope as well
        original: Callable[..., dict[str, Any]] = client.call

        def call(service: str, operation: str, **kwargs: Any) -> dict[str, Any]:
            record = Call(service, operation, bool(SCOPING_PARAMETERS & set(kwargs)))
            counted.log.append(record)
            try:
                return original(service, operation, **kwargs)
            except Exception as e:
                record.error = str(getattr(e, "code", "") or type(e).__name__)
                raise

        client.call = call
    return counted


@dataclass
class Measure:
    """Calls by operation, reads/writes and wall time of one measured step."""

    label: str
    by_operation: dict[str, int] = field(default_factory=dict)
    reads: int = 0
    writes: int = 0
    seconds: float = 0.0
    unscoped: Counter[str] = field(default_factory=Counter)  # reads made without a filter
    errors: Counter[str] = field(default_factory=Counter)  # "op code" -> calls so answered

    @property
    def calls(self) -> int:
        return self.reads + self.writes


@contextmanager
def measure(counted: Counted, label: str) -> Iterator[Measure]:
    result = Measure(label)
    since, logged = counted.snapshot()
    started = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - started
        result.by_operation = counted.counter.by_operation(since)
        result.reads, result.writes = counted.counter.totals(since)
        calls = counted.log[logged:]
        result.unscoped = Counter(c.name for c in calls if is_read(c.operation) and not c.scoped)
        result.errors = Counter(f"{c.name} {c.error}" for c in calls if c.error)


def split(by_operation: Mapping[str, int]) -> tuple[int, int]:
    reads = sum(n for op, n in by_operation.items() if is_read(op))
    return reads, sum(by_operation.values()) - reads


# --- Services and Nodes ----------------------------------------------------------------------


class NodePorts:
    """Distinct NodePorts from the Kubernetes range (wrapping round past its end)."""

    def __init__(self) -> None:
        self._next = NODE_PORT_FIRST

    def take(self) -> int:
        port = self._next
        self._next = port + 1 if port < NODE_PORT_LAST else NODE_PORT_FIRST
        return port


def service(name: str, *, nlb: bool, ports: NodePorts, namespace: str = "bench") -> Obj:
    """A type LoadBalancer Service with ports 80 and 443 (TCP), a CLB unless `nlb`."""
    uid = str(uuid.uuid5(_UID_NAMESPACE, f"{namespace}/{name}"))
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "resourceVersion": "1",
            "annotations": {NLB_TYPE: "nlb"} if nlb else {},
        },
        "spec": {
            "type": "LoadBalancer",
            "ports": [
                {"name": "http", "protocol": "TCP", "port": 80, "nodePort": ports.take()},
                {"name": "https", "protocol": "TCP", "port": 443, "nodePort": ports.take()},
            ],
            "externalTrafficPolicy": "Cluster",
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"],
        },
        "status": {"loadBalancer": {}},
    }


def fleet(n: int, ports: NodePorts | None = None) -> list[Obj]:
    """n CLB Services and n NLB Services, interleaved as a cluster would create them."""
    ports = ports or NodePorts()
    out: list[Obj] = []
    for i in range(n):
        out.append(service(f"clb-{i:04d}", nlb=False, ports=ports))
        out.append(service(f"nlb-{i:04d}", nlb=True, ports=ports))
    return out


def node_views(cluster: SeededCluster, count: int) -> list[NodeView]:
    return [NodeView.from_dict(n) for n in cluster.nodes[:count]]


def key_of(obj: Mapping[str, Any]) -> str:
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"


class Store:
    """The API server's Services, in memory: the reconciler's ServiceWriter and its cache."""

    def __init__(self, objects: Sequence[Obj] = ()) -> None:
        self.objects: dict[str, Obj] = {key_of(o): o for o in objects}
        self._rv = 100

    def _bump(self, obj: Obj) -> Obj:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        return obj

    def by_key(self, key: str) -> Obj | None:
        return self.objects.get(key)

    def items(self) -> list[Obj]:
        return list(self.objects.values())

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.objects.get(f"{namespace}/{name}")

    def set_finalizer(self, svc: Obj, *, present: bool) -> Obj | None:
        stored = self.objects.get(key_of(svc))
        if stored is None:
            return None
        finalizers = list(stored["metadata"].get("finalizers") or [])
        if (LOAD_BALANCER_CLEANUP_FINALIZER in finalizers) == present:
            return stored
        if present:
            finalizers.append(LOAD_BALANCER_CLEANUP_FINALIZER)
        else:
            finalizers.remove(LOAD_BALANCER_CLEANUP_FINALIZER)
        stored["metadata"]["finalizers"] = finalizers
        return self._bump(stored)

    def patch_ingress(self, svc: Obj, ingress: Sequence[Mapping[str, Any]]) -> Obj | None:
        stored = self.objects.get(key_of(svc))
        if stored is None:
            return None
        stored["status"] = {
            "loadBalancer": {"ingress": [dict(i) for i in ingress]} if ingress else {}
        }
        return self._bump(stored)

    def ingress_count(self) -> int:
        return sum(1 for o in self.objects.values() if o["status"]["loadBalancer"].get("ingress"))


@dataclass
class Results:
    """Everything measured in one run, for the findings (bench/findings.py)."""

    n: int = 0
    single: dict[str, Measure] = field(default_factory=dict)  # scenario 0, by step label
    converge: dict[str, Measure] = field(default_factory=dict)  # floor / controller / batched
    resync: Measure | None = None
    node_add: Measure | None = None
    offline: dict[int, tuple[float, float]] = field(default_factory=dict)  # size -> s, reading s


def node_sync_scope(provider: Provider) -> dict[str, Any]:
    """The keyword arguments with which the controller's node sync plans (only the
    registration kinds, when the provider and the flow support scoping)."""
    import inspect

    from lbctl import flow

    kinds = getattr(provider, "registration_kinds", None)
    if kinds is None or "kinds" not in inspect.signature(flow.plan_services).parameters:
        return {}
    return {"kinds": kinds}
