"""Test doubles for the controller's unit tests, after cloud-provider's fake.go.

- FakeProvider implements lbctl.provider.Provider over an in-memory "cloud" of two kinds
  (`fake:lb` and `fake:backends`), records every observe/apply, counts calls in its
  CallCounter like a real provider, and injects failures (`fail`, `retry_after`).
- FakeServices implements the reconciler's ServiceWriter over a dict of Services and
  records every write, in order, with the cloud writes in the same log.
- `service(...)` / `node(...)` build API objects; `tweak_*` helpers change them.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lbctl import rules
from lbctl.annotations import AnnotationSet
from lbctl.calls import CallCounter
from lbctl.errors import CloudError, FieldError, InvalidInput, RetryAfter
from lbctl.model import (
    LOAD_BALANCER_CLEANUP_FINALIZER,
    Ingress,
    NodeView,
    Resource,
    ServiceView,
)
from lbctl.plan import Op, ServicePlan
from lbctl.provider import Observed

Obj = dict[str, Any]
LB, BACKENDS = "fake:lb", "fake:backends"
INVALID = "fake.example/port-count"
ELSEWHERE = "fake.example/elsewhere"
_uids = itertools.count(1)


# --- API objects ---------------------------------------------------------------------------


def service(
    name: str = "web",
    namespace: str = "default",
    *,
    type_: str = "LoadBalancer",
    tweaks: Sequence[Callable[[Obj], None]] = (),
) -> Obj:
    obj: Obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"{next(_uids):08d}-0000-4000-8000-000000000000",
            "resourceVersion": "1",
        },
        "spec": {
            "type": type_,
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "nodePort": 30080}],
            "sessionAffinity": "None",
            "externalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
        },
        "status": {"loadBalancer": {}},
    }
    for tweak in tweaks:
        tweak(obj)
    return obj


def tweaked(obj: Obj, *tweaks: Callable[[Obj], None]) -> Obj:
    out = copy.deepcopy(obj)
    for tweak in tweaks:
        tweak(out)
    return out


def tweak_type(value: str) -> Callable[[Obj], None]:
    return lambda o: o["spec"].__setitem__("type", value)


def tweak_spec(field: str, value: Any) -> Callable[[Obj], None]:
    return lambda o: o["spec"].__setitem__(field, value)


def tweak_annotation(key: str, value: str) -> Callable[[Obj], None]:
    return lambda o: o["metadata"].setdefault("annotations", {}).__setitem__(key, value)


def tweak_label(key: str, value: str) -> Callable[[Obj], None]:
    return lambda o: o["metadata"].setdefault("labels", {}).__setitem__(key, value)


def tweak_finalizer(o: Obj) -> None:
    o["metadata"].setdefault("finalizers", []).append(LOAD_BALANCER_CLEANUP_FINALIZER)


def tweak_deleting(o: Obj) -> None:
    o["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"


def tweak_uid(uid: str) -> Callable[[Obj], None]:
    return lambda o: o["metadata"].__setitem__("uid", uid)


def tweak_port(index: int, field: str, value: Any) -> Callable[[Obj], None]:
    return lambda o: o["spec"]["ports"][index].__setitem__(field, value)


def tweak_ingress(*hostnames: str) -> Callable[[Obj], None]:
    return lambda o: o["status"].__setitem__(
        "loadBalancer", {"ingress": [{"hostname": h} for h in hostnames]}
    )


def node(
    name: str,
    *,
    provider_id: str | None = None,
    labels: Mapping[str, str] | None = None,
    taints: Sequence[str] = (),
    ready: bool = True,
    deleting: bool = False,
) -> Obj:
    obj: Obj = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": dict(labels or {}), "resourceVersion": "1"},
        "spec": {
            "providerID": provider_id if provider_id is not None else f"fake:///{name}",
            "taints": [{"key": t, "effect": "NoSchedule"} for t in taints],
        },
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return obj


def views(*nodes: Obj) -> list[NodeView]:
    return [NodeView.from_dict(n) for n in nodes]


# --- the provider --------------------------------------------------------------------------


class FakeProvider:
    """A recording Provider over an in-memory cloud: lb name -> {kind: props}."""

    name = "fake"
    annotations = AnnotationSet("fake", [])
    kind_order = (LB, BACKENDS)
    immutable: Mapping[str, frozenset[str]] = {}
    dependents: Mapping[str, tuple[str, ...]] = {}

    def __init__(self, log: list[str] | None = None) -> None:
        self.counter = CallCounter()
        self.cloud: dict[str, dict[str, dict[str, Any]]] = {}
        self.owner: dict[str, str] = {}
        self.calls: list[tuple[str, tuple[str, ...]]] = []  # ("observe", keys) ...
        self.log = log if log is not None else []  # shared with FakeServices: write order
        self.fail: dict[str, Exception] = {}  # service key -> raised by apply
        self._lock = threading.Lock()

    def load_balancer_name(self, view: ServiceView) -> str:
        return rules.load_balancer_name(view)

    def validate(self, view: ServiceView) -> list[str]:
        value = view.annotations.get(INVALID)
        if value is not None and not value.isdigit():
            raise InvalidInput(
                [FieldError("must be a whole number of ports", annotation=INVALID, value=value)]
            )
        return []

    def handles(self, view: ServiceView) -> bool:
        return ELSEWHERE not in view.annotations

    def observe(
        self, views: Sequence[ServiceView], nodes: Sequence[NodeView], *, wanted: Mapping[str, bool]
    ) -> Observed:
        with self._lock:
            self.calls.append(("observe", tuple(v.key for v in views)))
            self.counter.record("fake", "DescribeBalancers")
            observed = Observed()
            for view in views:
                lb = self.load_balancer_name(view)
                found = self.cloud.get(lb)
                if found is None:
                    observed.resources[view.key] = []
                    continue
                observed.resources[view.key] = [
                    Resource(kind, lb, dict(props), owner=view.key, id=lb)
                    for kind, props in found.items()
                ]
                observed.ingress[view.key] = [Ingress(hostname=f"{lb}.fake.example")]
            return observed

    def desired(
        self, view: ServiceView, nodes: Sequence[NodeView], observed: Observed
    ) -> list[Resource]:
        lb = self.load_balancer_name(view)
        ports = sorted(p.port for p in view.ports)
        return [
            Resource(
                LB, lb, {"Ports": ports, "Annotations": dict(sorted(view.annotations.items()))}
            ),
            Resource(BACKENDS, lb, {"Nodes": sorted(n.name for n in nodes)}),
        ]

    def apply(self, plan: ServicePlan, observed: Observed) -> list[Ingress]:
        with self._lock:
            self.calls.append(("apply", (plan.service,)))
            failure = self.fail.get(plan.service)
            if failure is not None:
                self.counter.record("fake", "Fail")
                raise failure
            for change in plan.changes:
                self.counter.record("fake", f"{change.op.value.title()}{change.kind[5:].title()}")
                self.log.append(f"cloud {change.op.value} {change.kind} {plan.service}")
                parts = self.cloud.setdefault(change.name, {})
                if change.op is Op.DELETE:
                    parts.pop(change.kind, None)
                    if not parts:
                        del self.cloud[change.name]
                else:
                    assert change.desired is not None
                    parts[change.kind] = dict(change.desired.props)
            lb = plan.load_balancer_name
            return [Ingress(hostname=f"{lb}.fake.example")] if lb in self.cloud else []

    # --- what tests look at ---

    def applied(self) -> list[str]:
        return [keys[0] for call, keys in self.calls if call == "apply"]

    def observes(self) -> list[tuple[str, ...]]:
        return [keys for call, keys in self.calls if call == "observe"]

    def writes(self) -> int:
        return self.counter.totals()[1]

    def backends(self, lb: str) -> list[str]:
        return list(self.cloud.get(lb, {}).get(BACKENDS, {}).get("Nodes", []))


def lb_of(svc: Obj) -> str:
    return ("a" + svc["metadata"]["uid"].replace("-", ""))[:32]


def cloud_error(message: str = "boom") -> CloudError:
    return CloudError("fake:Create", message)


def retry_after(seconds: float) -> RetryAfter:
    return RetryAfter("balancer still provisioning", seconds)


# --- the Kubernetes writes ----------------------------------------------------------------


class FakeServices:
    """ServiceWriter over a dict of Services (key -> object), recording each write."""

    def __init__(self, log: list[str] | None = None) -> None:
        self.objects: dict[str, Obj] = {}
        self.log = log if log is not None else []
        self.conflicts = 0  # the next N writes answer 409 once each (then re-read)
        self._rv = itertools.count(100)

    def put(self, obj: Obj) -> Obj:
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        self.objects[key] = obj
        return obj

    def get(self, namespace: str, name: str) -> Obj | None:
        obj = self.objects.get(f"{namespace}/{name}")
        return copy.deepcopy(obj) if obj is not None else None

    def lookup(self, svc: Obj) -> Obj:
        return self.objects[f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"]

    def set_finalizer(self, svc: Obj, *, present: bool) -> Obj | None:
        key = f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"
        stored = self.objects.get(key)
        if stored is None:
            return None
        finalizers = [f for f in stored["metadata"].get("finalizers", []) if f]
        has = LOAD_BALANCER_CLEANUP_FINALIZER in finalizers
        if has == present:
            return copy.deepcopy(stored)
        self.log.append(f"kube {'add' if present else 'remove'} finalizer {key}")
        if present:
            finalizers.append(LOAD_BALANCER_CLEANUP_FINALIZER)
        else:
            finalizers.remove(LOAD_BALANCER_CLEANUP_FINALIZER)
        stored["metadata"]["finalizers"] = finalizers
        stored["metadata"]["resourceVersion"] = str(next(self._rv))
        if not finalizers and stored["metadata"].get("deletionTimestamp"):
            del self.objects[key]
            return None
        return copy.deepcopy(stored)

    def patch_ingress(self, svc: Obj, ingress: Sequence[Mapping[str, Any]]) -> Obj | None:
        key = f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"
        stored = self.objects.get(key)
        if stored is None:
            return None
        self.log.append(f"kube status {key} {[dict(i) for i in ingress]}")
        stored.setdefault("status", {})["loadBalancer"] = (
            {"ingress": [dict(i) for i in ingress]} if ingress else {}
        )
        stored["metadata"]["resourceVersion"] = str(next(self._rv))
        return copy.deepcopy(stored)
