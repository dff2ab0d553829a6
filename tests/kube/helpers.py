"""Manifest builders for the fake API server's tests (``tweak_*`` style)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from lbctl.sandbox.kube import KubeAPIServer

FINALIZER = "service.kubernetes.io/load-balancer-cleanup"


def service(name: str = "web", *tweaks: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A Service manifest (ClusterIP, port 80), adjusted by ``tweak_*`` functions."""
    svc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80}]},
    }
    for tweak in tweaks:
        tweak(svc)
    return svc


def tweak_lb(svc: dict[str, Any]) -> None:
    svc["spec"]["type"] = "LoadBalancer"


def tweak_local(svc: dict[str, Any]) -> None:
    svc["spec"]["externalTrafficPolicy"] = "Local"


def tweak_finalizer(svc: dict[str, Any]) -> None:
    svc["metadata"]["finalizers"] = [FINALIZER]


def node(name: str, *, labels: dict[str, str] | None = None, ready: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"providerID": f"aws:///us-east-1a/i-{name}"},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
        },
    }


def raw(
    server: KubeAPIServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One plain HTTP request (for wire details no client exposes): status, headers, JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method)
    request.add_header("Content-Type", content_type)
    request.add_header("Authorization", "Bearer whatever")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, head, payload = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, head, payload = error.code, dict(error.headers), error.read()
    text = payload.decode()
    try:
        return status, head, json.loads(text)
    except ValueError:
        return status, head, text


def error_body(error: Any) -> dict[str, Any]:
    """The ``Status`` body of an ``ApiException``."""
    body: dict[str, Any] = json.loads(error.body)
    return body


def watch_events(
    server: KubeAPIServer, path: str, count: int | None = None
) -> list[dict[str, Any]]:
    """The first ``count`` events of a raw watch request (all, if it ends by itself)."""
    request = urllib.request.Request(server.url + path)
    events: list[dict[str, Any]] = []
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        while count is None or len(events) < count:
            line = response.readline()
            if not line:
                break
            if line.strip():
                events.append(json.loads(line))
    return events
