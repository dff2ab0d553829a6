"""The classic ELB of a Service: validation and the desired Resources (pure).

Resources (kind, name -> props in the ELB/EC2 API's own field names):
- aws:security-group          k8s-elb-<lb>          GroupName, Description, VpcId, Tags
- aws:security-group-ingress  k8s-elb-<lb>          IpPermissions (one entry per rule)
- aws:elb                     <lb>                  Scheme, Subnets, SecurityGroups, Listeners, Tags
- aws:elb-health-check        <lb>                  Target, Interval, Timeout, thresholds
- aws:elb-attributes          <lb>                  the LoadBalancerAttributes document
- aws:elb-policy              k8s-proxyprotocol-enabled / k8s-SSLNegotiationPolicy-<name>
- aws:elb-instances           <lb>                  Instances (sorted ids)
- aws:security-group-ingress  <node-sg>/k8s-elb-<lb> the node SG rule allowing the ELB SG
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lbctl import rules
from lbctl.annotations import Annotation, ParsedAnnotations
from lbctl.errors import FieldError
from lbctl.model import KNOWN_AFTER_APPLY, Resource, ServicePort, ServiceView
from providers.aws import annotations as A
from providers.aws import tags as tagging
from providers.aws.spec import spec_errors

SG = "aws:security-group"
SG_INGRESS = "aws:security-group-ingress"
ELB = "aws:elb"
HEALTH = "aws:elb-health-check"
ATTRIBUTES = "aws:elb-attributes"
POLICY = "aws:elb-policy"
INSTANCES = "aws:elb-instances"

KIND_ORDER = (SG, SG_INGRESS, ELB, HEALTH, ATTRIBUTES, POLICY, INSTANCES)
IMMUTABLE = {
    ELB: frozenset({"Scheme"}),
    SG: frozenset({"VpcId"}),
    POLICY: frozenset({"PolicyTypeName", "PolicyAttributes"}),
}

PROXY_POLICY = "k8s-proxyprotocol-enabled"
SSL_POLICY_FORMAT = "k8s-SSLNegotiationPolicy-{}"
BACKEND_TO_LISTENER = {"https": "https", "http": "https", "ssl": "ssl", "tcp": "ssl"}
HEALTH_PROTOCOLS = ("TCP", "SSL", "HTTP", "HTTPS")
DEFAULT_DRAINING_TIMEOUT = 300
DEFAULT_EMIT_INTERVAL = 60


def security_group_name(lb_name: str) -> str:
    return f"k8s-elb-{lb_name}"


# --- validation --------------------------------------------------------------------------


def validate(view: ServiceView, parsed: ParsedAnnotations) -> tuple[list[FieldError], list[str]]:
    """Upstream's checks for a classic ELB, all collected; returns (errors, warnings)."""
    errors: list[FieldError] = []
    warnings: list[str] = []
    errors += spec_errors(view, protocols=("TCP",))
    errors += _health_errors(parsed)
    if parsed.present(A.TARGET_GROUP_ATTRIBUTES):
        errors.append(
            _ann(
                A.TARGET_GROUP_ATTRIBUTES,
                parsed,
                "target group attributes annotation is only supported for NLB",
            )
        )
    if parsed.present(A.SUBNETS) and not parsed[A.SUBNETS]:
        errors.append(_ann(A.SUBNETS, parsed, "unable to resolve empty subnet slice"))
    if parsed[A.ACCESS_LOG_ENABLED] and not parsed[A.ACCESS_LOG_BUCKET]:
        errors.append(
            _ann(A.ACCESS_LOG_BUCKET, parsed, "access logs are enabled but no S3 bucket is named")
        )
    interval = parsed[A.ACCESS_LOG_EMIT_INTERVAL]
    if interval is not None and interval not in (5, 60):
        errors.append(_ann(A.ACCESS_LOG_EMIT_INTERVAL, parsed, "must be 5 or 60 (minutes)"))
    idle = parsed[A.CONNECTION_IDLE_TIMEOUT]
    if not 1 <= idle <= 4000:
        errors.append(_ann(A.CONNECTION_IDLE_TIMEOUT, parsed, "must be between 1 and 4000"))
    draining = parsed[A.CONNECTION_DRAINING_TIMEOUT]
    if draining is not None and not 1 <= draining <= 3600:
        errors.append(_ann(A.CONNECTION_DRAINING_TIMEOUT, parsed, "must be between 1 and 3600"))
    raw_internal = parsed.raw.get(A.INTERNAL.key)
    if raw_internal is not None and raw_internal not in ("true", "false"):
        warnings.append(
            f'annotation {A.INTERNAL.key}={raw_internal!r} is not "true" or '
            '"false"; the balancer is internal (any value but "false" is)'
        )
    for ann in (A.EIP_ALLOCATIONS, A.PRIVATE_IPV4_ADDRESSES):
        if parsed.present(ann):
            warnings.append(f"annotation {ann.key} applies to NLB only; ignored on a classic ELB")
    return errors, warnings


def _ann(ann: Annotation[Any], parsed: ParsedAnnotations, message: str) -> FieldError:
    return FieldError(message, annotation=ann.key, value=parsed.raw.get(ann.key))


def _health_errors(parsed: ParsedAnnotations) -> list[FieldError]:
    errors = []
    minimums = (
        (A.HEALTHCHECK_HEALTHY, 2),
        (A.HEALTHCHECK_UNHEALTHY, 2),
        (A.HEALTHCHECK_INTERVAL, 5),
        (A.HEALTHCHECK_TIMEOUT, 2),
    )
    for ann, minimum in minimums:
        value = parsed[ann]
        if value is not None and value < minimum:
            errors.append(_ann(ann, parsed, f"must be at least {minimum}"))
    protocol = parsed[A.HEALTHCHECK_PROTOCOL]
    if protocol and protocol.upper() not in HEALTH_PROTOCOLS:
        errors.append(
            _ann(
                A.HEALTHCHECK_PROTOCOL,
                parsed,
                f"unsupported health check protocol: use {', '.join(HEALTH_PROTOCOLS)}",
            )
        )
    return errors


# --- desired state -----------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What desired() needs beyond the Service: facts found by observe (or offline guesses)."""

    cluster_id: str
    lb_name: str
    vpc_id: str
    subnets: Sequence[str]
    instance_ids: Sequence[str]
    node_security_groups: Sequence[str]
    elb_security_group_id: str  # the managed SG's id once it exists, else KNOWN_AFTER_APPLY
    config_security_group: str = ""
    manage_node_rules: bool = True


def ssl_port_selected(port: ServicePort, ssl_ports: Sequence[str]) -> bool:
    if "*" in ssl_ports:
        return True
    return str(port.port) in ssl_ports or port.name.lower() in ssl_ports


def listener(port: ServicePort, parsed: ParsedAnnotations) -> dict[str, Any]:
    """Upstream buildListener: SSL/HTTPS on certificate ports, HTTP with backend http."""
    protocol = instance_protocol = port.protocol.lower()
    out: dict[str, Any] = {}
    cert = parsed[A.SSL_CERT]
    backend = parsed.raw.get(A.BACKEND_PROTOCOL.key) and parsed[A.BACKEND_PROTOCOL]
    if cert and ssl_port_selected(port, parsed[A.SSL_PORTS]):
        if backend:
            protocol, instance_protocol = BACKEND_TO_LISTENER[backend], backend
        else:
            protocol, instance_protocol = "ssl", "tcp"
        out["SSLCertificateId"] = cert
    elif backend == "http":
        protocol = instance_protocol = "http"
    return {
        "Protocol": protocol.upper(),
        "LoadBalancerPort": port.port,
        "InstanceProtocol": instance_protocol.upper(),
        "InstancePort": port.node_port,
        **out,
    }


def listeners(view: ServiceView, parsed: ParsedAnnotations) -> list[dict[str, Any]]:
    return sorted(
        (listener(p, parsed) for p in view.ports), key=lambda item: item["LoadBalancerPort"]
    )


def health_check(view: ServiceView, parsed: ParsedAnnotations) -> dict[str, Any]:
    path, hc_port = rules.health_check_path_port(view)
    first_node_port = view.ports[0].node_port if view.ports else 0
    if hc_port:
        protocol, port = "HTTP", hc_port
    else:
        backend = parsed[A.BACKEND_PROTOCOL] if parsed.present(A.BACKEND_PROTOCOL) else "tcp"
        protocol = "SSL" if backend in ("https", "ssl") else "TCP"
        port, path = first_node_port, "/"
    if parsed[A.HEALTHCHECK_PROTOCOL]:
        protocol = parsed[A.HEALTHCHECK_PROTOCOL].upper()
    requested = parsed[A.HEALTHCHECK_PORT]
    if requested != "traffic-port":
        port = int(requested)
    elif parsed.present(A.HEALTHCHECK_PORT) and hc_port:
        port = first_node_port  # Local + traffic-port: upstream keeps /healthz
    if parsed[A.HEALTHCHECK_PATH]:
        path = parsed[A.HEALTHCHECK_PATH]
    target = f"{protocol}:{port}"
    if protocol in ("HTTP", "HTTPS"):
        target += path or "/"
    return {
        "Target": target,
        "Interval": parsed[A.HEALTHCHECK_INTERVAL] or 10,
        "Timeout": parsed[A.HEALTHCHECK_TIMEOUT] or 5,
        "UnhealthyThreshold": parsed[A.HEALTHCHECK_UNHEALTHY] or 6,
        "HealthyThreshold": parsed[A.HEALTHCHECK_HEALTHY] or 2,
    }


def attributes(parsed: ParsedAnnotations) -> dict[str, Any]:
    access_log: dict[str, Any] = {"Enabled": parsed[A.ACCESS_LOG_ENABLED]}
    if access_log["Enabled"]:
        access_log.update(
            S3BucketName=parsed[A.ACCESS_LOG_BUCKET],
            S3BucketPrefix=parsed[A.ACCESS_LOG_PREFIX],
            EmitInterval=parsed[A.ACCESS_LOG_EMIT_INTERVAL] or DEFAULT_EMIT_INTERVAL,
        )
    return {
        "CrossZoneLoadBalancing": {"Enabled": parsed[A.CROSS_ZONE]},
        "AccessLog": access_log,
        "ConnectionDraining": {
            "Enabled": parsed[A.CONNECTION_DRAINING_ENABLED],
            "Timeout": parsed[A.CONNECTION_DRAINING_TIMEOUT] or DEFAULT_DRAINING_TIMEOUT,
        },
        "ConnectionSettings": {"IdleTimeout": parsed[A.CONNECTION_IDLE_TIMEOUT]},
    }


def permission(protocol: str, from_port: int, to_port: int, cidr: str) -> dict[str, Any]:
    """One ingress rule; IPv6 ranges go to Ipv6Ranges (upstream's IpRanges is rejected)."""
    key = "CidrIpv6" if ipaddress.ip_network(cidr).version == 6 else "CidrIp"
    return {"IpProtocol": protocol, "FromPort": from_port, "ToPort": to_port, key: cidr}


def permission_key(p: dict[str, Any]) -> tuple[Any, ...]:
    cidr = p.get("CidrIp") or p.get("CidrIpv6") or ""
    return (
        p["IpProtocol"],
        p.get("FromPort", -1),
        p.get("ToPort", -1),
        cidr,
        str(p.get("GroupId", "")),
    )


def client_permissions(view: ServiceView) -> list[dict[str, Any]]:
    """Exactly the service ports from the source ranges, plus ICMP for path MTU."""
    perms = []
    for net in rules.source_ranges(view):
        cidr = str(net)
        for port in {p.port for p in view.ports}:
            perms.append(permission("tcp", port, port, cidr))
        if net.version == 4:
            perms.append(permission("icmp", 3, 4, cidr))
        else:
            perms.append(permission("icmpv6", 2, 0, cidr))  # packet too big
    return sorted(perms, key=permission_key)


def security_groups(parsed: ParsedAnnotations, ctx: Context) -> tuple[list[str], bool]:
    """(the balancer's SG list, whether lbctl manages the first one itself)."""
    if parsed[A.SECURITY_GROUPS]:
        base, managed = list(parsed[A.SECURITY_GROUPS]), False
    elif ctx.config_security_group:
        base, managed = [ctx.config_security_group], False
    else:
        base, managed = [ctx.elb_security_group_id], True
    extra = [g for g in parsed[A.EXTRA_SECURITY_GROUPS] if g not in base]
    return base + extra, managed


def resources(view: ServiceView, parsed: ParsedAnnotations, ctx: Context) -> list[Resource]:
    owner = view.key
    lb = ctx.lb_name
    tag_set = tagging.ownership(ctx.cluster_id, owner, parsed[A.ADDITIONAL_TAGS])
    sg_name = security_group_name(lb)
    groups, managed = security_groups(parsed, ctx)
    out: list[Resource] = []

    def add(kind: str, name: str, props: dict[str, Any], rid: str = "") -> None:
        out.append(Resource(kind, name, props, owner=owner, id=rid))

    if managed:
        add(
            SG,
            sg_name,
            {
                "GroupName": sg_name,
                "Description": f"Security group for Kubernetes ELB {lb} ({owner})",
                "VpcId": ctx.vpc_id,
                "Tags": tag_set,
            },
        )
        add(SG_INGRESS, sg_name, {"GroupName": sg_name, "IpPermissions": client_permissions(view)})
    listener_list = listeners(view, parsed)
    add(
        ELB,
        lb,
        {
            "LoadBalancerName": lb,
            "Scheme": "internal" if parsed[A.INTERNAL] else "internet-facing",
            "Subnets": sorted(ctx.subnets),
            "SecurityGroups": groups,
            "Listeners": listener_list,
            "Tags": tag_set,
        },
    )
    add(HEALTH, lb, health_check(view, parsed))
    add(ATTRIBUTES, lb, attributes(parsed))
    if parsed[A.PROXY_PROTOCOL]:
        add(
            POLICY,
            PROXY_POLICY,
            {
                "PolicyTypeName": "ProxyProtocolPolicyType",
                "PolicyAttributes": {"ProxyProtocol": "true"},
                "InstancePorts": sorted({p.node_port for p in view.ports}),
            },
            rid=lb,
        )
    ssl_listener_ports = [
        item["LoadBalancerPort"] for item in listener_list if item["Protocol"] in ("SSL", "HTTPS")
    ]
    if parsed[A.SSL_NEGOTIATION_POLICY] and ssl_listener_ports:
        policy = parsed[A.SSL_NEGOTIATION_POLICY]
        add(
            POLICY,
            SSL_POLICY_FORMAT.format(policy),
            {
                "PolicyTypeName": "SSLNegotiationPolicyType",
                "PolicyAttributes": {"Reference-Security-Policy": policy},
                "LoadBalancerPorts": ssl_listener_ports,
            },
            rid=lb,
        )
    add(INSTANCES, lb, {"Instances": sorted(ctx.instance_ids)})
    if ctx.manage_node_rules and groups and not ctx.config_security_group:
        source = groups[0]
        source_name = sg_name if managed else source
        for node_sg in sorted(ctx.node_security_groups):
            add(
                SG_INGRESS,
                node_rule_name(node_sg, lb),
                {
                    "GroupId": node_sg,
                    "SourceGroupName": source_name,
                    "IpPermissions": [{"IpProtocol": "-1", "GroupId": source}],
                },
            )
    return out


def node_rule_name(node_sg: str, lb_name: str) -> str:
    return f"{node_sg}/{security_group_name(lb_name)}"


def offline_context(
    *, cluster_id: str, lb_name: str, vpc: str, instance_ids: Sequence[str]
) -> Context:
    """--offline: what a lookup would give is known after apply."""
    return Context(
        cluster_id=cluster_id,
        lb_name=lb_name,
        vpc_id=vpc or KNOWN_AFTER_APPLY,
        subnets=[KNOWN_AFTER_APPLY],
        instance_ids=instance_ids,
        node_security_groups=[],
        elb_security_group_id=KNOWN_AFTER_APPLY,
    )
