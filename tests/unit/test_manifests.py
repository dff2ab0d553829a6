"""Reading manifests: JSON through json.loads, YAML through libyaml or the pure-Python
parser, with the same result (or a clear error naming the file) from either YAML parser.

What the property tests found: `json.dumps` writes a non-BMP character as a surrogate pair
(`"\\ud83d\\ude00"`); libyaml refused such a file and PyYAML's SafeLoader read the pair
as two lone surrogates. Every test here runs once per YAML parser.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbctl import manifests
from lbctl.errors import InvalidInput

LOADERS = ["CSafeLoader", "SafeLoader"] if hasattr(yaml, "CSafeLoader") else ["SafeLoader"]


@pytest.fixture(params=LOADERS)
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name: str = request.param
    monkeypatch.setattr(manifests, "_LOADER_NAME", name)
    assert manifests.yaml_loader() is getattr(yaml, name)
    return name


def service(name: str = "web", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "uid": "u-1", **meta},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 30080}]},
    }


def load(tmp_path: Path, text: str | bytes, name: str = "in.yaml") -> list[dict[str, Any]]:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return manifests.load_objects([str(path)])


def refused(tmp_path: Path, text: str | bytes, name: str = "in.yaml") -> str:
    with pytest.raises(InvalidInput) as raised:
        load(tmp_path, text, name)
    [error] = raised.value.errors
    assert error.field == str(tmp_path / name), "the error names the file"
    return error.message


@pytest.mark.usefixtures("loader")
@pytest.mark.parametrize("name", ["in.yaml", "in.json"])
def test_json_escapes_of_non_bmp_characters_are_read_as_the_character(
    tmp_path: Path, name: str
) -> None:
    svc = service(annotations={"example.com/owner": "team \U0001f600"})
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": [svc]})
    assert "\\ud83d\\ude00" in text  # what json.dumps writes
    [obj] = load(tmp_path, text, name)
    assert obj["metadata"]["annotations"]["example.com/owner"] == "team \U0001f600"


@pytest.mark.usefixtures("loader")
def test_yaml_and_json_of_one_service_read_the_same(tmp_path: Path) -> None:
    svc = service(annotations={"a": "é ü \U0001f600", "b": "1"})
    from_yaml = load(tmp_path, yaml.safe_dump(svc, allow_unicode=False), "a.yaml")
    from_json = load(tmp_path, json.dumps(svc, indent="\t"), "b.json")  # tab-indented
    assert from_yaml == from_json == [svc]


@pytest.mark.usefixtures("loader")
@pytest.mark.parametrize(
    "text",
    [
        '{"kind": "Service", "metadata": {"name": "\\ud800"}}',  # JSON, lone surrogate
        'kind: Service\nmetadata: {name: "\\ud83d\\ude00"}\n',  # YAML, a pair
        'kind: Service\nmetadata: {name: "\\U0000dc00"}\n',
    ],
    ids=["json-lone", "yaml-pair", "yaml-long-escape"],
)
def test_escaped_surrogates_are_refused_by_either_parser(tmp_path: Path, text: str) -> None:
    message = refused(tmp_path, text)
    assert "surrogate" in message or "invalid Unicode character escape" in message


@pytest.mark.usefixtures("loader")
def test_a_literal_backslash_u_is_text_not_an_escape(tmp_path: Path) -> None:
    [obj] = load(tmp_path, "kind: Service\nmetadata: {name: 'a\\ud800'}\n")
    assert obj["metadata"]["name"] == "a\\ud800"


@pytest.mark.usefixtures("loader")
def test_byte_order_marks_starting_documents_are_dropped(tmp_path: Path) -> None:
    text = (
        "\ufeffkind: Service\nmetadata: {name: a}\n---\n\ufeffkind: Service\nmetadata: {name: b}\n"
    )
    objs = load(tmp_path, text)
    assert [o["kind"] for o in objs] == ["Service", "Service"]
    assert [o["metadata"]["name"] for o in objs] == ["a", "b"]


@pytest.mark.usefixtures("loader")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[" * 5000 + "]" * 5000, "nested too deeply"),  # JSON
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "not valid YAML or JSON"),  # YAML
        ("a: " + "1" * 5000 + "\n", "not valid YAML or JSON"),  # int() refuses > 4300 digits
    ],
    ids=["json-deep", "yaml-deep", "huge-int"],
)
def test_inputs_no_parser_can_build_are_errors_not_tracebacks(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in refused(tmp_path, text)


def test_a_file_that_is_not_utf8_is_an_error_naming_it(tmp_path: Path) -> None:
    assert "not valid UTF-8" in refused(tmp_path, b"kind: Service\nmetadata: {name: \xff}\n")


@pytest.mark.usefixtures("loader")
def test_json_that_is_not_strict_json_is_read_as_yaml(tmp_path: Path) -> None:
    # NaN is not JSON (json.loads would take it); as YAML it is a string, as before.
    [obj] = load(tmp_path, '{"kind": "Service", "metadata": {"name": NaN}}')
    assert obj["metadata"]["name"] == "NaN"
    # flow-style YAML that starts like JSON
    [obj] = load(tmp_path, "{kind: Service, metadata: {name: web}}")
    assert obj["metadata"]["name"] == "web"


@pytest.mark.usefixtures("loader")
def test_a_kind_that_is_not_a_string_is_not_a_crash(tmp_path: Path) -> None:
    [obj] = load(tmp_path, "kind: 5\nitems: []\n")
    assert obj["kind"] == 5


@pytest.mark.usefixtures("loader")
def test_multi_document_yaml_and_lists_are_flattened(tmp_path: Path) -> None:
    docs = [service("a"), {"apiVersion": "v1", "kind": "List", "items": [service("b")]}, None]
    objs = load(tmp_path, yaml.safe_dump_all(docs))
    assert [o["metadata"]["name"] for o in objs] == ["a", "b"]
