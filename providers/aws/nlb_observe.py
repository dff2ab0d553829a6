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
from providers.aws.cache import NLB as NLB_ENTRY
from providers.aws.cache import DetailCache, fingerprint
from providers.aws.client import AWSClient, AWSError
from providers.aws.sweep import Swept, arn_name

TAG_CHUNK = 20
GROUP_CHUNK = 400
LIVE_STATES = ("active", "provisioning")
GONE = ("ListenerNotFound", "LoadBalancerNotFound", "TargetGroupNotFound")
SPARSE = "lbctl:sparse"  # marks a description made from an ARN alone (see `sparse`)


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


def _paged(client: AWSClient, operation: str, items: str, **kwargs: Any) -> list[dict[str, Any]]:
    return list(
        client.pages(
            "elbv2",
            operation,
            items=items,
            token="NextMarker",
            request_token="Marker",
            **({"PageSize": 400} if not kwargs else {}),
            **kwargs,
        )
    )


def sparse(arn: str) -> dict[str, Any]:
    """An NLB being deleted that the tag sweep found: its ARN and name are all a delete
    needs, so it is not described (resources() reports only what it knows)."""
    return {
        "LoadBalancerArn": arn,
        "LoadBalancerName": arn_name(arn),
        "Type": "network",
        SPARSE: True,
    }


class NLBReader:
    """The NLB reads of one observe. After `read`, `strays` holds by NLB name the target
    groups of that Service no listener points at."""

    def __init__(
        self, client: AWSClient, cluster_id: str, cache: DetailCache | None = None
    ) -> None:
        self.client = client
        self.cluster_id = cluster_id
        self.cache = cache if cache is not None else DetailCache()
        # by NLB ARN: the cached details this observe uses (an NLB alone of its name)
        self._cached: dict[str, dict[str, Any]] = {}
        self.strays: dict[str, list[Stray]] = {}  # by NLB name, filled by `read`
        self._listed: list[dict[str, Any]] | None = None
        self._by_name_found: dict[str, dict[str, Any]] = {}

    def balancers(self, names: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """NLBs by name: a lookup by name for one, else the paged listing (which also shows
        a second NLB of one name; the lookup by name shows only the newest on moto, and the
        tag sweep finds the other)."""
        if len(names) == 1:
            return self.named(names)
        if not names:
            return {}
        return _by_name(self.all_balancers(), names)

    def named(self, names: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """A consistent lookup by name, 20 names per call (one by one when one is missing:
        the API then answers LoadBalancerNotFound for the whole call)."""
        found: list[dict[str, Any]] = []
        for i in range(0, len(names), TAG_CHUNK):
            found += self._described(list(names[i : i + TAG_CHUNK]), "Names")
        return _by_name(found, names)

    def _described(self, values: list[str], param: str) -> list[dict[str, Any]]:
        try:
            page = self.client.call("elbv2", "DescribeLoadBalancers", **{param: values})
        except AWSError as e:
            if e.code != "LoadBalancerNotFound":
                raise
            if len(values) == 1:
                return []
            return [d for v in values for d in self._described([v], param)]
        return list(page.get("LoadBalancers", []))

    def all_balancers(self) -> list[dict[str, Any]]:
        """Every ELBv2 balancer of the region, listed once per reader."""
        if self._listed is None:
            self._listed = _paged(self.client, "DescribeLoadBalancers", "LoadBalancers")
        return self._listed

    def tags(self, arns: Sequence[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for i in range(0, len(arns), TAG_CHUNK):
            out |= self._tags_of(list(arns[i : i + TAG_CHUNK]))
        return out

    def _tags_of(self, arns: list[str]) -> dict[str, dict[str, str]]:
        """One that is gone (a cached listener deleted outside lbctl: AWS answers NotFound
        for the whole call) gets no tags; the others are read one by one."""
        try:
            page = self.client.call("elbv2", "DescribeTags", ResourceArns=arns)
        except AWSError as e:
            if e.code not in GONE:
                raise
            if len(arns) == 1:
                return {}
            return {a: t for arn in arns for a, t in self._tags_of([arn]).items()}
        return {
            item["ResourceArn"]: tagging.as_dict(item.get("Tags"))
            for item in page.get("TagDescriptions", [])
        }

    def _groups(self, arns: Sequence[str]) -> list[dict[str, Any]]:
        """Target groups by ARN; one the tag sweep still lists after its deletion is
        skipped (the API answers TargetGroupNotFound for the whole call)."""
        out: list[dict[str, Any]] = []  # no call for no ARNs: without any it lists them all
        for i in range(0, len(arns), GROUP_CHUNK):
            out += self._groups_of(list(arns[i : i + GROUP_CHUNK]))
        return out

    def _groups_of(self, arns: list[str]) -> list[dict[str, Any]]:
        try:
            page = self.client.call("elbv2", "DescribeTargetGroups", TargetGroupArns=arns)
        except AWSError as e:
            if e.code != "TargetGroupNotFound":
                raise
            if len(arns) == 1:
                return []
            return [g for a in arns for g in self._groups_of([a])]
        return list(page.get("TargetGroups", []))

    def _groups_behind(self, arn: str) -> list[dict[str, Any]] | None:
        """The groups an NLB forwards to, for its deletion; None when the NLB is gone."""
        try:
            return _paged(self.client, "DescribeTargetGroups", "TargetGroups", LoadBalancerArn=arn)
        except AWSError as e:
            if e.code == "TargetGroupNotFound":  # moto, for an NLB without groups
                return []
            if e.code == "LoadBalancerNotFound":  # deleted; the sweep may list it a while
                return None
            raise

    def read(
        self,
        names: Sequence[str],
        wanted: Mapping[str, bool],
        *,
        found: Mapping[str, list[dict[str, Any]]] | None = None,
        swept: Swept | None = None,
        owners: Mapping[str, str] | None = None,
        targets_only: bool = False,
        group_attributes: Mapping[str, bool] | None = None,
        group_ports: Mapping[str, Mapping[str, str]] | None = None,
        need_vpc: bool = False,
    ) -> dict[str, NLBState]:
        """`found`: the NLBs the lookups by name found; `swept`: the tag sweep, whose NLBs
        and target groups are added for the Services it covered (`owners`: NLB name ->
        Service key). `wanted` is by balancer name: only those get their attributes and
        targets read. `group_ports` (by NLB name: group name -> port key) are the groups a
        wanted Service should have, so that one no listener points at yet is not taken for
        a stray. With `need_vpc`, an NLB being deleted whose groups do not tell the VPC is
        described."""
        found = found or {}
        swept = swept or Swept()
        owners = owners or {}
        self._by_name_found = {}
        self._cached = {}
        descs = {n: list(found.get(n, [])) for n in names}
        extra: list[str] = []  # ARNs the sweep found for a wanted NLB name, not the lookup
        for name in names:
            key = owners.get(name, "")
            known = {d["LoadBalancerArn"] for d in descs[name]}
            for arn in swept.of(key).nlbs:
                if arn_name(arn) != name or arn in known:
                    continue
                if wanted.get(name):
                    extra.append(arn)
                else:
                    descs[name].append(sparse(arn))
        for i in range(0, len(extra), TAG_CHUNK):
            for d in self._described(extra[i : i + TAG_CHUNK], "LoadBalancerArns"):
                if d.get("Type") == "network" and d["LoadBalancerName"] in descs:
                    descs[d["LoadBalancerName"]].append(d)
        every: list[NLBState] = []
        behind: dict[str, list[dict[str, Any]]] = {}  # NLB ARN -> its groups (deletes)
        named = self._named_groups(descs, group_ports or {}) if targets_only else {}
        for name, items in descs.items():
            for d in items:
                state = NLBState(desc=d, tags={})
                cached = (
                    self.cache.get(NLB_ENTRY, name, fingerprint(d))
                    if wanted.get(name) and len(items) == 1
                    else None
                )
                if cached is not None:
                    self._cached[d["LoadBalancerArn"]] = cached
                if d["LoadBalancerArn"] in named:
                    state.group_ports = named[d["LoadBalancerArn"]]
                elif wanted.get(name):
                    if cached is not None:
                        state.listeners = list(cached["listeners"])
                    else:
                        state.listeners = _paged_listeners(self.client, d["LoadBalancerArn"])
                else:
                    groups = self._groups_behind(d["LoadBalancerArn"])
                    if groups is None:
                        continue
                    behind[d["LoadBalancerArn"]] = groups
                every.append(state)
        states = _primaries(every)
        pointed = {a for s in every for x in s.listeners if (a := _forward_arn(x))}
        pointed |= {g["TargetGroupArn"] for groups in behind.values() for g in groups}
        # Strays are looked for among the swept groups: while a Service is deleted, and
        # while a balancer of it exists (only then can a run have stopped halfway).
        candidates = {} if targets_only else _candidates(names, owners, swept, pointed)
        listed = sorted({a for s in states.values() for x in s.listeners if (a := _forward_arn(x))})
        listed += sorted({a for arns in candidates.values() for a in arns} - set(listed))
        by_arn = {g["TargetGroupArn"]: g for g in self._groups(listed)}
        by_arn |= {g["TargetGroupArn"]: g for groups in behind.values() for g in groups}
        by_arn |= self._by_name_found
        for state in states.values():
            if state.group_ports:  # node sync: the groups found by their names
                arns = sorted(state.group_ports)
            elif wanted.get(state.desc["LoadBalancerName"]):
                arns = sorted({_forward_arn(x) for x in state.listeners})
            else:
                arns = sorted(
                    {
                        g["TargetGroupArn"]
                        for s in [state, *state.duplicates]
                        for g in behind.get(s.desc["LoadBalancerArn"], [])
                    }
                )
            state.groups = [by_arn[a] for a in arns if a in by_arn]
        stray_groups = {
            n: [by_arn[a] for a in arns if a in by_arn] for n, arns in candidates.items()
        }
        all_tags = dict(swept.tags)
        arns = [s.desc["LoadBalancerArn"] for s in every]
        arns += [g["TargetGroupArn"] for s in states.values() for g in s.groups]
        if not targets_only:
            arns += [x["ListenerArn"] for s in states.values() for x in s.listeners]
        all_tags |= self.tags([a for a in dict.fromkeys(arns) if a not in all_tags])
        for state in states.values():
            name = state.desc["LoadBalancerName"]
            if not wanted.get(name):
                # Deleted: only groups carrying this cluster's and this Service's tags.
                state.groups = [
                    g
                    for g in state.groups
                    if _ours(
                        all_tags.get(g["TargetGroupArn"], {}), self.cluster_id, owners.get(name)
                    )
                ]
        self._sort_strays(stray_groups, all_tags, owners, states, group_ports or {})
        if need_vpc:
            self._find_vpc(states, wanted)
        for name, state in states.items():
            _attach_tags(state, all_tags)
            if wanted.get(name) and tagging.owned(state.tags, self.cluster_id):
                # Target-group attributes are compared only when the Service sets some.
                attrs = bool((group_attributes or {}).get(name))
                self._details(state, targets_only=targets_only, attributes=attrs)
        return states

    def _named_groups(
        self,
        descs: Mapping[str, list[dict[str, Any]]],
        group_ports: Mapping[str, Mapping[str, str]],
    ) -> dict[str, dict[str, str]]:
        """Node sync: a wanted NLB's target groups by the names the Service gives them
        (nlb.target_group_name), 20 names per DescribeTargetGroups, in place of a
        DescribeListeners per NLB. By NLB ARN: group ARN -> port key, only for an NLB
        (one of its name) that every one of its groups was found for and forwards to
        (the group lists the NLB); any other NLB is read through its listeners, as a
        full observe does (a change not reconciled yet, a group missing or moved)."""
        self._by_name_found = {}
        single = {
            n: items[0] for n, items in descs.items() if len(items) == 1 and group_ports.get(n)
        }
        wanted_names = sorted({g for n in single for g in group_ports[n]})
        found: dict[str, dict[str, Any]] = {}
        for i in range(0, len(wanted_names), TAG_CHUNK):
            chunk = wanted_names[i : i + TAG_CHUNK]
            try:
                page = self.client.call("elbv2", "DescribeTargetGroups", Names=chunk)
            except AWSError as e:
                if e.code != "TargetGroupNotFound":
                    raise
                continue  # one of them is missing: those NLBs go through their listeners
            found |= {g["TargetGroupName"]: g for g in page.get("TargetGroups", [])}
        out: dict[str, dict[str, str]] = {}
        for name, desc in single.items():
            arn = desc["LoadBalancerArn"]
            groups = [found.get(g) for g in group_ports[name]]
            if all(g is not None and arn in g.get("LoadBalancerArns", []) for g in groups):
                out[arn] = {
                    found[g]["TargetGroupArn"]: port for g, port in group_ports[name].items()
                }
                self._by_name_found |= {
                    found[g]["TargetGroupArn"]: found[g] for g in group_ports[name]
                }
        return out

    def _find_vpc(self, states: Mapping[str, NLBState], wanted: Mapping[str, bool]) -> None:
        """The VPC (for the node rules to revoke) of NLBs being deleted comes from their
        groups; without any, the NLB itself is described."""
        if any(
            s.desc.get("VpcId") or any(g.get("VpcId") for g in s.groups) for s in states.values()
        ):
            return
        bare = [s for n, s in states.items() if not wanted.get(n) and s.desc.get(SPARSE)]
        if not bare:
            return
        described = {
            d["LoadBalancerArn"]: d
            for d in self._described(
                [s.desc["LoadBalancerArn"] for s in bare[:TAG_CHUNK]], "LoadBalancerArns"
            )
        }
        for state in bare:
            if state.desc["LoadBalancerArn"] in described:
                state.desc = described[state.desc["LoadBalancerArn"]]

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
                if not _ours(tags, self.cluster_id, owners.get(name)):
                    continue
                port = wanted_names.get(group["TargetGroupName"])
                if port is None:
                    self.strays.setdefault(name, []).append(Stray(group, tags))
                elif state is not None and port not in _ports_served(state):
                    state.groups.append(group)
                    state.group_ports[group["TargetGroupArn"]] = port

    def _details(self, state: NLBState, *, targets_only: bool, attributes: bool) -> None:
        """Attributes, and per group its targets (and attributes when compared): from the
        detail cache when the NLB's entry is valid (cache.py), else read (and kept, on a
        full observe). Node sync keeps nothing: it reads no listeners or attributes."""
        arn = state.desc["LoadBalancerArn"]
        name = state.desc["LoadBalancerName"]
        cached = self._cached.get(arn)
        fresh = cached is None
        if not targets_only:
            if cached is not None:
                state.attributes = dict(cached["attributes"])
            else:
                attrs = self.client.call(
                    "elbv2", "DescribeLoadBalancerAttributes", LoadBalancerArn=arn
                )
                reported = {a["Key"]: a["Value"] for a in attrs.get("Attributes", [])}
                state.attributes = {**nlb.NEW_NLB_ATTRIBUTES, **reported}
        known_targets = cached["targets"] if cached is not None else {}
        known_attrs = cached["group_attributes"] if cached is not None else {}
        for group in state.groups:
            garn = group["TargetGroupArn"]
            if garn in known_targets:
                state.targets[garn] = list(known_targets[garn])
            else:
                health = self.client.call("elbv2", "DescribeTargetHealth", TargetGroupArn=garn)
                state.targets[garn] = sorted(
                    d["Target"]["Id"]
                    for d in health.get("TargetHealthDescriptions", [])
                    if d.get("TargetHealth", {}).get("State") != "draining"
                )
            if targets_only or not attributes:
                continue
            if garn in known_attrs:
                state.group_attributes[garn] = dict(known_attrs[garn])
                continue
            gattrs = self.client.call("elbv2", "DescribeTargetGroupAttributes", TargetGroupArn=garn)
            state.group_attributes[garn] = {
                a["Key"]: a["Value"] for a in gattrs.get("Attributes", [])
            }
        if targets_only or state.duplicates:
            return
        self.cache.put(
            NLB_ENTRY,
            name,
            fingerprint(state.desc),
            {
                "listeners": list(state.listeners),
                "attributes": dict(state.attributes),
                "targets": dict(state.targets),
                "group_attributes": dict(state.group_attributes),
            },
            fresh=fresh,
        )


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
    names: Sequence[str], owners: Mapping[str, str], swept: Swept, pointed: set[str]
) -> dict[str, list[str]]:
    """By NLB name: the swept groups of the Service that nothing found points at and whose
    name starts as the Service's do (k8s-<ns:8>-<name:8>-). Their tags say whose they are."""
    out: dict[str, list[str]] = {}
    for name in names:
        key = owners.get(name)
        if key is None or key not in swept.keys:
            continue
        namespace, _, service = key.partition("/")
        prefix = nlb.target_group_prefix(namespace, service)
        found = [
            a
            for a in sorted(swept.of(key).groups)
            if arn_name(a).startswith(prefix) and a not in pointed
        ]
        if found:
            out[name] = found
    return out


def _ours(tags: Mapping[str, str], cluster_id: str, key: str | None) -> bool:
    """This cluster's (owned) and this Service's."""
    return tagging.owned(tags, cluster_id) and tags.get(tagging.SERVICE_NAME_TAG) == key


def _by_name(
    descs: Iterable[Mapping[str, Any]], names: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    wanted = set(names)
    out: dict[str, list[dict[str, Any]]] = {}
    for d in descs:
        if d["LoadBalancerName"] in wanted and d.get("Type") == "network":
            out.setdefault(d["LoadBalancerName"], []).append(dict(d))
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
    tags = {k: v for k, v in state.tags.items() if k in tag_keys}
    if desc.get(SPARSE):  # being deleted, known from the tag sweep only
        props: dict[str, Any] = {"Name": lb, "Type": "network", "Tags": tags}
    else:
        props = {
            "Name": lb,
            "Type": desc.get("Type", "network"),
            "Scheme": desc.get("Scheme", "internet-facing"),
            "SubnetMappings": _mappings(desc),
            "Tags": tags,
            "DNSName": desc.get("DNSName", ""),
            "VpcId": desc.get("VpcId", ""),
            **_groups_of(desc, group_names),
        }
    out = [Resource(nlb.NLB, lb, props, owner=key, id=desc["LoadBalancerArn"])]
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
