"""The registry of resource kinds, plus health checks, firewalls and the read-only kinds.

Health checks: ``global/httpHealthChecks`` (the legacy kind target pools need; it
has no client in google-cloud-compute) and ``healthChecks`` (global or regional,
``type`` plus the matching ``httpHealthCheck`` / ``tcpHealthCheck`` / ...
sub-object). Timings default to the API's 5 s / 5 s / 2 / 2 and ``timeoutSec``
may not exceed ``checkIntervalSec``.

Firewalls default to INGRESS, priority 1000, and ``sourceRanges: [0.0.0.0/0]``
when an ingress rule names no source; exactly one of ``allowed`` / ``denied``; all
the ranges of one rule (sources and destinations) of one IP family.

Instances, networks, subnetworks, zones and regions are seeded and read-only.
"""

from __future__ import annotations

import ipaddress

from lbctl.sandbox.gce.backends import BACKEND_SERVICES, INSTANCE_GROUPS, TARGET_POOLS
from lbctl.sandbox.gce.exceptions import InvalidValue, NotFound, Required, UnknownField
from lbctl.sandbox.gce.fields import Draft, KindSpec, Record, cidr, port_range
from lbctl.sandbox.gce.frontends import ADDRESSES, FORWARDING_RULES

# type -> (sub-object key, default port)
HEALTH_CHECK_TYPES = {
    "TCP": ("tcpHealthCheck", 80),
    "SSL": ("sslHealthCheck", 443),
    "HTTP": ("httpHealthCheck", 80),
    "HTTPS": ("httpsHealthCheck", 443),
    "HTTP2": ("http2HealthCheck", 443),
    "GRPC": ("grpcHealthCheck", 0),
}
_PROBE_KEYS = "host port portName portSpecification proxyHeader requestPath response request"
_PROBE_FIELDS = frozenset([*_PROBE_KEYS.split(), "grpcServiceName"])
_FIREWALL_PROTOCOLS = ("tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all")


def _timing(d: Draft) -> None:
    interval = d.integer("checkIntervalSec", default=5, low=1, high=300) or 5
    timeout = d.integer("timeoutSec", default=5, low=1, high=300) or 5
    if timeout > interval:
        raise InvalidValue(
            "resource.timeoutSec",
            timeout,
            "TimeoutSec should be less than or equal to checkIntervalSec.",
        )
    d.integer("healthyThreshold", default=2, low=1, high=10)
    d.integer("unhealthyThreshold", default=2, low=1, high=10)


def prepare_http_health_check(d: Draft) -> Record:
    d.text("description")
    d.text("host")
    d.text("requestPath", default="/")
    d.integer("port", default=80, low=1, high=65535)
    _timing(d)
    return d.out


def prepare_health_check(d: Draft) -> Record:
    d.text("description")
    present = [name for name, (key, _) in HEALTH_CHECK_TYPES.items() if d.body.get(key)]
    guess = present[0] if len(present) == 1 else None
    kind = str(d.text("type", default=guess, required=True, choices=HEALTH_CHECK_TYPES))
    key, default_port = HEALTH_CHECK_TYPES[kind]
    for other in present:
        if other != kind:
            other_key = HEALTH_CHECK_TYPES[other][0]
            raise InvalidValue(f"resource.{other_key}", "", f"Does not match type {kind}.")
    probe = dict(d.body.get(key) or {})
    for name in probe:
        if name not in _PROBE_FIELDS:
            raise UnknownField(name, f"resource.{key}")
    fixed = probe.get("portSpecification", "USE_FIXED_PORT") == "USE_FIXED_PORT"
    if fixed and kind != "GRPC":
        port = probe.setdefault("port", default_port)
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise InvalidValue(f"resource.{key}.port", port, "Must be a port number.")
    if kind in ("HTTP", "HTTPS", "HTTP2"):
        probe.setdefault("requestPath", "/")
    if kind != "GRPC":
        probe.setdefault("proxyHeader", "NONE")
    d.out[key] = probe
    _timing(d)
    d.copy_rest()
    return d.out


def _firewall_rules(d: Draft, key: str) -> list[Record]:
    rules: list[Record] = []
    for i, rule in enumerate(d.objects(key)):
        where = f"resource.{key}[{i}]"
        for name in rule:
            if name not in ("IPProtocol", "ports"):
                raise UnknownField(name, where)
        protocol = rule.get("IPProtocol")
        if not protocol:
            raise Required(f"{where}.IPProtocol")
        text = str(protocol).lower()
        if text not in _FIREWALL_PROTOCOLS and not (text.isdigit() and int(text) <= 255):
            raise InvalidValue(f"{where}.IPProtocol", protocol, "Unknown protocol.")
        ports = rule.get("ports") or []
        if ports and text not in ("tcp", "udp", "sctp", "all", "6", "17", "132"):
            raise InvalidValue(f"{where}.ports", ",".join(ports), "Only tcp, udp and sctp.")
        for j, port in enumerate(ports):
            port_range(str(port), f"{where}.ports[{j}]")
        rules.append(
            {"IPProtocol": protocol, "ports": list(ports)} if ports else {"IPProtocol": protocol}
        )
    if rules:
        d.out[key] = rules
    return rules


def _one_family(d: Draft, keys: tuple[str, ...]) -> None:
    """VPC firewall rules: "A firewall rule can contain either IPv4 or IPv6 ranges, but not
    both." The first range of another family than the rule's first one is named (the
    wording after the field is a paraphrase of that documented rule)."""
    first: int | None = None
    for key in keys:
        for i, value in enumerate(d.out.get(key, [])):
            version = ipaddress.ip_network(value, strict=False).version
            first = first or version
            if version != first:
                raise InvalidValue(
                    f"resource.{key}[{i}]",
                    value,
                    "A firewall rule can contain either IPv4 or IPv6 ranges, but not both.",
                )


def prepare_firewall(d: Draft) -> Record:
    d.text("description")
    d.link(
        "network",
        collections=("networks",),
        default=f"projects/{d.scope.project}/global/networks/default",
    )
    d.integer("priority", default=1000, low=0, high=65535)
    direction = d.text("direction", default="INGRESS", choices=("INGRESS", "EGRESS"))
    allowed, denied = _firewall_rules(d, "allowed"), _firewall_rules(d, "denied")
    if bool(allowed) == bool(denied):
        raise InvalidValue("resource.allowed", "", "Exactly one of allowed or denied must be set.")
    sources = d.texts("sourceRanges", check=cidr)
    sources += d.texts("sourceTags") + d.texts("sourceServiceAccounts")
    d.texts("destinationRanges", check=cidr)
    _one_family(d, ("sourceRanges", "destinationRanges"))
    d.texts("targetTags")
    d.texts("targetServiceAccounts")
    if direction == "INGRESS" and not sources:
        d.out["sourceRanges"] = ["0.0.0.0/0"]
    d.flag("disabled", default=False)
    d.out["logConfig"] = d.body.get("logConfig") or {"enable": False}
    d.copy_rest()
    return d.out


def _fields(text: str) -> frozenset[str]:
    return frozenset(text.split())


_HTTP_CHECK_FIELDS = """checkIntervalSec creationTimestamp description healthyThreshold host id
    kind name port requestPath selfLink timeoutSec unhealthyThreshold"""
_CHECK_FIELDS = """checkIntervalSec creationTimestamp description grpcHealthCheck
    grpcTlsHealthCheck healthyThreshold http2HealthCheck httpHealthCheck httpsHealthCheck id
    kind logConfig name region selfLink sourceRegions sslHealthCheck tcpHealthCheck timeoutSec
    type unhealthyThreshold"""
_FIREWALL_FIELDS = """allowed creationTimestamp denied description destinationRanges direction
    disabled id kind logConfig name network params priority selfLink sourceRanges
    sourceServiceAccounts sourceTags targetServiceAccounts targetTags"""


def _read_only(collection: str, kind: str, scope: str) -> KindSpec:
    return KindSpec(collection=collection, kind=kind, scopes=frozenset({scope}), fields=frozenset())


_SPECS: dict[str, KindSpec] = {
    spec.collection: spec
    for spec in (
        ADDRESSES,
        FORWARDING_RULES,
        TARGET_POOLS,
        BACKEND_SERVICES,
        INSTANCE_GROUPS,
        KindSpec(
            collection="httpHealthChecks",
            kind="compute#httpHealthCheck",
            scopes=frozenset({"global"}),
            fields=_fields(_HTTP_CHECK_FIELDS),
            prepare=prepare_http_health_check,
            patchable=True,
            updatable=True,
        ),
        KindSpec(
            collection="healthChecks",
            kind="compute#healthCheck",
            scopes=frozenset({"global", "regions"}),
            fields=_fields(_CHECK_FIELDS),
            prepare=prepare_health_check,
            patchable=True,
            updatable=True,
        ),
        KindSpec(
            collection="firewalls",
            kind="compute#firewall",
            scopes=frozenset({"global"}),
            fields=_fields(_FIREWALL_FIELDS),
            prepare=prepare_firewall,
            patchable=True,
            updatable=True,
        ),
        _read_only("instances", "compute#instance", "zones"),
        _read_only("networks", "compute#network", "global"),
        _read_only("subnetworks", "compute#subnetwork", "regions"),
        _read_only("zones", "compute#zone", "project"),
        _read_only("regions", "compute#region", "project"),
    )
}

WRITABLE = tuple(name for name, spec in _SPECS.items() if spec.prepare is not None)


def spec(collection: str) -> KindSpec:
    found = _SPECS.get(collection)
    if found is None:
        raise NotFound(collection)
    return found
