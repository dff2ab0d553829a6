"""The fake API server's route table: request paths to :class:`KubeResponses` methods.

Paths are matched in order; ``resource`` routes additionally require that the
path names a served resource (so ``/api/v1/namespaces/default/status`` falls
through to the Namespace route as the ``status`` subresource of ``default``).
Every route tolerates a trailing slash, which kr8s and kopf send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lbctl.sandbox.kube import resources

__all__ = ["Route", "resolve", "url_paths"]

_OBJECT = r"/(?P<plural>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<subresource>[^/]+))?)?/?$"
_CORE = r"^/api/(?P<version>v1)"
_GROUP = r"^/apis/(?P<group>[^/]+\.[^/]+)/(?P<version>[^/]+)"

url_paths: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), action)
    for p, action in (
        (r"^/version/?$", "version"),
        (r"^/(?:healthz|livez|readyz)(?:/.*)?$", "health"),
        (r"^/openapi/v3/?$", "openapi_root"),
        (r"^/openapi/v3/(?P<name>.+)$", "openapi_document"),
        (r"^/api/?$", "core_versions"),
        (r"^/api/v1/?$", "resource_list"),
        (r"^/apis/?$", "group_list"),
        (r"^/apis/(?P<group>[^/]+)/?$", "group"),
        (r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/?$", "resource_list"),
        (_CORE + r"/namespaces/(?P<namespace>[^/]+)" + _OBJECT, "resource"),
        (_CORE + _OBJECT, "resource"),
        (_GROUP + r"/namespaces/(?P<namespace>[^/]+)" + _OBJECT, "resource"),
        (_GROUP + _OBJECT, "resource"),
    )
]


@dataclass(frozen=True)
class Route:
    """A matched route: the action name and the path's parameters."""

    action: str
    group: str = ""
    version: str = "v1"
    namespace: str | None = None
    plural: str = ""
    name: str | None = None
    subresource: str | None = None


def _serves(params: dict[str, str | None]) -> bool:
    rtype = resources.lookup(
        params.get("group") or "", params["version"] or "", params["plural"] or ""
    )
    if rtype is None:
        return False
    if params.get("namespace") is not None:
        return rtype.namespaced
    return not (rtype.namespaced and params.get("name"))  # /api/v1/services: all namespaces


def resolve(path: str) -> Route | None:
    """The route for ``path``, or ``None`` (404)."""
    for pattern, action in url_paths:
        match = pattern.match(path)
        if match is None:
            continue
        params = match.groupdict()
        if action == "resource" and not _serves(params):
            continue
        return Route(
            action=action,
            group=params.get("group") or "",
            version=params.get("version") or "v1",
            namespace=params.get("namespace"),
            plural=params.get("plural") or "",
            name=params.get("name"),
            subresource=params.get("subresource"),
        )
    return None
