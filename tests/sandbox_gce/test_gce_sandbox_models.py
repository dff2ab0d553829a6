"""The backend without HTTP: filters, merge patch, paging, addressing, in-use checks."""

from __future__ import annotations

from typing import Any

import pytest

from lbctl.sandbox.gce.exceptions import InvalidValue, NotFound, ResourceInUse
from lbctl.sandbox.gce.listing import compile_filter
from lbctl.sandbox.gce.models import ComputeBackend, Scope, merge_patch
from lbctl.sandbox.gce.seeding import seed_backend

RECORD = {
    "name": "fw-1",
    "priority": 1000,
    "disabled": False,
    "labels": {"env": "prod"},
    "targetTags": ["a", "b"],
}


@pytest.mark.parametrize(
    ("expression", "matches"),
    [
        ("", True),
        ('name = "fw-1"', True),
        ("name = fw-*", True),
        ("name != fw-1", False),
        ("name eq fw-\\d", True),
        ("name ne fw-\\d", False),
        ("labels.env = prod", True),
        ("targetTags = b", True),
        ("disabled = false", True),
        ("priority = 1000 AND name = other", False),
        ("(priority = 1) OR (name = fw-1)", True),
        ("(priority = 1000) (name : fw)", True),
        ("labels.team : *", False),
    ],
)
def test_filters(expression: str, matches: bool) -> None:
    assert compile_filter(expression)(RECORD) is matches


@pytest.mark.parametrize("expression", ["name =", "(name = a", "name ~ a", "= a"])
def test_bad_filters(expression: str) -> None:
    with pytest.raises(InvalidValue, match="filter"):
        compile_filter(expression)


def test_merge_patch() -> None:
    target = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]}
    assert merge_patch(target, {"b": {"c": None, "x": 9}, "e": [3], "a": None}) == {
        "b": {"d": 3, "x": 9},
        "e": [3],
    }


@pytest.fixture
def backend() -> ComputeBackend:
    backend = ComputeBackend(operation_polls=0)
    seed_backend(backend)
    return backend


REGION = Scope("lbctl-sandbox", "regions", "us-central1")
GLOBAL = Scope("lbctl-sandbox", "global")


def firewall(name: str) -> dict[str, Any]:
    return {"name": name, "allowed": [{"IPProtocol": "tcp"}]}


def test_paging_tokens(backend: ComputeBackend) -> None:
    for index in range(3):
        backend.insert(GLOBAL, "firewalls", firewall(f"fw-{index}"))
    first = backend.list_resources(GLOBAL, "firewalls", max_results="2")
    assert [f["name"] for f in first["items"]] == ["fw-0", "fw-1"]
    rest = backend.list_resources(
        GLOBAL, "firewalls", max_results="2", page_token=first["nextPageToken"]
    )
    assert [f["name"] for f in rest["items"]] == ["fw-2"]
    assert "nextPageToken" not in rest
    with pytest.raises(InvalidValue, match="maxResults"):
        backend.list_resources(GLOBAL, "firewalls", max_results="501")


def test_internal_ips_skip_reserved_and_taken(backend: ComputeBackend) -> None:
    subnet = "projects/lbctl-sandbox/regions/us-central1/subnetworks/ilb-subnet"
    ips = []
    for index in range(3):
        backend.insert(
            REGION,
            "addresses",
            {"name": f"a{index}", "addressType": "INTERNAL", "subnetwork": subnet},
        )
        ips.append(backend.get(REGION, "addresses", f"a{index}")["address"])
    assert ips == ["10.129.0.2", "10.129.0.3", "10.129.0.4"]


def test_in_use_check_and_not_found(backend: ComputeBackend) -> None:
    backend.insert(GLOBAL, "httpHealthChecks", {"name": "hc"})
    backend.insert(
        REGION, "targetPools", {"name": "tp", "healthChecks": ["global/httpHealthChecks/hc"]}
    )
    with pytest.raises(ResourceInUse):
        backend.delete(GLOBAL, "httpHealthChecks", "hc")
    backend.delete(REGION, "targetPools", "tp")
    backend.delete(GLOBAL, "httpHealthChecks", "hc")
    with pytest.raises(NotFound):
        backend.get(GLOBAL, "httpHealthChecks", "hc")


def test_read_only_collections_refuse_writes(backend: ComputeBackend) -> None:
    with pytest.raises(NotFound):
        backend.insert(GLOBAL, "networks", {"name": "other"})
