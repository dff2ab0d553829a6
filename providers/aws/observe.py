"""Every AWS read, batched across the Services of one sync.

One observe issues, whatever the number of Services: for the Services that want a
balancer, a lookup of both kinds by name (one Service) or the paged listings (several);
the tag sweep (`tag:GetResources`, 20 Services per call, sweep.py) for the Services being
deleted and those a balancer was found for, which gives the tags (DescribeTags only for
what it did not list) and finds duplicate NLBs and target groups a stopped run left; one
filtered DescribeInstances, one DescribeSecurityGroups filtered to the cluster VPC, and,
when discovery is needed, one DescribeSubnets, DescribeRouteTables. Per existing balancer
that is still wanted: DescribeLoadBalancerAttributes and DescribeLoadBalancerPolicies (the
API has no batch form), unless the provider's detail cache (cache.py) has them. Nothing
is described without a filter but the paged listings of a pass over several Services
(and, in NLBSecurityGroupMode Managed, the ELBv2 listing that tells who still uses the
shared backend group).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lbctl.errors import FieldError, InvalidInput, NotOwned
from lbctl.model import Ingress, NodeView, Resource, ServiceView
from lbctl.provider import Observed
from providers.aws import annotations as A
from providers.aws import clb, nlb, nlb_observe
from providers.aws import tags as tagging
from providers.aws.cache import CLB as CLB_ENTRY
from providers.aws.cache import NLB as NLB_ENTRY
from providers.aws.cache import DetailCache, fingerprint
from providers.aws.client import AWSClient, AWSError
from providers.aws.config import AWSConfig
from providers.aws.instances import instance_id
from providers.aws.nlb_observe import NLBReader, NLBState
from providers.aws.sweep import Swept, arn_name, sweep

FILTER_CHUNK = 150  # AWS allows 200 values per filter; upstream stays below on purpose
TAG_CHUNK = 20


@dataclass
class Facts:
    vpc_id: str = ""
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    subnets: list[dict[str, Any]] = field(default_factory=list)
    route_tables: list[dict[str, Any]] = field(default_factory=list)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    managed_group_ids: dict[str, str] = field(default_factory=dict)  # service key -> SG id
    # (group id, permission key) authorized by an apply of this sync, for shared rules
    granted: set[tuple[str, tuple[Any, ...]]] = field(default_factory=set)
    revoked: set[tuple[str, tuple[Any, ...]]] = field(default_factory=set)


def _swept_nlb(swept: Swept, keys: Mapping[str, str], lb: str) -> bool:
    return any(arn_name(arn) == lb for arn in swept.of(keys[lb]).nlbs)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Observer:
    def __init__(
        self, client: AWSClient, config: AWSConfig, cache: DetailCache | None = None
    ) -> None:
        self.client = client
        self.config = config
        # per-balancer details kept by the provider across observes (cache.py); a fresh
        # one (the CLI's) reads everything
        self.cache = cache if cache is not None else DetailCache()
        self.facts = Facts()
        self._users: dict[str, set[str]] | None = None
        # balancers deleted in this sync: they keep no shared resource alive
        self.leaving: frozenset[str] = frozenset()
        self.targets_only = False
        self.nlbs = NLBReader(client, config.cluster_id, self.cache)

    # --- reads ---------------------------------------------------------------------------

    def balancers(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """CLBs by name: a lookup by name for one, else the paged listing."""
        if len(names) == 1:
            return self.named(names)
        if not names:
            return {}
        found = list(
            self.client.pages(
                "elb",
                "DescribeLoadBalancers",
                items="LoadBalancerDescriptions",
                token="NextMarker",
                request_token="Marker",
                PageSize=400,
            )
        )
        wanted = set(names)
        return {d["LoadBalancerName"]: d for d in found if d["LoadBalancerName"] in wanted}

    def named(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """A consistent lookup by name, 20 names per call (one by one when one is missing:
        the API then answers LoadBalancerNotFound for the whole call)."""
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(sorted(names), TAG_CHUNK):
            try:
                page = self.client.call(
                    "elb", "DescribeLoadBalancers", LoadBalancerNames=list(chunk)
                )
            except AWSError as e:
                if e.code != "LoadBalancerNotFound":
                    raise
                if len(chunk) > 1:
                    for name in chunk:
                        out |= self.named([name])
                continue
            for d in page.get("LoadBalancerDescriptions", []):
                out[d["LoadBalancerName"]] = d
        return out

    def balancer_tags(self, names: Sequence[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for chunk in _chunks(sorted(names), TAG_CHUNK):
            page = self.client.call("elb", "DescribeTags", LoadBalancerNames=list(chunk))
            for item in page.get("TagDescriptions", []):
                out[item["LoadBalancerName"]] = tagging.as_dict(item.get("Tags"))
        return out

    def instances(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(sorted(ids), FILTER_CHUNK):
            for reservation in self.client.pages(
                "ec2",
                "DescribeInstances",
                items="Reservations",
                Filters=[{"Name": "instance-id", "Values": list(chunk)}],
            ):
                for inst in reservation.get("Instances", []):
                    if tagging.in_cluster(
                        tagging.as_dict(inst.get("Tags")), self.config.cluster_id
                    ):
                        out[inst["InstanceId"]] = inst
        return out

    def in_vpc(self, operation: str, items: str, vpc: str) -> list[dict[str, Any]]:
        return list(
            self.client.pages(
                "ec2", operation, items=items, Filters=[{"Name": "vpc-id", "Values": [vpc]}]
            )
        )

    # --- the whole observation -----------------------------------------------------------

    def observe(
        self,
        views: Sequence[ServiceView],
        nodes: Sequence[NodeView],
        names: Mapping[str, str],
        wanted: Mapping[str, bool],
        parsed: Mapping[str, Any],
        *,
        targets_only: bool = False,
    ) -> Observed:
        """`targets_only` (node sync): the balancers and their registrations, and the
        instances; no security groups, subnets, attributes or policies."""
        self.targets_only = targets_only
        observed = Observed(facts=self.facts)
        self.leaving = frozenset(names[v.key] for v in views if not wanted[v.key])
        facts: Facts = observed.facts
        elbs, found, swept = self._find(views, names, wanted)
        self._begin_cache(views, names, wanted, elbs, found)
        elb_tags = {n: swept.tags[n] for n in elbs if n in swept.tags}
        elb_tags |= self.balancer_tags([n for n in elbs if n not in elb_tags])
        by_name = {names[v.key]: wanted[v.key] for v in views}
        attributes = {
            names[v.key]: bool(nlb.tg_attributes(parsed[v.key])) for v in views if v.key in parsed
        }
        nlbs = self.nlbs.read(
            sorted(by_name),
            by_name,
            found=found,
            swept=swept,
            owners={names[v.key]: v.key for v in views},
            targets_only=targets_only,
            group_attributes=attributes,
            group_ports={
                names[v.key]: nlb.group_ports(self.config.cluster_id, v, parsed[v.key])
                for v in views
                if wanted[v.key] and nlb.is_nlb(parsed.get(v.key))
            },
            need_vpc=not self.config.vpc and not any(wanted.values()),
        )
        any_wanted = any(wanted.values())
        if any_wanted:
            ids = sorted({i for n in nodes if (i := instance_id(n.provider_id))})
            facts.instances = self.instances(ids) if ids else {}
        facts.vpc_id = (
            self.config.vpc
            or next((i["VpcId"] for i in facts.instances.values() if i.get("VpcId")), "")
            or next((d["VPCId"] for d in elbs.values() if d.get("VPCId")), "")
            or next((n.desc["VpcId"] for n in nlbs.values() if n.desc.get("VpcId")), "")
            or next((g["VpcId"] for n in nlbs.values() for g in n.groups if g.get("VpcId")), "")
        )
        if facts.vpc_id and not targets_only:
            groups = self.in_vpc("DescribeSecurityGroups", "SecurityGroups", facts.vpc_id)
            facts.groups = {g["GroupId"]: g for g in groups}
        if any_wanted and facts.vpc_id and not targets_only:
            facts.subnets = self.in_vpc("DescribeSubnets", "Subnets", facts.vpc_id)
            if any(not _explicit_ids(parsed.get(v.key)) for v in views if wanted[v.key]):
                facts.route_tables = self.in_vpc("DescribeRouteTables", "RouteTables", facts.vpc_id)
        for view in views:
            self._service(
                observed,
                view,
                names[view.key],
                wanted[view.key],
                parsed.get(view.key),
                elbs,
                elb_tags,
            )
            self._nlb(observed, view, names[view.key], wanted[view.key], parsed.get(view.key), nlbs)
        return observed

    def _begin_cache(
        self,
        views: Sequence[ServiceView],
        names: Mapping[str, str],
        wanted: Mapping[str, bool],
        elbs: Mapping[str, dict[str, Any]],
        found: Mapping[str, list[dict[str, Any]]],
    ) -> None:
        """Tell the detail cache which wanted balancers this observe has, as described now
        (a balancer no longer there, or being deleted, loses its entry)."""
        present: dict[tuple[str, str], str] = {}
        for view in views:
            lb = names[view.key]
            if not wanted[view.key]:
                self.cache.invalidate(lb)
                continue
            if lb in elbs:
                present[(CLB_ENTRY, lb)] = fingerprint(elbs[lb])
            else:
                self.cache.forget(CLB_ENTRY, lb)
            if len(found.get(lb, [])) == 1:
                present[(NLB_ENTRY, lb)] = fingerprint(found[lb][0])
            elif not found.get(lb):
                self.cache.forget(NLB_ENTRY, lb)
        self.cache.begin(present, refresh=not self.targets_only)

    def _find(
        self, views: Sequence[ServiceView], names: Mapping[str, str], wanted: Mapping[str, bool]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]], Swept]:
        """The Services' balancers of both kinds (CLBs by name, NLBs by name), and the tag
        sweep.

        - A Service that wants a balancer is looked up by name (consistent: a balancer
          created a moment ago is found), one lookup per kind for one Service, else the
          paged listings (which then cover the Services being deleted too).
        - The tag sweep (sweep.py) covers the Services being deleted and those a balancer
          was found for: only they can have a second NLB of one name or target groups a
          stopped run left. A new Service costs no sweep, and neither does node sync.
        - A Service being deleted is found by the sweep; the tagging API is eventually
          consistent, so one it found no balancer for is looked up by name as well. A CLB
          being deleted is described by name (its VPC, and the plan's `before`); an NLB
          being deleted is not (nlb_observe.NLBReader.read reads its groups instead).
        """
        keys = {names[v.key]: v.key for v in views}
        ensure = sorted({names[v.key] for v in views if wanted[v.key]})
        delete = sorted({names[v.key] for v in views if not wanted[v.key]} - set(ensure))
        looked = ensure if len(ensure) <= 1 else ensure + delete
        elbs = self.balancers(looked)
        found = self.nlbs.balancers(looked)
        sweeping = [keys[lb] for lb in delete]
        if not self.targets_only:  # node sync registers targets and deletes nothing
            sweeping += [keys[lb] for lb in ensure if lb in elbs or lb in found]
        swept = sweep(self.client, sweeping) if sweeping else Swept()
        unseen = [lb for lb in delete if lb not in looked and not swept.balancers(keys[lb], lb)]
        clbs = [lb for lb in delete if lb not in looked and lb in swept.of(keys[lb]).clbs]
        # A type switch cut short leaves a balancer of each kind, and the one just made may
        # not be indexed yet: the kind the Service now asks for is looked up by name too.
        asks_nlb = {names[v.key]: v.annotations.get(A.TYPE.key) == "nlb" for v in views}
        switched = [lb for lb in delete if lb not in looked and lb not in unseen]
        clbs += [lb for lb in switched if not asks_nlb[lb]]
        nlbs = unseen + [lb for lb in switched if asks_nlb[lb] and not _swept_nlb(swept, keys, lb)]
        elbs |= self.named(sorted(set(unseen + clbs)))
        found |= self.nlbs.named(sorted(set(nlbs)))
        return elbs, found, swept

    def _nlb(
        self,
        observed: Observed,
        view: ServiceView,
        lb: str,
        wanted: bool,
        parsed: Any,
        nlbs: Mapping[str, NLBState],
    ) -> None:
        facts: Facts = observed.facts
        key = view.key
        found = nlb_observe.node_rules(
            key=key, lb=lb, groups=facts.groups, flat=flatten, leaving=self.leaving
        )
        found += self._managed_groups(view, lb, wanted, nlbs)
        strays = self.nlbs.strays.get(lb, [])
        found += nlb_observe.stray_groups(key, strays, _tag_keys(self.config.cluster_id, parsed))
        state = nlbs.get(lb)
        if state is not None:
            attribute_keys = nlb.tg_attributes(parsed).keys() if parsed is not None else ()
            more, clash, ingress = nlb_observe.resources(
                key=key,
                lb=lb,
                state=state,
                cluster_id=self.config.cluster_id,
                wanted=wanted,
                tag_keys=_tag_keys(self.config.cluster_id, parsed),
                attribute_keys=attribute_keys,
                group_names={g: d["GroupName"] for g, d in facts.groups.items()},
            )
            found += more
            if clash is not None:
                observed.clashes.setdefault(key, []).append(clash)
            if ingress:
                observed.ingress[key] = ingress
        observed.resources.setdefault(key, []).extend(found)

    def _managed_groups(
        self, view: ServiceView, lb: str, wanted: bool, nlbs: Mapping[str, NLBState]
    ) -> list[Resource]:
        """NLBSecurityGroupMode = Managed: the NLB's own group, and the cluster's shared
        backend group with the node rules allowing it (kept while another NLB uses it)."""
        facts: Facts = self.facts
        cid = self.config.cluster_id
        by_name = {
            g["GroupName"]: g
            for g in facts.groups.values()
            if tagging.owned(tagging.as_dict(g.get("Tags")), cid)
        }
        out: list[Resource] = []
        front = by_name.get(nlb.frontend_group_name(cid, view))
        if front is not None:
            out.append(
                _group_resource(
                    view.key, front, tagging.as_dict(front.get("Tags")), _tag_keys(cid, None)
                )
            )
            if wanted:
                out.append(_ingress_resource(view.key, front))
        back = by_name.get(nlb.backend_group_name(cid))
        if back is None:
            return out
        users = self._backend_users(back["GroupId"]) - {lb} - self.leaving
        shared = frozenset(users)
        gtags = tagging.as_dict(back.get("Tags"))
        out.append(
            replace(
                _group_resource(view.key, back, gtags, {tagging.cluster_tag(cid)}),
                shared_with=shared,
            )
        )
        for gid, group in sorted(facts.groups.items()):
            for perm in flatten(group.get("IpPermissions", [])):
                if perm.get("GroupId") == back["GroupId"] and perm["IpProtocol"] == "-1":
                    out.append(
                        Resource(
                            nlb.SG_INGRESS,
                            nlb.backend_rule_name(gid),
                            {
                                "GroupId": gid,
                                "SourceGroupName": back["GroupName"],
                                "IpPermissions": [perm],
                            },
                            owner=view.key,
                            id=gid,
                            shared_with=shared,
                        )
                    )
        return out

    def _backend_users(self, group_id: str) -> set[str]:
        """Names of every NLB in the region that has the backend group attached."""
        if self._users is None:
            self._users = {}
            for desc in self.nlbs.all_balancers():
                for gid in desc.get("SecurityGroups", []):
                    self._users.setdefault(gid, set()).add(desc["LoadBalancerName"])
        return set(self._users.get(group_id, set()))

    def _service(
        self,
        observed: Observed,
        view: ServiceView,
        lb: str,
        wanted: bool,
        parsed: Any,
        elbs: Mapping[str, dict[str, Any]],
        elb_tags: Mapping[str, dict[str, str]],
    ) -> None:
        facts: Facts = observed.facts
        key = view.key
        found: list[Resource] = []
        clashes: list[NotOwned] = []
        tag_keys = _tag_keys(self.config.cluster_id, parsed)
        cid = self.config.cluster_id
        group = next(
            (g for g in facts.groups.values() if g.get("GroupName") == clb.security_group_name(lb)),
            None,
        )
        if group is not None:
            gtags = tagging.as_dict(group.get("Tags"))
            if tagging.owned(gtags, cid):
                facts.managed_group_ids[key] = group["GroupId"]
                found.append(_group_resource(key, group, gtags, tag_keys))
                if wanted:
                    found.append(_ingress_resource(key, group))
            elif wanted and not (
                (parsed and parsed[A.SECURITY_GROUPS])
                or self.config.elb_security_group
                or nlb.is_nlb(parsed)
            ):
                clashes.append(
                    NotOwned(
                        clb.SG,
                        clb.security_group_name(lb),
                        f"{group['GroupId']} has no {tagging.cluster_tag(cid)}"
                        "=owned tag; lbctl will not use or change it",
                    )
                )
        managed = facts.managed_group_ids.get(key)
        if managed:  # ours: its rules anywhere in the VPC are ours to revoke
            found += _node_rules(key, lb, facts.groups, managed, clb.security_group_name(lb))
        if wanted and parsed and parsed[A.SECURITY_GROUPS] and not nlb.is_nlb(parsed):
            # A user's group: only the node groups' rule from it is looked at, and only while
            # the Service wants it, so that lbctl never plans to revoke it (it may be shared).
            node_groups = {
                g["GroupId"]
                for i in facts.instances.values()
                for g in i.get("SecurityGroups", [])
                if g["GroupId"] in facts.groups
            }
            mine = {g: facts.groups[g] for g in node_groups}
            byo = parsed[A.SECURITY_GROUPS][0]
            found += _node_rules(key, lb, mine, byo, byo)
        desc = elbs.get(lb)
        if desc is not None:
            etags = elb_tags.get(lb, {})
            if not tagging.owned(etags, cid):
                clashes.append(
                    NotOwned(
                        clb.ELB,
                        lb,
                        f"it has no {tagging.cluster_tag(cid)}"
                        "=owned tag; lbctl will not change or delete it",
                    )
                )
            else:
                found.append(_elb_resource(key, desc, etags, tag_keys))
                if wanted:
                    found += (
                        self._elb_instances(key, desc)
                        if self.targets_only
                        else (self._elb_parts(key, desc))
                    )
                observed.ingress[key] = [Ingress(hostname=desc["DNSName"])]
        observed.resources.setdefault(key, []).extend(found)
        if clashes:
            observed.clashes.setdefault(key, []).extend(clashes)

    def _elb_instances(self, key: str, desc: Mapping[str, Any]) -> list[Resource]:
        lb = desc["LoadBalancerName"]
        ids = sorted({i["InstanceId"] for i in desc.get("Instances", [])})
        return [Resource(clb.INSTANCES, lb, {"Instances": ids}, owner=key, id=lb)]

    def _elb_parts(self, key: str, desc: Mapping[str, Any]) -> list[Resource]:
        lb = desc["LoadBalancerName"]
        fp = fingerprint(desc)
        cached = self.cache.get(CLB_ENTRY, lb, fp)
        if cached is not None:
            attrs, policies = cached["attributes"], cached["policies"]
        else:
            attrs = self.client.call("elb", "DescribeLoadBalancerAttributes", LoadBalancerName=lb)
            # The description names the balancer's policies: read them only when there are.
            names = desc.get("Policies", {}).get("OtherPolicies", [])
            policies = (
                self.client.call(
                    "elb", "DescribeLoadBalancerPolicies", LoadBalancerName=lb, PolicyNames=names
                )
                if names
                else {}
            )
            self.cache.put(
                CLB_ENTRY, lb, fp, {"attributes": attrs, "policies": policies}, fresh=True
            )
        hc = desc.get("HealthCheck", {})
        parts = [
            Resource(
                clb.HEALTH,
                lb,
                {
                    k: hc.get(k)
                    for k in (
                        "Target",
                        "Interval",
                        "Timeout",
                        "UnhealthyThreshold",
                        "HealthyThreshold",
                    )
                },
                owner=key,
                id=lb,
            ),
            Resource(
                clb.ATTRIBUTES,
                lb,
                _attributes(attrs.get("LoadBalancerAttributes", {})),
                owner=key,
                id=lb,
            ),
            Resource(
                clb.INSTANCES,
                lb,
                {"Instances": sorted({i["InstanceId"] for i in desc.get("Instances", [])})},
                owner=key,
                id=lb,
            ),
        ]
        parts += _policies(key, desc, policies.get("PolicyDescriptions", []))
        return parts


def _explicit_ids(parsed: Any) -> bool:
    if parsed is None:
        return False
    subnets = parsed[A.SUBNETS]
    return bool(subnets) and all(s.startswith("subnet-") for s in subnets)


def _tag_keys(cluster_id: str, parsed: Any) -> set[str]:
    keys = {tagging.cluster_tag(cluster_id), tagging.SERVICE_NAME_TAG}
    if parsed is not None:
        keys |= set(parsed[A.ADDITIONAL_TAGS])
    return keys


def _group_resource(
    key: str, group: Mapping[str, Any], gtags: Mapping[str, str], tag_keys: set[str]
) -> Resource:
    name = group["GroupName"]
    return Resource(
        clb.SG,
        name,
        {
            "GroupName": name,
            "Description": group.get("Description", ""),
            "VpcId": group.get("VpcId", ""),
            "Tags": {k: v for k, v in gtags.items() if k in tag_keys},
        },
        owner=key,
        id=group["GroupId"],
    )


def _desc(item: Mapping[str, Any]) -> dict[str, str]:
    return {"Description": item["Description"]} if item.get("Description") else {}


def flatten(perms: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """EC2's grouped IpPermissions -> one entry per (protocol, ports, source)."""
    out: list[dict[str, Any]] = []
    for p in perms:
        base: dict[str, Any] = {"IpProtocol": p["IpProtocol"]}
        if p["IpProtocol"] != "-1":
            base.update(FromPort=p.get("FromPort"), ToPort=p.get("ToPort"))
        out += [{**base, "CidrIp": r["CidrIp"], **_desc(r)} for r in p.get("IpRanges", [])]
        out += [{**base, "CidrIpv6": r["CidrIpv6"], **_desc(r)} for r in p.get("Ipv6Ranges", [])]
        out += [{**base, "GroupId": g["GroupId"]} for g in p.get("UserIdGroupPairs", [])]
    return sorted(out, key=clb.permission_key)


def _ingress_resource(key: str, group: Mapping[str, Any]) -> Resource:
    name = group["GroupName"]
    return Resource(
        clb.SG_INGRESS,
        name,
        {"GroupName": name, "IpPermissions": flatten(group.get("IpPermissions", []))},
        owner=key,
        id=group["GroupId"],
    )


def _node_rules(
    key: str, lb: str, groups: Mapping[str, Mapping[str, Any]], source: str, source_name: str
) -> list[Resource]:
    found = []
    for gid, group in sorted(groups.items()):
        for perm in flatten(group.get("IpPermissions", [])):
            if perm.get("GroupId") == source and perm["IpProtocol"] == "-1":
                found.append(
                    Resource(
                        clb.SG_INGRESS,
                        clb.node_rule_name(gid, lb),
                        {"GroupId": gid, "SourceGroupName": source_name, "IpPermissions": [perm]},
                        owner=key,
                        id=gid,
                    )
                )
    return found


def _elb_resource(
    key: str, desc: Mapping[str, Any], etags: Mapping[str, str], tag_keys: set[str]
) -> Resource:
    listeners = []
    for item in desc.get("ListenerDescriptions", []):
        raw = item["Listener"]
        listener = {
            "Protocol": raw["Protocol"].upper(),
            "LoadBalancerPort": raw["LoadBalancerPort"],
            "InstanceProtocol": raw.get("InstanceProtocol", raw["Protocol"]).upper(),
            "InstancePort": raw["InstancePort"],
        }
        if raw.get("SSLCertificateId"):
            listener["SSLCertificateId"] = raw["SSLCertificateId"]
        listeners.append(listener)
    return Resource(
        clb.ELB,
        desc["LoadBalancerName"],
        {
            "LoadBalancerName": desc["LoadBalancerName"],
            "Scheme": desc.get("Scheme", "internet-facing"),
            "Subnets": sorted(desc.get("Subnets", [])),
            "SecurityGroups": list(desc.get("SecurityGroups", [])),
            "Listeners": sorted(listeners, key=lambda item: item["LoadBalancerPort"]),
            "Tags": {k: v for k, v in etags.items() if k in tag_keys},
            "DNSName": desc.get("DNSName", ""),
            "VPCId": desc.get("VPCId", ""),
            "ListenerPolicies": {
                str(i["Listener"]["LoadBalancerPort"]): i.get("PolicyNames", [])
                for i in desc.get("ListenerDescriptions", [])
            },
            "BackendPolicies": {
                str(b["InstancePort"]): b.get("PolicyNames", [])
                for b in desc.get("BackendServerDescriptions", [])
            },
        },
        owner=key,
        id=desc["LoadBalancerName"],
    )


def _attributes(raw: Mapping[str, Any]) -> dict[str, Any]:
    access = dict(raw.get("AccessLog", {"Enabled": False}))
    if not access.get("Enabled"):
        access = {"Enabled": False}
    else:
        access = {
            k: access.get(k) for k in ("Enabled", "S3BucketName", "S3BucketPrefix", "EmitInterval")
        }
        access["S3BucketPrefix"] = access["S3BucketPrefix"] or ""
    draining = raw.get("ConnectionDraining", {"Enabled": False})
    return {
        "CrossZoneLoadBalancing": {
            "Enabled": bool(raw.get("CrossZoneLoadBalancing", {}).get("Enabled", False))
        },
        "AccessLog": access,
        "ConnectionDraining": {
            "Enabled": bool(draining.get("Enabled", False)),
            "Timeout": int(draining.get("Timeout", clb.DEFAULT_DRAINING_TIMEOUT)),
        },
        "ConnectionSettings": {
            "IdleTimeout": int(raw.get("ConnectionSettings", {}).get("IdleTimeout", 60))
        },
    }


def _policies(
    key: str, desc: Mapping[str, Any], policies: Sequence[Mapping[str, Any]]
) -> list[Resource]:
    lb = desc["LoadBalancerName"]
    backend = {
        b["InstancePort"]: b.get("PolicyNames", [])
        for b in desc.get("BackendServerDescriptions", [])
    }
    listener = {
        d["Listener"]["LoadBalancerPort"]: d.get("PolicyNames", [])
        for d in desc.get("ListenerDescriptions", [])
    }
    out = []
    for policy in policies:
        name = policy["PolicyName"]
        attrs = {
            a["AttributeName"]: a.get("AttributeValue", "")
            for a in policy.get("PolicyAttributeDescriptions", [])
        }
        if name == clb.PROXY_POLICY:
            props: dict[str, Any] = {
                "PolicyTypeName": policy.get("PolicyTypeName", "ProxyProtocolPolicyType"),
                "PolicyAttributes": {"ProxyProtocol": str(attrs.get("ProxyProtocol", "")).lower()},
                "InstancePorts": sorted(p for p, names in backend.items() if name in names),
            }
        elif name.startswith(clb.SSL_POLICY_FORMAT.format("")):
            props = {
                "PolicyTypeName": policy.get("PolicyTypeName", "SSLNegotiationPolicyType"),
                "PolicyAttributes": {
                    "Reference-Security-Policy": attrs.get("Reference-Security-Policy", "")
                },
                "LoadBalancerPorts": sorted(p for p, names in listener.items() if name in names),
            }
        else:
            continue  # not a policy lbctl writes
        out.append(Resource(clb.POLICY, name, props, owner=key, id=lb))
    return out


def require_vpc(facts: Facts) -> str:
    if not facts.vpc_id:
        raise InvalidInput(
            [
                FieldError(
                    "cannot find the cluster VPC: no node has a cluster-tagged EC2 instance "
                    "(spec.providerID aws:///<zone>/<instance-id>); set VPC in [Global] of the "
                    "cloud config",
                    field="VPC",
                    value="",
                )
            ]
        )
    return facts.vpc_id
