"""What a Service asks of GCE (pure): validation, the balancer mode, ports and nodes.

Modes:
- `target-pool`      external network balancer on a target pool (upstream's default)
- `backend-service`  external network balancer on a regional backend service
                     (`cloud.google.com/l4-rbs: enabled`, or `l4-rbs = enabled` in the config)
- `internal`         internal passthrough balancer (`networking.gke.io/load-balancer-type:
                     Internal`)
"""

from __future__ import annotations

import enum
import ipaddress
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lbctl import rules
from lbctl.annotations import ParsedAnnotations
from lbctl.errors import FieldError, InvalidInput
from lbctl.model import NodeView, ServiceView
from providers.gce import annotations as A
from providers.gce import names

NODES_HEALTH_CHECK_PATH = "/healthz"
NODES_HEALTH_CHECK_PORT = 10256
MAX_INTERNAL_PORTS = 5  # upstream maxL4ILBPorts; more -> allPorts
SUBNET_LABEL = "cloud.google.com/gke-node-pool-subnet"

_PROVIDER_ID = re.compile(r"^gce://([^/]+)/([^/]+)/([^/]+)$")


class Mode(enum.StrEnum):
    TARGET_POOL = "target-pool"
    BACKEND_SERVICE = "backend-service"
    INTERNAL = "internal"

    @property
    def uses_instance_groups(self) -> bool:
        return self is not Mode.TARGET_POOL


def load_balancer_type(parsed: ParsedAnnotations) -> str:
    """The new key wins when present (upstream), else the deprecated one, else External."""
    if parsed.present(A.TYPE):
        return parsed[A.TYPE] or A.EXTERNAL
    return parsed[A.DEPRECATED_TYPE] or A.EXTERNAL


def mode(parsed: ParsedAnnotations, *, rbs_default: bool) -> Mode:
    if load_balancer_type(parsed) == A.INTERNAL:
        return Mode.INTERNAL
    rbs = parsed[A.L4_RBS]
    if rbs is None:
        rbs = rbs_default
    return Mode.BACKEND_SERVICE if rbs else Mode.TARGET_POOL


def local_traffic(view: ServiceView) -> bool:
    """externalTrafficPolicy: Local -> a per-Service health check on healthCheckNodePort."""
    return rules.needs_health_check(view)


def health_check_path_port(view: ServiceView) -> tuple[str, int]:
    if local_traffic(view):
        return NODES_HEALTH_CHECK_PATH, view.health_check_node_port
    return NODES_HEALTH_CHECK_PATH, NODES_HEALTH_CHECK_PORT


def protocol(view: ServiceView) -> str:
    return view.ports[0].protocol if view.ports else "TCP"


def port_numbers(view: ServiceView) -> list[int]:
    return sorted({p.port for p in view.ports})


def port_range(ports: Iterable[int]) -> str:
    """Upstream loadBalancerPortRange: one range `"<min>-<max>"` (even for a single port)."""
    items = list(ports)
    return f"{min(items)}-{max(items)}"


def port_ranges(ports: Iterable[int]) -> list[str]:
    """Upstream getPortRanges: sorted, de-duplicated, consecutive ports collapsed."""
    items = sorted(set(ports))
    out: list[str] = []
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        out.append(str(items[i]) if i == j else f"{items[i]}-{items[j]}")
        i = j + 1
    return out


def session_affinity(view: ServiceView) -> str:
    return "CLIENT_IP" if view.session_affinity == "ClientIP" else "NONE"


# --- nodes -> instances ------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class InstanceRef:
    project: str
    zone: str
    name: str


def instance_ref(node: NodeView) -> InstanceRef | None:
    """`gce://<project>/<zone>/<name>` -> the instance; None for any other providerID."""
    match = _PROVIDER_ID.match(node.provider_id)
    if not match:
        return None
    return InstanceRef(match.group(1), match.group(2), match.group(3))


def region_of(zone: str) -> str:
    return zone.rsplit("-", 1)[0] if "-" in zone else ""


def instances(nodes: Sequence[NodeView], region: str) -> list[InstanceRef]:
    """The instances of the nodes in `region` (all of them when the region is unknown)."""
    out = set()
    for node in nodes:
        ref = instance_ref(node)
        if ref is not None and (not region or region_of(ref.zone) == region):
            out.add(ref)
    return sorted(out)


def group_nodes(nodes: Sequence[NodeView], default_subnet: str) -> list[NodeView]:
    """Upstream removeNodesInNonDefaultNetworks: a node labelled with another subnet is
    left out of the instance groups."""
    return [
        n
        for n in nodes
        if not n.labels.get(SUBNET_LABEL) or n.labels.get(SUBNET_LABEL) == default_subnet
    ]


# --- validation ----------------------------------------------------------------------------------


def _ann(annotation_key: str, parsed: ParsedAnnotations, message: str) -> FieldError:
    return FieldError(message, annotation=annotation_key, value=parsed.raw.get(annotation_key))


def validate(
    view: ServiceView, parsed: ParsedAnnotations, *, rbs_default: bool
) -> tuple[list[FieldError], list[str]]:
    """Upstream's checks, all collected; returns (errors, warnings)."""
    chosen = mode(parsed, rbs_default=rbs_default)
    return _errors(view), _warnings(view, parsed, chosen)


def _errors(view: ServiceView) -> list[FieldError]:
    errors: list[FieldError] = []
    if not view.ports:
        errors.append(
            FieldError("requested load balancer with no ports", field="spec.ports", value=[])
        )
    protocols = sorted({p.protocol for p in view.ports})
    if len(protocols) > 1:
        errors.append(
            FieldError(
                "mixed protocol is not supported for LoadBalancer",
                field="spec.ports",
                value=protocols,
            )
        )
    for i, port in enumerate(view.ports):
        if port.protocol not in ("TCP", "UDP"):
            errors.append(
                FieldError(
                    f"invalid protocol {port.protocol}, only TCP and UDP are supported",
                    field=f"spec.ports[{i}].protocol",
                    value=port.protocol,
                )
            )
        if not 1 <= port.port <= 65535:
            errors.append(
                FieldError(
                    "must be between 1 and 65535", field=f"spec.ports[{i}].port", value=port.port
                )
            )
    if view.session_affinity not in ("", "None", "ClientIP"):
        errors.append(
            FieldError(
                f"unsupported session affinity {view.session_affinity}; use None or ClientIP",
                field="spec.sessionAffinity",
                value=view.session_affinity,
            )
        )
    if local_traffic(view) and not 1 <= view.health_check_node_port <= 65535:
        errors.append(
            FieldError(
                "externalTrafficPolicy: Local needs the healthCheckNodePort the API server "
                "assigned (give the Service as the cluster has it)",
                field="spec.healthCheckNodePort",
                value=view.health_check_node_port,
            )
        )
    if view.load_balancer_ip:
        try:
            if ipaddress.ip_address(view.load_balancer_ip).version != 4:
                raise ValueError("IPv6")
        except ValueError:
            errors.append(
                FieldError(
                    "not an IPv4 address",
                    field="spec.loadBalancerIP",
                    value=view.load_balancer_ip,
                )
            )
    return errors


def _warnings(view: ServiceView, parsed: ParsedAnnotations, chosen: Mode) -> list[str]:
    """Annotations that disagree, mean nothing for this balancer, or are not supported."""
    warnings: list[str] = []
    if (
        parsed.present(A.TYPE)
        and parsed.present(A.DEPRECATED_TYPE)
        and parsed[A.TYPE] != parsed[A.DEPRECATED_TYPE]
    ):
        warnings.append(
            f"annotations {A.TYPE.key} and {A.DEPRECATED_TYPE.key} disagree; "
            f"{A.TYPE.key} wins ({load_balancer_type(parsed)})"
        )
    raw_access = parsed.raw.get(A.GLOBAL_ACCESS.key)
    if raw_access is not None and raw_access not in ("true", "false"):
        warnings.append(
            f'annotation {A.GLOBAL_ACCESS.key}={raw_access!r} is not "true" or "false"; '
            'global access stays off (only "true" turns it on)'
        )
    if chosen is Mode.INTERNAL:
        for ann in (A.NETWORK_TIER, A.L4_RBS):
            if parsed.present(ann):
                warnings.append(f"annotation {ann.key} applies to external balancers; ignored")
    else:
        for ann in (A.SUBNET, A.GLOBAL_ACCESS):
            if parsed.present(ann):
                warnings.append(f"annotation {ann.key} applies to internal balancers; ignored")
    warnings += _ipv6_source_warnings(view)
    for key in A.BACKEND_SHARE_KEYS:
        if key in view.annotations:
            warnings.append(
                f"annotation {key} is not supported by lbctl; each Service gets its own "
                "backend service"
            )
    return warnings


def _ipv6_source_warnings(view: ServiceView) -> list[str]:
    """The balancer has an IPv4 address only (lbctl makes IPv4 forwarding rules only), so
    an IPv6 source range can never reach it: the traffic firewall k8s-fw-<lb> takes the IPv4
    ranges only. Each IPv6 range is named with where it comes from; when every range is IPv6
    there is no traffic firewall at all (never a wider 0.0.0.0/0) and no client gets in."""
    try:
        rules.source_ranges(view)
    except InvalidInput:
        return []  # validate() reports the bad ranges
    if view.load_balancer_source_ranges:
        entries = [
            (f"spec.loadBalancerSourceRanges[{i}]", raw)
            for i, raw in enumerate(view.load_balancer_source_ranges)
        ]
    else:
        raw = view.annotations.get(rules.SOURCE_RANGES_ANNOTATION, "").strip()
        where = f"annotation {rules.SOURCE_RANGES_ANNOTATION} entry"
        entries = [(where, item) for item in raw.split(",")] if raw else []
    ipv6 = [(origin, text.strip()) for origin, text in entries if _version(text) == 6]
    warnings = [
        f"{origin} {json.dumps(text)}: the GCE balancer has an IPv4 address only, so no IPv6 "
        "client can reach it; no firewall rule is made for this range"
        for origin, text in ipv6
    ]
    if ipv6 and len(ipv6) == len(entries):
        firewall = names.firewall_name(rules.load_balancer_name(view))
        warnings.append(
            "every source range is IPv6 and the GCE balancer has an IPv4 address only: no "
            f"client can reach it; no traffic firewall {firewall} is made (one lbctl made "
            "is deleted), and the ports are not opened to 0.0.0.0/0 either"
        )
    return warnings


def _version(text: str) -> int:
    return ipaddress.ip_network(text.strip(), strict=False).version
