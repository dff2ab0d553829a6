"""Provider-neutral rules of the upstream service controller (kubernetes/cloud-provider).

Each rule is a small pure function with its own test table in tests/unit/test_rules.py.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from lbctl.errors import FieldError, InvalidInput
from lbctl.model import LOAD_BALANCER_CLEANUP_FINALIZER, NodeView, ServiceView

SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler"
HEALTH_CHECK_PATH = "/healthz"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def load_balancer_name(view: ServiceView) -> str:
    """`"a"` + UID without dashes, cut to 32 characters (AWS's name limit)."""
    return ("a" + view.uid.replace("-", ""))[:32]


def parse_go_bool(value: str) -> bool:
    """Go's strconv.ParseBool: raises ValueError on anything else (including "")."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f"invalid boolean {value!r}: expected true/false, 1/0, t/f")


def _parse_networks(items: Iterable[str], *, where: dict[str, str]) -> list[Network]:
    nets: list[Network] = []
    errors: list[FieldError] = []
    for raw in items:
        text = raw.strip()
        try:
            if "/" not in text:
                raise ValueError("a prefix length is required")
            nets.append(ipaddress.ip_network(text, strict=False))
        except ValueError as e:
            errors.append(
                FieldError(
                    message=f"not a valid IP range (expected a CIDR such as 10.0.0.0/24): {e}",
                    value=raw,
                    **where,
                )
            )
    if errors:
        raise InvalidInput(errors)
    return nets


def source_ranges(view: ServiceView) -> list[Network]:
    """spec.loadBalancerSourceRanges, else the annotation, else 0.0.0.0/0; de-duplicated.

    Every bad entry is reported at once. Returned sorted (IPv4 first) so plans are
    deterministic.
    """
    nets: list[Network] = []
    errors: list[FieldError] = []
    if view.load_balancer_source_ranges:
        for i, raw in enumerate(view.load_balancer_source_ranges):
            try:
                nets += _parse_networks(
                    [raw], where={"field": f"spec.loadBalancerSourceRanges[{i}]"}
                )
            except InvalidInput as e:
                errors += e.errors
    else:
        raw = view.annotations.get(SOURCE_RANGES_ANNOTATION, "").strip()
        # Like upstream's ParseIPNets, an empty item ("10.0.0.0/8,,") is an error.
        items = raw.split(",") if raw else ["0.0.0.0/0"]
        try:
            nets = _parse_networks(items, where={"annotation": SOURCE_RANGES_ANNOTATION})
        except InvalidInput as e:
            # Name the annotation with its value as written; say which entry is wrong.
            errors += [
                FieldError(
                    f"entry {err.value!r}: {err.message}",
                    annotation=SOURCE_RANGES_ANNOTATION,
                    value=raw,
                )
                for err in e.errors
            ]
    if errors:
        raise InvalidInput(errors)
    return sorted(set(nets), key=lambda n: (n.version, n.network_address, n.prefixlen))


def is_allow_all(nets: Iterable[Network]) -> bool:
    """Upstream IsAllowAll: the set holds 0.0.0.0/0 (IPv4 only)."""
    return any(n.version == 4 and n.prefixlen == 0 for n in nets)


def needs_health_check(view: ServiceView) -> bool:
    return view.type == "LoadBalancer" and view.external_traffic_policy == "Local"


def health_check_path_port(view: ServiceView) -> tuple[str, int]:
    """("/healthz", healthCheckNodePort) for externalTrafficPolicy: Local, else ("", 0)."""
    if needs_health_check(view) and view.health_check_node_port:
        return HEALTH_CHECK_PATH, view.health_check_node_port
    return "", 0


def wants_load_balancer(view: ServiceView, load_balancer_class: str | None = None) -> bool:
    """Type LoadBalancer and the class is ours (unset, or equal to the configured one)."""
    return view.type == "LoadBalancer" and view.load_balancer_class == load_balancer_class


def needs_cleanup(view: ServiceView) -> bool:
    return LOAD_BALANCER_CLEANUP_FINALIZER in view.finalizers and (
        view.deleting or view.type != "LoadBalancer"
    )


def node_included(node: NodeView) -> bool:
    """The exclude label is absent, or parses (Go ParseBool) to false; unparseable excludes."""
    if EXCLUDE_LABEL not in node.labels:
        return True
    try:
        return not parse_go_bool(node.labels[EXCLUDE_LABEL])
    except ValueError:
        return False


def node_eligible(node: NodeView) -> bool:
    """Upstream's stable node-set predicates. NotReady nodes are kept (KEP-3458)."""
    return (
        not node.deleting
        and node_included(node)
        and not any(t.key == TO_BE_DELETED_TAINT for t in node.taints)
    )


def eligible_nodes(nodes: Iterable[NodeView]) -> list[NodeView]:
    return sorted((n for n in nodes if node_eligible(n)), key=lambda n: n.name)
