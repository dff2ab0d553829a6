"""Node sync reads only what registrations need and writes only registrations."""

from __future__ import annotations

from typing import Any

from lbctl import flow
from lbctl.calls import CallCounter
from lbctl.model import NodeView, ServiceView
from lbctl.sandbox.aws import SeededCluster
from tests.aws.helpers import Lbctl, ann, aws_provider, lb_name, ports, service, uid_of


def test_a_node_change_touches_only_registrations(
    lbctl: Lbctl, aws_cluster: SeededCluster, boto: Any
) -> None:
    services = [
        service("c1", port_list=ports(("p", 80, 30101))),
        service("c2", port_list=ports(("p", 80, 30102))),
        service("n1", annotations={ann("type"): "nlb"}, port_list=ports(("p", 80, 30103))),
    ]
    lbctl.apply_ok(*services)
    counter = CallCounter()
    provider = aws_provider(lbctl, counter)
    views = [ServiceView.from_dict(s) for s in services]
    nodes = [NodeView.from_dict(n) for n in aws_cluster.nodes[:2]]  # one node gone

    planned = flow.plan_services(provider, views, nodes, kinds=provider.registration_kinds)
    assert {(c.kind, c.op.value) for p in planned.plans for c in p.changes} == {
        ("aws:elb-instances", "update"),
        ("aws:targets", "update"),
    }
    reads = counter.by_operation()
    # One batched describe per kind (the NLB's target groups by the names the Service
    # gives them: no DescribeListeners per NLB); per target group only its health (the API
    # has no batch form). No attributes, policies, security groups or subnets.
    assert reads == {
        "elb:DescribeLoadBalancers": 1,
        "elb:DescribeTags": 1,
        "elbv2:DescribeLoadBalancers": 1,
        "elbv2:DescribeTargetGroups": 1,
        "elbv2:DescribeTags": 1,
        "elbv2:DescribeTargetHealth": 1,
        "ec2:DescribeInstances": 1,
    }, reads
    before = counter.snapshot()
    flow.apply_plans(provider, planned)
    assert counter.by_operation(since=before) == {
        "elb:DeregisterInstancesFromLoadBalancer": 2,
        "elbv2:DeregisterTargets": 1,
    }
    gone = aws_cluster.nodes[2]["spec"]["providerID"].rsplit("/", 1)[1]
    for svc in services[:2]:
        desc = boto.elb.describe_load_balancers(LoadBalancerNames=[lb_name(uid_of(svc))])
        ids = {i["InstanceId"] for i in desc["LoadBalancerDescriptions"][0]["Instances"]}
        assert gone not in ids and len(ids) == 2
    # The full plan agrees: nothing else is out of sync.
    assert not lbctl.plan(*services, nodes=lbctl.write_nodes(aws_cluster.nodes[:2])).changes(
        "default/c1"
    )
    lbctl.delete_ok(*services)
    assert boto.elb.describe_load_balancers()["LoadBalancerDescriptions"] == []
    assert boto.elbv2.describe_load_balancers()["LoadBalancers"] == []
    assert boto.elbv2.describe_target_groups()["TargetGroups"] == []


def test_node_sync_reads_the_listeners_of_an_nlb_whose_change_is_not_applied_yet(
    lbctl: Lbctl, aws_cluster: SeededCluster
) -> None:
    """The Service's nodePort changed and no reconcile has run: no group has the name the
    new port gives, so the NLB's groups are found through its listeners (the groups that
    serve traffic now), as a full observe finds them."""
    svc = service("n1", annotations={ann("type"): "nlb"}, port_list=ports(("p", 80, 30103)))
    lbctl.apply_ok(svc)
    changed = service("n1", annotations={ann("type"): "nlb"}, port_list=ports(("p", 80, 30104)))
    counter = CallCounter()
    provider = aws_provider(lbctl, counter)
    nodes = [NodeView.from_dict(n) for n in aws_cluster.nodes[:2]]
    observed = provider.observe(
        [ServiceView.from_dict(changed)],
        nodes,
        wanted={"default/n1": True},
        kinds=provider.registration_kinds,
    )
    assert counter.by_operation()["elbv2:DescribeListeners"] == 1
    (targets,) = [r for r in observed.owned("default/n1") if r.kind == "aws:targets"]
    assert targets.name == "80/TCP" and targets.props["Port"] == 30103
    assert len(targets.props["Targets"]) == 3

    # Applying that node sync registers nothing into a group that does not exist yet (it
    # used to fail on the missing group); the Service's reconcile then does it all.
    planned = flow.plan_services(
        provider, [ServiceView.from_dict(changed)], nodes, kinds=provider.registration_kinds
    )
    before = counter.snapshot()
    flow.apply_plans(provider, planned)
    assert counter.by_operation(since=before) == {}
    assert planned.plans[0].errors == []
    applied = lbctl.apply_ok(changed)
    assert applied.plan("default/n1")["errors"] == []
    lbctl.delete_ok(changed)
