"""The IP of a Service's balancer, and whether lbctl may ever release it.

External: loadBalancerIP (a reserved address of the right tier, or the rule's own IP),
else the forwarding rule's IP while scheme and tier still match, else the address <lb>
an interrupted apply left holding it, else a new one (KNOWN_AFTER_APPLY). Internal:
upstream's ilbIPToUse, with the same fall-backs for the subnetwork.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lbctl.annotations import ParsedAnnotations
from lbctl.errors import FieldError, InvalidInput
from lbctl.model import KNOWN_AFTER_APPLY, Resource, ServiceView
from providers.gce import annotations as A

if TYPE_CHECKING:  # desired imports this module
    from providers.gce.desired import Context


def tier(parsed: ParsedAnnotations, rule: Resource | None) -> str:
    """The annotation's tier; without it an existing rule keeps its tier (upstream only
    tears down wrong-tier resources when the annotation is present); else Premium."""
    if parsed.present(A.NETWORK_TIER):
        return str(parsed[A.NETWORK_TIER])
    if rule is not None and rule.props.get("networkTier"):
        return str(rule.props["networkTier"])
    return str(A.NETWORK_TIER.default)


def _ip_of(res: Resource | None, key: str, **want: Any) -> str:
    """The IP an observed rule or address holds, if it is of the kind wanted; else ""."""
    if res is None or any(res.props.get(k) != v for k, v in want.items()):
        return ""
    return str(res.props.get(key) or "")


def _bad_ip(message: str, requested: str) -> InvalidInput:
    return InvalidInput([FieldError(message, field="spec.loadBalancerIP", value=requested)])


def external_ip(view: ServiceView, ctx: Context, net_tier: str) -> tuple[str, bool]:
    """(the IP, whether it is a user-reserved address lbctl must never release)."""
    rule = ctx.rule()
    rule_ip = _ip_of(rule, "IPAddress", loadBalancingScheme="EXTERNAL", networkTier=net_tier)
    requested = view.load_balancer_ip
    if not requested:
        address = ctx.address()
        held = _ip_of(address, "address", addressType="EXTERNAL", networkTier=net_tier)
        return rule_ip or held or KNOWN_AFTER_APPLY, False
    found = ctx.requested_address
    if ctx.offline or (found is None and requested == rule_ip):
        return requested, False
    if found is None:
        raise _bad_ip(
            f'requested ip "{requested}" is neither static nor assigned to the LB', requested
        )
    if found.get("name") == ctx.lb:
        return requested, False  # our own reservation, left by an interrupted apply
    have = str(found.get("networkTier") or "PREMIUM")
    if have != net_tier:
        raise _bad_ip(
            f'requested IP "{requested}" belongs to the {have.title()} network tier; '
            f"expected {net_tier.title()}",
            requested,
        )
    return requested, True


def internal_ip(view: ServiceView, ctx: Context, subnetwork: str) -> tuple[str, bool]:
    """Upstream ilbIPToUse: loadBalancerIP, else the rule's IP unless the subnet changed."""
    requested = view.load_balancer_ip
    if requested:
        found = ctx.requested_address
        user_owned = found is not None and found.get("name") != ctx.lb
        return requested, user_owned
    rule = ctx.rule()
    rule_ip = _ip_of(rule, "IPAddress", loadBalancingScheme="INTERNAL", subnetwork=subnetwork)
    address = ctx.address()
    held = _ip_of(address, "address", addressType="INTERNAL", subnetwork=subnetwork)
    return rule_ip or held or KNOWN_AFTER_APPLY, False
