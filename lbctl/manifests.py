"""Reading Services and Nodes from files, directories, standard input or the cluster.

How documents are parsed, and why:
- JSON text (what `kubectl get -o json` prints: the first character is `{` or `[`) goes
  to `json.loads`, whatever the file is called. It is several times faster than a YAML
  parser, and it is the only one of them that reads JSON's escaped non-BMP characters
  right: `json.dumps` writes an emoji as the surrogate pair `"\\ud83d\\ude00"`, which
  libyaml refuses and PyYAML's pure-Python parser turns into two lone surrogates.
- Everything else is YAML, parsed with libyaml (`yaml.CSafeLoader`) when PyYAML has it
  (its wheels do) and the pure-Python `SafeLoader` otherwise: the same safe constructor,
  five times faster on large files.
- The two YAML parsers differ on a few inputs; lbctl makes either give the same result
  or a clear error naming the file: escaped UTF-16 surrogates are refused (libyaml refuses
  them; SafeLoader would make invalid strings), a byte order mark that starts a document
  is dropped (libyaml drops it; SafeLoader would keep it in the first key), nesting too
  deep to build and numbers too long to convert are errors, not tracebacks. The one
  remaining difference: a tab used as a separator (`key:<TAB>value`) is valid YAML that
  libyaml reads and SafeLoader refuses, naming the file and line.
- Files are UTF-8 (with or without a byte order mark), as Kubernetes manifests are.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from lbctl import shapes
from lbctl.errors import FieldError, InvalidInput
from lbctl.model import NodeView, ServiceView

SUFFIXES = (".yaml", ".yml", ".json")
BOM = "\ufeff"
# Read at call time, not import time: tests compare the two parsers by swapping it.
_LOADER_NAME = "CSafeLoader"
# A `\uD800`-`\uDFFF` escape (or `\U0000D800`...), the only way a surrogate gets into a
# string: checked for only when the text has one, so ordinary files pay nothing.
_SURROGATE_ESCAPE = re.compile(r"\\(?:u|U0000)[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_DOCUMENT_BOM = re.compile(f"^(---[^\\n]*\\n){BOM}", re.MULTILINE)


def yaml_loader() -> type[Any]:
    """libyaml's safe loader when PyYAML was built with it, else the pure-Python one."""
    loader: type[Any] = getattr(yaml, _LOADER_NAME, yaml.SafeLoader)
    return loader


def _error(source: str, message: str) -> InvalidInput:
    return InvalidInput([FieldError(message, field=source)])


def _looks_like_json(text: str) -> bool:
    start = text.lstrip()[:1]
    return start in ("{", "[")


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # json.loads would take NaN and Infinity


def _parse(text: str, source: str) -> list[Any]:
    """The documents of `text`: JSON when it is JSON, else a YAML stream."""
    if BOM in text:
        text = _DOCUMENT_BOM.sub(r"\1", text.removeprefix(BOM))
    try:
        if _looks_like_json(text):
            try:
                return [json.loads(text, parse_constant=_not_json)]
            except ValueError:
                pass  # YAML in flow style, or a stream: the YAML parser decides
        return list(yaml.load_all(text, Loader=yaml_loader()))
    except yaml.YAMLError as e:
        raise _error(source, f"not valid YAML or JSON: {e}") from e
    except RecursionError as e:
        raise _error(source, "not valid YAML or JSON: nested too deeply") from e
    except UnicodeEncodeError as e:  # undecodable bytes read from stdin (surrogateescape)
        raise _error(source, "not valid UTF-8") from e
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise _error(source, f"not valid YAML or JSON: {e}") from e


def _strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_surrogates(text: str, docs: list[Any], source: str) -> None:
    """Refuse strings holding UTF-16 surrogates: they are not characters, cannot be
    written as UTF-8, and libyaml already refuses them (SafeLoader and json.loads do not)."""
    if not _SURROGATE_ESCAPE.search(text):
        return
    for number, doc in enumerate(docs, 1):
        if any(_SURROGATE.search(s) for s in _strings(doc)):
            raise _error(
                source,
                f"document {number}: a string holds an escaped UTF-16 surrogate (\\uD800-"
                "\\uDFFF), which is not a character; write the character itself (in JSON, "
                "as a surrogate pair)",
            )


def _documents(text: str, source: str) -> Iterator[dict[str, Any]]:
    docs = _parse(text, source)
    _check_surrogates(text, docs, source)
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise InvalidInput([FieldError("expected a Kubernetes object", field=source)])
        kind = doc.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
            yield from (item for item in doc["items"] if isinstance(item, dict))
        else:
            yield doc


def _read(file: Path) -> str:
    try:
        return file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise _error(str(file), f"not valid UTF-8 (byte {e.start})") from e
    except OSError as e:
        raise _error(str(file), f"cannot be read: {e.strerror or e}") from e


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
            objects.extend(_documents(_read(file), str(file)))
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
