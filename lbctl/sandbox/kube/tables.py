"""Server-side printing: ``meta.k8s.io/v1`` Tables for ``kubectl get``.

kubectl asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and
prints whatever columns the server returns; it has no printers of its own for
built-in types any more.  The columns here are upstream's (pkg/printers/
internalversion) for the served types, including the ``<pending>`` External-IP
of a LoadBalancer Service without ingress, so ``kubectl get svc`` reads as it
does against a cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lbctl.sandbox.kube.resources import ResourceType

__all__ = ["human_duration", "to_table", "wants_table"]

JSON = dict[str, Any]
Column = tuple[str, str, int]  # name, type, priority (1 = only with -o wide)


def wants_table(accept: str) -> bool:
    """Whether an ``Accept`` header asks for a Table (kubectl get does)."""
    return any("as=Table" in part and "g=meta.k8s.io" in part for part in accept.split(","))


def human_duration(seconds: float) -> str:
    """apimachinery's ``duration.HumanDuration``."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"


def _since(stamp: str | None, now: datetime) -> str:
    if not stamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    return human_duration((now - then).total_seconds())


def _service(obj: JSON, now: datetime) -> list[Any]:
    spec = obj.get("spec", {})
    kind = spec.get("type", "ClusterIP")
    external = list(spec.get("externalIPs") or [])
    if kind == "LoadBalancer":
        ingress = obj.get("status", {}).get("loadBalancer", {}).get("ingress") or []
        lb = [i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")]
        external = lb + external or ["<pending>"]
    elif kind == "ExternalName":
        external = [spec.get("externalName", "")]
    ports = [
        f"{p['port']}:{p['nodePort']}/{p.get('protocol', 'TCP')}"
        if p.get("nodePort")
        else f"{p.get('port')}/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or []
    ]
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    return [
        obj["metadata"]["name"],
        kind,
        spec.get("clusterIP") or "<none>",
        ",".join(external) or "<none>",
        ",".join(ports) or "<none>",
        _since(obj["metadata"].get("creationTimestamp"), now),
        selector or "<none>",
    ]


def _node(obj: JSON, now: datetime) -> list[Any]:
    status = obj.get("status", {})
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = (
        "Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")
    )
    if obj.get("spec", {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = obj["metadata"].get("labels") or {}
    roles = sorted(
        k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")
    ) or ([labels["kubernetes.io/role"]] if "kubernetes.io/role" in labels else [])
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [
        obj["metadata"]["name"],
        state,
        ",".join(roles) or "<none>",
        _since(obj["metadata"].get("creationTimestamp"), now),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP", "<none>"),
        addresses.get("ExternalIP", "<none>"),
        info.get("osImage", "<unknown>"),
        info.get("kernelVersion", "<unknown>"),
        info.get("containerRuntimeVersion", "<unknown>"),
    ]


def _event(obj: JSON, now: datetime) -> list[Any]:
    """Rendered from the stored (core v1) form; events.k8s.io shares it."""
    involved = obj.get("involvedObject") or {}
    last = (
        obj.get("lastTimestamp")
        or (obj.get("series") or {}).get("lastObservedTime")
        or obj.get("eventTime")
    )
    source = obj.get("source") or {}
    return [
        _since(last, now),
        obj.get("type", ""),
        obj.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        involved.get("fieldPath", ""),
        source.get("component") or obj.get("reportingComponent", ""),
        obj.get("message", ""),
        _since(obj.get("firstTimestamp") or obj.get("eventTime"), now),
        obj.get("count", 1),
        obj["metadata"]["name"],
    ]


_TABLES: dict[str, tuple[tuple[Column, ...], Callable[[JSON, datetime], list[Any]]]] = {
    "services": (
        (
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            ("Age", "string", 0),
            ("Selector", "string", 1),
        ),
        _service,
    ),
    "nodes": (
        (
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Roles", "string", 0),
            ("Age", "string", 0),
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ),
        _node,
    ),
    "namespaces": (
        (("Name", "string", 0), ("Status", "string", 0), ("Age", "string", 0)),
        lambda o, now: [
            o["metadata"]["name"],
            o.get("status", {}).get("phase", ""),
            _since(o["metadata"].get("creationTimestamp"), now),
        ],
    ),
    "events": (
        (
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Subobject", "string", 1),
            ("Source", "string", 1),
            ("Message", "string", 0),
            ("First Seen", "string", 1),
            ("Count", "integer", 1),
            ("Name", "string", 1),
        ),
        _event,
    ),
    "leases": (
        (("Name", "string", 0), ("Holder", "string", 0), ("Age", "string", 0)),
        lambda o, now: [
            o["metadata"]["name"],
            o.get("spec", {}).get("holderIdentity", ""),
            _since(o["metadata"].get("creationTimestamp"), now),
        ],
    ),
}


def to_table(
    rtype: ResourceType,
    stored: list[JSON],
    *,
    resource_version: str,
    include_object: str = "Metadata",
    now: datetime | None = None,
    extra_meta: JSON | None = None,
) -> JSON:
    """A Table of stored objects; rows carry the object as ``includeObject`` asks."""
    columns, render = _TABLES[rtype.store]
    now = now or datetime.now(UTC)
    rows = []
    for obj in stored:
        row: JSON = {"cells": render(obj, now)}
        if include_object == "Object":
            row["object"] = rtype.external(obj)
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version, **(extra_meta or {})},
        "columnDefinitions": [
            {
                "name": n,
                "type": t,
                "format": "name" if n == "Name" else "",
                "description": n,
                "priority": p,
            }
            for n, t, p in columns
        ],
        "rows": rows,
    }
