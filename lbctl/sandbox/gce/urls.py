"""The sandbox's route table: (HTTP method, path pattern) -> handler name.

Paths are those google-cloud-compute's REST transport builds
(``/compute/v1/projects/{project}/regions/{region}/forwardingRules/{name}``); the
client sends list parameters (``filter``, ``maxResults``, ``pageToken``) as the
query string and nothing else there. ``/_lbctl/...`` are the sandbox's own
control routes (like moto's ``/moto-api``), not part of the Compute API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PROJECT = r"/compute/v1/projects/(?P<project>[^/]+)"
_NAME = r"(?P<name>[^/]+)"
_SCOPES = {
    "global": r"global",
    "regions": r"regions/(?P<region>[^/]+)",
    "zones": r"zones/(?P<zone>[^/]+)",
}
# The collections each scope serves.
COLLECTIONS = {
    "global": ("firewalls", "httpHealthChecks", "healthChecks", "networks"),
    "regions": (
        "addresses",
        "forwardingRules",
        "targetPools",
        "healthChecks",
        "backendServices",
        "subnetworks",
    ),
    "zones": ("instanceGroups", "instances"),
}
ACTIONS = {
    ("regions", "targetPools"): (
        "addInstance",
        "removeInstance",
        "addHealthCheck",
        "removeHealthCheck",
    ),
    ("zones", "instanceGroups"): (
        "addInstances",
        "removeInstances",
        "listInstances",
        "setNamedPorts",
    ),
}
AGGREGATED = (
    "addresses",
    "forwardingRules",
    "targetPools",
    "backendServices",
    "healthChecks",
    "instanceGroups",
    "instances",
    "subnetworks",
)


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: str
    # Where the collection lives: "global", "regions", "zones", "project" or "" (control).
    scope: str


def _one_of(names: tuple[str, ...]) -> str:
    return "|".join(names)


def _routes() -> list[Route]:
    routes = [
        Route("POST", re.compile(r"/_lbctl/reset"), "reset", ""),
        Route("POST", re.compile(r"/_lbctl/seed"), "seed", ""),
    ]

    def add(method: str, path: str, handler: str, scope: str) -> None:
        routes.append(Route(method, re.compile(_PROJECT + path), handler, scope))

    add("GET", r"/(?P<collection>zones|regions)", "list", "project")
    add("GET", rf"/(?P<collection>zones|regions)/{_NAME}", "get", "project")
    add("GET", rf"/aggregated/(?P<collection>{_one_of(AGGREGATED)})", "aggregated", "project")
    for scope, prefix in _SCOPES.items():
        collection = rf"/{prefix}/(?P<collection>{_one_of(COLLECTIONS[scope])})"
        add("GET", collection, "list", scope)
        add("POST", collection, "insert", scope)
        for method, handler in (("GET", "get"), ("DELETE", "delete"), ("PATCH", "patch")):
            add(method, rf"{collection}/{_NAME}", handler, scope)
        add("PUT", rf"{collection}/{_NAME}", "update", scope)
        operation = rf"/{prefix}/operations/(?P<operation>[^/]+)"
        add("GET", operation, "operation", scope)
        add("POST", rf"{operation}/wait", "wait", scope)
    for (scope, name), verbs in ACTIONS.items():
        path = rf"/{_SCOPES[scope]}/(?P<collection>{name})/{_NAME}/(?P<verb>{_one_of(verbs)})"
        add("POST", path, "action", scope)
    return routes


ROUTES = tuple(_routes())


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for ``method path`` and its path parameters, or None."""
    for route in ROUTES:
        found = route.pattern.fullmatch(path)
        if found is not None and route.method == method:
            return route, {k: v for k, v in found.groupdict().items() if v is not None}
    return None


def known_path(path: str) -> bool:
    """Whether some method serves ``path`` (a 405 rather than a 404)."""
    return any(route.pattern.fullmatch(path) for route in ROUTES)
