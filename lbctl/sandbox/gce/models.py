"""The Compute Engine sandbox's state and rules, without HTTP.

:class:`ComputeBackend` stores every resource as the JSON record the API returns,
keyed by its path (``projects/p/regions/r/forwardingRules/name``), and implements
the API's generic verbs: insert, get, list (filter, paging), delete (refusing
while another resource uses the target), PATCH (JSON merge patch) and PUT, and the
POST sub-resources (``addInstance``, ``listInstances``, ...). What is specific to
one resource kind lives in its :class:`~lbctl.sandbox.gce.fields.KindSpec`.

Writes return an ``Operation`` (see :mod:`lbctl.sandbox.gce.operations`).
References are stored as full links under ``link_base`` (the real API writes
``https://www.googleapis.com/compute/v1/...``); inputs may be full links with any
host, ``projects/...`` paths or scope-relative ``regions/...`` paths.

Not thread-safe by itself: the HTTP server holds :attr:`ComputeBackend.lock`
around each request, and in-process callers sharing a backend should too.
"""

from __future__ import annotations

import base64
import copy
import datetime
import random
import re
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from lbctl.sandbox.gce import kinds
from lbctl.sandbox.gce.exceptions import (
    AlreadyExists,
    ComputeError,
    ConditionNotMet,
    Forbidden,
    InvalidValue,
    NotFound,
    ResourceInUse,
    UnknownField,
)
from lbctl.sandbox.gce.fields import OUTPUT_ONLY, Draft, KindSpec, Record, check_name
from lbctl.sandbox.gce.listing import compile_filter, page
from lbctl.sandbox.gce.operations import Operation, operation_name

DEFAULT_LINK_BASE = "https://www.googleapis.com/compute/v1/"
_LINK = re.compile(r"https?://[^/]+/compute/(?:v1|beta|alpha)/(projects/.+)")
_WRITE_VERBS = ("create", "update", "delete")


@dataclass(frozen=True)
class Scope:
    """Where a collection lives: ``global``, ``regions``/``zones`` + name, or ``project``."""

    project: str
    kind: str
    name: str = ""

    @property
    def path(self) -> str:
        if self.kind == "project":
            return f"projects/{self.project}"
        if self.kind == "global":
            return f"projects/{self.project}/global"
        return f"projects/{self.project}/{self.kind}/{self.name}"

    def item_path(self, collection: str, name: str) -> str:
        return f"{self.path}/{collection}/{name}"


def collection_of(path: str) -> str:
    return path.rsplit("/", 2)[-2]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch, the API's PATCH semantics (lists are replaced)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


class ComputeBackend:
    """All projects' Compute resources; see the module docstring."""

    def __init__(
        self,
        *,
        link_base: str = DEFAULT_LINK_BASE,
        operation_polls: int = 1,
        wait_completes: bool = True,
        seed: int = 0,
    ) -> None:
        self.lock = threading.RLock()
        self.link_base = link_base
        self.operation_polls = operation_polls
        self.wait_completes = wait_completes
        self._seed = seed
        self.reset()

    def reset(self) -> None:
        """Forget every resource, operation and ``forbid``."""
        self.resources: dict[str, Record] = {}
        self.operations: dict[str, Operation] = {}
        self.forbidden: dict[str, set[str]] = {}
        self._random = random.Random(self._seed)

    # -- helpers kinds use ------------------------------------------------------------

    def link(self, path: str) -> str:
        return self.link_base + path

    def relative(self, ref: str, project: str) -> str | None:
        """``projects/...`` path of a reference, or None if it is not one."""
        match = _LINK.fullmatch(ref)
        if match:
            return match.group(1)
        if ref.startswith("projects/"):
            return ref
        if ref.startswith(("global/", "regions/", "zones/")):
            return f"projects/{project}/{ref}"
        return None

    def resolve(
        self, ref: object, *, field: str, scope: Scope, collections: Collection[str]
    ) -> str:
        """The canonical link of an existing resource of one of ``collections``."""
        path = self.relative(ref, scope.project) if isinstance(ref, str) else None
        if path is None or path.count("/") < 3 or collection_of(path) not in collections:
            raise InvalidValue(field, ref, "The URL is malformed.")
        if path not in self.resources:
            raise NotFound(path)
        return self.link(path)

    def new_id(self) -> str:
        return str(self._random.getrandbits(62) | 1 << 62)

    def new_fingerprint(self) -> str:
        return base64.b64encode(self._random.randbytes(8)).decode()

    @staticmethod
    def now() -> str:
        return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")

    def record(self, path: str) -> Record | None:
        return self.resources.get(path)

    def deref(self, link: str) -> Record:
        """The record behind a link this backend wrote."""
        return self.resources[link.removeprefix(self.link_base)]

    def records(self, collection: str, *, under: str = "") -> list[Record]:
        """Records of ``collection`` whose path starts with ``under``, sorted by name."""
        found = [
            record
            for path, record in self.resources.items()
            if collection_of(path) == collection and path.startswith(under)
        ]
        return sorted(found, key=lambda record: str(record["name"]))

    def put(self, scope: Scope, collection: str, record: Record) -> Record:
        """Store a record as is (read-only kinds: seeding), adding the common fields."""
        path = scope.item_path(collection, str(record["name"]))
        self.resources[path] = self._stamp(kinds.spec(collection), scope, path, record, None)
        return self.resources[path]

    def forbid(self, collection: str, verbs: Collection[str] = _WRITE_VERBS) -> None:
        self.forbidden.setdefault(collection, set()).update(verbs)

    def allow(self, collection: str) -> None:
        self.forbidden.pop(collection, None)

    # -- the API's verbs ----------------------------------------------------------------

    def insert(self, scope: Scope, collection: str, body: Record) -> Record:
        spec = self._scoped(scope, collection, writable=True)
        clean = self._clean_body(spec, body)
        path = scope.item_path(collection, check_name(clean.get("name")))
        self._authorize(collection, "create", path)
        if path in self.resources:
            raise AlreadyExists(path)
        return self._mutate(scope, "insert", path, lambda: self._build(spec, scope, clean, None))

    def get(self, scope: Scope, collection: str, name: str) -> Record:
        spec = self._scoped(scope, collection)
        return spec.render(self, self._existing(scope.item_path(collection, name)))

    def list_resources(
        self,
        scope: Scope,
        collection: str,
        *,
        filter_text: str = "",
        max_results: str | None = None,
        page_token: str = "",
    ) -> Record:
        spec = self._scoped(scope, collection)
        under = f"{scope.path}/{collection}/"
        items = [spec.render(self, record) for record in self.records(collection, under=under)]
        return page(
            self.link,
            spec.list_kind,
            under.rstrip("/"),
            items,
            filter_text,
            max_results,
            page_token,
        )

    def aggregated_list(self, project: str, collection: str, *, filter_text: str = "") -> Record:
        spec = kinds.spec(collection)
        predicate = compile_filter(filter_text)
        items: dict[str, dict[str, list[Record]]] = {}
        for record in self.records(collection, under=f"projects/{project}/"):
            rendered = spec.render(self, record)
            if predicate(rendered):
                scope_key = str(rendered["selfLink"]).split(f"projects/{project}/")[1]
                scope_key = scope_key.rsplit("/", 2)[0]
                items.setdefault(scope_key, {}).setdefault(collection, []).append(rendered)
        path = f"projects/{project}/aggregated/{collection}"
        return {
            "kind": f"{spec.kind}AggregatedList",
            "id": path,
            "items": items,
            "selfLink": self.link(path),
        }

    def delete(self, scope: Scope, collection: str, name: str) -> Record:
        self._scoped(scope, collection, writable=True)
        path = scope.item_path(collection, name)
        self._authorize(collection, "delete", path)
        record = self._existing(path)
        link = self.link(path)
        for other_path, other in self.resources.items():
            if link in kinds.spec(collection_of(other_path)).refs(other):
                raise ResourceInUse(path, other_path)

        def remove() -> Record:
            return self.resources.pop(path)

        return self._mutate(scope, "delete", path, remove, target_id=str(record["id"]))

    def modify(
        self, scope: Scope, collection: str, name: str, body: Record, *, replace: bool
    ) -> Record:
        """PATCH (merge) or, with ``replace``, PUT a resource."""
        spec = self._scoped(scope, collection, writable=True)
        path = scope.item_path(collection, name)
        self._authorize(collection, "update", path)
        existing = self._existing(path)
        clean = self._clean_body(spec, body)
        if spec.fingerprinted and body.get("fingerprint") != existing.get("fingerprint"):
            raise ConditionNotMet()
        if clean.get("name", name) != name:
            raise InvalidValue("resource.name", clean["name"], "A resource cannot be renamed.")
        if not replace:
            base = {k: v for k, v in spec.render(self, existing).items() if k in spec.fields}
            clean = self._strip(spec, merge_patch(base, clean))
        clean["name"] = name
        kind = "update" if replace else "patch"
        return self._mutate(scope, kind, path, lambda: self._build(spec, scope, clean, existing))

    def action(
        self,
        scope: Scope,
        collection: str,
        name: str,
        verb: str,
        body: Record,
        *,
        query: Mapping[str, str] | None = None,
    ) -> Record:
        """A POST sub-resource: a change (``addInstance``) or a read (``listInstances``)."""
        spec = self._scoped(scope, collection)
        path = scope.item_path(collection, name)
        if verb in spec.queries:
            list_kind, items = spec.queries[verb](Draft(self, scope, body, self._existing(path)))
            query = query or {}
            return page(
                self.link,
                list_kind,
                f"{path}/{verb}",
                items,
                query.get("filter", ""),
                query.get("maxResults"),
                query.get("pageToken", ""),
            )
        if verb not in spec.actions:
            raise NotFound(f"{path}/{verb}")
        self._authorize(collection, "update", path)
        existing = self._existing(path)

        def change() -> Record:
            record = spec.actions[verb](Draft(self, scope, body, existing))
            self.resources[path] = self._stamp(spec, scope, path, record, existing)
            return record

        return self._mutate(scope, verb, path, change)

    def failed_operation(self, scope: Scope, kind: str, path: str, error: ComputeError) -> Record:
        """An operation that ends DONE with ``error`` (for injected async failures)."""
        return self._operation(scope, kind, path, "0", error)

    def get_operation(self, scope: Scope, name: str, *, wait: bool = False) -> Record:
        path = f"{scope.path}/operations/{name}"
        operation = self.operations.get(path)
        if operation is None:
            raise NotFound(path)
        operation.read(self.now(), complete=wait and self.wait_completes)
        return operation.to_json()

    # -- internals ----------------------------------------------------------------------

    def _scoped(self, scope: Scope, collection: str, *, writable: bool = False) -> KindSpec:
        spec = kinds.spec(collection)
        if scope.kind not in spec.scopes or (writable and spec.prepare is None):
            raise NotFound(f"{scope.path}/{collection}")
        if scope.kind in ("regions", "zones") and scope.path not in self.resources:
            raise NotFound(scope.path)
        return spec

    def _existing(self, path: str) -> Record:
        record = self.resources.get(path)
        if record is None:
            raise NotFound(path)
        return record

    def _authorize(self, collection: str, verb: str, path: str) -> None:
        if verb in self.forbidden.get(collection, ()):
            raise Forbidden(f"compute.{collection}.{verb}", path)

    def _clean_body(self, spec: KindSpec, body: Record) -> Record:
        for key in body:
            if key not in spec.fields:
                raise UnknownField(key)
        return self._strip(spec, body)

    @staticmethod
    def _strip(spec: KindSpec, body: Record) -> Record:
        dropped = (
            OUTPUT_ONLY | spec.output_only | ({"fingerprint"} if spec.fingerprinted else set())
        )
        return {key: value for key, value in body.items() if key not in dropped}

    def _build(self, spec: KindSpec, scope: Scope, body: Record, existing: Record | None) -> Record:
        assert spec.prepare is not None
        record = spec.prepare(Draft(self, scope, body, existing))
        path = scope.item_path(spec.collection, str(body["name"]))
        self.resources[path] = self._stamp(spec, scope, path, record, existing)
        return self.resources[path]

    def _stamp(
        self, spec: KindSpec, scope: Scope, path: str, record: Record, existing: Record | None
    ) -> Record:
        head: Record = {
            "kind": spec.kind,
            "id": existing["id"] if existing else self.new_id(),
            "creationTimestamp": existing["creationTimestamp"] if existing else self.now(),
            "name": path.rsplit("/", 1)[1],
        }
        tail: Record = {}
        if scope.kind in ("regions", "zones"):
            tail["region" if scope.kind == "regions" else "zone"] = self.link(scope.path)
        if spec.fingerprinted:
            tail["fingerprint"] = self.new_fingerprint()
        tail["selfLink"] = self.link(path)
        public = {k: v for k, v in record.items() if k not in head and not k.startswith("_")}
        private = {k: v for k, v in (existing or {}).items() if k.startswith("_")}
        private.update((k, v) for k, v in record.items() if k.startswith("_"))
        return head | public | tail | private

    def _mutate(
        self,
        scope: Scope,
        kind: str,
        path: str,
        change: Callable[[], Record],
        *,
        target_id: str = "",
    ) -> Record:
        """Apply ``change``; an asynchronous failure becomes a failed operation instead."""
        try:
            record = change()
        except ComputeError as error:
            if not error.asynchronous:
                raise
            record = self.resources.get(path, {})
            return self._operation(scope, kind, path, str(record.get("id", target_id)), error)
        return self._operation(scope, kind, path, target_id or str(record["id"]), None)

    def _operation(
        self, scope: Scope, kind: str, path: str, target_id: str, error: ComputeError | None
    ) -> Record:
        name = operation_name()
        operation_path = f"{scope.path}/operations/{name}"
        operation = Operation(
            name=name,
            id=self.new_id(),
            scope_path=scope.path,
            operation_type=kind,
            target_link=self.link(path),
            target_id=target_id,
            self_link=self.link(operation_path),
            scope_link=self.link(scope.path),
            scope_kind=scope.kind,
            insert_time=self.now(),
            reads_left=max(self.operation_polls, 0),
            error=error,
        )
        operation.stamp(operation.insert_time)
        self.operations[operation_path] = operation
        return operation.to_json()
