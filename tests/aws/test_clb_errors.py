"""Invalid input, name clashes with resources lbctl does not own, and Services lbctl skips.

Rules under test (DESIGN.md safety rules 1 and 2):
- invalid input never touches the cloud: exit 1, the message names the annotation or field
  and the value, the JSON document carries the errors and no changes, zero cloud calls;
- nothing is modified or deleted that does not carry this cluster's owned tag;
- a Service that no longer wants a classic ELB (ClusterIP, nlb-ip, being deleted) has what
  it owns deleted, whatever its current annotations say (upstream pain point P2).
"""

from __future__ import annotations

from typing import Any

import pytest

from lbctl.sandbox.aws import SeededCluster
from tests.aws.conftest import Sandbox
from tests.aws.helpers import (
    CLUSTER_TAG,
    SERVICE_NAME_TAG,
    SOURCE_RANGES_ANNOTATION,
    Cloud,
    Lbctl,
    Result,
    ann,
    lb_name,
    ports,
    service,
    sg_name,
    tags,
    uid_of,
)


def _assert_rejected_without_cloud_calls(result: Result, cloud: Cloud) -> list[dict[str, Any]]:
    """Exit 1, errors and no changes in the document, not one cloud call; returns the errors."""
    assert result.rc == 1, result.describe()
    (plan,) = result.plans
    assert plan["changes"] == []
    assert plan["errors"], result.describe()
    assert (result.reads, result.writes) == (0, 0), result.err
    assert cloud.balancer_names() == []
    assert cloud.k8s_elb_groups() == []
    errors: list[dict[str, Any]] = plan["errors"]
    return errors


# (annotations, spec overrides) -> what the error must name: ("annotation"|"field", key, value)
INVALID: dict[str, tuple[dict[str, str], dict[str, Any], tuple[str, str, Any]]] = {
    "healthcheck-interval-not-a-number": (
        {ann("healthcheck-interval"): "abc"},
        {},
        ("annotation", ann("healthcheck-interval"), "abc"),
    ),
    "healthcheck-interval-below-5": (
        {ann("healthcheck-interval"): "4"},
        {},
        ("annotation", ann("healthcheck-interval"), "4"),
    ),
    "healthy-threshold-below-2": (
        {ann("healthcheck-healthy-threshold"): "1"},
        {},
        ("annotation", ann("healthcheck-healthy-threshold"), "1"),
    ),
    "unhealthy-threshold-below-2": (
        {ann("healthcheck-unhealthy-threshold"): "0"},
        {},
        ("annotation", ann("healthcheck-unhealthy-threshold"), "0"),
    ),
    "healthcheck-timeout-below-2": (
        {ann("healthcheck-timeout"): "1"},
        {},
        ("annotation", ann("healthcheck-timeout"), "1"),
    ),
    "healthcheck-port-not-a-port": (
        {ann("healthcheck-port"): "http"},
        {},
        ("annotation", ann("healthcheck-port"), "http"),
    ),
    "healthcheck-protocol-udp": (
        {ann("healthcheck-protocol"): "UDP"},
        {},
        ("annotation", ann("healthcheck-protocol"), "UDP"),
    ),
    "proxy-protocol-yes": (
        {ann("proxy-protocol"): "yes"},
        {},
        ("annotation", ann("proxy-protocol"), "yes"),
    ),
    "backend-protocol-grpc": (
        {ann("backend-protocol"): "grpc"},
        {},
        ("annotation", ann("backend-protocol"), "grpc"),
    ),
    "type-typo": ({ann("type"): "nlb2"}, {}, ("annotation", ann("type"), "nlb2")),
    "cross-zone-not-a-bool": (
        {ann("cross-zone-load-balancing-enabled"): "yes"},
        {},
        ("annotation", ann("cross-zone-load-balancing-enabled"), "yes"),
    ),
    "draining-not-a-bool": (
        {ann("connection-draining-enabled"): "on"},
        {},
        ("annotation", ann("connection-draining-enabled"), "on"),
    ),
    "idle-timeout-out-of-range": (
        {ann("connection-idle-timeout"): "5000"},
        {},
        ("annotation", ann("connection-idle-timeout"), "5000"),
    ),
    "empty-subnets": ({ann("subnets"): " , "}, {}, ("annotation", ann("subnets"), " , ")),
    "target-group-attributes-on-clb": (
        {ann("target-group-attributes"): "preserve_client_ip.enabled=true"},
        {},
        ("annotation", ann("target-group-attributes"), "preserve_client_ip.enabled=true"),
    ),
    "source-ranges-annotation-bad": (
        {SOURCE_RANGES_ANNOTATION: "10.0.0.0/8,not-a-cidr"},
        {},
        ("annotation", SOURCE_RANGES_ANNOTATION, "not-a-cidr"),
    ),
    "source-range-spec-bad": (
        {},
        {"loadBalancerSourceRanges": ["10.0.0.0/8", "10.0.0.0/33"]},
        ("field", "spec.loadBalancerSourceRanges[1]", "10.0.0.0/33"),
    ),
    "udp-port": (
        {},
        {"ports": ports(("dns", 53, 30053), protocol="UDP")},
        ("field", "spec.ports[0].protocol", "UDP"),
    ),
    "mixed-protocols": (
        {},
        {"ports": ports(("dns", 53, 30053)) + ports(("dnsu", 53, 30054), protocol="UDP")},
        ("field", "spec.ports", None),
    ),
    "no-ports": ({}, {"ports": []}, ("field", "spec.ports", None)),
    "no-node-port": (
        {},
        {"ports": ports(("http", 80, 0))},
        ("field", "spec.ports[0].nodePort", None),
    ),
    "session-affinity-client-ip": (
        {},
        {"sessionAffinity": "ClientIP"},
        ("field", "spec.sessionAffinity", "ClientIP"),
    ),
    "load-balancer-ip": (
        {},
        {"loadBalancerIP": "203.0.113.10"},
        ("field", "spec.loadBalancerIP", "203.0.113.10"),
    ),
}


def _invalid_service(case_id: str) -> dict[str, Any]:
    annotations, spec, _ = INVALID[case_id]
    spec = dict(spec)
    port_list = spec.pop("ports", None)
    return service("web", annotations=annotations, port_list=port_list, **spec)


@pytest.mark.parametrize("case_id", list(INVALID))
def test_invalid_input_is_rejected_before_any_cloud_call(
    module_sandbox: Sandbox, case_id: str
) -> None:
    _, _, (where, key, value) = INVALID[case_id]
    svc = _invalid_service(case_id)
    for command in ("plan", "apply"):
        result = module_sandbox.lbctl.run(command, svc)
        errors = _assert_rejected_without_cloud_calls(result, module_sandbox.cloud)
        matching = [e for e in errors if e.get(where) == key]
        assert matching, f"no error names {where} {key}: {errors}"
        if value is not None:
            assert any(value in str(e.get("value")) for e in matching), matching
        assert all(e["message"] for e in matching)
        # The human message on stderr names the annotation or field too.
        assert key in result.err, result.err
        if value is not None:
            assert value in result.err, result.err


def test_invalid_input_text_output_names_the_annotation(module_sandbox: Sandbox) -> None:
    svc = service("web", annotations={ann("healthcheck-interval"): "abc"})
    result = module_sandbox.lbctl.apply(svc, output="text")
    assert result.rc == 1
    assert f"{ann('healthcheck-interval')}='abc'" in result.out + result.err
    assert (result.reads, result.writes) == (0, 0)
    assert module_sandbox.cloud.balancer_names() == []


def test_every_error_is_reported_at_once(module_sandbox: Sandbox) -> None:
    """A user fixes everything in one go: parse errors, range errors and spec errors alike."""
    svc = service(
        "web",
        annotations={
            ann("healthcheck-interval"): "abc",  # not a number
            ann("healthcheck-healthy-threshold"): "1",  # a number, below the minimum
            ann("proxy-protocol"): "yes",  # not "*"
            ann("type"): "nlb2",  # not a type
        },
        port_list=ports(("dns", 53, 30053), protocol="UDP"),  # classic ELB: TCP only
        loadBalancerSourceRanges=["10.0.0.0/33"],
        sessionAffinity="ClientIP",
    )
    result = module_sandbox.lbctl.apply(svc)
    errors = _assert_rejected_without_cloud_calls(result, module_sandbox.cloud)
    named = {e.get("annotation") or e.get("field") for e in errors}
    expected = {
        ann("healthcheck-interval"),
        ann("healthcheck-healthy-threshold"),
        ann("proxy-protocol"),
        ann("type"),
        "spec.ports[0].protocol",
        "spec.loadBalancerSourceRanges[0]",
        "spec.sessionAffinity",
    }
    assert expected <= named, f"missing: {sorted(expected - named)}; got {errors}"


def test_bad_services_in_a_batch_are_each_reported(module_sandbox: Sandbox) -> None:
    first = service("first", annotations={ann("proxy-protocol"): "yes"})
    second = service("second", loadBalancerIP="203.0.113.10")
    result = module_sandbox.lbctl.apply(first, second)
    assert result.rc == 1
    assert [e["annotation"] for e in result.plan("default/first")["errors"]] == [
        ann("proxy-protocol")
    ]
    assert [e["field"] for e in result.plan("default/second")["errors"]] == ["spec.loadBalancerIP"]
    assert (result.reads, result.writes) == (0, 0)
    assert module_sandbox.cloud.balancer_names() == []


def test_services_lbctl_does_not_balance_create_nothing(module_sandbox: Sandbox) -> None:
    skipped = [
        service("lbc-ip", annotations={ann("type"): "nlb-ip"}),
        service("lbc-external", annotations={ann("type"): "external"}),
        service("cluster-ip", type="ClusterIP"),
        service("node-port", type="NodePort"),
        service("other-class", loadBalancerClass="service.k8s.aws/nlb"),
    ]
    result = module_sandbox.lbctl.apply(*skipped)
    assert result.rc == 0, result.describe()
    for plan in result.plans:
        assert plan["changes"] == [] and plan["errors"] == [], plan
        assert plan["ingress"] == []
    assert result.writes == 0
    assert module_sandbox.cloud.balancer_names() == []
    assert module_sandbox.cloud.k8s_elb_groups() == []


# --- resources with our names that this cluster does not own -------------------------------


def _elb_snapshot(cloud: Cloud, name: str) -> dict[str, Any]:
    desc = cloud.must_balancer(name)
    return {
        "Listeners": cloud.listeners(name),
        "Tags": cloud.balancer_tags(name),
        "SecurityGroups": desc["SecurityGroups"],
        "Subnets": sorted(desc["Subnets"]),
        "HealthCheck": desc.get("HealthCheck"),
        "Instances": cloud.instances(name),
        "DNSName": desc["DNSName"],
        "Scheme": desc["Scheme"],
    }


def test_an_elb_with_the_same_name_not_owned_by_this_cluster_is_an_error_and_left_alone(
    lbctl: Lbctl, cloud: Cloud, boto: Any, aws_cluster: SeededCluster
) -> None:
    web, api = service("web"), service("api")
    web_lb, api_lb = lb_name(uid_of(web)), lb_name(uid_of(api))
    # Someone else's ELB that happens to have the name: it even claims the Service by name,
    # but carries no kubernetes.io/cluster/sandbox=owned tag.
    boto.elb.create_load_balancer(
        LoadBalancerName=web_lb,
        Listeners=[
            {
                "Protocol": "TCP",
                "LoadBalancerPort": 9000,
                "InstanceProtocol": "TCP",
                "InstancePort": 31999,
            }
        ],
        Subnets=[aws_cluster.public_subnets["us-east-1a"]],
        Tags=[
            {"Key": "owner", "Value": "someone-else"},
            {"Key": SERVICE_NAME_TAG, "Value": "default/web"},
        ],
    )
    # One that another cluster owns and this cluster only shares.
    boto.elb.create_load_balancer(
        LoadBalancerName=api_lb,
        Listeners=[
            {
                "Protocol": "TCP",
                "LoadBalancerPort": 80,
                "InstanceProtocol": "TCP",
                "InstancePort": 30080,
            }
        ],
        Subnets=sorted(aws_cluster.public_subnets.values()),
        Tags=[
            {"Key": "kubernetes.io/cluster/other", "Value": "owned"},
            {"Key": CLUSTER_TAG, "Value": "shared"},
        ],
    )
    before = {name: _elb_snapshot(cloud, name) for name in (web_lb, api_lb)}
    node_sg = aws_cluster.node_security_group_id

    for command in ("plan", "apply"):
        result = lbctl.run(command, web, api)
        assert result.rc == 1, result.describe()
        for svc, name in ((web, web_lb), (api, api_lb)):
            plan = result.plan(f"default/{svc['metadata']['name']}")
            assert plan["changes"] == []
            assert any(name in e["message"] for e in plan["errors"]), plan["errors"]
            assert name in result.err
        assert result.writes == 0
        assert {name: _elb_snapshot(cloud, name) for name in before} == before
        assert cloud.k8s_elb_groups() == []
        node_group = cloud.group(node_sg)
        assert [p for p in node_group["IpPermissions"] if p.get("UserIdGroupPairs")] == []

    deleted = lbctl.delete(web, api)
    assert deleted.writes == 0, deleted.describe()
    assert {name: _elb_snapshot(cloud, name) for name in before} == before
    if deleted.rc != 0:
        assert web_lb in deleted.err and api_lb in deleted.err
    assert cloud.k8s_elb_groups() == []


def test_an_unowned_security_group_with_the_managed_name_is_an_error_and_left_alone(
    lbctl: Lbctl, cloud: Cloud, boto: Any, aws_cluster: SeededCluster
) -> None:
    svc = service("web")
    uid = uid_of(svc)
    group_id = boto.ec2.create_security_group(
        GroupName=sg_name(uid),
        Description="made by hand",
        VpcId=aws_cluster.vpc_id,
        TagSpecifications=[
            {"ResourceType": "security-group", "Tags": [{"Key": CLUSTER_TAG, "Value": "shared"}]}
        ],
    )["GroupId"]
    boto.ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "198.51.100.7/32"}],
            }
        ],
    )
    before = cloud.snapshot_group(group_id)

    result = lbctl.apply(svc)
    assert result.rc == 1, result.describe()
    plan = result.plan()
    assert plan["changes"] == []
    assert any(sg_name(uid) in e["message"] or group_id in e["message"] for e in plan["errors"]), (
        plan["errors"]
    )
    assert result.writes == 0
    assert cloud.snapshot_group(group_id) == before
    assert cloud.balancer_names() == []
    assert cloud.groups_referencing(group_id) == []

    lbctl.delete(svc)
    assert cloud.snapshot_group(group_id) == before
    assert tags(cloud.group(group_id).get("Tags")) == {CLUSTER_TAG: "shared"}


def test_an_invalid_change_leaves_the_balancer_alone_and_delete_still_works(
    lbctl: Lbctl, cloud: Cloud, aws_cluster: SeededCluster
) -> None:
    good = service("web")
    uid = uid_of(good)
    name = lb_name(uid)
    lbctl.apply_ok(good)
    before = _elb_snapshot(cloud, name)
    group_id = cloud.must_group(sg_name(uid))["GroupId"]
    rules = cloud.ingress_rules(group_id)

    bad = service(
        "web",
        annotations={ann("healthcheck-interval"): "abc"},
        port_list=ports(("http", 80, 30080)),
    )
    result = lbctl.apply(bad)
    assert result.rc == 1, result.describe()
    assert result.plan()["changes"] == []
    assert (result.reads, result.writes) == (0, 0)
    assert _elb_snapshot(cloud, name) == before
    assert cloud.ingress_rules(group_id) == rules

    # Deletion needs no valid annotations: it goes by what this cluster owns.
    lbctl.delete_ok(bad)
    cloud.assert_gone(uid, node_group_id=aws_cluster.node_security_group_id)


# --- Services that stop wanting a classic ELB ------------------------------------------------


def test_a_service_that_no_longer_wants_the_elb_has_everything_it_owns_deleted(
    lbctl: Lbctl, cloud: Cloud, aws_cluster: SeededCluster
) -> None:
    """Upstream P2: deletion keyed on the current annotations leaks the old balancer."""
    names = ("to-cluster-ip", "to-nlb-ip", "being-deleted", "keeps")
    services = [service(n) for n in names]
    lbctl.apply_ok(*services)
    assert cloud.balancer_names() == sorted(lb_name(uid_of(s)) for s in services)

    changed = [
        # type LoadBalancer -> ClusterIP, dropping the annotations (kubectl apply does)
        service("to-cluster-ip", type="ClusterIP", port_list=ports(("http", 80, 0))),
        # handed to the AWS Load Balancer Controller
        service("to-nlb-ip", annotations={ann("type"): "nlb-ip"}),
        # kubectl delete: the finalizer keeps it visible with a deletion timestamp
        service("being-deleted"),
        service("keeps"),
    ]
    changed[2]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    changed[2]["metadata"]["finalizers"] = ["service.kubernetes.io/load-balancer-cleanup"]
    result = lbctl.apply_ok(*changed)

    for svc in changed[:3]:
        key = f"default/{svc['metadata']['name']}"
        ops = result.ops(key)
        assert ops, key
        assert set(ops.values()) == {"delete"}, (key, ops)
        assert ops[("aws:elb", lb_name(uid_of(svc)))] == "delete"
        assert result.plan(key)["ingress"] == []
        assert cloud.balancer(lb_name(uid_of(svc))) is None, key
        assert cloud.group_by_name(sg_name(uid_of(svc))) is None, key
    assert result.ops("default/keeps") == {}
    kept = cloud.must_group(sg_name(uid_of(services[3])))["GroupId"]
    assert cloud.balancer_names() == [lb_name(uid_of(services[3]))]
    assert cloud.groups_referencing(kept) == [aws_cluster.node_security_group_id]

    lbctl.delete_ok(*changed)
    for svc in services:
        cloud.assert_gone(uid_of(svc), node_group_id=aws_cluster.node_security_group_id)
