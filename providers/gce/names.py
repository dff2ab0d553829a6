"""Names, descriptions, links and ownership marks: upstream's (cloud-provider-gcp) exactly.

Per-Service resources are named after the balancer name `<lb>` ("a" + the Service UID
without dashes, cut to 32 characters); shared resources are named after the cluster id.
Ownership is the name plus the description JSON upstream writes:

- forwarding rule, address, target pool, backend service, Local health checks:
  `{"kubernetes.io/service-name":"<ns>/<name>"}`
- traffic firewall `k8s-fw-<lb>` (and the external Local health-check firewall):
  `{"kubernetes.io/service-name":"<ns>/<name>", "kubernetes.io/service-ip":"<ip>"}`
- the legacy HTTP health checks: `{"kubernetes.io/service-name":"<health check name>"}`
- the shared external health-check firewall: `{"kubernetes.io/cluster-id":"<id>"}`
- internal health-check firewalls, the shared internal health check and instance groups:
  an empty description (the name carries the mark).

Links are kept relative (`projects/p/regions/r/targetPools/x`) in plans; `Links.url` makes
the absolute URL a request body carries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lbctl.model import KNOWN_AFTER_APPLY

SERVICE_NAME_KEY = "kubernetes.io/service-name"
SERVICE_IP_KEY = "kubernetes.io/service-ip"
CLUSTER_ID_KEY = "kubernetes.io/cluster-id"

DEFAULT_BASE = "https://www.googleapis.com/compute/v1/"


# --- names ---------------------------------------------------------------------------------


def firewall_name(lb: str) -> str:
    return f"k8s-fw-{lb}"


def nodes_health_check_name(cluster_id: str) -> str:
    return f"k8s-{cluster_id}-node"


def external_hc_firewall_name(cluster_id: str, hc_name: str, shared: bool) -> str:
    """Upstream MakeHealthCheckFirewallName (external)."""
    if shared:
        return nodes_health_check_name(cluster_id) + "-http-hc"
    return f"k8s-{hc_name}-http-hc"


def internal_hc_firewall_name(cluster_id: str, lb: str, shared: bool) -> str:
    """Upstream makeHealthCheckFirewallName (internal)."""
    if shared:
        return f"k8s-{cluster_id}-node-hc"
    return f"{lb}-hc"


def instance_group_name(cluster_id: str) -> str:
    return f"k8s-ig--{cluster_id}" if cluster_id else "k8s-ig"


def health_check_of_firewall(firewall: str, cluster_id: str, lb: str) -> str | None:
    """The health check a health-check firewall serves (its delete waits on that check's)."""
    # The shared node check's two firewalls (external, internal), then the Service's own.
    for shared, check in ((True, nodes_health_check_name(cluster_id)), (False, lb)):
        external = external_hc_firewall_name(cluster_id, check, shared)
        if firewall in (external, internal_hc_firewall_name(cluster_id, lb, shared)):
            return check
    return None


# --- descriptions ----------------------------------------------------------------------------


def service_description(service_key: str) -> str:
    return json.dumps({SERVICE_NAME_KEY: service_key}, separators=(",", ":"))


def firewall_description(service_key: str, ip: str) -> str:
    # Upstream's format string, including the space after the comma.
    return f'{{"{SERVICE_NAME_KEY}":"{service_key}", "{SERVICE_IP_KEY}":"{ip}"}}'


def cluster_description(cluster_id: str) -> str:
    return json.dumps({CLUSTER_ID_KEY: cluster_id}, separators=(",", ":"))


def parse_description(text: str) -> dict[str, Any] | None:
    """The description's JSON object, {} when empty, None when it is something else."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def described_service(text: str) -> str | None:
    """The Service key a description names, if any."""
    data = parse_description(text)
    if not data:
        return None
    value = data.get(SERVICE_NAME_KEY)
    return value if isinstance(value, str) else None


def owned_by_service(text: str, service_key: str) -> bool:
    return described_service(text) == service_key


def owned_by_name(text: str, *, allowed: tuple[str, ...] = (), cluster_id: str = "") -> bool:
    """For resources whose name carries the mark: an empty description, one of `allowed`
    service-names (the legacy health checks carry their own name), or this cluster's id."""
    data = parse_description(text)
    if data is None:
        return False
    if not data:
        return True
    if set(data) == {CLUSTER_ID_KEY}:
        return bool(data[CLUSTER_ID_KEY] == cluster_id)
    if set(data) == {SERVICE_NAME_KEY}:
        return data[SERVICE_NAME_KEY] in allowed
    return False


# --- links -----------------------------------------------------------------------------------


def relative(url: str) -> str:
    """`https://…/compute/v1/projects/p/…` -> `projects/p/…` (links compare by this form)."""
    if not url:
        return ""
    index = url.find("projects/")
    return url[index:] if index >= 0 else url


def last(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Links:
    """Relative links of one project/region; KNOWN_AFTER_APPLY when a part is unknown."""

    project: str
    region: str
    network_project: str = ""
    base: str = DEFAULT_BASE

    @property
    def net_project(self) -> str:
        return self.network_project or self.project

    def _known(self, *parts: str) -> bool:
        return all(p and p != KNOWN_AFTER_APPLY for p in parts)

    def regional(self, collection: str, name: str) -> str:
        if not self._known(self.project, self.region):
            return KNOWN_AFTER_APPLY
        return f"projects/{self.project}/regions/{self.region}/{collection}/{name}"

    def global_(self, collection: str, name: str) -> str:
        if not self._known(self.project):
            return KNOWN_AFTER_APPLY
        return f"projects/{self.project}/global/{collection}/{name}"

    def zone(self, zone: str) -> str:
        if not self._known(self.project, zone):
            return KNOWN_AFTER_APPLY
        return f"projects/{self.project}/zones/{zone}"

    def zonal(self, zone: str, collection: str, name: str) -> str:
        if not self._known(self.project, zone):
            return KNOWN_AFTER_APPLY
        return f"projects/{self.project}/zones/{zone}/{collection}/{name}"

    def region_link(self) -> str:
        if not self._known(self.project, self.region):
            return KNOWN_AFTER_APPLY
        return f"projects/{self.project}/regions/{self.region}"

    def network(self, name: str) -> str:
        if not self._known(self.net_project, name):
            return KNOWN_AFTER_APPLY
        return f"projects/{self.net_project}/global/networks/{name}"

    def subnetwork(self, name: str) -> str:
        if not self._known(self.net_project, self.region, name):
            return KNOWN_AFTER_APPLY
        return f"projects/{self.net_project}/regions/{self.region}/subnetworks/{name}"

    def url(self, link: str) -> str:
        """The absolute URL of a relative link (what request bodies carry)."""
        return self.base + link if link.startswith("projects/") else link


def instance_link(project: str, zone: str, name: str) -> str:
    return f"projects/{project}/zones/{zone}/instances/{name}"
