"""The AWS provider: classic ELB and NLB behind lbctl's Provider contract."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lbctl import rules
from lbctl.annotations import ParsedAnnotations
from lbctl.calls import CallCounter
from lbctl.errors import FieldError, InvalidInput
from lbctl.model import KNOWN_AFTER_APPLY, Ingress, NodeView, Resource, ServiceView
from lbctl.plan import ServicePlan
from lbctl.provider import Observed, ProviderConfig
from providers.aws import annotations as A
from providers.aws import clb, nlb, subnets
from providers.aws import config as aws_config
from providers.aws.cache import DetailCache
from providers.aws.instances import matches_labels, target_instance_ids
from providers.aws.observe import Facts, Observer, require_vpc

ELSEWHERE = ("nlb-ip", "external")


class AWSProvider:
    name = "aws"
    annotations = A.ANNOTATIONS
    kind_order = clb.KIND_ORDER + tuple(k for k in nlb.KIND_ORDER if k not in clb.KIND_ORDER)
    immutable = {**clb.IMMUTABLE, **nlb.IMMUTABLE}
    dependents = {
        clb.ELB: (clb.HEALTH, clb.ATTRIBUTES, clb.POLICY, clb.INSTANCES),
        nlb.NLB: (nlb.NLB_ATTRIBUTES, nlb.LISTENER),
        nlb.TARGET_GROUP: (nlb.TARGETS,),
    }

    registration_kinds = frozenset({clb.INSTANCES, nlb.TARGETS})

    def __init__(self, config: ProviderConfig, *, detail_refresh: int | None = None) -> None:
        self.counter: CallCounter = config.counter
        self.offline = config.offline
        self._cluster_flag = config.cluster_id
        self._cloud_config = config.cloud_config
        self._config: aws_config.AWSConfig | None = None
        self._client: Any = None
        self._detail_refresh = detail_refresh
        self._cache: DetailCache | None = None

    @property
    def cache(self) -> DetailCache:
        """Per-balancer details kept across this provider's observes (cache.py)."""
        if self._cache is None:
            refresh = self._detail_refresh
            if refresh is None:
                refresh = self.config.detail_refresh
            self._cache = DetailCache(refresh)
        return self._cache

    @property
    def config(self) -> aws_config.AWSConfig:
        if self._config is None:
            self._config = aws_config.load(self._cloud_config, cluster_id=self._cluster_flag)
        return self._config

    @property
    def client(self) -> Any:
        if self._client is None:
            from providers.aws.client import AWSClient  # boto3 only when online

            self._client = AWSClient(self.counter)
        return self._client

    # --- pure parts ------------------------------------------------------------------------

    def load_balancer_name(self, view: ServiceView) -> str:
        return rules.load_balancer_name(view)

    def handles(self, view: ServiceView) -> bool:
        return view.annotations.get(A.TYPE.key) not in ELSEWHERE

    def parse(self, view: ServiceView) -> ParsedAnnotations:
        return self.annotations.parse(view.annotations)

    def validate(self, view: ServiceView) -> list[str]:
        self.config  # noqa: B018 - a missing cluster id is an input error, found before any call
        parsed, errors = self.annotations.parse_all(view.annotations)
        try:
            rules.source_ranges(view)
        except InvalidInput as e:
            errors += e.errors
        if nlb.is_nlb(parsed):
            managed = self.config.nlb_security_group_mode.lower() == "managed"
            more, warnings = nlb.validate(view, parsed, managed=managed)
        else:
            more, warnings = clb.validate(view, parsed)
        errors += more
        if errors:
            raise InvalidInput(errors)
        return warnings

    # --- cloud -----------------------------------------------------------------------------

    def observe(
        self,
        views: Sequence[ServiceView],
        nodes: Sequence[NodeView],
        *,
        wanted: Mapping[str, bool],
        kinds: frozenset[str] | None = None,
    ) -> Observed:
        parsed = {v.key: self.parse(v) for v in views if wanted.get(v.key)}
        if self.offline:
            return Observed(facts=Facts(vpc_id=self.config.vpc))
        names = {v.key: self.load_balancer_name(v) for v in views}
        targets_only = kinds is not None and kinds <= self.registration_kinds
        observed = Observer(self.client, self.config, self.cache).observe(
            views, nodes, names, wanted, parsed, targets_only=targets_only
        )
        observed.kinds = kinds
        return observed

    def desired(
        self, view: ServiceView, nodes: Sequence[NodeView], observed: Observed
    ) -> list[Resource]:
        parsed = self.parse(view)
        facts: Facts = observed.facts
        lb = self.load_balancer_name(view)
        labels = parsed[A.TARGET_NODE_LABELS]
        if self.offline:
            cid, vpc = self.config.cluster_id, self.config.vpc
            ids = target_instance_ids(nodes, labels)
            if nlb.is_nlb(parsed):
                nctx = nlb.offline_context(cluster_id=cid, lb_name=lb, vpc=vpc, instance_ids=ids)
                return nlb.resources(view, parsed, nctx)
            cctx = clb.offline_context(cluster_id=cid, lb_name=lb, vpc=vpc, instance_ids=ids)
            return clb.resources(view, parsed, cctx)
        targets = [n for n in nodes if matches_labels(n, labels)]
        ids = [i for i in target_instance_ids(targets, {}) if i in facts.instances]
        if observed.kinds is not None and observed.kinds <= self.registration_kinds:
            # Registrations of a balancer that is not there are left to a full reconcile.
            present = {r.kind for r in observed.owned(view.key)}
            if not present & {clb.ELB, nlb.NLB}:
                return []
            return registrations(view, parsed, lb, ids, self.config.cluster_id)
        vpc = require_vpc(facts)
        node_groups = node_security_groups(ids, facts, self.config.cluster_id)
        manage = not self.config.disable_security_group_ingress
        if nlb.is_nlb(parsed):
            chosen = self._nlb_subnets(view, parsed, facts, observed)
            cidrs = {s["SubnetId"]: s.get("CidrBlock", "") for s in facts.subnets}
            return nlb.resources(
                view,
                parsed,
                nlb.Context(
                    cluster_id=self.config.cluster_id,
                    lb_name=lb,
                    vpc_id=vpc,
                    subnets=chosen,
                    subnet_cidrs=sorted({cidrs[s] for s in chosen if cidrs.get(s)}),
                    instance_ids=ids,
                    node_security_groups=node_groups,
                    manage_node_rules=manage,
                    managed_groups=self._managed_mode(view, observed),
                    group_ids={g["GroupName"]: gid for gid, g in facts.groups.items()},
                    byo_groups=parsed[A.SECURITY_GROUPS],
                    existing_mappings=next(
                        (
                            r.props["SubnetMappings"]
                            for r in observed.owned(view.key)
                            if r.kind == nlb.NLB
                        ),
                        None,
                    ),
                ),
            )
        return clb.resources(
            view,
            parsed,
            clb.Context(
                cluster_id=self.config.cluster_id,
                lb_name=lb,
                vpc_id=vpc,
                subnets=self._subnets(parsed, facts),
                instance_ids=ids,
                node_security_groups=node_groups,
                elb_security_group_id=facts.managed_group_ids.get(view.key, KNOWN_AFTER_APPLY),
                config_security_group=self.config.elb_security_group,
                manage_node_rules=manage,
            ),
        )

    def _managed_mode(self, view: ServiceView, observed: Observed) -> bool:
        """NLBSecurityGroupMode = Managed, for NLBs created while it is on: AWS cannot add
        security groups to an NLB created without any, so those keep node rules."""
        if self.config.nlb_security_group_mode.lower() != "managed":
            return False
        existing = [r for r in observed.owned(view.key) if r.kind == nlb.NLB]
        return not existing or bool(existing[0].props.get("SecurityGroups"))

    def _subnets(self, parsed: ParsedAnnotations, facts: Facts) -> list[str]:
        if parsed[A.SUBNETS]:
            return subnets.resolve(parsed[A.SUBNETS], facts.subnets)
        return subnets.discover(
            subnets=facts.subnets,
            route_tables=facts.route_tables,
            cluster_id=self.config.cluster_id,
            internal=parsed[A.INTERNAL],
        )

    def _nlb_subnets(
        self, view: ServiceView, parsed: ParsedAnnotations, facts: Facts, observed: Observed
    ) -> list[str]:
        """NLB subnets are set at creation: without the annotation an existing NLB keeps its
        own, so that a newly tagged subnet never replaces a production balancer."""
        if not parsed[A.SUBNETS]:
            for res in observed.owned(view.key):
                if res.kind == nlb.NLB:
                    return [m["SubnetId"] for m in res.props["SubnetMappings"]]
        return sorted(self._subnets(parsed, facts))

    def apply(self, plan: ServicePlan, observed: Observed) -> list[Ingress]:
        from providers.aws.apply import Applier  # boto3 only when online

        try:
            return Applier(self.client, self.counter).apply(plan, observed)
        finally:
            if plan.changes:  # whatever was written, even in part, is read fresh next
                self.cache.invalidate(plan.load_balancer_name)


def registrations(
    view: ServiceView, parsed: ParsedAnnotations, lb: str, ids: Sequence[str], cluster_id: str
) -> list[Resource]:
    """Only the backend registrations (node sync): nothing else needs to be known."""
    if not nlb.is_nlb(parsed):
        return [Resource(clb.INSTANCES, lb, {"Instances": sorted(ids)}, owner=view.key)]
    hc = nlb.health_check(view, parsed)
    out = []
    for port in view.ports:
        name = nlb.target_group_name(
            cluster_id=cluster_id,
            view=view,
            port=port,
            protocol=nlb.target_protocol(port, parsed),
            hc=hc,
        )
        out.append(
            Resource(
                nlb.TARGETS,
                nlb.port_key(port),
                {"TargetGroup": name, "Port": port.node_port, "Targets": sorted(ids)},
                owner=view.key,
                id=lb,
            )
        )
    return out


def node_security_groups(ids: Sequence[str], facts: Facts, cluster_id: str) -> list[str]:
    """Each instance's cluster-tagged SG (or its only SG); several tagged is an error."""
    from providers.aws import tags as tagging

    chosen: set[str] = set()
    errors = []
    for iid in ids:
        groups = [g["GroupId"] for g in facts.instances[iid].get("SecurityGroups", [])]
        tagged = [
            g
            for g in groups
            if g in facts.groups
            and tagging.in_cluster(tagging.as_dict(facts.groups[g].get("Tags")), cluster_id)
        ]
        if len(tagged) > 1:
            errors.append(
                FieldError(
                    f"Multiple tagged security groups found for instance {iid}; ensure only the "
                    f"k8s security group is tagged; the tagged groups were {', '.join(tagged)}",
                    field=f"instance {iid}",
                    value=tagged,
                )
            )
        elif tagged:
            chosen.add(tagged[0])
        elif len(groups) == 1:
            chosen.add(groups[0])
        elif len(groups) > 1:
            errors.append(
                FieldError(
                    f"Multiple untagged security groups found for instance {iid}; ensure the k8s "
                    "security group is tagged",
                    field=f"instance {iid}",
                    value=groups,
                )
            )
    if errors:
        raise InvalidInput(errors)
    return sorted(chosen)
