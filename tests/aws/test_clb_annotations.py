"""The `service.beta.kubernetes.io/aws-load-balancer-*` annotations on a classic ELB.

The static cases are one table: every case is its own Service, all of them applied by ONE
`lbctl apply` (which also exercises the batched observe), then each case is checked by its
own test against the ELB and security group read back with boto3. A re-plan of the whole
table must show no changes, and one delete must leave nothing behind.

Changes over time (adding and removing an annotation, changing ports, changing the scheme,
excluding nodes) and user-owned security groups are separate tests.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from lbctl.sandbox.aws import SeededCluster
from tests.aws.conftest import Sandbox, import_certificate
from tests.aws.helpers import (
    CLUSTER_TAG,
    EXCLUDE_LABEL,
    SERVICE_NAME_TAG,
    SOURCE_RANGES_ANNOTATION,
    TO_BE_DELETED_TAINT,
    Cloud,
    Lbctl,
    Result,
    ann,
    ingress_rules,
    lb_name,
    ports,
    referencing,
    service,
    sg_name,
    tags,
    uid_of,
)

CERT = "(the imported ACM certificate)"
EDGE_LABEL = "lbctl.test/edge"
TLS_POLICY = "ELBSecurityPolicy-TLS-1-2-2017-01"

HTTP_ONLY = ports(("http", 80, 30080))
HTTPS_ONLY = ports(("https", 443, 30443))

# (Protocol, InstanceProtocol, with the certificate) by load balancer port; instance ports
# are 30080 for 80 and 30443 for 443.
PLAIN = {80: ("TCP", "TCP", False), 443: ("TCP", "TCP", False)}


@dataclass
class Case:
    annotations: dict[str, str] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    port_list: list[dict[str, Any]] | None = None
    listeners: dict[int, tuple[str, str, bool]] | None = None
    health: str | None = None  # HealthCheck.Target
    health_numbers: dict[str, int] | None = None
    attributes: dict[str, Any] | None = None  # partial LoadBalancerAttributes
    scheme: str | None = None
    subnets: tuple[str, ...] | None = None  # "public:us-east-1a" / "private:us-east-1b"
    ingress: set[tuple[str, int, int, str]] | None = None  # exact SG ingress
    extra_tags: dict[str, str] | None = None  # on ELB and SG, besides the ownership tags
    listener_policies: dict[int, list[str]] | None = None
    backend_policies: dict[int, list[str]] | None = None
    instances: tuple[int, ...] | None = None  # indexes of the seeded instances
    check: Callable[[Cloud, str, SeededCluster], None] | None = None


def _ipv6_in_ipv6_ranges(cloud: Cloud, uid: str, cluster: SeededCluster) -> None:
    group = cloud.must_group(sg_name(uid))
    for perm in group["IpPermissions"]:
        for r in perm.get("IpRanges", []):
            assert ipaddress.ip_network(r["CidrIp"]).version == 4, perm
        for r in perm.get("Ipv6Ranges", []):
            assert ipaddress.ip_network(r["CidrIpv6"]).version == 6, perm
    v6 = {
        (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"))
        for p in group["IpPermissions"]
        if any(r["CidrIpv6"] == "2001:db8::/32" for r in p.get("Ipv6Ranges", []))
    }
    assert {("tcp", 80, 80), ("tcp", 443, 443)} <= v6
    # Besides the service ports, at most path-MTU ICMPv6 from the IPv6 range.
    assert {proto for proto, _, _ in v6} <= {"tcp", "icmpv6", "58"}


def _ingress(ports_: tuple[int, ...], *cidrs: str) -> set[tuple[str, int, int, str]]:
    rules = {("tcp", p, p, c) for p in ports_ for c in cidrs}
    rules |= {("icmp", 3, 4, c) for c in cidrs if ipaddress.ip_network(c).version == 4}
    return rules


CASES: dict[str, Case] = {
    # --- listeners (upstream buildListener) -----------------------------------------------
    "ssl-all-ports": Case(
        {ann("ssl-cert"): CERT},
        listeners={80: ("SSL", "TCP", True), 443: ("SSL", "TCP", True)},
    ),
    "ssl-port-by-number": Case(
        {ann("ssl-cert"): CERT, ann("ssl-ports"): "443"},
        listeners={80: ("TCP", "TCP", False), 443: ("SSL", "TCP", True)},
    ),
    "ssl-port-by-name": Case(
        {ann("ssl-cert"): CERT, ann("ssl-ports"): "https"},
        listeners={80: ("TCP", "TCP", False), 443: ("SSL", "TCP", True)},
    ),
    "ssl-port-by-name-and-number": Case(
        {ann("ssl-cert"): CERT, ann("ssl-ports"): "http,443"},
        listeners={80: ("SSL", "TCP", True), 443: ("SSL", "TCP", True)},
    ),
    "ssl-backend-http": Case(
        {ann("ssl-cert"): CERT, ann("ssl-ports"): "443", ann("backend-protocol"): "http"},
        # the certificate port terminates HTTPS; the other port speaks plain HTTP
        listeners={80: ("HTTP", "HTTP", False), 443: ("HTTPS", "HTTP", True)},
    ),
    "ssl-backend-https": Case(
        {ann("ssl-cert"): CERT, ann("backend-protocol"): "https"},
        port_list=HTTPS_ONLY,
        listeners={443: ("HTTPS", "HTTPS", True)},
        health="SSL:30443",
    ),
    "ssl-backend-ssl": Case(
        {ann("ssl-cert"): CERT, ann("backend-protocol"): "ssl"},
        port_list=HTTPS_ONLY,
        listeners={443: ("SSL", "SSL", True)},
        health="SSL:30443",
    ),
    "ssl-backend-tcp": Case(
        {ann("ssl-cert"): CERT, ann("backend-protocol"): "tcp"},
        port_list=HTTPS_ONLY,
        listeners={443: ("SSL", "TCP", True)},
        health="TCP:30443",
    ),
    "backend-http-no-cert": Case(
        {ann("backend-protocol"): "http"},
        listeners={80: ("HTTP", "HTTP", False), 443: ("HTTP", "HTTP", False)},
        health="TCP:30080",
    ),
    "backend-https-no-cert": Case(
        {ann("backend-protocol"): "https"},
        listeners=PLAIN,
    ),
    "ssl-negotiation-policy": Case(
        {ann("ssl-cert"): CERT, ann("ssl-ports"): "443", ann("ssl-negotiation-policy"): TLS_POLICY},
        listeners={80: ("TCP", "TCP", False), 443: ("SSL", "TCP", True)},
        listener_policies={80: [], 443: [f"k8s-SSLNegotiationPolicy-{TLS_POLICY}"]},
    ),
    "proxy-protocol": Case(
        {ann("proxy-protocol"): "*"},
        listeners=PLAIN,
        backend_policies={
            30080: ["k8s-proxyprotocol-enabled"],
            30443: ["k8s-proxyprotocol-enabled"],
        },
    ),
    # --- health check -----------------------------------------------------------------------
    "hc-http-path": Case(
        {ann("healthcheck-protocol"): "HTTP", ann("healthcheck-path"): "/ready"},
        health="HTTP:30080/ready",
    ),
    "hc-http-default-path": Case({ann("healthcheck-protocol"): "HTTP"}, health="HTTP:30080/"),
    "hc-https-path": Case(
        {ann("healthcheck-protocol"): "HTTPS", ann("healthcheck-path"): "/live"},
        health="HTTPS:30080/live",
    ),
    "hc-tcp-drops-path": Case(
        {ann("healthcheck-protocol"): "TCP", ann("healthcheck-path"): "/ignored"},
        health="TCP:30080",
    ),
    "hc-port": Case({ann("healthcheck-port"): "31000"}, health="TCP:31000"),
    "hc-numbers": Case(
        {
            ann("healthcheck-healthy-threshold"): "3",
            ann("healthcheck-unhealthy-threshold"): "4",
            ann("healthcheck-interval"): "30",
            ann("healthcheck-timeout"): "7",
        },
        health="TCP:30080",
        health_numbers={
            "HealthyThreshold": 3,
            "UnhealthyThreshold": 4,
            "Interval": 30,
            "Timeout": 7,
        },
    ),
    "hc-local": Case(
        spec={"externalTrafficPolicy": "Local", "healthCheckNodePort": 32100},
        health="HTTP:32100/healthz",
        health_numbers={
            "HealthyThreshold": 2,
            "UnhealthyThreshold": 6,
            "Interval": 10,
            "Timeout": 5,
        },
    ),
    "hc-local-traffic-port": Case(
        {ann("healthcheck-port"): "traffic-port"},
        spec={"externalTrafficPolicy": "Local", "healthCheckNodePort": 32101},
        health="HTTP:30080/healthz",
    ),
    "hc-local-path": Case(
        {ann("healthcheck-path"): "/livez"},
        spec={"externalTrafficPolicy": "Local", "healthCheckNodePort": 32102},
        health="HTTP:32102/livez",
    ),
    # --- attributes -------------------------------------------------------------------------
    "draining-with-timeout": Case(
        {ann("connection-draining-enabled"): "true", ann("connection-draining-timeout"): "120"},
        attributes={"ConnectionDraining": {"Enabled": True, "Timeout": 120}},
    ),
    "draining-default-timeout": Case(
        {ann("connection-draining-enabled"): "true"},
        attributes={"ConnectionDraining": {"Enabled": True, "Timeout": 300}},
    ),
    "idle-timeout": Case(
        {ann("connection-idle-timeout"): "300"},
        attributes={
            "ConnectionSettings": {"IdleTimeout": 300},
            "CrossZoneLoadBalancing": {"Enabled": False},
        },
    ),
    "cross-zone": Case(
        {ann("cross-zone-load-balancing-enabled"): "true"},
        attributes={
            "CrossZoneLoadBalancing": {"Enabled": True},
            "ConnectionSettings": {"IdleTimeout": 60},
        },
    ),
    "access-log": Case(
        {
            ann("access-log-enabled"): "true",
            ann("access-log-s3-bucket-name"): "elb-logs",
            ann("access-log-s3-bucket-prefix"): "web",
            ann("access-log-emit-interval"): "5",
        },
        attributes={
            "AccessLog": {
                "Enabled": True,
                "S3BucketName": "elb-logs",
                "S3BucketPrefix": "web",
                "EmitInterval": 5,
            }
        },
    ),
    # --- scheme and subnets -----------------------------------------------------------------
    "internal": Case(
        {ann("internal"): "true"},
        scheme="internal",
        subnets=("private:us-east-1a", "private:us-east-1b"),
    ),
    "subnets-by-id": Case(
        {ann("subnets"): "{public:us-east-1b}"},
        scheme="internet-facing",
        subnets=("public:us-east-1b",),
    ),
    "subnets-by-name": Case(
        {ann("subnets"): "lbctl-sandbox-public-us-east-1a, lbctl-sandbox-private-us-east-1b"},
        subnets=("public:us-east-1a", "private:us-east-1b"),
    ),
    # --- client access (the ELB's own security group) ---------------------------------------
    "source-ranges-spec": Case(
        spec={"loadBalancerSourceRanges": ["10.1.0.0/16", "192.0.2.0/24"]},
        ingress=_ingress((80, 443), "10.1.0.0/16", "192.0.2.0/24"),
    ),
    "source-ranges-annotation": Case(
        {SOURCE_RANGES_ANNOTATION: "198.51.100.0/24, 203.0.113.0/24"},
        ingress=_ingress((80, 443), "198.51.100.0/24", "203.0.113.0/24"),
    ),
    "source-ranges-spec-wins": Case(
        {SOURCE_RANGES_ANNOTATION: "198.51.100.0/24"},
        spec={"loadBalancerSourceRanges": ["192.0.2.0/24"]},
        ingress=_ingress((80, 443), "192.0.2.0/24"),
    ),
    "source-ranges-ipv6": Case(
        spec={"loadBalancerSourceRanges": ["2001:db8::/32", "10.2.0.0/16"]},
        check=_ipv6_in_ipv6_ranges,
    ),
    # --- tags and targets -------------------------------------------------------------------
    "additional-tags": Case(
        {ann("additional-resource-tags"): "team=web, cost-center=42,empty="},
        extra_tags={"team": "web", "cost-center": "42", "empty": ""},
    ),
    "target-node-labels-value": Case(
        {ann("target-node-labels"): f"{EDGE_LABEL}=true"},
        instances=(0,),
    ),
    "target-node-labels-key": Case(
        {ann("target-node-labels"): EDGE_LABEL},
        instances=(0, 1),
    ),
    "all-nodes": Case(instances=(0, 1, 2)),
}


def _subnet(cluster: SeededCluster, ref: str) -> str:
    kind, az = ref.split(":")
    return (cluster.public_subnets if kind == "public" else cluster.private_subnets)[az]


def _fill(value: str, cluster: SeededCluster, cert: str) -> str:
    if value == CERT:
        return cert
    if value.startswith("{") and value.endswith("}"):
        return _subnet(cluster, value[1:-1])
    return value


def _labelled_nodes(cluster: SeededCluster) -> list[dict[str, Any]]:
    nodes = [
        dict(n, metadata=dict(n["metadata"], labels=dict(n["metadata"]["labels"])))
        for n in cluster.nodes
    ]
    nodes[0]["metadata"]["labels"][EDGE_LABEL] = "true"
    nodes[1]["metadata"]["labels"][EDGE_LABEL] = "false"
    return nodes


@dataclass
class Table:
    sandbox: Sandbox
    services: dict[str, dict[str, Any]]
    applied: Result
    cert: str
    # The cloud right after the apply, read once for all cases.
    balancers: dict[str, dict[str, Any]]
    groups: list[dict[str, Any]]

    def group_named(self, name: str) -> dict[str, Any]:
        (group,) = [g for g in self.groups if g["GroupName"] == name]
        return group


@pytest.fixture(scope="module")
def table(module_sandbox: Sandbox) -> Table:
    cluster = module_sandbox.cluster
    cert = import_certificate(module_sandbox.clients["acm"])
    services = {
        case_id: service(
            case_id,
            annotations={k: _fill(v, cluster, cert) for k, v in case.annotations.items()},
            port_list=case.port_list,
            **case.spec,
        )
        for case_id, case in CASES.items()
    }
    nodes = module_sandbox.lbctl.write_nodes(_labelled_nodes(cluster))
    module_sandbox.lbctl.nodes_file = nodes
    applied = module_sandbox.lbctl.apply(*services.values())
    cloud = module_sandbox.cloud
    return Table(module_sandbox, services, applied, cert, cloud.all_balancers(), cloud.groups())


def test_table_applies_in_one_run(table: Table) -> None:
    result = table.applied
    assert result.rc == 0, result.describe()
    assert len(result.plans) == len(CASES)
    for plan in result.plans:
        assert plan["errors"] == [], plan
        desc = table.balancers[plan["loadBalancerName"]]
        assert plan["ingress"] == [{"hostname": desc["DNSName"]}]
    # Batched reads: one describe per kind for the whole table, not one per Service.
    calls = result.calls
    for op in (
        "ec2:DescribeInstances",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "elb:DescribeLoadBalancers",
    ):
        assert calls.get(op) == 1, (op, calls)


NODE_PORTS = {80: 30080, 443: 30443}


def _created_elb(table: Table, case_id: str) -> dict[str, Any]:
    (change,) = [
        c
        for c in table.applied.changes(f"default/{case_id}")
        if c["kind"] == "aws:elb" and c["op"] == "create"
    ]
    after: dict[str, Any] = change["after"]
    return after


def _moto_cannot_store(case: Case) -> bool:
    """moto reports InstanceProtocol = Protocol, so SSL->TCP or HTTPS->HTTP cannot read back."""
    return any(front != back for front, back, _ in (case.listeners or {}).values())


@pytest.mark.parametrize("case_id", list(CASES))
def test_annotation_case(table: Table, case_id: str) -> None:
    case = CASES[case_id]
    svc = table.services[case_id]
    uid = uid_of(svc)
    name = lb_name(uid)
    cloud = table.sandbox.cloud
    cluster = table.sandbox.cluster
    assert table.applied.plan(f"default/{case_id}")["errors"] == []
    desc = table.balancers[name]

    if case.listeners is not None:
        # Protocol, ports and certificate as the ELB reports them.
        got = {}
        for item in desc["ListenerDescriptions"]:
            listener = item["Listener"]
            port = listener["LoadBalancerPort"]
            cert = listener.get("SSLCertificateId")
            assert cert in (None, table.cert), listener
            got[port] = (listener["Protocol"].upper(), cert == table.cert)
            assert listener["InstancePort"] == NODE_PORTS[port]
        assert got == {port: (proto, cert) for port, (proto, _, cert) in case.listeners.items()}
        # The instance protocol as lbctl sent it to CreateLoadBalancer: moto does not keep
        # InstanceProtocol (it reports the front-end protocol), so it cannot be read back.
        sent = {
            item["LoadBalancerPort"]: (
                item["Protocol"],
                item["InstanceProtocol"],
                item.get("SSLCertificateId") == table.cert,
            )
            for item in _created_elb(table, case_id)["Listeners"]
        }
        assert sent == case.listeners
    if case.health is not None:
        assert desc["HealthCheck"]["Target"] == case.health
    if case.health_numbers is not None:
        numbers = {k: desc["HealthCheck"][k] for k in case.health_numbers}
        assert numbers == case.health_numbers
    if case.attributes is not None:
        attrs = cloud.attributes(name)
        for key, want in case.attributes.items():
            assert {k: attrs[key].get(k) for k in want} == want, (key, attrs[key])
    if case.scheme is not None:
        assert desc["Scheme"] == case.scheme
    if case.subnets is not None:
        assert sorted(desc["Subnets"]) == sorted(_subnet(cluster, s) for s in case.subnets)
    group = table.group_named(sg_name(uid))
    if case.ingress is not None:
        assert ingress_rules(group) == case.ingress
    if case.extra_tags is not None:
        ownership = {CLUSTER_TAG: "owned", SERVICE_NAME_TAG: f"default/{case_id}"}
        assert cloud.balancer_tags(name) == {**case.extra_tags, **ownership}
        group_tags = tags(group.get("Tags"))
        assert {k: group_tags.get(k) for k in case.extra_tags} == case.extra_tags
        assert group_tags[CLUSTER_TAG] == "owned"
    backend_policies = {
        b["InstancePort"]: sorted(b["PolicyNames"])
        for b in desc.get("BackendServerDescriptions", [])
        if b["PolicyNames"]
    }
    if case.listener_policies is not None:
        listener_policies = {
            d["Listener"]["LoadBalancerPort"]: sorted(d["PolicyNames"])
            for d in desc["ListenerDescriptions"]
        }
        assert listener_policies == case.listener_policies
        for policy_name in {p for names in case.listener_policies.values() for p in names}:
            policy = cloud.policies(name)[policy_name]
            assert policy["type"] == "SSLNegotiationPolicyType"
            assert policy["attributes"].get("Reference-Security-Policy") == TLS_POLICY
    if case.backend_policies is not None:
        assert backend_policies == case.backend_policies
        policy = cloud.policies(name)["k8s-proxyprotocol-enabled"]
        assert policy["type"] == "ProxyProtocolPolicyType"
        assert str(policy["attributes"].get("ProxyProtocol")).lower() == "true"
    else:
        assert backend_policies == {}
    if case.instances is not None:
        wanted = sorted(cluster.instances[i].instance_id for i in case.instances)
        assert sorted(i["InstanceId"] for i in desc["Instances"]) == wanted
    if case.check is not None:
        case.check(cloud, uid, cluster)
    # Whatever the annotations, the ELB uses its own group and the nodes admit it.
    assert desc["SecurityGroups"] == [group["GroupId"]]
    assert referencing(table.groups, group["GroupId"]) == [cluster.node_security_group_id]


def test_table_replan_has_no_changes(table: Table) -> None:
    """What apply wrote reads back as what the Services ask for: nothing to do twice."""
    services = [
        svc for case_id, svc in table.services.items() if not _moto_cannot_store(CASES[case_id])
    ]
    assert len(services) > len(CASES) - 8
    plan = table.sandbox.lbctl.plan(*services, extra=("--detailed-exitcode",))
    changed = {
        p["service"]: [(c["op"], c["kind"], c["name"]) for c in p["changes"]]
        for p in plan.plans
        if p["changes"]
    }
    assert changed == {}
    assert plan.rc == 0, plan.describe()
    assert plan.writes == 0


def test_table_delete_leaves_nothing(table: Table) -> None:
    deleted = table.sandbox.lbctl.delete(*table.services.values())
    assert deleted.rc == 0, deleted.describe()
    cloud = table.sandbox.cloud
    for svc in table.services.values():
        cloud.assert_gone(uid_of(svc), node_group_id=table.sandbox.cluster.node_security_group_id)
    assert cloud.balancer_names() == []
    assert cloud.k8s_elb_groups() == []


# --- changes over time -----------------------------------------------------------------------


def test_policies_are_removed_with_their_annotations_and_tags_added_in_place(
    lbctl: Lbctl, cloud: Cloud, cert_arn: str, aws_cluster: SeededCluster
) -> None:
    # backend ssl: an SSL->SSL listener, which moto can read back (see _moto_cannot_store)
    base = {ann("ssl-cert"): cert_arn, ann("ssl-ports"): "443", ann("backend-protocol"): "ssl"}
    with_policies = service(
        "web",
        annotations={**base, ann("proxy-protocol"): "*", ann("ssl-negotiation-policy"): TLS_POLICY},
    )
    name = lb_name(uid_of(with_policies))
    lbctl.apply_ok(with_policies)
    assert cloud.backend_policies(name) == {
        30080: ["k8s-proxyprotocol-enabled"],
        30443: ["k8s-proxyprotocol-enabled"],
    }
    assert cloud.listener_policies(name) == {
        80: [],
        443: [f"k8s-SSLNegotiationPolicy-{TLS_POLICY}"],
    }
    dns = cloud.must_balancer(name)["DNSName"]

    # Drop both policy annotations and add a tag annotation in the same change.
    without = service("web", annotations={**base, ann("additional-resource-tags"): "team=web"})
    removed = lbctl.apply_ok(without)
    ops = removed.ops()
    assert ops[("aws:elb-policy", "k8s-proxyprotocol-enabled")] == "delete"
    assert ops[("aws:elb-policy", f"k8s-SSLNegotiationPolicy-{TLS_POLICY}")] == "delete"
    assert ops[("aws:elb", name)] == "update"  # the tags; the balancer itself stays
    assert cloud.balancer_tags(name) == {
        "team": "web",
        CLUSTER_TAG: "owned",
        SERVICE_NAME_TAG: "default/web",
    }
    assert cloud.backend_policies(name) == {}
    assert cloud.listener_policies(name) == {80: [], 443: []}
    assert cloud.policies(name) == {}
    assert cloud.must_balancer(name)["DNSName"] == dns
    # ... and stays removed: nothing left to do.
    assert lbctl.apply_ok(without).writes == 0

    lbctl.delete_ok(without)
    cloud.assert_gone(uid_of(without), node_group_id=aws_cluster.node_security_group_id)


def test_changing_ports_updates_listeners_in_place(
    lbctl: Lbctl, cloud: Cloud, aws_cluster: SeededCluster
) -> None:
    before = service("web")
    uid = uid_of(before)
    name = lb_name(uid)
    lbctl.apply_ok(before)
    dns = cloud.must_balancer(name)["DNSName"]
    group_id = cloud.must_group(sg_name(uid))["GroupId"]

    # A new node port for 80 and a new port 8080.
    # (One stale listener per step: moto's DeleteLoadBalancerListeners deletes nothing when
    # a request names several ports, so two stale listeners in one step fail on moto.)
    changed = service(
        "web", port_list=ports(("http", 80, 30081), ("https", 443, 30443), ("alt", 8080, 30880))
    )
    result = lbctl.apply_ok(changed)
    ops = result.ops()
    assert ops[("aws:elb", name)] == "update"
    assert "replace" not in ops.values() and "delete" not in ops.values()
    assert ops[("aws:security-group-ingress", sg_name(uid))] == "update"
    assert ops[("aws:elb-health-check", name)] == "update"
    assert "elb:CreateLoadBalancer" not in result.calls

    desc = cloud.must_balancer(name)
    assert desc["DNSName"] == dns
    assert result.plan()["ingress"] == [{"hostname": dns}]
    assert cloud.listeners(name) == {
        80: {
            "Protocol": "TCP",
            "LoadBalancerPort": 80,
            "InstanceProtocol": "TCP",
            "InstancePort": 30081,
        },
        443: {
            "Protocol": "TCP",
            "LoadBalancerPort": 443,
            "InstanceProtocol": "TCP",
            "InstancePort": 30443,
        },
        8080: {
            "Protocol": "TCP",
            "LoadBalancerPort": 8080,
            "InstanceProtocol": "TCP",
            "InstancePort": 30880,
        },
    }
    assert desc["HealthCheck"]["Target"] == "TCP:30081"
    assert cloud.ingress_rules(group_id) == _ingress((80, 443, 8080), "0.0.0.0/0")
    assert cloud.must_group(sg_name(uid))["GroupId"] == group_id

    # Dropping a port removes its listener and its client rule; narrowing the source
    # ranges at the same time revokes 0.0.0.0/0.
    fewer = service(
        "web",
        port_list=ports(("http", 80, 30081), ("alt", 8080, 30880)),
        loadBalancerSourceRanges=["192.0.2.0/24"],
    )
    result = lbctl.apply_ok(fewer)
    assert result.ops()[("aws:elb", name)] == "update"
    assert sorted(cloud.listeners(name)) == [80, 8080]
    assert cloud.ingress_rules(group_id) == _ingress((80, 8080), "192.0.2.0/24")
    assert cloud.must_balancer(name)["DNSName"] == dns

    lbctl.delete_ok(fewer)
    cloud.assert_gone(uid, node_group_id=aws_cluster.node_security_group_id)


def test_changing_internal_replaces_the_balancer(
    lbctl: Lbctl, cloud: Cloud, aws_cluster: SeededCluster
) -> None:
    public = service("web")
    uid = uid_of(public)
    name = lb_name(uid)
    lbctl.apply_ok(public)
    assert cloud.must_balancer(name)["Scheme"] == "internet-facing"

    internal = service("web", annotations={ann("internal"): "true"})
    result = lbctl.apply_ok(internal)
    assert result.ops()[("aws:elb", name)] == "replace"
    change = next(c for c in result.changes() if c["kind"] == "aws:elb")
    assert "Scheme" in change["reason"]

    desc = cloud.must_balancer(name)
    assert desc["Scheme"] == "internal"
    assert sorted(desc["Subnets"]) == sorted(aws_cluster.private_subnets.values())
    assert result.plan()["ingress"] == [{"hostname": desc["DNSName"]}]
    # The new balancer is complete: health check, attributes, instances, node access.
    assert desc["HealthCheck"]["Target"] == "TCP:30080"
    assert cloud.attributes(name)["ConnectionSettings"]["IdleTimeout"] == 60
    assert cloud.instances(name) == sorted(i.instance_id for i in aws_cluster.instances)
    group_id = cloud.must_group(sg_name(uid))["GroupId"]
    assert desc["SecurityGroups"] == [group_id]
    assert cloud.groups_referencing(group_id) == [aws_cluster.node_security_group_id]
    assert cloud.balancer_tags(name)[CLUSTER_TAG] == "owned"

    lbctl.delete_ok(internal)
    cloud.assert_gone(uid, node_group_id=aws_cluster.node_security_group_id)


def test_excluded_and_to_be_deleted_nodes_are_deregistered(
    lbctl: Lbctl, cloud: Cloud, aws_cluster: SeededCluster
) -> None:
    svc = service("web")
    name = lb_name(uid_of(svc))
    lbctl.apply_ok(svc)
    ids = [i.instance_id for i in aws_cluster.instances]
    assert cloud.instances(name) == sorted(ids)

    nodes = [
        dict(
            n,
            metadata=dict(n["metadata"], labels=dict(n["metadata"]["labels"])),
            spec=dict(n["spec"]),
        )
        for n in aws_cluster.nodes
    ]
    nodes[1]["metadata"]["labels"][EXCLUDE_LABEL] = "true"
    nodes[2]["spec"]["taints"] = [
        {"key": TO_BE_DELETED_TAINT, "value": "1700000000", "effect": "NoSchedule"}
    ]
    result = lbctl.apply_ok(svc, nodes=lbctl.write_nodes(nodes))
    # Only the registrations change.
    assert result.ops() == {("aws:elb-instances", name): "update"}
    assert cloud.instances(name) == [ids[0]]
    assert result.calls.get("elb:DeregisterInstancesFromLoadBalancer") == 1
    assert "elb:RegisterInstancesWithLoadBalancer" not in result.calls

    # The exclusion label set to "false" includes the node again (Go ParseBool).
    nodes[1]["metadata"]["labels"][EXCLUDE_LABEL] = "false"
    result = lbctl.apply_ok(svc, nodes=lbctl.write_nodes(nodes))
    assert cloud.instances(name) == sorted(ids[:2])
    assert result.calls.get("elb:RegisterInstancesWithLoadBalancer") == 1

    lbctl.delete_ok(svc)
    cloud.assert_gone(uid_of(svc), node_group_id=aws_cluster.node_security_group_id)


# --- security groups the user owns ---------------------------------------------------------


def test_security_groups_annotation_replaces_the_managed_group_and_is_never_touched(
    lbctl: Lbctl, cloud: Cloud, user_group: str, aws_cluster: SeededCluster
) -> None:
    before = cloud.snapshot_group(user_group)
    svc = service("web", annotations={ann("security-groups"): user_group})
    uid = uid_of(svc)
    result = lbctl.apply_ok(svc)
    ops = result.ops()
    assert ("aws:security-group", sg_name(uid)) not in ops
    assert ("aws:security-group-ingress", sg_name(uid)) not in ops

    desc = cloud.must_balancer(lb_name(uid))
    assert desc["SecurityGroups"] == [user_group]
    assert cloud.group_by_name(sg_name(uid)) is None
    assert cloud.k8s_elb_groups() == []
    assert cloud.snapshot_group(user_group) == before
    # The nodes admit traffic from the user's group (upstream: the first annotated group).
    assert cloud.groups_referencing(user_group) == [aws_cluster.node_security_group_id]
    assert lbctl.apply_ok(svc).writes == 0

    lbctl.delete_ok(svc)
    assert cloud.balancer(lb_name(uid)) is None
    assert cloud.snapshot_group(user_group) == before
    # docs/providers/aws.md, deviations: the node rule from a bring-your-own group is never
    # revoked (another balancer may share the group); everything lbctl owns is gone.
    assert cloud.groups_referencing(user_group) == [aws_cluster.node_security_group_id]
    cloud.assert_gone(uid, node_group_id=aws_cluster.node_security_group_id, keep=(user_group,))


def test_dropping_the_security_groups_annotation_switches_to_the_managed_group(
    lbctl: Lbctl, cloud: Cloud, user_group: str, aws_cluster: SeededCluster
) -> None:
    before = cloud.snapshot_group(user_group)
    byo = service("web", annotations={ann("security-groups"): user_group})
    uid = uid_of(byo)
    lbctl.apply_ok(byo)
    assert cloud.groups_referencing(user_group) == [aws_cluster.node_security_group_id]

    managed = service("web")
    lbctl.apply_ok(managed)
    group_id = cloud.must_group(sg_name(uid))["GroupId"]
    assert cloud.must_balancer(lb_name(uid))["SecurityGroups"] == [group_id]
    assert cloud.groups_referencing(group_id) == [aws_cluster.node_security_group_id]
    assert cloud.snapshot_group(user_group) == before
    assert lbctl.apply_ok(managed).writes == 0

    lbctl.delete_ok(managed)
    cloud.assert_gone(uid, node_group_id=aws_cluster.node_security_group_id, keep=(user_group,))
    assert cloud.snapshot_group(user_group) == before


def test_extra_security_groups_are_appended_and_never_deleted(
    lbctl: Lbctl, cloud: Cloud, user_group: str, aws_cluster: SeededCluster
) -> None:
    before = cloud.snapshot_group(user_group)
    svc = service("web", annotations={ann("extra-security-groups"): user_group})
    uid = uid_of(svc)
    lbctl.apply_ok(svc)
    managed = cloud.must_group(sg_name(uid))["GroupId"]
    desc = cloud.must_balancer(lb_name(uid))
    assert desc["SecurityGroups"] == [managed, user_group]
    assert cloud.snapshot_group(user_group) == before
    # The node rule comes from the managed group, not from the extra one.
    assert cloud.groups_referencing(managed) == [aws_cluster.node_security_group_id]
    assert cloud.groups_referencing(user_group) == []

    # Dropping the annotation detaches the extra group and leaves it alone.
    lbctl.apply_ok(service("web"))
    assert cloud.must_balancer(lb_name(uid))["SecurityGroups"] == [managed]
    assert cloud.snapshot_group(user_group) == before

    lbctl.apply_ok(svc)
    assert cloud.must_balancer(lb_name(uid))["SecurityGroups"] == [managed, user_group]
    deleted = lbctl.delete_ok(svc)
    assert all(c["name"] != user_group for c in deleted.changes())
    cloud.assert_gone(uid, node_group_id=aws_cluster.node_security_group_id)
    assert cloud.snapshot_group(user_group) == before
