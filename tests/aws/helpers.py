"""Helpers for the AWS classic-ELB tests: Service manifests, running lbctl, reading AWS back.

lbctl is driven through its CLI entry point (`lbctl.cli.main`) exactly as a user runs it;
the cloud is read back with plain boto3 clients against the moto server. Nothing here
patches an SDK method.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lbctl.calls import CallCounter
from lbctl.provider import Provider, ProviderConfig, load_provider
from tests.lbctl_runner import Lbctl as Lbctl  # the runner, re-exported for the tests
from tests.lbctl_runner import Result as Result

CLUSTER_ID = "sandbox"
CLUSTER_TAG = f"kubernetes.io/cluster/{CLUSTER_ID}"
SERVICE_NAME_TAG = "kubernetes.io/service-name"
PREFIX = "service.beta.kubernetes.io/aws-load-balancer-"
SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler"

DEFAULT_PORTS = (("http", 80, 30080), ("https", 443, 30443))


def ann(suffix: str) -> str:
    """The full key of an `aws-load-balancer-<suffix>` annotation."""
    return PREFIX + suffix


def uid_for(name: str, namespace: str = "default") -> str:
    """A stable, distinct UID per Service name (what the API server would assign)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"lbctl-test/{namespace}/{name}"))


def lb_name(uid: str) -> str:
    """Upstream DefaultLoadBalancerName: "a" + UID without dashes, cut to 32 characters."""
    return ("a" + uid.replace("-", ""))[:32]


def sg_name(uid: str) -> str:
    return f"k8s-elb-{lb_name(uid)}"


def ports(*items: tuple[str, int, int], protocol: str = "TCP") -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "port": port,
            "nodePort": node_port,
            "protocol": protocol,
            "targetPort": port,
        }
        for name, port, node_port in items
    ]


def service(
    name: str = "web",
    *,
    namespace: str = "default",
    uid: str | None = None,
    annotations: dict[str, str] | None = None,
    port_list: list[dict[str, Any]] | None = None,
    type: str = "LoadBalancer",
    **spec: Any,
) -> dict[str, Any]:
    """A v1 Service manifest as `kubectl get service -o yaml` gives it."""
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid or uid_for(name, namespace),
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    body: dict[str, Any] = {
        "type": type,
        "ports": port_list if port_list is not None else ports(*DEFAULT_PORTS),
        "selector": {"app": name},
        **spec,
    }
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": body}


def key_of(svc: dict[str, Any]) -> str:
    return f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"


def uid_of(svc: dict[str, Any]) -> str:
    return str(svc["metadata"]["uid"])


# --- running lbctl: tests/lbctl_runner.py (Lbctl, Result) -------------------------------


def aws_provider(lbctl: Lbctl, counter: CallCounter | None = None) -> Provider:
    """The AWS provider as the CLI runs it on the sandbox (for tests that drive the flow)."""
    config = ProviderConfig(
        cluster_id=CLUSTER_ID, cloud_config=lbctl.cloud_config, counter=counter or CallCounter()
    )
    return load_provider("aws", config)


# --- reading AWS back -------------------------------------------------------------------


def tags(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in items or []}


def ingress_rules(group: dict[str, Any]) -> set[tuple[str, int | None, int | None, str]]:
    """A group's ingress as a set of (protocol, from, to, source CIDR / group id)."""
    rules: set[tuple[str, int | None, int | None, str]] = set()
    for perm in group.get("IpPermissions", []):
        proto = perm["IpProtocol"]
        lo, hi = perm.get("FromPort"), perm.get("ToPort")
        for r in perm.get("IpRanges", []):
            rules.add((proto, lo, hi, r["CidrIp"]))
        for r in perm.get("Ipv6Ranges", []):
            rules.add((proto, lo, hi, r["CidrIpv6"]))
        for r in perm.get("UserIdGroupPairs", []):
            rules.add((proto, lo, hi, r["GroupId"]))
    return rules


def referencing(groups: list[dict[str, Any]], group_id: str) -> list[str]:
    """Ids of those `groups` with an ingress rule whose source is the group `group_id`."""
    return sorted(
        g["GroupId"]
        for g in groups
        if any(
            pair.get("GroupId") == group_id
            for perm in g.get("IpPermissions", [])
            for pair in perm.get("UserIdGroupPairs", [])
        )
    )


@dataclass
class Cloud:
    """What a user checks in the AWS console, read with boto3."""

    ec2: Any
    elb: Any
    vpc_id: str

    def balancer(self, name: str) -> dict[str, Any] | None:
        try:
            found = self.elb.describe_load_balancers(LoadBalancerNames=[name])
        except ClientError as e:
            if e.response["Error"]["Code"] in ("LoadBalancerNotFound", "AccessPointNotFound"):
                return None
            raise
        descriptions = found["LoadBalancerDescriptions"]
        return descriptions[0] if descriptions else None

    def balancer_names(self) -> list[str]:
        return sorted(
            d["LoadBalancerName"]
            for d in self.elb.describe_load_balancers()["LoadBalancerDescriptions"]
        )

    def must_balancer(self, name: str) -> dict[str, Any]:
        desc = self.balancer(name)
        assert desc is not None, f"ELB {name} does not exist"
        return desc

    def balancer_tags(self, name: str) -> dict[str, str]:
        (item,) = self.elb.describe_tags(LoadBalancerNames=[name])["TagDescriptions"]
        return tags(item.get("Tags"))

    def attributes(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = self.elb.describe_load_balancer_attributes(LoadBalancerName=name)[
            "LoadBalancerAttributes"
        ]
        return out

    def policies(self, name: str) -> dict[str, dict[str, Any]]:
        """Policy name -> {"type": ..., "attributes": {name: value}}."""
        found = self.elb.describe_load_balancer_policies(LoadBalancerName=name)
        return {
            p["PolicyName"]: {
                "type": p.get("PolicyTypeName"),
                "attributes": {
                    a["AttributeName"]: a.get("AttributeValue")
                    for a in p.get("PolicyAttributeDescriptions", [])
                },
            }
            for p in found["PolicyDescriptions"]
        }

    def listeners(self, name: str) -> dict[int, dict[str, Any]]:
        desc = self.must_balancer(name)
        return {
            d["Listener"]["LoadBalancerPort"]: d["Listener"] for d in desc["ListenerDescriptions"]
        }

    def listener_policies(self, name: str) -> dict[int, list[str]]:
        desc = self.must_balancer(name)
        return {
            d["Listener"]["LoadBalancerPort"]: sorted(d.get("PolicyNames", []))
            for d in desc["ListenerDescriptions"]
        }

    def backend_policies(self, name: str) -> dict[int, list[str]]:
        desc = self.must_balancer(name)
        return {
            b["InstancePort"]: sorted(b.get("PolicyNames", []))
            for b in desc.get("BackendServerDescriptions", [])
            if b.get("PolicyNames")
        }

    def instances(self, name: str) -> list[str]:
        return sorted(i["InstanceId"] for i in self.must_balancer(name)["Instances"])

    def group(self, group_id: str) -> dict[str, Any]:
        (found,) = self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        return dict(found)

    def group_by_name(self, name: str) -> dict[str, Any] | None:
        found = self.ec2.describe_security_groups(
            Filters=[
                {"Name": "group-name", "Values": [name]},
                {"Name": "vpc-id", "Values": [self.vpc_id]},
            ]
        )["SecurityGroups"]
        assert len(found) <= 1
        return found[0] if found else None

    def must_group(self, name: str) -> dict[str, Any]:
        group = self.group_by_name(name)
        assert group is not None, f"security group {name} does not exist"
        return group

    def groups(self) -> list[dict[str, Any]]:
        return list(self.ec2.describe_security_groups()["SecurityGroups"])

    def groups_referencing(self, group_id: str) -> list[str]:
        """Ids of the security groups with an ingress rule whose source is `group_id`."""
        return referencing(self.groups(), group_id)

    def all_balancers(self) -> dict[str, dict[str, Any]]:
        pages = self.elb.get_paginator("describe_load_balancers").paginate()
        return {
            d["LoadBalancerName"]: d for page in pages for d in page["LoadBalancerDescriptions"]
        }

    def group_rules_from(self, holder_id: str, source_id: str) -> list[dict[str, Any]]:
        """The ingress permissions of `holder_id` whose source is the group `source_id`."""
        return [
            perm
            for perm in self.group(holder_id).get("IpPermissions", [])
            if any(p.get("GroupId") == source_id for p in perm.get("UserIdGroupPairs", []))
        ]

    def ingress_rules(self, group_id: str) -> set[tuple[str, int | None, int | None, str]]:
        """A group's ingress as a set of (protocol, from, to, source CIDR / group id)."""
        return ingress_rules(self.group(group_id))

    def k8s_elb_groups(self) -> list[str]:
        return sorted(
            g["GroupName"] for g in self.groups() if g["GroupName"].startswith("k8s-elb-")
        )

    def snapshot_group(self, group_id: str) -> dict[str, Any]:
        """What must not change on a group lbctl does not own: rules, tags, name."""
        g = self.group(group_id)
        return {
            "GroupName": g["GroupName"],
            "Description": g.get("Description"),
            "Ingress": self.ingress_rules(group_id),
            "Tags": tags(g.get("Tags")),
        }

    def assert_gone(self, uid: str, *, node_group_id: str, keep: tuple[str, ...] = ()) -> None:
        """No ELB, no k8s-elb SG, and no node SG rule from a balancer's group remain.

        `keep`: source groups whose node rules stay by design (bring-your-own groups).
        """
        name = lb_name(uid)
        assert self.balancer(name) is None, f"ELB {name} still exists"
        group = self.group_by_name(sg_name(uid))
        assert group is None, f"security group {sg_name(uid)} still exists: {group}"
        node_rules = [
            pair["GroupId"]
            for perm in self.group(node_group_id).get("IpPermissions", [])
            for pair in perm.get("UserIdGroupPairs", [])
            if pair["GroupId"] not in keep
        ]
        assert node_rules == [], f"node SG still admits groups: {node_rules}"
