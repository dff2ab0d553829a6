"""The optional state file: the whole store as JSON, rewritten after every write.

Only objects and the resourceVersion counter are kept -- what etcd would keep
across an apiserver restart.  Allocations are rebuilt from the Services on
load, and watch history is not kept (a restarted apiserver has none either).
The file is replaced atomically, so a crash never leaves half a state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["load", "save"]

JSON = dict[str, Any]
Key = tuple[str, str, str]
FORMAT = 1


def save(path: Path, rv: int, objects: Iterable[tuple[Key, JSON]]) -> None:
    document = {
        "format": FORMAT,
        "resourceVersion": rv,
        "objects": [{"store": key[0], "object": obj} for key, obj in sorted(objects)],
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def load(path: Path) -> tuple[int, dict[Key, JSON]]:
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("format") != FORMAT:
        raise ValueError(f"{path}: not a sandbox state file (format {document.get('format')!r})")
    objects: dict[Key, JSON] = {}
    for entry in document["objects"]:
        obj = entry["object"]
        meta = obj["metadata"]
        objects[(entry["store"], meta.get("namespace", ""), meta["name"])] = obj
    return int(document["resourceVersion"]), objects
