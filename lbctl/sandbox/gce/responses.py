"""HTTP-facing adapter: route parameters + query + JSON body -> backend call -> JSON.

One method per route handler in :mod:`lbctl.sandbox.gce.urls`. Nothing here
validates resources; that is the backend's job, so in-process callers get the same
rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lbctl.sandbox.gce import kinds
from lbctl.sandbox.gce.exceptions import ComputeError, InvalidValue, NotFound
from lbctl.sandbox.gce.fields import Record
from lbctl.sandbox.gce.models import ComputeBackend, Scope
from lbctl.sandbox.gce.seeding import seed_backend
from lbctl.sandbox.gce.urls import Route

_OPERATION_TYPES = {"POST": "insert", "DELETE": "delete", "PATCH": "patch", "PUT": "update"}
_SEED_ARGUMENTS = {"project", "region", "cluster_id", "node_count", "network", "subnetwork"}
_SEED_ARGUMENTS |= {"subnetwork_cidr"}


def scope_of(route: Route, params: Mapping[str, str]) -> Scope:
    project = params.get("project", "")
    if route.scope == "regions":
        return Scope(project, "regions", params["region"])
    if route.scope == "zones":
        return Scope(project, "zones", params["zone"])
    return Scope(project, route.scope or "project")


class ComputeResponses:
    """Turns routed requests into backend calls; every method returns the JSON body."""

    def __init__(self, backend: ComputeBackend) -> None:
        self.backend = backend

    def dispatch(
        self, route: Route, params: Mapping[str, str], query: Mapping[str, str], body: Record
    ) -> Record:
        handler = getattr(self, f"handle_{route.handler}")
        result: Record = handler(scope_of(route, params), params, query, body)
        return result

    def failed(
        self, route: Route, params: Mapping[str, str], body: Record, error: ComputeError
    ) -> Record:
        """The operation an injected asynchronous failure answers with."""
        scope = scope_of(route, params)
        name = params.get("name") or str(body.get("name") or "unknown")
        path = scope.item_path(params.get("collection", "unknown"), name)
        kind = params.get("verb") or _OPERATION_TYPES.get(route.method, "insert")
        return self.backend.failed_operation(scope, kind, path, error)

    # -- collections and resources -------------------------------------------------------

    def handle_list(
        self, scope: Scope, params: Mapping[str, str], query: Mapping[str, str], body: Record
    ) -> Record:
        return self.backend.list_resources(
            scope,
            params["collection"],
            filter_text=query.get("filter", ""),
            max_results=query.get("maxResults"),
            page_token=query.get("pageToken", ""),
        )

    def handle_aggregated(
        self, scope: Scope, params: Mapping[str, str], query: Mapping[str, str], body: Record
    ) -> Record:
        return self.backend.aggregated_list(
            scope.project, params["collection"], filter_text=query.get("filter", "")
        )

    def handle_insert(
        self, scope: Scope, params: Mapping[str, str], query: Mapping[str, str], body: Record
    ) -> Record:
        return self.backend.insert(scope, params["collection"], body)

    def handle_get(
        self, scope: Scope, params: Mapping[str, str], query: Mapping[str, str], body: Record
    ) -> Record:
        return self.backend.get(scope, params["collection"], params["name"])

    def handle_delete(
        self, scope: Scope, params: Mapping[str, str], query: Mapping[str, str], body: Record
    ) -> Record:
        return self.backend.delete(scope, params["collection"], params["name"])

    def handle_patch(
        self, scope: Scope, params: Mapping[str, str], query: Mapping[str, str], body: Record
    ) -> Record:
        return self._modify(scope, params, body, replace=False)

    def handle_update(
        self, scope: Scope, params: Mapping[str, str], query: Mapping[str, str], body: Record
    ) -> Record:
        return self._modify(scope, params, body, replace=True)

    def _modify(
        self, scope: Scope, params: Mapping[str, str], body: Record, *, replace: bool
    ) -> Record:
        spec = kinds.spec(params["collection"])
        if not (spec.updatable if replace else spec.patchable):
            raise NotFound(scope.item_path(params["collection"], params["name"]))
        return self.backend.modify(
            scope, params["collection"], params["name"], body, replace=replace
        )

    def handle_action(
        self, scope: Scope, params: Mapping[str, str], query: Mapping[str, str], body: Record
    ) -> Record:
        return self.backend.action(
            scope, params["collection"], params["name"], params["verb"], body, query=query
        )

    # -- operations ------------------------------------------------------------------------

    def handle_operation(
        self, scope: Scope, params: Mapping[str, str], query: Mapping[str, str], body: Record
    ) -> Record:
        return self.backend.get_operation(scope, params["operation"])

    def handle_wait(
        self, scope: Scope, params: Mapping[str, str], query: Mapping[str, str], body: Record
    ) -> Record:
        return self.backend.get_operation(scope, params["operation"], wait=True)

    # -- the sandbox's control routes ----------------------------------------------------------

    def handle_reset(
        self, scope: Scope, params: Mapping[str, str], query: Mapping[str, str], body: Record
    ) -> Record:
        self.backend.reset()
        return {}

    def handle_seed(
        self, scope: Scope, params: Mapping[str, str], query: Mapping[str, str], body: Record
    ) -> Record:
        unknown = set(body) - _SEED_ARGUMENTS
        if unknown:
            raise InvalidValue("seed", ",".join(sorted(unknown)), "Unknown seed argument.")
        arguments: dict[str, Any] = dict(body)
        return seed_backend(self.backend, **arguments)
