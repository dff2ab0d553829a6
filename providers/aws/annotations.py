"""Every `service.beta.kubernetes.io/aws-load-balancer-*` annotation lbctl understands.

Keys, defaults and semantics are upstream's (kubernetes/cloud-provider-aws). Where upstream
parses laxly into a surprising result, the deviation is noted in docs/providers/aws.md.
"""

from __future__ import annotations

from lbctl import rules
from lbctl.annotations import (
    Annotation,
    AnnotationSet,
    go_bool,
    go_int,
    integer,
    key_values,
    string_list,
    text,
)

PREFIX = "service.beta.kubernetes.io/aws-load-balancer-"

CLB = "CLB"
NLB = "NLB"
BOTH = "CLB, NLB"

TYPES = ("elb", "clb", "nlb", "nlb-ip", "external")


def _type(value: str) -> str:
    if value not in TYPES:
        raise ValueError(
            "unknown load balancer type; use elb (classic, the default), nlb, "
            "or nlb-ip/external for the AWS Load Balancer Controller"
        )
    return value


def _proxy_protocol(value: str) -> str:
    if value != "*":
        raise ValueError("the only value supported currently is '*'")
    return value


def _backend_protocol(value: str) -> str:
    if value.lower() not in ("http", "https", "ssl", "tcp"):
        raise ValueError("invalid backend protocol: use http, https, ssl or tcp")
    return value.lower()


def _health_port(value: str) -> str | int:
    if value == "traffic-port":
        return value
    try:
        port = go_int(value)
    except ValueError:
        raise ValueError("invalid health check port: use traffic-port or a port number") from None
    if not 1 <= port <= 65535:
        raise ValueError("invalid health check port: must be between 1 and 65535")
    return port


def _ssl_ports(value: str) -> tuple[str, ...]:
    # Upstream splits on "," without trimming; a token that is not a number is a port name.
    return tuple(value.split(","))


def _raw_list(value: str) -> tuple[str, ...]:
    return tuple(value.split(","))  # upstream does not trim these


def _internal(value: str) -> bool:
    # Upstream: any non-empty value but exactly "false" is internal (the safer result); kept.
    return value not in ("", "false")


def _source_ranges(value: str) -> str:
    return value  # validated with spec.loadBalancerSourceRanges in lbctl.rules


TYPE = Annotation(
    PREFIX + "type",
    _type,
    None,
    "selects",
    "nlb -> Network Load Balancer; elb/clb or absent -> classic ELB; "
    "nlb-ip/external -> left to the AWS Load Balancer Controller",
    default_doc="classic ELB",
)
INTERNAL = Annotation(
    PREFIX + "internal",
    _internal,
    False,
    BOTH,
    'any value but "false" makes the balancer internal',
    default_doc="internet-facing",
)
PROXY_PROTOCOL = Annotation(
    PREFIX + "proxy-protocol",
    _proxy_protocol,
    None,
    CLB,
    '"*" enables PROXY protocol on every backend port',
)
ACCESS_LOG_EMIT_INTERVAL = Annotation(
    PREFIX + "access-log-emit-interval",
    integer(),
    None,
    CLB,
    "access log publishing interval in minutes (5 or 60)",
)
ACCESS_LOG_ENABLED = Annotation(
    PREFIX + "access-log-enabled", go_bool, False, BOTH, "enable access logs to S3"
)
ACCESS_LOG_BUCKET = Annotation(
    PREFIX + "access-log-s3-bucket-name", text, "", BOTH, "S3 bucket for access logs"
)
ACCESS_LOG_PREFIX = Annotation(
    PREFIX + "access-log-s3-bucket-prefix", text, "", BOTH, "S3 key prefix for access logs"
)
CONNECTION_DRAINING_ENABLED = Annotation(
    PREFIX + "connection-draining-enabled", go_bool, False, CLB, "enable connection draining"
)
CONNECTION_DRAINING_TIMEOUT = Annotation(
    PREFIX + "connection-draining-timeout",
    integer(),
    None,
    CLB,
    "connection draining timeout in seconds",
    default_doc="300 (AWS default)",
)
CONNECTION_IDLE_TIMEOUT = Annotation(
    PREFIX + "connection-idle-timeout", integer(), 60, CLB, "idle connection timeout in seconds"
)
CROSS_ZONE = Annotation(
    PREFIX + "cross-zone-load-balancing-enabled",
    go_bool,
    False,
    BOTH,
    "enable cross-zone load balancing",
)
EXTRA_SECURITY_GROUPS: Annotation[tuple[str, ...]] = Annotation(
    PREFIX + "extra-security-groups",
    string_list,
    (),
    CLB,
    "security group ids added to the balancer; never deleted",
)
SECURITY_GROUPS: Annotation[tuple[str, ...]] = Annotation(
    PREFIX + "security-groups",
    string_list,
    (),
    "CLB; NLB in managed SG mode",
    "security group ids that replace the managed one (CLB) or are added (managed NLB); "
    "lbctl never edits or deletes them",
)
SSL_CERT = Annotation(
    PREFIX + "ssl-cert", text, "", BOTH, "ACM or IAM certificate ARN for the SSL ports"
)
SSL_PORTS: Annotation[tuple[str, ...]] = Annotation(
    PREFIX + "ssl-ports",
    _ssl_ports,
    ("*",),
    BOTH,
    "comma list of port numbers or names that use the certificate, or *",
    default_doc="*",
)
SSL_NEGOTIATION_POLICY = Annotation(
    PREFIX + "ssl-negotiation-policy",
    text,
    "",
    BOTH,
    "predefined AWS SSL policy for the SSL listeners",
    default_doc="AWS default",
)
BACKEND_PROTOCOL = Annotation(
    PREFIX + "backend-protocol",
    _backend_protocol,
    "tcp",
    BOTH,
    "protocol to the nodes: http, https, ssl or tcp",
)
ADDITIONAL_TAGS: Annotation[dict[str, str]] = Annotation(
    PREFIX + "additional-resource-tags",
    key_values,
    {},
    BOTH,
    "extra tags k=v,k2=v2 on the balancer and what it creates",
)
HEALTHCHECK_PROTOCOL = Annotation(
    PREFIX + "healthcheck-protocol",
    text,
    "",
    BOTH,
    "health check protocol (TCP, SSL, HTTP, HTTPS)",
    default_doc="TCP (SSL for https/ssl backends); HTTP for Local",
)
HEALTHCHECK_PORT: Annotation[str | int] = Annotation(
    PREFIX + "healthcheck-port",
    _health_port,
    "traffic-port",
    BOTH,
    "health check port: traffic-port or a number",
    default_doc="traffic-port; healthCheckNodePort for Local",
)
HEALTHCHECK_PATH = Annotation(
    PREFIX + "healthcheck-path",
    text,
    "",
    BOTH,
    "health check path (HTTP and HTTPS only)",
    default_doc="/ ; /healthz for Local",
)
HEALTHCHECK_HEALTHY = Annotation(
    PREFIX + "healthcheck-healthy-threshold",
    integer(),
    None,
    BOTH,
    "consecutive successes before healthy",
    default_doc="CLB 2; NLB 3 (Local 2)",
)
HEALTHCHECK_UNHEALTHY = Annotation(
    PREFIX + "healthcheck-unhealthy-threshold",
    integer(),
    None,
    BOTH,
    "consecutive failures before unhealthy",
    default_doc="CLB 6; NLB 3 (Local 2)",
)
HEALTHCHECK_TIMEOUT = Annotation(
    PREFIX + "healthcheck-timeout",
    integer(),
    None,
    BOTH,
    "health check timeout in seconds",
    default_doc="CLB 5; NLB 10",
)
HEALTHCHECK_INTERVAL = Annotation(
    PREFIX + "healthcheck-interval",
    integer(),
    None,
    BOTH,
    "seconds between health checks",
    default_doc="CLB 10; NLB 30 (Local 10)",
)
TARGET_GROUP_ATTRIBUTES: Annotation[dict[str, str]] = Annotation(
    PREFIX + "target-group-attributes",
    key_values,
    {},
    NLB,
    "preserve_client_ip.enabled, proxy_protocol_v2.enabled",
)
EIP_ALLOCATIONS: Annotation[tuple[str, ...]] = Annotation(
    PREFIX + "eip-allocations",
    _raw_list,
    (),
    NLB,
    "Elastic IP allocation ids, one per subnet (creation only)",
)
PRIVATE_IPV4_ADDRESSES: Annotation[tuple[str, ...]] = Annotation(
    PREFIX + "private-ipv4-addresses",
    _raw_list,
    (),
    NLB,
    "private IPv4 addresses, one per subnet (internal NLB)",
)
TARGET_NODE_LABELS: Annotation[dict[str, str]] = Annotation(
    PREFIX + "target-node-labels",
    key_values,
    {},
    BOTH,
    "only nodes with these labels k=v,k2 become targets",
)
SUBNETS: Annotation[tuple[str, ...]] = Annotation(
    PREFIX + "subnets",
    string_list,
    (),
    BOTH,
    "subnet ids or Name tags; default: discovery by role and cluster tags",
)
SOURCE_RANGES = Annotation(
    rules.SOURCE_RANGES_ANNOTATION,
    _source_ranges,
    "",
    BOTH,
    "allowed client CIDRs when spec.loadBalancerSourceRanges is empty",
    default_doc="0.0.0.0/0",
)

ANNOTATIONS = AnnotationSet(
    "aws",
    [
        TYPE,
        INTERNAL,
        PROXY_PROTOCOL,
        ACCESS_LOG_EMIT_INTERVAL,
        ACCESS_LOG_ENABLED,
        ACCESS_LOG_BUCKET,
        ACCESS_LOG_PREFIX,
        CONNECTION_DRAINING_ENABLED,
        CONNECTION_DRAINING_TIMEOUT,
        CONNECTION_IDLE_TIMEOUT,
        CROSS_ZONE,
        EXTRA_SECURITY_GROUPS,
        SECURITY_GROUPS,
        SSL_CERT,
        SSL_PORTS,
        SSL_NEGOTIATION_POLICY,
        BACKEND_PROTOCOL,
        ADDITIONAL_TAGS,
        HEALTHCHECK_PROTOCOL,
        HEALTHCHECK_PORT,
        HEALTHCHECK_PATH,
        HEALTHCHECK_HEALTHY,
        HEALTHCHECK_UNHEALTHY,
        HEALTHCHECK_TIMEOUT,
        HEALTHCHECK_INTERVAL,
        TARGET_GROUP_ATTRIBUTES,
        EIP_ALLOCATIONS,
        PRIVATE_IPV4_ADDRESSES,
        TARGET_NODE_LABELS,
        SUBNETS,
        SOURCE_RANGES,
    ],
)
