"""A plain LoadBalancer Service through its whole life: plan, apply, no-op, delete.

Every assertion reads the cloud back with boto3 (what a user sees in the console) or looks
at what lbctl printed (exit code, the JSON plan, the --stats call counts).
"""

from __future__ import annotations

from typing import Any

from lbctl.sandbox.aws import SeededCluster
from tests.aws.helpers import (
    CLUSTER_TAG,
    SERVICE_NAME_TAG,
    Cloud,
    Lbctl,
    lb_name,
    service,
    sg_name,
    tags,
    uid_of,
)


def test_plan_apply_reapply_delete(lbctl: Lbctl, cloud: Cloud, aws_cluster: SeededCluster) -> None:
    svc = service("web")
    uid = uid_of(svc)
    name = lb_name(uid)
    node_sg = aws_cluster.node_security_group_id

    # plan: everything is to be created; nothing is written; exit 2 with --detailed-exitcode.
    plan = lbctl.plan(svc, extra=("--detailed-exitcode",))
    assert plan.rc == 2, plan.describe()
    assert plan.writes == 0
    ops = plan.ops()
    assert set(ops.values()) == {"create"}
    for kind, res in (
        ("aws:elb", name),
        ("aws:security-group", sg_name(uid)),
        ("aws:security-group-ingress", sg_name(uid)),
        ("aws:elb-health-check", name),
        ("aws:elb-attributes", name),
        ("aws:elb-instances", name),
    ):
        assert ops[(kind, res)] == "create", (kind, res)
    assert plan.plan()["ingress"] == []  # the DNS name is known after apply
    assert cloud.balancer_names() == []
    assert cloud.k8s_elb_groups() == []

    result = lbctl.apply_ok(svc)

    elb = cloud.must_balancer(name)
    assert elb["Scheme"] == "internet-facing"
    assert elb["VPCId"] == aws_cluster.vpc_id
    # One public subnet per AZ: the seeded subnets with an internet-gateway route.
    assert sorted(elb["Subnets"]) == sorted(aws_cluster.public_subnets.values())
    assert cloud.listeners(name) == {
        80: {
            "Protocol": "TCP",
            "LoadBalancerPort": 80,
            "InstanceProtocol": "TCP",
            "InstancePort": 30080,
        },
        443: {
            "Protocol": "TCP",
            "LoadBalancerPort": 443,
            "InstanceProtocol": "TCP",
            "InstancePort": 30443,
        },
    }
    group = cloud.must_group(sg_name(uid))
    assert elb["SecurityGroups"] == [group["GroupId"]]
    assert elb["HealthCheck"] == {
        "Target": "TCP:30080",
        "Interval": 10,
        "Timeout": 5,
        "UnhealthyThreshold": 6,
        "HealthyThreshold": 2,
    }
    attrs = cloud.attributes(name)
    assert attrs["CrossZoneLoadBalancing"]["Enabled"] is False
    assert attrs["ConnectionSettings"]["IdleTimeout"] == 60
    assert attrs["ConnectionDraining"]["Enabled"] is False
    assert attrs["AccessLog"]["Enabled"] is False
    assert cloud.balancer_tags(name) == {CLUSTER_TAG: "owned", SERVICE_NAME_TAG: "default/web"}
    assert cloud.instances(name) == sorted(i.instance_id for i in aws_cluster.instances)
    assert cloud.policies(name) == {}
    assert cloud.backend_policies(name) == {}

    # The ELB's own security group: owned, described, and exactly the service ports from
    # everywhere plus ICMP "fragmentation needed" for path MTU discovery.
    assert group["VpcId"] == aws_cluster.vpc_id
    assert group["Description"] == f"Security group for Kubernetes ELB {name} (default/web)"
    group_tags = tags(group.get("Tags"))
    assert group_tags[CLUSTER_TAG] == "owned"
    assert group_tags[SERVICE_NAME_TAG] == "default/web"
    assert cloud.ingress_rules(group["GroupId"]) == {
        ("tcp", 80, 80, "0.0.0.0/0"),
        ("tcp", 443, 443, "0.0.0.0/0"),
        ("icmp", 3, 4, "0.0.0.0/0"),
    }

    # The nodes' security group lets all traffic in from the ELB's group, and only it does.
    rules = cloud.group_rules_from(node_sg, group["GroupId"])
    assert len(rules) == 1
    assert rules[0]["IpProtocol"] == "-1"
    assert [p["GroupId"] for p in rules[0]["UserIdGroupPairs"]] == [group["GroupId"]]
    assert cloud.groups_referencing(group["GroupId"]) == [node_sg]

    # The apply document reports the ELB's DNS name as the Service's ingress.
    applied = result.plan()
    assert applied["loadBalancerName"] == name
    assert applied["ingress"] == [{"hostname": elb["DNSName"]}]
    assert applied["errors"] == []
    assert {c["op"] for c in applied["changes"]} == {"create"}
    assert result.calls.get("elb:CreateLoadBalancer") == 1
    assert result.calls.get("ec2:CreateSecurityGroup") == 1

    # In sync: plan shows no change (exit 0 with --detailed-exitcode) and reports the ingress.
    replan = lbctl.plan(svc, extra=("--detailed-exitcode",))
    assert replan.rc == 0, replan.describe()
    assert replan.plan()["changes"] == []
    assert replan.plan()["ingress"] == [{"hostname": elb["DNSName"]}]
    assert replan.writes == 0

    # A second apply reads, but writes nothing.
    again = lbctl.apply_ok(svc)
    assert again.plan()["changes"] == []
    assert again.writes == 0, again.err
    assert again.reads > 0
    assert again.plan()["ingress"] == [{"hostname": elb["DNSName"]}]

    # delete: every owned resource goes, the node rule included.
    deleted = lbctl.delete_ok(svc)
    ops = deleted.ops()
    assert set(ops.values()) == {"delete"}
    assert ops[("aws:elb", name)] == "delete"
    assert ops[("aws:security-group", sg_name(uid))] == "delete"
    assert ops[("aws:security-group-ingress", f"{node_sg}/{sg_name(uid)}")] == "delete"
    assert deleted.plan()["ingress"] == []

    cloud.assert_gone(uid, node_group_id=node_sg)
    assert cloud.balancer_names() == []
    assert cloud.k8s_elb_groups() == []
    # The nodes' own group and instances are left alone.
    assert cloud.group(node_sg)["GroupName"] == "k8s-nodes-sandbox"
    assert tags(cloud.group(node_sg).get("Tags"))[CLUSTER_TAG] == "owned"

    # Deleting again is a no-op, not an error.
    again = lbctl.delete_ok(svc)
    assert again.plan()["changes"] == []
    assert again.writes == 0

    # And a plan now shows the balancer to be created again.
    plan = lbctl.plan(svc, extra=("--detailed-exitcode",))
    assert plan.rc == 2, plan.describe()
    ops = plan.ops()
    assert ops[("aws:elb", name)] == "create"
    assert ops[("aws:security-group", sg_name(uid))] == "create"
    assert set(ops.values()) == {"create"}


def test_delete_finishes_what_a_half_done_delete_left(
    lbctl: Lbctl, cloud: Cloud, boto: Any, aws_cluster: SeededCluster
) -> None:
    """Upstream P1: a security group left behind when the ELB is already gone still goes."""
    svc = service("web")
    uid = uid_of(svc)
    name = lb_name(uid)
    node_sg = aws_cluster.node_security_group_id
    lbctl.apply_ok(svc)
    group_id = cloud.must_group(sg_name(uid))["GroupId"]

    # The ELB disappears behind lbctl's back: apply puts it back, reusing the owned group.
    boto.elb.delete_load_balancer(LoadBalancerName=name)
    result = lbctl.apply_ok(svc)
    ops = result.ops()
    assert ops[("aws:elb", name)] == "create"
    assert ("aws:security-group", sg_name(uid)) not in ops
    desc = cloud.must_balancer(name)
    assert desc["SecurityGroups"] == [group_id]
    assert cloud.instances(name) == sorted(i.instance_id for i in aws_cluster.instances)
    assert desc["HealthCheck"]["Target"] == "TCP:30080"
    assert result.plan()["ingress"] == [{"hostname": desc["DNSName"]}]

    # A delete interrupted after DeleteLoadBalancer: the next delete removes the rest.
    boto.elb.delete_load_balancer(LoadBalancerName=name)
    deleted = lbctl.delete_ok(svc)
    ops = deleted.ops()
    assert ops[("aws:security-group", sg_name(uid))] == "delete"
    assert ops[("aws:security-group-ingress", f"{node_sg}/{sg_name(uid)}")] == "delete"
    cloud.assert_gone(uid, node_group_id=node_sg)


def test_two_services_get_separate_balancers_and_delete_only_their_own(
    lbctl: Lbctl, cloud: Cloud, aws_cluster: SeededCluster
) -> None:
    web, api = service("web"), service("api", namespace="shop")
    web_lb, api_lb = lb_name(uid_of(web)), lb_name(uid_of(api))
    assert web_lb != api_lb
    node_sg = aws_cluster.node_security_group_id

    applied = lbctl.apply(web, api, output="text")
    assert applied.rc == 0, applied.describe()
    assert cloud.balancer_names() == sorted([web_lb, api_lb])
    assert "Apply complete!" in applied.out
    assert f"default/web: ingress {cloud.must_balancer(web_lb)['DNSName']}" in applied.out
    assert f"shop/api: ingress {cloud.must_balancer(api_lb)['DNSName']}" in applied.out
    assert cloud.balancer_tags(api_lb)[SERVICE_NAME_TAG] == "shop/api"
    web_group = cloud.must_group(sg_name(uid_of(web)))["GroupId"]
    api_group = cloud.must_group(sg_name(uid_of(api)))["GroupId"]
    assert cloud.groups_referencing(web_group) == [node_sg]
    assert cloud.groups_referencing(api_group) == [node_sg]

    deleted = lbctl.delete_ok(web)
    assert [p["service"] for p in deleted.plans] == ["default/web"]
    assert cloud.balancer(web_lb) is None
    assert cloud.group_by_name(sg_name(uid_of(web))) is None
    assert cloud.groups_referencing(web_group) == []
    # The other Service's balancer, group and node rule survive.
    assert cloud.balancer(api_lb) is not None
    assert cloud.must_group(sg_name(uid_of(api)))["GroupId"] == api_group
    assert cloud.groups_referencing(api_group) == [node_sg]

    lbctl.delete_ok(api)
    cloud.assert_gone(uid_of(api), node_group_id=node_sg)
    cloud.assert_gone(uid_of(web), node_group_id=node_sg)
