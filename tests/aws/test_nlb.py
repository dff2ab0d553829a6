"""AWS NLB end to end: real CLI, real boto3, moto server; the cloud is read back with boto3."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from lbctl.sandbox.aws import SeededCluster
from tests.aws.helpers import (
    CLUSTER_ID,
    CLUSTER_TAG,
    SERVICE_NAME_TAG,
    SOURCE_RANGES_ANNOTATION,
    Lbctl,
    ann,
    lb_name,
    ports,
    service,
    uid_of,
)

NLB = {ann("type"): "nlb"}


class V2:
    """Reads NLBs, target groups, listeners and node SG rules back with boto3."""

    def __init__(self, boto: Any, cluster: SeededCluster) -> None:
        self.elbv2 = boto.elbv2
        self.ec2 = boto.ec2
        self.cluster = cluster

    def nlbs(self) -> list[dict[str, Any]]:
        return list(self.elbv2.describe_load_balancers()["LoadBalancers"])

    def nlb(self, name: str) -> dict[str, Any]:
        found = [b for b in self.nlbs() if b["LoadBalancerName"] == name]
        assert len(found) == 1, f"expected one NLB {name}, found {found}"
        return found[0]

    def groups(self, arn: str | None = None) -> list[dict[str, Any]]:
        kw = {"LoadBalancerArn": arn} if arn else {}
        return list(self.elbv2.describe_target_groups(**kw)["TargetGroups"])

    def listeners(self, arn: str) -> dict[int, dict[str, Any]]:
        return {
            x["Port"]: x for x in self.elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]
        }

    def targets(self, group_arn: str) -> list[str]:
        health = self.elbv2.describe_target_health(TargetGroupArn=group_arn)
        return sorted(d["Target"]["Id"] for d in health["TargetHealthDescriptions"])

    def tags(self, arn: str) -> dict[str, str]:
        desc = self.elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]
        return {t["Key"]: t["Value"] for t in desc["Tags"]}

    def attributes(self, arn: str) -> dict[str, str]:
        out = self.elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)
        return {a["Key"]: a["Value"] for a in out["Attributes"]}

    def group_attributes(self, arn: str) -> dict[str, str]:
        out = self.elbv2.describe_target_group_attributes(TargetGroupArn=arn)
        return {a["Key"]: a["Value"] for a in out["Attributes"]}

    def node_rules(self) -> list[tuple[str, int, int, str, str]]:
        """(protocol, from, to, cidr, description) of every rule on the node SG."""
        group = self.ec2.describe_security_groups(GroupIds=[self.cluster.node_security_group_id])[
            "SecurityGroups"
        ][0]
        out = []
        for p in group["IpPermissions"]:
            for r in p.get("IpRanges", []):
                out.append(
                    (
                        p["IpProtocol"],
                        p.get("FromPort"),
                        p.get("ToPort"),
                        r["CidrIp"],
                        r.get("Description", ""),
                    )
                )
            for r in p.get("Ipv6Ranges", []):
                out.append(
                    (
                        p["IpProtocol"],
                        p.get("FromPort"),
                        p.get("ToPort"),
                        r["CidrIpv6"],
                        r.get("Description", ""),
                    )
                )
        return sorted(out)

    def assert_nothing_left(self) -> None:
        assert self.nlbs() == []
        assert self.groups() == []
        assert [r for r in self.node_rules() if "kubernetes.io/rule/nlb" in r[4]] == []


@pytest.fixture
def v2(boto: Any, aws_cluster: SeededCluster) -> V2:
    return V2(boto, aws_cluster)


def upstream_tg_name(
    svc: dict[str, Any], port: int, node_port: int, protocol: str, hc_protocol: str, interval: int
) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    meta = svc["metadata"]
    for part in (
        CLUSTER_ID,
        meta["namespace"],
        meta["name"],
        str(port),
        str(node_port),
        protocol,
        "instance",
        hc_protocol,
        str(interval),
    ):
        digest.update(part.encode())
    return f"k8s-{meta['namespace'][:8]}-{meta['name'][:8]}-{digest.hexdigest()[:10]}"


def instance_ids(cluster: SeededCluster) -> list[str]:
    return sorted(i.instance_id for i in cluster.instances)


def test_tcp_nlb_lifecycle(lbctl: Lbctl, v2: V2, aws_cluster: SeededCluster) -> None:
    svc = service("web", annotations=NLB)
    lb = lb_name(uid_of(svc))
    applied = lbctl.apply_ok(svc)
    assert applied.writes > 0

    balancer = v2.nlb(lb)
    assert balancer["Type"] == "network"
    assert balancer["Scheme"] == "internet-facing"
    zones = {z["SubnetId"] for z in balancer["AvailabilityZones"]}
    assert zones == set(aws_cluster.public_subnets.values())
    assert applied.plan()["ingress"] == [{"hostname": balancer["DNSName"]}]
    assert v2.tags(balancer["LoadBalancerArn"])[CLUSTER_TAG] == "owned"
    assert v2.tags(balancer["LoadBalancerArn"])[SERVICE_NAME_TAG] == "default/web"
    assert (
        v2.attributes(balancer["LoadBalancerArn"])["load_balancing.cross_zone.enabled"] == "false"
    )

    groups = {g["TargetGroupName"]: g for g in v2.groups(balancer["LoadBalancerArn"])}
    expected = {
        upstream_tg_name(svc, 80, 30080, "TCP", "TCP", 30): 30080,
        upstream_tg_name(svc, 443, 30443, "TCP", "TCP", 30): 30443,
    }
    assert {n: g["Port"] for n, g in groups.items()} == expected
    for group in groups.values():
        assert group["Protocol"] == "TCP"
        assert group["TargetType"] == "instance"
        assert group["HealthCheckProtocol"] == "TCP"
        assert group["HealthCheckPort"] == "traffic-port"
        assert group["HealthCheckIntervalSeconds"] == 30
        assert (group["HealthyThresholdCount"], group["UnhealthyThresholdCount"]) == (3, 3)
        assert v2.targets(group["TargetGroupArn"]) == instance_ids(aws_cluster)
        assert v2.tags(group["TargetGroupArn"])[CLUSTER_TAG] == "owned"
    listeners = v2.listeners(balancer["LoadBalancerArn"])
    assert sorted(listeners) == [80, 443]
    by_arn = {g["TargetGroupArn"]: g for g in groups.values()}
    for port, listener in listeners.items():
        assert listener["Protocol"] == "TCP"
        forwarded = by_arn[listener["DefaultActions"][0]["TargetGroupArn"]]
        assert forwarded["Port"] == {80: 30080, 443: 30443}[port]

    rules = v2.node_rules()
    client = f"kubernetes.io/rule/nlb/client={lb}"
    assert ("tcp", 30080, 30080, "0.0.0.0/0", client) in rules
    assert ("tcp", 30443, 30443, "0.0.0.0/0", client) in rules
    assert ("icmp", 3, 4, "0.0.0.0/0", "kubernetes.io/rule/nlb/mtu") in rules
    # The client rules from 0.0.0.0/0 already cover the traffic-port health checks.
    assert not [r for r in rules if r[4] == f"kubernetes.io/rule/nlb/health={lb}"]

    again = lbctl.plan(svc, extra=("--detailed-exitcode",))
    assert again.rc == 0, again.describe()
    assert again.changes() == []
    noop = lbctl.apply_ok(svc)
    assert noop.writes == 0, noop.calls
    assert noop.plan()["ingress"] == [{"hostname": balancer["DNSName"]}]

    lbctl.delete_ok(svc)
    v2.assert_nothing_left()


def test_local_policy_health_checks_the_health_check_node_port(
    lbctl: Lbctl, v2: V2, aws_cluster: SeededCluster
) -> None:
    svc = service(
        "local", annotations=NLB, externalTrafficPolicy="Local", healthCheckNodePort=32100
    )
    lb = lb_name(uid_of(svc))
    lbctl.apply_ok(svc)
    balancer = v2.nlb(lb)
    for group in v2.groups(balancer["LoadBalancerArn"]):
        assert group["HealthCheckProtocol"] == "HTTP"
        assert group["HealthCheckPort"] == "32100"
        assert group["HealthCheckPath"] == "/healthz"
        assert group["HealthCheckIntervalSeconds"] == 10
        assert (group["HealthyThresholdCount"], group["UnhealthyThresholdCount"]) == (2, 2)
    cidrs = {
        s["CidrBlock"]
        for s in v2.ec2.describe_subnets(SubnetIds=list(aws_cluster.public_subnets.values()))[
            "Subnets"
        ]
    }
    health = {
        r[3]
        for r in v2.node_rules()
        if r[4] == f"kubernetes.io/rule/nlb/health={lb}" and r[1] == 32100
    }
    assert health == cidrs
    assert lbctl.apply_ok(svc).writes == 0
    lbctl.delete_ok(svc)
    v2.assert_nothing_left()


def test_udp_nlb(lbctl: Lbctl, v2: V2) -> None:
    svc = service("dns", annotations=NLB, port_list=ports(("dns", 53, 30053), protocol="UDP"))
    lb = lb_name(uid_of(svc))
    lbctl.apply_ok(svc)
    balancer = v2.nlb(lb)
    (group,) = v2.groups(balancer["LoadBalancerArn"])
    assert group["Protocol"] == "UDP"
    assert v2.listeners(balancer["LoadBalancerArn"])[53]["Protocol"] == "UDP"
    assert ("udp", 30053, 30053, "0.0.0.0/0", f"kubernetes.io/rule/nlb/client={lb}") in (
        v2.node_rules()
    )
    assert lbctl.apply_ok(svc).writes == 0
    lbctl.delete_ok(svc)
    v2.assert_nothing_left()


def test_tls_listener_with_certificate_policy_and_tls_targets(
    lbctl: Lbctl, v2: V2, cert_arn: str
) -> None:
    svc = service(
        "tls",
        annotations={
            **NLB,
            ann("ssl-cert"): cert_arn,
            ann("ssl-ports"): "443",
            ann("ssl-negotiation-policy"): "ELBSecurityPolicy-TLS13-1-2-2021-06",
            ann("backend-protocol"): "ssl",
        },
    )
    lbctl.apply_ok(svc)
    balancer = v2.nlb(lb_name(uid_of(svc)))
    listeners = v2.listeners(balancer["LoadBalancerArn"])
    assert listeners[443]["Protocol"] == "TLS"
    assert [c["CertificateArn"] for c in listeners[443]["Certificates"]] == [cert_arn]
    assert listeners[443]["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert listeners[80]["Protocol"] == "TCP"
    protocols = {g["Port"]: g["Protocol"] for g in v2.groups(balancer["LoadBalancerArn"])}
    assert protocols == {30443: "TLS", 30080: "TCP"}
    assert lbctl.apply_ok(svc).writes == 0
    lbctl.delete_ok(svc)
    v2.assert_nothing_left()


def test_internal_nlb_goes_in_the_private_subnets(
    lbctl: Lbctl, v2: V2, aws_cluster: SeededCluster
) -> None:
    svc = service("inner", annotations={**NLB, ann("internal"): "true"})
    lbctl.apply_ok(svc)
    balancer = v2.nlb(lb_name(uid_of(svc)))
    assert balancer["Scheme"] == "internal"
    zones = {z["SubnetId"] for z in balancer["AvailabilityZones"]}
    assert zones == set(aws_cluster.private_subnets.values())
    lbctl.delete_ok(svc)
    v2.assert_nothing_left()


def test_target_group_attributes_and_proxy_protocol(lbctl: Lbctl, v2: V2) -> None:
    svc = service(
        "attrs",
        annotations={
            **NLB,
            ann("target-group-attributes"): "preserve_client_ip.enabled=false",
            ann("proxy-protocol"): "*",
            ann("cross-zone-load-balancing-enabled"): "true",
        },
    )
    lbctl.apply_ok(svc)
    balancer = v2.nlb(lb_name(uid_of(svc)))
    assert v2.attributes(balancer["LoadBalancerArn"])["load_balancing.cross_zone.enabled"] == "true"
    for group in v2.groups(balancer["LoadBalancerArn"]):
        attrs = v2.group_attributes(group["TargetGroupArn"])
        assert attrs["preserve_client_ip.enabled"] == "false"
        assert attrs["proxy_protocol_v2.enabled"] == "true"
    assert lbctl.apply_ok(svc).writes == 0
    lbctl.delete_ok(svc)
    v2.assert_nothing_left()


def test_health_check_interval_change_replaces_the_target_groups(lbctl: Lbctl, v2: V2) -> None:
    svc = service("hc", annotations=NLB)
    lbctl.apply_ok(svc)
    arn = v2.nlb(lb_name(uid_of(svc)))["LoadBalancerArn"]
    before = {g["TargetGroupName"] for g in v2.groups(arn)}
    changed = service("hc", annotations={**NLB, ann("healthcheck-interval"): "10"})
    plan = lbctl.plan(changed)
    assert plan.ops("default/hc")[("aws:target-group", "80/TCP")] == "replace"
    assert plan.ops("default/hc")[("aws:listener", "80/TCP")] == "update"
    lbctl.apply_ok(changed)
    after = {g["TargetGroupName"]: g for g in v2.groups()}
    assert not before & set(after), "old target groups are deleted"
    expected = {
        upstream_tg_name(changed, 80, 30080, "TCP", "TCP", 10),
        upstream_tg_name(changed, 443, 30443, "TCP", "TCP", 10),
    }
    assert set(after) == expected
    listeners = v2.listeners(arn)
    assert {x["DefaultActions"][0]["TargetGroupArn"] for x in listeners.values()} == {
        g["TargetGroupArn"] for g in after.values()
    }
    for group in after.values():
        assert group["HealthCheckIntervalSeconds"] == 10
        assert len(v2.targets(group["TargetGroupArn"])) == 3
    assert lbctl.apply_ok(changed).writes == 0
    lbctl.delete_ok(changed)
    v2.assert_nothing_left()


def test_type_switches_leave_exactly_one_balancer(lbctl: Lbctl, v2: V2, boto: Any) -> None:
    clb = service("switch")
    nlb = service("switch", annotations=NLB)
    lb = lb_name(uid_of(clb))

    def classic() -> list[str]:
        return [
            d["LoadBalancerName"]
            for d in boto.elb.describe_load_balancers()["LoadBalancerDescriptions"]
        ]

    lbctl.apply_ok(clb)
    assert classic() == [lb] and v2.nlbs() == []
    switched = lbctl.apply_ok(nlb)
    assert ("aws:elb", lb) in switched.ops("default/switch") and switched.ops("default/switch")[
        ("aws:elb", lb)
    ] == "delete"
    assert classic() == [] and [b["LoadBalancerName"] for b in v2.nlbs()] == [lb]
    assert (
        boto.ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [f"k8s-elb-{lb}"]}]
        )["SecurityGroups"]
        == []
    )
    lbctl.apply_ok(clb)  # the annotation removed: back to a classic ELB
    assert classic() == [lb]
    v2.assert_nothing_left()
    lbctl.delete_ok(clb)
    assert classic() == []
    v2.assert_nothing_left()


def test_clusterip_switch_deletes_the_nlb(lbctl: Lbctl, v2: V2) -> None:
    lbctl.apply_ok(service("gone", annotations=NLB))
    # The user drops both the annotation and the LoadBalancer type (upstream P2's leak).
    lbctl.apply_ok(service("gone", type="ClusterIP"))
    v2.assert_nothing_left()


def test_source_ranges_and_the_shared_mtu_rule(lbctl: Lbctl, v2: V2) -> None:
    first = service(
        "one",
        annotations={**NLB, SOURCE_RANGES_ANNOTATION: "10.1.0.0/16,10.2.0.0/16"},
        port_list=ports(("p", 80, 30100)),
    )
    second = service(
        "two",
        annotations={**NLB, SOURCE_RANGES_ANNOTATION: "10.2.0.0/16"},
        port_list=ports(("p", 80, 30200)),
    )
    lbctl.apply_ok(first, second)
    lb1, lb2 = lb_name(uid_of(first)), lb_name(uid_of(second))
    rules = v2.node_rules()
    assert {r[3] for r in rules if r[4] == f"kubernetes.io/rule/nlb/client={lb1}"} == {
        "10.1.0.0/16",
        "10.2.0.0/16",
    }
    assert {r[3] for r in rules if r[4] == f"kubernetes.io/rule/nlb/client={lb2}"} == {
        "10.2.0.0/16"
    }
    mtu = {r[3] for r in rules if r[4] == "kubernetes.io/rule/nlb/mtu"}
    assert mtu == {"10.1.0.0/16", "10.2.0.0/16"}
    # Never wider than asked: no rule from anywhere else.
    assert {r[3] for r in rules if "kubernetes.io/rule/nlb" in r[4]} <= {
        "10.1.0.0/16",
        "10.2.0.0/16",
        "10.0.0.0/20",
        "10.0.16.0/20",
    }
    lbctl.delete_ok(first)
    mtu = {r[3] for r in v2.node_rules() if r[4] == "kubernetes.io/rule/nlb/mtu"}
    assert mtu == {"10.2.0.0/16"}, "the MTU rule is recomputed; the CIDR still used is kept"
    lbctl.delete_ok(second)
    v2.assert_nothing_left()


def test_node_changes_only_touch_targets(lbctl: Lbctl, v2: V2, aws_cluster: SeededCluster) -> None:
    svc = service("nodes", annotations=NLB)
    lbctl.apply_ok(svc)
    fewer = lbctl.write_nodes(aws_cluster.nodes[:2])
    plan = lbctl.plan(svc, nodes=fewer)
    assert {(c["kind"], c["op"]) for c in plan.changes("default/nodes")} == {
        ("aws:targets", "update")
    }
    applied = lbctl.apply_ok(svc, nodes=fewer)
    assert set(applied.calls) - {
        op for op in applied.calls if ":Describe" in op or ":Get" in op
    } == {"elbv2:DeregisterTargets"}
    kept = sorted(n["spec"]["providerID"].rsplit("/", 1)[1] for n in aws_cluster.nodes[:2])
    for group in v2.groups():
        assert v2.targets(group["TargetGroupArn"]) == kept
    lbctl.delete_ok(svc)
    v2.assert_nothing_left()


@pytest.mark.parametrize(
    ("extra", "annotation", "needle"),
    [
        (
            {ann("target-group-attributes"): "deregistration_delay=3"},
            "target-group-attributes",
            "not supported by the controller",
        ),
        (
            {ann("target-group-attributes"): "preserve_client_ip.enabled=maybe"},
            "target-group-attributes",
            "invalid attribute value",
        ),
        (
            {ann("eip-allocations"): "eipalloc-1"},
            "eip-allocations",
            "Must have same number of EIP AllocationIDs (1) and SubnetIDs (2)",
        ),
        (
            {ann("healthcheck-protocol"): "SSL"},
            "healthcheck-protocol",
            "Unsupported health check protocol",
        ),
        (
            {ann("extra-security-groups"): "sg-123"},
            "extra-security-groups",
            "is not supported by NLB",
        ),
    ],
    ids=["tg-attribute-unknown", "tg-attribute-value", "eip-count", "hc-protocol", "extra-sgs"],
)
def test_invalid_nlb_annotations_are_rejected_before_any_write(
    lbctl: Lbctl, v2: V2, extra: dict[str, str], annotation: str, needle: str
) -> None:
    svc = service("bad", annotations={**NLB, **extra})
    result = lbctl.apply(svc)
    assert result.rc == 1, result.describe()
    assert result.writes == 0
    (error,) = result.plan("default/bad")["errors"]
    assert error["annotation"] == ann(annotation)
    assert needle in error["message"]
    assert ann(annotation) in result.err
    assert v2.nlbs() == []


def _managed(lbctl: Lbctl) -> Lbctl:
    config = lbctl.directory / "cloud-config-managed"
    config.write_text(lbctl.cloud_config.read_text() + "NLBSecurityGroupMode = Managed\n")
    return Lbctl(lbctl.directory, lbctl.nodes_file, config)


def test_managed_security_group_mode(lbctl: Lbctl, v2: V2, aws_cluster: SeededCluster) -> None:
    managed = _managed(lbctl)
    svc = service("mgd", annotations={**NLB, SOURCE_RANGES_ANNOTATION: "10.9.0.0/16"})
    managed.apply_ok(svc)
    balancer = v2.nlb(lb_name(uid_of(svc)))
    groups = {
        g["GroupId"]: g
        for g in v2.ec2.describe_security_groups(GroupIds=balancer["SecurityGroups"])[
            "SecurityGroups"
        ]
    }
    by_desc = {g["Description"]: g for g in groups.values()}
    front = by_desc["[k8s] Managed SecurityGroup for LoadBalancer"]
    back = by_desc["[k8s] Shared Backend SecurityGroup for LoadBalancer"]
    digest = hashlib.sha256(f"{CLUSTER_ID}mgddefault{uid_of(svc)}".encode()).hexdigest()[:10]
    assert front["GroupName"] == f"k8s-default-mgd-{digest}"
    front_rules = sorted(
        (p["IpProtocol"], p.get("FromPort"), r["CidrIp"])
        for p in front["IpPermissions"]
        for r in p["IpRanges"]
    )
    assert front_rules == [
        ("icmp", 3, "10.9.0.0/16"),
        ("tcp", 80, "10.9.0.0/16"),
        ("tcp", 443, "10.9.0.0/16"),
    ]
    assert {t["Key"]: t["Value"] for t in front["Tags"]}[CLUSTER_TAG] == "owned"
    node = v2.ec2.describe_security_groups(GroupIds=[aws_cluster.node_security_group_id])[
        "SecurityGroups"
    ][0]
    sources = [g["GroupId"] for p in node["IpPermissions"] for g in p.get("UserIdGroupPairs", [])]
    assert sources == [back["GroupId"]]
    assert [r for r in v2.node_rules() if "kubernetes.io/rule/nlb" in r[4]] == []
    assert managed.apply_ok(svc).writes == 0
    managed.delete_ok(svc)
    v2.assert_nothing_left()
    left = v2.ec2.describe_security_groups(GroupIds=[aws_cluster.node_security_group_id])
    assert left["SecurityGroups"][0]["IpPermissions"] == []
    names = {g["GroupName"] for g in v2.ec2.describe_security_groups()["SecurityGroups"]}
    assert front["GroupName"] not in names and back["GroupName"] not in names


def test_node_rule_counts_for_twenty_nlbs_in_both_modes(
    lbctl: Lbctl, v2: V2, aws_cluster: SeededCluster
) -> None:
    """Upstream pain point P3: node SG rules grow with Services x ports x CIDRs by default;
    in managed mode the node group holds one rule whatever the number of NLBs."""
    services = [
        service(
            f"s{i}",
            annotations={**NLB, SOURCE_RANGES_ANNOTATION: "10.1.0.0/16,10.2.0.0/16"},
            port_list=ports(("a", 80, 30100 + i), ("b", 81, 30200 + i)),
        )
        for i in range(20)
    ]

    def node_rule_count() -> int:
        group = v2.ec2.describe_security_groups(GroupIds=[aws_cluster.node_security_group_id])[
            "SecurityGroups"
        ][0]
        return sum(
            len(p.get("IpRanges", [])) + len(p.get("UserIdGroupPairs", []))
            for p in group["IpPermissions"]
        )

    default = lbctl.apply(*services)
    # Each NLB needs 2 node ports x 2 CIDRs client rules and 2 x 2 health rules (the CIDRs
    # are not 0.0.0.0/0), plus the shared MTU CIDRs: the node group's 60-rule limit is hit
    # after a handful of Services, exactly upstream's RulesPerSecurityGroupLimitExceeded.
    assert default.rc == 1
    assert "maximum number of rules" in default.err
    default_count = node_rule_count()
    assert 50 <= default_count <= 60
    lbctl.delete_ok(*services)
    v2.assert_nothing_left()
    assert node_rule_count() == 0

    managed = _managed(lbctl)
    managed.apply_ok(*services)
    assert node_rule_count() == 1
    print(f"node SG rules for 20 NLBs: default mode {default_count} (limit hit), managed 1")
    managed.delete_ok(*services)
    v2.assert_nothing_left()
    assert node_rule_count() == 0


def test_duplicate_ports_are_rejected_although_moto_would_accept_them(lbctl: Lbctl, v2: V2) -> None:
    # Real AWS answers DuplicateListener; moto creates a second listener on the port.
    svc = service("dup", annotations=NLB, port_list=ports(("a", 80, 30100), ("b", 80, 30101)))
    result = lbctl.apply(svc)
    assert result.rc == 1
    (error,) = result.plan("default/dup")["errors"]
    assert error["field"] == "spec.ports[1].port"
    assert error["value"] == 80
    assert result.writes == 0 and result.reads == 0
    assert v2.nlbs() == []


def test_every_name_fits_the_aws_limit(lbctl: Lbctl, v2: V2) -> None:
    # moto accepts names over 32 characters; AWS does not, so lbctl's names must fit.
    svc = service(
        "a-very-long-service-name-indeed", namespace="a-long-namespace-too", annotations=NLB
    )
    lbctl.apply_ok(svc)
    for balancer in v2.nlbs():
        assert len(balancer["LoadBalancerName"]) <= 32
    for group in v2.groups():
        assert len(group["TargetGroupName"]) <= 32
    lbctl.delete_ok(svc)
    v2.assert_nothing_left()


def test_eip_allocations_timeout_and_ipv6_ranges(
    lbctl: Lbctl, v2: V2, aws_cluster: SeededCluster
) -> None:
    eips = [v2.ec2.allocate_address(Domain="vpc")["AllocationId"] for _ in range(2)]
    svc = service(
        "eips",
        annotations={
            **NLB,
            ann("eip-allocations"): ",".join(eips),
            ann("healthcheck-timeout"): "6",
            SOURCE_RANGES_ANNOTATION: "10.7.0.0/16,2001:db8::/32",
        },
        port_list=ports(("p", 80, 30100)),
    )
    lb = lb_name(uid_of(svc))
    applied = lbctl.apply_ok(svc)
    balancer = v2.nlb(lb)
    # moto does not report LoadBalancerAddresses: check what lbctl asked for at creation.
    created = next(c for c in applied.changes("default/eips") if c["kind"] == "aws:nlb")["after"]
    assert [m.get("AllocationId") for m in created["SubnetMappings"]] == eips
    (group,) = v2.groups(balancer["LoadBalancerArn"])
    assert group["HealthCheckTimeoutSeconds"] == 6  # upstream parses it and drops it
    rules = v2.node_rules()
    client = f"kubernetes.io/rule/nlb/client={lb}"
    assert ("tcp", 30100, 30100, "2001:db8::/32", client) in rules  # in Ipv6Ranges
    assert ("icmpv6", 2, 0, "2001:db8::/32", "kubernetes.io/rule/nlb/mtu") in rules
    assert ("icmp", 3, 4, "10.7.0.0/16", "kubernetes.io/rule/nlb/mtu") in rules
    assert lbctl.apply_ok(svc).writes == 0
    lbctl.delete_ok(svc)
    v2.assert_nothing_left()
    for eip in eips:
        v2.ec2.release_address(AllocationId=eip)
