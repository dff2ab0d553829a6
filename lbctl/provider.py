"""The Provider contract and plugin loading.

A provider is found by name among the `lbctl.providers` entry points and built with a
ProviderConfig. The contract (every method may be called from several threads, one call
per Service set at a time):

- `validate(view)`: pure. Raises InvalidInput naming every bad annotation or field; returns
  warnings (safer-result deviations). Called before any cloud call: invalid input reads
  and writes nothing.
- `handles(view)`: False when another controller owns this Service (AWS `nlb-ip`); lbctl
  then only cleans up what it owns itself.
- `observe(views, nodes, wanted=)`: every cloud read, batched across the Services. Returns
  only resources this cluster owns, keyed by Service, plus clashes (resources with our
  names that are not ours) and what desired() needs to know about the cloud. For a Service
  that no longer wants a balancer (`wanted[key]` false) it reads only what deletion needs.
- `desired(view, nodes, observed)`: pure. The Resources that should exist.
- `apply(plan, observed)`: every cloud write of one Service's plan, in plan order; returns
  the ingress. Idempotent: re-running after a crash converges.
- Optionally `registration_kinds`: the kinds that hold backend registrations. A provider
  that declares them accepts `observe(..., kinds=registration_kinds)` (node sync), reads
  only what those need and returns an Observed whose `kinds` says so; desired() then
  returns only resources of those kinds.

Deletion is not a method: a delete is the plan of an empty desired set, so it finds what
to remove by ownership (observe), never from the Service's current annotations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from lbctl.annotations import AnnotationSet
from lbctl.calls import CallCounter
from lbctl.errors import LbctlError, NotOwned
from lbctl.model import Ingress, NodeView, Resource, ServiceView
from lbctl.plan import ServicePlan

ENTRY_POINT_GROUP = "lbctl.providers"


@dataclass(frozen=True)
class ProviderConfig:
    cluster_id: str
    cloud_config: Path | None = None
    offline: bool = False
    counter: CallCounter = field(default_factory=CallCounter)
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Observed:
    """What observe() found. `facts` is the provider's own (subnets, instances, ...)."""

    resources: dict[str, list[Resource]] = field(default_factory=dict)
    clashes: dict[str, list[NotOwned]] = field(default_factory=dict)
    ingress: dict[str, list[Ingress]] = field(default_factory=dict)
    facts: Any = None
    # A scoped observation (node sync): only these kinds were read and will be planned.
    kinds: frozenset[str] | None = None

    def owned(self, service_key: str) -> list[Resource]:
        return self.resources.get(service_key, [])


@runtime_checkable
class Provider(Protocol):
    name: str
    annotations: AnnotationSet
    kind_order: Sequence[str]
    immutable: Mapping[str, frozenset[str]]
    dependents: Mapping[str, tuple[str, ...]]
    counter: CallCounter

    def load_balancer_name(self, view: ServiceView) -> str: ...

    def validate(self, view: ServiceView) -> list[str]: ...

    def handles(self, view: ServiceView) -> bool: ...

    def observe(
        self, views: Sequence[ServiceView], nodes: Sequence[NodeView], *, wanted: Mapping[str, bool]
    ) -> Observed: ...

    def desired(
        self, view: ServiceView, nodes: Sequence[NodeView], observed: Observed
    ) -> list[Resource]: ...

    def apply(self, plan: ServicePlan, observed: Observed) -> list[Ingress]: ...


class ProviderNotFound(LbctlError):
    pass


def available() -> list[str]:
    return sorted(ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))


def load_provider(name: str, config: ProviderConfig) -> Provider:
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                factory = ep.load()
            except ImportError as e:
                raise ProviderNotFound(
                    f"provider {name!r} needs its SDK: pip install 'lbctl[{name}]' ({e})"
                ) from e
            provider: Provider = factory(config)
            return provider
    raise ProviderNotFound(
        f"unknown provider {name!r}; installed providers: {', '.join(available()) or 'none'}"
    )
