"""Fixtures for the GCE tests: one Compute sandbox per session, reset and seeded per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lbctl.sandbox.gce import GCEServer, SeededGCE, seed_gce, start_gce, write_gce_files
from tests.gce.helpers import CLUSTER_ID, Cloud, Lbctl, gce_lbctl


@pytest.fixture(scope="session")
def gce_server() -> Iterator[GCEServer]:
    with start_gce() as server:  # stopped on the way out
        yield server


@pytest.fixture
def gce(gce_server: GCEServer, monkeypatch: pytest.MonkeyPatch) -> SeededGCE:
    """A freshly reset sandbox seeded with a cluster (3 nodes in 2 zones of us-central1)."""
    gce_server.reset()
    for name in ("LBCTL_GCE_API_ENDPOINT", "LBCTL_GCE_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    return seed_gce(gce_server, cluster_id=CLUSTER_ID)


@pytest.fixture
def gce_files(tmp_path: Path, gce: SeededGCE) -> dict[str, Path]:
    return write_gce_files(tmp_path / "sandbox", gce)


@pytest.fixture
def lbctl(tmp_path: Path, gce_files: dict[str, Path]) -> Lbctl:
    work = tmp_path / "manifests"
    work.mkdir()
    return gce_lbctl(work, gce_files["nodes"], gce_files["cloud-config"])


@pytest.fixture
def cloud(gce_server: GCEServer, gce: SeededGCE) -> Cloud:
    return Cloud(gce_server, gce)
