"""A flaky cloud: lbctl converges through throttling, 5xx, resets and lost answers, and
leaves neither duplicates nor leftovers."""

from __future__ import annotations

from typing import Any

import pytest

from lbctl.sandbox.aws import MotoServer, SeededCluster
from lbctl.sandbox.faults import Fault, FaultProxy, FaultRates
from tests.aws.helpers import Lbctl, Result, ann, lb_name, ports, service, uid_of

MAX_RUNS = 12


@pytest.fixture
def proxy(moto_server: MotoServer, aws_cluster: SeededCluster, monkeypatch: Any) -> Any:
    with FaultProxy(moto_server.endpoint, FaultRates.failing(0.3), seed=7) as running:
        monkeypatch.setenv("AWS_ENDPOINT_URL", running.url)
        yield running


def until_ok(run: Any) -> list[Result]:
    results = []
    for _ in range(MAX_RUNS):
        results.append(run())
        if results[-1].rc == 0:
            return results
    raise AssertionError(f"no convergence in {MAX_RUNS} runs:\n{results[-1].describe()}")


def test_converges_through_a_flaky_cloud_without_duplicates_or_leftovers(
    lbctl: Lbctl, proxy: FaultProxy, boto: Any, aws_cluster: SeededCluster
) -> None:
    services = [service(f"c{i}", port_list=ports(("p", 80, 30100 + i))) for i in range(5)]
    services += [
        service(f"n{i}", annotations={ann("type"): "nlb"}, port_list=ports(("p", 80, 30200 + i)))
        for i in range(5)
    ]
    until_ok(lambda: lbctl.apply(*services))
    assert sum(proxy.injected.values()) > 20, proxy.injected
    assert {f.value for f in Fault} - {"latency"} <= set(proxy.injected)

    # Without faults, one more pass repairs what a lost answer left (moto, unlike AWS,
    # makes a second NLB when a create is retried); after it, another pass writes nothing.
    proxy.set_rates(FaultRates())
    assert lbctl.apply(*services).rc == 0
    settled = lbctl.apply(*services)
    assert settled.rc == 0 and settled.writes == 0, settled.describe()
    for svc in services:
        assert settled.plan(f"default/{svc['metadata']['name']}")["ingress"]

    # Read back directly from moto (boto's clients do not go through the proxy).
    classic = boto.elb.describe_load_balancers()["LoadBalancerDescriptions"]
    network = boto.elbv2.describe_load_balancers()["LoadBalancers"]
    names = sorted(
        [d["LoadBalancerName"] for d in classic] + [d["LoadBalancerName"] for d in network]
    )
    assert names == sorted(lb_name(uid_of(s)) for s in services), "one balancer each"
    in_vpc = [{"Name": "vpc-id", "Values": [aws_cluster.vpc_id]}]
    groups = [
        g["GroupName"] for g in boto.ec2.describe_security_groups(Filters=in_vpc)["SecurityGroups"]
    ]
    assert len(groups) == len(set(groups)), "no duplicate security group"
    for balancer in network:
        listeners = boto.elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])
        assert [x["Port"] for x in listeners["Listeners"]] == [80], "one listener per port"
    assert len(boto.elbv2.describe_target_groups()["TargetGroups"]) == 5

    proxy.set_rates(FaultRates.failing(0.3))
    until_ok(lambda: lbctl.delete(*services))
    assert boto.elb.describe_load_balancers()["LoadBalancerDescriptions"] == []
    assert boto.elbv2.describe_load_balancers()["LoadBalancers"] == []
    assert boto.elbv2.describe_target_groups()["TargetGroups"] == []
    left = [g["GroupName"] for g in boto.ec2.describe_security_groups()["SecurityGroups"]]
    assert not [g for g in left if g.startswith("k8s-elb-")]
    node = boto.ec2.describe_security_groups(GroupIds=[aws_cluster.node_security_group_id])[
        "SecurityGroups"
    ][0]
    assert node["IpPermissions"] == []
