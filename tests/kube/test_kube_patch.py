"""PATCH in every flavour the clients send, over HTTP and in-process."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from lbctl.sandbox.kube import KubeAPIServer, patches, schema
from lbctl.sandbox.kube.exceptions import StatusError
from tests.kube.helpers import FINALIZER, raw, service, tweak_lb


def test_dict_body_is_sent_as_strategic_merge(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    core.create_namespaced_service("default", service())
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"tier": "web"}}})
    [patch] = [r for r in kube.requests if r.method == "PATCH"]
    assert patch.content_type == "application/strategic-merge-patch+json"
    assert core.read_namespaced_service("web", "default").metadata.labels == {
        "app": "web",
        "tier": "web",
    }


def test_list_body_is_sent_as_json_patch(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    body = service()
    body["metadata"]["finalizers"] = ["a.example.com/x", FINALIZER]
    core.create_namespaced_service("default", body)
    patched = core.patch_namespaced_service(
        "web",
        "default",
        [
            {"op": "test", "path": "/metadata/finalizers/1", "value": FINALIZER},
            {"op": "remove", "path": "/metadata/finalizers/1"},
        ],
    )
    assert patched.metadata.finalizers == ["a.example.com/x"]
    assert kube.requests[-1].content_type == "application/json-patch+json"


def test_failed_json_patch_test_op_is_422(core: client.CoreV1Api) -> None:
    core.create_namespaced_service("default", service())
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_service(
            "web", "default", [{"op": "test", "path": "/metadata/labels/app", "value": "db"}]
        )
    assert caught.value.status == 422


def test_merge_patch_null_deletes_and_lists_are_replaced(kube: KubeAPIServer) -> None:
    kube.create(service())
    status, _, body = raw(
        kube,
        "PATCH",
        "/api/v1/namespaces/default/services/web",
        {"metadata": {"labels": {"app": None, "x": "y"}}, "spec": {"ports": [{"port": 8080}]}},
        content_type="application/merge-patch+json",
    )
    assert status == 200
    assert body["metadata"]["labels"] == {"x": "y"}
    assert [p["port"] for p in body["spec"]["ports"]] == [8080]


def test_strategic_merge_merges_ports_by_port(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube.create(service())
    patched = core.patch_namespaced_service(
        "web",
        "default",
        {"spec": {"ports": [{"name": "https", "port": 443}, {"port": 80, "targetPort": 8080}]}},
    )
    assert [(p.port, p.target_port) for p in patched.spec.ports] == [(80, 8080), (443, 443)]


def test_strategic_merge_delete_directive_on_a_port(
    kube: KubeAPIServer, core: client.CoreV1Api
) -> None:
    body = service()
    body["spec"]["ports"].append({"name": "https", "port": 443})
    kube.create(body)
    patched = core.patch_namespaced_service(
        "web", "default", {"spec": {"ports": [{"port": 80, "$patch": "delete"}]}}
    )
    assert [p.port for p in patched.spec.ports] == [443]


def test_upstream_finalizer_patches(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    """The exact bodies helpers.PatchService produces (Test_getPatchBytes)."""
    body = service()
    body["metadata"]["finalizers"] = ["foo.example.com/x"]
    kube.create(body)
    added = core.patch_namespaced_service_status(
        "web",
        "default",
        {
            "metadata": {
                "$setElementOrder/finalizers": ["foo.example.com/x", FINALIZER],
                "finalizers": [FINALIZER],
            }
        },
    )
    assert added.metadata.finalizers == ["foo.example.com/x", FINALIZER]
    removed = core.patch_namespaced_service_status(
        "web",
        "default",
        {
            "metadata": {
                "$setElementOrder/finalizers": ["foo.example.com/x"],
                "$deleteFromPrimitiveList/finalizers": [FINALIZER],
            }
        },
    )
    assert removed.metadata.finalizers == ["foo.example.com/x"]


def test_strategic_merge_replaces_ingress_whole(
    kube: KubeAPIServer, core: client.CoreV1Api
) -> None:
    kube.create(service("web", tweak_lb))
    core.patch_namespaced_service_status(
        "web",
        "default",
        {"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.1"}, {"ip": "203.0.113.2"}]}}},
    )
    patched = core.patch_namespaced_service_status(
        "web",
        "default",
        {"status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}},
    )
    assert [(i.ip, i.hostname) for i in patched.status.load_balancer.ingress] == [
        (None, "lb.example.com")
    ]


def test_node_addresses_merge_by_type(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    from tests.kube.helpers import node

    kube.create(node("n1"))
    patched = core.patch_node_status(
        "n1", {"status": {"addresses": [{"type": "ExternalIP", "address": "198.51.100.7"}]}}
    )
    assert [(a.type, a.address) for a in patched.status.addresses] == [
        ("InternalIP", "10.0.0.1"),
        ("ExternalIP", "198.51.100.7"),
    ]


def test_unsupported_patch_content_type_is_415(kube: KubeAPIServer) -> None:
    kube.create(service())
    status, _, body = raw(
        kube, "PATCH", "/api/v1/namespaces/default/services/web", {}, content_type="text/plain"
    )
    assert status == 415
    assert body["reason"] == "UnsupportedMediaType"


def test_server_side_apply_creates_then_merges(kube: KubeAPIServer) -> None:
    manifest = service()
    path = "/api/v1/namespaces/default/services/web?fieldManager=test"
    status, _, created = raw(
        kube, "PATCH", path, manifest, content_type="application/apply-patch+yaml"
    )
    assert status == 200 and created["spec"]["clusterIP"]
    manifest["metadata"]["labels"]["tier"] = "front"
    _, _, merged = raw(kube, "PATCH", path, manifest, content_type="application/apply-patch+yaml")
    assert merged["metadata"]["labels"] == {"app": "web", "tier": "front"}
    status, _, _ = raw(
        kube,
        "PATCH",
        "/api/v1/namespaces/default/services/web",
        manifest,
        content_type="application/apply-patch+yaml",
    )
    assert status == 422  # fieldManager is required for apply


@pytest.mark.parametrize(
    ("validation", "status", "warning"),
    [("Strict", 400, None), ("Warn", 201, 'unknown field \\"spec.portz\\"'), ("Ignore", 201, None)],
)
def test_unknown_fields_are_dropped_warned_or_rejected(
    kube: KubeAPIServer, validation: str, status: int, warning: str | None
) -> None:
    body = service()
    body["spec"]["portz"] = []
    got, headers, created = raw(
        kube, "POST", f"/api/v1/namespaces/default/services?fieldValidation={validation}", body
    )
    assert got == status
    if status == 201:
        assert "portz" not in created["spec"]
    if warning:
        assert warning in headers["Warning"]


def test_status_typo_is_dropped_not_stored(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube.create(service("web", tweak_lb))
    patched = core.patch_namespaced_service_status(
        "web", "default", {"status": {"loadbalancer": {"ingress": [{"ip": "203.0.113.1"}]}}}
    )
    assert patched.status.load_balancer.ingress is None
    assert "loadbalancer" not in kube.get("Service", "default", "web")["status"]


# -- in-process: the patch functions themselves ---------------------------------------------


def _smp(target: Any, patch: Any) -> Any:
    return patches.strategic_merge_patch(target, patch, schema.SERVICE)


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        ({"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": ["b"]}}, ["a", "b"]),
        ({"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": ["a"]}}, ["a"]),
        (
            {"metadata": {"finalizers": ["a", "b", "c"]}},
            {"metadata": {"$setElementOrder/finalizers": ["c", "a"]}},
            ["c", "b", "a"],
        ),
        (
            {"metadata": {"finalizers": ["a", "b"]}},
            {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
            ["b"],
        ),
        (
            {"metadata": {"finalizers": ["a", "b"]}},
            {"metadata": {"finalizers": [{"$patch": "replace"}, "z"]}},
            ["z"],
        ),
    ],
    ids=["add", "idempotent", "reorder-keeps-server-only-slots", "delete", "replace"],
)
def test_finalizer_list_directives(target: Any, patch: Any, expected: list[str]) -> None:
    assert _smp(target, patch)["metadata"]["finalizers"] == expected


def test_map_directives() -> None:
    target = {"spec": {"selector": {"a": "1", "b": "2"}, "type": "ClusterIP"}}
    assert _smp(target, {"spec": {"selector": {"$patch": "replace", "c": "3"}}})["spec"][
        "selector"
    ] == {"c": "3"}
    assert "selector" not in _smp(target, {"spec": {"selector": {"$patch": "delete"}}})["spec"]
    assert _smp(target, {"spec": {"$retainKeys": ["type"], "type": "NodePort"}})["spec"] == {
        "type": "NodePort"
    }


def test_merge_key_missing_is_400() -> None:
    with pytest.raises(StatusError) as caught:
        _smp({"spec": {"ports": []}}, {"spec": {"ports": [{"name": "x"}]}})
    assert caught.value.code == 400


def test_patches_never_modify_their_inputs() -> None:
    target = {"metadata": {"labels": {"a": "1"}, "finalizers": ["x"]}}
    patch = {"metadata": {"labels": {"a": None}, "finalizers": ["y"]}}
    _smp(target, patch)
    patches.merge_patch(target, patch)
    patches.json_patch(target, [{"op": "add", "path": "/metadata/labels/b", "value": "2"}])
    assert target == {"metadata": {"labels": {"a": "1"}, "finalizers": ["x"]}}


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([{"op": "add", "path": "/a/-", "value": 3}], {"a": [1, 2, 3], "b": {"c": "d"}}),
        ([{"op": "replace", "path": "/b/c", "value": "e"}], {"a": [1, 2], "b": {"c": "e"}}),
        ([{"op": "move", "from": "/b/c", "path": "/b/x~1y"}], {"a": [1, 2], "b": {"x/y": "d"}}),
        ([{"op": "copy", "from": "/a/0", "path": "/a/0"}], {"a": [1, 1, 2], "b": {"c": "d"}}),
    ],
    ids=["append", "replace", "move-escaped", "copy"],
)
def test_json_patch_operations(ops: list[Any], expected: Any) -> None:
    assert patches.json_patch({"a": [1, 2], "b": {"c": "d"}}, ops) == expected


def test_json_patch_bad_path_is_422() -> None:
    with pytest.raises(StatusError) as caught:
        patches.json_patch({"a": {}}, [{"op": "remove", "path": "/a/missing"}])
    assert caught.value.code == 422
