"""``limit``/``continue`` list paging, with apiserver-shaped continue tokens.

A token records the list's resourceVersion and the last key served; the next
page starts after that key.  Like the real server, a token whose
resourceVersion has been compacted away (see :meth:`KubeBackend.expire_watches`)
answers 410 Expired.  Unlike it, later pages show the *current* objects rather
than a snapshot at the token's resourceVersion (the fake keeps no old versions).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from lbctl.sandbox.kube import exceptions

__all__ = ["page", "sort_key"]

JSON = dict[str, Any]


def sort_key(obj: JSON) -> str:
    """etcd key order: namespace, then name."""
    meta = obj.get("metadata", {})
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _encode(rv: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str, floor: int) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        rv, start = int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError) as exc:
        raise exceptions.bad_request(f"invalid continue token: {exc}") from exc
    if rv < floor:
        raise exceptions.expired(
            "The provided continue parameter is too old to display a consistent list result."
            " You can start a new list without the continue parameter, or use the continue"
            " token in this response to retrieve the remainder of the results."
        )
    return rv, start


def page(
    items: list[JSON], *, limit: int, token: str, current_rv: int, floor: int
) -> tuple[list[JSON], JSON]:
    """The page of sorted ``items`` to serve and the list's ``metadata``."""
    list_rv = current_rv
    if token:
        list_rv, start = _decode(token, floor)
        items = [o for o in items if sort_key(o) > start]
    meta: JSON = {"resourceVersion": str(list_rv)}
    if limit and len(items) > limit:
        meta["remainingItemCount"] = len(items) - limit
        items = items[:limit]
        meta["continue"] = _encode(list_rv, sort_key(items[-1]))
    return items, meta
