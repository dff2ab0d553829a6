"""The Network Load Balancer of a Service: validation and the desired Resources (pure).

Resources (kind, name -> props in the ELBv2/EC2 API's own field names):
- aws:nlb                     <lb>             Type, Scheme, SubnetMappings, Tags
- aws:nlb-attributes          <lb>             load_balancing.cross_zone.enabled, access_logs.*
- aws:target-group            <port>/<proto>   Name (upstream hash), Protocol, Port=nodePort,
                                               health check, Attributes, Tags
- aws:targets                 <port>/<proto>   Targets (instance ids), Port
- aws:listener                <port>/<proto>   Port, Protocol, Certificates, SslPolicy, TargetGroup
- aws:security-group-ingress  <node-sg>/nlb/<lb>    client and health rules of this NLB
- aws:security-group-ingress  <node-sg>/nlb/mtu/<cidr>  the shared path-MTU rule, per CIDR

Target groups and listeners are named in the plan by the service port they serve, so a
change that needs a new target group (its name hashes nodePort, protocol and the health
check's protocol and interval, as upstream) shows as a `replace` of that port's group.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lbctl import rules
from lbctl.annotations import Annotation, ParsedAnnotations
from lbctl.errors import FieldError, InvalidInput
from lbctl.model import KNOWN_AFTER_APPLY, Resource, ServicePort, ServiceView
from providers.aws import annotations as A
from providers.aws import clb
from providers.aws import tags as tagging
from providers.aws.spec import spec_errors

NLB = "aws:nlb"
NLB_ATTRIBUTES = "aws:nlb-attributes"
TARGET_GROUP = "aws:target-group"
TARGETS = "aws:targets"
LISTENER = "aws:listener"
SG = clb.SG
SG_INGRESS = clb.SG_INGRESS

KIND_ORDER = (SG, SG_INGRESS, NLB, NLB_ATTRIBUTES, TARGET_GROUP, TARGETS, LISTENER)
IMMUTABLE = {
    NLB: frozenset({"Scheme", "Type", "SubnetMappings"}),
    TARGET_GROUP: frozenset({"Name", "Protocol", "Port", "VpcId", "TargetType"}),
}

CLIENT_RULE = "kubernetes.io/rule/nlb/client={}"
HEALTH_RULE = "kubernetes.io/rule/nlb/health={}"
MTU_RULE = "kubernetes.io/rule/nlb/mtu"
# The attributes AWS gives a new NLB (and reports unless changed; moto leaves some out).
NEW_NLB_ATTRIBUTES = {
    "load_balancing.cross_zone.enabled": "false",
    "access_logs.s3.enabled": "false",
    "deletion_protection.enabled": "false",
}
TG_ATTRIBUTES = ("preserve_client_ip.enabled", "proxy_protocol_v2.enabled")
HEALTH_PROTOCOLS = ("TCP", "HTTP", "HTTPS")
CLB_ONLY = (
    A.CONNECTION_DRAINING_ENABLED,
    A.CONNECTION_DRAINING_TIMEOUT,
    A.CONNECTION_IDLE_TIMEOUT,
    A.ACCESS_LOG_EMIT_INTERVAL,
)
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")


def _ann(ann: Annotation[Any], parsed: ParsedAnnotations, message: str) -> FieldError:
    return FieldError(message, annotation=ann.key, value=parsed.raw.get(ann.key))


# --- validation --------------------------------------------------------------------------


def validate(
    view: ServiceView, parsed: ParsedAnnotations, *, managed: bool = False
) -> tuple[list[FieldError], list[str]]:
    errors: list[FieldError] = []
    warnings: list[str] = []
    errors += spec_errors(view, protocols=("TCP", "UDP"))
    if parsed.present(A.EXTRA_SECURITY_GROUPS):
        errors.append(
            _ann(
                A.EXTRA_SECURITY_GROUPS,
                parsed,
                f'BYO extra security group annotation "{A.EXTRA_SECURITY_GROUPS.key}"'
                " is not supported by NLB",
            )
        )
    protocol = parsed[A.HEALTHCHECK_PROTOCOL]
    if protocol and protocol.upper() not in HEALTH_PROTOCOLS:
        errors.append(
            _ann(A.HEALTHCHECK_PROTOCOL, parsed, f"Unsupported health check protocol {protocol}")
        )
    for ann, low in (
        (A.HEALTHCHECK_HEALTHY, 2),
        (A.HEALTHCHECK_UNHEALTHY, 2),
        (A.HEALTHCHECK_INTERVAL, 5),
        (A.HEALTHCHECK_TIMEOUT, 2),
    ):
        value = parsed[ann]
        if value is not None and value < low:
            errors.append(_ann(ann, parsed, f"must be at least {low}"))
    errors += _tg_attribute_errors(view, parsed)
    if parsed.present(A.SUBNETS) and not parsed[A.SUBNETS]:
        errors.append(_ann(A.SUBNETS, parsed, "unable to resolve empty subnet slice"))
    if parsed[A.ACCESS_LOG_ENABLED] and not parsed[A.ACCESS_LOG_BUCKET]:
        errors.append(
            _ann(A.ACCESS_LOG_BUCKET, parsed, "access logs are enabled but no S3 bucket is named")
        )
    if parsed[A.PRIVATE_IPV4_ADDRESSES] and not parsed[A.INTERNAL]:
        errors.append(
            _ann(
                A.PRIVATE_IPV4_ADDRESSES,
                parsed,
                f'private IPv4 addresses need an internal NLB ({A.INTERNAL.key}: "true")',
            )
        )
    for raw in parsed[A.PRIVATE_IPV4_ADDRESSES]:
        try:
            if ipaddress.ip_address(raw.strip()).version != 4:
                raise ValueError
        except ValueError:
            errors.append(_ann(A.PRIVATE_IPV4_ADDRESSES, parsed, f"{raw!r} is not an IPv4 address"))
    if parsed.present(A.SECURITY_GROUPS) and not managed:
        warnings.append(
            f"annotation {A.SECURITY_GROUPS.key} is ignored on an NLB unless "
            "NLBSecurityGroupMode = Managed"
        )
    for ann in CLB_ONLY:
        if parsed.present(ann):
            warnings.append(f"annotation {ann.key} applies to a classic ELB only; ignored")
    return errors, warnings


def _tg_attribute_errors(view: ServiceView, parsed: ParsedAnnotations) -> list[FieldError]:
    prefix = "error validating target group attributes: "
    errors = []
    udp = any(p.protocol == "UDP" for p in view.ports)
    for key, value in parsed[A.TARGET_GROUP_ATTRIBUTES].items():
        if key not in TG_ATTRIBUTES:
            message = f'the attribute "{key}" is not supported by the controller or is invalid'
        elif value == "":
            message = f'attribute value is empty for "{key}"'
        elif value not in ("true", "false"):
            message = f'invalid attribute value for "{key}": {value}'
        elif key == "preserve_client_ip.enabled" and value == "false" and udp:
            message = "client IP preservation can't be disabled for UDP ports"
        else:
            continue
        errors.append(_ann(A.TARGET_GROUP_ATTRIBUTES, parsed, prefix + message))
    explicit = parsed[A.TARGET_GROUP_ATTRIBUTES].get("proxy_protocol_v2.enabled")
    if parsed[A.PROXY_PROTOCOL] and explicit == "false":
        errors.append(
            _ann(
                A.PROXY_PROTOCOL,
                parsed,
                'proxy-protocol "*" contradicts proxy_protocol_v2.enabled=false in '
                f"{A.TARGET_GROUP_ATTRIBUTES.key}",
            )
        )
    return errors


# --- desired state -----------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    cluster_id: str
    lb_name: str
    vpc_id: str
    subnets: Sequence[str]
    subnet_cidrs: Sequence[str]
    instance_ids: Sequence[str]
    node_security_groups: Sequence[str]
    manage_node_rules: bool = True
    # NLBSecurityGroupMode = Managed: a security group per NLB and one cluster backend group
    managed_groups: bool = False
    group_ids: Mapping[str, str] = field(default_factory=dict)  # group name -> id, if it exists
    byo_groups: Sequence[str] = ()
    # An existing NLB's mappings: EIPs and private addresses are set at creation only (as
    # upstream), so they are not compared again (moto does not even report them).
    existing_mappings: Sequence[Mapping[str, str]] | None = None


@dataclass(frozen=True)
class HealthCheck:
    protocol: str
    port: str
    path: str
    interval: int
    timeout: int
    healthy: int
    unhealthy: int


def health_check(view: ServiceView, parsed: ParsedAnnotations) -> HealthCheck:
    path, hc_port = rules.health_check_path_port(view)
    if hc_port:
        hc = HealthCheck("HTTP", str(hc_port), path, 10, 10, 2, 2)
    else:
        hc = HealthCheck("TCP", "traffic-port", "", 30, 10, 3, 3)
    protocol = (parsed[A.HEALTHCHECK_PROTOCOL] or hc.protocol).upper()
    port = hc.port if not parsed.present(A.HEALTHCHECK_PORT) else str(parsed[A.HEALTHCHECK_PORT])
    path = parsed[A.HEALTHCHECK_PATH] or hc.path or "/"
    return HealthCheck(
        protocol=protocol,
        port=port,
        path=path if protocol != "TCP" else "",
        interval=parsed[A.HEALTHCHECK_INTERVAL] or hc.interval,
        timeout=parsed[A.HEALTHCHECK_TIMEOUT] or hc.timeout,
        healthy=parsed[A.HEALTHCHECK_HEALTHY] or hc.healthy,
        unhealthy=parsed[A.HEALTHCHECK_UNHEALTHY] or hc.unhealthy,
    )


def target_group_name(
    *, cluster_id: str, view: ServiceView, port: ServicePort, protocol: str, hc: HealthCheck
) -> str:
    """Upstream buildTargetGroupName: k8s-<ns:8>-<name:8>-<sha1:10>."""
    digest = hashlib.sha1(usedforsecurity=False)
    for part in (
        cluster_id,
        view.namespace,
        view.name,
        str(port.port),
        str(port.node_port),
        protocol,
        "instance",
        hc.protocol,
        str(hc.interval),
    ):
        digest.update(part.encode())
    return target_group_prefix(view.namespace, view.name) + digest.hexdigest()[:10]


def target_group_prefix(namespace: str, name: str) -> str:
    """What every target group name of one Service starts with: k8s-<ns:8>-<name:8>-."""
    return f"k8s-{_NON_ALNUM.sub('', namespace)[:8]}-{_NON_ALNUM.sub('', name)[:8]}-"


def group_ports(cluster_id: str, view: ServiceView, parsed: ParsedAnnotations) -> dict[str, str]:
    """Target group name -> the port key it serves, as `resources` names them."""
    hc = health_check(view, parsed)
    return {
        target_group_name(
            cluster_id=cluster_id,
            view=view,
            port=port,
            protocol=target_protocol(port, parsed),
            hc=hc,
        ): port_key(port)
        for port in view.ports
    }


def port_key(port: ServicePort) -> str:
    return f"{port.port}/{port.protocol}"


def listener_protocol(port: ServicePort, parsed: ParsedAnnotations) -> str:
    if port.protocol == "TCP" and parsed[A.SSL_CERT] and _ssl_selected(port, parsed[A.SSL_PORTS]):
        return "TLS"
    return port.protocol


def _ssl_selected(port: ServicePort, ssl_ports: Sequence[str]) -> bool:
    # NLB compares the port name as it is (CLB lower-cases it): upstream.
    return "*" in ssl_ports or str(port.port) in ssl_ports or port.name in ssl_ports


def target_protocol(port: ServicePort, parsed: ParsedAnnotations) -> str:
    if (
        listener_protocol(port, parsed) == "TLS"
        and parsed[A.BACKEND_PROTOCOL] == "ssl"
        and parsed.present(A.BACKEND_PROTOCOL)
    ):
        return "TLS"
    return port.protocol


def tg_attributes(parsed: ParsedAnnotations) -> dict[str, str]:
    attrs = {k: v for k, v in parsed[A.TARGET_GROUP_ATTRIBUTES].items() if k in TG_ATTRIBUTES}
    if parsed[A.PROXY_PROTOCOL]:
        attrs["proxy_protocol_v2.enabled"] = "true"
    return dict(sorted(attrs.items()))


def nlb_attributes(parsed: ParsedAnnotations) -> dict[str, str]:
    attrs = {
        "load_balancing.cross_zone.enabled": str(parsed[A.CROSS_ZONE]).lower(),
        "access_logs.s3.enabled": str(parsed[A.ACCESS_LOG_ENABLED]).lower(),
    }
    if parsed[A.ACCESS_LOG_ENABLED]:
        attrs["access_logs.s3.bucket"] = parsed[A.ACCESS_LOG_BUCKET]
        attrs["access_logs.s3.prefix"] = parsed[A.ACCESS_LOG_PREFIX]
    return attrs


def subnet_mappings(parsed: ParsedAnnotations, subnets: Sequence[str]) -> list[dict[str, str]]:
    eips = [e.strip() for e in parsed[A.EIP_ALLOCATIONS]]
    ips = [i.strip() for i in parsed[A.PRIVATE_IPV4_ADDRESSES]]
    errors = []
    if eips and len(eips) != len(subnets):
        errors.append(
            _ann(
                A.EIP_ALLOCATIONS,
                parsed,
                "error creating load balancer: Must have "
                f"same number of EIP AllocationIDs ({len(eips)}) and SubnetIDs "
                f"({len(subnets)})",
            )
        )
    if ips and len(ips) != len(subnets):
        errors.append(
            _ann(
                A.PRIVATE_IPV4_ADDRESSES,
                parsed,
                "error creating load balancer: "
                f"Must have same number of Private IPv4Addresses ({len(ips)}) and "
                f"SubnetIDs ({len(subnets)})",
            )
        )
    if errors:
        raise InvalidInput(errors)
    mappings = []
    for i, subnet in enumerate(subnets):
        mapping = {"SubnetId": subnet}
        if eips:
            mapping["AllocationId"] = eips[i]
        if ips:
            mapping["PrivateIPv4Address"] = ips[i]
        mappings.append(mapping)
    return mappings


def _mappings(parsed: ParsedAnnotations, ctx: Context) -> list[dict[str, str]]:
    wanted = subnet_mappings(parsed, ctx.subnets)  # validates the counts in every case
    if ctx.existing_mappings is not None and [m["SubnetId"] for m in wanted] == [
        m["SubnetId"] for m in ctx.existing_mappings
    ]:
        return [dict(m) for m in ctx.existing_mappings]
    return wanted


def resources(view: ServiceView, parsed: ParsedAnnotations, ctx: Context) -> list[Resource]:
    owner = view.key
    lb = ctx.lb_name
    tag_set = tagging.ownership(ctx.cluster_id, owner, parsed[A.ADDITIONAL_TAGS])
    out: list[Resource] = []

    def add(kind: str, name: str, props: dict[str, Any], rid: str = "") -> None:
        out.append(Resource(kind, name, props, owner=owner, id=rid))

    add(
        NLB,
        lb,
        {
            "Name": lb,
            "Type": "network",
            "Scheme": "internal" if parsed[A.INTERNAL] else "internet-facing",
            "SubnetMappings": _mappings(parsed, ctx),
            "Tags": tag_set,
            **(_managed_group_props(view, ctx) if ctx.managed_groups else {}),
        },
    )
    add(NLB_ATTRIBUTES, lb, nlb_attributes(parsed), rid=lb)
    hc = health_check(view, parsed)
    for port in view.ports:
        key = port_key(port)
        protocol = target_protocol(port, parsed)
        tg_name = target_group_name(
            cluster_id=ctx.cluster_id, view=view, port=port, protocol=protocol, hc=hc
        )
        group: dict[str, Any] = {
            "Name": tg_name,
            "Protocol": protocol,
            "Port": port.node_port,
            "VpcId": ctx.vpc_id,
            "TargetType": "instance",
            "HealthCheckProtocol": hc.protocol,
            "HealthCheckPort": hc.port,
            "HealthCheckIntervalSeconds": hc.interval,
            "HealthCheckTimeoutSeconds": hc.timeout,
            "HealthyThresholdCount": hc.healthy,
            "UnhealthyThresholdCount": hc.unhealthy,
            "Attributes": tg_attributes(parsed),
            "Tags": tag_set,
        }
        if hc.path:
            group["HealthCheckPath"] = hc.path
        add(TARGET_GROUP, key, group, rid=lb)
        add(
            TARGETS,
            key,
            {"TargetGroup": tg_name, "Port": port.node_port, "Targets": sorted(ctx.instance_ids)},
            rid=lb,
        )
        listener: dict[str, Any] = {
            "Port": port.port,
            "Protocol": listener_protocol(port, parsed),
            "TargetGroup": tg_name,
            "Tags": tag_set,
        }
        if listener["Protocol"] == "TLS":
            listener["Certificates"] = [parsed[A.SSL_CERT]]
            if parsed[A.SSL_NEGOTIATION_POLICY]:
                listener["SslPolicy"] = parsed[A.SSL_NEGOTIATION_POLICY]
        add(LISTENER, key, listener, rid=lb)
    if ctx.managed_groups:
        out += managed_groups(view, ctx, tag_set)
    elif ctx.manage_node_rules:
        out += node_rules(view, parsed, ctx, hc)
    return out


# --- NLBSecurityGroupMode = Managed ------------------------------------------------------

FRONTEND_DESCRIPTION = "[k8s] Managed SecurityGroup for LoadBalancer"
BACKEND_DESCRIPTION = "[k8s] Shared Backend SecurityGroup for LoadBalancer"


def frontend_group_name(cluster_id: str, view: ServiceView) -> str:
    """Upstream: k8s-<ns:8>-<name:8>-<sha256(cluster + name + namespace + uid):10>."""
    digest = hashlib.sha256()
    for part in (cluster_id, view.name, view.namespace, view.uid):
        digest.update(part.encode())
    ns = _NON_ALNUM.sub("", view.namespace)[:8]
    name = _NON_ALNUM.sub("", view.name)[:8]
    return f"k8s-{ns}-{name}-{digest.hexdigest()[:10]}"


def backend_group_name(cluster_id: str) -> str:
    cluster = _NON_ALNUM.sub("", cluster_id)[:17]
    return f"k8s-traffic-{cluster}-{hashlib.sha256(cluster_id.encode()).hexdigest()[:10]}"


def backend_rule_name(node_sg: str) -> str:
    return f"{node_sg}/nlb-backend"


def _managed_group_props(view: ServiceView, ctx: Context) -> dict[str, Any]:
    names = [frontend_group_name(ctx.cluster_id, view), backend_group_name(ctx.cluster_id)]
    ids = [ctx.group_ids.get(n, KNOWN_AFTER_APPLY) for n in names]
    return {
        "SecurityGroups": ids + list(ctx.byo_groups),
        "SecurityGroupNames": names + list(ctx.byo_groups),
    }


def managed_groups(view: ServiceView, ctx: Context, tag_set: Mapping[str, str]) -> list[Resource]:
    """The NLB's own group carries the client rules; the cluster's one backend group is
    allowed once by each node group, so node rules stop growing with Services x ports x
    CIDRs (upstream pain point P3). The backend group and its node rules are shared."""
    owner = view.key
    front = frontend_group_name(ctx.cluster_id, view)
    back = backend_group_name(ctx.cluster_id)
    perms = []
    for cidr in client_cidrs(view):
        for port in sorted({(p.protocol.lower(), p.port) for p in view.ports}):
            perms.append(clb.permission(port[0], port[1], port[1], cidr))
        perms.append(mtu_permission(cidr) | {"Description": ""})
    perms = sorted(({k: v for k, v in p.items() if v != ""} for p in perms), key=clb.permission_key)
    cluster_tags = {tagging.cluster_tag(ctx.cluster_id): "owned"}
    out = [
        Resource(
            SG,
            front,
            {
                "GroupName": front,
                "Description": FRONTEND_DESCRIPTION,
                "VpcId": ctx.vpc_id,
                "Tags": dict(tag_set),
            },
            owner=owner,
        ),
        Resource(SG_INGRESS, front, {"GroupName": front, "IpPermissions": perms}, owner=owner),
        Resource(
            SG,
            back,
            {
                "GroupName": back,
                "Description": BACKEND_DESCRIPTION,
                "VpcId": ctx.vpc_id,
                "Tags": cluster_tags,
            },
            owner=owner,
        ),
    ]
    if ctx.manage_node_rules:
        source = ctx.group_ids.get(back, KNOWN_AFTER_APPLY)
        for sg in sorted(ctx.node_security_groups):
            out.append(
                Resource(
                    SG_INGRESS,
                    backend_rule_name(sg),
                    {
                        "GroupId": sg,
                        "SourceGroupName": back,
                        "IpPermissions": [{"IpProtocol": "-1", "GroupId": source}],
                    },
                    owner=owner,
                    id=sg,
                )
            )
    return out


def client_cidrs(view: ServiceView) -> list[str]:
    return [str(n) for n in rules.source_ranges(view)]


def node_rules(
    view: ServiceView, parsed: ParsedAnnotations, ctx: Context, hc: HealthCheck
) -> list[Resource]:
    """Upstream's instance SG rules: client per (nodePort, CIDR), health per (HC port,
    subnet CIDR) unless a client rule already covers it, and the shared ICMP MTU rule."""
    protocol = "udp" if any(p.protocol == "UDP" for p in view.ports) else "tcp"
    cidrs = client_cidrs(view)
    node_ports = sorted({p.node_port for p in view.ports})
    client_desc = CLIENT_RULE.format(ctx.lb_name)
    perms = [
        clb.permission(protocol, np, np, c) | {"Description": client_desc}
        for np in node_ports
        for c in cidrs
    ]
    hc_ports = node_ports if hc.port == "traffic-port" else [int(hc.port)]
    covered = cidrs == ["0.0.0.0/0"] and protocol == "tcp" and hc_ports == node_ports
    if not covered:
        health_desc = HEALTH_RULE.format(ctx.lb_name)
        perms += [
            clb.permission("tcp", p, p, c) | {"Description": health_desc}
            for p in hc_ports
            for c in ctx.subnet_cidrs
        ]
    perms = sorted(perms, key=clb.permission_key)
    out = []
    for sg in sorted(ctx.node_security_groups):
        out.append(
            Resource(
                SG_INGRESS,
                f"{sg}/nlb/{ctx.lb_name}",
                {"GroupId": sg, "IpPermissions": perms},
                owner=view.key,
                id=sg,
            )
        )
        for cidr in cidrs:
            out.append(
                Resource(
                    SG_INGRESS,
                    mtu_rule_name(sg, cidr),
                    {"GroupId": sg, "IpPermissions": [mtu_permission(cidr)]},
                    owner=view.key,
                    id=sg,
                )
            )
    return out


def mtu_rule_name(sg: str, cidr: str) -> str:
    return f"{sg}/nlb/mtu/{cidr}"


def mtu_permission(cidr: str) -> dict[str, Any]:
    if ipaddress.ip_network(cidr).version == 6:
        return clb.permission("icmpv6", 2, 0, cidr) | {"Description": MTU_RULE}
    return clb.permission("icmp", 3, 4, cidr) | {"Description": MTU_RULE}


def offline_context(
    *, cluster_id: str, lb_name: str, vpc: str, instance_ids: Sequence[str]
) -> Context:
    return Context(
        cluster_id=cluster_id,
        lb_name=lb_name,
        vpc_id=vpc or KNOWN_AFTER_APPLY,
        subnets=[KNOWN_AFTER_APPLY],
        subnet_cidrs=[],
        instance_ids=instance_ids,
        node_security_groups=[],
    )


def is_nlb(parsed: ParsedAnnotations | None) -> bool:
    return parsed is not None and parsed[A.TYPE] == "nlb"


__all__ = ["Context", "is_nlb", "resources", "validate"]
