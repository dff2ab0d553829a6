"""A seeded GCE cluster on the sandbox, and the files and clients that point at it.

:func:`seed_gce` fills a sandbox with what a Kubernetes cluster on GCE looks like
(see :mod:`lbctl.sandbox.gce.seeding`) and renders the matching v1 ``Node``
objects (``spec.providerID = gce://<project>/<zone>/<name>``).
:func:`write_gce_files` writes them as ``nodes.yaml`` beside an upstream-style
``gce.conf``; :func:`gce_environment` gives the environment variables, and
:func:`compute_client` / :func:`anonymous_session` the unmodified Google clients.

google-cloud-compute and google-auth are imported only inside functions.
"""

from __future__ import annotations

import configparser
import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from lbctl.sandbox.gce.seeding import seed_backend
from lbctl.sandbox.gce.server import GCEServer

if TYPE_CHECKING:
    from google.auth.transport.requests import AuthorizedSession

DEFAULT_PROJECT = "lbctl-sandbox"
ENDPOINT_VARIABLE = "LBCTL_GCE_API_ENDPOINT"
CREDENTIALS_VARIABLE = "LBCTL_GCE_CREDENTIALS"


@dataclass(frozen=True)
class SeededGCEInstance:
    name: str
    zone: str
    internal_ip: str
    self_link: str


@dataclass(frozen=True)
class SeededGCE:
    """What :func:`seed_gce` created, plus the Node objects for its instances."""

    endpoint: str
    project: str
    region: str
    zones: list[str]
    network: str
    subnetwork: str
    subnetwork_cidr: str
    extra_subnetworks: dict[str, str]
    cluster_id: str
    node_tag: str
    instance_prefix: str
    instances: list[SeededGCEInstance]
    nodes: list[dict[str, Any]]


def _endpoint(endpoint_or_server: GCEServer | str) -> str:
    if isinstance(endpoint_or_server, GCEServer):
        return endpoint_or_server.endpoint
    return endpoint_or_server.rstrip("/")


def _node(
    instance: SeededGCEInstance, project: str, region: str, machine_type: str
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": instance.name,
            "labels": {
                "kubernetes.io/hostname": instance.name,
                "kubernetes.io/os": "linux",
                "topology.kubernetes.io/region": region,
                "topology.kubernetes.io/zone": instance.zone,
                "node.kubernetes.io/instance-type": machine_type,
            },
        },
        "spec": {"providerID": f"gce://{project}/{instance.zone}/{instance.name}"},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": instance.internal_ip},
                {"type": "Hostname", "address": instance.name},
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                }
            ],
        },
    }


def seed_gce(
    endpoint_or_server: GCEServer | str,
    *,
    project: str = DEFAULT_PROJECT,
    region: str = "us-central1",
    cluster_id: str = "sandbox",
    node_count: int = 3,
) -> SeededGCE:
    """Seed a sandbox (in process, or over HTTP given its endpoint URL)."""
    endpoint = _endpoint(endpoint_or_server)
    if isinstance(endpoint_or_server, GCEServer):
        with endpoint_or_server.backend.lock:
            described = seed_backend(
                endpoint_or_server.backend,
                project=project,
                region=region,
                cluster_id=cluster_id,
                node_count=node_count,
            )
    else:
        arguments = {
            "project": project,
            "region": region,
            "cluster_id": cluster_id,
            "node_count": node_count,
        }
        request = urllib.request.Request(
            f"{endpoint}/_lbctl/seed",
            data=json.dumps(arguments).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            described = json.loads(response.read())
    instances = [SeededGCEInstance(**item) for item in described["instances"]]
    return SeededGCE(
        endpoint=endpoint,
        project=described["project"],
        region=described["region"],
        zones=list(described["zones"]),
        network=described["network"],
        subnetwork=described["subnetwork"],
        subnetwork_cidr=described["subnetwork_cidr"],
        extra_subnetworks=dict(described["extra_subnetworks"]),
        cluster_id=described["cluster_id"],
        node_tag=described["node_tag"],
        instance_prefix=described["instance_prefix"],
        instances=instances,
        nodes=[_node(i, project, region, described["machine_type"]) for i in instances],
    )


def write_gce_files(directory: Path, seeded: SeededGCE) -> dict[str, Path]:
    """Write ``nodes.yaml`` (a v1 List) and ``gce.conf``; return {"nodes", "cloud-config"}.

    ``gce.conf`` has upstream's ``[global]`` keys plus ``region``; ``api-endpoint``
    is the sandbox's base URL as google-cloud-compute's ``client_options`` takes
    it (``http://127.0.0.1:<port>``, no ``/compute/v1/`` suffix).
    """
    directory.mkdir(parents=True, exist_ok=True)
    nodes_path = directory / "nodes.yaml"
    node_list = {"apiVersion": "v1", "kind": "List", "items": seeded.nodes}
    nodes_path.write_text(yaml.safe_dump(node_list, sort_keys=False), encoding="utf-8")

    config = configparser.ConfigParser()
    config.optionxform = str  # type: ignore[assignment,method-assign]
    config["global"] = {
        "project-id": seeded.project,
        "region": seeded.region,
        "network-name": seeded.network,
        "subnetwork-name": seeded.subnetwork,
        "node-tags": seeded.node_tag,
        "node-instance-prefix": seeded.instance_prefix,
        "api-endpoint": seeded.endpoint,
    }
    config_path = directory / "gce.conf"
    with config_path.open("w", encoding="utf-8") as handle:
        config.write(handle, space_around_delimiters=True)
    return {"nodes": nodes_path, "cloud-config": config_path}


def gce_environment(server: GCEServer | str, *, project: str = DEFAULT_PROJECT) -> dict[str, str]:
    """Environment variables pointing lbctl's GCE provider at the sandbox.

    There is no standard variable for a Compute endpoint, so lbctl defines
    ``LBCTL_GCE_API_ENDPOINT`` (the ``client_options`` endpoint) and
    ``LBCTL_GCE_CREDENTIALS=anonymous`` (skip google-auth's default lookup).
    """
    return {
        ENDPOINT_VARIABLE: _endpoint(server),
        CREDENTIALS_VARIABLE: "anonymous",
        "GOOGLE_CLOUD_PROJECT": project,
    }


def compute_client(name: str, endpoint_or_server: GCEServer | str) -> Any:
    """An unmodified ``google.cloud.compute_v1.<name>`` client on the sandbox."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import compute_v1

    client_class = getattr(compute_v1, name)
    return client_class(
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=_endpoint(endpoint_or_server)),
        transport="rest",
    )


def anonymous_session() -> AuthorizedSession:
    """google-auth's session with anonymous credentials (for ``global/httpHealthChecks``)."""
    from google.auth.credentials import AnonymousCredentials
    from google.auth.transport.requests import AuthorizedSession

    credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
    return AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
