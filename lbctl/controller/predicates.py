"""The service controller's decisions, as small pure functions over plain API objects.

Objects are the dicts the informers cache (camelCase keys, as the API server sends them).
Each predicate reproduces upstream kubernetes/cloud-provider controllers/service (see
shared/research/aws-and-service-controller.md §1.2-1.3) and has its own test table in
tests/controller/test_predicates.py. The informer handlers are one-line compositions of
these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lbctl import rules
from lbctl.model import LOAD_BALANCER_CLEANUP_FINALIZER, NodeView, ServiceView

Obj = Mapping[str, Any]

PORT_FIELDS = ("name", "protocol", "port", "nodePort", "targetPort", "appProtocol")


def meta(obj: Obj | None) -> Mapping[str, Any]:
    return (obj or {}).get("metadata") or {}


def spec(obj: Obj | None) -> Mapping[str, Any]:
    return (obj or {}).get("spec") or {}


def object_key(obj: Obj) -> str:
    """`namespace/name` for namespaced objects, `name` for cluster-scoped ones (Nodes)."""
    m = meta(obj)
    namespace = m.get("namespace")
    return f"{namespace}/{m.get('name', '')}" if namespace else str(m.get("name", ""))


def wants_load_balancer(svc: Obj | None, load_balancer_class: str | None = None) -> bool:
    """Type LoadBalancer, and loadBalancerClass unset or equal to --load-balancer-class."""
    if svc is None:
        return False
    return rules.wants_load_balancer(ServiceView.from_dict(svc), load_balancer_class)


def has_finalizer(svc: Obj | None) -> bool:
    return LOAD_BALANCER_CLEANUP_FINALIZER in (meta(svc).get("finalizers") or [])


def is_deleting(obj: Obj | None) -> bool:
    return meta(obj).get("deletionTimestamp") is not None


def needs_cleanup(svc: Obj | None) -> bool:
    """Our finalizer is present and the Service is being deleted or is no longer type LB."""
    if svc is None:
        return False
    return rules.needs_cleanup(ServiceView.from_dict(svc))


def _ports(svc: Obj) -> list[tuple[Any, ...]]:
    out = []
    for port in spec(svc).get("ports") or []:
        values = {f: port.get(f) for f in PORT_FIELDS}
        values["protocol"] = values["protocol"] or "TCP"
        out.append(tuple(values[f] for f in PORT_FIELDS))
    return out


def needs_update(old: Obj | None, new: Obj | None, load_balancer_class: str | None = None) -> bool:
    """Upstream needsUpdate: a change that matters to the balancer.

    Not compared, as upstream: labels, selector, loadBalancerClass, internalTrafficPolicy,
    allocateLoadBalancerNodePorts, status. Finalizers and deletionTimestamp are left to
    needs_cleanup.
    """
    old_wants = wants_load_balancer(old, load_balancer_class)
    new_wants = wants_load_balancer(new, load_balancer_class)
    if not old_wants and not new_wants:
        return False
    if old_wants != new_wants:
        return True
    assert old is not None and new is not None
    o, n = spec(old), spec(new)
    if (o.get("loadBalancerSourceRanges") or []) != (n.get("loadBalancerSourceRanges") or []):
        return True
    if _ports(old) != _ports(new):
        return True
    for field in ("sessionAffinity", "sessionAffinityConfig", "externalTrafficPolicy"):
        if o.get(field) != n.get(field):
            return True
    if (o.get("loadBalancerIP") or "") != (n.get("loadBalancerIP") or ""):
        return True
    if (o.get("externalIPs") or []) != (n.get("externalIPs") or []):
        return True
    if (meta(old).get("annotations") or {}) != (meta(new).get("annotations") or {}):
        return True
    if meta(old).get("uid") != meta(new).get("uid"):
        return True
    if (o.get("healthCheckNodePort") or 0) != (n.get("healthCheckNodePort") or 0):
        return True
    return len(o.get("ipFamilies") or []) != len(n.get("ipFamilies") or [])


# --- handlers' decisions ---------------------------------------------------------------


def enqueue_on_add(svc: Obj, load_balancer_class: str | None = None) -> bool:
    """Add: wants a balancer, or needs cleanup (picks up work left by a restart)."""
    return wants_load_balancer(svc, load_balancer_class) or needs_cleanup(svc)


def enqueue_on_update(old: Obj, new: Obj, load_balancer_class: str | None = None) -> bool:
    return needs_update(old, new, load_balancer_class) or needs_cleanup(new)


# --- nodes -----------------------------------------------------------------------------


def node_view(node: Obj) -> NodeView:
    return NodeView.from_dict(node)


def node_included(node: Obj) -> bool:
    return rules.node_included(node_view(node))


def node_provider_id(node: Obj) -> str:
    return str(spec(node).get("providerID") or "")


def should_sync_updated_node(old: Obj, new: Obj) -> bool:
    """Upstream shouldSyncUpdatedNode, plus the rest of the stable-node-set predicates.

    Upstream syncs when the exclude label's verdict flips or the providerID changes. lbctl
    also syncs when the node's eligibility flips (the ToBeDeletedByClusterAutoscaler taint,
    a deletion timestamp), so a tainted node is deregistered now rather than at the next
    full sync; upstream's node-sync table (§1.3) expects that deregistration. Readiness,
    other taints, other labels and conditions never trigger (KEP-3458: NotReady is kept).
    A sync that finds the eligible set unchanged does nothing, so the extra trigger is
    cheap.
    """
    if node_included(old) != node_included(new):
        return True
    if rules.node_eligible(node_view(old)) != rules.node_eligible(node_view(new)):
        return True
    return node_provider_id(old) != node_provider_id(new)


def node_set(nodes: list[NodeView]) -> frozenset[tuple[str, str]]:
    """What nodesSufficientlyEqual compares: (name, providerID) of the eligible nodes."""
    return frozenset((n.name, n.provider_id) for n in rules.eligible_nodes(nodes))
