"""The tag sweep: a Service's balancers and target groups, found by their tags.

One Resource Groups Tagging API `tag:GetResources` per 20 Services (the API takes 20
values per tag filter), filtered on the `kubernetes.io/service-name` tag, answers with the
ARN and the tags of every CLB, NLB and target group carrying it, so it also stands for
`DescribeTags` on what it finds. It finds what no lookup by name can: a second NLB of one
name (moto, see docs/providers/aws.md) and target groups no listener points at any more.

Ownership is decided from the returned tags (`kubernetes.io/cluster/<id>=owned` or the
legacy `KubernetesCluster=<id>`), not in the filter: the filter cannot say "this tag or
that one", and the legacy tag must keep working.

The tagging API is eventually consistent: a resource created seconds ago may be missing.
Observe therefore never relies on the sweep alone for something that may just have been
made (observe.py: the lookups by name, and an NLB's own groups read from ELBv2).

No ResourceTypeFilters: AWS calls a CLB `elasticloadbalancing:loadbalancer`, moto calls it
`elb:loadbalancer`; the kind is told from the ARN instead. Listeners give their tags (AWS
lists them, moto does not); other tagged resources (security groups) are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from providers.aws import tags as tagging
from providers.aws.client import AWSClient

VALUES_PER_FILTER = 20  # GetResources: at most 20 values in one tag filter
PER_PAGE = 100  # GetResources: ResourcesPerPage maximum


@dataclass
class Found:
    """What the sweep found for one Service, each by ARN with its tags."""

    clbs: dict[str, dict[str, str]] = field(default_factory=dict)  # by CLB name
    nlbs: dict[str, dict[str, str]] = field(default_factory=dict)  # by NLB ARN
    groups: dict[str, dict[str, str]] = field(default_factory=dict)  # by target group ARN


@dataclass
class Swept:
    keys: frozenset[str] = frozenset()  # the Service keys swept
    found: dict[str, Found] = field(default_factory=dict)  # by Service key
    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # by ARN (CLB: by name)

    def of(self, key: str) -> Found:
        return self.found.get(key) or Found()

    def balancers(self, key: str, lb: str) -> bool:
        """Whether the sweep found a balancer of either kind named `lb` for `key`."""
        found = self.of(key)
        return lb in found.clbs or any(arn_name(a) == lb for a in found.nlbs)


def arn_kind(arn: str) -> str:
    """ "clb", "nlb", "alb", "group" or "" from an Elastic Load Balancing ARN."""
    if ":elasticloadbalancing:" not in arn:
        return ""
    resource = arn.split(":", 5)[-1]
    if resource.startswith("targetgroup/"):
        return "group"
    if resource.startswith("listener/"):
        return "listener"
    if resource.startswith(("loadbalancer/net/", "loadbalancer/app/")):
        return "nlb"  # an ELBv2 balancer (moto gives NLBs "app/" ARNs too)
    if resource.startswith("loadbalancer/") and resource.count("/") == 1:
        return "clb"
    return ""


def arn_name(arn: str) -> str:
    """The name in a balancer or target group ARN (…:loadbalancer/net/<name>/<id>,
    …:loadbalancer/<name>, …:targetgroup/<name>/<id>)."""
    parts = arn.split(":", 5)[-1].split("/")
    if parts[0] == "loadbalancer" and len(parts) == 2:
        return parts[1]
    if parts[0] == "loadbalancer" and len(parts) >= 3:
        return parts[2]
    return parts[1] if len(parts) > 1 else ""


def sweep(client: AWSClient, keys: Iterable[str]) -> Swept:
    """Every CLB, NLB and target group tagged with one of these Services' names."""
    wanted = sorted(set(keys))
    out = Swept(keys=frozenset(wanted))
    for i in range(0, len(wanted), VALUES_PER_FILTER):
        chunk = wanted[i : i + VALUES_PER_FILTER]
        for item in client.pages(
            "tag",
            "GetResources",
            items="ResourceTagMappingList",
            token="PaginationToken",
            TagFilters=[{"Key": tagging.SERVICE_NAME_TAG, "Values": chunk}],
            ResourcesPerPage=PER_PAGE,
        ):
            arn = str(item.get("ResourceARN", ""))
            tags = tagging.as_dict(item.get("Tags"))
            key = tags.get(tagging.SERVICE_NAME_TAG, "")
            kind = arn_kind(arn)
            if key not in out.keys or not kind:
                continue
            found = out.found.setdefault(key, Found())
            if kind == "clb":
                found.clbs[arn_name(arn)] = tags
                out.tags[arn_name(arn)] = tags
            elif kind == "nlb":
                found.nlbs[arn] = tags
                out.tags[arn] = tags
            elif kind == "group":
                found.groups[arn] = tags
                out.tags[arn] = tags
            elif kind == "listener":  # AWS lists them (moto does not): no DescribeTags then
                out.tags[arn] = tags
    return out
