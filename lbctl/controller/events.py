"""Kubernetes Events on Services, with the upstream service controller's reasons.

Events are core/v1 Events (what `kubectl describe service` and `kubectl get events`
show), with `source.component` and `reportingComponent` set to `lbctl`. As client-go's
recorder does, a repeat of the same (Service, type, reason, message) within ten minutes
bumps `count` and `lastTimestamp` on the existing Event with a PATCH instead of creating
another one. Writing an Event never fails a reconcile: errors are logged.
"""

from __future__ import annotations

import datetime
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from lbctl.controller.kubeapi import raw
from lbctl.controller.predicates import meta

log = logging.getLogger("lbctl.controller.events")

COMPONENT = "lbctl"
NORMAL, WARNING = "Normal", "Warning"
MAX_MESSAGE = 1024
AGGREGATE_WINDOW = 600.0

# Reasons, word for word from kubernetes/cloud-provider controllers/service.
ENSURING = "EnsuringLoadBalancer"
ENSURED = "EnsuredLoadBalancer"
SYNC_FAILED = "SyncLoadBalancerFailed"
DELETING = "DeletingLoadBalancer"
DELETED = "DeletedLoadBalancer"
DELETE_FAILED = "DeleteLoadBalancerFailed"
UNAVAILABLE = "UnAvailableLoadBalancer"
UPDATED = "UpdatedLoadBalancer"
UPDATE_FAILED = "UpdateLoadBalancerFailed"

Obj = dict[str, Any]


class EventSink(Protocol):
    def event(self, obj: Obj, type_: str, reason: str, message: str) -> None: ...


@dataclass
class _Seen:
    name: str
    namespace: str
    count: int
    at: float


def _timestamp(seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class KubeEvents:
    """EventSink over the real client (core/v1 Events)."""

    def __init__(
        self,
        api_client: Any,
        *,
        instance: str,
        clock: Callable[[], float] = time.time,  # test seam
    ) -> None:
        self.core = client.CoreV1Api(api_client)
        self.instance = instance
        self.clock = clock
        self._seen: dict[tuple[str, str, str, str], _Seen] = {}
        self._lock = threading.Lock()
        self._seq = itertools.count()

    def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        m = meta(obj)
        message = message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"
        key = (str(m.get("uid", "")), type_, reason, message)
        now = self.clock()
        try:
            with self._lock:
                seen = self._seen.get(key)
                if seen is not None and now - seen.at > AGGREGATE_WINDOW:
                    seen = None
            if seen is not None and self._bump(seen, now):
                return
            name = self._create(obj, type_, reason, message, now)
            with self._lock:
                self._seen[key] = _Seen(name, str(m.get("namespace")), 1, now)
                if len(self._seen) > 4096:  # bounded: forget the oldest
                    oldest = min(self._seen, key=lambda k: self._seen[k].at)
                    del self._seen[oldest]
        except ApiException as e:
            log.warning(
                "could not record event",
                extra={"reason": reason, "status": e.status, "object": m.get("name")},
            )
        except Exception as e:  # network errors: never fail the reconcile for an Event
            log.warning("could not record event", extra={"reason": reason, "error": str(e)})

    def _bump(self, seen: _Seen, now: float) -> bool:
        body = {"count": seen.count + 1, "lastTimestamp": _timestamp(now)}
        try:
            raw(
                self.core.patch_namespaced_event(
                    seen.name, seen.namespace, body, _preload_content=False
                )
            )
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        with self._lock:
            seen.count += 1
            seen.at = now
        return True

    def _create(self, obj: Obj, type_: str, reason: str, message: str, now: float) -> str:
        m = meta(obj)
        namespace = str(m.get("namespace") or "default")
        name = f"{m.get('name')}.{time.time_ns():x}{next(self._seq) % 100:02d}"
        body: Any = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion") or "v1",
                "kind": obj.get("kind") or "Service",
                "namespace": namespace,
                "name": m.get("name"),
                "uid": m.get("uid"),
                "resourceVersion": m.get("resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self.instance,
            "firstTimestamp": _timestamp(now),
            "lastTimestamp": _timestamp(now),
            "count": 1,
        }
        raw(self.core.create_namespaced_event(namespace, body, _preload_content=False))
        return name


@dataclass(frozen=True)
class Recorded:
    service: str
    type: str
    reason: str
    message: str


class RecordingEvents:
    """An EventSink that keeps what it was given (tests, dry runs)."""

    def __init__(self) -> None:
        self.events: list[Recorded] = []
        self._lock = threading.Lock()

    def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        m = meta(obj)
        with self._lock:
            self.events.append(
                Recorded(f"{m.get('namespace')}/{m.get('name')}", type_, reason, message)
            )

    def reasons(self, service: str | None = None) -> list[str]:
        with self._lock:
            return [e.reason for e in self.events if service is None or e.service == service]
