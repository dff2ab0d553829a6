"""Helpers for the GCE tests: Service manifests, running lbctl, reading the Compute API back.

lbctl runs through its CLI entry point (`lbctl.cli.main`) exactly as a user runs it; the
cloud is read back with the unmodified google-cloud-compute clients (and google-auth's
session for the legacy httpHealthChecks) against the Compute sandbox. No SDK method is
patched.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.api_core import exceptions as api_exceptions

from lbctl.sandbox.gce import GCEServer, SeededGCE, anonymous_session, compute_client
from tests.lbctl_runner import Lbctl as Lbctl  # the runner, re-exported for the tests
from tests.lbctl_runner import Result as Result

CLUSTER_ID = "sandbox"
TYPE = "networking.gke.io/load-balancer-type"
DEPRECATED_TYPE = "cloud.google.com/load-balancer-type"
SUBNET = "networking.gke.io/internal-load-balancer-subnet"
GLOBAL_ACCESS = "networking.gke.io/internal-load-balancer-allow-global-access"
TIER = "cloud.google.com/network-tier"
RBS = "cloud.google.com/l4-rbs"
SOURCE_RANGES = "service.beta.kubernetes.io/load-balancer-source-ranges"
HC_RANGES = ["130.211.0.0/22", "209.85.152.0/22", "209.85.204.0/22", "35.191.0.0/16"]
NODE_HC = f"k8s-{CLUSTER_ID}-node"
GROUP = f"k8s-ig--{CLUSTER_ID}"

DEFAULT_PORTS = ((80, 30080), (443, 30443))
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def uid_for(name: str, namespace: str = "default") -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"lbctl-gce-test/{namespace}/{name}"))


def lb_name(svc: dict[str, Any]) -> str:
    return ("a" + str(svc["metadata"]["uid"]).replace("-", ""))[:32]


def key_of(svc: dict[str, Any]) -> str:
    return f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"


def service(
    name: str = "web",
    *,
    namespace: str = "default",
    annotations: dict[str, str] | None = None,
    ports: tuple[tuple[int, int], ...] = DEFAULT_PORTS,
    protocol: str = "TCP",
    **spec: Any,
) -> dict[str, Any]:
    """A v1 Service manifest as `kubectl get service -o yaml` gives it."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": uid_for(name, namespace)}
    if annotations:
        meta["annotations"] = dict(annotations)
    body: dict[str, Any] = {
        "type": "LoadBalancer",
        "selector": {"app": name},
        "ports": [
            {"name": f"p{port}", "port": port, "nodePort": node_port, "protocol": protocol}
            for port, node_port in ports
        ],
        **spec,
    }
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": body}


def local(svc: dict[str, Any], health_check_node_port: int = 32000) -> dict[str, Any]:
    svc["spec"]["externalTrafficPolicy"] = "Local"
    svc["spec"]["healthCheckNodePort"] = health_check_node_port
    return svc


# --- running lbctl --------------------------------------------------------------------------


def gce_lbctl(directory: Path, nodes_file: Path, cloud_config: Path) -> Lbctl:
    """The CLI runner (tests/lbctl_runner.py) for the GCE provider and the sandbox cluster."""
    return Lbctl(
        directory,
        nodes_file,
        cloud_config,
        provider_args=("--provider", "gce", "--cluster-id", CLUSTER_ID),
    )


# --- reading the Compute API back ------------------------------------------------------------


def as_json(message: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(type(message).to_json(message, indent=None))
    return data


def last(link: str) -> str:
    return link.rsplit("/", 1)[-1]


@dataclass
class Cloud:
    """What a user sees with `gcloud compute … list/describe`."""

    server: GCEServer
    seeded: SeededGCE

    def _client(self, name: str) -> Any:
        return compute_client(name, self.server)

    @property
    def project(self) -> str:
        return self.seeded.project

    @property
    def region(self) -> str:
        return self.seeded.region

    def _regional(self, client: str) -> dict[str, dict[str, Any]]:
        items = self._client(client).list(project=self.project, region=self.region)
        return {i.name: as_json(i) for i in items}

    def forwarding_rules(self) -> dict[str, dict[str, Any]]:
        return self._regional("ForwardingRulesClient")

    def addresses(self) -> dict[str, dict[str, Any]]:
        return self._regional("AddressesClient")

    def target_pools(self) -> dict[str, dict[str, Any]]:
        return self._regional("TargetPoolsClient")

    def backend_services(self) -> dict[str, dict[str, Any]]:
        return self._regional("RegionBackendServicesClient")

    def region_health_checks(self) -> dict[str, dict[str, Any]]:
        return self._regional("RegionHealthChecksClient")

    def health_checks(self) -> dict[str, dict[str, Any]]:
        items = self._client("HealthChecksClient").list(project=self.project)
        return {i.name: as_json(i) for i in items}

    def firewalls(self) -> dict[str, dict[str, Any]]:
        items = self._client("FirewallsClient").list(project=self.project)
        return {i.name: as_json(i) for i in items}

    def http_health_checks(self) -> dict[str, dict[str, Any]]:
        url = f"{self.server.endpoint}/compute/v1/projects/{self.project}/global/httpHealthChecks"
        response = anonymous_session().get(url)
        response.raise_for_status()
        return {i["name"]: i for i in response.json().get("items", [])}

    def instance_groups(self) -> dict[str, dict[str, Any]]:
        """zone/name -> group, with its members' names under "members"."""
        client = self._client("InstanceGroupsClient")
        out = {}
        for zone in self.seeded.zones:
            for group in client.list(project=self.project, zone=zone):
                data = as_json(group)
                members = client.list_instances(
                    project=self.project,
                    zone=zone,
                    instance_group=group.name,
                    instance_groups_list_instances_request_resource={"instance_state": "ALL"},
                )
                data["members"] = sorted(last(m.instance) for m in members)
                out[f"{zone}/{group.name}"] = data
        return out

    def everything(self) -> dict[str, list[str]]:
        """Every writable resource, by collection."""
        return {
            "forwardingRules": sorted(self.forwarding_rules()),
            "addresses": sorted(self.addresses()),
            "targetPools": sorted(self.target_pools()),
            "backendServices": sorted(self.backend_services()),
            "regionHealthChecks": sorted(self.region_health_checks()),
            "healthChecks": sorted(self.health_checks()),
            "httpHealthChecks": sorted(self.http_health_checks()),
            "firewalls": sorted(self.firewalls()),
            "instanceGroups": sorted(self.instance_groups()),
        }

    def leftovers(self, *names: str) -> dict[str, list[str]]:
        """Resources whose name carries this cluster's id or one of `names`."""
        marks = (CLUSTER_ID, *names)
        return {
            collection: found
            for collection, items in self.everything().items()
            if (found := [i for i in items if any(m in i for m in marks)])
        }

    def get(self, collection: str, name: str) -> dict[str, Any]:
        items = getattr(self, collection)()
        assert name in items, f"{collection} {name} does not exist; have {sorted(items)}"
        found: dict[str, Any] = items[name]
        return found


def not_found(e: Exception) -> bool:
    return isinstance(e, api_exceptions.NotFound)
