"""Watch streams: the bounded change history and the per-connection watchers.

A real apiserver serves watches from a cache of recent changes.  A client that
reconnects with a ``resourceVersion`` still in that window gets every change
after it, in order; an older one gets ``ERROR`` with a 410 ``Expired`` Status
and must relist.  Informers (and :mod:`kubernetes.watch`) are built around
exactly that contract, so the history here is bounded (``history_size``) and
:meth:`KubeBackend.expire_watches` can drop it on demand to exercise the relist
path.

Selectors are applied the way the watch cache applies them: a change that makes
an object *stop* matching is sent as ``DELETED`` (of the previous state), one
that makes it *start* matching as ``ADDED``.
"""

from __future__ import annotations

import queue
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lbctl.sandbox.kube import exceptions, selectors
from lbctl.sandbox.kube.resources import ResourceType

__all__ = ["Change", "WatchHub", "Watcher", "with_version"]

JSON = dict[str, Any]


@dataclass(frozen=True)
class Change:
    """One committed write: the stored object after it (``obj``) and before (``prev``)."""

    rv: int
    type: str  # ADDED / MODIFIED / DELETED
    store: str
    obj: JSON
    prev: JSON | None = None


def with_version(obj: JSON, rv: int) -> JSON:
    """A shallow copy of ``obj`` whose ``metadata.resourceVersion`` is ``rv``."""
    return {**obj, "metadata": {**obj.get("metadata", {}), "resourceVersion": str(rv)}}


class Watcher:
    """One open watch; the backend offers it every change under its lock.

    ``events`` holds ready-to-send ``{"type", "object"}`` dicts; ``None`` ends
    the stream.  ``progress`` is the resourceVersion up to which this watcher
    has been offered every change -- what a BOOKMARK may announce.
    """

    def __init__(
        self,
        rtype: ResourceType,
        namespace: str,
        labels: selectors.Selector,
        fields: selectors.Selector,
        *,
        progress: int,
    ) -> None:
        self.rtype = rtype
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.progress = progress
        self.since = 0  # changes at or before this resourceVersion are not sent
        self.events: queue.Queue[JSON | None] = queue.Queue()
        self.closed = False

    def matches(self, obj: JSON | None) -> bool:
        if obj is None:
            return False
        meta = obj.get("metadata", {})
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        return self.labels.matches(selectors.labels_of(obj)) and self.fields.matches(
            selectors.field_values(obj, self.rtype.store)
        )

    def send(self, kind: str, obj: JSON) -> None:
        self.events.put({"type": kind, "object": self.rtype.external(obj)})

    def offer(self, change: Change) -> None:
        """Queue ``change`` as this watcher sees it (or not at all)."""
        if self.closed or change.store != self.rtype.store or change.rv <= self.since:
            return
        self.progress = max(self.progress, change.rv)
        now = change.type != "DELETED" and self.matches(change.obj)
        before = change.prev is not None and self.matches(change.prev)
        if change.type == "DELETED":
            if self.matches(change.obj):
                self.send("DELETED", change.obj)
        elif now and before:
            self.send("MODIFIED", change.obj)
        elif now:
            self.send("ADDED", change.obj)
        elif before and change.prev is not None:
            self.send("DELETED", with_version(change.prev, change.rv))

    def bookmark(self, *, initial_events_end: bool = False) -> JSON:
        meta: JSON = {"resourceVersion": str(self.progress)}
        if initial_events_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {
            "type": "BOOKMARK",
            "object": {
                "kind": self.rtype.kind,
                "apiVersion": self.rtype.api_version,
                "metadata": meta,
            },
        }

    def close(self, error: JSON | None = None) -> None:
        """End the stream, after an ``ERROR`` event carrying ``error`` if given."""
        if self.closed:
            return
        self.closed = True
        if error is not None:
            self.events.put({"type": "ERROR", "object": error})
        self.events.put(None)


class WatchHub:
    """The change history and the open watchers of one backend.

    Not locked itself: :class:`models.KubeBackend` calls it under its lock, so a
    watch opens atomically with respect to writes (no change is missed or sent
    twice between the replay and the live stream).
    """

    def __init__(self, history_size: int) -> None:
        self.history: deque[Change] = deque(maxlen=history_size)
        self.floor = 0  # a watch or continue token older than this is expired (410)
        self.watchers: set[Watcher] = set()

    def publish(self, change: Change) -> None:
        if len(self.history) == self.history.maxlen:
            self.floor = self.history[0].rv
        self.history.append(change)
        for watcher in list(self.watchers):
            watcher.offer(change)

    def open(
        self,
        watcher: Watcher,
        resource_version: str,
        current: Callable[[], list[JSON]],
        *,
        initial_events_end: bool,
    ) -> Watcher:
        """Queue what ``watcher`` is due (current state, or a replay) and register it."""
        if resource_version in ("", "0"):
            for obj in current():
                watcher.send("ADDED", obj)
            if initial_events_end:
                watcher.events.put(watcher.bookmark(initial_events_end=True))
        else:
            try:
                since = int(resource_version)
            except ValueError as exc:
                raise exceptions.bad_request(
                    f'resourceVersion: Invalid value: "{resource_version}": invalid syntax'
                ) from exc
            if since < self.floor:
                message = f"too old resource version: {since} ({self.floor})"
                watcher.close(exceptions.expired(message).body)
                return watcher
            watcher.since = since
            for change in self.history:
                watcher.offer(change)
        self.watchers.add(watcher)
        return watcher

    def bookmark(self, watcher: Watcher, current_rv: int) -> JSON | None:
        """A BOOKMARK for ``watcher`` at ``current_rv``, unless events are still queued."""
        if not watcher.events.empty() or watcher.closed:
            return None
        watcher.progress = max(watcher.progress, current_rv)
        return watcher.bookmark()

    def remove(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)
        watcher.close()

    def forget(self, current_rv: int) -> None:
        """Drop the history: nothing before ``current_rv`` can be replayed any more."""
        self.history.clear()
        self.floor = current_rv

    def close_all(self, error: JSON | None = None) -> None:
        for watcher in list(self.watchers):
            watcher.close(error)
        self.watchers.clear()
