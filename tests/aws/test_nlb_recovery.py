"""NLBs left half-made or half-deleted converge: a duplicate NLB, a path-MTU entry two
deletes each kept for the other, target groups no listener points at. And the write
counts of creating and deleting an NLB.

Each test sets up, with boto3 against moto, the state an interrupted or concurrent run
leaves, then runs lbctl as a user would and reads the account back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lbctl import flow
from lbctl.model import NodeView, ServiceView
from lbctl.sandbox.aws import SeededCluster
from tests.aws.helpers import (
    CLUSTER_TAG,
    SERVICE_NAME_TAG,
    Lbctl,
    ann,
    aws_provider,
    lb_name,
    ports,
    service,
    uid_of,
)

NLB = {ann("type"): "nlb"}
MTU = "kubernetes.io/rule/nlb/mtu"


def nlbs_named(boto: Any, name: str) -> list[dict[str, Any]]:
    pages = boto.elbv2.get_paginator("describe_load_balancers").paginate()
    return [b for page in pages for b in page["LoadBalancers"] if b["LoadBalancerName"] == name]


def target_groups(boto: Any) -> dict[str, dict[str, Any]]:
    pages = boto.elbv2.get_paginator("describe_target_groups").paginate()
    return {g["TargetGroupName"]: g for page in pages for g in page["TargetGroups"]}


def tags_of(boto: Any, arn: str) -> dict[str, str]:
    (item,) = boto.elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"]
    return {t["Key"]: t["Value"] for t in item["Tags"]}


def nlb_rules(boto: Any, cluster: SeededCluster) -> list[tuple[str, str]]:
    """(CIDR, description) of every NLB rule on the node security group."""
    (group,) = boto.ec2.describe_security_groups(GroupIds=[cluster.node_security_group_id])[
        "SecurityGroups"
    ]
    return sorted(
        (r["CidrIp"], r.get("Description", ""))
        for p in group["IpPermissions"]
        for r in p.get("IpRanges", [])
        if "kubernetes.io/rule/nlb" in r.get("Description", "")
    )


def owned_tags(svc: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"Key": CLUSTER_TAG, "Value": "owned"},
        {"Key": SERVICE_NAME_TAG, "Value": f"default/{svc['metadata']['name']}"},
    ]


# --- A: a second NLB of the same name ------------------------------------------------------


def test_one_service_apply_deletes_a_duplicate_nlb(lbctl: Lbctl, boto: Any) -> None:
    """moto makes a second NLB when a create is retried after its answer was lost, and
    answers DescribeLoadBalancers(Names=[lb]) with only the newer one: a one-Service
    reconcile must still find and delete it, and keep the NLB that serves traffic."""
    svc = service("dup", annotations=NLB, port_list=ports(("p", 80, 30080)))
    lb = lb_name(uid_of(svc))
    lbctl.apply_ok(svc)
    (original,) = nlbs_named(boto, lb)
    subnets = [z["SubnetId"] for z in original["AvailabilityZones"]]
    # Not ours, then ours: moto answers a lookup by name with the newest.
    for tags in ([{"Key": "team", "Value": "web"}], owned_tags(svc)):
        boto.elbv2.create_load_balancer(
            Name=lb, Type="network", Scheme="internet-facing", Subnets=subnets, Tags=tags
        )
    assert len(nlbs_named(boto, lb)) == 3

    applied = lbctl.apply_ok(svc)
    assert [(c["op"], c["kind"]) for c in applied.changes("default/dup")] == [("delete", "aws:nlb")]
    left = {b["LoadBalancerArn"]: tags_of(boto, b["LoadBalancerArn"]) for b in nlbs_named(boto, lb)}
    assert original["LoadBalancerArn"] in left  # the one with the listener stays
    assert [arn for arn, tags in left.items() if tags.get(CLUSTER_TAG) == "owned"] == [
        original["LoadBalancerArn"]
    ]
    assert len(left) == 2, "the NLB without this cluster's tag is left alone"
    assert applied.plan("default/dup")["ingress"] == [{"hostname": original["DNSName"]}]


# --- B: two NLBs deleted at the same time --------------------------------------------------


def test_concurrent_deletes_of_two_nlbs_leave_no_mtu_entry(
    lbctl: Lbctl, boto: Any, aws_cluster: SeededCluster
) -> None:
    """Two workers plan the deletes of two NLBs that share the path-MTU entry before either
    applies: each sees the other's client rules and keeps the entry for it. The one that
    revokes last must notice that no client rule uses the entry any more."""
    one = service("one", annotations=NLB, port_list=ports(("p", 80, 30101)))
    two = service("two", annotations=NLB, port_list=ports(("p", 80, 30102)))
    lbctl.apply_ok(one, two)
    assert ("0.0.0.0/0", MTU) in nlb_rules(boto, aws_cluster)
    provider = aws_provider(lbctl)
    nodes = [NodeView.from_dict(n) for n in aws_cluster.nodes]
    planned = [
        flow.plan_services(provider, [ServiceView.from_dict(s)], nodes, deleting=True)
        for s in (one, two)
    ]
    mtu_entry = f"{aws_cluster.node_security_group_id}/nlb/mtu/0.0.0.0/0"
    for each in planned:  # both planned first, as two workers would: each keeps the entry
        assert mtu_entry not in {c.name for c in each.plans[0].changes}
    for each in planned:
        assert flow.apply_plans(provider, each) == []
    assert nlb_rules(boto, aws_cluster) == []


def test_concurrent_creates_of_two_nlbs_both_get_their_rules(
    lbctl: Lbctl, boto: Any, aws_cluster: SeededCluster
) -> None:
    """Both plans write the path-MTU entry with their client rules in one call; the second
    call meets the entry the first wrote (EC2 refuses the whole call, moto the rules from
    that one on) and must still write its own client rules."""
    one = service("one", annotations=NLB, port_list=ports(("p", 80, 30101)))
    two = service("two", annotations=NLB, port_list=ports(("p", 80, 30102)))
    provider = aws_provider(lbctl)
    nodes = [NodeView.from_dict(n) for n in aws_cluster.nodes]
    planned = [flow.plan_services(provider, [ServiceView.from_dict(s)], nodes) for s in (one, two)]
    for each in planned:
        assert flow.apply_plans(provider, each) == []
    assert nlb_rules(boto, aws_cluster) == sorted(
        [("0.0.0.0/0", f"kubernetes.io/rule/nlb/client={lb_name(uid_of(s))}") for s in (one, two)]
        + [("0.0.0.0/0", MTU)]
    )
    assert lbctl.plan(one, two).changes("default/one") == []


def test_an_mtu_entry_still_used_by_another_nlb_stays(
    lbctl: Lbctl, boto: Any, aws_cluster: SeededCluster
) -> None:
    one = service("one", annotations=NLB, port_list=ports(("p", 80, 30101)))
    two = service("two", annotations=NLB, port_list=ports(("p", 80, 30102)))
    """The shared entry goes only with the last NLB that uses it: no second look at the
    node group takes it away from the NLB still there."""
    lbctl.apply_ok(one, two)
    lbctl.delete_ok(one)
    lb2 = lb_name(uid_of(two))
    assert nlb_rules(boto, aws_cluster) == [
        ("0.0.0.0/0", f"kubernetes.io/rule/nlb/client={lb2}"),
        ("0.0.0.0/0", MTU),
    ]


# --- C: target groups no listener points at ------------------------------------------------


def _stop_after_delete_load_balancer(boto: Any, lb: str) -> None:
    (found,) = nlbs_named(boto, lb)
    boto.elbv2.delete_load_balancer(LoadBalancerArn=found["LoadBalancerArn"])


def _stop_after_delete_listeners(boto: Any, lb: str) -> None:
    (found,) = nlbs_named(boto, lb)
    listeners = boto.elbv2.describe_listeners(LoadBalancerArn=found["LoadBalancerArn"])
    for listener in listeners["Listeners"]:
        boto.elbv2.delete_listener(ListenerArn=listener["ListenerArn"])


@pytest.mark.parametrize(
    "interrupted",
    [_stop_after_delete_load_balancer, _stop_after_delete_listeners],
    ids=["after-DeleteLoadBalancer", "after-DeleteListener"],
)
def test_delete_finds_the_target_groups_an_interrupted_delete_left(
    lbctl: Lbctl,
    boto: Any,
    aws_cluster: SeededCluster,
    interrupted: Callable[[Any, str], None],
) -> None:
    svc = service("web", annotations=NLB)
    lb = lb_name(uid_of(svc))
    lbctl.apply_ok(svc)
    ours = sorted(target_groups(boto))
    assert len(ours) == 2
    # Not ours although named like ours: another cluster's, and another Service's.
    prefix = ours[0][: -len("0123456789")]
    vpc = aws_cluster.vpc_id
    for name, tags in (
        (prefix + "aaaaaaaaaa", [{"Key": "kubernetes.io/cluster/other", "Value": "owned"}]),
        (
            prefix + "bbbbbbbbbb",
            [
                {"Key": CLUSTER_TAG, "Value": "owned"},
                {"Key": SERVICE_NAME_TAG, "Value": "default/web2"},
            ],
        ),
    ):
        boto.elbv2.create_target_group(
            Name=name, Protocol="TCP", Port=30999, VpcId=vpc, TargetType="instance", Tags=tags
        )
    interrupted(boto, lb)  # what a run killed between the two steps leaves

    lbctl.delete_ok(svc)
    assert nlbs_named(boto, lb) == []
    assert sorted(target_groups(boto)) == [prefix + "aaaaaaaaaa", prefix + "bbbbbbbbbb"]
    assert nlb_rules(boto, aws_cluster) == []


def test_a_group_still_in_use_is_left_for_the_next_pass(
    lbctl: Lbctl, boto: Any, aws_cluster: SeededCluster
) -> None:
    """Someone else's listener forwards to one of the Service's groups: the delete deletes
    the rest, leaves that group and its listener alone, and says it will come back."""
    svc = service("web", annotations=NLB)
    lbctl.apply_ok(svc)
    groups = target_groups(boto)
    borrowed = groups[min(groups)]
    subnets = sorted(aws_cluster.public_subnets.values())
    other = boto.elbv2.create_load_balancer(Name="not-lbctls", Type="network", Subnets=subnets)
    boto.elbv2.create_listener(
        LoadBalancerArn=other["LoadBalancers"][0]["LoadBalancerArn"],
        Protocol="TCP",
        Port=9000,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": borrowed["TargetGroupArn"]}],
    )

    result = lbctl.delete(svc)
    assert result.rc == 1
    assert "still in use" in result.plan()["errors"][0]["message"]
    assert list(target_groups(boto)) == [borrowed["TargetGroupName"]]
    assert [b["LoadBalancerName"] for b in nlbs_named(boto, "not-lbctls")] == ["not-lbctls"]


def test_apply_deletes_the_group_of_a_port_removed_by_an_interrupted_run(
    lbctl: Lbctl, boto: Any
) -> None:
    """A run that deleted the listener of a removed port and stopped before deleting its
    target group: the next apply deletes the group and keeps the rest."""
    svc = service("web", annotations=NLB)
    lb = lb_name(uid_of(svc))
    lbctl.apply_ok(svc)
    (found,) = nlbs_named(boto, lb)
    listeners = boto.elbv2.describe_listeners(LoadBalancerArn=found["LoadBalancerArn"])
    (https,) = [x for x in listeners["Listeners"] if x["Port"] == 443]
    boto.elbv2.delete_listener(ListenerArn=https["ListenerArn"])
    smaller = service("web", annotations=NLB, port_list=ports(("http", 80, 30080)))

    applied = lbctl.apply_ok(smaller)
    assert {(c["op"], c["kind"]) for c in applied.changes()} == {
        ("update", "aws:security-group-ingress"),  # the removed port's client rule
        ("delete", "aws:target-group"),
    }
    (kept,) = target_groups(boto).values()
    assert kept["Port"] == 30080
    assert lbctl.plan(smaller).changes() == []


def test_a_wanted_group_no_listener_points_at_yet_is_used_not_deleted(
    lbctl: Lbctl, boto: Any
) -> None:
    """A run that created a target group and stopped before creating its listener."""
    svc = service("web", annotations=NLB)
    lb = lb_name(uid_of(svc))
    lbctl.apply_ok(svc)
    groups = target_groups(boto)
    (found,) = nlbs_named(boto, lb)
    for listener in boto.elbv2.describe_listeners(LoadBalancerArn=found["LoadBalancerArn"])[
        "Listeners"
    ]:
        boto.elbv2.delete_listener(ListenerArn=listener["ListenerArn"])

    applied = lbctl.apply_ok(svc)
    assert {(c["op"], c["kind"]) for c in applied.changes()} == {("create", "aws:listener")}
    assert target_groups(boto).keys() == groups.keys()
    listeners = boto.elbv2.describe_listeners(LoadBalancerArn=found["LoadBalancerArn"])
    assert sorted(
        x["DefaultActions"][0]["TargetGroupArn"] for x in listeners["Listeners"]
    ) == sorted(g["TargetGroupArn"] for g in groups.values())
    assert lbctl.plan(svc).changes() == []


# --- the writes of creating and deleting an NLB --------------------------------------------


def writes(calls: dict[str, int]) -> dict[str, int]:
    reads = ("Describe", "Get", "List")
    return {op: n for op, n in calls.items() if not op.split(":", 1)[1].startswith(reads)}


def test_nlb_create_and_delete_writes(lbctl: Lbctl, boto: Any, aws_cluster: SeededCluster) -> None:
    """Two ports. The node group's client rules and its path-MTU entry are written in one
    call; the delete leaves the listeners to DeleteLoadBalancer and deletes the target
    groups after it (moto refuses to delete a group a listener still uses)."""
    svc = service("web", annotations=NLB)
    created = lbctl.apply_ok(svc)
    assert writes(created.calls) == {
        "ec2:AuthorizeSecurityGroupIngress": 1,
        "elbv2:CreateListener": 2,
        "elbv2:CreateLoadBalancer": 1,
        "elbv2:CreateTargetGroup": 2,
        "elbv2:RegisterTargets": 2,
    }
    assert len(nlb_rules(boto, aws_cluster)) == 3  # two client rules, one MTU entry

    deleted = lbctl.delete_ok(svc)
    assert writes(deleted.calls) == {
        "ec2:RevokeSecurityGroupIngress": 1,
        "elbv2:DeleteLoadBalancer": 1,
        "elbv2:DeleteTargetGroup": 2,
    }
    # The node group is read once: nothing was kept for another NLB, so no second look.
    assert deleted.calls["ec2:DescribeSecurityGroups"] == 1
    assert nlbs_named(boto, lb_name(uid_of(svc))) == []
    assert target_groups(boto) == {}
    assert nlb_rules(boto, aws_cluster) == []
