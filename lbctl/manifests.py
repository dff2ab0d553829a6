"""Reading Services and Nodes from files, directories, standard input or the cluster."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from lbctl import shapes
from lbctl.errors import FieldError, InvalidInput
from lbctl.model import NodeView, ServiceView

SUFFIXES = (".yaml", ".yml", ".json")


def _documents(text: str, source: str) -> Iterator[dict[str, Any]]:
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        raise InvalidInput([FieldError(f"not valid YAML or JSON: {e}", field=source)]) from e
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise InvalidInput([FieldError("expected a Kubernetes object", field=source)])
        if doc.get("kind", "").endswith("List") and isinstance(doc.get("items"), list):
            yield from (item for item in doc["items"] if isinstance(item, dict))
        else:
            yield doc


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
    return [path]


def load_objects(sources: Iterable[str]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for source in sources:
        if source == "-":
            objects.extend(_documents(sys.stdin.read(), "<stdin>"))
            continue
        path = Path(source)
        if not path.exists():
            raise InvalidInput([FieldError("no such file or directory", field="-f", value=source)])
        for file in _files(path):
            objects.extend(_documents(file.read_text(), str(file)))
    return objects


def _checked_node(raw: dict[str, Any]) -> None:
    errors = shapes.node_errors(raw)
    if errors:
        meta = raw.get("metadata")
        name = meta.get("name", "?") if isinstance(meta, dict) else "?"
        raise InvalidInput(
            [FieldError(f"Node {name}: {e.message}", field=e.field, value=e.value) for e in errors]
        )


def services(objects: Iterable[dict[str, Any]]) -> list[ServiceView]:
    """Every Service; one whose fields have the wrong shape becomes a view that carries
    its input errors, so that it gets a plan with those errors and the others go on."""
    views = []
    for raw in objects:
        if raw.get("kind", "Service") != "Service":
            continue
        errors = shapes.service_errors(raw)
        views.append(ServiceView.broken(raw, errors) if errors else ServiceView.from_dict(raw))
    return views


def nodes(objects: Iterable[dict[str, Any]]) -> list[NodeView]:
    found = [o for o in objects if o.get("kind") == "Node"]
    for raw in found:
        _checked_node(raw)
    return [NodeView.from_dict(o) for o in found]


def nodes_from_cluster() -> list[NodeView]:
    """Nodes of the current kube context (or in-cluster config), like kubectl."""
    try:
        from kubernetes import client, config
    except ImportError as e:
        raise InvalidInput(
            [_no_nodes_error(f"the kubernetes client is not installed ({e})")]
        ) from e
    try:
        try:
            config.load_kube_config()  # type: ignore[no-untyped-call]
        except Exception:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        api = client.CoreV1Api()
        raw = api.api_client.sanitize_for_serialization(api.list_node())
    except Exception as e:
        raise InvalidInput([_no_nodes_error(f"no usable kube context ({e})")]) from e
    return [NodeView.from_dict(item) for item in raw.get("items", [])]


def _no_nodes_error(why: str) -> FieldError:
    return FieldError(
        f"{why}; give the nodes with --nodes FILE (a YAML/JSON v1 Node List, "
        "e.g. `kubectl get nodes -o yaml > nodes.yaml`) or set a kube context",
        field="--nodes",
        value=None,
    )


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2)
