"""deploy/: every manifest validates offline against the Kubernetes OpenAPI schemas
(kubernetes-validate ships them; strict: unknown fields are errors), and the pieces agree
with each other and with `lbctl run` (flags, ports, RBAC for every call it makes)."""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from lbctl.cli import build_parser
from lbctl.controller.endpoints import parse_bind_address

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# The oldest Kubernetes minor lbctl supports, and the newest the schemas know.
VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]


def documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return out


DOCS = documents()


def by_kind(kind: str) -> dict[str, Any]:
    found = [doc for _, doc in DOCS if doc["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


def test_every_kind_is_there() -> None:
    kinds = sorted(doc["kind"] for _, doc in DOCS)
    assert kinds == sorted(
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
        ]
    )


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("name", "doc"), DOCS, ids=[name for name, _ in DOCS])
def test_manifest_is_valid(name: str, doc: dict[str, Any], version: str) -> None:
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        pytest.fail(f"{name} is not a valid {doc['kind']} for Kubernetes {version}: {e.message}")


def test_the_validator_rejects_a_broken_manifest() -> None:
    broken = yaml.safe_load((DEPLOY / "deployment.yaml").read_text())
    broken["spec"]["template"]["spec"]["containers"][0]["imag"] = "typo"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def container() -> dict[str, Any]:
    deployment = by_kind("Deployment")
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return containers[0]


def test_the_deployment_runs_lbctl_with_leader_election() -> None:
    deployment = by_kind("Deployment")
    assert deployment["spec"]["replicas"] == 2
    args = build_parser().parse_args(container()["args"])  # every flag exists
    assert args.command == "run"
    assert args.leader_elect
    assert args.leader_elect_namespace == deployment["metadata"]["namespace"]
    assert args.cloud_config == Path("/etc/lbctl/cloud-config")
    ports = {p["name"]: p["containerPort"] for p in container()["ports"]}
    assert parse_bind_address(args.metrics_bind_address) == ("0.0.0.0", ports["metrics"])
    assert parse_bind_address(args.health_probe_bind_address) == ("0.0.0.0", ports["health"])
    assert container()["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container()["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}


def test_the_pod_is_locked_down() -> None:
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    security = container()["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert set(container()["resources"]["requests"]) == {"cpu", "memory"}
    assert pod["serviceAccountName"] == by_kind("ServiceAccount")["metadata"]["name"]


# (apiGroup, resource, verb): every call `lbctl run` makes.
CALLS = [("", "services", verb) for verb in ("get", "list", "watch", "update", "patch")] + [
    ("", "services/status", "patch"),
    ("", "services/status", "update"),
    ("", "nodes", "get"),
    ("", "nodes", "list"),
    ("", "nodes", "watch"),
    ("", "events", "create"),
    ("", "events", "patch"),
    ("events.k8s.io", "events", "create"),
    ("events.k8s.io", "events", "patch"),
    ("coordination.k8s.io", "leases", "get"),
    ("coordination.k8s.io", "leases", "create"),
    ("coordination.k8s.io", "leases", "update"),
]


@pytest.mark.parametrize(("group", "resource", "verb"), CALLS)
def test_rbac_allows(group: str, resource: str, verb: str) -> None:
    rules = by_kind("ClusterRole")["rules"]
    assert any(
        group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules
    )


def test_rbac_grants_nothing_else() -> None:
    granted = {
        (g, res, v)
        for r in by_kind("ClusterRole")["rules"]
        for g in r["apiGroups"]
        for res in r["resources"]
        for v in r["verbs"]
    }
    assert granted == set(CALLS)


def test_the_binding_names_the_service_account() -> None:
    binding = by_kind("ClusterRoleBinding")
    account = by_kind("ServiceAccount")
    assert binding["roleRef"]["name"] == by_kind("ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": account["metadata"]["namespace"],
        }
    ]


def test_cloud_config_example_is_upstream_ini() -> None:
    for text in (
        (DEPLOY / "cloud-config.ini").read_text(),
        by_kind("ConfigMap")["data"]["cloud-config"],
    ):
        parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
        parser.read_string(text)
        assert parser.get("Global", "KubernetesClusterID") == "my-cluster"
