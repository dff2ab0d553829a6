"""Seeding, the files and environment for lbctl, and the server's options."""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

from lbctl.sandbox.gce import (
    GCEServer,
    SeededGCE,
    compute_client,
    gce_environment,
    seed_gce,
    start_gce,
    write_gce_files,
)


def test_seeded_cluster_and_nodes(gce: SeededGCE) -> None:
    assert (gce.project, gce.region, gce.cluster_id) == ("lbctl-sandbox", "us-central1", "sandbox")
    assert gce.node_tag == "k8s-sandbox-node"
    assert [i.zone for i in gce.instances] == ["us-central1-a", "us-central1-b", "us-central1-a"]
    assert [i.internal_ip for i in gce.instances] == ["10.128.0.2", "10.128.0.3", "10.128.0.4"]
    node = gce.nodes[1]
    assert node["metadata"]["name"] == gce.instances[1].name
    assert (
        node["spec"]["providerID"] == f"gce://lbctl-sandbox/us-central1-b/{gce.instances[1].name}"
    )
    assert node["metadata"]["labels"]["topology.kubernetes.io/zone"] == "us-central1-b"
    assert node["status"]["addresses"][0] == {"type": "InternalIP", "address": "10.128.0.3"}


def test_seeding_over_http_is_idempotent(gce_server: GCEServer, gce: SeededGCE) -> None:
    again = seed_gce(gce_server.endpoint)
    assert again.instances == gce.instances
    other = seed_gce(
        gce_server.endpoint, project="p2", region="europe-west1", cluster_id="c2", node_count=1
    )
    assert other.zones == ["europe-west1-a", "europe-west1-b", "europe-west1-c"]
    client = compute_client("InstancesClient", gce_server)
    names = [i.name for i in client.list(project="p2", zone="europe-west1-a")]
    assert names == ["k8s-c2-node-1"]


def test_write_gce_files(tmp_path: Path, gce: SeededGCE) -> None:
    files = write_gce_files(tmp_path / "out", gce)
    nodes = yaml.safe_load(files["nodes"].read_text())
    assert (nodes["apiVersion"], nodes["kind"]) == ("v1", "List")
    assert [n["metadata"]["name"] for n in nodes["items"]] == [i.name for i in gce.instances]

    config = configparser.ConfigParser()
    config.read(files["cloud-config"])
    assert files["cloud-config"].name == "gce.conf"
    assert dict(config["global"]) == {
        "project-id": "lbctl-sandbox",
        "region": "us-central1",
        "network-name": "default",
        "subnetwork-name": "default",
        "node-tags": "k8s-sandbox-node",
        "node-instance-prefix": "k8s-sandbox-node",
        "api-endpoint": gce.endpoint,
    }


def test_environment(gce_server: GCEServer) -> None:
    assert gce_environment(gce_server) == {
        "LBCTL_GCE_API_ENDPOINT": gce_server.endpoint,
        "LBCTL_GCE_CREDENTIALS": "anonymous",
        "GOOGLE_CLOUD_PROJECT": "lbctl-sandbox",
    }


def test_server_links_and_context_manager() -> None:
    with start_gce(self_links="server") as server:
        seeded = seed_gce(server)
        assert seeded.instances[0].self_link.startswith(f"{server.endpoint}/compute/v1/projects/")
        client = compute_client("NetworksClient", server)
        assert client.get(project=seeded.project, network="default").self_link.startswith(
            server.endpoint
        )
    server.stop()
