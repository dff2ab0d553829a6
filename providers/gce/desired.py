"""The GCE resources of a Service (pure): what should exist, in the Compute API's field names.

Resources (kind, plan name -> props):
- gce:address             <lb>                         held only while the forwarding rule
                                                       is (re)built, then released
- gce:firewall            k8s-fw-<lb>                  traffic: ports, sources, destination IP
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
from lbctl.errors import FieldError, InvalidInput
from lbctl.model import KNOWN_AFTER_APPLY, Resource, ServiceView
from lbctl.plan import changed_props
from providers.gce import annotations as A
from providers.gce import names, spec
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


def _tags(ctx: Context) -> list[str] | str:
    return sorted(ctx.node_tags) if ctx.node_tags is not None else KNOWN_AFTER_APPLY


def firewall(
    name: str,
    *,
    owner: str,
    description: str,
    network: str,
    protocol: str,
    ports: Sequence[str],
    sources: Sequence[str],
    destination: str | None,
    tags: list[str] | str,
) -> Resource:
    return _res(
        FIREWALL,
        name,
        owner,
        name=name,
        description=description,
        network=network,
        allowed=[{"IPProtocol": protocol.lower(), "ports": list(ports)}],
        sourceRanges=sorted(sources),
        destinationRanges=[destination] if destination else [],
        targetTags=tags,
    )


def ip_description(service_key: str, ip: str) -> str:
    return names.firewall_description(service_key, ip)


# --- the IP --------------------------------------------------------------------------------------


def tier(parsed: ParsedAnnotations, rule: Resource | None) -> str:
    """The annotation's tier; without it an existing rule keeps its tier (upstream only
    tears down wrong-tier resources when the annotation is present); else Premium."""
    if parsed.present(A.NETWORK_TIER):
        return str(parsed[A.NETWORK_TIER])
    if rule is not None and rule.props.get("networkTier"):
        return str(rule.props["networkTier"])
    return str(A.NETWORK_TIER.default)


def _address_ip(address: Resource | None, **want: Any) -> str:
    if address is None:
        return ""
    if all(address.props.get(k) == v for k, v in want.items()):
        return str(address.props.get("address") or "")
    return ""


def external_ip(view: ServiceView, ctx: Context, net_tier: str) -> tuple[str, bool]:
    """(the IP, whether it is a user-reserved address lbctl must never release)."""
    rule = ctx.observed(FORWARDING_RULE, ctx.lb)
    rule_ip = ""
    if (
        rule is not None
        and rule.props.get("loadBalancingScheme") == "EXTERNAL"
        and rule.props.get("networkTier") == net_tier
    ):
        rule_ip = str(rule.props.get("IPAddress") or "")
    requested = view.load_balancer_ip
    if requested:
        found = ctx.requested_address
        if ctx.offline or (found is None and requested == rule_ip):
            return requested, False
        if found is None:
            raise InvalidInput(
                [
                    FieldError(
                        f'requested ip "{requested}" is neither static nor assigned to the LB',
                        field="spec.loadBalancerIP",
                        value=requested,
                    )
                ]
            )
        if found.get("name") == ctx.lb:
            return requested, False  # our own reservation, left by an interrupted apply
        have = str(found.get("networkTier") or "PREMIUM")
        if have != net_tier:
            raise InvalidInput(
                [
                    FieldError(
                        f'requested IP "{requested}" belongs to the {have.title()} network '
                        f"tier; expected {net_tier.title()}",
                        field="spec.loadBalancerIP",
                        value=requested,
                    )
                ]
            )
        return requested, True
    held = _address_ip(ctx.observed(ADDRESS, ctx.lb), addressType="EXTERNAL", networkTier=net_tier)
    return rule_ip or held or KNOWN_AFTER_APPLY, False


def internal_ip(view: ServiceView, ctx: Context, subnetwork: str) -> tuple[str, bool]:
    """Upstream ilbIPToUse: loadBalancerIP, else the rule's IP unless the subnet changed."""
    requested = view.load_balancer_ip
    if requested:
        found = ctx.requested_address
        user_owned = found is not None and found.get("name") != ctx.lb
        return requested, user_owned
    rule = ctx.observed(FORWARDING_RULE, ctx.lb)
    if (
        rule is not None
        and rule.props.get("loadBalancingScheme") == "INTERNAL"
        and rule.props.get("subnetwork") == subnetwork
        and rule.props.get("IPAddress")
    ):
        return str(rule.props["IPAddress"]), False
    held = _address_ip(ctx.observed(ADDRESS, ctx.lb), addressType="INTERNAL", subnetwork=subnetwork)
    return held or KNOWN_AFTER_APPLY, False


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


def _traffic_firewall(view: ServiceView, ctx: Context, ip: str, *, key: str) -> Resource:
    return firewall(
        names.firewall_name(ctx.lb),
        owner=key,
        description=ip_description(key, ip),
        network=ctx.network,
        protocol=spec.protocol(view),
        ports=spec.port_ranges(spec.port_numbers(view)),
        sources=[str(n) for n in rules.source_ranges(view)],
        destination=ip,
        tags=_tags(ctx),
    )


def _external(
    view: ServiceView, parsed: ParsedAnnotations, ctx: Context, chosen: Mode
) -> tuple[list[Resource], Resource | None]:
    key = view.key
    lb = ctx.lb
    links = ctx.links
    net_tier = tier(parsed, ctx.observed(FORWARDING_RULE, lb))
    ip, user_owned = external_ip(view, ctx, net_tier)
    out: list[Resource] = []
    out.append(_traffic_firewall(view, ctx, ip, key=key))
    local = spec.local_traffic(view)
    path, port = spec.health_check_path_port(view)
    hc_name = lb if local else names.nodes_health_check_name(ctx.cluster_id)
    out.append(
        firewall(
            names.external_hc_firewall_name(ctx.cluster_id, hc_name, not local),
            owner=key,
            description=(
                ip_description(key, ip) if local else names.cluster_description(ctx.cluster_id)
            ),
            network=ctx.network,
            protocol="TCP",
            ports=[str(port)],
            sources=HEALTH_CHECK_RANGES,
            # Upstream gives the shared check's firewall the first Service's IP only;
            # lbctl leaves the destination open (the source ranges and port still bind it).
            destination=ip if local else None,
            tags=_tags(ctx),
        )
    )
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
        hc_link = links.global_("httpHealthChecks", hc_name)
        check = ctx.observed(HTTP_HEALTH_CHECK, hc_name)
        out.append(
            _res(
                HTTP_HEALTH_CHECK,
                hc_name,
                key,
                name=hc_name,
                # Upstream's quirk: the check's own name in the service-name key.
                description=names.service_description(hc_name),
                requestPath=path,
                port=port,
                **_timings(check),
            )
        )
        instances = [names.instance_link(i.project, i.zone, i.name) for i in ctx.instances]
        out.append(
            _res(
                TARGET_POOL,
                lb,
                key,
                name=lb,
                description=names.service_description(key),
                sessionAffinity=spec.session_affinity(view),
                healthChecks=[hc_link],
                instances=sorted(instances),
            )
        )
        rule["target"] = links.regional("targetPools", lb)
    else:
        hc, hc_link = _health_check(
            ctx,
            key,
            hc_name,
            path,
            port,
            regional=True,
            description=(
                names.service_description(key)
                if local
                else names.cluster_description(ctx.cluster_id)
            ),
        )
        out.append(hc)
        groups = _instance_groups(ctx, key)
        out += groups
        out.append(_backend_service(view, ctx, key, "EXTERNAL", hc_link=hc_link))
        rule["backendService"] = links.regional("backendServices", lb)
    out.append(_res(FORWARDING_RULE, lb, key, **rule))
    address = None
    if not user_owned:
        address = _res(
            ADDRESS,
            lb,
            key,
            name=lb,
            description=names.service_description(key),
            addressType="EXTERNAL",
            networkTier=net_tier,
            address=ip,
        )
    return out, address


def _internal(
    view: ServiceView, parsed: ParsedAnnotations, ctx: Context
) -> tuple[list[Resource], Resource | None]:
    key = view.key
    lb = ctx.lb
    links = ctx.links
    subnet_name = parsed[A.SUBNET]
    subnetwork = links.subnetwork(subnet_name) if subnet_name else ctx.subnetwork
    ip, user_owned = internal_ip(view, ctx, subnetwork)
    out: list[Resource] = []
    out.append(_traffic_firewall(view, ctx, ip, key=key))
    local = spec.local_traffic(view)
    path, port = spec.health_check_path_port(view)
    hc_name = lb if local else names.nodes_health_check_name(ctx.cluster_id)
    out.append(
        firewall(
            names.internal_hc_firewall_name(ctx.cluster_id, lb, not local),
            owner=key,
            description="",
            network=ctx.network,
            protocol="TCP",
            ports=[str(port)],
            sources=HEALTH_CHECK_RANGES,
            destination=None,
            tags=_tags(ctx),
        )
    )
    hc, hc_link = _health_check(
        ctx,
        key,
        hc_name,
        path,
        port,
        regional=False,
        description=names.service_description(key) if local else "",
    )
    out.append(hc)
    out += _instance_groups(ctx, key)
    out.append(_backend_service(view, ctx, key, "INTERNAL", hc_link=hc_link))
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
            backendService=links.regional("backendServices", lb),
            network=ctx.network,
            subnetwork=subnetwork,
            allowGlobalAccess=bool(parsed[A.GLOBAL_ACCESS]),
        )
    )
    address = None
    if not user_owned:
        address = _res(
            ADDRESS,
            lb,
            key,
            name=lb,
            description=names.service_description(key),
            addressType="INTERNAL",
            subnetwork=subnetwork,
            address=ip,
        )
    return out, address


def _health_check(
    ctx: Context,
    key: str,
    name: str,
    path: str,
    port: int,
    *,
    regional: bool,
    description: str,
) -> tuple[Resource, str]:
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
