"""Tables for the controller's decisions (upstream controller_test.go: TestNeedsUpdate,
TestNeedsCleanup, Test_shouldSyncUpdatedNode_*), over plain API objects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lbctl.controller import predicates as pred
from lbctl.model import LOAD_BALANCER_CLEANUP_FINALIZER
from tests.controller.fakes import (
    node,
    service,
    tweak_annotation,
    tweak_deleting,
    tweak_finalizer,
    tweak_ingress,
    tweak_label,
    tweak_port,
    tweak_spec,
    tweak_type,
    tweak_uid,
    tweaked,
)

Tweak = Callable[[dict[str, Any]], None]

# (description, old type, tweaks applied to new, expected)
NEEDS_UPDATE: list[tuple[str, str, list[Tweak], bool]] = [
    ("no change", "LoadBalancer", [], False),
    ("ClusterIP to ClusterIP with a port change", "ClusterIP", [tweak_port(0, "port", 81)], False),
    ("ClusterIP becomes LoadBalancer", "ClusterIP", [tweak_type("LoadBalancer")], True),
    ("LoadBalancer becomes ClusterIP", "LoadBalancer", [tweak_type("ClusterIP")], True),
    ("LoadBalancer becomes NodePort", "LoadBalancer", [tweak_type("NodePort")], True),
    (
        "source ranges added",
        "LoadBalancer",
        [tweak_spec("loadBalancerSourceRanges", ["10.0.0.0/8"])],
        True,
    ),
    ("port number", "LoadBalancer", [tweak_port(0, "port", 8080)], True),
    ("nodePort", "LoadBalancer", [tweak_port(0, "nodePort", 30081)], True),
    ("targetPort", "LoadBalancer", [tweak_port(0, "targetPort", 8080)], True),
    ("appProtocol", "LoadBalancer", [tweak_port(0, "appProtocol", "http")], True),
    ("port name", "LoadBalancer", [tweak_port(0, "name", "web")], True),
    ("port protocol", "LoadBalancer", [tweak_port(0, "protocol", "UDP")], True),
    (
        "port added",
        "LoadBalancer",
        [lambda o: o["spec"]["ports"].append({"port": 443, "nodePort": 30443})],
        True,
    ),
    ("sessionAffinity", "LoadBalancer", [tweak_spec("sessionAffinity", "ClientIP")], True),
    (
        "sessionAffinityConfig",
        "LoadBalancer",
        [tweak_spec("sessionAffinityConfig", {"clientIP": {"timeoutSeconds": 10}})],
        True,
    ),
    ("loadBalancerIP", "LoadBalancer", [tweak_spec("loadBalancerIP", "192.0.2.1")], True),
    ("externalIPs added", "LoadBalancer", [tweak_spec("externalIPs", ["192.0.2.1"])], True),
    ("annotation added", "LoadBalancer", [tweak_annotation("a", "b")], True),
    ("UID changed", "LoadBalancer", [tweak_uid("other")], True),
    (
        "externalTrafficPolicy",
        "LoadBalancer",
        [tweak_spec("externalTrafficPolicy", "Local")],
        True,
    ),
    ("healthCheckNodePort", "LoadBalancer", [tweak_spec("healthCheckNodePort", 32000)], True),
    (
        "ipFamilies count",
        "LoadBalancer",
        [tweak_spec("ipFamilies", ["IPv4", "IPv6"])],
        True,
    ),
    ("ipFamilies same count", "LoadBalancer", [tweak_spec("ipFamilies", ["IPv6"])], False),
    ("labels are not compared", "LoadBalancer", [tweak_label("team", "web")], False),
    ("selector is not compared", "LoadBalancer", [tweak_spec("selector", {"app": "x"})], False),
    ("status is not compared", "LoadBalancer", [tweak_ingress("x.example")], False),
    ("finalizers are left to needs_cleanup", "LoadBalancer", [tweak_finalizer], False),
    (
        "internalTrafficPolicy is not compared",
        "LoadBalancer",
        [tweak_spec("internalTrafficPolicy", "Local")],
        False,
    ),
    (
        "allocateLoadBalancerNodePorts is not compared",
        "LoadBalancer",
        [tweak_spec("allocateLoadBalancerNodePorts", False)],
        False,
    ),
    (
        "a class set turns it into another controller's Service",
        "LoadBalancer",
        [tweak_spec("loadBalancerClass", "example.com/other")],
        True,
    ),
]


@pytest.mark.parametrize(
    ("old_type", "tweaks", "expected"),
    [c[1:] for c in NEEDS_UPDATE],
    ids=[c[0] for c in NEEDS_UPDATE],
)
def test_needs_update(old_type: str, tweaks: list[Tweak], expected: bool) -> None:
    old = service(type_=old_type)
    assert pred.needs_update(old, tweaked(old, *tweaks)) is expected


def test_external_ips_order_matters() -> None:
    old = service(tweaks=[tweak_spec("externalIPs", ["192.0.2.1", "192.0.2.2"])])
    new = tweaked(old, tweak_spec("externalIPs", ["192.0.2.2", "192.0.2.1"]))
    assert pred.needs_update(old, new)


def test_source_ranges_unchanged() -> None:
    old = service(tweaks=[tweak_spec("loadBalancerSourceRanges", ["10.0.0.0/8"])])
    assert not pred.needs_update(old, tweaked(old))


def test_needs_update_with_a_class() -> None:
    cls = "example.com/lbctl"
    ours = service(tweaks=[tweak_spec("loadBalancerClass", cls)])
    assert pred.needs_update(ours, tweaked(ours, tweak_annotation("a", "b")), cls)
    assert not pred.needs_update(ours, tweaked(ours, tweak_annotation("a", "b")))


NEEDS_CLEANUP: list[tuple[str, str, list[Tweak], bool]] = [
    ("no finalizer", "LoadBalancer", [tweak_deleting], False),
    ("finalizer and NodePort", "NodePort", [tweak_finalizer], True),
    ("finalizer and ClusterIP", "ClusterIP", [tweak_finalizer], True),
    ("finalizer and LoadBalancer", "LoadBalancer", [tweak_finalizer], False),
    ("finalizer and deletionTimestamp", "LoadBalancer", [tweak_finalizer, tweak_deleting], True),
]


@pytest.mark.parametrize(
    ("type_", "tweaks", "expected"),
    [c[1:] for c in NEEDS_CLEANUP],
    ids=[c[0] for c in NEEDS_CLEANUP],
)
def test_needs_cleanup(type_: str, tweaks: list[Tweak], expected: bool) -> None:
    assert pred.needs_cleanup(service(type_=type_, tweaks=tweaks)) is expected


CLASS = "example.com/lbctl"
ADD: list[tuple[str, dict[str, Any], str | None, bool]] = [
    ("LoadBalancer", service(), None, True),
    ("ClusterIP", service(type_="ClusterIP"), None, False),
    (
        "ClusterIP left with our finalizer",
        service(type_="ClusterIP", tweaks=[tweak_finalizer]),
        None,
        True,
    ),
    (
        "another controller's class",
        service(tweaks=[tweak_spec("loadBalancerClass", "service.k8s.aws/nlb")]),
        None,
        False,
    ),
    ("our class", service(tweaks=[tweak_spec("loadBalancerClass", CLASS)]), CLASS, True),
    ("no class when one is configured", service(), CLASS, False),
    (
        "deleted while the controller was down",
        service(tweaks=[tweak_finalizer, tweak_deleting]),
        None,
        True,
    ),
]


@pytest.mark.parametrize(("svc", "cls", "expected"), [c[1:] for c in ADD], ids=[c[0] for c in ADD])
def test_add_handler(svc: dict[str, Any], cls: str | None, expected: bool) -> None:
    assert pred.enqueue_on_add(svc, cls) is expected


def test_update_handler() -> None:
    old = service(tweaks=[tweak_finalizer])
    assert not pred.enqueue_on_update(old, tweaked(old, tweak_ingress("x")))  # our own write
    assert pred.enqueue_on_update(old, tweaked(old, tweak_annotation("a", "b")))
    assert pred.enqueue_on_update(old, tweaked(old, tweak_deleting))  # needs cleanup
    resync = tweaked(old, tweak_deleting)
    assert pred.enqueue_on_update(resync, resync)  # a resync still picks up cleanup
    plain = service()
    assert not pred.enqueue_on_update(plain, plain)


EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"
NODE_UPDATES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    ("no change", node("n1"), node("n1"), False),
    ("exclude label added", node("n1"), node("n1", labels={EXCLUDE: "true"}), True),
    ("exclude label false", node("n1"), node("n1", labels={EXCLUDE: "false"}), False),
    ("exclude label unparseable excludes", node("n1"), node("n1", labels={EXCLUDE: "yes"}), True),
    ("exclude label removed", node("n1", labels={EXCLUDE: ""}), node("n1"), True),
    ("providerID set", node("n1", provider_id=""), node("n1"), True),
    ("NotReady", node("n1"), node("n1", ready=False), False),
    ("Ready again", node("n1", ready=False), node("n1"), False),
    ("other label", node("n1"), node("n1", labels={"team": "web"}), False),
    ("unrelated taint", node("n1"), node("n1", taints=["example.com/gpu"]), False),
    (
        "ToBeDeleted taint (lbctl: eligibility flips)",
        node("n1"),
        node("n1", taints=["ToBeDeletedByClusterAutoscaler"]),
        True,
    ),
    ("deletion timestamp (lbctl: eligibility flips)", node("n1"), node("n1", deleting=True), True),
]


@pytest.mark.parametrize(
    ("old", "new", "expected"), [c[1:] for c in NODE_UPDATES], ids=[c[0] for c in NODE_UPDATES]
)
def test_should_sync_updated_node(old: dict[str, Any], new: dict[str, Any], expected: bool) -> None:
    assert pred.should_sync_updated_node(old, new) is expected


def test_node_set_keeps_not_ready_and_drops_ineligible() -> None:
    from tests.controller.fakes import views

    nodes = views(
        node("n1"),
        node("n2", ready=False),
        node("n3", labels={EXCLUDE: "true"}),
        node("n4", taints=["ToBeDeletedByClusterAutoscaler"]),
        node("n5", deleting=True),
    )
    assert pred.node_set(nodes) == {("n1", "fake:///n1"), ("n2", "fake:///n2")}


def test_object_key() -> None:
    assert pred.object_key(service("a", "ns")) == "ns/a"
    assert pred.object_key(node("n1")) == "n1"
    assert pred.has_finalizer({"metadata": {"finalizers": [LOAD_BALANCER_CLEANUP_FINALIZER]}})
