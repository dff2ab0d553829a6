"""What a provider sees: read-only views of Services and Nodes, and the Resources it plans.

Views are built from plain dicts (a manifest loaded from YAML or JSON, or what the
kubernetes client returns after `to_dict`/`sanitize_for_serialization`), so that the core
never depends on a Kubernetes client. Both camelCase (API) and snake_case (client model)
keys are accepted.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KNOWN_AFTER_APPLY = "(known after apply)"

LOAD_BALANCER_CLEANUP_FINALIZER = "service.kubernetes.io/load-balancer-cleanup"


def _get(obj: Mapping[str, Any] | None, *keys: str, default: Any = None) -> Any:
    """First present key of `keys` in `obj` (camelCase first, then snake_case)."""
    if not obj:
        return default
    for key in keys:
        value = obj.get(key)
        if value is not None:
            return value
    return default


@functools.cache  # a handful of field names, looked up for every field of every object
def _snake(name: str) -> str:
    """camelCase -> the kubernetes client's snake_case (acronyms stay one word: providerID)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z]+)", lambda m: "_" + m.group(1).lower(), name)


def _field(obj: Mapping[str, Any] | None, name: str, default: Any = None) -> Any:
    return _get(obj, name, _snake(name), default=default)


@dataclass(frozen=True)
class ServicePort:
    name: str
    protocol: str
    port: int
    node_port: int
    target_port: int | str | None = None
    app_protocol: str | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ServicePort:
        return cls(
            name=str(_field(raw, "name", "")),
            protocol=str(_field(raw, "protocol", "TCP")).upper(),
            port=int(_field(raw, "port", 0)),
            node_port=int(_field(raw, "nodePort", 0)),
            target_port=_field(raw, "targetPort"),
            app_protocol=_field(raw, "appProtocol"),
        )


@dataclass(frozen=True)
class Ingress:
    hostname: str | None = None
    ip: str | None = None

    def to_dict(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.ip:
            out["ip"] = self.ip
        if self.hostname:
            out["hostname"] = self.hostname
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Ingress:
        return cls(hostname=_field(raw, "hostname"), ip=_field(raw, "ip"))


@dataclass(frozen=True)
class ServiceView:
    """A v1 Service, reduced to what load-balancer provisioning reads."""

    namespace: str
    name: str
    uid: str
    annotations: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[ServicePort, ...] = ()
    type: str = "ClusterIP"
    load_balancer_source_ranges: tuple[str, ...] = ()
    external_traffic_policy: str = "Cluster"
    health_check_node_port: int = 0
    load_balancer_ip: str = ""
    load_balancer_class: str | None = None
    session_affinity: str = "None"
    ip_families: tuple[str, ...] = ()
    finalizers: tuple[str, ...] = ()
    deleting: bool = False
    ingress: tuple[Ingress, ...] = ()
    resource_version: str = ""
    # A manifest whose fields have the wrong shape (lbctl.shapes): planned as these errors.
    input_errors: tuple[Any, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def broken(cls, raw: Mapping[str, Any], errors: Any) -> ServiceView:
        """A Service that cannot be read: its name (if any) and why."""
        meta = raw.get("metadata") if isinstance(raw.get("metadata"), Mapping) else {}
        return cls(
            namespace=str(_field(meta, "namespace", "default") or "default"),
            name=str(_field(meta, "name", "") or "?"),
            uid=str(_field(meta, "uid", "") or ""),
            input_errors=tuple(errors),
        )

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ServiceView:
        meta = _field(raw, "metadata", {})
        spec = _field(raw, "spec", {})
        status = _field(raw, "status", {})
        lb_status = _field(status, "loadBalancer", {})
        annotations = _field(meta, "annotations", {}) or {}
        return cls(
            namespace=str(_field(meta, "namespace", "default") or "default"),
            name=str(_field(meta, "name", "")),
            uid=str(_field(meta, "uid", "") or ""),
            annotations={str(k): "" if v is None else str(v) for k, v in annotations.items()},
            ports=tuple(ServicePort.from_dict(p) for p in _field(spec, "ports", []) or []),
            type=str(_field(spec, "type", "ClusterIP")),
            load_balancer_source_ranges=tuple(
                str(r) for r in _field(spec, "loadBalancerSourceRanges", []) or []
            ),
            external_traffic_policy=str(_field(spec, "externalTrafficPolicy", "Cluster")),
            health_check_node_port=int(_field(spec, "healthCheckNodePort", 0) or 0),
            load_balancer_ip=str(_field(spec, "loadBalancerIP", "") or ""),
            load_balancer_class=_field(spec, "loadBalancerClass"),
            session_affinity=str(_field(spec, "sessionAffinity", "None")),
            ip_families=tuple(str(f) for f in _field(spec, "ipFamilies", []) or []),
            finalizers=tuple(str(f) for f in _field(meta, "finalizers", []) or []),
            deleting=_field(meta, "deletionTimestamp") is not None,
            ingress=tuple(Ingress.from_dict(i) for i in _field(lb_status, "ingress", []) or []),
            resource_version=str(_field(meta, "resourceVersion", "") or ""),
        )


@dataclass(frozen=True)
class Taint:
    key: str
    value: str = ""
    effect: str = ""


@dataclass(frozen=True)
class NodeView:
    """A v1 Node, reduced to what backend registration reads."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    provider_id: str = ""
    addresses: tuple[tuple[str, str], ...] = ()  # (type, address)
    deleting: bool = False
    ready: bool = True

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> NodeView:
        meta = _field(raw, "metadata", {})
        spec = _field(raw, "spec", {})
        status = _field(raw, "status", {})
        conditions = _field(status, "conditions", []) or []
        ready = any(
            _field(c, "type") == "Ready" and _field(c, "status") == "True" for c in conditions
        )
        return cls(
            name=str(_field(meta, "name", "")),
            labels={str(k): str(v) for k, v in (_field(meta, "labels", {}) or {}).items()},
            taints=tuple(
                Taint(
                    key=str(_field(t, "key", "")),
                    value=str(_field(t, "value", "") or ""),
                    effect=str(_field(t, "effect", "") or ""),
                )
                for t in _field(spec, "taints", []) or []
            ),
            provider_id=str(_field(spec, "providerID", "") or ""),
            addresses=tuple(
                (str(_field(a, "type", "")), str(_field(a, "address", "")))
                for a in _field(status, "addresses", []) or []
            ),
            deleting=_field(meta, "deletionTimestamp") is not None,
            ready=ready or not conditions,
        )


@dataclass(frozen=True)
class Resource:
    """One cloud object as the plan sees it.

    `props` use the cloud API's own field names. `owner` is the Service key the resource
    belongs to. `id` is the cloud's identifier when observed (an ARN, a group id), which
    apply needs but the diff ignores. `shared_with` names the other Services that use a
    shared resource; the last one out deletes it.
    """

    kind: str
    name: str
    props: Mapping[str, Any]
    owner: str = ""
    id: str = ""
    # Resources several Services use (GCE's node health check, instance groups): the other
    # Services observed using it. The differ never deletes a resource someone else still uses.
    shared_with: frozenset[str] = frozenset()

    @property
    def ref(self) -> tuple[str, str]:
        return (self.kind, self.name)
