"""Every GCE Service annotation lbctl understands, with upstream's keys.

Keys and semantics are upstream's (kubernetes/cloud-provider-gcp `gce_annotations.go`).
Where upstream parses a typo into a different balancer (any load-balancer-type value but
`Internal` means external), lbctl rejects the value; where upstream's reading of a typo is
the safer result (global access on only for exactly `"true"`), lbctl keeps it and warns.
Each deviation is listed in docs/providers/gce.md.
"""

from __future__ import annotations

import re

from lbctl import rules
from lbctl.annotations import Annotation, AnnotationSet

INTERNAL = "Internal"
EXTERNAL = "External"

EXTERNAL_ONLY = "external"
INTERNAL_ONLY = "internal"
BOTH = "external, internal"

TIERS = {"Premium": "PREMIUM", "Standard": "STANDARD"}

# GCE resource names: RFC 1035 labels of at most 63 characters.
_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


def _type(value: str) -> str:
    if value in ("Internal", "internal"):
        return INTERNAL
    if value in ("External", "external"):
        return EXTERNAL
    raise ValueError(
        "unknown load balancer type; use Internal (an internal passthrough balancer) or "
        "External (the default; or leave the annotation out)"
    )


def _tier(value: str) -> str:
    if value not in TIERS:
        raise ValueError(f"unsupported network tier: {value!r}; use Premium or Standard")
    return TIERS[value]


def _subnet(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(
            "not a subnetwork name (lowercase letters, digits and '-', starting with a "
            "letter, at most 63 characters)"
        )
    return value


def _global_access(value: str) -> bool:
    # Upstream: exactly "true" enables it; anything else leaves it off (the safer result,
    # kept; validate() warns about values other than "true" and "false").
    return value == "true"


def _rbs(value: str) -> bool:
    if value == "enabled":
        return True
    if value == "disabled":
        return False
    raise ValueError(
        'use "enabled" (backend-service based external balancer) or "disabled" (target pool)'
    )


def _source_ranges(value: str) -> str:
    return value  # validated with spec.loadBalancerSourceRanges in lbctl.rules


TYPE = Annotation(
    "networking.gke.io/load-balancer-type",
    _type,
    None,
    "selects",
    "Internal -> internal passthrough balancer (scheme INTERNAL); External or absent -> "
    "external network balancer; any other value is an error",
    default_doc="External",
)
DEPRECATED_TYPE = Annotation(
    "cloud.google.com/load-balancer-type",
    _type,
    None,
    "selects",
    "deprecated spelling of networking.gke.io/load-balancer-type, read only when that "
    "key is absent",
    default_doc="External",
)
SUBNET = Annotation(
    "networking.gke.io/internal-load-balancer-subnet",
    _subnet,
    "",
    INTERNAL_ONLY,
    "subnetwork (name, in the network's project and the region) the internal IP comes "
    "from; a change gives a new IP unless spec.loadBalancerIP is set",
    default_doc="the cluster subnetwork",
)
GLOBAL_ACCESS = Annotation(
    "networking.gke.io/internal-load-balancer-allow-global-access",
    _global_access,
    False,
    INTERNAL_ONLY,
    '"true" lets clients in every region reach the internal balancer (allowGlobalAccess); '
    "any other value leaves it off",
)
NETWORK_TIER = Annotation(
    "cloud.google.com/network-tier",
    _tier,
    "PREMIUM",
    EXTERNAL_ONLY,
    "Premium or Standard (case-sensitive): the network tier of the external IP and "
    "forwarding rule; a change gives a new IP",
    default_doc="Premium",
)
L4_RBS = Annotation(
    "cloud.google.com/l4-rbs",
    _rbs,
    None,
    EXTERNAL_ONLY,
    '"enabled": a backend-service based external balancer (regional backend service, '
    'instance groups) instead of a target pool; "disabled": a target pool',
    default_doc="target pool (or l4-rbs in the cloud config)",
)
SOURCE_RANGES = Annotation(
    rules.SOURCE_RANGES_ANNOTATION,
    _source_ranges,
    "",
    BOTH,
    "comma-separated CIDRs allowed through the k8s-fw-<lb> firewall, when "
    "spec.loadBalancerSourceRanges is empty",
    default_doc="0.0.0.0/0",
)

# Not implemented: sharing one backend service between internal balancers.
BACKEND_SHARE_KEYS = (
    "alpha.cloud.google.com/load-balancer-backend-share",
    "cloud.google.com/load-balancer-backend-share",
)

ANNOTATIONS = AnnotationSet(
    "gce",
    [TYPE, DEPRECATED_TYPE, SUBNET, GLOBAL_ACCESS, NETWORK_TIER, L4_RBS, SOURCE_RANGES],
)
