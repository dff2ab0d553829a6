"""The server as a fixture: restart, persistence, reset, fault injection, request log."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from lbctl.sandbox.kube import KubeAPIServer
from tests.kube.helpers import FINALIZER, error_body, node, raw, service, tweak_lb, watch_events


def _core(server: KubeAPIServer, tmp_path: Path) -> client.CoreV1Api:
    path = server.write_kubeconfig(tmp_path / f"kubeconfig-{server.port}")
    return client.CoreV1Api(config.new_client_from_config(config_file=str(path)))


def test_kubeconfig_points_at_the_server(kube: KubeAPIServer, tmp_path: Path) -> None:
    written = yaml.safe_load(kube.write_kubeconfig(tmp_path / "kc").read_text())
    assert written["current-context"] == "lbctl-sandbox"
    assert written["clusters"][0]["cluster"]["server"] == kube.url
    assert written["users"][0]["user"] == {"token": "sandbox"}


def test_restart_keeps_port_and_state(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    created = core.create_namespaced_service("default", service())
    url = kube.url
    kube.stop()
    assert not kube.running
    with pytest.raises(Exception):  # noqa: B017 - urllib3 raises its own connection errors
        core.read_namespaced_service("web", "default", _request_timeout=2)
    kube.start()
    assert kube.url == url
    again = core.read_namespaced_service("web", "default")
    assert again.metadata.uid == created.metadata.uid


def test_state_file_survives_a_new_process(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with KubeAPIServer(state_file=state) as first:
        core = _core(first, tmp_path)
        created = core.create_namespaced_service("default", service("web", tweak_lb))
        core.patch_namespaced_service_status(
            "web", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.5"}]}}}
        )
        last_rv = first.resource_version
    with KubeAPIServer(state_file=state) as second:
        core = _core(second, tmp_path)
        restored = core.read_namespaced_service("web", "default")
        assert restored.metadata.uid == created.metadata.uid
        assert restored.status.load_balancer.ingress[0].ip == "203.0.113.5"
        assert int(restored.metadata.resource_version) == last_rv
        clash = service("other", tweak_lb)
        clash["spec"]["ports"][0]["nodePort"] = created.spec.ports[0].node_port
        with pytest.raises(ApiException) as caught:
            core.create_namespaced_service("default", clash)
        assert caught.value.status == 422
        newer = core.create_namespaced_service("default", service("next"))
        assert int(newer.metadata.resource_version) > last_rv
        [gone] = watch_events(second, "/api/v1/services?watch=1&resourceVersion=1")
        assert gone["object"]["code"] == 410


def test_reset_keeps_only_system_namespaces(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "team"}})
    core.create_namespaced_service("default", service())
    kube.create(node("n1"))
    before = kube.resource_version
    kube.reset()
    assert [n.metadata.name for n in core.list_namespace().items] == [
        "default",
        "kube-node-lease",
        "kube-public",
        "kube-system",
    ]
    assert core.list_service_for_all_namespaces().items == []
    assert core.list_node().items == []
    assert kube.resource_version >= before


def test_inject_a_conflict_once(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube.create(service("web", tweak_lb))
    fault = kube.inject(method="PATCH", path_regex=r"/services/web/status$", status=409)
    body = {"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.1"}]}}}
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_service_status("web", "default", body)
    assert caught.value.status == 409
    assert error_body(caught.value)["reason"] == "Conflict"
    assert core.patch_namespaced_service_status("web", "default", body).status.load_balancer
    assert fault.hits == 1


def test_inject_throttling_with_retry_after(kube: KubeAPIServer) -> None:
    kube.inject(path_regex=r"/api/v1/nodes", status=429, retry_after=3, times=None)
    for _ in range(2):
        status, headers, body = raw(kube, "GET", "/api/v1/nodes")
        assert status == 429
        assert headers["Retry-After"] == "3"
        assert body["reason"] == "TooManyRequests"
        assert body["details"]["retryAfterSeconds"] == 3
    kube.clear_faults()
    assert raw(kube, "GET", "/api/v1/nodes")[0] == 200


def test_inject_matches_the_query_string(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube.inject(path_regex=r"services\?.*watch=true", status=500, times=1)
    assert core.list_namespaced_service("default").items == []
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_service("default", watch=True, _preload_content=False)
    assert caught.value.status == 500


def test_inject_a_delay_only(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube.inject(method="GET", path_regex="/api/v1/nodes", status=None, delay=0.3)
    started = time.monotonic()
    core.list_node()
    assert time.monotonic() - started >= 0.3


def test_requests_are_recorded(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube.create(service())
    kube.clear_requests()
    core.patch_namespaced_service_status(
        "web", "default", {"metadata": {"finalizers": [FINALIZER]}}
    )
    [request] = kube.requests
    assert (request.method, request.path, request.status) == (
        "PATCH",
        "/api/v1/namespaces/default/services/web/status",
        200,
    )
    assert request.body == {"metadata": {"finalizers": [FINALIZER]}}


def test_helpers_write_status_for_set_up(kube: KubeAPIServer) -> None:
    body: dict[str, Any] = service("web", tweak_lb)
    body["status"] = {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}
    kube.create(body)
    stored = kube.get("Service", "default", "web")
    assert stored["status"]["loadBalancer"]["ingress"] == [{"hostname": "lb.example.com"}]
    assert [s["metadata"]["name"] for s in kube.list("svc")] == ["web"]
    assert kube.list("Service")[0]["kind"] == "Service"
