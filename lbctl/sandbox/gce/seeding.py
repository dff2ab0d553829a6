"""The read-only world a Kubernetes cluster on GCE sits in, written straight into a backend.

One region with its zones (``-a``, ``-b``, ``-c``, ``-f`` for us-central1, as in
GCE; ``-a`` to ``-c`` elsewhere), a network with the node subnetwork
(``10.128.0.0/20``, the auto-mode range of us-central1) and a second subnetwork
for internal load balancers (``10.129.0.0/24``, for the ILB-subnet annotation),
and node instances spread over the first two zones, tagged ``k8s-<cluster>-node``.
Seeding again with the same arguments adds nothing.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from lbctl.sandbox.gce.frontends import allocate
from lbctl.sandbox.gce.models import ComputeBackend, Scope

MACHINE_TYPE = "e2-standard-4"
NODE_ZONE_COUNT = 2
ILB_SUBNETWORK = ("ilb-subnet", "10.129.0.0/24")


def zone_names(region: str) -> list[str]:
    suffixes = ("a", "b", "c", "f") if region == "us-central1" else ("a", "b", "c")
    return [f"{region}-{suffix}" for suffix in suffixes]


def _put_once(
    backend: ComputeBackend, scope: Scope, collection: str, record: dict[str, Any]
) -> None:
    if scope.item_path(collection, record["name"]) not in backend.resources:
        backend.put(scope, collection, record)


def _subnetwork(
    backend: ComputeBackend, regional: Scope, name: str, cidr: str, network_link: str
) -> str:
    gateway = str(next(ipaddress.ip_network(cidr).hosts()))
    record = {
        "name": name,
        "network": network_link,
        "ipCidrRange": cidr,
        "gatewayAddress": gateway,
        "privateIpGoogleAccess": True,
        "purpose": "PRIVATE",
        "stackType": "IPV4_ONLY",
        "fingerprint": backend.new_fingerprint(),
    }
    _put_once(backend, regional, "subnetworks", record)
    return backend.link(regional.item_path("subnetworks", name))


def seed_backend(
    backend: ComputeBackend,
    *,
    project: str = "lbctl-sandbox",
    region: str = "us-central1",
    cluster_id: str = "sandbox",
    node_count: int = 3,
    network: str = "default",
    subnetwork: str = "default",
    subnetwork_cidr: str = "10.128.0.0/20",
) -> dict[str, Any]:
    """Seed ``backend``; return a JSON-able description of what is there."""
    if node_count < 0:
        raise ValueError("node_count must be >= 0")
    top = Scope(project, "project")
    zones = zone_names(region)
    region_link = backend.link(top.item_path("regions", region))
    zone_links = [backend.link(top.item_path("zones", zone)) for zone in zones]
    _put_once(
        backend,
        top,
        "regions",
        {"name": region, "description": region, "status": "UP", "zones": zone_links},
    )
    for zone in zones:
        _put_once(
            backend,
            top,
            "zones",
            {"name": zone, "description": zone, "status": "UP", "region": region_link},
        )

    globe, regional = Scope(project, "global"), Scope(project, "regions", region)
    network_link = backend.link(globe.item_path("networks", network))
    subnet_links = [
        _subnetwork(backend, regional, subnetwork, subnetwork_cidr, network_link),
        _subnetwork(backend, regional, *ILB_SUBNETWORK, network_link),
    ]
    network_record = {
        "name": network,
        "autoCreateSubnetworks": False,
        "subnetworks": subnet_links,
        "mtu": 1460,
        "routingConfig": {"routingMode": "REGIONAL"},
    }
    _put_once(backend, globe, "networks", network_record)

    node_tag = prefix = f"k8s-{cluster_id}-node"
    instances = []
    for index in range(node_count):
        zone = zones[index % NODE_ZONE_COUNT]
        name = f"{prefix}-{index + 1}"
        scope = Scope(project, "zones", zone)
        path = scope.item_path("instances", name)
        if path not in backend.resources:
            backend.put(
                scope,
                "instances",
                _instance(
                    backend,
                    scope,
                    name,
                    network_link,
                    subnet_links[0],
                    subnetwork_cidr,
                    node_tag,
                    cluster_id,
                ),
            )
        record = backend.resources[path]
        instances.append(
            {
                "name": name,
                "zone": zone,
                "internal_ip": record["networkInterfaces"][0]["networkIP"],
                "self_link": record["selfLink"],
            }
        )
    return {
        "project": project,
        "region": region,
        "zones": zones,
        "network": network,
        "subnetwork": subnetwork,
        "subnetwork_cidr": subnetwork_cidr,
        "extra_subnetworks": {ILB_SUBNETWORK[0]: ILB_SUBNETWORK[1]},
        "cluster_id": cluster_id,
        "node_tag": node_tag,
        "instance_prefix": prefix,
        "machine_type": MACHINE_TYPE,
        "instances": instances,
    }


def _instance(
    backend: ComputeBackend,
    scope: Scope,
    name: str,
    network_link: str,
    subnet_link: str,
    cidr: str,
    tag: str,
    cluster_id: str,
) -> dict[str, Any]:
    machine_type = backend.link(f"{scope.path}/machineTypes/{MACHINE_TYPE}")
    return {
        "name": name,
        "description": f"Kubernetes node of cluster {cluster_id}",
        "machineType": machine_type,
        "status": "RUNNING",
        "tags": {"items": [tag], "fingerprint": backend.new_fingerprint()},
        "labels": {"k8s-cluster": cluster_id},
        "networkInterfaces": [
            {
                "kind": "compute#networkInterface",
                "name": "nic0",
                "network": network_link,
                "subnetwork": subnet_link,
                "networkIP": allocate(backend, cidr),
                "stackType": "IPV4_ONLY",
                "fingerprint": backend.new_fingerprint(),
            }
        ],
        "canIpForward": False,
        "fingerprint": backend.new_fingerprint(),
    }
