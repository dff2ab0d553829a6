"""The controller's writes to the Kubernetes API (finalizer and status) and client config.

Why these shapes:
- The finalizer is written with a JSON merge patch on the Service itself, carrying the
  resourceVersion it was computed from: a concurrent edit gives 409 Conflict instead of a
  lost update, and the write is retried on a freshly read copy. (Upstream sends it through
  the status subresource; lbctl keeps metadata writes off `status`, which API servers are
  free to isolate.)
- `status.loadBalancer.ingress` is written only through the `status` subresource, as
  upstream does. A 409 re-reads the Service and retries (or stops if the re-read copy
  already has the wanted status); a 404 after the finalizer went is ignored — the Service
  can vanish the moment its last finalizer is removed.
- Objects are read and returned as the JSON the API server sent (`_preload_content=False`)
  so the controller works on the same plain dicts as its informers.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from lbctl.controller.predicates import meta
from lbctl.model import LOAD_BALANCER_CLEANUP_FINALIZER

log = logging.getLogger("lbctl.controller.kubeapi")

Obj = dict[str, Any]
CONFLICT_RETRIES = 5
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


class KubeError(Exception):
    """A Kubernetes API call failed; `status` is the HTTP status (0 if none)."""

    def __init__(self, message: str, status: int = 0) -> None:
        self.status = status
        super().__init__(message)


class Gone(KubeError):
    """The Service no longer exists (or was replaced by one with another UID)."""


def translate(e: ApiException, what: str) -> KubeError:
    status = int(getattr(e, "status", 0) or 0)
    reason = str(getattr(e, "reason", "") or "")
    message = reason
    body = getattr(e, "body", None)
    if body:
        try:
            message = json.loads(body).get("message") or reason
        except (ValueError, AttributeError):
            message = reason
    text = f"{what}: {status} {message}".strip()
    if len(text) > 300:
        text = text[:300] + "…"
    return Gone(text, status) if status == 404 else KubeError(text, status)


def raw(response: Any) -> Obj:
    """The JSON body of a `_preload_content=False` response; the connection goes back to
    the pool (an unread, unreleased response would be closed with a reset instead)."""
    try:
        data = response.data
    finally:
        response.release_conn()
    out: Obj = json.loads(data) if data else {}
    return out


# --- configuration -----------------------------------------------------------------------


def load_api_client(*, kubeconfig: str | None = None, context: str | None = None) -> Any:
    """An ApiClient the way controllers find their cluster (controller-runtime's order):
    --kubeconfig, else $KUBECONFIG, else in-cluster (the pod's service account), else
    ~/.kube/config; --context picks a context other than the current one."""
    cfg = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG") or None
    if path is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        except Exception as e:
            raise KubeError(f"cannot use the in-cluster configuration: {e}") from e
        return client.ApiClient(cfg)
    if path is None:
        default = Path.home() / ".kube" / "config"
        if not default.exists():
            raise KubeError(
                "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, run in a "
                "cluster, or create ~/.kube/config"
            )
        path = str(default)
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path, context=context, client_configuration=cfg
        )
    except Exception as e:  # ConfigException, a missing file, bad YAML
        raise KubeError(f"cannot use kubeconfig {path}: {e}") from e
    return client.ApiClient(cfg)


# --- the writes a reconcile makes --------------------------------------------------------


class ServiceWriter(Protocol):
    """What the reconciler writes to (and re-reads from) the API server."""

    def get(self, namespace: str, name: str) -> Obj | None: ...

    def set_finalizer(self, svc: Obj, *, present: bool) -> Obj | None: ...

    def patch_ingress(self, svc: Obj, ingress: Sequence[Mapping[str, Any]]) -> Obj | None: ...


def ingress_of(svc: Obj | None) -> list[dict[str, Any]]:
    status = (svc or {}).get("status") or {}
    return list((status.get("loadBalancer") or {}).get("ingress") or [])


def _same_object(a: Obj, b: Obj | None) -> bool:
    return b is not None and meta(a).get("uid") == meta(b).get("uid")


class KubeServices:
    """ServiceWriter over the real client."""

    def __init__(self, api_client: Any) -> None:
        self.core = client.CoreV1Api(api_client)

    def get(self, namespace: str, name: str) -> Obj | None:
        try:
            return raw(self.core.read_namespaced_service(name, namespace, _preload_content=False))
        except ApiException as e:
            if e.status == 404:
                return None
            raise translate(e, f"get service {namespace}/{name}") from e

    def _reread(self, svc: Obj) -> Obj:
        m = meta(svc)
        fresh = self.get(m["namespace"], m["name"])
        if fresh is None or not _same_object(svc, fresh):
            raise Gone(f"service {m['namespace']}/{m['name']} is gone", 404)
        return fresh

    def set_finalizer(self, svc: Obj, *, present: bool) -> Obj | None:
        """Add or remove lbctl's finalizer; returns the updated Service (None if gone)."""
        current = svc
        for _ in range(CONFLICT_RETRIES):
            m = meta(current)
            finalizers = list(m.get("finalizers") or [])
            if (LOAD_BALANCER_CLEANUP_FINALIZER in finalizers) == present:
                return current
            if present:
                finalizers.append(LOAD_BALANCER_CLEANUP_FINALIZER)
            else:
                finalizers = [f for f in finalizers if f != LOAD_BALANCER_CLEANUP_FINALIZER]
            body = {
                "metadata": {
                    "finalizers": finalizers or None,
                    "resourceVersion": m.get("resourceVersion"),
                }
            }
            try:
                return raw(
                    self.core.patch_namespaced_service(
                        m["name"],
                        m["namespace"],
                        body,
                        _content_type=MERGE_PATCH,
                        _preload_content=False,
                    )
                )
            except ApiException as e:
                if e.status == 404:
                    if present:
                        raise translate(e, "add finalizer") from e
                    return None
                if e.status != 409:
                    raise translate(e, "patch finalizers") from e
            try:
                current = self._reread(current)
            except Gone:
                if present:
                    raise
                return None
        raise KubeError(f"patch finalizers: still conflicting after {CONFLICT_RETRIES} tries", 409)

    def patch_ingress(self, svc: Obj, ingress: Sequence[Mapping[str, Any]]) -> Obj | None:
        """Write status.loadBalancer.ingress through the status subresource."""
        current = svc
        wanted = [dict(i) for i in ingress]
        for _ in range(CONFLICT_RETRIES):
            if ingress_of(current) == wanted:
                return current
            m = meta(current)
            body = {"status": {"loadBalancer": {"ingress": wanted or None}}}
            try:
                return raw(
                    self.core.patch_namespaced_service_status(
                        m["name"],
                        m["namespace"],
                        body,
                        _content_type=STRATEGIC_MERGE_PATCH,
                        _preload_content=False,
                    )
                )
            except ApiException as e:
                if e.status == 404:
                    return None
                if e.status != 409:
                    raise translate(e, "update load balancer status") from e
                log.info("status patch conflicted; re-reading", extra={"service": _key(m)})
            try:
                current = self._reread(current)
            except Gone:
                return None
        raise KubeError(f"patch status: still conflicting after {CONFLICT_RETRIES} tries", 409)


def _key(m: Mapping[str, Any]) -> str:
    return f"{m.get('namespace')}/{m.get('name')}"
