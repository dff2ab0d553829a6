"""What forwarding rules send traffic to: target pools, backend services, instance groups.

Membership changes (``addInstance`` / ``addInstances``) are all-or-nothing. Adding
an instance that is already a member fails *asynchronously*: the POST answers with
an operation that ends DONE with ``MEMBER_ALREADY_EXISTS``, so a caller that does
not inspect ``operation.error`` misses it, as against the real API. Removing a
non-member is a no-op.

A regional backend service must name exactly one health check (global or regional
``healthChecks``); its backends are instance groups in zones of its region.
A target pool takes at most one legacy ``httpHealthChecks`` check.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from lbctl.sandbox.gce.exceptions import (
    ConditionNotMet,
    InvalidValue,
    MemberAlreadyExists,
    Required,
)
from lbctl.sandbox.gce.fields import Draft, KindSpec, Record, check_name, plain_render
from lbctl.sandbox.gce.frontends import SCHEMES

if TYPE_CHECKING:
    from lbctl.sandbox.gce.models import ComputeBackend

_PASSTHROUGH_PROTOCOLS = ("TCP", "UDP", "UNSPECIFIED")
_AFFINITIES = (
    "NONE",
    "CLIENT_IP",
    "CLIENT_IP_PROTO",
    "CLIENT_IP_PORT_PROTO",
    "CLIENT_IP_NO_DESTINATION",
    "GENERATED_COOKIE",
    "HEADER_FIELD",
    "HTTP_COOKIE",
    "STRONG_COOKIE_AFFINITY",
)


def _region_of_zone(d: Draft, zone_link: str) -> str:
    return str(d.backend.deref(zone_link)["region"])


def _instances(d: Draft, values: list[object], where: str) -> list[str]:
    """Resolve instance links, each in a zone of ``d.scope``'s region, without repeats."""
    links = d.links(values, where=where, collections=("instances",))
    region = d.backend.link(d.scope.path)
    for i, link in enumerate(links):
        if _region_of_zone(d, d.backend.deref(link)["zone"]) != region:
            raise InvalidValue(f"{where}[{i}]", link, "Must be in the pool's region.")
    return list(dict.fromkeys(links))


def _members(d: Draft, key: str, inner: str) -> list[object]:
    """The ``[{"instance": link}, ...]`` lists of membership requests."""
    return [item.get(inner) for item in d.objects(key)]


def _requested(d: Draft, key: str, inner: str, collection: str) -> list[str]:
    """The links a membership request names, resolved."""
    values = _members(d, key, inner)
    return d.links(values, where=f"resource.{key}", collections=(collection,))


def _path(d: Draft, link: str) -> str:
    return link.removeprefix(d.backend.link_base)


def _stored(d: Draft) -> Record:
    """A copy of the record an action changes."""
    assert d.existing is not None
    return copy.deepcopy(d.existing)


def _new_member(d: Draft, record: Record, link: str, members: list[str]) -> None:
    """Adding a member twice fails: in the operation, as the module docstring says."""
    if link in members:
        raise MemberAlreadyExists(_path(d, link), _path(d, record["selfLink"]))


def _without(d: Draft, key: str, gone: list[str], *, keep_empty: bool = False) -> Record:
    """The record with the ``gone`` links left out of ``key``; an emptied list is left
    out too, as the API leaves it out (the group's private member list stays)."""
    record, drop = _stored(d), set(gone)
    record[key] = [link for link in record.get(key, []) if link not in drop]
    if not record[key] and not keep_empty:
        del record[key]
    return record


def _one_check_at_most(checks: list[str]) -> list[str]:
    if len(checks) > 1:
        raise InvalidValue("resource.healthChecks", ",".join(checks), "At most one health check.")
    return checks


# -- target pools ----------------------------------------------------------------------


def prepare_target_pool(d: Draft) -> Record:
    d.text("description")
    d.text("sessionAffinity", default="NONE", choices=("NONE", "CLIENT_IP", "CLIENT_IP_PROTO"))
    instances = _instances(d, list(d.texts("instances")), "resource.instances")
    if instances:
        d.out["instances"] = instances
    checks = d.links(
        d.texts("healthChecks"), where="resource.healthChecks", collections=("httpHealthChecks",)
    )
    if _one_check_at_most(checks):
        d.out["healthChecks"] = checks
    d.link("backupPool", collections=("targetPools",))
    d.copy_rest()
    return d.out


def add_instance(d: Draft) -> Record:
    record = _stored(d)
    current: list[str] = record.get("instances", [])
    added = _instances(d, _members(d, "instances", "instance"), "resource.instances")
    for link in added:
        _new_member(d, record, link, current)
    record["instances"] = current + added
    return record


def remove_instance(d: Draft) -> Record:
    return _without(d, "instances", _requested(d, "instances", "instance", "instances"))


def add_health_check(d: Draft) -> Record:
    record = _stored(d)
    checks = _requested(d, "healthChecks", "healthCheck", "httpHealthChecks")
    merged = list(dict.fromkeys(record.get("healthChecks", []) + checks))
    record["healthChecks"] = _one_check_at_most(merged)
    return record


def remove_health_check(d: Draft) -> Record:
    gone = _requested(d, "healthChecks", "healthCheck", "httpHealthChecks")
    return _without(d, "healthChecks", gone)


# -- backend services ----------------------------------------------------------------------

_BACKEND_KEYS = """balancingMode capacityScaler description failover group maxConnections
    maxConnectionsPerEndpoint maxConnectionsPerInstance maxRate maxRatePerEndpoint
    maxRatePerInstance maxUtilization preference"""
_BACKEND_FIELDS = frozenset(_BACKEND_KEYS.split())


def prepare_backend_service(d: Draft) -> Record:
    d.text("description")
    scheme = d.text("loadBalancingScheme", default="EXTERNAL", choices=SCHEMES)
    if scheme not in ("EXTERNAL", "INTERNAL"):
        raise InvalidValue("resource.loadBalancingScheme", scheme, "Sandbox: passthrough only.")
    protocol = d.text("protocol", default="HTTP")
    if protocol not in _PASSTHROUGH_PROTOCOLS:
        raise InvalidValue("resource.protocol", protocol, f"{scheme} regional services: TCP, UDP.")
    d.text("sessionAffinity", default="NONE", choices=_AFFINITIES)
    checks = d.links(
        d.texts("healthChecks"), where="resource.healthChecks", collections=("healthChecks",)
    )
    if not checks:
        raise Required("resource.healthChecks")
    if len(checks) > 1:
        raise InvalidValue("resource.healthChecks", ",".join(checks), "Exactly one health check.")
    region = d.backend.link(d.scope.path)
    if "/regions/" in checks[0] and not checks[0].startswith(region + "/"):
        raise InvalidValue(
            "resource.healthChecks[0]", checks[0], "Must be in the service's region."
        )
    d.out["healthChecks"] = checks
    backends: list[Record] = []
    for i, backend in enumerate(d.objects("backends")):
        where = f"resource.backends[{i}]"
        unknown = set(backend) - _BACKEND_FIELDS
        if unknown:
            raise InvalidValue(f"{where}.{sorted(unknown)[0]}", "", "Unknown field.")
        group = d.backend.resolve(
            backend.get("group"),
            field=f"{where}.group",
            scope=d.scope,
            collections=("instanceGroups",),
        )
        if _region_of_zone(d, d.backend.deref(group)["zone"]) != region:
            raise InvalidValue(f"{where}.group", group, "Must be in the service's region.")
        if any(b["group"] == group for b in backends):
            raise InvalidValue(f"{where}.group", group, "Duplicate backend group.")
        mode = backend.setdefault("balancingMode", "CONNECTION")
        if mode != "CONNECTION":
            raise InvalidValue(f"{where}.balancingMode", mode, "Passthrough backends: CONNECTION.")
        backends.append(backend | {"group": group})
    if backends:
        d.out["backends"] = backends
    d.link("network", collections=("networks",))
    d.integer("timeoutSec", default=30, low=1)
    d.out["connectionDraining"] = d.body.get("connectionDraining") or {"drainingTimeoutSec": 0}
    d.copy_rest()
    return d.out


def backend_service_refs(record: Record) -> list[str]:
    groups = [str(b["group"]) for b in record.get("backends", [])]
    return [str(c) for c in record.get("healthChecks", [])] + groups


# -- instance groups (unmanaged, zonal) ------------------------------------------------------


def _named_ports(d: Draft) -> list[Record]:
    ports = d.objects("namedPorts")
    for i, port in enumerate(ports):
        check_name(port.get("name"), f"resource.namedPorts[{i}].name")
        number = port.get("port")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            raise InvalidValue(f"resource.namedPorts[{i}].port", number, "Must be a port number.")
    return ports


def prepare_instance_group(d: Draft) -> Record:
    d.text("description")
    d.link("network", collections=("networks",))
    d.link("subnetwork", collections=("subnetworks",))
    ports = _named_ports(d)
    if ports:
        d.out["namedPorts"] = ports
    d.out["_members"] = []
    d.copy_rest()
    return d.out


def render_instance_group(backend: ComputeBackend, record: Record) -> Record:
    out = plain_render(backend, record)
    out["size"] = len(record.get("_members", []))
    return out


def add_instances(d: Draft) -> Record:
    record = _stored(d)
    links = _requested(d, "instances", "instance", "instances")
    for i, link in enumerate(links):
        instance = d.backend.deref(link)
        if instance["zone"] != record["zone"]:
            raise InvalidValue(
                f"resource.instances[{i}].instance", link, "Must be in the group's zone."
            )
        nic = instance["networkInterfaces"][0]
        record.setdefault("network", nic["network"])
        record.setdefault("subnetwork", nic["subnetwork"])
        if nic["network"] != record["network"]:
            raise InvalidValue(
                f"resource.instances[{i}].instance", link, "Not in the group's network."
            )
        _new_member(d, record, link, record["_members"])
    record["_members"] = record["_members"] + list(dict.fromkeys(links))
    return record


def remove_instances(d: Draft) -> Record:
    gone = _requested(d, "instances", "instance", "instances")
    return _without(d, "_members", gone, keep_empty=True)


def set_named_ports(d: Draft) -> Record:
    record = _stored(d)
    sent = d.body.get("fingerprint")
    if sent is not None and sent != record.get("fingerprint"):
        raise ConditionNotMet()
    record["namedPorts"] = _named_ports(d)
    if not record["namedPorts"]:
        del record["namedPorts"]
    return record


def list_instances(d: Draft) -> tuple[str, list[Record]]:
    assert d.existing is not None
    state = d.body.get("instanceState", "ALL")
    if state not in ("ALL", "RUNNING"):
        raise InvalidValue("instanceState", state, "Allowed values: ALL, RUNNING.")
    items = [
        {"instance": link, "status": d.backend.deref(link)["status"]}
        for link in d.existing["_members"]
    ]
    if state == "RUNNING":
        items = [item for item in items if item["status"] == "RUNNING"]
    return "compute#instanceGroupsListInstances", sorted(
        items, key=lambda item: str(item["instance"])
    )


_POOL_FIELDS = """backupPool creationTimestamp description failoverRatio healthChecks id instances
    kind name region securityPolicy selfLink sessionAffinity"""
_SERVICE_FIELDS = """affinityCookieTtlSec backends circuitBreakers connectionDraining
    connectionTrackingPolicy consistentHash creationTimestamp description failoverPolicy
    fingerprint healthChecks id kind loadBalancingScheme localityLbPolicy logConfig name network
    port portName protocol region selfLink sessionAffinity subsetting timeoutSec usedBy"""
_GROUP_FIELDS = """creationTimestamp description fingerprint id kind name namedPorts network region
    selfLink size subnetwork zone"""

TARGET_POOLS = KindSpec(
    collection="targetPools",
    kind="compute#targetPool",
    scopes=frozenset({"regions"}),
    fields=frozenset(_POOL_FIELDS.split()),
    prepare=prepare_target_pool,
    refs=lambda record: [str(c) for c in record.get("healthChecks", [])],
    actions={
        "addInstance": add_instance,
        "removeInstance": remove_instance,
        "addHealthCheck": add_health_check,
        "removeHealthCheck": remove_health_check,
    },
)
BACKEND_SERVICES = KindSpec(
    collection="backendServices",
    kind="compute#backendService",
    scopes=frozenset({"regions"}),
    fields=frozenset(_SERVICE_FIELDS.split()),
    prepare=prepare_backend_service,
    refs=backend_service_refs,
    patchable=True,
    updatable=True,
    fingerprinted=True,
    output_only=frozenset({"usedBy"}),
)
INSTANCE_GROUPS = KindSpec(
    collection="instanceGroups",
    kind="compute#instanceGroup",
    scopes=frozenset({"zones"}),
    fields=frozenset(_GROUP_FIELDS.split()),
    prepare=prepare_instance_group,
    render=render_instance_group,
    fingerprinted=True,
    output_only=frozenset({"size"}),
    actions={
        "addInstances": add_instances,
        "removeInstances": remove_instances,
        "setNamedPorts": set_named_ports,
    },
    queries={"listInstances": list_instances},
)
