"""List + watch of one kind of object into an in-memory cache, with change handlers.

Why a cache: every reconcile reads Services and Nodes from here, never from the API
server, so a sync costs no API reads and all workers see one consistent copy. Objects are
kept as plain dicts (what the API server sent, camelCase keys), which is what the core's
ServiceView/NodeView are built from.

The protocol is client-go's reflector, over the real `kubernetes` client:

1. list (in pages of 500), replace the cache, and call the handlers for what changed
   (add / update / delete) — after a relist the handlers see the difference, so nothing
   that happened while the watch was down is missed;
2. watch from the list's resourceVersion with bookmarks (which keep the resourceVersion
   fresh, so a reconnect resumes rather than relists) and a server-side timeout, after
   which the watch is simply reopened from the last resourceVersion;
3. `410 Gone` (the resourceVersion fell out of the server's history): relist at once;
4. any other failure: wait with jittered exponential backoff (0.8 s doubling to 30 s), then
   reconnect, relisting only if the list itself had failed.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kubernetes import watch

from lbctl.controller.kubeapi import raw
from lbctl.controller.predicates import object_key

log = logging.getLogger("lbctl.controller.informer")

Obj = dict[str, Any]
GONE = 410
PAGE_SIZE = 500


class Store:
    """A thread-safe map of key -> object (a plain dict; never mutate what `get` returns)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, Obj] = {}

    def get(self, key: str) -> Obj | None:
        with self._lock:
            return self._items.get(key)

    def items(self) -> list[Obj]:
        with self._lock:
            return list(self._items.values())

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._items)

    def upsert(self, obj: Obj) -> Obj | None:
        with self._lock:
            key = object_key(obj)
            old = self._items.get(key)
            self._items[key] = obj
            return old

    def delete(self, key: str) -> Obj | None:
        with self._lock:
            return self._items.pop(key, None)

    def replace(self, objs: Iterable[Obj]) -> tuple[list[Obj], list[tuple[Obj, Obj]], list[Obj]]:
        """Swap in a full list; returns (added, updated as (old, new), deleted)."""
        fresh = {object_key(o): o for o in objs}
        with self._lock:
            old = self._items
            self._items = fresh
        added = [o for k, o in fresh.items() if k not in old]
        updated = [(old[k], o) for k, o in fresh.items() if k in old and old[k] != o]
        deleted = [o for k, o in old.items() if k not in fresh]
        return added, updated, deleted

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def _resource_version(obj: Mapping[str, Any] | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")


class Informer:
    def __init__(
        self,
        *,
        kind: str,
        list_fn: Callable[..., Any],
        on_add: Callable[[Obj], None],
        on_update: Callable[[Obj, Obj], None],
        on_delete: Callable[[Obj], None],
        watch_timeout: int = 300,
        backoff_base: float = 0.8,
        backoff_max: float = 30.0,
        rng: random.Random | None = None,
        on_relist: Callable[[str], None] = lambda kind: None,
    ) -> None:
        self.kind = kind
        self.list_fn = list_fn
        self.on_add, self.on_update, self.on_delete = on_add, on_update, on_delete
        self.watch_timeout = watch_timeout
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.rng = rng or random.Random()
        self.on_relist = on_relist
        self.store = Store()
        self.synced = threading.Event()  # set after the first full list
        self.resource_version = ""
        self.lists = 0
        self._watch: watch.Watch | None = None
        self._lock = threading.Lock()

    # --- the loop ------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, max_iterations: int | None = None) -> None:
        """List and watch until `stop` is set. `max_iterations` (tests) bounds the watches."""
        need_list = True
        failures = 0
        iterations = 0
        while not stop.is_set():
            if max_iterations is not None and iterations >= max_iterations:
                return
            iterations += 1
            try:
                if need_list:
                    self.relist()
                    need_list = False
                self.watch_once(stop)
                failures = 0
            except Exception as e:
                if stop.is_set():
                    return
                if getattr(e, "status", None) == GONE:
                    log.info(
                        "watch expired, relisting",
                        extra={"kind": self.kind, "resourceVersion": self.resource_version},
                    )
                    need_list = True
                    continue
                delay = self._backoff(failures)
                failures += 1
                log.warning(
                    "list/watch failed, retrying",
                    extra={"kind": self.kind, "error": _short(e), "retryIn": round(delay, 2)},
                )
                stop.wait(delay)

    def _backoff(self, failures: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * 2**failures)
        return self.rng.uniform(ceiling / 2, ceiling)  # jittered, never zero

    def stop_watch(self) -> None:
        """Unblock a watch waiting for data (used on shutdown)."""
        with self._lock:
            current = self._watch
        if current is not None:
            current.stop()  # type: ignore[no-untyped-call]

    # --- list ------------------------------------------------------------------------------

    def relist(self) -> None:
        items: list[Obj] = []
        token: str | None = None
        version = ""
        while True:
            kwargs: dict[str, Any] = {"limit": PAGE_SIZE, "_preload_content": False}
            if token:
                kwargs["_continue"] = token
            page = raw(self.list_fn(**kwargs))
            items += page.get("items") or []
            meta = page.get("metadata") or {}
            version = str(meta.get("resourceVersion") or version)
            token = meta.get("continue") or None
            if not token:
                break
        added, updated, deleted = self.store.replace(items)
        self.resource_version = version
        self.lists += 1
        if self.lists > 1:
            self.on_relist(self.kind)
        for obj in added:
            self._handle(self.on_add, obj)
        for old, new in updated:
            self._handle(self.on_update, old, new)
        for obj in deleted:
            self._handle(self.on_delete, obj)
        self.synced.set()
        log.debug(
            "listed", extra={"kind": self.kind, "count": len(items), "resourceVersion": version}
        )

    # --- watch -----------------------------------------------------------------------------

    def watch_once(self, stop: threading.Event) -> None:
        """One watch connection, until the server ends it, `stop`, or an error."""
        w = watch.Watch()  # type: ignore[no-untyped-call]
        with self._lock:
            self._watch = w
        try:
            stream = w.stream(  # type: ignore[no-untyped-call]
                self.list_fn,
                resource_version=self.resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=self.watch_timeout,
                _request_timeout=(10, self.watch_timeout + 30),
            )
            for event in stream:
                if stop.is_set():
                    w.stop()  # type: ignore[no-untyped-call]
                    break
                self.dispatch(event.get("type", ""), event.get("raw_object") or {})
        finally:
            with self._lock:
                self._watch = None

    def dispatch(self, kind: str, obj: Obj) -> None:
        """Apply one watch event to the cache and call the handler."""
        version = _resource_version(obj)
        if kind == "BOOKMARK":
            self.resource_version = version or self.resource_version
            return
        if kind in ("ADDED", "MODIFIED"):
            old = self.store.upsert(obj)
            if old is None:
                self._handle(self.on_add, obj)
            else:
                self._handle(self.on_update, old, obj)
        elif kind == "DELETED":
            old = self.store.delete(object_key(obj))
            self._handle(self.on_delete, old or obj)
        if version:
            self.resource_version = version

    def _handle(self, fn: Callable[..., None], *args: Obj) -> None:
        try:
            fn(*args)
        except Exception:  # a handler bug must not stop the watch
            log.exception("event handler failed", extra={"kind": self.kind})


def _short(e: Exception) -> str:
    status = getattr(e, "status", None)
    reason = getattr(e, "reason", None)
    if status is not None:
        return f"{status} {reason or ''}".strip()
    text = str(e)
    return text if len(text) <= 200 else text[:200] + "…"
