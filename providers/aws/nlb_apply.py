"""The NLB writes: balancer, attributes, target groups, targets and listeners.

A target group that must be replaced (its name hashes settings AWS cannot modify) is
created first, the listener is moved to it by the listener's own change, and only then is
the old group deleted (`finish_nlb`), so traffic always has a group to go to. Every group
deletion waits for `finish_nlb`: by then no listener of this plan points at it. When the
plan deletes the NLB, its listeners are not deleted one by one (DeleteLoadBalancer takes
them along). A run that stops before `finish_nlb` leaves groups no listener points at;
observe finds them by their tags (nlb_observe.Stray) and the next plan deletes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lbctl.errors import RetryAfter
from lbctl.model import Resource
from lbctl.plan import Change, Op
from providers.aws import nlb
from providers.aws import tags as tagging
from providers.aws.client import AWSClient, AWSError

BATCH = 100
IN_USE_RETRY = 10.0  # seconds: AWS may still see a just-deleted NLB's listener for a while
HEALTH_FIELDS = (
    "HealthCheckProtocol",
    "HealthCheckPort",
    "HealthCheckPath",
    "HealthCheckIntervalSeconds",
    "HealthCheckTimeoutSeconds",
    "HealthyThresholdCount",
    "UnhealthyThresholdCount",
)


class NLBHandlers:
    client: AWSClient
    dns_name: str

    def _resolve_groups(self, props: Mapping[str, Any]) -> list[str]:
        raise NotImplementedError  # provided by the Applier, which knows the groups' ids

    def init_nlb(self, owned: list[Resource], changes: Sequence[Change]) -> None:
        self.nlb_arn = ""
        self.group_arns: dict[str, str] = {}  # target group name -> ARN
        self.made: set[str] = set()  # group ARNs this apply created or adopted
        self.retired: list[str] = []  # group ARNs to delete once no listener uses them
        # The Service's own NLB goes (not a duplicate "<lb>#<arn>"): its listeners go with it.
        self.nlb_going = any(
            c.kind == nlb.NLB and c.op in (Op.DELETE, Op.REPLACE) and "#" not in c.name
            for c in changes
        )
        for res in owned:
            if res.kind == nlb.NLB and "#" not in res.name:
                self.nlb_arn = res.id
            elif res.kind == nlb.TARGET_GROUP:
                self.group_arns[res.props["Name"]] = res.id

    def finish_nlb(self) -> None:
        busy = []
        for arn in self.retired:
            if arn in self.made:
                continue  # a stray this apply adopted as a wanted group after all
            try:
                self._ignoring("DeleteTargetGroup", "TargetGroupNotFound", TargetGroupArn=arn)
            except AWSError as e:
                if e.code != "ResourceInUse":
                    raise
                busy.append(arn)
        if busy:
            # Left for the next pass, which finds them as strays once nothing uses them.
            raise RetryAfter(f"target groups {', '.join(busy)} are still in use", IN_USE_RETRY)

    def _ignoring(self, operation: str, code: str, **kwargs: Any) -> None:
        try:
            self.client.call("elbv2", operation, **kwargs)
        except AWSError as e:
            if e.code != code:
                raise

    # --- the balancer ----------------------------------------------------------------------

    def _nlb(self, change: Change, facts: Any) -> None:
        if change.op in (Op.DELETE, Op.REPLACE):
            assert change.observed is not None
            self._ignoring(
                "DeleteLoadBalancer", "LoadBalancerNotFound", LoadBalancerArn=change.observed.id
            )
        if change.op in (Op.CREATE, Op.REPLACE):
            assert change.desired is not None
            props = change.desired.props
            out = self.client.call(
                "elbv2",
                "CreateLoadBalancer",
                Name=props["Name"],
                Type="network",
                Scheme=props["Scheme"],
                SubnetMappings=props["SubnetMappings"],
                **(
                    {"SecurityGroups": self._resolve_groups(props)}
                    if props.get("SecurityGroups")
                    else {}
                ),
                Tags=tagging.as_list(props["Tags"]),
            )
            created = out["LoadBalancers"][0]
            self.nlb_arn = created["LoadBalancerArn"]
            self.dns_name = created["DNSName"]
        if change.op is Op.UPDATE and change.desired is not None:
            props = change.desired.props
            if "Tags" in change.changed:
                self.client.call(
                    "elbv2",
                    "AddTags",
                    ResourceArns=[self.nlb_arn],
                    Tags=tagging.as_list(props["Tags"]),
                )
            if {"SecurityGroups", "SecurityGroupNames"} & set(change.changed):
                self.client.call(
                    "elbv2",
                    "SetSecurityGroups",
                    LoadBalancerArn=self.nlb_arn,
                    SecurityGroups=self._resolve_groups(props),
                )

    def _nlb_attributes(self, change: Change, facts: Any) -> None:
        if change.desired is None:
            return
        if change.op is Op.UPDATE and change.observed is not None:
            before: Mapping[str, str] = change.observed.props
        else:
            before = nlb.NEW_NLB_ATTRIBUTES  # what AWS gives a new NLB: no need to write it
        attrs = [
            {"Key": k, "Value": v} for k, v in change.desired.props.items() if before.get(k) != v
        ]
        if attrs:
            self.client.call(
                "elbv2",
                "ModifyLoadBalancerAttributes",
                LoadBalancerArn=self.nlb_arn,
                Attributes=attrs,
            )

    # --- target groups and targets ---------------------------------------------------------

    def _target_group(self, change: Change, facts: Any) -> None:
        if change.op is Op.DELETE:
            assert change.observed is not None
            self.retired.append(change.observed.id)
            return
        assert change.desired is not None
        props = change.desired.props
        if change.op in (Op.CREATE, Op.REPLACE):
            self._create_target_group(props)
            if change.op is Op.REPLACE and change.observed is not None:
                self.retired.append(change.observed.id)
            return
        assert change.observed is not None
        arn = change.observed.id
        if any(k in change.changed for k in HEALTH_FIELDS):
            self.client.call("elbv2", "ModifyTargetGroup", TargetGroupArn=arn, **_health(props))
        if "Attributes" in change.changed:
            self._group_attributes(arn, props["Attributes"], change.observed.props["Attributes"])
        if "Tags" in change.changed:
            self.client.call(
                "elbv2", "AddTags", ResourceArns=[arn], Tags=tagging.as_list(props["Tags"])
            )

    def _create_target_group(self, props: Mapping[str, Any]) -> None:
        try:
            out = self.client.call(
                "elbv2",
                "CreateTargetGroup",
                Name=props["Name"],
                Protocol=props["Protocol"],
                Port=props["Port"],
                VpcId=props["VpcId"],
                TargetType=props["TargetType"],
                Tags=tagging.as_list(props["Tags"]),
                **_health(props),
            )
            arn = out["TargetGroups"][0]["TargetGroupArn"]
        except AWSError as e:
            if e.code != "DuplicateTargetGroupName":
                raise
            # Left by an interrupted run (the name hashes every immutable setting): reuse it.
            found = self.client.call("elbv2", "DescribeTargetGroups", Names=[props["Name"]])
            arn = found["TargetGroups"][0]["TargetGroupArn"]
        self.group_arns[props["Name"]] = arn
        self.made.add(arn)
        if props["Attributes"]:
            self._group_attributes(arn, props["Attributes"], {})

    def _group_attributes(self, arn: str, want: Mapping[str, str], have: Mapping[str, str]) -> None:
        attrs = [{"Key": k, "Value": v} for k, v in want.items() if have.get(k) != v]
        if attrs:
            self.client.call(
                "elbv2", "ModifyTargetGroupAttributes", TargetGroupArn=arn, Attributes=attrs
            )

    def _targets(self, change: Change, facts: Any) -> None:
        if change.desired is None:
            return  # the group's deletion takes its registrations with it
        props = change.desired.props
        arn = self.group_arns.get(props["TargetGroup"])
        if arn is None:
            # Node sync ran ahead of the Service's own reconcile (say its nodePort changed):
            # the group this port will use is not made yet; that reconcile makes it and
            # registers the nodes, so there is nothing to register into now.
            return
        have = set(change.observed.props["Targets"]) if change.observed else set()
        if (
            change.observed is not None
            and change.observed.props["TargetGroup"] != props["TargetGroup"]
        ):
            have = set()  # a new group: nothing is registered yet
        want = set(props["Targets"])
        port = props["Port"]
        for operation, ids in (
            ("DeregisterTargets", sorted(have - want)),
            ("RegisterTargets", sorted(want - have)),
        ):
            for i in range(0, len(ids), BATCH):
                targets = [{"Id": x, "Port": port} for x in ids[i : i + BATCH]]
                try:
                    self.client.call("elbv2", operation, TargetGroupArn=arn, Targets=targets)
                except AWSError as e:
                    # AWS deregisters a target that is not registered successfully; moto
                    # answers InvalidTarget (the registrations may come from lbctl's cache
                    # of them, cache.py): then one by one, skipping those not there.
                    if operation != "DeregisterTargets" or e.code != "InvalidTarget":
                        raise
                    for target in targets:
                        self._ignoring(
                            operation, "InvalidTarget", TargetGroupArn=arn, Targets=[target]
                        )

    # --- listeners -------------------------------------------------------------------------

    def _listener(self, change: Change, facts: Any) -> None:
        gone = change.op in (Op.DELETE, Op.REPLACE) and change.observed is not None
        if gone and not self.nlb_going:
            assert change.observed is not None
            self._ignoring("DeleteListener", "ListenerNotFound", ListenerArn=change.observed.id)
        if change.desired is None:
            return
        props = change.desired.props
        spec = _listener_spec(props, self.group_arns[props["TargetGroup"]])
        if change.op is Op.UPDATE and change.observed is not None:
            if set(change.changed) - {"Tags"}:
                self.client.call("elbv2", "ModifyListener", ListenerArn=change.observed.id, **spec)
            if "Tags" in change.changed:
                self.client.call(
                    "elbv2",
                    "AddTags",
                    ResourceArns=[change.observed.id],
                    Tags=tagging.as_list(props["Tags"]),
                )
            return
        self.client.call(
            "elbv2",
            "CreateListener",
            LoadBalancerArn=self.nlb_arn,
            Tags=tagging.as_list(props["Tags"]),
            **spec,
        )


def _health(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: props[k] for k in HEALTH_FIELDS if k in props}


def _listener_spec(props: Mapping[str, Any], group_arn: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "Port": props["Port"],
        "Protocol": props["Protocol"],
        "DefaultActions": [{"Type": "forward", "TargetGroupArn": group_arn}],
    }
    if props.get("Certificates"):
        spec["Certificates"] = [{"CertificateArn": c} for c in props["Certificates"]]
    if props.get("SslPolicy"):
        spec["SslPolicy"] = props["SslPolicy"]
    return spec
