"""What observe learns besides the resources, and what stands in for it offline.

Facts: the project and region (the cloud config's, else the nodes' providerIDs), the
network and subnetwork (the config's, else the first instance's interface), node tags,
the nodes' existing instances, the region's addresses (a loadBalancerIP must be one) and,
per Service, the resources that carry its names but are not its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lbctl.errors import FieldError, InvalidInput, NotOwned
from lbctl.model import KNOWN_AFTER_APPLY, NodeView
from providers.gce import names, spec
from providers.gce.config import GCEConfig
from providers.gce.names import last, relative
from providers.gce.spec import InstanceRef

Ref = tuple[str, str]  # (kind, plan name)


@dataclass
class Facts:
    offline: bool
    project: str
    region: str
    network: str = ""  # relative link; KNOWN_AFTER_APPLY offline; "" online when unknown
    subnetwork: str = ""
    node_tags: tuple[str, ...] | None = None
    tag_error: str = ""
    # Existing instances (online); None offline, where the nodes are taken as they are.
    instances: dict[InstanceRef, dict[str, Any]] | None = None
    addresses: list[dict[str, Any]] = field(default_factory=list)
    # service key -> (kind, plan name) -> why a resource with that name is not the Service's
    foreign: dict[str, dict[Ref, str]] = field(default_factory=dict)

    @property
    def default_subnet_name(self) -> str:
        return "" if self.subnetwork in ("", KNOWN_AFTER_APPLY) else last(self.subnetwork)

    def address_by_ip(self, ip: str) -> dict[str, Any] | None:
        return next((a for a in self.addresses if a.get("address") == ip), None)

    def instances_of(self, nodes: Sequence[NodeView]) -> list[InstanceRef]:
        """The nodes' instances in the region that exist (offline: all of them)."""
        refs = spec.instances(nodes, self.region)
        if self.instances is not None:
            refs = [r for r in refs if r in self.instances]
        return refs


def not_owned(kind: str, name: str, why: str) -> NotOwned:
    return NotOwned(kind, name, f"{why}; lbctl will not change or delete it")


def resolve_location(config: GCEConfig, nodes: Sequence[NodeView]) -> tuple[str, str]:
    """(project, region): the cloud config's, else the nodes' providerIDs."""
    refs = [r for n in nodes if (r := spec.instance_ref(n)) is not None]
    project = config.project or (refs[0].project if refs else "")
    region = config.region
    if not region and refs:
        regions = sorted({spec.region_of(r.zone) for r in refs})
        region = regions[0] if len(regions) == 1 else ""
    return project, region


def require_location(project: str, region: str) -> None:
    errors = []
    if not project:
        errors.append(
            FieldError(
                "the GCP project is unknown: set project-id in [global] of the cloud config "
                "(or give nodes with spec.providerID gce://<project>/<zone>/<name>)",
                field="[global] project-id",
                value="",
            )
        )
    if not region:
        errors.append(
            FieldError(
                "the region is unknown: set region (or local-zone) in [global] of the cloud config",
                field="[global] region",
                value="",
            )
        )
    if errors:
        raise InvalidInput(errors)


def configured_link(value: str, make: Callable[[str], str], default: str) -> str:
    """A network / subnetwork the cloud config gives, by name or by link; else `default`."""
    if not value:
        return default
    return relative(value) if "/" in value else make(value)


def offline_facts(config: GCEConfig, nodes: Sequence[NodeView]) -> Facts:
    project, region = resolve_location(config, nodes)
    links = names.Links(
        project or KNOWN_AFTER_APPLY, region or KNOWN_AFTER_APPLY, config.network_project
    )
    return Facts(
        offline=True,
        project=project,
        region=region,
        network=configured_link(config.network_name, links.network, KNOWN_AFTER_APPLY),
        subnetwork=configured_link(config.subnetwork_name, links.subnetwork, KNOWN_AFTER_APPLY),
        node_tags=config.node_tags or None,
    )
