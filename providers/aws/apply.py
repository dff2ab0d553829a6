"""Every AWS write of a classic-ELB plan, one handler per (kind, op), in plan order.

Values the plan marks "(known after apply)" (the managed security group's id) are filled
in from what this apply created. Creates are safe to repeat after a crash: names are
deterministic, ownership tags are written in the create call itself, and a duplicate
security group is adopted only when it carries this cluster's owned tag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lbctl.calls import CallCounter
from lbctl.errors import NotOwned, RetryAfter
from lbctl.model import KNOWN_AFTER_APPLY, Ingress, Resource
from lbctl.plan import Change, Op, ServicePlan
from lbctl.provider import Observed
from providers.aws import clb, nlb
from providers.aws import tags as tagging
from providers.aws.client import AWSClient, AWSError
from providers.aws.nlb_apply import NLBHandlers
from providers.aws.observe import Facts, flatten

SG_DELETE_ATTEMPTS = 60  # x 5 s: ENIs of a deleted ELB take minutes to go
SG_DELETE_DELAY = 5.0
BATCH = 100


def group_permissions(perms: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One flat rule per entry -> EC2's grouped IpPermissions."""
    grouped: dict[tuple[Any, ...], dict[str, Any]] = {}
    for p in perms:
        key = (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"))
        entry = grouped.setdefault(key, {"IpProtocol": p["IpProtocol"]})
        if p["IpProtocol"] != "-1":
            entry.update(FromPort=p["FromPort"], ToPort=p["ToPort"])
        desc = {"Description": p["Description"]} if p.get("Description") else {}
        if "CidrIp" in p:
            entry.setdefault("IpRanges", []).append({"CidrIp": p["CidrIp"], **desc})
        if "CidrIpv6" in p:
            entry.setdefault("Ipv6Ranges", []).append({"CidrIpv6": p["CidrIpv6"], **desc})
        if "GroupId" in p:
            entry.setdefault("UserIdGroupPairs", []).append({"GroupId": p["GroupId"]})
    return list(grouped.values())


@dataclass
class IngressBatch:
    """Rules of one security group waiting to be revoked and authorized."""

    group_id: str
    revoke: list[dict[str, Any]] = field(default_factory=list)
    grant: list[dict[str, Any]] = field(default_factory=list)

    def conflicts(self, revoke: Sequence[dict[str, Any]], grant: Sequence[dict[str, Any]]) -> bool:
        granting = {clb.permission_key(p) for p in self.grant}
        revoking = {clb.permission_key(p) for p in self.revoke}
        return any(clb.permission_key(p) in granting for p in revoke) or any(
            clb.permission_key(p) in revoking for p in grant
        )

    def add(self, revoke: Sequence[dict[str, Any]], grant: Sequence[dict[str, Any]]) -> None:
        for queue, perms in ((self.revoke, revoke), (self.grant, grant)):
            queued = {clb.permission_key(p) for p in queue}
            queue += [p for p in perms if clb.permission_key(p) not in queued]


def _cidr(perm: Mapping[str, Any]) -> str:
    return str(perm.get("CidrIp") or perm.get("CidrIpv6") or "")


def _is_client_rule(perm: Mapping[str, Any]) -> bool:
    return str(perm.get("Description", "")).startswith(nlb.CLIENT_RULE.format(""))


def _shared_mtu(owned: Sequence[Resource]) -> set[tuple[str, str]]:
    """(node group id, CIDR) of the path-MTU entries observe kept for other NLBs."""
    return {
        (res.id, _cidr(res.props["IpPermissions"][0]))
        for res in owned
        if res.kind == nlb.SG_INGRESS
        and res.shared_with
        and res.props.get("IpPermissions")
        and res.props["IpPermissions"][0].get("Description") == nlb.MTU_RULE
    }


class Applier(NLBHandlers):
    def __init__(self, client: AWSClient, counter: CallCounter) -> None:
        self.client = client
        self.counter = counter
        self.group_ids: dict[str, str] = {}  # managed SG name -> id
        self.dns_name = ""
        self.elb_deleted = False
        # (lb, "listener"|"backend", port) -> policy names, as written so far
        self.assigned: dict[tuple[str, str, int], list[str]] = {}
        self.pending: IngressBatch | None = None
        self.facts = Facts()
        self.shared_mtu: set[tuple[str, str]] = set()

    def apply(self, plan: ServicePlan, observed: Observed) -> list[Ingress]:
        facts: Facts = observed.facts
        owned = observed.owned(plan.service)
        self.init_nlb(owned, plan.changes)
        self.facts = facts
        self.shared_mtu = _shared_mtu(owned)
        for res in owned:
            if res.kind == clb.SG:
                self.group_ids[res.name] = res.id
            if res.kind == clb.ELB:
                self._remember_policies(res.name, res.props)
        for change in plan.changes:
            if change.kind != clb.SG_INGRESS:
                self._flush_ingress()
            handler = getattr(self, "_" + change.kind.split(":", 1)[1].replace("-", "_"))
            handler(change, facts)
        self._flush_ingress()
        self.finish_nlb()
        if self.dns_name:
            return [Ingress(hostname=self.dns_name)]
        balancers = {clb.ELB, "aws:nlb"}
        lb = plan.load_balancer_name
        deleted = any(
            c.op is Op.DELETE and c.kind in balancers and c.name == lb for c in plan.changes
        )
        kept = any(r.kind in balancers and r.name == lb for r in owned) and not deleted
        return list(observed.ingress.get(plan.service, [])) if kept else []

    def _remember_policies(self, lb: str, props: Mapping[str, Any]) -> None:
        for port, names in props.get("ListenerPolicies", {}).items():
            self.assigned[(lb, "listener", int(port))] = list(names)
        for port, names in props.get("BackendPolicies", {}).items():
            self.assigned[(lb, "backend", int(port))] = list(names)

    def _resolve(self, value: Any, name: str) -> Any:
        """Fill "(known after apply)" with the id of group `name`, created by now."""
        if value == KNOWN_AFTER_APPLY:
            if name not in self.group_ids:
                raise AWSError("apply", f"the id of security group {name} is not known")
            return self.group_ids[name]
        if isinstance(value, list):
            return [self._resolve(v, name) for v in value]
        if isinstance(value, dict):
            return {k: self._resolve(v, name) for k, v in value.items()}
        return value

    def _resolve_groups(self, props: Mapping[str, Any]) -> list[str]:
        names = props.get("SecurityGroupNames", [])
        return [
            self._resolve(gid, names[i] if i < len(names) else "")
            for i, gid in enumerate(props.get("SecurityGroups", []))
        ]

    # --- security groups -------------------------------------------------------------------

    def _security_group(self, change: Change, facts: Facts) -> None:
        if change.op in (Op.DELETE, Op.REPLACE):
            assert change.observed is not None
            self._delete_group(change.observed.id)
        if change.op in (Op.CREATE, Op.REPLACE):
            assert change.desired is not None
            self.group_ids[change.name] = self._create_group(change.desired.props)
        if change.op is Op.UPDATE:
            assert change.desired is not None and change.observed is not None
            self.client.call(
                "ec2",
                "CreateTags",
                Resources=[change.observed.id],
                Tags=tagging.as_list(change.desired.props["Tags"]),
            )

    def _create_group(self, props: Mapping[str, Any]) -> str:
        try:
            out = self.client.call(
                "ec2",
                "CreateSecurityGroup",
                GroupName=props["GroupName"],
                Description=props["Description"],
                VpcId=props["VpcId"],
                TagSpecifications=[
                    {"ResourceType": "security-group", "Tags": tagging.as_list(props["Tags"])}
                ],
            )
            return str(out["GroupId"])
        except AWSError as e:
            if e.code != "InvalidGroup.Duplicate":
                raise
        # Created by an earlier, interrupted run: adopt it only if it is ours.
        found = self.client.call(
            "ec2",
            "DescribeSecurityGroups",
            Filters=[
                {"Name": "group-name", "Values": [props["GroupName"]]},
                {"Name": "vpc-id", "Values": [props["VpcId"]]},
            ],
        )["SecurityGroups"]
        group = found[0]
        cluster_key = next(k for k in props["Tags"] if k.startswith("kubernetes.io/cluster/"))
        if tagging.as_dict(group.get("Tags")).get(cluster_key) != "owned":
            raise NotOwned(clb.SG, props["GroupName"], f"{group['GroupId']} is not tagged owned")
        return str(group["GroupId"])

    def _delete_group(self, group_id: str) -> None:
        for _ in range(SG_DELETE_ATTEMPTS):
            try:
                self.client.call("ec2", "DeleteSecurityGroup", GroupId=group_id)
                return
            except AWSError as e:
                if e.code == "InvalidGroup.NotFound":
                    return
                if e.code != "DependencyViolation":
                    raise
            self.counter.sleep(SG_DELETE_DELAY)
        raise RetryAfter(f"security group {group_id} is still in use; will retry", 30)

    def _security_group_ingress(self, change: Change, facts: Facts) -> None:
        before = change.observed.props["IpPermissions"] if change.observed else []
        props = (change.desired or change.observed).props  # type: ignore[union-attr]
        source = props.get("SourceGroupName", "")
        after = self._resolve(props["IpPermissions"], source) if change.desired else []
        group_id = props.get("GroupId") or self._group_id(change)
        keys_after = {clb.permission_key(p) for p in after}
        keys_before = {clb.permission_key(p) for p in before}
        revoke = [p for p in before if clb.permission_key(p) not in keys_after]
        # A shared rule (the NLB path-MTU entry) may already be there: in the group as this
        # sync read it, or authorized by another Service's apply since.
        present = (
            facts.granted
            | {
                (group_id, clb.permission_key(p))
                for p in flatten(facts.groups.get(group_id, {}).get("IpPermissions", []))
            }
        ) - facts.revoked
        grant = [
            p
            for p in after
            if clb.permission_key(p) not in keys_before
            and (group_id, clb.permission_key(p)) not in present
        ]
        self._queue_ingress(group_id, revoke, grant)

    def _queue_ingress(
        self, group_id: str, revoke: list[dict[str, Any]], grant: list[dict[str, Any]]
    ) -> None:
        """Consecutive changes of one group's rules become one Revoke and one Authorize. A
        change that would undo a rule already queued (revoke what is to be granted, or the
        reverse) starts a new batch, so the order of the plan still holds."""
        batch = self.pending
        if batch is not None and (batch.group_id != group_id or batch.conflicts(revoke, grant)):
            self._flush_ingress()
            batch = None
        if batch is None:
            batch = self.pending = IngressBatch(group_id)
        batch.add(revoke, grant)

    def _flush_ingress(self) -> None:
        batch, self.pending = self.pending, None
        if batch is None:
            return
        facts = self.facts
        if batch.revoke:
            self._ingress("RevokeSecurityGroupIngress", batch.group_id, batch.revoke)
            gone = {(batch.group_id, clb.permission_key(p)) for p in batch.revoke}
            facts.granted -= gone
            facts.revoked |= gone
        if batch.grant:
            self._ingress("AuthorizeSecurityGroupIngress", batch.group_id, batch.grant)
            added = {(batch.group_id, clb.permission_key(p)) for p in batch.grant}
            facts.granted |= added
            facts.revoked -= added
        self._drop_unused_mtu(batch)

    def _drop_unused_mtu(self, batch: IngressBatch) -> None:
        """The path-MTU entry of a CIDR is kept while another NLB's client rules use it, as
        observe saw them. That NLB may have gone since (another worker deleting it at the
        same time keeps the entry for this one): once this NLB's client rules are revoked,
        the group is read again and every entry no client rule uses any more goes. Whoever
        revokes last sees no user left, so the entry cannot outlive both."""
        gid = batch.group_id
        dropped = {_cidr(p) for p in batch.revoke if _is_client_rule(p)}
        revoked_mtu = {_cidr(p) for p in batch.revoke if p.get("Description") == nlb.MTU_RULE}
        check = {c for c in dropped - revoked_mtu if (gid, c) in self.shared_mtu}
        if not check:
            return
        try:
            found = self.client.call("ec2", "DescribeSecurityGroups", GroupIds=[gid])
        except AWSError as e:
            if e.code == "InvalidGroup.NotFound":
                return
            raise
        perms = [p for g in found.get("SecurityGroups", []) for p in flatten(g["IpPermissions"])]
        used = {_cidr(p) for p in perms if _is_client_rule(p)}
        unused = [
            p for p in perms if p.get("Description") == nlb.MTU_RULE and _cidr(p) in check - used
        ]
        if unused:
            self._ingress("RevokeSecurityGroupIngress", gid, unused)
            gone = {(gid, clb.permission_key(p)) for p in unused}
            self.facts.granted -= gone
            self.facts.revoked |= gone

    def _group_id(self, change: Change) -> str:
        if change.observed is not None and change.observed.id:
            return change.observed.id
        return self.group_ids[change.name]

    def _ingress(self, operation: str, group_id: str, perms: Sequence[Mapping[str, Any]]) -> None:
        try:
            self.client.call(
                "ec2", operation, GroupId=group_id, IpPermissions=group_permissions(perms)
            )
        except AWSError as e:
            if operation.startswith("Revoke") and e.code == "InvalidGroup.NotFound":
                return  # a revoke of a rule whose group is already deleted has nothing to do
            if e.code not in ("InvalidPermission.Duplicate", "InvalidPermission.NotFound"):
                raise
            if len(perms) > 1:
                # EC2 refuses the whole call for one rule already there (or already gone),
                # e.g. a shared rule another apply wrote meanwhile: write them one by one.
                for p in perms:
                    self._ingress(operation, group_id, [p])

    # --- the balancer ----------------------------------------------------------------------

    def _elb(self, change: Change, facts: Facts) -> None:
        if change.op in (Op.DELETE, Op.REPLACE):
            self._delete_elb(change.name)
        if change.op in (Op.CREATE, Op.REPLACE):
            assert change.desired is not None
            props = self._resolve(dict(change.desired.props), clb.security_group_name(change.name))
            out = self.client.call(
                "elb",
                "CreateLoadBalancer",
                LoadBalancerName=props["LoadBalancerName"],
                Listeners=props["Listeners"],
                Subnets=props["Subnets"],
                SecurityGroups=props["SecurityGroups"],
                Scheme=props["Scheme"],
                Tags=tagging.as_list(props["Tags"]),
            )
            self.dns_name = out["DNSName"]
            self.elb_deleted = False
        if change.op is Op.UPDATE:
            self._update_elb(change)

    def _delete_elb(self, name: str) -> None:
        try:
            self.client.call("elb", "DeleteLoadBalancer", LoadBalancerName=name)
        except AWSError as e:
            if e.code != "LoadBalancerNotFound":
                raise
        self.elb_deleted = True
        self.assigned = {k: v for k, v in self.assigned.items() if k[0] != name}

    def _update_elb(self, change: Change) -> None:
        assert change.desired is not None and change.observed is not None
        lb = change.name
        want = self._resolve(dict(change.desired.props), clb.security_group_name(lb))
        have = change.observed.props
        if "Listeners" in change.changed:
            self._sync_listeners(lb, have["Listeners"], want["Listeners"])
        if "Subnets" in change.changed:
            add = sorted(set(want["Subnets"]) - set(have["Subnets"]))
            drop = sorted(set(have["Subnets"]) - set(want["Subnets"]))
            if add:
                self.client.call(
                    "elb", "AttachLoadBalancerToSubnets", LoadBalancerName=lb, Subnets=add
                )
            if drop:
                self.client.call(
                    "elb", "DetachLoadBalancerFromSubnets", LoadBalancerName=lb, Subnets=drop
                )
        if "SecurityGroups" in change.changed:
            self.client.call(
                "elb",
                "ApplySecurityGroupsToLoadBalancer",
                LoadBalancerName=lb,
                SecurityGroups=want["SecurityGroups"],
            )
        if "Tags" in change.changed:
            self.client.call(
                "elb", "AddTags", LoadBalancerNames=[lb], Tags=tagging.as_list(want["Tags"])
            )

    def _sync_listeners(
        self, lb: str, have: Sequence[Mapping[str, Any]], want: Sequence[Mapping[str, Any]]
    ) -> None:
        """A changed listener is deleted by port and created again (the API has no modify)."""
        wanted = {item["LoadBalancerPort"]: item for item in want}
        stale = [
            item["LoadBalancerPort"]
            for item in have
            if wanted.get(item["LoadBalancerPort"]) != item
        ]
        current = {item["LoadBalancerPort"] for item in have} - set(stale)
        fresh = [item for port, item in sorted(wanted.items()) if port not in current]
        if stale:
            self.client.call(
                "elb",
                "DeleteLoadBalancerListeners",
                LoadBalancerName=lb,
                LoadBalancerPorts=sorted(stale),
            )
            for port in stale:
                self.assigned.pop((lb, "listener", port), None)
        if fresh:
            self.client.call(
                "elb", "CreateLoadBalancerListeners", LoadBalancerName=lb, Listeners=list(fresh)
            )

    def _elb_health_check(self, change: Change, facts: Facts) -> None:
        if change.desired is not None:
            self.client.call(
                "elb",
                "ConfigureHealthCheck",
                LoadBalancerName=change.name,
                HealthCheck=dict(change.desired.props),
            )

    def _elb_attributes(self, change: Change, facts: Facts) -> None:
        if change.desired is not None:
            self.client.call(
                "elb",
                "ModifyLoadBalancerAttributes",
                LoadBalancerName=change.name,
                LoadBalancerAttributes=dict(change.desired.props),
            )

    def _elb_instances(self, change: Change, facts: Facts) -> None:
        if change.desired is None:
            return
        want = set(change.desired.props["Instances"])
        have = set(change.observed.props["Instances"]) if change.observed else set()
        for operation, ids in (
            ("DeregisterInstancesFromLoadBalancer", sorted(have - want)),
            ("RegisterInstancesWithLoadBalancer", sorted(want - have)),
        ):
            for i in range(0, len(ids), BATCH):
                self.client.call(
                    "elb",
                    operation,
                    LoadBalancerName=change.name,
                    Instances=[{"InstanceId": x} for x in ids[i : i + BATCH]],
                )

    # --- policies --------------------------------------------------------------------------

    def _elb_policy(self, change: Change, facts: Facts) -> None:
        resource = change.observed or change.desired
        assert resource is not None and resource.id, "a policy Resource carries its ELB's name"
        lb = resource.id
        if change.op in (Op.DELETE, Op.REPLACE):
            self._assign(lb, change.name, change.observed.props if change.observed else {}, {})
            if change.op is Op.DELETE or change.observed is not None:
                self._call_ignoring(
                    "DeleteLoadBalancerPolicy",
                    "PolicyNotFound",
                    LoadBalancerName=lb,
                    PolicyName=change.name,
                )
        if change.op in (Op.CREATE, Op.REPLACE):
            assert change.desired is not None
            props = change.desired.props
            self.client.call(
                "elb",
                "CreateLoadBalancerPolicy",
                LoadBalancerName=lb,
                PolicyName=change.name,
                PolicyTypeName=props["PolicyTypeName"],
                PolicyAttributes=[
                    {"AttributeName": k, "AttributeValue": v}
                    for k, v in props["PolicyAttributes"].items()
                ],
            )
            self._assign(lb, change.name, {}, props)
        if change.op is Op.UPDATE:
            assert change.desired is not None and change.observed is not None
            self._assign(lb, change.name, change.observed.props, change.desired.props)

    def _assign(
        self, lb: str, policy: str, before: Mapping[str, Any], after: Mapping[str, Any]
    ) -> None:
        for where, ports_prop, operation, port_arg in (
            ("backend", "InstancePorts", "SetLoadBalancerPoliciesForBackendServer", "InstancePort"),
            (
                "listener",
                "LoadBalancerPorts",
                "SetLoadBalancerPoliciesOfListener",
                "LoadBalancerPort",
            ),
        ):
            old, new = set(before.get(ports_prop, [])), set(after.get(ports_prop, []))
            for port in sorted(old ^ new):
                names = [n for n in self.assigned.get((lb, where, port), []) if n != policy]
                if port in new:
                    names.append(policy)
                self.client.call(
                    "elb", operation, LoadBalancerName=lb, PolicyNames=names, **{port_arg: port}
                )
                self.assigned[(lb, where, port)] = names

    def _call_ignoring(self, operation: str, code: str, **kwargs: Any) -> None:
        try:
            self.client.call("elb", operation, **kwargs)
        except AWSError as e:
            if e.code != code:
                raise


__all__ = ["Applier", "flatten", "group_permissions"]
