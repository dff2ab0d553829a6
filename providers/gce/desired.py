"""The GCE resources of a Service (pure): what should exist, in the Compute API's field names.

Resources (kind, plan name -> props):
- gce:address             <lb>                         held only while the forwarding rule
                                                       is (re)built, then released
- gce:firewall            k8s-fw-<lb>                  traffic: ports, IPv4 sources, the IP
                                                       (none when every source is IPv6)
- gce:firewall            k8s-<cid>-node-http-hc | k8s-<lb>-http-hc (external)
                          k8s-<cid>-node-hc | <lb>-hc  (internal)   health-check probes
- gce:http-health-check   k8s-<cid>-node | <lb>        legacy global check (target pool)
- gce:health-check        k8s-<cid>-node | <lb>        global check (internal)
                          <region>/k8s-<cid>-node | <region>/<lb>  regional (backend service)
- gce:instance-group      <zone>/k8s-ig--<cid>         unmanaged group per zone (shared)
- gce:backend-service     <lb>                         regional, INTERNAL or EXTERNAL
- gce:target-pool         <lb>                         regional
- gce:forwarding-rule     <lb>                         regional, created last

Values not known before apply are KNOWN_AFTER_APPLY; inside a description the IP is the
same text, so that a firewall whose IP will change still shows as an update.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lbctl import rules
from lbctl.annotations import ParsedAnnotations
from lbctl.model import KNOWN_AFTER_APPLY, Resource, ServiceView
from lbctl.plan import changed_props
from providers.gce import annotations as A
from providers.gce import names, spec
from providers.gce.ip import external_ip, internal_ip, tier
from providers.gce.spec import InstanceRef, Mode

ADDRESS = "gce:address"
FIREWALL = "gce:firewall"
HTTP_HEALTH_CHECK = "gce:http-health-check"
HEALTH_CHECK = "gce:health-check"
INSTANCE_GROUP = "gce:instance-group"
BACKEND_SERVICE = "gce:backend-service"
TARGET_POOL = "gce:target-pool"
FORWARDING_RULE = "gce:forwarding-rule"

KIND_ORDER = (
    ADDRESS,
    FIREWALL,
    HTTP_HEALTH_CHECK,
    HEALTH_CHECK,
    INSTANCE_GROUP,
    BACKEND_SERVICE,
    TARGET_POOL,
    FORWARDING_RULE,
)
FORWARDING_RULE_PROPS = frozenset(
    {
        "description",
        "IPAddress",
        "IPProtocol",
        "portRange",
        "ports",
        "allPorts",
        "target",
        "backendService",
        "networkTier",
        "loadBalancingScheme",
        "subnetwork",
        "network",
        "allowGlobalAccess",
    }
)
IMMUTABLE: dict[str, frozenset[str]] = {
    ADDRESS: frozenset(
        {"description", "address", "addressType", "networkTier", "subnetwork", "purpose"}
    ),
    FIREWALL: frozenset({"network"}),
    HEALTH_CHECK: frozenset({"type", "region"}),
    INSTANCE_GROUP: frozenset({"zone"}),
    BACKEND_SERVICE: frozenset({"loadBalancingScheme", "protocol", "region"}),
    # Upstream recreates the pool when the affinity or the health check changes.
    TARGET_POOL: frozenset({"sessionAffinity", "healthChecks"}),
    FORWARDING_RULE: FORWARDING_RULE_PROPS,
}
# A forwarding rule points at its pool / backend service: replacing them rebuilds it.
DEPENDENTS: dict[str, tuple[str, ...]] = {
    TARGET_POOL: (FORWARDING_RULE,),
    BACKEND_SERVICE: (FORWARDING_RULE,),
}

# Upstream gceHc* values: never lowered when an existing check has larger ones.
HC_TIMINGS = {
    "checkIntervalSec": 8,
    "timeoutSec": 1,
    "healthyThreshold": 1,
    "unhealthyThreshold": 3,
}
# Google's L4 health-check probe ranges (upstream L4LoadBalancerSrcRanges).
HEALTH_CHECK_RANGES = ("130.211.0.0/22", "35.191.0.0/16", "209.85.152.0/22", "209.85.204.0/22")
MAX_GROUP_INSTANCES = 1000


@dataclass(frozen=True)
class Context:
    """What desired() knows beyond the Service: config, nodes and the observed cloud."""

    cluster_id: str
    lb: str
    links: names.Links
    network: str  # relative link or KNOWN_AFTER_APPLY
    subnetwork: str  # the cluster subnetwork: relative link or KNOWN_AFTER_APPLY
    node_tags: tuple[str, ...] | None  # None: known after apply
    instances: Sequence[InstanceRef]  # target-pool members (existing instances)
    group_instances: Sequence[InstanceRef]  # instance-group members
    rbs_default: bool = False
    existing: Mapping[tuple[str, str], Resource] = field(default_factory=dict)
    # loadBalancerIP: None unknown (offline), else the reserved address found for it.
    requested_address: Mapping[str, Any] | None = None
    offline: bool = False

    def observed(self, kind: str, name: str) -> Resource | None:
        return self.existing.get((kind, name))

    def rule(self) -> Resource | None:
        """The observed forwarding rule <lb>."""
        return self.observed(FORWARDING_RULE, self.lb)

    def address(self) -> Resource | None:
        """The observed address <lb>."""
        return self.observed(ADDRESS, self.lb)


def _res(kind: str, plan_name: str, owner: str, /, **props: Any) -> Resource:
    return Resource(kind, plan_name, props, owner=owner)


def _timings(existing: Resource | None) -> dict[str, int]:
    out = dict(HC_TIMINGS)
    if existing is not None:
        for key, value in HC_TIMINGS.items():
            have = existing.props.get(key)
            if isinstance(have, int) and have > value:
                out[key] = have
    return out


def firewall(
    ctx: Context,
    name: str,
    *,
    owner: str,
    description: str,
    protocol: str,
    ports: Sequence[str],
    sources: Sequence[str],
    destination: str | None,
) -> Resource:
    """An ingress firewall to the nodes (their tags known after apply when unknown)."""
    tags = sorted(ctx.node_tags) if ctx.node_tags is not None else KNOWN_AFTER_APPLY
    return _res(
        FIREWALL,
        name,
        owner,
        name=name,
        description=description,
        network=ctx.network,
        allowed=[{"IPProtocol": protocol.lower(), "ports": list(ports)}],
        sourceRanges=sorted(sources),
        destinationRanges=[destination] if destination else [],
        targetTags=tags,
    )


# --- the resources -------------------------------------------------------------------------------


def resources(view: ServiceView, parsed: ParsedAnnotations, ctx: Context) -> list[Resource]:
    chosen = spec.mode(parsed, rbs_default=ctx.rbs_default)
    if chosen is Mode.INTERNAL:
        out, address = _internal(view, parsed, ctx)
    else:
        out, address = _external(view, parsed, ctx, chosen)
    if address is not None and _rule_rebuilt(out, ctx):
        out.insert(0, address)
    return out


def _rule_rebuilt(out: Sequence[Resource], ctx: Context) -> bool:
    """The forwarding rule is created or re-created (itself, or as a dependent of a replaced
    pool / backend service): the IP must be held by an address meanwhile."""
    for res in out:
        if res.kind not in (FORWARDING_RULE, TARGET_POOL, BACKEND_SERVICE):
            continue
        have = ctx.observed(res.kind, res.name)
        if have is None:
            if res.kind == FORWARDING_RULE:
                return True
            continue
        if set(changed_props(res, have)) & IMMUTABLE[res.kind]:
            return True
    return False


def _traffic_firewall(view: ServiceView, ctx: Context, ip: str, *, key: str) -> list[Resource]:
    """k8s-fw-<lb>: the IPv4 source ranges to the balancer's IP on the Service's ports.

    The balancer's IP is IPv4 (lbctl makes IPv4 forwarding rules only), so no IPv6 client
    can reach it: IPv6 ranges get no rule (a GCE rule cannot mix families, and one without
    the destination would admit them to every IPv6 address of the nodes); spec warns of
    each. Ranges that are all IPv6 give no rule at all, never a wider 0.0.0.0/0."""
    sources = [str(n) for n in rules.source_ranges(view) if n.version == 4]
    if not sources:
        return []
    return [
        firewall(
            ctx,
            names.firewall_name(ctx.lb),
            owner=key,
            description=names.firewall_description(key, ip),
            protocol=spec.protocol(view),
            ports=spec.port_ranges(spec.port_numbers(view)),
            sources=sources,
            destination=ip,
        )
    ]


def _probe_firewall(
    view: ServiceView,
    ctx: Context,
    name: str,
    *,
    key: str,
    description: str,
    destination: str | None,
) -> Resource:
    """The firewall that lets Google's health-check probes reach the nodes."""
    _, port = spec.health_check_path_port(view)
    return firewall(
        ctx,
        name,
        owner=key,
        description=description,
        protocol="TCP",
        ports=[str(port)],
        sources=HEALTH_CHECK_RANGES,
        destination=destination,
    )


def _health_check_name(view: ServiceView, ctx: Context) -> str:
    """Local traffic: the Service's own check; else the cluster's shared node check."""
    return ctx.lb if spec.local_traffic(view) else names.nodes_health_check_name(ctx.cluster_id)


def _address(ctx: Context, key: str, ip: str, *, user_owned: bool, **where: str) -> Resource | None:
    """The address <lb> that holds the IP while the rule is rebuilt; none for an address the
    user reserved (lbctl never releases that one)."""
    if user_owned:
        return None
    return _res(
        ADDRESS,
        ctx.lb,
        key,
        name=ctx.lb,
        description=names.service_description(key),
        **where,
        address=ip,
    )


def _external(
    view: ServiceView, parsed: ParsedAnnotations, ctx: Context, chosen: Mode
) -> tuple[list[Resource], Resource | None]:
    key = view.key
    lb = ctx.lb
    net_tier = tier(parsed, ctx.rule())
    ip, user_owned = external_ip(view, ctx, net_tier)
    local = spec.local_traffic(view)
    hc_name = _health_check_name(view, ctx)
    cluster = names.cluster_description(ctx.cluster_id)  # what the shared ones carry
    out = [
        *_traffic_firewall(view, ctx, ip, key=key),
        _probe_firewall(
            view,
            ctx,
            names.external_hc_firewall_name(ctx.cluster_id, hc_name, not local),
            key=key,
            description=names.firewall_description(key, ip) if local else cluster,
            # Upstream gives the shared check's firewall the first Service's IP only;
            # lbctl leaves the destination open (the source ranges and port still bind it).
            destination=ip if local else None,
        ),
    ]
    rule: dict[str, Any] = {
        "name": lb,
        "description": names.service_description(key),
        "IPAddress": ip,
        "IPProtocol": spec.protocol(view),
        "portRange": spec.port_range(spec.port_numbers(view)),
        "loadBalancingScheme": "EXTERNAL",
        "networkTier": net_tier,
    }
    if chosen is Mode.TARGET_POOL:
        out += _pool_side(view, ctx, key, hc_name)
        rule["target"] = ctx.links.regional("targetPools", lb)
    else:
        hc_description = names.service_description(key) if local else cluster
        out += _backend_side(view, ctx, key, "EXTERNAL", hc_description, regional=True)
        rule["backendService"] = ctx.links.regional("backendServices", lb)
    out.append(_res(FORWARDING_RULE, lb, key, **rule))
    address = _address(
        ctx, key, ip, user_owned=user_owned, addressType="EXTERNAL", networkTier=net_tier
    )
    return out, address


def _pool_side(view: ServiceView, ctx: Context, key: str, hc_name: str) -> list[Resource]:
    """The legacy HTTP health check and the target pool of an external balancer."""
    path, port = spec.health_check_path_port(view)
    check = _res(
        HTTP_HEALTH_CHECK,
        hc_name,
        key,
        name=hc_name,
        # Upstream's quirk: the check's own name in the service-name key.
        description=names.service_description(hc_name),
        requestPath=path,
        port=port,
        **_timings(ctx.observed(HTTP_HEALTH_CHECK, hc_name)),
    )
    instances = [names.instance_link(i.project, i.zone, i.name) for i in ctx.instances]
    pool = _res(
        TARGET_POOL,
        ctx.lb,
        key,
        name=ctx.lb,
        description=names.service_description(key),
        sessionAffinity=spec.session_affinity(view),
        healthChecks=[ctx.links.global_("httpHealthChecks", hc_name)],
        instances=sorted(instances),
    )
    return [check, pool]


def _backend_side(
    view: ServiceView,
    ctx: Context,
    key: str,
    scheme: str,
    hc_description: str,
    *,
    regional: bool,
) -> list[Resource]:
    """The health check, the instance groups and the backend service they serve."""
    hc, hc_link = _health_check(view, ctx, key, regional=regional, description=hc_description)
    groups = _instance_groups(ctx, key)
    return [hc, *groups, _backend_service(view, ctx, key, scheme, hc_link=hc_link)]


def _internal(
    view: ServiceView, parsed: ParsedAnnotations, ctx: Context
) -> tuple[list[Resource], Resource | None]:
    key = view.key
    lb = ctx.lb
    subnet_name = parsed[A.SUBNET]
    subnetwork = ctx.links.subnetwork(subnet_name) if subnet_name else ctx.subnetwork
    ip, user_owned = internal_ip(view, ctx, subnetwork)
    local = spec.local_traffic(view)
    out = [
        *_traffic_firewall(view, ctx, ip, key=key),
        _probe_firewall(
            view,
            ctx,
            names.internal_hc_firewall_name(ctx.cluster_id, lb, not local),
            key=key,
            description="",
            destination=None,
        ),
    ]
    hc_description = names.service_description(key) if local else ""
    out += _backend_side(view, ctx, key, "INTERNAL", hc_description, regional=False)
    ports = [str(p) for p in spec.port_numbers(view)]
    all_ports = len(ports) > spec.MAX_INTERNAL_PORTS
    out.append(
        _res(
            FORWARDING_RULE,
            lb,
            key,
            name=lb,
            description=names.service_description(key),
            IPAddress=ip,
            IPProtocol=spec.protocol(view),
            ports=[] if all_ports else ports,
            allPorts=all_ports,
            loadBalancingScheme="INTERNAL",
            backendService=ctx.links.regional("backendServices", lb),
            network=ctx.network,
            subnetwork=subnetwork,
            allowGlobalAccess=bool(parsed[A.GLOBAL_ACCESS]),
        )
    )
    address = _address(
        ctx, key, ip, user_owned=user_owned, addressType="INTERNAL", subnetwork=subnetwork
    )
    return out, address


def _health_check(
    view: ServiceView, ctx: Context, key: str, *, regional: bool, description: str
) -> tuple[Resource, str]:
    """The check (global for internal balancers, regional for backend-service external
    ones) and its link."""
    name = _health_check_name(view, ctx)
    path, port = spec.health_check_path_port(view)
    links = ctx.links
    plan_name = f"{links.region}/{name}" if regional else name
    props: dict[str, Any] = {
        "name": name,
        "description": description,
        "type": "HTTP",
        "httpHealthCheck": {"port": port, "requestPath": path},
        **_timings(ctx.observed(HEALTH_CHECK, plan_name)),
    }
    if regional:
        props["region"] = links.region_link()
        link = links.regional("healthChecks", name)
    else:
        link = links.global_("healthChecks", name)
    return Resource(HEALTH_CHECK, plan_name, props, owner=key), link


def group_zones(ctx: Context) -> dict[str, list[InstanceRef]]:
    zones: dict[str, list[InstanceRef]] = {}
    for ref in sorted(ctx.group_instances, key=lambda r: r.name)[:MAX_GROUP_INSTANCES]:
        zones.setdefault(ref.zone, []).append(ref)
    return zones


def _instance_groups(ctx: Context, key: str) -> list[Resource]:
    name = names.instance_group_name(ctx.cluster_id)
    out = []
    for zone, refs in sorted(group_zones(ctx).items()):
        out.append(
            _res(
                INSTANCE_GROUP,
                f"{zone}/{name}",
                key,
                name=name,
                zone=ctx.links.zone(zone),
                instances=sorted(names.instance_link(r.project, r.zone, r.name) for r in refs),
            )
        )
    return out


def _backend_service(
    view: ServiceView, ctx: Context, key: str, scheme: str, *, hc_link: str
) -> Resource:
    name = names.instance_group_name(ctx.cluster_id)
    groups = sorted(ctx.links.zonal(zone, "instanceGroups", name) for zone in group_zones(ctx))
    return _res(
        BACKEND_SERVICE,
        ctx.lb,
        key,
        name=ctx.lb,
        description=names.service_description(key),
        region=ctx.links.region_link(),
        loadBalancingScheme=scheme,
        protocol=spec.protocol(view),
        sessionAffinity=spec.session_affinity(view),
        healthChecks=[hc_link],
        backends=[{"group": g, "balancingMode": "CONNECTION"} for g in groups],
    )
