"""The shape of each served type: known fields and strategic-merge metadata.

The real apiserver decodes bodies into Go structs, so two things follow from a
type's *shape* that a dict-based fake would otherwise get wrong:

* unknown fields are dropped (``fieldValidation=Ignore``/``Warn``, the default
  for most clients, adds a ``Warning`` header) or rejected
  (``fieldValidation=Strict``, what kubectl sends), never stored.  A controller
  that writes ``status.loadbalancer`` would "work" against a permissive fake and
  silently lose the write on a real cluster;
* strategic-merge patches merge lists by the ``patchMergeKey`` in the Go struct
  tags (``ports`` by ``port``, node ``addresses``/``conditions`` by ``type``,
  ``finalizers`` as a set) and replace every other list whole (so
  ``status.loadBalancer.ingress`` is always replaced).

Only the fields of the types served here are described; sub-trees marked
``ANY`` (label maps, ``involvedObject``, ``nodeInfo`` ...) are kept as sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, TypeAlias

__all__ = ["ANY", "SCHEMAS", "ListOf", "Schema", "prune", "subschema"]

ANY: Final = "any"


@dataclass(frozen=True)
class ListOf:
    """A list field; ``merge_key``/``merge`` are its strategic-merge strategy."""

    item: Schema
    merge_key: str | None = None  # patchStrategy:"merge" patchMergeKey:...
    merge: bool = False  # patchStrategy:"merge" on a list of scalars (finalizers)


Schema: TypeAlias = "dict[str, Schema] | ListOf | str"

OBJECT_META: dict[str, Schema] = {
    **dict.fromkeys(
        (
            "name",
            "generateName",
            "namespace",
            "selfLink",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "labels",
            "annotations",
            "managedFields",
        ),
        ANY,
    ),
    "ownerReferences": ListOf(ANY, merge_key="uid"),
    "finalizers": ListOf(ANY, merge=True),
}


def _fields(*names: str, **nested: Schema) -> dict[str, Schema]:
    shape: dict[str, Schema] = dict.fromkeys(names, ANY)
    shape.update(nested)
    return shape


def _object(**top: Schema) -> dict[str, Schema]:
    return {"apiVersion": ANY, "kind": ANY, "metadata": OBJECT_META, **top}


_CONDITIONS = ListOf(ANY, merge_key="type")

SERVICE = _object(
    spec=_fields(
        "selector",
        "clusterIP",
        "clusterIPs",
        "type",
        "externalIPs",
        "sessionAffinity",
        "loadBalancerIP",
        "loadBalancerSourceRanges",
        "externalName",
        "externalTrafficPolicy",
        "healthCheckNodePort",
        "publishNotReadyAddresses",
        "sessionAffinityConfig",
        "ipFamilies",
        "ipFamilyPolicy",
        "allocateLoadBalancerNodePorts",
        "loadBalancerClass",
        "internalTrafficPolicy",
        "trafficDistribution",
        ports=ListOf(
            _fields("name", "protocol", "appProtocol", "port", "targetPort", "nodePort"),
            merge_key="port",
        ),
    ),
    status=_fields(
        loadBalancer=_fields(
            ingress=ListOf(
                _fields(
                    "ip",
                    "hostname",
                    "ipMode",
                    ports=ListOf(_fields("port", "protocol", "error")),
                )
            )
        ),
        conditions=_CONDITIONS,
    ),
)

NODE = _object(
    spec=_fields(
        "podCIDR",
        "podCIDRs",
        "providerID",
        "unschedulable",
        "taints",
        "configSource",
        "externalID",
    ),
    status=_fields(
        "capacity",
        "allocatable",
        "phase",
        "daemonEndpoints",
        "nodeInfo",
        "images",
        "volumesInUse",
        "volumesAttached",
        "config",
        "runtimeHandlers",
        "features",
        conditions=_CONDITIONS,
        addresses=ListOf(_fields("type", "address"), merge_key="type"),
    ),
)

NAMESPACE = _object(spec=_fields("finalizers"), status=_fields("phase", conditions=_CONDITIONS))

LEASE = _object(
    spec=_fields(
        "holderIdentity",
        "leaseDurationSeconds",
        "acquireTime",
        "renewTime",
        "leaseTransitions",
        "strategy",
        "preferredHolder",
    )
)

EVENT_CORE = _object(
    **_fields(
        "involvedObject",
        "reason",
        "message",
        "source",
        "firstTimestamp",
        "lastTimestamp",
        "count",
        "type",
        "eventTime",
        "series",
        "action",
        "related",
        "reportingComponent",
        "reportingInstance",
    )
)

EVENT_V1 = _object(
    **_fields(
        "eventTime",
        "series",
        "reportingController",
        "reportingInstance",
        "action",
        "reason",
        "regarding",
        "related",
        "note",
        "type",
        "deprecatedSource",
        "deprecatedFirstTimestamp",
        "deprecatedLastTimestamp",
        "deprecatedCount",
    )
)

# Keyed by "<group>/<version>/<Kind>" (core group: "/v1/<Kind>").
SCHEMAS: dict[str, Schema] = {
    "/v1/Service": SERVICE,
    "/v1/Node": NODE,
    "/v1/Namespace": NAMESPACE,
    "/v1/Event": EVENT_CORE,
    "coordination.k8s.io/v1/Lease": LEASE,
    "events.k8s.io/v1/Event": EVENT_V1,
}


def subschema(schema: Schema, key: str) -> Schema:
    """The schema of field ``key`` inside struct ``schema`` (``ANY`` if unknown)."""
    if isinstance(schema, dict):
        return schema.get(key, ANY)
    return ANY


def prune(value: Any, schema: Schema, path: str = "") -> list[str]:
    """Drop fields ``schema`` does not know from ``value`` in place; return their paths."""
    unknown: list[str] = []
    if isinstance(schema, dict) and isinstance(value, dict):
        for key in list(value):
            where = f"{path}.{key}" if path else key
            if key not in schema:
                unknown.append(where)
                del value[key]
            else:
                unknown += prune(value[key], schema[key], where)
    elif isinstance(schema, ListOf) and isinstance(value, list):
        for index, item in enumerate(value):
            unknown += prune(item, schema.item, f"{path}[{index}]")
    return unknown
