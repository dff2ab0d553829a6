"""`lbctl plan --offline -o json` over hostile manifests never crashes.

The CLI contract (docs/DESIGN "CLI"): exit 0 done, 1 any error, 2 only with
--detailed-exitcode when a plan has changes; with `-o json` the document always goes to
standard output, errors included. The CLI is run in-process through `lbctl.cli.main`, as
the end-to-end tests do; any exception escaping `main` is a crash (a traceback for the user).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, note
from hypothesis import strategies as st

from lbctl.cli import main
from tests.property.strategies import examples, node_manifests, service_manifests

CLUSTER_IDS = {"aws": "fuzz-cluster", "gce": "fuzz"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-fuzz")


def write(path: Path, docs: list[Any], form: str) -> None:
    if form == "json-list":
        path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
    elif form == "json" and len(docs) == 1:
        path.write_text(json.dumps(docs[0]))
    else:
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(argv, out=out, err=err)
    return rc, out.getvalue(), err.getvalue()


def plan_argv(workdir: Path, provider: str, cluster_id: str, *extra: str) -> list[str]:
    return [
        "plan",
        "--offline",
        "-o",
        "json",
        "-f",
        str(workdir / "services.yaml"),
        "--nodes",
        str(workdir / "nodes.yaml"),
        "--provider",
        provider,
        "--cluster-id",
        cluster_id,
        *extra,
    ]


def check_document(rc: int, out: str, err: str, *, services: int | None) -> dict[str, Any]:
    note(f"exit {rc}\nstdout:\n{out}\nstderr:\n{err}")
    assert rc in (0, 1, 2), f"exit code {rc}"
    doc = json.loads(out)  # stdout is the JSON document, whatever happened
    assert doc["format_version"] == "1"
    if services is not None:
        assert len(doc["plans"]) == services
    has_errors = any(p["errors"] for p in doc["plans"])
    assert (rc == 1) == has_errors, f"exit {rc} but errors={has_errors}"
    for p in doc["plans"]:
        for e in p["errors"]:
            assert ("annotation" in e or "field" in e) and "value" in e and e["message"]
            assert f"error: {p['service']}: " in err, "each error is also told on stderr"
    return doc


@examples(40)
@given(
    provider=st.sampled_from(["aws", "gce"]),
    services=service_manifests(),
    nodes=node_manifests(),
    form=st.sampled_from(["yaml", "json", "json-list"]),
    detailed=st.booleans(),
)
def test_plan_offline_json_never_crashes(
    workdir: Path,
    provider: str,
    services: list[dict[str, Any]],
    nodes: list[dict[str, Any]],
    form: str,
    detailed: bool,
) -> None:
    write(workdir / "services.yaml", services, form)
    write(workdir / "nodes.yaml", nodes, "json-list")
    extra = ("--detailed-exitcode",) if detailed else ()
    rc, out, err = run(plan_argv(workdir, provider, CLUSTER_IDS[provider], *extra))
    doc = check_document(rc, out, err, services=len(services))
    has_changes = any(p["changes"] for p in doc["plans"])
    if rc != 1:
        assert rc == (2 if detailed and has_changes else 0)


@examples(40)
@given(
    provider=st.sampled_from(["aws", "gce"]),
    services=service_manifests(wellformed=False),
    nodes=node_manifests(),
)
def test_plan_offline_json_never_crashes_on_mistyped_fields(
    workdir: Path,
    provider: str,
    services: list[dict[str, Any]],
    nodes: list[dict[str, Any]],
) -> None:
    """Fields of the wrong type (a port "eighty", annotations that are a list, a spec that
    is a string) are input errors of the Service, reported like any other, never a crash."""
    write(workdir / "services.yaml", services, "yaml")
    write(workdir / "nodes.yaml", nodes, "json-list")
    rc, out, err = run(plan_argv(workdir, provider, CLUSTER_IDS[provider]))
    check_document(rc, out, err, services=None)
    assert rc in (0, 1)


@pytest.mark.parametrize(
    "text",
    [
        "",  # no Service at all
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        "kind: Service\nmetadata: {name: web\n",  # not YAML
        "- just\n- a list\n",  # not an object
    ],
    ids=["empty", "no-service", "bad-yaml", "not-an-object"],
)
def test_plan_json_goes_to_stdout_even_when_the_file_is_unusable(workdir: Path, text: str) -> None:
    (workdir / "services.yaml").write_text(text)
    write(workdir / "nodes.yaml", [], "json-list")
    rc, out, err = run(plan_argv(workdir, "aws", CLUSTER_IDS["aws"]))
    assert rc == 1
    assert err.startswith("error: "), err
    doc = json.loads(out) if out else None
    assert doc is not None and doc["format_version"] == "1", (
        f"with -o json the document always goes to standard output; stdout was {out!r}"
    )


def _web(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "uid": "6a3c1f7e-1111-2222"},
        "spec": {"type": "LoadBalancer", **spec},
    }


MISTYPED = {
    "port-not-a-number": (_web(ports=[{"port": "eighty", "nodePort": 30080}]), "spec.ports[0]"),
    "empty-node-port": (_web(ports=[{"port": 80, "nodePort": ""}]), "spec.ports[0]"),
    # str.isdigit() is true for a superscript two, int() refuses it
    "superscript-port": (_web(ports=[{"port": "\u00b2", "nodePort": 30080}]), "spec.ports[0]"),
    "ports-not-a-list": (_web(ports="80"), "spec.ports"),
    "spec-not-an-object": ({**_web(), "spec": "LoadBalancer"}, "spec"),
    "metadata-not-an-object": ({**_web(), "metadata": ["web"]}, "metadata"),
    "annotations-not-a-map": (
        {**_web(), "metadata": {"name": "web", "uid": "u", "annotations": ["a=b"]}},
        "metadata.annotations",
    ),
}


@pytest.mark.parametrize(("manifest", "field"), MISTYPED.values(), ids=MISTYPED.keys())
def test_a_mistyped_field_is_an_input_error_not_a_crash(
    workdir: Path, manifest: dict[str, Any], field: str
) -> None:
    """What the mistyped-fields property found, pinned: `ServiceView.from_dict` raised
    ValueError / AttributeError / TypeError out of `lbctl plan` (a traceback, exit 1 from
    the interpreter, nothing on stdout)."""
    write(workdir / "services.yaml", [manifest], "yaml")
    write(workdir / "nodes.yaml", [], "json-list")
    rc, out, err = run(plan_argv(workdir, "aws", CLUSTER_IDS["aws"]))
    assert rc == 1
    assert field in err, f"the error names the field {field}: {err!r}"
    assert json.loads(out)["format_version"] == "1"


def test_a_mistyped_node_is_an_input_error_not_a_crash(workdir: Path) -> None:
    """The same for the --nodes file: `NodeView.from_dict` raises AttributeError here."""
    node = {"kind": "Node", "metadata": {"name": "n1", "labels": ["role=lb"]}, "spec": {}}
    write(workdir / "services.yaml", [_web(ports=[{"port": 80, "nodePort": 30080}])], "yaml")
    write(workdir / "nodes.yaml", [node], "json-list")
    rc, out, err = run(plan_argv(workdir, "aws", CLUSTER_IDS["aws"]))
    assert rc == 1
    assert "labels" in err, err
    assert json.loads(out)["format_version"] == "1"
