"""Node changes -> instance registrations, as upstream §1.3: a node added is registered;
excluded (label), tainted ToBeDeletedByClusterAutoscaler or deleted is deregistered;
NotReady is kept (KEP-3458). Only registrations change: no full re-ensure."""

from __future__ import annotations

from typing import Any

from lbctl.sandbox.aws import DEFAULT_INSTANCE_TYPE
from tests.controller.world import Cluster, wait_for

EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"
TAINT = "ToBeDeletedByClusterAutoscaler"


def add_node(cluster: Cluster, name: str) -> str:
    """A new cluster-tagged EC2 instance and its Node object; returns the instance id."""
    az = cluster.aws.instances[0].az
    subnet = cluster.aws.private_subnets[az]
    reservation = cluster.ec2.run_instances(
        ImageId="ami-1e749f67",
        InstanceType=DEFAULT_INSTANCE_TYPE,
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        SecurityGroupIds=[cluster.aws.node_security_group_id],
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": f"kubernetes.io/cluster/{cluster.aws.cluster_id}", "Value": "owned"}
                ],
            }
        ],
    )
    instance_id: str = reservation["Instances"][0]["InstanceId"]
    cluster.core.create_node(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {"providerID": f"aws:///{az}/{instance_id}"},
        }
    )
    return instance_id


def test_registrations_follow_the_nodes(cluster: Cluster) -> None:
    ctl = cluster.controller()
    svc = cluster.create_service("web")
    cluster.wait_ingress("web")
    lb = cluster.lb_name(svc)
    ids = {
        n["metadata"]["name"]: n["spec"]["providerID"].rsplit("/", 1)[-1] for n in cluster.aws.nodes
    }
    n1, n2, n3 = sorted(ids)
    assert cluster.instances(lb) == sorted(ids.values())
    before = ctl.provider.counter.snapshot()

    def registered(expected: list[str]) -> Any:
        return wait_for(
            lambda: cluster.instances(lb) == sorted(expected), what=f"instances {expected}"
        )

    # Added: registered.
    extra = add_node(cluster, "node-4")
    registered([*ids.values(), extra])
    # The Event follows the registration call: wait for it rather than race it.
    updated = ("Normal", "UpdatedLoadBalancer", "Updated load balancer with new hosts")
    wait_for(lambda: updated in cluster.events("web"), what="an UpdatedLoadBalancer Event")

    # Excluded by label: deregistered. n1 NotReady at the same time: kept.
    cluster.core.patch_node_status(
        n1,
        {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletDown"}]}},
    )
    cluster.core.patch_node(n2, {"metadata": {"labels": {EXCLUDE: "true"}}})
    registered([ids[n1], ids[n3], extra])

    # Tainted for deletion by the cluster autoscaler: deregistered.
    cluster.core.patch_node(n3, {"spec": {"taints": [{"key": TAINT, "effect": "NoSchedule"}]}})
    registered([ids[n1], extra])

    # Deleted: deregistered. The exclusion lifted: registered again.
    cluster.core.delete_node("node-4")
    cluster.core.patch_node(n2, {"metadata": {"labels": {EXCLUDE: None}}})
    registered([ids[n1], ids[n2]])

    # Only registrations were written: no balancer, listener, health check or group calls.
    writes = {op for op, n in ctl.provider.counter.by_operation(since=before).items() if n}
    writes = {op for op in writes if not op.split(":")[1].startswith("Describe")}
    assert writes <= {
        "elb:RegisterInstancesWithLoadBalancer",
        "elb:DeregisterInstancesFromLoadBalancer",
    }, writes
    assert ctl.metrics.node_syncs.value("success") >= 4

    cluster.delete("web")
    cluster.wait_gone("web")
    cluster.assert_cloud_clean()
    cluster.ec2.terminate_instances(InstanceIds=[extra])


def test_no_eligible_nodes_warns(cluster: Cluster) -> None:
    cluster.controller()
    svc = cluster.create_service("lonely")
    cluster.wait_ingress("lonely")
    for name in cluster.node_names():
        cluster.core.patch_node(name, {"metadata": {"labels": {EXCLUDE: "true"}}})
    wait_for(lambda: cluster.instances(cluster.lb_name(svc)) == [], what="no instances")
    wait_for(
        lambda: (
            ("Warning", "UnAvailableLoadBalancer", "There are no available nodes for LoadBalancer")
            in cluster.events("lonely")
        ),
        what="UnAvailableLoadBalancer",
    )
    cluster.delete("lonely")
    cluster.wait_gone("lonely")
    cluster.assert_cloud_clean()
