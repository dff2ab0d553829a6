"""Just enough OpenAPI v3 for ``kubectl apply`` to validate on the server.

kubectl (1.27+) validates manifests before applying them.  It first asks the
server's OpenAPI v3 document whether the resource's PATCH operation accepts the
``fieldValidation`` query parameter; if so, it sends ``fieldValidation=Strict``
and lets the server reject unknown fields (which :mod:`registry` does).  Without
any OpenAPI it fails with "failed to download openapi ... turn validation off
with --validate=false".  So this module serves the discovery root
(``/openapi/v3``) and, per group-version, a document with one path per resource
whose operations carry ``x-kubernetes-group-version-kind`` and the parameter.

There are no component schemas: ``kubectl explain`` does not work, and
``kubectl apply`` computes its strategic-merge patches from its compiled-in
types, which for the built-in kinds served here is the same metadata.
"""

from __future__ import annotations

from typing import Any

from lbctl.sandbox.kube.resources import KUBE_VERSION, RESOURCES

__all__ = ["document", "root"]

JSON = dict[str, Any]


def _prefix(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def root() -> JSON:
    paths = {}
    for r in RESOURCES:
        prefix = _prefix(r.group, r.version)
        paths[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash=lbctl-sandbox"}
    return {"paths": paths}


def _operation(action: str, gvk: JSON, *, validates: bool) -> JSON:
    params: list[JSON] = [
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
    ]
    if validates:
        params.append(
            {
                "name": "fieldValidation",
                "in": "query",
                "schema": {"type": "string", "uniqueItems": True},
            }
        )
        params.append(
            {
                "name": "fieldManager",
                "in": "query",
                "schema": {"type": "string", "uniqueItems": True},
            }
        )
    return {
        "operationId": f"{action}{gvk['kind']}",
        "parameters": params,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    }


def document(path: str) -> JSON | None:
    """The OpenAPI v3 document for ``api/v1`` or ``apis/<group>/<version>``."""
    served = [r for r in RESOURCES if _prefix(r.group, r.version) == path]
    if not served:
        return None
    paths: JSON = {}
    for r in served:
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        base = (
            f"/{path}/namespaces/{{namespace}}/{r.plural}"
            if r.namespaced
            else f"/{path}/{r.plural}"
        )
        paths[base] = {
            "get": _operation("list", gvk, validates=False),
            "post": _operation("post", gvk, validates=True),
        }
        item = {
            "get": _operation("get", gvk, validates=False),
            "put": _operation("put", gvk, validates=True),
            "patch": _operation("patch", gvk, validates=True),
            "delete": _operation("delete", gvk, validates=False),
        }
        paths[f"{base}/{{name}}"] = item
        if r.has_status:
            paths[f"{base}/{{name}}/status"] = {
                k: v for k, v in item.items() if k in ("get", "put", "patch")
            }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBE_VERSION[2]},
        "paths": paths,
        "components": {"schemas": {}},
    }
