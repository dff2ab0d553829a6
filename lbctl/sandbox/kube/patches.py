"""The three PATCH flavours of the Kubernetes API, applied to plain JSON.

* ``application/merge-patch+json``: RFC 7386 (``null`` deletes, lists replaced).
* ``application/json-patch+json``: RFC 6902 operations; a failed ``test`` or a
  bad path answers 422, as the apiserver does.
* ``application/strategic-merge-patch+json``: Kubernetes' own format.  Lists
  merge as the Go struct tags say (see :mod:`schema`): by merge key, as a set of
  scalars (``metadata.finalizers``), or replaced whole.  The directives client-go
  and ``kubernetes.client`` emit are honoured: ``$patch: replace|delete|merge``,
  ``$retainKeys``, ``$setElementOrder/<list>`` and
  ``$deleteFromPrimitiveList/<list>`` -- the finalizer patches the upstream
  service controller sends look like
  ``{"metadata":{"$setElementOrder/finalizers":["a","b"],"finalizers":["b"]}}``.

All functions return new values and never modify their inputs.
"""

from __future__ import annotations

import copy
from typing import Any

from lbctl.sandbox.kube import schema
from lbctl.sandbox.kube.exceptions import StatusError, bad_request

__all__ = ["PatchError", "json_patch", "merge_patch", "strategic_merge_patch"]

_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


class PatchError(StatusError):
    """A patch that is well formed but cannot be applied (422)."""

    def __init__(self, message: str) -> None:
        super().__init__(422, message, reason="Invalid")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- RFC 6902 -------------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, adding: bool) -> int:
    if token == "-" and adding:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"invalid array index {token!r}")
    index = int(token)
    if index > len(container) or (index == len(container) and not adding):
        raise PatchError(f"array index {index} out of bounds")
    return index


def _parent(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, adding=False)]
        else:
            raise PatchError(f"doc is missing path: /{'/'.join(tokens)}")
    return node


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, adding=False)]
    raise PatchError(f"doc is missing path: {path}")


def _remove(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, adding=False))
    raise PatchError(f"unable to remove nonexistent key: {last}: missing value")


def _add(doc: Any, path: str, value: Any, *, replace: bool = False) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError(f"replace operation does not apply: doc is missing key: {path}")
        parent[last] = value
    elif isinstance(parent, list):
        if replace:
            parent[_index(parent, last, adding=False)] = value
        else:
            parent.insert(_index(parent, last, adding=True), value)
    else:
        raise PatchError(f"doc is missing path: {path}")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch; malformed input is 400, an inapplicable one 422."""
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request(f"invalid JSON patch operation: {op!r}")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise bad_request(f"missing value for {kind} operation")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            doc = _add(doc, path, copy.deepcopy(op["value"]), replace=True)
        elif kind in ("move", "copy"):
            value = _get(doc, op.get("from", ""))
            if kind == "move":
                _remove(doc, op["from"])
            doc = _add(doc, path, copy.deepcopy(value))
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise PatchError(f"testing value {path} failed: test failed")
        else:
            raise bad_request(f"Unexpected kind: {kind}")
    return doc


# -- strategic merge -----------------------------------------------------------------------


def strategic_merge_patch(target: Any, patch: Any, shape: schema.Schema) -> Any:
    """Apply a strategic-merge ``patch`` to ``target`` whose type is ``shape``."""
    if not isinstance(patch, dict):
        raise bad_request("strategic merge patch must be a JSON object")
    return _merge_map(target if isinstance(target, dict) else {}, patch, shape)


def _merge_map(original: dict[str, Any], patch: dict[str, Any], shape: schema.Schema) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return _clean(patch)
    if directive not in (None, "merge"):
        raise bad_request(f"unknown patch type: {directive!r} in map")
    result = copy.deepcopy(original)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        field_shape = schema.subschema(shape, key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            merged = _merge_map(current if isinstance(current, dict) else {}, value, field_shape)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, field_shape)
        else:
            result[key] = copy.deepcopy(value)
    for key, value in patch.items():
        if key.startswith(_DELETE_PRIMITIVE) and isinstance(value, list):
            name = key[len(_DELETE_PRIMITIVE) :]
            if isinstance(result.get(name), list):
                result[name] = [v for v in result[name] if v not in value]
    for key, order in patch.items():
        if key.startswith(_ORDER) and isinstance(order, list):
            name = key[len(_ORDER) :]
            field_shape = schema.subschema(shape, name)
            if isinstance(result.get(name), list) and isinstance(field_shape, schema.ListOf):
                result[name] = _reorder(result[name], order, field_shape.merge_key)
    return result


def _merge_list(original: Any, patch: list[Any], shape: schema.Schema) -> list[Any]:
    base = original if isinstance(original, list) else []
    replace = [p for p in patch if isinstance(p, dict) and p.get("$patch") == "replace"]
    if replace or not isinstance(shape, schema.ListOf) or shape.merge_key is None:
        literal = [_clean(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
        if replace or not isinstance(shape, schema.ListOf) or not shape.merge:
            return literal
        result = copy.deepcopy(base)  # a set of scalars, e.g. metadata.finalizers
        for value in literal:
            if value not in result:
                result.append(value)
        return result
    key = shape.merge_key
    result = copy.deepcopy(base)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise bad_request(f"map: {item!r} does not contain declared merge key: {key}")
        at = next(
            (
                i
                for i, old in enumerate(result)
                if isinstance(old, dict) and old.get(key) == item[key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if at is not None:
                del result[at]
            continue
        if at is None:
            result.append(_clean(item))
        else:
            result[at] = _merge_map(result[at], item, shape.item)
    return result


def _reorder(items: list[Any], order: list[Any], merge_key: str | None) -> list[Any]:
    """Sort the items named in ``order`` into that order; others keep their slots."""

    def ident(item: Any) -> Any:
        return item.get(merge_key) if merge_key and isinstance(item, dict) else item

    wanted = [ident(o) for o in order]
    slots = [i for i, item in enumerate(items) if ident(item) in wanted]
    ordered = sorted((items[i] for i in slots), key=lambda item: wanted.index(ident(item)))
    result = list(items)
    for slot, item in zip(slots, ordered, strict=True):
        result[slot] = item
    return result


def _clean(value: Any) -> Any:
    """Drop directive keys (``$patch``, ``$setElementOrder/...``) from a literal value."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
