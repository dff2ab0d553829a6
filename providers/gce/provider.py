"""The GCE provider: external (target pool or backend service) and internal passthrough
network load balancers behind lbctl's Provider contract."""

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
from providers.gce import annotations as A
from providers.gce import config as gce_config
from providers.gce import desired as D
from providers.gce import names, spec
from providers.gce.facts import Facts, not_owned, offline_facts, require_location, resolve_location
from providers.gce.spec import InstanceRef, Mode


class GCEProvider:
    name = "gce"
    annotations = A.ANNOTATIONS
    kind_order = D.KIND_ORDER
    immutable = D.IMMUTABLE
    dependents = D.DEPENDENTS

    def __init__(self, config: ProviderConfig) -> None:
        self.counter: CallCounter = config.counter
        self.offline = config.offline
        self._cluster_flag = config.cluster_id
        self._cloud_config = config.cloud_config
        self._config: gce_config.GCEConfig | None = None
        self._client: Any = None

    @property
    def config(self) -> gce_config.GCEConfig:
        if self._config is None:
            self._config = gce_config.load(self._cloud_config, cluster_id=self._cluster_flag)
        return self._config

    def client(self, project: str, region: str) -> Any:
        current = self._client
        if current is None or (current.project, current.region) != (project, region):
            from providers.gce.client import GCEClient  # the SDK only when the cloud is used

            self._client = GCEClient(self.counter, self.config, project, region)
        return self._client

    # --- pure parts ------------------------------------------------------------------------

    def load_balancer_name(self, view: ServiceView) -> str:
        return rules.load_balancer_name(view)

    def handles(self, view: ServiceView) -> bool:
        return True

    def parse(self, view: ServiceView) -> ParsedAnnotations:
        return self.annotations.parse(view.annotations)

    def validate(self, view: ServiceView) -> list[str]:
        config = self.config  # a bad cloud config is an input error, found before any call
        errors: list[FieldError] = []
        parsed = None
        try:
            parsed = self.parse(view)
        except InvalidInput as e:
            errors += e.errors
        try:
            rules.source_ranges(view)
        except InvalidInput as e:
            errors += e.errors
        warnings: list[str] = []
        if parsed is not None:
            more, warnings = spec.validate(view, parsed, rbs_default=config.rbs_default)
            errors += more
        if errors:
            raise InvalidInput(errors)
        return warnings

    # --- cloud -----------------------------------------------------------------------------

    def observe(
        self, views: Sequence[ServiceView], nodes: Sequence[NodeView], *, wanted: Mapping[str, bool]
    ) -> Observed:
        parsed = {v.key: self.parse(v) for v in views if wanted.get(v.key)}
        if self.offline:
            return Observed(facts=offline_facts(self.config, nodes))
        from providers.gce.observe import Observer

        project, region = resolve_location(self.config, nodes)
        require_location(project, region)
        names_of = {v.key: self.load_balancer_name(v) for v in views}
        observer = Observer(self.client(project, region), self.config)
        return observer.observe(views, nodes, wanted, parsed, names_of)

    def desired(
        self, view: ServiceView, nodes: Sequence[NodeView], observed: Observed
    ) -> list[Resource]:
        parsed = self.parse(view)
        facts: Facts = observed.facts
        ctx = self._context(view, parsed, nodes, facts, observed)
        resources = D.resources(view, parsed, ctx)
        foreign = facts.foreign.get(view.key, {})
        clashes = [not_owned(r.kind, r.name, foreign[r.ref]) for r in resources if r.ref in foreign]
        if clashes:
            raise InvalidInput([c.to_field_error() for c in clashes])
        return resources

    def _context(
        self,
        view: ServiceView,
        parsed: ParsedAnnotations,
        nodes: Sequence[NodeView],
        facts: Facts,
        observed: Observed,
    ) -> D.Context:
        config = self.config
        chosen = spec.mode(parsed, rbs_default=config.rbs_default)
        links = names.Links(
            facts.project or KNOWN_AFTER_APPLY,
            facts.region or KNOWN_AFTER_APPLY,
            config.network_project,
        )
        refs = facts.instances_of(nodes)
        group_refs = facts.instances_of(spec.group_nodes(nodes, facts.default_subnet_name))
        if not facts.offline:
            errors = _missing(facts, chosen, nodes, refs, subnet=parsed[A.SUBNET])
            if errors:
                raise InvalidInput(errors)
        requested = None
        if view.load_balancer_ip and not facts.offline:
            requested = facts.address_by_ip(view.load_balancer_ip)
        return D.Context(
            cluster_id=config.cluster_id,
            lb=self.load_balancer_name(view),
            links=links,
            network=facts.network,
            subnetwork=facts.subnetwork,
            node_tags=facts.node_tags,
            instances=refs,
            group_instances=group_refs,
            rbs_default=config.rbs_default,
            existing={r.ref: r for r in observed.owned(view.key)},
            requested_address=requested,
            offline=facts.offline,
        )

    def apply(self, plan: ServicePlan, observed: Observed) -> list[Ingress]:
        from providers.gce.apply import Applier

        facts: Facts = observed.facts
        client = self.client(facts.project, facts.region)
        return Applier(client, self.config.cluster_id, plan, observed).apply()


def _missing(
    facts: Facts,
    chosen: Mode,
    nodes: Sequence[NodeView],
    refs: Sequence[InstanceRef],
    *,
    subnet: str,
) -> list[FieldError]:
    """What the balancer needs that the cloud and its config did not tell (online)."""
    errors: list[FieldError] = []
    if chosen is Mode.TARGET_POOL and not refs:
        errors.append(
            FieldError(
                "cannot EnsureLoadBalancer() with no hosts: no node has an instance "
                f"(spec.providerID gce://<project>/<zone>/<name>) in {facts.region}",
                field="nodes",
                value=[n.name for n in nodes],
            )
        )
    if not facts.network:
        errors.append(
            FieldError(
                "the network is unknown: set network-name in [global] of the cloud config",
                field="[global] network-name",
                value="",
            )
        )
    if facts.node_tags is None:
        errors.append(FieldError(facts.tag_error, field="[global] node-tags", value=""))
    if chosen is Mode.INTERNAL and not facts.subnetwork and not subnet:
        errors.append(
            FieldError(
                "the subnetwork is unknown: set subnetwork-name in [global] of the cloud config",
                field="[global] subnetwork-name",
                value="",
            )
        )
    return errors
