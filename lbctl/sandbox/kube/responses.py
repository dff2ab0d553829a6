"""The HTTP adapter: parse a request, call :class:`KubeBackend`, serialise the reply.

One method per route action (see :mod:`urls`); no HTTP I/O happens here, so
this layer is testable without a socket.  What it owns is the wire protocol of
the apiserver as the clients speak it:

* query parameters: ``labelSelector``, ``fieldSelector``, ``limit``/``continue``,
  ``watch`` (``true``, ``True`` from kubernetes_asyncio, or ``1``),
  ``resourceVersion``, ``timeoutSeconds``, ``allowWatchBookmarks``,
  ``sendInitialEvents``, ``dryRun=All``, ``fieldValidation``, ``fieldManager``;
* the four PATCH content types (``kubernetes.client`` sends strategic merge for
  a dict body and JSON patch for a list);
* ``Accept: ...;as=Table;g=meta.k8s.io`` (``kubectl get``) answered with Tables;
* unknown fields reported in ``Warning`` headers, as kubectl shows them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from lbctl.sandbox.kube import openapi, patches, registry, resources, selectors, tables, urls
from lbctl.sandbox.kube.exceptions import StatusError, bad_request, method_not_allowed
from lbctl.sandbox.kube.models import KubeBackend
from lbctl.sandbox.kube.resources import ResourceType
from lbctl.sandbox.kube.watch import Watcher

__all__ = ["KubeResponses", "Reply", "Request", "WatchReply"]

JSON = dict[str, Any]
DEFAULT_WATCH_TIMEOUT = 1800  # the apiserver's --min-request-timeout

_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    accept: str
    body: bytes
    host: str = ""


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class WatchReply:
    """An open watch to stream until ``timeout`` seconds pass or the watcher closes."""

    watcher: Watcher
    timeout: float
    bookmarks: bool
    render: Callable[[JSON], JSON] | None = None  # event -> what goes on the wire


class _TableEvents:
    """Watch events as one-row Tables (``kubectl get -w``); headers in the first only."""

    def __init__(self, rtype: ResourceType, backend: KubeBackend, include_object: str) -> None:
        self.rtype, self.backend, self.include_object = rtype, backend, include_object
        self.first = True

    def __call__(self, event: JSON) -> JSON:
        obj = event["object"]
        if event["type"] not in ("ADDED", "MODIFIED", "DELETED"):
            return event
        table = tables.to_table(
            self.rtype,
            [self.rtype.to_storage(dict(obj))],
            resource_version=obj["metadata"].get("resourceVersion", ""),
            include_object=self.include_object,
            now=self.backend.clock(),
        )
        if not self.first:
            table["columnDefinitions"] = []
        self.first = False
        return {"type": event["type"], "object": table}


def _flag(query: dict[str, str], name: str) -> bool:
    return query.get(name, "").lower() in ("true", "1")


def not_found_path() -> StatusError:
    return StatusError(404, "the server could not find the requested resource", details={})


class KubeResponses:
    """Route actions over one :class:`KubeBackend`."""

    def __init__(self, backend: KubeBackend) -> None:
        self.backend = backend

    def handle(self, request: Request) -> Reply | WatchReply:
        route = urls.resolve(request.path)
        if route is None:
            raise not_found_path()
        action: Callable[[Request, urls.Route], Reply | WatchReply] = getattr(self, route.action)
        return action(request, route)

    # -- discovery -------------------------------------------------------------------------

    def version(self, request: Request, route: urls.Route) -> Reply:
        return Reply(200, resources.version_info())

    def health(self, request: Request, route: urls.Route) -> Reply:
        return Reply(200, "ok")

    def openapi_root(self, request: Request, route: urls.Route) -> Reply:
        return Reply(200, openapi.root())

    def openapi_document(self, request: Request, route: urls.Route) -> Reply:
        doc = openapi.document(route.name or "")
        if doc is None:
            raise not_found_path()
        return Reply(200, doc)

    def core_versions(self, request: Request, route: urls.Route) -> Reply:
        return Reply(200, resources.api_versions(request.host))

    def resource_list(self, request: Request, route: urls.Route) -> Reply:
        doc = resources.api_resource_list(route.group, route.version)
        if doc is None:
            raise not_found_path()
        return Reply(200, doc)

    def group_list(self, request: Request, route: urls.Route) -> Reply:
        return Reply(200, resources.api_group_list())

    def group(self, request: Request, route: urls.Route) -> Reply:
        doc = resources.api_group(route.group)
        if doc is None:
            raise not_found_path()
        return Reply(200, doc)

    # -- resources -------------------------------------------------------------------------

    def resource(self, request: Request, route: urls.Route) -> Reply | WatchReply:
        rtype = resources.lookup(route.group, route.version, route.plural)
        assert rtype is not None  # urls.resolve only routes served resources here
        if route.subresource is not None and not (
            route.subresource == "status" and rtype.has_status
        ):
            raise not_found_path()
        namespace = route.namespace or ""
        method = request.method
        if route.name is None:
            if method == "GET":
                return self._list(request, rtype, namespace)
            if method == "POST" and (namespace or not rtype.namespaced):
                return self._create(request, rtype, namespace)
            if method == "DELETE" and rtype.deletecollection:
                return self._delete_collection(request, rtype, namespace)
            raise method_not_allowed()
        sub = route.subresource or ""
        if method == "GET":
            obj = self.backend.get(rtype, namespace, route.name)
            if tables.wants_table(request.accept):
                return self._table(request, rtype, [obj], obj["metadata"]["resourceVersion"])
            return Reply(200, obj)
        if method == "PUT":
            return self._replace(request, rtype, namespace, route.name, sub)
        if method == "PATCH":
            return self._patch(request, rtype, namespace, route.name, sub)
        if method == "DELETE" and not sub:
            return self._delete(request, rtype, namespace, route.name)
        raise method_not_allowed()

    def _selectors(
        self, request: Request, rtype: ResourceType
    ) -> tuple[selectors.Selector, selectors.Selector]:
        return (
            selectors.parse_label_selector(request.query.get("labelSelector")),
            selectors.parse_field_selector(request.query.get("fieldSelector"), rtype.store),
        )

    def _list(self, request: Request, rtype: ResourceType, namespace: str) -> Reply | WatchReply:
        labels, fields = self._selectors(request, rtype)
        query = request.query
        if _flag(query, "watch"):
            try:
                timeout = float(int(query.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT))
            except ValueError as exc:
                raise bad_request(f"invalid timeoutSeconds: {exc}") from exc
            bookmarks = _flag(query, "allowWatchBookmarks")
            watcher = self.backend.watch(
                rtype,
                namespace,
                labels=labels,
                fields=fields,
                resource_version=query.get("resourceVersion", ""),
                initial_events_end=bookmarks and _flag(query, "sendInitialEvents"),
            )
            render = None
            if tables.wants_table(request.accept):
                include = query.get("includeObject", "Metadata")
                render = _TableEvents(rtype, self.backend, include)
            return WatchReply(watcher, timeout, bookmarks, render)
        try:
            limit = int(query.get("limit") or 0)
        except ValueError as exc:
            raise bad_request(f"invalid limit: {exc}") from exc
        doc = self.backend.list(
            rtype,
            namespace,
            labels=labels,
            fields=fields,
            limit=limit,
            continue_token=query.get("continue", ""),
        )
        if tables.wants_table(request.accept):
            meta = {k: v for k, v in doc["metadata"].items() if k != "resourceVersion"}
            return self._table(
                request, rtype, doc["items"], doc["metadata"]["resourceVersion"], meta
            )
        return Reply(200, doc)

    def _table(
        self,
        request: Request,
        rtype: ResourceType,
        items: list[JSON],
        resource_version: str,
        extra_meta: JSON | None = None,
    ) -> Reply:
        stored = [rtype.to_storage(dict(item)) for item in items]
        table = tables.to_table(
            rtype,
            stored,
            resource_version=resource_version,
            include_object=request.query.get("includeObject", "Metadata"),
            now=self.backend.clock(),
            extra_meta=extra_meta,
        )
        return Reply(200, table)

    @staticmethod
    def _body(request: Request) -> Any:
        if not request.body:
            return None
        text = request.body.decode("utf-8")
        try:
            if "yaml" in request.content_type:
                return yaml.safe_load(text)
            return json.loads(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise bad_request(f"error decoding request body: {exc}") from exc

    @staticmethod
    def _dry_run(request: Request) -> bool:
        return request.query.get("dryRun") == "All"

    @staticmethod
    def _warned(reply: Reply, warnings: list[str]) -> Reply:
        if warnings:
            reply.headers["Warning"] = ", ".join(
                "299 - " + json.dumps(w) for w in dict.fromkeys(warnings)
            )
        return reply

    def _create(self, request: Request, rtype: ResourceType, namespace: str) -> Reply:
        body, warnings = registry.decode(
            rtype, self._body(request), request.query.get("fieldValidation", "Warn")
        )
        obj = self.backend.create(rtype, namespace, body, dry_run=self._dry_run(request))
        return self._warned(Reply(201, obj), warnings)

    def _replace(
        self, request: Request, rtype: ResourceType, namespace: str, name: str, sub: str
    ) -> Reply:
        body, warnings = registry.decode(
            rtype, self._body(request), request.query.get("fieldValidation", "Warn")
        )
        existed = self.backend.exists(rtype, namespace, name)
        obj = self.backend.update(
            rtype,
            namespace,
            name,
            lambda current: body,
            subresource=sub,
            dry_run=self._dry_run(request),
            create=rtype.create_on_update and not sub,
        )
        return self._warned(Reply(200 if existed else 201, obj), warnings)

    def _patch(
        self, request: Request, rtype: ResourceType, namespace: str, name: str, sub: str
    ) -> Reply:
        content_type = request.content_type
        if content_type not in _PATCH_TYPES:
            raise StatusError(
                415,
                f"the body of the request was in an unknown format - accepted media types"
                f" include: {', '.join(_PATCH_TYPES)}",
            )
        patch = self._body(request)
        apply = content_type == "application/apply-patch+yaml"
        if apply and not request.query.get("fieldManager"):
            raise StatusError(
                422,
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required'
                " for apply patch",
            )
        validation = request.query.get("fieldValidation", "Warn")
        warnings: list[str] = []

        def compute(current: JSON | None) -> JSON:
            if current is None:  # server-side apply of a new object
                patched = patch
            elif content_type == "application/json-patch+json":
                patched = patches.json_patch(current, patch)
            elif content_type == "application/merge-patch+json":
                patched = patches.merge_patch(current, patch)
            else:
                patched = patches.strategic_merge_patch(current, patch, rtype.schema)
            body, found = registry.decode(rtype, patched, validation)
            warnings.extend(found)
            return body

        obj = self.backend.update(
            rtype,
            namespace,
            name,
            compute,
            subresource=sub,
            dry_run=self._dry_run(request),
            create=apply and not sub,
        )
        return self._warned(Reply(200, obj), warnings)

    def _delete_options(self, request: Request) -> JSON:
        body = self._body(request)
        return body if isinstance(body, dict) else {}

    def _delete(self, request: Request, rtype: ResourceType, namespace: str, name: str) -> Reply:
        options = self._delete_options(request)
        dry_run = self._dry_run(request) or options.get("dryRun") == ["All"]
        obj = self.backend.delete(
            rtype, namespace, name, preconditions=options.get("preconditions"), dry_run=dry_run
        )
        return Reply(200, obj)

    def _delete_collection(self, request: Request, rtype: ResourceType, namespace: str) -> Reply:
        labels, fields = self._selectors(request, rtype)
        return Reply(200, self.backend.delete_collection(rtype, namespace, labels, fields))
