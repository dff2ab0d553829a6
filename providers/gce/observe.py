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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lbctl.annotations import ParsedAnnotations
from lbctl.errors import FieldError, InvalidInput, NotOwned
from lbctl.model import KNOWN_AFTER_APPLY, Ingress, NodeView, Resource, ServiceView
from lbctl.provider import Observed
from providers.gce import desired as D
from providers.gce import names, spec
from providers.gce.config import GCEConfig
from providers.gce.names import last, relative
from providers.gce.spec import InstanceRef, Mode

if TYPE_CHECKING:  # the SDK is imported only when the cloud is read (not --offline)
    from providers.gce.client import GCEClient

Ref = tuple[str, str]  # (kind, plan name)


@dataclass
class Facts:
    offline: bool
    project: str
    region: str
    network: str = ""  # relative link; KNOWN_AFTER_APPLY offline; "" online when unknown
    subnetwork: str = ""
    node_tags: tuple[str, ...] | None = None
    tag_error: str = ""
    # Existing instances (online); None offline, where the nodes are taken as they are.
    instances: dict[InstanceRef, dict[str, Any]] | None = None
    addresses: list[dict[str, Any]] = field(default_factory=list)
    # service key -> (kind, plan name) -> why a resource with that name is not the Service's
    foreign: dict[str, dict[Ref, str]] = field(default_factory=dict)

    @property
    def default_subnet_name(self) -> str:
        return "" if self.subnetwork in ("", KNOWN_AFTER_APPLY) else last(self.subnetwork)

    def address_by_ip(self, ip: str) -> dict[str, Any] | None:
        return next((a for a in self.addresses if a.get("address") == ip), None)


def resolve_location(config: GCEConfig, nodes: Sequence[NodeView]) -> tuple[str, str]:
    """(project, region): the cloud config's, else the nodes' providerIDs."""
    refs = [r for n in nodes if (r := spec.instance_ref(n)) is not None]
    project = config.project or (refs[0].project if refs else "")
    region = config.region
    if not region and refs:
        regions = sorted({spec.region_of(r.zone) for r in refs})
        region = regions[0] if len(regions) == 1 else ""
    return project, region


def require_location(project: str, region: str) -> None:
    errors = []
    if not project:
        errors.append(
            FieldError(
                "the GCP project is unknown: set project-id in [global] of the cloud config "
                "(or give nodes with spec.providerID gce://<project>/<zone>/<name>)",
                field="[global] project-id",
                value="",
            )
        )
    if not region:
        errors.append(
            FieldError(
                "the region is unknown: set region (or local-zone) in [global] of the cloud config",
                field="[global] region",
                value="",
            )
        )
    if errors:
        raise InvalidInput(errors)


def _link_of(value: str, make: Any) -> str:
    return relative(value) if "/" in value else str(make(value))


def offline_facts(config: GCEConfig, nodes: Sequence[NodeView]) -> Facts:
    project, region = resolve_location(config, nodes)
    links = names.Links(project or KNOWN_AFTER_APPLY, region or KNOWN_AFTER_APPLY)
    links = names.Links(links.project, links.region, config.network_project)
    return Facts(
        offline=True,
        project=project,
        region=region,
        network=(
            _link_of(config.network_name, links.network)
            if config.network_name
            else KNOWN_AFTER_APPLY
        ),
        subnetwork=(
            _link_of(config.subnetwork_name, links.subnetwork)
            if config.subnetwork_name
            else KNOWN_AFTER_APPLY
        ),
        node_tags=config.node_tags or None,
    )


# --- normalising what the API returns into plan props ----------------------------------------


def _port_key(value: str) -> tuple[int, str]:
    head = value.split("-", 1)[0]
    return (int(head) if head.isdigit() else 0, value)


def address_props(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": raw.get("name", ""),
        "description": raw.get("description", ""),
        "addressType": raw.get("addressType", "EXTERNAL"),
        "networkTier": raw.get("networkTier", "PREMIUM"),
        "address": raw.get("address", ""),
        "subnetwork": relative(raw.get("subnetwork", "")),
        "purpose": raw.get("purpose", ""),
        "status": raw.get("status", ""),
    }


def firewall_props(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": raw.get("name", ""),
        "description": raw.get("description", ""),
        "network": relative(raw.get("network", "")),
        "allowed": [
            {
                "IPProtocol": rule.get("IPProtocol", ""),
                "ports": sorted(rule.get("ports", []), key=_port_key),
            }
            for rule in raw.get("allowed", [])
        ],
        "sourceRanges": sorted(raw.get("sourceRanges", [])),
        "destinationRanges": sorted(raw.get("destinationRanges", [])),
        "targetTags": sorted(raw.get("targetTags", [])),
    }


def _timings(raw: Mapping[str, Any]) -> dict[str, Any]:
    # The API's defaults when a field is left out.
    return {
        "checkIntervalSec": raw.get("checkIntervalSec", 5),
        "timeoutSec": raw.get("timeoutSec", 5),
        "healthyThreshold": raw.get("healthyThreshold", 2),
        "unhealthyThreshold": raw.get("unhealthyThreshold", 2),
    }


def http_health_check_props(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": raw.get("name", ""),
        "description": raw.get("description", ""),
        "requestPath": raw.get("requestPath", "/"),
        "port": raw.get("port", 80),
        **_timings(raw),
    }


def health_check_props(raw: Mapping[str, Any]) -> dict[str, Any]:
    http = raw.get("httpHealthCheck", {})
    props = {
        "name": raw.get("name", ""),
        "description": raw.get("description", ""),
        "type": raw.get("type", ""),
        "httpHealthCheck": {
            "port": http.get("port", 80),
            "requestPath": http.get("requestPath", "/"),
        },
        **_timings(raw),
    }
    if raw.get("region"):
        props["region"] = relative(raw["region"])
    return props


def backend_service_props(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": raw.get("name", ""),
        "description": raw.get("description", ""),
        "region": relative(raw.get("region", "")),
        "loadBalancingScheme": raw.get("loadBalancingScheme", ""),
        "protocol": raw.get("protocol", ""),
        "sessionAffinity": raw.get("sessionAffinity") or "NONE",
        "healthChecks": [relative(h) for h in raw.get("healthChecks", [])],
        "backends": sorted(
            (
                {
                    "group": relative(b.get("group", "")),
                    "balancingMode": b.get("balancingMode", "CONNECTION"),
                }
                for b in raw.get("backends", [])
            ),
            key=lambda b: str(b["group"]),
        ),
    }


def target_pool_props(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": raw.get("name", ""),
        "description": raw.get("description", ""),
        # Upstream: an unset affinity is not a reason to rebuild the pool.
        "sessionAffinity": raw.get("sessionAffinity") or "NONE",
        "healthChecks": [relative(h) for h in raw.get("healthChecks", [])],
        "instances": sorted(relative(i) for i in raw.get("instances", [])),
    }


def forwarding_rule_props(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": raw.get("name", ""),
        "description": raw.get("description", ""),
        "IPAddress": raw.get("IPAddress", ""),
        "IPProtocol": raw.get("IPProtocol", ""),
        "portRange": raw.get("portRange", ""),
        "ports": sorted(raw.get("ports", []), key=_port_key),
        "allPorts": bool(raw.get("allPorts", False)),
        "target": relative(raw.get("target", "")),
        "backendService": relative(raw.get("backendService", "")),
        "networkTier": raw.get("networkTier", "PREMIUM"),
        "loadBalancingScheme": raw.get("loadBalancingScheme", "EXTERNAL"),
        "subnetwork": relative(raw.get("subnetwork", "")),
        "network": relative(raw.get("network", "")),
        "allowGlobalAccess": bool(raw.get("allowGlobalAccess", False)),
    }


def instance_group_props(raw: Mapping[str, Any], members: Iterable[str]) -> dict[str, Any]:
    return {
        "name": raw.get("name", ""),
        "zone": relative(raw.get("zone", "")),
        "instances": sorted(relative(m) for m in members),
    }


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
        if any(wanted.values()) and refs:
            facts.instances = self.instances(refs)
        else:
            facts.instances = {}
        cloud = self.read_cloud()
        facts.addresses = list(cloud.addresses.values())
        self._network(facts)
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
        users = self._users(cloud, views, wanted, parsed, nodes, facts)
        for view in views:
            key = view.key
            self._service(observed, cloud, view, names_of[key], users, facts)
        return observed

    def _network(self, facts: Facts) -> None:
        cfg = self.config
        first = next(iter((facts.instances or {}).values()), {})
        interface = (first.get("networkInterfaces") or [{}])[0]
        if cfg.network_name:
            facts.network = _link_of(cfg.network_name, self.links.network)
        else:
            facts.network = relative(interface.get("network", ""))
        if cfg.subnetwork_name:
            facts.subnetwork = _link_of(cfg.subnetwork_name, self.links.subnetwork)
        else:
            facts.subnetwork = relative(interface.get("subnetwork", ""))

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
            out.update(
                shared[
                    {
                        Mode.TARGET_POOL: "http",
                        Mode.BACKEND_SERVICE: "regional",
                        Mode.INTERNAL: "global",
                    }[chosen]
                ]
            )
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
    ) -> dict[str, tuple[set[Ref], dict[Ref, set[str]]]]:
        """Per Service: (the shared refs it includes, every shared ref's final users)."""
        cloud_users = self._cloud_users(cloud)
        batch = {v.key for v in views}
        final: dict[Ref, set[str]] = {
            ref: {k for k in keys if k not in batch} for ref, keys in cloud_users.items()
        }
        zones = sorted({r.zone for r in self._group_refs(nodes, facts)})
        mode_refs: dict[str, set[Ref]] = {}
        for view in views:
            if wanted.get(view.key) and view.key in parsed:
                mode_refs[view.key] = self._mode_refs(view, parsed[view.key], zones)
                for ref in mode_refs[view.key]:
                    final.setdefault(ref, set()).add(view.key)
        out: dict[str, tuple[set[Ref], dict[Ref, set[str]]]] = {}
        for view in views:
            mine = {ref for ref, keys in cloud_users.items() if view.key in keys}
            mine |= mode_refs.get(view.key, set())
            out[view.key] = (mine, final)
        return out

    def _group_refs(self, nodes: Sequence[NodeView], facts: Facts) -> list[InstanceRef]:
        members = spec.group_nodes(nodes, facts.default_subnet_name)
        refs = spec.instances(members, self.region)
        if facts.instances is not None:
            refs = [r for r in refs if r in facts.instances]
        return refs

    # --- one Service ---------------------------------------------------------------------------

    def _service(
        self,
        observed: Observed,
        cloud: Cloud,
        view: ServiceView,
        lb: str,
        users: Mapping[str, tuple[set[Ref], dict[Ref, set[str]]]],
        facts: Facts,
    ) -> None:
        key = view.key
        cid = self.cid
        found: list[Resource] = []
        foreign: dict[Ref, str] = {}

        def consider(
            kind: str,
            plan_name: str,
            raw: Mapping[str, Any] | None,
            props: dict[str, Any] | None,
            owned: bool,
        ) -> None:
            if raw is None or props is None:
                return
            if owned:
                found.append(Resource(kind, plan_name, props, owner=key, id=str(raw.get("id", ""))))
            else:
                desc = raw.get("description", "")
                who = names.described_service(desc)
                why = (
                    f"its description says it belongs to Service {who}"
                    if who
                    else f"its description {desc!r} carries no ownership mark of {key}"
                )
                foreign[(kind, plan_name)] = why

        def per_service(
            kind: str, plan_name: str, raw: Mapping[str, Any] | None, normalise: Any
        ) -> None:
            if raw is None:
                return
            owned = names.owned_by_service(raw.get("description", ""), key)
            consider(kind, plan_name, raw, normalise(raw), owned)

        rule = cloud.forwarding_rules.get(lb)
        per_service(D.FORWARDING_RULE, lb, rule, forwarding_rule_props)
        per_service(D.ADDRESS, lb, cloud.addresses.get(lb), address_props)
        per_service(D.TARGET_POOL, lb, cloud.target_pools.get(lb), target_pool_props)
        per_service(D.BACKEND_SERVICE, lb, cloud.backend_services.get(lb), backend_service_props)
        per_service(D.HEALTH_CHECK, lb, cloud.health_checks.get(lb), health_check_props)
        per_service(
            D.HEALTH_CHECK,
            f"{self.region}/{lb}",
            cloud.region_health_checks.get(lb),
            health_check_props,
        )
        for fw in (names.firewall_name(lb), names.external_hc_firewall_name(cid, lb, False)):
            per_service(D.FIREWALL, fw, cloud.firewalls.get(fw), firewall_props)
        legacy_fw = cloud.firewalls.get(lb)  # upstream's old internal firewall name
        if legacy_fw is not None and names.owned_by_service(legacy_fw.get("description", ""), key):
            found.append(Resource(D.FIREWALL, lb, firewall_props(legacy_fw), owner=key))
        # Names that carry the mark themselves (upstream writes a different description).
        local_hc = cloud.http_health_checks.get(lb)
        if local_hc is not None:
            consider(
                D.HTTP_HEALTH_CHECK,
                lb,
                local_hc,
                http_health_check_props(local_hc),
                names.owned_by_name(local_hc.get("description", ""), allowed=(lb,)),
            )
        internal_local_fw = names.internal_hc_firewall_name(cid, lb, False)
        raw_fw = cloud.firewalls.get(internal_local_fw)
        if raw_fw is not None:
            desc = raw_fw.get("description", "")
            consider(
                D.FIREWALL,
                internal_local_fw,
                raw_fw,
                firewall_props(raw_fw),
                names.owned_by_name(desc) or names.owned_by_service(desc, key),
            )
        # Shared resources this Service uses now or will use.
        mine, final = users[key]
        for kind, plan_name in sorted(mine):
            raw, props = self._shared(cloud, kind, plan_name)
            if raw is None or props is None:
                continue
            node = names.nodes_health_check_name(cid)
            owned = names.owned_by_name(raw.get("description", ""), allowed=(node,), cluster_id=cid)
            if owned:
                others = frozenset(final.get((kind, plan_name), set()) - {key})
                found.append(
                    Resource(
                        kind,
                        plan_name,
                        props,
                        owner=key,
                        id=str(raw.get("id", "")),
                        shared_with=others,
                    )
                )
            else:
                consider(kind, plan_name, raw, props, False)
        observed.resources[key] = found
        if foreign:
            facts.foreign[key] = foreign
        if rule is not None and names.owned_by_service(rule.get("description", ""), key):
            observed.ingress[key] = [Ingress(ip=str(rule.get("IPAddress", "")))]

    def _shared(
        self, cloud: Cloud, kind: str, plan_name: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        if kind == D.HTTP_HEALTH_CHECK:
            raw = cloud.http_health_checks.get(plan_name)
            return raw, http_health_check_props(raw) if raw else None
        if kind == D.HEALTH_CHECK:
            if "/" in plan_name:
                raw = cloud.region_health_checks.get(plan_name.split("/", 1)[1])
            else:
                raw = cloud.health_checks.get(plan_name)
            return raw, health_check_props(raw) if raw else None
        if kind == D.FIREWALL:
            raw = cloud.firewalls.get(plan_name)
            return raw, firewall_props(raw) if raw else None
        if kind == D.INSTANCE_GROUP:
            zone = plan_name.split("/", 1)[0]
            entry = cloud.groups.get(zone)
            if entry is None:
                return None, None
            return entry[0], instance_group_props(entry[0], entry[1])
        return None, None


def not_owned(kind: str, name: str, why: str) -> NotOwned:
    return NotOwned(kind, name, f"{why}; lbctl will not change or delete it")
