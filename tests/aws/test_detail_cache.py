"""The provider's detail cache (providers/aws/cache.py) across the controller's passes:
one provider, several observes, real boto3 against moto."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from lbctl import flow
from lbctl.calls import CallCounter
from lbctl.errors import InvalidInput
from lbctl.model import NodeView, ServiceView
from lbctl.provider import ProviderConfig
from lbctl.sandbox.aws import SeededCluster
from providers.aws import config as aws_config
from providers.aws.cache import CLB, DEFAULT_REFRESH, NLB, DetailCache
from providers.aws.provider import AWSProvider
from tests.aws.helpers import CLUSTER_ID, Lbctl, ann, lb_name, ports, service, uid_of

DETAILS = (
    "elb:DescribeLoadBalancerAttributes",
    "elbv2:DescribeLoadBalancerAttributes",
    "elbv2:DescribeListeners",
    "elbv2:DescribeTargetHealth",
)


def _services() -> list[dict[str, Any]]:
    nlb = {ann("type"): "nlb"}
    return [
        service("c1", port_list=ports(("p", 80, 30201))),
        service("c2", port_list=ports(("p", 80, 30202))),
        service("n1", annotations=nlb, port_list=ports(("p", 80, 30203))),
        service("n2", annotations=nlb, port_list=ports(("p", 80, 30204))),
    ]


def _pass(
    provider: AWSProvider, counter: CallCounter, views: list[ServiceView], nodes: Any, **scope: Any
) -> tuple[Any, dict[str, int]]:
    before = counter.snapshot()
    planned = flow.plan_services(provider, views, nodes, **scope)
    return planned, counter.by_operation(since=before)


def _changes(planned: Any) -> set[tuple[str, str, str]]:
    return {(p.service, c.kind, c.op.value) for p in planned.plans for c in p.changes}


def _detail_reads(reads: dict[str, int]) -> int:
    """Balancers whose details were read: CLB attributes + NLB listeners."""
    return reads.get("elb:DescribeLoadBalancerAttributes", 0) + reads.get(
        "elbv2:DescribeListeners", 0
    )


def test_details_are_cached_across_passes(
    lbctl: Lbctl, aws_cluster: SeededCluster, boto: Any
) -> None:
    counter = CallCounter()
    refresh = 1
    provider = AWSProvider(
        ProviderConfig(cluster_id=CLUSTER_ID, cloud_config=lbctl.cloud_config, counter=counter),
        detail_refresh=refresh,
    )
    services = _services()
    views = [ServiceView.from_dict(s) for s in services]
    nodes = [NodeView.from_dict(n) for n in aws_cluster.nodes[:2]]
    names = {s["metadata"]["name"]: lb_name(uid_of(s)) for s in services}

    planned, _ = _pass(provider, counter, views, nodes)
    assert not flow.apply_plans(provider, planned)
    # Every balancer was written: the next pass reads all of them fresh.
    planned, reads = _pass(provider, counter, views, nodes)
    assert not _changes(planned)
    assert _detail_reads(reads) == 4, reads
    assert reads["elbv2:DescribeTargetHealth"] == 2

    # A no-op pass on a warm provider: at most `refresh` balancers' details are re-read.
    planned, reads = _pass(provider, counter, views, nodes)
    assert not _changes(planned)
    assert _detail_reads(reads) <= refresh, reads
    assert reads.get("elbv2:DescribeTargetHealth", 0) <= 1, reads

    # Drift made behind lbctl's back is found within ceil(N / refresh) passes, repaired.
    boto.elb.modify_load_balancer_attributes(
        LoadBalancerName=names["c1"],
        LoadBalancerAttributes={"ConnectionSettings": {"IdleTimeout": 120}},
    )
    for _ in range(math.ceil(4 / refresh)):
        planned, reads = _pass(provider, counter, views, nodes)
        assert _detail_reads(reads) <= refresh, reads
        if _changes(planned):
            break
    assert _changes(planned) == {("default/c1", "aws:elb-attributes", "update")}
    assert not flow.apply_plans(provider, planned)
    attrs = boto.elb.describe_load_balancer_attributes(LoadBalancerName=names["c1"])
    assert attrs["LoadBalancerAttributes"]["ConnectionSettings"]["IdleTimeout"] == 60
    # lbctl's write invalidated the entry: the next pass reads it fresh.
    assert (CLB, names["c1"]) not in provider.cache.entries
    planned, reads = _pass(provider, counter, views, nodes)
    assert not _changes(planned)
    assert reads.get("elb:DescribeLoadBalancerAttributes", 0) >= 1
    assert (CLB, names["c1"]) in provider.cache.entries

    # A balancer re-created outside lbctl (same name and tags, a new ARN) is read fresh.
    (old,) = boto.elbv2.describe_load_balancers(Names=[names["n1"]])["LoadBalancers"]
    tags = boto.elbv2.describe_tags(ResourceArns=[old["LoadBalancerArn"]])
    for listener in boto.elbv2.describe_listeners(LoadBalancerArn=old["LoadBalancerArn"])[
        "Listeners"
    ]:
        boto.elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
    boto.elbv2.delete_load_balancer(LoadBalancerArn=old["LoadBalancerArn"])
    boto.elbv2.create_load_balancer(
        Name=names["n1"],
        Type="network",
        Subnets=[z["SubnetId"] for z in old["AvailabilityZones"]],
        Tags=tags["TagDescriptions"][0]["Tags"],
    )
    planned, reads = _pass(provider, counter, views, nodes)
    assert ("default/n1", "aws:listener", "create") in _changes(planned), _changes(planned)
    assert reads.get("elbv2:DescribeListeners", 0) >= 1
    assert not flow.apply_plans(provider, planned)
    planned, reads = _pass(provider, counter, views, nodes)  # n1 read fresh again
    assert not _changes(planned)

    # Node sync on a warm provider: no DescribeTargetHealth, the new node registered in
    # every group (and every CLB).
    more = [NodeView.from_dict(n) for n in aws_cluster.nodes[:3]]
    planned, reads = _pass(provider, counter, views, more, kinds=provider.registration_kinds)
    assert "elbv2:DescribeTargetHealth" not in reads, reads
    assert _detail_reads(reads) == 0, reads
    before = counter.snapshot()
    assert not flow.apply_plans(provider, planned)
    assert counter.by_operation(since=before) == {
        "elb:RegisterInstancesWithLoadBalancer": 2,
        "elbv2:RegisterTargets": 2,
    }
    new = aws_cluster.nodes[2]["spec"]["providerID"].rsplit("/", 1)[1]
    for name in ("n1", "n2"):
        (nlb,) = boto.elbv2.describe_load_balancers(Names=[names[name]])["LoadBalancers"]
        for group in boto.elbv2.describe_target_groups(LoadBalancerArn=nlb["LoadBalancerArn"])[
            "TargetGroups"
        ]:
            health = boto.elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
            assert new in {d["Target"]["Id"] for d in health["TargetHealthDescriptions"]}
    for name in ("c1", "c2"):
        (desc,) = boto.elb.describe_load_balancers(LoadBalancerNames=[names[name]])[
            "LoadBalancerDescriptions"
        ]
        assert new in {i["InstanceId"] for i in desc["Instances"]}
    assert (NLB, names["n2"]) not in provider.cache.entries  # registrations invalidate

    planned, _ = _pass(provider, counter, views, more)
    assert not _changes(planned)
    lbctl.delete_ok(*services)


def test_deregistering_a_target_that_is_not_registered_succeeds(
    lbctl: Lbctl, aws_cluster: SeededCluster, boto: Any
) -> None:
    """A stale cache of registrations cannot fail a node sync: AWS deregisters a target
    that is not registered successfully, and lbctl makes moto (InvalidTarget) agree."""
    counter = CallCounter()
    provider = AWSProvider(
        ProviderConfig(cluster_id=CLUSTER_ID, cloud_config=lbctl.cloud_config, counter=counter)
    )
    svc = _services()[2]
    views = [ServiceView.from_dict(svc)]
    nodes = [NodeView.from_dict(n) for n in aws_cluster.nodes[:3]]
    planned, _ = _pass(provider, counter, views, nodes)
    assert not flow.apply_plans(provider, planned)
    _pass(provider, counter, views, nodes)  # warm
    gone = aws_cluster.nodes[2]["spec"]["providerID"].rsplit("/", 1)[1]
    (nlb,) = boto.elbv2.describe_load_balancers(Names=[lb_name(uid_of(svc))])["LoadBalancers"]
    (group,) = boto.elbv2.describe_target_groups(LoadBalancerArn=nlb["LoadBalancerArn"])[
        "TargetGroups"
    ]
    boto.elbv2.deregister_targets(TargetGroupArn=group["TargetGroupArn"], Targets=[{"Id": gone}])
    planned, reads = _pass(provider, counter, views, nodes[:2], kinds=provider.registration_kinds)
    assert "elbv2:DescribeTargetHealth" not in reads
    assert not flow.apply_plans(provider, planned)
    assert planned.plans[0].errors == []
    health = boto.elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
    assert gone not in {d["Target"]["Id"] for d in health["TargetHealthDescriptions"]}
    lbctl.delete_ok(svc)


def test_the_cache_refreshes_the_oldest_entries_round_robin() -> None:
    cache = DetailCache(refresh=2)
    present = {(CLB, f"lb{i}"): f"fp{i}" for i in range(5)}
    cache.begin(present)
    for kind, name in present:
        assert cache.get(kind, name, present[(kind, name)]) is None  # new: read
        cache.put(kind, name, present[(kind, name)], {"n": name}, fresh=True)
    seen: list[set[str]] = []
    for _ in range(3):  # ceil(5 / 2) passes re-read every entry once
        cache.begin(present)
        due = {n for k, n in present if cache.get(k, n, present[(k, n)]) is None}
        assert len(due) <= 2
        for name in due:
            cache.put(CLB, name, present[(CLB, name)], {"n": name}, fresh=True)
        seen.append(due)
    assert set().union(*seen) == {f"lb{i}" for i in range(5)}
    # A changed description, and a write by lbctl, are read at once.
    cache.begin({**present, (CLB, "lb0"): "other"}, refresh=False)
    assert cache.get(CLB, "lb0", "other") is None
    assert cache.get(CLB, "lb1", "fp1") is not None
    cache.invalidate("lb1")
    assert cache.get(CLB, "lb1", "fp1") is None
    # What an observe begun before lbctl's write read is not kept.
    cache.begin(present, refresh=False)
    cache.invalidate("lb2")
    cache.put(CLB, "lb2", "fp2", {}, fresh=True)
    assert (CLB, "lb2") not in cache.entries


def test_detail_refresh_comes_from_the_cloud_config(tmp_path: Path) -> None:
    path = tmp_path / "cloud.conf"
    path.write_text("[Global]\nKubernetesClusterID = c\nDetailRefreshPerSync = 3\n")
    assert aws_config.load(path, cluster_id="").detail_refresh == 3
    assert aws_config.load(None, cluster_id="c").detail_refresh == DEFAULT_REFRESH
    path.write_text("[Global]\nDetailRefreshPerSync = 0\n")
    with pytest.raises(InvalidInput):
        aws_config.load(path, cluster_id="c")
