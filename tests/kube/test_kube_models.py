"""The backend without HTTP (moto-style: in-process first), with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lbctl.sandbox.kube import resources, tables
from lbctl.sandbox.kube.exceptions import StatusError
from lbctl.sandbox.kube.models import SYSTEM_NAMESPACES, KubeBackend
from lbctl.sandbox.kube.selectors import Selector

SERVICE = resources.find("Service")
FIXED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _backend(**kwargs: object) -> KubeBackend:
    return KubeBackend(clock=lambda: FIXED, **kwargs)  # type: ignore[arg-type]


def _svc(name: str = "web") -> dict[str, object]:
    return {"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}


def test_bootstrap_creates_the_system_namespaces() -> None:
    backend = _backend()
    listed = backend.list(resources.find("Namespace"), "", labels=Selector(), fields=Selector())
    assert [n["metadata"]["name"] for n in listed["items"]] == sorted(SYSTEM_NAMESPACES)
    assert listed["metadata"]["resourceVersion"] == str(len(SYSTEM_NAMESPACES))


def test_timestamps_come_from_the_clock() -> None:
    created = _backend().create(SERVICE, "default", _svc())
    assert created["metadata"]["creationTimestamp"] == "2026-01-02T03:04:05Z"


def test_update_conflict_and_noop() -> None:
    backend = _backend()
    created = backend.create(SERVICE, "default", _svc())
    stale = created["metadata"]["resourceVersion"]
    backend.update(
        SERVICE,
        "default",
        "web",
        lambda cur: {**(cur or {}), "metadata": {**(cur or {})["metadata"], "labels": {"a": "b"}}},
    )
    with pytest.raises(StatusError) as caught:
        backend.update(
            SERVICE,
            "default",
            "web",
            lambda cur: {"metadata": {"name": "web", "resourceVersion": stale}},
        )
    assert caught.value.code == 409
    before = backend.rv
    backend.update(SERVICE, "default", "web", lambda cur: dict(cur or {}))
    assert backend.rv == before


def test_stored_objects_are_never_mutated() -> None:
    backend = _backend()
    backend.create(SERVICE, "default", _svc())
    first = backend.objects[("services", "default", "web")]
    snapshot = repr(first)
    backend.update(
        SERVICE, "default", "web", lambda cur: {**(cur or {}), "spec": {"ports": [{"port": 81}]}}
    )
    assert repr(first) == snapshot


def test_state_file_round_trip(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = _backend(state_file=state)
    first.create(SERVICE, "default", _svc())
    second = _backend(state_file=state)
    assert second.rv == first.rv
    assert (
        second.get(SERVICE, "default", "web")["metadata"]["uid"]
        == first.get(SERVICE, "default", "web")["metadata"]["uid"]
    )


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (5, "5s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (30 * 3600, "30h"),
        (3 * 86400, "3d"),
    ],
)
def test_human_duration(seconds: int, shown: str) -> None:
    assert tables.human_duration(seconds) == shown
