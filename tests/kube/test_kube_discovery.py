"""Discovery documents and wire basics, as clients (kubectl, kr8s, kopf) read them."""

from __future__ import annotations

import pytest
from kubernetes import client

from lbctl.sandbox.kube import KubeAPIServer
from tests.kube.helpers import raw


@pytest.mark.parametrize("path", ["/api", "/api/", "/apis", "/apis/", "/version", "/version/"])
def test_discovery_roots_answer_with_and_without_trailing_slash(
    kube: KubeAPIServer, path: str
) -> None:
    status, _, body = raw(kube, "GET", path)
    assert status == 200
    assert isinstance(body, dict)


def test_core_resource_list_names_the_served_resources(kube: KubeAPIServer) -> None:
    _, _, body = raw(kube, "GET", "/api/v1")
    names = {r["name"]: r for r in body["resources"]}
    assert body["kind"] == "APIResourceList"
    assert {"services", "services/status", "nodes", "nodes/status", "events", "namespaces"} <= set(
        names
    )
    assert names["services"]["namespaced"] is True
    assert names["nodes"]["namespaced"] is False
    assert names["services"]["shortNames"] == ["svc"]
    assert "watch" in names["services"]["verbs"]
    assert names["services/status"]["verbs"] == ["get", "patch", "update"]


def test_group_list_has_coordination_and_events(kube: KubeAPIServer) -> None:
    _, _, body = raw(kube, "GET", "/apis")
    groups = {g["name"]: g["preferredVersion"]["groupVersion"] for g in body["groups"]}
    assert groups == {
        "coordination.k8s.io": "coordination.k8s.io/v1",
        "events.k8s.io": "events.k8s.io/v1",
    }
    _, _, leases = raw(kube, "GET", "/apis/coordination.k8s.io/v1")
    assert [r["name"] for r in leases["resources"]] == ["leases"]


def test_version_is_parsed_by_the_client(kube: KubeAPIServer, api_client: object) -> None:
    info = client.VersionApi(api_client).get_code()
    assert (info.major, info.minor) == ("1", "32")


def test_unknown_path_is_a_404_status(kube: KubeAPIServer) -> None:
    status, _, body = raw(kube, "GET", "/api/v1/namespaces/default/pods")
    assert status == 404
    assert body["kind"] == "Status"
    assert body["reason"] == "NotFound"
    assert body["message"] == "the server could not find the requested resource"


def test_namespaced_resource_by_name_without_namespace_is_404(kube: KubeAPIServer) -> None:
    status, _, _ = raw(kube, "GET", "/api/v1/services/web")
    assert status == 404


def test_status_subresource_of_a_type_without_one_is_404(kube: KubeAPIServer) -> None:
    status, _, _ = raw(
        kube, "GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/x/status"
    )
    assert status == 404


def test_openapi_v3_declares_server_side_field_validation(kube: KubeAPIServer) -> None:
    _, _, root = raw(kube, "GET", "/openapi/v3")
    assert "api/v1" in root["paths"]
    _, _, doc = raw(kube, "GET", root["paths"]["api/v1"]["serverRelativeURL"])
    patch = doc["paths"]["/api/v1/namespaces/{namespace}/services/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Service"
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]


def test_any_bearer_token_is_accepted(kube: KubeAPIServer) -> None:
    status, _, body = raw(
        kube, "GET", "/api/v1/namespaces", headers={"Authorization": "Bearer nonsense"}
    )
    assert status == 200
    assert body["kind"] == "NamespaceList"
