"""Reading NLBs: the balancer, its listeners, target groups, targets, attributes and the
node security-group rules whose descriptions name it.

Every Service's NLB is looked for whatever its annotations say now, so that a type switch
(nlb -> elb, or the annotation removed) deletes the old NLB instead of leaking it. A run
that stopped halfway can leave a second NLB of one name (moto) or target groups no
listener points at; both are found, and the plan deletes what carries this cluster's and
this Service's tags.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lbctl.errors import NotOwned
from lbctl.model import Ingress, Resource
from providers.aws import nlb
from providers.aws import tags as tagging
from providers.aws.client import AWSClient

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
    # A group no listener points at that carries a desired name: the port key it serves.
    group_ports: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stray:
    """A target group of this cluster and Service that no listener points at (left by a
    run that stopped between deleting its listener or balancer and deleting it)."""

    group: dict[str, Any]
    tags: dict[str, str]


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


def _paged(client: AWSClient, operation: str, items: str) -> list[dict[str, Any]]:
    return list(
        client.pages(
            "elbv2",
            operation,
            items=items,
            token="NextMarker",
            request_token="Marker",
            PageSize=400,
        )
    )


class NLBReader:
    """The NLB reads of one observe. After `read`, `strays` holds by NLB name the target
    groups of that Service no listener points at."""

    def __init__(self, client: AWSClient, cluster_id: str) -> None:
        self.client = client
        self.cluster_id = cluster_id
        self.strays: dict[str, list[Stray]] = {}  # by NLB name, filled by `read`
        self._listed: list[dict[str, Any]] | None = None

    def balancers(self, names: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """NLBs by name, from the paged listing even for one name: AWS makes a name unique,
        but moto makes a second NLB when a create is retried after its answer was lost, and
        answers a lookup by name with only one of them (docs/providers/aws.md, moto)."""
        if not names:
            return {}
        wanted = set(names)
        out: dict[str, list[dict[str, Any]]] = {}
        for d in self.all_balancers():
            if d["LoadBalancerName"] in wanted and d.get("Type") == "network":
                out.setdefault(d["LoadBalancerName"], []).append(d)
        return out

    def all_balancers(self) -> list[dict[str, Any]]:
        """Every ELBv2 balancer of the region, listed once per reader."""
        if self._listed is None:
            self._listed = _paged(self.client, "DescribeLoadBalancers", "LoadBalancers")
        return self._listed

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
        out: list[dict[str, Any]] = []  # no call for no ARNs: without any it lists them all
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
        owners: Mapping[str, str] | None = None,
        group_ports: Mapping[str, Mapping[str, str]] | None = None,
    ) -> dict[str, NLBState]:
        """`wanted` is by balancer name: only those get their attributes and targets read.
        `owners` (NLB name -> Service key) says whose stray target groups to look for;
        `group_ports` (by NLB name: group name -> port key) are the groups a wanted Service
        should have, so that one no listener points at yet is not taken for a stray."""
        found = self.balancers(names)
        every = [NLBState(desc=d, tags={}) for descs in found.values() for d in descs]
        for state in every:
            state.listeners = _paged_listeners(self.client, state.desc["LoadBalancerArn"])
        states = _primaries(every)
        # Strays are looked for where a run can have stopped with groups left over: while a
        # Service is deleted, and while its NLB exists.
        scanned = [] if targets_only else [n for n in names if not wanted.get(n) or n in states]
        listing = self._group_listing(states, scan=bool(scanned))
        pointed = {a for s in every for x in s.listeners if (a := _forward_arn(x))}
        candidates = _candidates(scanned, owners or {}, listing, pointed)
        arns = [s.desc["LoadBalancerArn"] for s in every]
        arns += [g["TargetGroupArn"] for s in states.values() for g in s.groups]
        arns += [x["ListenerArn"] for s in states.values() for x in s.listeners]
        arns += [g["TargetGroupArn"] for groups in candidates.values() for g in groups]
        all_tags = self.tags(arns)
        self._sort_strays(candidates, all_tags, owners or {}, states, group_ports or {})
        for name, state in states.items():
            _attach_tags(state, all_tags)
            if wanted.get(name) and tagging.owned(state.tags, self.cluster_id):
                # Target-group attributes are compared only when the Service sets some.
                attrs = bool((group_attributes or {}).get(name))
                self._details(state, targets_only=targets_only, attributes=attrs)
        return states

    def _group_listing(self, states: Mapping[str, NLBState], *, scan: bool) -> list[dict[str, Any]]:
        """Gives each NLB the groups its listeners forward to; returns the groups read. With
        `scan`, every group of the region (the ELBv2 API has no tag filter, and only the
        listing shows a group no listener points at), else those the listeners name."""
        named = sorted({a for s in states.values() for x in s.listeners if (a := _forward_arn(x))})
        if scan:
            listing = _paged(self.client, "DescribeTargetGroups", "TargetGroups")
        else:
            listing = self._groups(named)
        by_arn = {g["TargetGroupArn"]: g for g in listing}
        for state in states.values():
            pointed = sorted({_forward_arn(x) for x in state.listeners})
            state.groups = [by_arn[a] for a in pointed if a in by_arn]
        return listing

    def _sort_strays(
        self,
        candidates: Mapping[str, list[dict[str, Any]]],
        all_tags: Mapping[str, dict[str, str]],
        owners: Mapping[str, str],
        states: Mapping[str, NLBState],
        group_ports: Mapping[str, Mapping[str, str]],
    ) -> None:
        """Owned candidates become strays (the plan deletes them), except a group with a
        name the Service wants: the NLB's group for that port if the port has none (a run
        stopped before its listener was made), else left alone (the create adopts it)."""
        self.strays = {}
        for name, found in candidates.items():
            state = states.get(name)
            wanted_names = group_ports.get(name, {})
            for group in found:
                tags = all_tags.get(group["TargetGroupArn"], {})
                if not tagging.owned(tags, self.cluster_id):
                    continue
                if tags.get(tagging.SERVICE_NAME_TAG) != owners[name]:
                    continue
                port = wanted_names.get(group["TargetGroupName"])
                if port is None:
                    self.strays.setdefault(name, []).append(Stray(group, tags))
                elif state is not None and port not in _ports_served(state):
                    state.groups.append(group)
                    state.group_ports[group["TargetGroupArn"]] = port

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


def _attach_tags(state: NLBState, all_tags: Mapping[str, dict[str, str]]) -> None:
    state.tags = all_tags.get(state.desc["LoadBalancerArn"], {})
    for extra in state.duplicates:
        extra.tags = all_tags.get(extra.desc["LoadBalancerArn"], {})
    state.group_tags = {
        g["TargetGroupArn"]: all_tags.get(g["TargetGroupArn"], {}) for g in state.groups
    }
    state.listener_tags = {
        x["ListenerArn"]: all_tags.get(x["ListenerArn"], {}) for x in state.listeners
    }


def _paged_listeners(client: AWSClient, arn: str) -> list[dict[str, Any]]:
    return list(
        client.pages(
            "elbv2",
            "DescribeListeners",
            items="Listeners",
            token="NextMarker",
            request_token="Marker",
            LoadBalancerArn=arn,
        )
    )


def _candidates(
    names: Sequence[str],
    owners: Mapping[str, str],
    listing: Sequence[dict[str, Any]],
    pointed: set[str],
) -> dict[str, list[dict[str, Any]]]:
    """By NLB name: the listed groups no listener points at whose name starts as the
    Service's do (k8s-<ns:8>-<name:8>-). Only their tags can tell whose they are."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        if name not in owners:
            continue
        namespace, _, service = owners[name].partition("/")
        prefix = nlb.target_group_prefix(namespace, service)
        found = [
            g
            for g in listing
            if g["TargetGroupName"].startswith(prefix) and g["TargetGroupArn"] not in pointed
        ]
        if found:
            out[name] = found
    return out


def _ports_served(state: NLBState) -> set[str]:
    return {_port_key(x) for x in state.listeners} | set(state.group_ports.values())


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
        name = by_group.get(garn) or state.group_ports.get(garn) or group["TargetGroupName"]
        attrs = state.group_attributes.get(garn, {})
        tags = state.group_tags.get(garn, {})
        out.append(_group(key, name, group, attrs, tags, tag_keys, attribute_keys))
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


def stray_groups(key: str, strays: Iterable[Stray], tag_keys: set[str]) -> list[Resource]:
    """Named by their own names, which no desired group has: the plan deletes them."""
    return [
        _group(key, s.group["TargetGroupName"], s.group, {}, s.tags, tag_keys, ()) for s in strays
    ]


def _group(
    key: str,
    name: str,
    group: Mapping[str, Any],
    attrs: Mapping[str, str],
    tags: Mapping[str, str],
    tag_keys: set[str],
    attribute_keys: Iterable[str],
) -> Resource:
    garn = group["TargetGroupArn"]
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
        "Tags": {k: v for k, v in tags.items() if k in tag_keys},
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
