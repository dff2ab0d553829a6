"""Every GCE read, batched across the Services of one sync.

One observe lists, whatever the number of Services: the region's forwarding rules,
addresses, target pools and backend services, the regional and global health checks, the
legacy HTTP health checks, the (network project's) firewalls, this cluster's instance groups
in every zone (one aggregated list, then the members of each), and, when a Service wants a
balancer, the instances (one aggregated list). Nothing is read per Service.

Each Service gets the resources it owns (deterministic name + the description upstream
writes) and the shared ones (node health checks, their firewalls, instance groups) that it
uses now or will use; `shared_with` names the other Services that keep a shared resource
alive. Resources with a Service's names that are not its own are remembered in
`Facts.foreign`; desired() turns a collision with one into a NotOwned plan error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lbctl.annotations import ParsedAnnotations
from lbctl.model import Ingress, NodeView, Resource, ServiceView
from lbctl.provider import Observed
from providers.gce import desired as D
from providers.gce import names, spec
from providers.gce.config import GCEConfig
from providers.gce.facts import Facts, Ref, configured_link
from providers.gce.names import last, relative
from providers.gce.props import (
    address_props,
    backend_service_props,
    firewall_props,
    forwarding_rule_props,
    health_check_props,
    http_health_check_props,
    instance_group_props,
    target_pool_props,
)
from providers.gce.spec import InstanceRef, Mode

if TYPE_CHECKING:  # the SDK is imported only when the cloud is read (not --offline)
    from providers.gce.client import GCEClient

Normalise = Callable[[Mapping[str, Any]], dict[str, Any]]
# Which set of shared resources (see Observer.shared_refs) a Cluster-traffic Service uses.
_SHARED_SET = {Mode.TARGET_POOL: "http", Mode.BACKEND_SERVICE: "regional", Mode.INTERNAL: "global"}


def compute_host_tags(
    instances: Iterable[Mapping[str, Any]], prefix: str
) -> tuple[tuple[str, ...], str]:
    """Upstream computeHostTags: per instance, its longest tag that prefixes its name.
    Returns (tags, error)."""
    items = list(instances)
    if prefix and any(not str(i.get("name", "")).startswith(prefix) for i in items):
        prefix = ""  # upstream: a non-conforming instance turns the prefix filter off
    tags: set[str] = set()
    for instance in items:
        name = str(instance.get("name", ""))
        if prefix and not name.startswith(prefix):
            continue
        candidates = [t for t in instance.get("tags", {}).get("items", []) if name.startswith(t)]
        if not candidates:
            return (), (
                f"could not find any tag that is a prefix of instance name for instance {name}; "
                "set node-tags in [global] of the cloud config"
            )
        tags.add(max(candidates, key=len))
    if not tags:
        return (), "no instances found to take node tags from; set node-tags in the cloud config"
    return tuple(sorted(tags)), ""


# --- the observation ---------------------------------------------------------------------------


@dataclass
class Cloud:
    forwarding_rules: dict[str, dict[str, Any]]
    addresses: dict[str, dict[str, Any]]
    target_pools: dict[str, dict[str, Any]]
    backend_services: dict[str, dict[str, Any]]
    firewalls: dict[str, dict[str, Any]]
    http_health_checks: dict[str, dict[str, Any]]
    health_checks: dict[str, dict[str, Any]]
    region_health_checks: dict[str, dict[str, Any]]
    groups: dict[str, tuple[dict[str, Any], list[str]]]  # zone -> (group, member links)


def _by_name(items: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(i["name"]): dict(i) for i in items if i.get("name")}


@dataclass
class _Mine:
    """One Service's resources: its own (`found`), and those with its names that are not
    (`foreign`, with the reason), which desired() turns into NotOwned errors."""

    key: str
    found: list[Resource] = field(default_factory=list)
    foreign: dict[Ref, str] = field(default_factory=dict)

    def add(
        self,
        kind: str,
        plan_name: str,
        raw: Mapping[str, Any],
        props: dict[str, Any],
        *,
        owned: bool,
        shared_with: frozenset[str] = frozenset(),
    ) -> None:
        if owned:
            rid = str(raw.get("id", ""))
            self.found.append(
                Resource(kind, plan_name, props, owner=self.key, id=rid, shared_with=shared_with)
            )
            return
        desc = raw.get("description", "")
        who = names.described_service(desc)
        self.foreign[(kind, plan_name)] = (
            f"its description says it belongs to Service {who}"
            if who
            else f"its description {desc!r} carries no ownership mark of {self.key}"
        )

    def add_described(
        self, kind: str, plan_name: str, raw: Mapping[str, Any] | None, normalise: Normalise
    ) -> None:
        """A resource whose description names its Service."""
        if raw is not None:
            owned = names.owned_by_service(raw.get("description", ""), self.key)
            self.add(kind, plan_name, raw, normalise(raw), owned=owned)


class Observer:
    def __init__(self, client: GCEClient, config: GCEConfig) -> None:
        self.client = client
        self.config = config
        self.cid = config.cluster_id
        self.region = client.region
        self.links = names.Links(client.project, client.region, client.network_project)

    def read_cloud(self) -> Cloud:
        from providers.gce.legacy import HttpHealthChecks

        c = self.client
        group_name = names.instance_group_name(self.cid)
        groups: dict[str, tuple[dict[str, Any], list[str]]] = {}
        for group in c.aggregated("instanceGroups", filter=f'name = "{group_name}"'):
            zone = last(str(group.get("zone", "")))
            if group.get("name") == group_name and spec.region_of(zone) == self.region:
                groups[zone] = (group, c.list_group_instances(zone, group_name))
        return Cloud(
            forwarding_rules=_by_name(c.list_all("forwardingRules")),
            addresses=_by_name(c.list_all("addresses")),
            target_pools=_by_name(c.list_all("targetPools")),
            backend_services=_by_name(c.list_all("regionBackendServices")),
            firewalls=_by_name(c.list_all("firewalls")),
            http_health_checks=_by_name(HttpHealthChecks(c).list_all()),
            health_checks=_by_name(c.list_all("healthChecks")),
            region_health_checks=_by_name(c.list_all("regionHealthChecks")),
            groups=groups,
        )

    def instances(self, refs: Sequence[InstanceRef]) -> dict[InstanceRef, dict[str, Any]]:
        """The nodes' instances that exist, matched by zone and name (one aggregated list)."""
        listed = {
            (last(str(i.get("zone", ""))), str(i.get("name", ""))): i
            for i in self.client.aggregated("instances")
        }
        return {r: listed[(r.zone, r.name)] for r in refs if (r.zone, r.name) in listed}

    def observe(
        self,
        views: Sequence[ServiceView],
        nodes: Sequence[NodeView],
        wanted: Mapping[str, bool],
        parsed: Mapping[str, ParsedAnnotations],
        names_of: Mapping[str, str],
    ) -> Observed:
        facts = Facts(offline=False, project=self.client.project, region=self.region)
        observed = Observed(facts=facts)
        refs = spec.instances(nodes, self.region)
        # The instances are read only when a Service wants a balancer.
        facts.instances = self.instances(refs) if any(wanted.values()) and refs else {}
        cloud = self.read_cloud()
        facts.addresses = list(cloud.addresses.values())
        self._network(facts)
        self._node_tags(facts)
        uses, users = self._users(cloud, views, wanted, parsed, nodes, facts)
        for view in views:
            self._service(observed, cloud, view, names_of[view.key], uses[view.key], users)
        return observed

    def _node_tags(self, facts: Facts) -> None:
        """The firewalls' target tags: the config's, else upstream's computeHostTags."""
        if self.config.node_tags:
            facts.node_tags = self.config.node_tags
        elif facts.instances:
            tags, error = compute_host_tags(
                facts.instances.values(), self.config.node_instance_prefix
            )
            facts.node_tags, facts.tag_error = (tags or None), error
        else:
            facts.tag_error = (
                "no node tags: set node-tags in [global] of the cloud config (or give nodes "
                "whose instances carry a tag that prefixes their name)"
            )

    def _network(self, facts: Facts) -> None:
        cfg = self.config
        first = next(iter((facts.instances or {}).values()), {})
        interface = (first.get("networkInterfaces") or [{}])[0]
        facts.network = configured_link(
            cfg.network_name, self.links.network, relative(interface.get("network", ""))
        )
        facts.subnetwork = configured_link(
            cfg.subnetwork_name, self.links.subnetwork, relative(interface.get("subnetwork", ""))
        )

    # --- shared resources: who uses what ---------------------------------------------------

    def shared_refs(self) -> dict[str, list[Ref]]:
        node = names.nodes_health_check_name(self.cid)
        return {
            "http": [
                (D.HTTP_HEALTH_CHECK, node),
                (D.FIREWALL, names.external_hc_firewall_name(self.cid, node, True)),
            ],
            "regional": [
                (D.HEALTH_CHECK, f"{self.region}/{node}"),
                (D.FIREWALL, names.external_hc_firewall_name(self.cid, node, True)),
            ],
            "global": [
                (D.HEALTH_CHECK, node),
                (D.FIREWALL, names.internal_hc_firewall_name(self.cid, "", True)),
            ],
        }

    def _cloud_users(self, cloud: Cloud) -> dict[Ref, set[str]]:
        node = names.nodes_health_check_name(self.cid)
        shared = self.shared_refs()
        group = names.instance_group_name(self.cid)
        users: dict[Ref, set[str]] = {}

        def add(ref: Ref, key: str) -> None:
            users.setdefault(ref, set()).add(key)

        for pool in cloud.target_pools.values():
            key = names.described_service(pool.get("description", ""))
            if key is None:
                continue
            if any(last(h) == node for h in pool.get("healthChecks", [])):
                for ref in shared["http"]:
                    add(ref, key)
        for service in cloud.backend_services.values():
            key = names.described_service(service.get("description", ""))
            if key is None:
                continue
            for link in service.get("healthChecks", []):
                if last(link) == node:
                    for ref in shared["regional" if "/regions/" in link else "global"]:
                        add(ref, key)
            for backend in service.get("backends", []):
                link = relative(backend.get("group", ""))
                if last(link) == group and "/zones/" in link:
                    zone = link.split("/zones/", 1)[1].split("/", 1)[0]
                    add((D.INSTANCE_GROUP, f"{zone}/{group}"), key)
        return users

    def _mode_refs(
        self, view: ServiceView, parsed: ParsedAnnotations, group_zones: Iterable[str]
    ) -> set[Ref]:
        chosen = spec.mode(parsed, rbs_default=self.config.rbs_default)
        shared = self.shared_refs()
        out: set[Ref] = set()
        if not spec.local_traffic(view):
            out.update(shared[_SHARED_SET[chosen]])
        if chosen.uses_instance_groups:
            group = names.instance_group_name(self.cid)
            out.update((D.INSTANCE_GROUP, f"{z}/{group}") for z in group_zones)
        return out

    def _users(
        self,
        cloud: Cloud,
        views: Sequence[ServiceView],
        wanted: Mapping[str, bool],
        parsed: Mapping[str, ParsedAnnotations],
        nodes: Sequence[NodeView],
        facts: Facts,
    ) -> tuple[dict[str, set[Ref]], dict[Ref, set[str]]]:
        """(per Service, the shared refs it includes; every shared ref's final users)."""
        cloud_users = self._cloud_users(cloud)
        batch = {v.key for v in views}
        final: dict[Ref, set[str]] = {
            ref: {k for k in keys if k not in batch} for ref, keys in cloud_users.items()
        }
        members = facts.instances_of(spec.group_nodes(nodes, facts.default_subnet_name))
        zones = sorted({r.zone for r in members})
        mode_refs: dict[str, set[Ref]] = {}
        for view in views:
            if wanted.get(view.key) and view.key in parsed:
                mode_refs[view.key] = self._mode_refs(view, parsed[view.key], zones)
                for ref in mode_refs[view.key]:
                    final.setdefault(ref, set()).add(view.key)
        uses = {
            view.key: {ref for ref, keys in cloud_users.items() if view.key in keys}
            | mode_refs.get(view.key, set())
            for view in views
        }
        return uses, final

    # --- one Service ---------------------------------------------------------------------------

    def _service(
        self,
        observed: Observed,
        cloud: Cloud,
        view: ServiceView,
        lb: str,
        shared: set[Ref],
        users: Mapping[Ref, set[str]],
    ) -> None:
        """Sort what carries the Service's names, and the shared resources it uses."""
        key = view.key
        mine = _Mine(key)
        self._named(mine, cloud, lb)
        node = names.nodes_health_check_name(self.cid)
        for kind, plan_name in sorted(shared):
            found = self._shared(cloud, kind, plan_name)
            if found is None:
                continue
            raw, props = found
            desc = raw.get("description", "")
            owned = names.owned_by_name(desc, allowed=(node,), cluster_id=self.cid)
            others = frozenset(users.get((kind, plan_name), set()) - {key})
            mine.add(kind, plan_name, raw, props, owned=owned, shared_with=others)
        observed.resources[key] = mine.found
        if mine.foreign:
            observed.facts.foreign[key] = mine.foreign
        rule = cloud.forwarding_rules.get(lb)
        if rule is not None and names.owned_by_service(rule.get("description", ""), key):
            observed.ingress[key] = [Ingress(ip=str(rule.get("IPAddress", "")))]

    def _named(self, mine: _Mine, cloud: Cloud, lb: str) -> None:
        """The resources named after the balancer."""
        cid, key = self.cid, mine.key
        add = mine.add_described
        add(D.FORWARDING_RULE, lb, cloud.forwarding_rules.get(lb), forwarding_rule_props)
        add(D.ADDRESS, lb, cloud.addresses.get(lb), address_props)
        add(D.TARGET_POOL, lb, cloud.target_pools.get(lb), target_pool_props)
        add(D.BACKEND_SERVICE, lb, cloud.backend_services.get(lb), backend_service_props)
        add(D.HEALTH_CHECK, lb, cloud.health_checks.get(lb), health_check_props)
        regional = cloud.region_health_checks.get(lb)
        add(D.HEALTH_CHECK, f"{self.region}/{lb}", regional, health_check_props)
        for fw in (names.firewall_name(lb), names.external_hc_firewall_name(cid, lb, False)):
            add(D.FIREWALL, fw, cloud.firewalls.get(fw), firewall_props)
        old_fw = cloud.firewalls.get(lb)  # upstream's old internal firewall name
        if old_fw is not None and names.owned_by_service(old_fw.get("description", ""), key):
            mine.found.append(Resource(D.FIREWALL, lb, firewall_props(old_fw), owner=key))
        # Names that carry the mark themselves (upstream writes a different description).
        local_hc = cloud.http_health_checks.get(lb)
        if local_hc is not None:
            owned = names.owned_by_name(local_hc.get("description", ""), allowed=(lb,))
            props = http_health_check_props(local_hc)
            mine.add(D.HTTP_HEALTH_CHECK, lb, local_hc, props, owned=owned)
        local_fw = names.internal_hc_firewall_name(cid, lb, False)
        raw_fw = cloud.firewalls.get(local_fw)
        if raw_fw is not None:
            desc = raw_fw.get("description", "")
            owned = names.owned_by_name(desc) or names.owned_by_service(desc, key)
            mine.add(D.FIREWALL, local_fw, raw_fw, firewall_props(raw_fw), owned=owned)

    def _shared(
        self, cloud: Cloud, kind: str, plan_name: str
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The shared resource (raw, props), when it exists."""
        if kind == D.INSTANCE_GROUP:
            entry = cloud.groups.get(plan_name.split("/", 1)[0])  # <zone>/<group>
            return None if entry is None else (entry[0], instance_group_props(*entry))
        name = plan_name.split("/", 1)[-1]  # a regional check's plan name is <region>/<name>
        if kind == D.HTTP_HEALTH_CHECK:
            raw, normalise = cloud.http_health_checks.get(name), http_health_check_props
        elif kind == D.HEALTH_CHECK:
            checks = cloud.region_health_checks if "/" in plan_name else cloud.health_checks
            raw, normalise = checks.get(name), health_check_props
        elif kind == D.FIREWALL:
            raw, normalise = cloud.firewalls.get(name), firewall_props
        else:
            return None
        return (raw, normalise(raw)) if raw else None
