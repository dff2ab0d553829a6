"""Ownership safety: what this cluster does not own is never modified or deleted.

Resources that carry lbctl's names but not this cluster's `kubernetes.io/cluster/<id>=owned`
tag are created in the moto sandbox before lbctl runs:

- an ELB named as lbctl names the Service's balancer, without any tag;
- an ELB with that name tagged for another cluster id;
- a `k8s-elb-<lb>` security group without the owned tag (and a rule of its own);
- an NLB with lbctl's name tagged for another cluster (with its own listener and target group);
- a user's security group, named by the `security-groups` annotation.

Then lbctl runs through its CLI, as a user would: apply, a node change, a type switch
(elb -> nlb) and delete. After every step each of those resources is described in full and
compared with the description taken before lbctl first ran (and the only writes are to
what lbctl itself creates). Every step that would create or change something on a clash
reports it as a plan error naming the resource; delete reports it as a warning (a Service
that no longer wants a balancer still deletes what it owns). Nothing of this cluster is made
to reference a group it does not own, but the user's named one.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lbctl.sandbox.aws import MotoServer, SeededCluster
from tests.aws.helpers import (
    CLUSTER_TAG,
    SERVICE_NAME_TAG,
    Cloud,
    Lbctl,
    Result,
    ann,
    key_of,
    lb_name,
    service,
    sg_name,
    uid_of,
)

OTHER_CLUSTER = "kubernetes.io/cluster/other"
NLB = {ann("type"): "nlb"}
LISTENER = {
    "Protocol": "TCP",
    "LoadBalancerPort": 80,
    "InstanceProtocol": "TCP",
    "InstancePort": 30080,
}


@pytest.fixture(scope="module", autouse=True)
def _long_lived_objects_out_of_gc(moto_server: MotoServer) -> Iterator[None]:
    """Speed only, as in tests/aws/conftest.py: each lbctl run builds fresh boto3 clients,
    whose allocations trigger full collections over moto's long-lived objects."""
    threshold = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


# --- full descriptions -----------------------------------------------------------------------


def _absent(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except ClientError as e:
        return {"error": e.response["Error"]["Code"]}


def elb_snapshot(boto: Any, name: str) -> dict[str, Any]:
    elb = boto.elb
    return {
        "description": _absent(lambda: elb.describe_load_balancers(LoadBalancerNames=[name])),
        "tags": _absent(lambda: elb.describe_tags(LoadBalancerNames=[name])),
        "attributes": _absent(lambda: elb.describe_load_balancer_attributes(LoadBalancerName=name)),
        "policies": _absent(lambda: elb.describe_load_balancer_policies(LoadBalancerName=name)),
        "health": _absent(lambda: elb.describe_instance_health(LoadBalancerName=name)),
    }


def groups_snapshot(boto: Any, group_ids: list[str]) -> dict[str, Any]:
    groups = boto.ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"]
    rules = boto.ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": group_ids}]
    )["SecurityGroupRules"]
    return {
        g: {
            "group": [x for x in groups if x["GroupId"] == g],
            "rules": sorted(
                (r for r in rules if r["GroupId"] == g), key=lambda r: r["SecurityGroupRuleId"]
            ),
        }
        for g in group_ids
    }


def nlb_snapshot(boto: Any, arn: str) -> dict[str, Any]:
    v2 = boto.elbv2
    groups = v2.describe_target_groups(LoadBalancerArn=arn)["TargetGroups"]
    listeners = v2.describe_listeners(LoadBalancerArn=arn)["Listeners"]
    arns = [arn] + [g["TargetGroupArn"] for g in groups] + [x["ListenerArn"] for x in listeners]
    return {
        "description": v2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"],
        "attributes": v2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"],
        "listeners": listeners,
        "groups": groups,
        "targets": {
            g["TargetGroupArn"]: v2.describe_target_health(TargetGroupArn=g["TargetGroupArn"])[
                "TargetHealthDescriptions"
            ]
            for g in groups
        },
        "group_attributes": {
            g["TargetGroupArn"]: v2.describe_target_group_attributes(
                TargetGroupArn=g["TargetGroupArn"]
            )["Attributes"]
            for g in groups
        },
        "tags": v2.describe_tags(ResourceArns=arns)["TagDescriptions"],
    }


def _strip(snapshot: Any) -> Any:
    """Drop the per-request ResponseMetadata (request ids, dates)."""
    if isinstance(snapshot, dict):
        return {k: _strip(v) for k, v in snapshot.items() if k != "ResponseMetadata"}
    if isinstance(snapshot, list):
        return [_strip(v) for v in snapshot]
    return snapshot


# --- the foreign world --------------------------------------------------------------------------


class Foreign:
    """The resources this cluster does not own, and their descriptions before lbctl ran."""

    def __init__(self, boto: Any, cluster: SeededCluster) -> None:
        self.boto = boto
        self.cluster = cluster
        subnets = sorted(cluster.public_subnets.values())
        elb, v2 = boto.elb, boto.elbv2
        self.untagged = service("foreign-untagged")
        self.other_elb = service("foreign-other-cluster")
        self.unowned_sg = service("foreign-group")
        self.other_nlb = service("foreign-nlb", annotations=NLB)
        # a group of the user's, attached to the untagged ELB
        self.attached_group = self._group("team-a-elb", tags={"team": "a"})
        elb.create_load_balancer(
            LoadBalancerName=lb_name(uid_of(self.untagged)),
            Listeners=[LISTENER],
            Subnets=subnets,
            SecurityGroups=[self.attached_group],
        )
        elb.register_instances_with_load_balancer(
            LoadBalancerName=lb_name(uid_of(self.untagged)),
            Instances=[{"InstanceId": cluster.instances[0].instance_id}],
        )
        elb.create_load_balancer(
            LoadBalancerName=lb_name(uid_of(self.other_elb)),
            Listeners=[LISTENER],
            Subnets=subnets,
            Tags=[
                {"Key": OTHER_CLUSTER, "Value": "owned"},
                {"Key": SERVICE_NAME_TAG, "Value": key_of(self.other_elb)},
            ],
        )
        self.elbs = [lb_name(uid_of(s)) for s in (self.untagged, self.other_elb)]
        self.named_group = self._group(
            sg_name(uid_of(self.unowned_sg)),
            tags={CLUSTER_TAG: "shared", SERVICE_NAME_TAG: key_of(self.unowned_sg)},
        )
        self.nlb_arn = v2.create_load_balancer(
            Name=lb_name(uid_of(self.other_nlb)),
            Type="network",
            Scheme="internet-facing",
            Subnets=subnets,
            Tags=[
                {"Key": OTHER_CLUSTER, "Value": "owned"},
                {"Key": SERVICE_NAME_TAG, "Value": key_of(self.other_nlb)},
            ],
        )["LoadBalancers"][0]["LoadBalancerArn"]
        group_arn = v2.create_target_group(
            Name="other-cluster-80",
            Protocol="TCP",
            Port=30080,
            VpcId=cluster.vpc_id,
            TargetType="instance",
            Tags=[{"Key": OTHER_CLUSTER, "Value": "owned"}],
        )["TargetGroups"][0]["TargetGroupArn"]
        v2.register_targets(
            TargetGroupArn=group_arn, Targets=[{"Id": cluster.instances[1].instance_id}]
        )
        v2.create_listener(
            LoadBalancerArn=self.nlb_arn,
            Protocol="TCP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}],
        )
        # the user's group, to be named in the security-groups annotation
        self.user_group = self._group("team-web-elb", tags={"team": "web"})
        self.groups = [self.attached_group, self.named_group, self.user_group]
        self.before = self.snapshot()

    def _group(self, name: str, *, tags: dict[str, str]) -> str:
        ec2 = self.boto.ec2
        group_id = str(
            ec2.create_security_group(
                GroupName=name,
                Description=f"not lbctl's: {name}",
                VpcId=self.cluster.vpc_id,
                TagSpecifications=[
                    {
                        "ResourceType": "security-group",
                        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                    }
                ],
            )["GroupId"]
        )
        ec2.authorize_security_group_ingress(
            GroupId=group_id,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 8443,
                    "ToPort": 8443,
                    "IpRanges": [{"CidrIp": "192.0.2.0/24", "Description": "the owner's"}],
                }
            ],
        )
        return group_id

    def snapshot(self) -> dict[str, Any]:
        return _strip(
            {
                "elbs": {n: elb_snapshot(self.boto, n) for n in self.elbs},
                "groups": groups_snapshot(self.boto, self.groups),
                "nlb": nlb_snapshot(self.boto, self.nlb_arn),
            }
        )

    def assert_untouched(self, step: str) -> None:
        now = self.snapshot()
        for part in ("elbs", "groups"):
            for name, before in self.before[part].items():
                assert now[part][name] == before, f"{step}: {name} was changed"
        assert now["nlb"] == self.before["nlb"], f"{step}: the other cluster's NLB was changed"


@pytest.fixture
def foreign(boto: Any, aws_cluster: SeededCluster) -> Foreign:
    return Foreign(boto, aws_cluster)


def assert_clash(result: Result, svc: dict[str, Any], kind: str, name: str) -> None:
    plan = result.plan(key_of(svc))
    assert plan["changes"] == [], result.describe()
    fields = {(e.get("field"), e.get("value")) for e in plan["errors"]}
    assert (f"{kind}/{name}", name) in fields, plan["errors"]
    assert any("not owned by this cluster" in e["message"] for e in plan["errors"])
    assert f"error: {key_of(svc)}: " in result.err


def node_group_sources(cloud: Cloud, cluster: SeededCluster) -> set[str]:
    """The security groups the nodes' group admits."""
    group = cloud.group(cluster.node_security_group_id)
    return {
        pair["GroupId"]
        for perm in group.get("IpPermissions", [])
        for pair in perm.get("UserIdGroupPairs", [])
    }


# --- the steps ---------------------------------------------------------------------------


def test_unowned_resources_with_lbctl_names_survive_apply_node_sync_type_switch_and_delete(
    lbctl: Lbctl, cloud: Cloud, foreign: Foreign, aws_cluster: SeededCluster, boto: Any
) -> None:
    f = foreign
    untagged_lb, other_lb = f.elbs
    group_lb = lb_name(uid_of(f.unowned_sg))
    nlb_lb = lb_name(uid_of(f.other_nlb))
    clashing = (f.untagged, f.other_elb, f.unowned_sg, f.other_nlb)

    def check_clashes(result: Result, step: str, *, switched: bool = False) -> None:
        assert result.rc == 1, result.describe()
        assert result.writes == 0, f"{step}: {result.calls}"
        assert_clash(result, f.untagged, "aws:elb", untagged_lb)
        assert_clash(result, f.other_elb, "aws:elb", other_lb)
        if not switched:  # an NLB does not use the k8s-elb-<lb> group: no clash then
            assert_clash(result, f.unowned_sg, "aws:security-group", sg_name(uid_of(f.unowned_sg)))
        assert_clash(result, f.other_nlb, "aws:nlb", nlb_lb)
        f.assert_untouched(step)
        assert node_group_sources(cloud, aws_cluster) & set(f.groups) == set(), step

    # 1. plan and apply
    check_clashes(lbctl.plan(*clashing), "plan")
    check_clashes(lbctl.apply(*clashing), "apply")

    # 2. a node change: one node goes, the others stay
    fewer = lbctl.write_nodes(aws_cluster.nodes[1:])
    check_clashes(lbctl.apply(*clashing, nodes=fewer), "node change")

    # 3. type switch elb -> nlb (and the foreign NLB's Service to a classic ELB)
    switched = [
        service("foreign-untagged", annotations=NLB),
        service("foreign-other-cluster", annotations=NLB),
        service("foreign-nlb"),
    ]
    result = lbctl.apply(*switched)
    assert result.rc == 1, result.describe()
    assert result.writes == 0, result.calls
    assert_clash(result, switched[0], "aws:elb", untagged_lb)
    assert_clash(result, switched[1], "aws:elb", other_lb)
    assert_clash(result, switched[2], "aws:nlb", nlb_lb)
    f.assert_untouched("type switch")
    # The Service whose only clash was the classic ELB's group becomes an NLB: that is
    # allowed (an NLB has no k8s-elb-<lb> group), and the group stays as it was.
    as_nlb = service("foreign-group", annotations=NLB)
    lbctl.apply_ok(as_nlb)
    f.assert_untouched("type switch of the group's Service")
    assert cloud.balancer(group_lb) is None

    # 4. delete: nothing foreign goes, and the NLB lbctl made for as_nlb does. A Service
    # that no longer wants a balancer still deletes what it owns (or its finalizer never
    # goes): a clash is then a warning naming the resource, which is left alone.
    deleted = lbctl.delete(*clashing)
    f.assert_untouched("delete")
    assert deleted.rc in (0, 1), deleted.describe()
    for svc, name in ((f.untagged, untagged_lb), (f.other_elb, other_lb), (f.other_nlb, nlb_lb)):
        plan = deleted.plan(key_of(svc))
        told = [str(e) for e in plan["errors"]] + plan["warnings"]
        assert any(name in t and "not owned by this cluster" in t for t in told), plan
    for svc in clashing:
        ops = [(c["op"], c["kind"], c["name"]) for c in deleted.plan(key_of(svc))["changes"]]
        foreign_names = {untagged_lb, other_lb, nlb_lb, sg_name(uid_of(f.unowned_sg))}
        assert not [o for o in ops if o[2] in foreign_names], ops
    lbctl.delete_ok(as_nlb)
    f.assert_untouched("delete of the NLB")
    nlbs = {b["LoadBalancerName"] for b in boto.elbv2.describe_load_balancers()["LoadBalancers"]}
    assert nlbs == {nlb_lb}, "only the other cluster's NLB is left"


def test_a_users_security_group_is_used_but_never_changed(
    lbctl: Lbctl, cloud: Cloud, foreign: Foreign, aws_cluster: SeededCluster
) -> None:
    """Two Services share the user's group (`security-groups`): lbctl attaches it and lets
    the nodes admit it, but never edits or deletes it, and what one Service does never takes
    the other's access away."""
    f = foreign
    byo = {ann("security-groups"): f.user_group}
    svc, other = service("byo", annotations=byo), service("byo-too", annotations=byo)
    lb, other_lb = lb_name(uid_of(svc)), lb_name(uid_of(other))

    applied = lbctl.apply_ok(svc, other)
    for name in (lb, other_lb):
        assert cloud.must_balancer(name)["SecurityGroups"] == [f.user_group]
    assert cloud.group_by_name(sg_name(uid_of(svc))) is None, "no managed group with BYO"
    assert f.user_group in node_group_sources(cloud, aws_cluster), "nodes admit the ELBs"
    f.assert_untouched("apply")
    assert applied.plan(key_of(svc))["errors"] == []

    fewer = lbctl.write_nodes(aws_cluster.nodes[1:])
    lbctl.apply_ok(svc, other, nodes=fewer)
    assert len(cloud.instances(lb)) == len(aws_cluster.nodes) - 1
    f.assert_untouched("node change")
    lbctl.apply_ok(svc, other)  # and back
    f.assert_untouched("node change back")

    as_nlb = service("byo", annotations={**byo, **NLB})
    lbctl.apply_ok(as_nlb)
    assert cloud.balancer(lb) is None, "the classic ELB is gone after the switch"
    f.assert_untouched("type switch")

    lbctl.delete_ok(as_nlb, other)
    f.assert_untouched("delete")
    assert cloud.balancer(lb) is None and cloud.balancer(other_lb) is None


def test_a_type_switch_never_takes_a_shared_users_group_from_the_nodes(
    lbctl: Lbctl, cloud: Cloud, foreign: Foreign, aws_cluster: SeededCluster
) -> None:
    """docs/providers/aws.md keeps the nodes' rule from a `security-groups` group on delete
    "so other balancers sharing that group keep working"; but when one of two Services
    sharing the group switches to an NLB, its plan revokes that rule (observe reads it as
    that Service's own node rule), and the other Service's ELB can no longer reach a node."""
    byo = {ann("security-groups"): foreign.user_group}
    svc, other = service("byo", annotations=byo), service("byo-too", annotations=byo)
    lbctl.apply_ok(svc, other)
    assert foreign.user_group in node_group_sources(cloud, aws_cluster)

    switched = lbctl.apply_ok(service("byo", annotations={**byo, **NLB}))
    revoked = [
        (c["op"], c["name"])
        for c in switched.changes("default/byo")
        if c["kind"] == "aws:security-group-ingress" and c["op"] == "delete"
    ]
    assert foreign.user_group in node_group_sources(cloud, aws_cluster), (
        f"default/byo-too's ELB lost its way to the nodes; the switch revoked {revoked}"
    )
