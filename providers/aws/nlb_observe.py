"""Reading NLBs: the balancer, its listeners, target groups, targets, attributes and the
node security-group rules whose descriptions name it.

Every Service's NLB is looked for whatever its annotations say now, so that a type switch
(nlb -> elb, or the annotation removed) deletes the old NLB instead of leaking it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lbctl.errors import NotOwned
from lbctl.model import Ingress, Resource
from providers.aws import nlb
from providers.aws import tags as tagging
from providers.aws.client import AWSClient, AWSError

TAG_CHUNK = 20
GROUP_CHUNK = 400
LIVE_STATES = ("active", "provisioning")


@dataclass
class NLBState:
    desc: dict[str, Any]
    tags: dict[str, str]
    listeners: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    group_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    listener_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    group_attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    targets: dict[str, list[str]] = field(default_factory=dict)
    duplicates: list[NLBState] = field(default_factory=list)


def _primaries(states: Sequence[NLBState]) -> dict[str, NLBState]:
    """One NLB per name: the one with the most listeners, then the oldest; the rest are
    duplicates, which the plan deletes."""
    by_name: dict[str, list[NLBState]] = {}
    for state in states:
        by_name.setdefault(state.desc["LoadBalancerName"], []).append(state)
    out = {}
    for name, group in by_name.items():
        group.sort(
            key=lambda s: (
                -len(s.listeners),
                str(s.desc.get("CreatedTime", "")),
                s.desc["LoadBalancerArn"],
            )
        )
        out[name] = group[0]
        group[0].duplicates = group[1:]
    return out


class NLBReader:
    def __init__(self, client: AWSClient, cluster_id: str) -> None:
        self.client = client
        self.cluster_id = cluster_id

    def balancers(self, names: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """NLBs by name. AWS makes a name unique, but a create retried after its answer was
        lost gives a second NLB on moto, so every one of them is returned."""
        if not names:
            return {}
        if len(names) == 1:
            try:
                page = self.client.call("elbv2", "DescribeLoadBalancers", Names=list(names))
            except AWSError as e:
                if e.code == "LoadBalancerNotFound":
                    return {}
                raise
            found = page.get("LoadBalancers", [])
        else:
            found = list(
                self.client.pages(
                    "elbv2",
                    "DescribeLoadBalancers",
                    items="LoadBalancers",
                    token="NextMarker",
                    request_token="Marker",
                    PageSize=400,
                )
            )
        wanted = set(names)
        out: dict[str, list[dict[str, Any]]] = {}
        for d in found:
            if d["LoadBalancerName"] in wanted and d.get("Type") == "network":
                out.setdefault(d["LoadBalancerName"], []).append(d)
        return out

    def all_balancers(self) -> list[dict[str, Any]]:
        return list(
            self.client.pages(
                "elbv2",
                "DescribeLoadBalancers",
                items="LoadBalancers",
                token="NextMarker",
                request_token="Marker",
                PageSize=400,
            )
        )

    def tags(self, arns: Sequence[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for i in range(0, len(arns), TAG_CHUNK):
            page = self.client.call(
                "elbv2", "DescribeTags", ResourceArns=list(arns[i : i + TAG_CHUNK])
            )
            for item in page.get("TagDescriptions", []):
                out[item["ResourceArn"]] = tagging.as_dict(item.get("Tags"))
        return out

    def _groups(self, arns: Sequence[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i in range(0, len(arns), GROUP_CHUNK):
            page = self.client.call(
                "elbv2", "DescribeTargetGroups", TargetGroupArns=list(arns[i : i + GROUP_CHUNK])
            )
            out += page.get("TargetGroups", [])
        return out

    def read(
        self,
        names: Sequence[str],
        wanted: Mapping[str, bool],
        *,
        targets_only: bool = False,
        group_attributes: Mapping[str, bool] | None = None,
    ) -> dict[str, NLBState]:
        """`wanted` is by balancer name: only those get their attributes and targets read."""
        found = self.balancers(names)
        if not found:
            return {}
        every = [NLBState(desc=d, tags={}) for descs in found.values() for d in descs]
        for state in every:
            state.listeners = list(
                self.client.pages(
                    "elbv2",
                    "DescribeListeners",
                    items="Listeners",
                    token="NextMarker",
                    request_token="Marker",
                    LoadBalancerArn=state.desc["LoadBalancerArn"],
                )
            )
        states = _primaries(every)
        # The groups are found from the listeners, in one call for every NLB (not by
        # LoadBalancerArn, which moto answers wrongly once a listener has been moved).
        group_arns = sorted(
            {a for s in states.values() for x in s.listeners if (a := _forward_arn(x))}
        )
        groups = {g["TargetGroupArn"]: g for g in self._groups(group_arns)}
        for state in states.values():
            state.groups = [
                groups[a] for a in sorted({_forward_arn(x) for x in state.listeners}) if a in groups
            ]
        arns = [s.desc["LoadBalancerArn"] for s in every]
        arns += [g["TargetGroupArn"] for s in states.values() for g in s.groups]
        arns += [x["ListenerArn"] for s in states.values() for x in s.listeners]
        all_tags = self.tags(arns)
        for name, state in states.items():
            state.tags = all_tags.get(state.desc["LoadBalancerArn"], {})
            for extra in state.duplicates:
                extra.tags = all_tags.get(extra.desc["LoadBalancerArn"], {})
            state.group_tags = {
                g["TargetGroupArn"]: all_tags.get(g["TargetGroupArn"], {}) for g in state.groups
            }
            state.listener_tags = {
                x["ListenerArn"]: all_tags.get(x["ListenerArn"], {}) for x in state.listeners
            }
            if wanted.get(name) and tagging.owned(state.tags, self.cluster_id):
                # Target-group attributes are compared only when the Service sets some.
                attrs = bool((group_attributes or {}).get(name))
                self._details(state, targets_only=targets_only, attributes=attrs)
        return states

    def _details(self, state: NLBState, *, targets_only: bool, attributes: bool) -> None:
        arn = state.desc["LoadBalancerArn"]
        if not targets_only:
            attrs = self.client.call("elbv2", "DescribeLoadBalancerAttributes", LoadBalancerArn=arn)
            reported = {a["Key"]: a["Value"] for a in attrs.get("Attributes", [])}
            state.attributes = {**nlb.NEW_NLB_ATTRIBUTES, **reported}
        for group in state.groups:
            garn = group["TargetGroupArn"]
            health = self.client.call("elbv2", "DescribeTargetHealth", TargetGroupArn=garn)
            state.targets[garn] = sorted(
                d["Target"]["Id"]
                for d in health.get("TargetHealthDescriptions", [])
                if d.get("TargetHealth", {}).get("State") != "draining"
            )
            if targets_only or not attributes:
                continue
            gattrs = self.client.call("elbv2", "DescribeTargetGroupAttributes", TargetGroupArn=garn)
            state.group_attributes[garn] = {
                a["Key"]: a["Value"] for a in gattrs.get("Attributes", [])
            }


def _port_key(listener: Mapping[str, Any]) -> str:
    protocol = "TCP" if listener["Protocol"] in ("TCP", "TLS") else listener["Protocol"]
    return f"{listener['Port']}/{protocol}"


def _forward_arn(listener: Mapping[str, Any]) -> str:
    for action in listener.get("DefaultActions", []):
        if action.get("Type") == "forward" and action.get("TargetGroupArn"):
            return str(action["TargetGroupArn"])
    return ""


def _groups_of(desc: Mapping[str, Any], group_names: Mapping[str, str]) -> dict[str, Any]:
    """Managed mode: the NLB's groups, by id and by name (an NLB created without groups
    reports none, and never gets any)."""
    ids = list(desc.get("SecurityGroups", []))
    if not ids:
        return {}
    return {"SecurityGroups": ids, "SecurityGroupNames": [group_names.get(g, g) for g in ids]}


def resources(
    *,
    key: str,
    lb: str,
    state: NLBState,
    cluster_id: str,
    wanted: bool,
    tag_keys: set[str],
    attribute_keys: Iterable[str],
    group_names: Mapping[str, str],
) -> tuple[list[Resource], NotOwned | None, list[Ingress]]:
    if not tagging.owned(state.tags, cluster_id):
        return (
            [],
            NotOwned(
                nlb.NLB,
                lb,
                f"it has no {tagging.cluster_tag(cluster_id)}=owned "
                "tag; lbctl will not change or delete it",
            ),
            [],
        )
    desc = state.desc
    out = [
        Resource(
            nlb.NLB,
            lb,
            {
                "Name": lb,
                "Type": desc.get("Type", "network"),
                "Scheme": desc.get("Scheme", "internet-facing"),
                "SubnetMappings": _mappings(desc),
                "Tags": {k: v for k, v in state.tags.items() if k in tag_keys},
                "DNSName": desc.get("DNSName", ""),
                "VpcId": desc.get("VpcId", ""),
                **_groups_of(desc, group_names),
            },
            owner=key,
            id=desc["LoadBalancerArn"],
        )
    ]
    for extra in state.duplicates:
        if tagging.owned(extra.tags, cluster_id):
            arn = extra.desc["LoadBalancerArn"]
            out.append(
                Resource(
                    nlb.NLB, f"{lb}#{arn[-8:]}", {"Name": lb, "Duplicate": arn}, owner=key, id=arn
                )
            )
    names = {g["TargetGroupArn"]: g["TargetGroupName"] for g in state.groups}
    by_group = {_forward_arn(x): _port_key(x) for x in state.listeners}
    seen: set[str] = set()
    for listener in sorted(state.listeners, key=lambda x: x["ListenerArn"]):
        found = _listener(key, listener, names, state, tag_keys)
        if found.name in seen:
            # A second listener on one port (a retried create that moto accepted; AWS
            # would refuse it): give it its own name so the plan deletes it.
            found = replace(found, name=f"{found.name}#{listener['ListenerArn'][-8:]}")
        seen.add(found.name)
        out.append(found)
    for group in state.groups:
        garn = group["TargetGroupArn"]
        if not tagging.owned(state.group_tags.get(garn, {}), cluster_id):
            continue  # not ours: another controller's group on our NLB is left alone
        name = by_group.get(garn, group["TargetGroupName"])
        out.append(_group(key, name, group, state, tag_keys, attribute_keys))
        if wanted:
            out.append(
                Resource(
                    nlb.TARGETS,
                    name,
                    {
                        "TargetGroup": group["TargetGroupName"],
                        "Port": group.get("Port"),
                        "Targets": state.targets.get(garn, []),
                    },
                    owner=key,
                    id=garn,
                )
            )
    if wanted:
        out.append(
            Resource(
                nlb.NLB_ATTRIBUTES,
                lb,
                dict(state.attributes),
                owner=key,
                id=desc["LoadBalancerArn"],
            )
        )
    live = desc.get("State", {}).get("Code", "active") in LIVE_STATES
    ingress = [Ingress(hostname=desc["DNSName"])] if live and desc.get("DNSName") else []
    return out, None, ingress


def _mappings(desc: Mapping[str, Any]) -> list[dict[str, str]]:
    mappings = []
    for zone in desc.get("AvailabilityZones", []):
        mapping = {"SubnetId": zone["SubnetId"]}
        for address in zone.get("LoadBalancerAddresses", []):
            if address.get("AllocationId"):
                mapping["AllocationId"] = address["AllocationId"]
            if address.get("PrivateIPv4Address"):
                mapping["PrivateIPv4Address"] = address["PrivateIPv4Address"]
        mappings.append(mapping)
    return sorted(mappings, key=lambda m: m["SubnetId"])


def _listener(
    key: str,
    listener: Mapping[str, Any],
    names: Mapping[str, str],
    state: NLBState,
    tag_keys: set[str],
) -> Resource:
    props: dict[str, Any] = {
        "Port": listener["Port"],
        "Protocol": listener["Protocol"],
        "TargetGroup": names.get(_forward_arn(listener), _forward_arn(listener)),
        "Tags": {
            k: v
            for k, v in state.listener_tags.get(listener["ListenerArn"], {}).items()
            if k in tag_keys
        },
    }
    if listener["Protocol"] == "TLS":  # moto also reports an SslPolicy on TCP listeners
        props["Certificates"] = [c["CertificateArn"] for c in listener.get("Certificates", [])]
        if listener.get("SslPolicy"):
            props["SslPolicy"] = listener["SslPolicy"]
    return Resource(nlb.LISTENER, _port_key(listener), props, owner=key, id=listener["ListenerArn"])


def _group(
    key: str,
    name: str,
    group: Mapping[str, Any],
    state: NLBState,
    tag_keys: set[str],
    attribute_keys: Iterable[str],
) -> Resource:
    garn = group["TargetGroupArn"]
    attrs = state.group_attributes.get(garn, {})
    props: dict[str, Any] = {
        "Name": group["TargetGroupName"],
        "Protocol": group["Protocol"],
        "Port": group["Port"],
        "VpcId": group.get("VpcId", ""),
        "TargetType": group.get("TargetType", "instance"),
        "HealthCheckProtocol": group.get("HealthCheckProtocol"),
        "HealthCheckPort": group.get("HealthCheckPort"),
        "HealthCheckIntervalSeconds": group.get("HealthCheckIntervalSeconds"),
        "HealthCheckTimeoutSeconds": group.get("HealthCheckTimeoutSeconds"),
        "HealthyThresholdCount": group.get("HealthyThresholdCount"),
        "UnhealthyThresholdCount": group.get("UnhealthyThresholdCount"),
        "Attributes": {k: attrs[k] for k in sorted(attribute_keys) if k in attrs},
        "Tags": {k: v for k, v in state.group_tags.get(garn, {}).items() if k in tag_keys},
    }
    if group.get("HealthCheckProtocol") != "TCP" and group.get("HealthCheckPath"):
        props["HealthCheckPath"] = group["HealthCheckPath"]
    return Resource(nlb.TARGET_GROUP, name, props, owner=key, id=garn)


def node_rules(
    *,
    key: str,
    lb: str,
    groups: Mapping[str, Mapping[str, Any]],
    flat: Any,
    leaving: frozenset[str] = frozenset(),
) -> list[Resource]:
    """This NLB's client/health rules per node SG, and the MTU CIDRs it shares with others.

    `leaving` are the NLBs being deleted in the same sync: they do not keep a CIDR alive.
    `flat` flattens EC2 IpPermissions (observe.flatten). An MTU CIDR is reported for this
    Service only while its client rules use it, with `shared_with` the other NLBs that do.
    """
    mine = {nlb.CLIENT_RULE.format(lb), nlb.HEALTH_RULE.format(lb)}
    out = []
    for gid, group in sorted(groups.items()):
        perms = flat(group.get("IpPermissions", []))
        own = [p for p in perms if p.get("Description") in mine]
        if own:
            out.append(
                Resource(
                    nlb.SG_INGRESS,
                    f"{gid}/nlb/{lb}",
                    {"GroupId": gid, "IpPermissions": own},
                    owner=key,
                    id=gid,
                )
            )
        users: dict[str, set[str]] = {}
        for p in perms:
            desc = str(p.get("Description", ""))
            if desc.startswith(nlb.CLIENT_RULE.format("")):
                cidr = p.get("CidrIp") or p.get("CidrIpv6") or ""
                users.setdefault(cidr, set()).add(desc.split("=", 1)[1])
        for p in perms:
            cidr = p.get("CidrIp") or p.get("CidrIpv6") or ""
            if p.get("Description") == nlb.MTU_RULE and lb in users.get(cidr, set()):
                out.append(
                    Resource(
                        nlb.SG_INGRESS,
                        nlb.mtu_rule_name(gid, cidr),
                        {"GroupId": gid, "IpPermissions": [p]},
                        owner=key,
                        id=gid,
                        shared_with=frozenset(users[cidr] - {lb} - leaving),
                    )
                )
    return out
