"""The API server without HTTP: objects, resourceVersions, and registry rules.

Everything a controller can observe through the API is decided here, under one
lock, so that HTTP requests from many threads see the same serial history a
real apiserver (backed by etcd) gives them:

* one global, monotonically increasing ``resourceVersion``, bumped by every
  committed write and never by a no-op (an update that changes nothing is not
  written and sends no watch event);
* optimistic concurrency: a write carrying a stale ``metadata.resourceVersion``
  is a 409 ``Conflict``;
* the status subresource: writes to the main resource keep ``.status``, writes
  to ``/status`` keep ``.spec`` but *do* apply metadata -- the upstream service
  controller adds and removes its finalizer through ``/status``;
* graceful deletion: DELETE of an object with finalizers only sets
  ``deletionTimestamp``; the update that removes the last finalizer deletes it;
* registry quirks per type (Service allocation, Node status on create, Events
  created by PUT, immortal system namespaces, namespace teardown).

Objects are stored in their storage form (core ``v1`` for Events, no
``kind``/``apiVersion``) and never mutated once stored: every write stores a
fresh copy, so watch history and responses can share them safely.  Optional
persistence writes the whole store as JSON after every write.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lbctl.sandbox.kube import exceptions, paging, persistence, registry, selectors, services
from lbctl.sandbox.kube.exceptions import StatusError
from lbctl.sandbox.kube.resources import RESOURCES, ResourceType
from lbctl.sandbox.kube.watch import Change, Watcher, WatchHub

__all__ = ["SYSTEM_NAMESPACES", "KubeBackend"]

JSON = dict[str, Any]
Key = tuple[str, str, str]  # (store, namespace, name)
Compute = Callable[[JSON | None], JSON]

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class KubeBackend:
    """The state of one fake cluster; thread-safe, HTTP-free."""

    def __init__(
        self,
        *,
        state_file: Path | None = None,
        history_size: int = 1000,
        clock: Callable[[], datetime] = _utc_now,  # seam: tests may pass a fixed clock
    ) -> None:
        self.lock = threading.RLock()
        self.state_file = state_file
        self.clock = clock
        self.objects: dict[Key, JSON] = {}
        self.rv = 0
        self.watches = WatchHub(history_size)
        self.alloc = services.Allocator()
        if state_file is not None and state_file.exists():
            self._load(state_file)
        else:
            self._bootstrap()

    # -- helpers ---------------------------------------------------------------------------

    def timestamp(self) -> str:
        return self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _bootstrap(self) -> None:
        for name in SYSTEM_NAMESPACES:
            if ("namespaces", "", name) not in self.objects:
                ns = RESOURCES[0]
                self._create(ns, "", {"metadata": {"name": name}}, dry_run=False)
        self.watches.forget(self.rv)

    def _namespace_of(self, rtype: ResourceType, namespace: str) -> str:
        return namespace if rtype.namespaced else ""

    def _commit(self, kind: str, key: Key, obj: JSON | None, prev: JSON | None) -> JSON:
        """Store ``obj`` (``None``: remove ``key``) at a new resourceVersion; notify watchers."""
        self.rv += 1
        if key[0] == "services" and obj is None:
            self.alloc.release(f"{key[1]}/{key[2]}")
        elif key[0] == "services":
            self.alloc.commit(f"{key[1]}/{key[2]}", prev, obj)
        base = obj if obj is not None else prev
        assert base is not None
        stored = {**base, "metadata": {**base["metadata"], "resourceVersion": str(self.rv)}}
        if obj is None:
            del self.objects[key]
        else:
            self.objects[key] = stored
        self.watches.publish(Change(self.rv, kind, key[0], stored, prev))
        self._save()
        return stored

    def _current(self, rtype: ResourceType, namespace: str, name: str) -> JSON:
        obj = self.objects.get((rtype.store, self._namespace_of(rtype, namespace), name))
        if obj is None:
            raise exceptions.not_found(rtype.plural, name, rtype.group)
        return obj

    # -- reads -----------------------------------------------------------------------------

    def exists(self, rtype: ResourceType, namespace: str, name: str) -> bool:
        with self.lock:
            key = (rtype.store, self._namespace_of(rtype, namespace), name)
            return key in self.objects

    def get(self, rtype: ResourceType, namespace: str, name: str) -> JSON:
        with self.lock:
            return rtype.external(self._current(rtype, namespace, name))

    def select(
        self,
        rtype: ResourceType,
        namespace: str,
        labels: selectors.Selector,
        fields: selectors.Selector,
    ) -> list[JSON]:
        """Stored objects of ``rtype`` in ``namespace`` ("" = all) matching both selectors."""
        found = []
        for (store, ns, _), obj in sorted(self.objects.items()):
            if store != rtype.store or (namespace and ns != namespace):
                continue
            if labels.matches(selectors.labels_of(obj)) and fields.matches(
                selectors.field_values(obj, store)
            ):
                found.append(obj)
        return found

    def list(
        self,
        rtype: ResourceType,
        namespace: str,
        *,
        labels: selectors.Selector,
        fields: selectors.Selector,
        limit: int = 0,
        continue_token: str = "",
    ) -> JSON:
        with self.lock:
            items, meta = paging.page(
                self.select(rtype, namespace, labels, fields),
                limit=limit,
                token=continue_token,
                current_rv=self.rv,
                floor=self.watches.floor,
            )
            return {
                "kind": f"{rtype.kind}List",
                "apiVersion": rtype.api_version,
                "metadata": meta,
                "items": [rtype.to_view(o) for o in items],
            }

    # -- writes ----------------------------------------------------------------------------

    def create(
        self, rtype: ResourceType, namespace: str, body: JSON, *, dry_run: bool = False
    ) -> JSON:
        with self.lock:
            return rtype.external(self._create(rtype, namespace, body, dry_run=dry_run))

    def _create(self, rtype: ResourceType, namespace: str, body: JSON, *, dry_run: bool) -> JSON:
        obj = registry.incoming(rtype, body)
        meta = obj.setdefault("metadata", {})
        if meta.get("resourceVersion"):
            raise StatusError(500, "resourceVersion should not be set on objects to be created")
        namespace = self._namespace_of(rtype, namespace)
        if rtype.namespaced:
            if meta.get("namespace", namespace) != namespace:
                raise exceptions.bad_request(
                    "the namespace of the provided object does not match the namespace sent on"
                    " the request"
                )
            meta["namespace"] = namespace
            self._check_namespace_open(namespace)
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        for field in (*_SERVER_META, "generation"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = self.timestamp()
        key = (rtype.store, namespace, meta.get("name", ""))
        registry.prepare(rtype, obj, None, alloc=self.alloc, owner=f"{namespace}/{key[2]}")
        if key in self.objects:
            raise exceptions.already_exists(rtype.plural, key[2], rtype.group)
        if dry_run:
            return obj
        return self._commit("ADDED", key, obj, None)

    def _check_namespace_open(self, namespace: str) -> None:
        ns = self.objects.get(("namespaces", "", namespace))
        if ns is None:
            raise exceptions.not_found("namespaces", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise exceptions.forbidden(
                "namespaces",
                namespace,
                f"unable to create new content in namespace {namespace} because it is being"
                " terminated",
            )

    def update(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        compute: Compute,
        *,
        subresource: str = "",
        dry_run: bool = False,
        create: bool = False,
    ) -> JSON:
        """Replace or patch: ``compute(current_view)`` returns the new object.

        ``current_view`` is ``None`` when the object does not exist and ``create``
        allows creating it (PUT of Events, server-side apply).
        """
        with self.lock:
            namespace = self._namespace_of(rtype, namespace)
            key = (rtype.store, namespace, name)
            current = self.objects.get(key)
            if current is None:
                if not create:
                    raise exceptions.not_found(rtype.plural, name, rtype.group)
                body = compute(None)
                body.setdefault("metadata", {}).setdefault("name", name)
                return self.create(rtype, namespace, body, dry_run=dry_run)
            new = registry.incoming(rtype, compute(rtype.external(current)))
            meta = new.setdefault("metadata", {})
            if meta.get("name", name) != name:
                raise exceptions.bad_request(
                    f"the name of the object ({meta['name']}) does not match the name on the URL"
                    f" ({name})"
                )
            if rtype.namespaced and meta.get("namespace", namespace) != namespace:
                raise exceptions.bad_request(
                    "the namespace of the provided object does not match the namespace sent on"
                    " the request"
                )
            wanted_rv = meta.pop("resourceVersion", None)
            if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
                raise exceptions.conflict(rtype.plural, name, rtype.group)
            registry.merge_update(rtype, new, current, subresource=subresource)
            registry.prepare(rtype, new, current, alloc=self.alloc, owner=f"{namespace}/{name}")
            meta = new["metadata"]  # prepare() normalised ``new`` into fresh dicts
            meta["resourceVersion"] = current["metadata"]["resourceVersion"]
            if new == current:
                return rtype.external(current)  # a no-op is not written: no rv, no event
            if dry_run:
                return rtype.external(new)
            if meta.get("deletionTimestamp") and not meta.get("finalizers"):
                stored = self._commit("DELETED", key, None, new)
                self._finish_namespaces()
                return rtype.external(stored)
            return rtype.external(self._commit("MODIFIED", key, new, current))

    def delete(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        *,
        preconditions: JSON | None = None,
        dry_run: bool = False,
    ) -> JSON:
        with self.lock:
            current = self._current(rtype, namespace, name)
            meta = current["metadata"]
            for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                wanted = (preconditions or {}).get(field)
                if wanted and wanted != meta.get(field):
                    why = (
                        f"Precondition failed: {label} in precondition: {wanted},"
                        f" {label} in object meta: {meta.get(field)}"
                    )
                    raise exceptions.conflict(rtype.plural, name, rtype.group, why=why)
            if rtype.store == "namespaces" and name in SYSTEM_NAMESPACES[:3]:
                raise exceptions.forbidden("namespaces", name, "this namespace may not be deleted")
            if dry_run:
                return rtype.external(current)
            stored, gone = self._delete(rtype, current)
            self._finish_namespaces()
            if not gone or rtype.return_deleted:
                return rtype.external(stored)
            return {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": name,
                    **({"group": rtype.group} if rtype.group else {}),
                    "kind": rtype.plural,
                    "uid": meta.get("uid"),
                },
            }

    def _delete(self, rtype: ResourceType, current: JSON) -> tuple[JSON, bool]:
        """Delete, or start graceful deletion; the resulting object and whether it is gone."""
        meta = current["metadata"]
        key = (rtype.store, meta.get("namespace", ""), meta["name"])
        if meta.get("deletionTimestamp"):
            return current, False
        if rtype.store != "namespaces" and not meta.get("finalizers"):
            return self._commit("DELETED", key, None, current), True
        pending = copy.deepcopy(current)
        pending["metadata"]["deletionTimestamp"] = self.timestamp()
        pending["metadata"]["deletionGracePeriodSeconds"] = 0
        if rtype.store == "namespaces":
            pending.setdefault("status", {})["phase"] = "Terminating"
        stored = self._commit("MODIFIED", key, pending, current)
        if rtype.store == "namespaces":  # the namespace controller empties it
            for (store, ns, _), obj in list(self.objects.items()):
                if ns == meta["name"] and store != "namespaces":
                    self._delete(next(r for r in RESOURCES if r.store == store), obj)
        return stored, False

    def _finish_namespaces(self) -> None:
        """Remove terminating namespaces that have become empty (the namespace controller)."""
        for key, ns in list(self.objects.items()):
            if key[0] != "namespaces" or not ns["metadata"].get("deletionTimestamp"):
                continue
            if not any(k[1] == key[2] for k in self.objects if k[0] != "namespaces"):
                self._commit("DELETED", key, None, ns)

    def delete_collection(
        self,
        rtype: ResourceType,
        namespace: str,
        labels: selectors.Selector,
        fields: selectors.Selector,
    ) -> JSON:
        with self.lock:
            items = self.select(rtype, namespace, labels, fields)
            for obj in items:
                self._delete(rtype, obj)
            self._finish_namespaces()
            return {
                "kind": f"{rtype.kind}List",
                "apiVersion": rtype.api_version,
                "metadata": {"resourceVersion": str(self.rv)},
                "items": [rtype.to_view(o) for o in items],
            }

    # -- watch -----------------------------------------------------------------------------

    def watch(
        self,
        rtype: ResourceType,
        namespace: str,
        *,
        labels: selectors.Selector,
        fields: selectors.Selector,
        resource_version: str,
        initial_events_end: bool = False,
    ) -> Watcher:
        """Open a watch; the events already due (initial state or replay) are queued."""
        with self.lock:
            return self.watches.open(
                Watcher(rtype, namespace, labels, fields, progress=self.rv),
                resource_version,
                lambda: self.select(rtype, namespace, labels, fields),
                initial_events_end=initial_events_end,
            )

    def bookmark(self, watcher: Watcher) -> JSON | None:
        with self.lock:
            return self.watches.bookmark(watcher, self.rv)

    def unwatch(self, watcher: Watcher) -> None:
        with self.lock:
            self.watches.remove(watcher)

    def expire_watches(self) -> None:
        """Simulate etcd compaction: drop history, end every watch with 410 Expired."""
        with self.lock:
            self.watches.forget(self.rv)
            message = "The resourceVersion for the provided watch is too old."
            self.watches.close_all(exceptions.expired(message).body)

    def close_watches(self) -> None:
        with self.lock:
            self.watches.close_all()

    # -- lifecycle -------------------------------------------------------------------------

    def reset(self) -> None:
        """Drop every object but the system namespaces; close watches; keep counting rv."""
        with self.lock:
            self.close_watches()
            system = {("namespaces", "", n) for n in SYSTEM_NAMESPACES}
            self.objects = {k: v for k, v in self.objects.items() if k in system}
            self.alloc = services.Allocator()
            self._bootstrap()
            self._save()

    def _save(self) -> None:
        if self.state_file is not None:
            persistence.save(self.state_file, self.rv, self.objects.items())

    def _load(self, path: Path) -> None:
        self.rv, self.objects = persistence.load(path)
        for (store, namespace, name), obj in self.objects.items():
            if store == "services":
                self.alloc.commit(f"{namespace}/{name}", None, obj)
        self._bootstrap()
