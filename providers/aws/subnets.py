"""Which subnets a balancer goes in: the `subnets` annotation, or upstream's discovery.

Discovery (upstream findELBSubnets): subnets of the VPC that carry this cluster's tag or no
cluster tag at all; internet-facing balancers only take public subnets (route table with
a route to an internet gateway); one subnet per availability zone, preferring the role
tag, then the cluster tag, then the smallest id; zones that are not plain availability
zones are dropped; ordered by zone name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from lbctl.errors import FieldError, InvalidInput
from providers.aws import tags as tagging
from providers.aws.annotations import SUBNETS

ROLE_PUBLIC = "kubernetes.io/role/elb"
ROLE_INTERNAL = "kubernetes.io/role/internal-elb"
CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"


def is_public(subnet_id: str, route_tables: Sequence[Mapping[str, Any]]) -> bool:
    table = next(
        (
            t
            for t in route_tables
            if any(a.get("SubnetId") == subnet_id for a in t.get("Associations", []))
        ),
        None,
    )
    if table is None:
        table = next(
            (t for t in route_tables if any(a.get("Main") for a in t.get("Associations", []))),
            None,
        )
    if table is None:
        return False
    return any(str(r.get("GatewayId", "")).startswith("igw") for r in table.get("Routes", []))


# Plain zones are `<region><letter>` (us-east-1a); local and wavelength zones add segments
# (us-west-2-lax-1a, us-east-1-wl1-bos-wlz-1). Reading the name saves a DescribeAvailabilityZones.
_ZONE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+[a-z]$")


def is_availability_zone(zone: str) -> bool:
    return bool(_ZONE.match(zone))


def _eligible(subnet: Mapping[str, Any], cluster_id: str) -> bool:
    subnet_tags = tagging.as_dict(subnet.get("Tags"))
    cluster_keys = [k for k in subnet_tags if k.startswith(CLUSTER_TAG_PREFIX)]
    return not cluster_keys or tagging.cluster_tag(cluster_id) in subnet_tags


def discover(
    *,
    subnets: Sequence[Mapping[str, Any]],
    route_tables: Sequence[Mapping[str, Any]],
    cluster_id: str,
    internal: bool,
) -> list[str]:
    role = ROLE_INTERNAL if internal else ROLE_PUBLIC
    best: dict[str, tuple[tuple[int, int, str], str]] = {}
    for subnet in subnets:
        sid = str(subnet["SubnetId"])
        zone = str(subnet.get("AvailabilityZone", ""))
        if not _eligible(subnet, cluster_id):
            continue
        if not internal and not is_public(sid, route_tables):
            continue
        if not is_availability_zone(zone):
            continue
        subnet_tags = tagging.as_dict(subnet.get("Tags"))
        rank = (
            0 if role in subnet_tags else 1,
            0 if tagging.cluster_tag(cluster_id) in subnet_tags else 1,
            sid,
        )
        if zone not in best or rank < best[zone][0]:
            best[zone] = (rank, sid)
    if not best:
        raise InvalidInput(
            [
                FieldError(
                    "could not find any suitable subnets for creating the ELB: tag subnets with "
                    f"{role}=1 (and {tagging.cluster_tag(cluster_id)}), "
                    "or list them in the annotation",
                    annotation=SUBNETS.key,
                    value=None,
                )
            ]
        )
    return [best[zone][1] for zone in sorted(best)]


def resolve(requested: Sequence[str], subnets: Sequence[Mapping[str, Any]]) -> list[str]:
    """The `subnets` annotation: ids (subnet-...) or Name tag values."""
    found: list[str] = []
    for item in requested:
        for subnet in subnets:
            name = tagging.as_dict(subnet.get("Tags")).get("Name")
            if subnet["SubnetId"] == item or (not item.startswith("subnet-") and name == item):
                found.append(str(subnet["SubnetId"]))
                break
    if len(found) != len(requested):
        raise InvalidInput(
            [
                FieldError(
                    f"expected to find {len(requested)}, but found {len(found)} subnets",
                    annotation=SUBNETS.key,
                    value=",".join(requested),
                )
            ]
        )
    return sorted(set(found))
