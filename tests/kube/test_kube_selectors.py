"""labelSelector / fieldSelector on list, parsed as apimachinery parses them."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from lbctl.sandbox.kube import KubeAPIServer, selectors
from lbctl.sandbox.kube.exceptions import StatusError
from tests.kube.helpers import node, service, tweak_lb

EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"


@pytest.fixture
def nodes(kube: KubeAPIServer) -> None:
    kube.create(node("a", labels={"zone": "z1", "tier": "1"}))
    kube.create(node("b", labels={"zone": "z2", EXCLUDE: "true", "tier": "5"}))
    kube.create(node("c", labels={"zone": "z3"}))
    kube.create({**node("d"), "spec": {"unschedulable": True}})


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("zone=z1", ["a"]),
        ("zone==z2", ["b"]),
        ("zone!=z1", ["b", "c", "d"]),
        ("zone in (z1, z3)", ["a", "c"]),
        ("zone notin (z1,z3)", ["b", "d"]),
        ("zone", ["a", "b", "c"]),
        (f"!{EXCLUDE}", ["a", "c", "d"]),
        ("zone,!tier", ["c"]),
        ("tier>2", ["b"]),
        ("tier<2", ["a"]),
        ("", ["a", "b", "c", "d"]),
    ],
)
def test_label_selectors(
    nodes: None, core: client.CoreV1Api, selector: str, expected: list[str]
) -> None:
    listed = core.list_node(label_selector=selector)
    assert [n.metadata.name for n in listed.items] == expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("metadata.name=b", ["b"]),
        ("metadata.name!=b", ["a", "c", "d"]),
        ("spec.unschedulable=true", ["d"]),
        ("spec.unschedulable=false,metadata.name!=a", ["b", "c"]),
    ],
)
def test_field_selectors_on_nodes(
    nodes: None, core: client.CoreV1Api, selector: str, expected: list[str]
) -> None:
    assert [n.metadata.name for n in core.list_node(field_selector=selector).items] == expected


def test_service_field_selectors(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube.create(service("a", tweak_lb))
    kube.create(service("b"))
    lbs = core.list_service_for_all_namespaces(field_selector="spec.type=LoadBalancer")
    assert [s.metadata.name for s in lbs.items] == ["a"]
    here = core.list_service_for_all_namespaces(field_selector="metadata.namespace=kube-system")
    assert here.items == []


def test_unsupported_field_is_400(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_service("default", field_selector="spec.ports=80")
    assert caught.value.status == 400
    assert "is not a known field selector" in caught.value.body


def test_malformed_label_selector_is_400(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.list_node(label_selector="a in b")
    assert caught.value.status == 400


@pytest.mark.parametrize("text", ["a in ()", "=x", "a b", "a,,(b"])
def test_parse_errors(text: str) -> None:
    with pytest.raises(StatusError):
        selectors.parse_label_selector(text)
