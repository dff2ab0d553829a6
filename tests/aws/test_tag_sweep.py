"""The tag sweep (`tag:GetResources`) and its fallbacks, against moto.

A delete finds the Service's balancers and target groups by their service-name tag. The
tagging API is eventually consistent, so a balancer the sweep does not list (yet) must
still be found by name. moto indexes at once; "not indexed yet" is made here by taking
the service-name tag off the balancer, which hides it from the sweep and nothing else:
ownership (the cluster tag) still says it is ours.
"""

from __future__ import annotations

from typing import Any

from lbctl import flow
from lbctl.calls import CallCounter
from lbctl.model import NodeView, ServiceView
from lbctl.provider import ProviderConfig, load_provider
from lbctl.sandbox.aws import SeededCluster
from tests.aws.helpers import (
    CLUSTER_ID,
    CLUSTER_TAG,
    SERVICE_NAME_TAG,
    Lbctl,
    ann,
    aws_provider,
    lb_name,
    service,
    uid_of,
)

NLB = {ann("type"): "nlb"}


def reads(calls: dict[str, int]) -> dict[str, int]:
    prefixes = ("Describe", "Get", "List")
    return {op: n for op, n in calls.items() if op.split(":", 1)[1].startswith(prefixes)}


def nlbs_named(boto: Any, name: str) -> list[dict[str, Any]]:
    pages = boto.elbv2.get_paginator("describe_load_balancers").paginate()
    return [b for page in pages for b in page["LoadBalancers"] if b["LoadBalancerName"] == name]


def clbs(boto: Any) -> list[str]:
    return [
        d["LoadBalancerName"]
        for d in boto.elb.describe_load_balancers()["LoadBalancerDescriptions"]
    ]


def target_groups(boto: Any) -> list[str]:
    return [g["TargetGroupName"] for g in boto.elbv2.describe_target_groups()["TargetGroups"]]


def node_rules(boto: Any, cluster: SeededCluster) -> list[dict[str, Any]]:
    (group,) = boto.ec2.describe_security_groups(GroupIds=[cluster.node_security_group_id])[
        "SecurityGroups"
    ]
    return [p for p in group["IpPermissions"] if p["IpProtocol"] != "-1" or p["UserIdGroupPairs"]]


# --- the sweep finds them: no lookup by name ------------------------------------------------


def test_delete_clb_reads_the_sweep_the_clb_and_the_groups(lbctl: Lbctl, boto: Any) -> None:
    svc = service("web")
    lbctl.apply_ok(svc)
    deleted = lbctl.delete_ok(svc)
    assert reads(deleted.calls) == {
        "tag:GetResources": 1,
        "elb:DescribeLoadBalancers": 1,  # its description: the VPC, the plan's before
        "ec2:DescribeSecurityGroups": 1,
    }
    assert clbs(boto) == []


def test_delete_nlb_reads_the_sweep_its_groups_and_the_security_groups(
    lbctl: Lbctl, boto: Any, aws_cluster: SeededCluster
) -> None:
    svc = service("web", annotations=NLB)
    lbctl.apply_ok(svc)
    deleted = lbctl.delete_ok(svc)
    assert reads(deleted.calls) == {
        "tag:GetResources": 1,
        "elbv2:DescribeTargetGroups": 1,  # by LoadBalancerArn: consistent, new groups too
        "ec2:DescribeSecurityGroups": 1,
    }
    assert nlbs_named(boto, lb_name(uid_of(svc))) == []
    assert target_groups(boto) == []
    assert node_rules(boto, aws_cluster) == []


def test_a_new_service_costs_no_sweep(lbctl: Lbctl) -> None:
    created = lbctl.apply_ok(service("web", annotations=NLB))
    assert "tag:GetResources" not in created.calls
    assert reads(created.calls)["elbv2:DescribeLoadBalancers"] == 1


# --- the sweep does not list them (yet): found by name -------------------------------------


def test_delete_finds_a_clb_the_sweep_does_not_list(lbctl: Lbctl, boto: Any) -> None:
    svc = service("web")
    lb = lb_name(uid_of(svc))
    lbctl.apply_ok(svc)
    boto.elb.remove_tags(LoadBalancerNames=[lb], Tags=[{"Key": SERVICE_NAME_TAG}])

    deleted = lbctl.delete_ok(svc)
    assert deleted.calls["tag:GetResources"] == 1
    assert deleted.calls["elb:DescribeLoadBalancers"] == 1
    assert deleted.calls["elbv2:DescribeLoadBalancers"] == 1  # the other kind, by name too
    assert deleted.calls["elb:DescribeTags"] == 1  # ownership, which the sweep did not give
    assert ("delete", "aws:elb") in {(c["op"], c["kind"]) for c in deleted.changes()}
    assert clbs(boto) == []


def test_delete_finds_an_nlb_the_sweep_does_not_list(
    lbctl: Lbctl, boto: Any, aws_cluster: SeededCluster
) -> None:
    svc = service("web", annotations=NLB)
    lb = lb_name(uid_of(svc))
    lbctl.apply_ok(svc)
    (found,) = nlbs_named(boto, lb)
    boto.elbv2.remove_tags(ResourceArns=[found["LoadBalancerArn"]], TagKeys=[SERVICE_NAME_TAG])

    deleted = lbctl.delete_ok(svc)
    assert deleted.calls["elbv2:DescribeLoadBalancers"] == 1
    assert ("delete", "aws:nlb") in {(c["op"], c["kind"]) for c in deleted.changes()}
    assert nlbs_named(boto, lb) == []
    assert target_groups(boto) == []  # its groups: from the NLB, with the sweep's tags
    assert node_rules(boto, aws_cluster) == []


def test_a_balancer_without_the_cluster_tag_is_found_and_left_alone(
    lbctl: Lbctl, boto: Any
) -> None:
    """Not ours: found by name (the sweep lists it with another cluster's tag), reported,
    not deleted."""
    svc = service("web")
    lb = lb_name(uid_of(svc))
    lbctl.apply_ok(svc)
    boto.elb.remove_tags(LoadBalancerNames=[lb], Tags=[{"Key": CLUSTER_TAG}])
    boto.elb.add_tags(
        LoadBalancerNames=[lb], Tags=[{"Key": "kubernetes.io/cluster/other", "Value": "owned"}]
    )

    lbctl.delete(svc)
    assert clbs(boto) == [lb]


# --- an NLB being deleted without groups and without a configured VPC --------------------


def test_delete_of_an_nlb_without_groups_still_finds_its_vpc(
    lbctl: Lbctl, boto: Any, aws_cluster: SeededCluster
) -> None:
    """The VPC (where its node rules are) comes from the NLB's groups; with none left (a
    run stopped after deleting them), the NLB is described."""
    svc = service("web", annotations=NLB)
    lb = lb_name(uid_of(svc))
    lbctl.apply_ok(svc)
    (found,) = nlbs_named(boto, lb)
    arn = found["LoadBalancerArn"]
    for listener in boto.elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]:
        boto.elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
    for group in boto.elbv2.describe_target_groups()["TargetGroups"]:
        boto.elbv2.delete_target_group(TargetGroupArn=group["TargetGroupArn"])
    assert node_rules(boto, aws_cluster) != []

    counter = CallCounter()
    provider = load_provider("aws", ProviderConfig(cluster_id=CLUSTER_ID, counter=counter))
    planned = flow.plan_services(provider, [ServiceView.from_dict(svc)], [], deleting=True)
    assert flow.apply_plans(provider, planned) == []
    assert counter.by_operation()["elbv2:DescribeLoadBalancers"] == 1  # by ARN, for the VPC
    assert nlbs_named(boto, lb) == []
    assert node_rules(boto, aws_cluster) == []


# --- a second NLB of one name, deleted with the Service -----------------------------------


def test_delete_removes_a_duplicate_nlb_too(lbctl: Lbctl, boto: Any) -> None:
    svc = service("dup", annotations=NLB)
    lb = lb_name(uid_of(svc))
    lbctl.apply_ok(svc)
    (original,) = nlbs_named(boto, lb)
    subnets = [z["SubnetId"] for z in original["AvailabilityZones"]]
    boto.elbv2.create_load_balancer(
        Name=lb,
        Type="network",
        Subnets=subnets,
        Tags=[
            {"Key": CLUSTER_TAG, "Value": "owned"},
            {"Key": SERVICE_NAME_TAG, "Value": "default/dup"},
        ],
    )
    assert len(nlbs_named(boto, lb)) == 2

    lbctl.delete_ok(svc)
    assert nlbs_named(boto, lb) == []
    assert target_groups(boto) == []


def test_batched_deletes_sweep_once(lbctl: Lbctl, boto: Any, aws_cluster: SeededCluster) -> None:
    services = [service(f"s{i}", annotations=NLB if i % 2 else {}) for i in range(4)]
    lbctl.apply_ok(*services)
    counter = CallCounter()
    provider = aws_provider(lbctl, counter)
    views = [ServiceView.from_dict(s) for s in services]
    nodes = [NodeView.from_dict(n) for n in aws_cluster.nodes]
    planned = flow.plan_services(provider, views, nodes, deleting=True)
    assert counter.by_operation()["tag:GetResources"] == 1
    assert "elb:DescribeTags" not in counter.by_operation()
    assert flow.apply_plans(provider, planned) == []
    assert clbs(boto) == []
    assert boto.elbv2.describe_load_balancers()["LoadBalancers"] == []
    assert target_groups(boto) == []


def test_delete_after_a_cut_short_type_switch_finds_the_new_unindexed_balancer(
    lbctl: Lbctl, boto: Any, aws_cluster: SeededCluster
) -> None:
    """nlb -> classic stopped after the CLB was made and before the NLB went; the delete
    follows at once, before the tagging API lists the new CLB (no service-name tag here).
    The sweep finds the NLB; the CLB the Service now asks for is looked up by name."""
    svc = service("web", annotations=NLB)
    lb = lb_name(uid_of(svc))
    lbctl.apply_ok(svc)
    boto.elb.create_load_balancer(
        LoadBalancerName=lb,
        Listeners=[{"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": 30080}],
        Subnets=sorted(aws_cluster.public_subnets.values())[:1],
        Tags=[{"Key": CLUSTER_TAG, "Value": "owned"}],
    )
    switched = service("web")  # the classic ELB the switch was making

    deleted = lbctl.delete_ok(switched)
    assert deleted.calls["tag:GetResources"] == 1
    deletes = {(c["op"], c["kind"]) for c in deleted.changes()}
    assert {("delete", "aws:elb"), ("delete", "aws:nlb")} <= deletes, deleted.describe()
    assert clbs(boto) == []
    assert nlbs_named(boto, lb) == []
    assert target_groups(boto) == []
    assert node_rules(boto, aws_cluster) == []
