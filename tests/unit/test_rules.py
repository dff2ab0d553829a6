"""Tables for the provider-neutral service-controller rules in lbctl.rules.

Expected values come from kubernetes/cloud-provider (see
/work/shared/research/aws-and-service-controller.md §1).
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbctl import rules
from lbctl.errors import InvalidInput
from lbctl.model import LOAD_BALANCER_CLEANUP_FINALIZER, NodeView, ServiceView, Taint

ANN = rules.SOURCE_RANGES_ANNOTATION


def svc(**kwargs: object) -> ServiceView:
    base: dict[str, object] = {"namespace": "default", "name": "web", "uid": "u-1"}
    base.update(kwargs)
    return ServiceView(**base)  # type: ignore[arg-type]


def node(name: str = "n1", **kwargs: object) -> NodeView:
    return NodeView(name=name, **kwargs)  # type: ignore[arg-type]


def nets(*cidrs: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(c) for c in cidrs]


# --- load_balancer_name ------------------------------------------------------------------

LB_NAME_CASES = [
    ("12345678-1234-1234-1234-123456789abc", "a12345678123412341234123456789ab"),
    ("abc", "aabc"),
    ("a-b-c", "aabc"),
    ("", "a"),
    ("1234567812341234123412345678", "a1234567812341234123412345678"),
    ("1234567812341234123412345678901", "a1234567812341234123412345678901"),
    ("12345678123412341234123456789abc", "a12345678123412341234123456789ab"),
    ("ABCDEF00-0000-0000-0000-000000000000", "aABCDEF0000000000000000000000000"),
    ("----", "a"),
]


@pytest.mark.parametrize(
    ("uid", "expected"),
    LB_NAME_CASES,
    ids=[
        "upstream-example",
        "short",
        "short-with-dashes",
        "empty",
        "28-chars-kept",
        "31-chars-exactly-32",
        "32-chars-no-dashes-cut",
        "case-kept",
        "only-dashes",
    ],
)
def test_load_balancer_name(uid: str, expected: str) -> None:
    assert rules.load_balancer_name(svc(uid=uid)) == expected


@given(st.text(alphabet="0123456789abcdef-", max_size=60))
def test_load_balancer_name_any_uid(uid: str) -> None:
    name = rules.load_balancer_name(svc(uid=uid))
    assert name.startswith("a")
    assert len(name) <= 32
    assert "-" not in name
    assert name == ("a" + uid.replace("-", ""))[:32]


# --- parse_go_bool -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("t", True),
        ("T", True),
        ("TRUE", True),
        ("true", True),
        ("True", True),
        ("0", False),
        ("f", False),
        ("F", False),
        ("FALSE", False),
        ("false", False),
        ("False", False),
    ],
    ids=lambda v: repr(v) if isinstance(v, str) else None,
)
def test_parse_go_bool_accepts(value: str, expected: bool) -> None:
    assert rules.parse_go_bool(value) is expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yes",
        "no",
        "y",
        "n",
        "on",
        "off",
        "TRUE ",
        " true",
        "tRUE",
        "FaLsE",
        "2",
        "-1",
        "tru",
        "ture",
        "01",
        "None",
    ],
    ids=repr,
)
def test_parse_go_bool_rejects(value: str) -> None:
    with pytest.raises(ValueError, match="invalid boolean"):
        rules.parse_go_bool(value)


# --- source_ranges -----------------------------------------------------------------------

SOURCE_RANGE_CASES = [
    # (spec ranges, annotations, expected)
    ((), {}, ["0.0.0.0/0"]),
    ((), {ANN: ""}, ["0.0.0.0/0"]),
    ((), {ANN: "   "}, ["0.0.0.0/0"]),
    ((), {ANN: "10.0.0.0/8"}, ["10.0.0.0/8"]),
    ((), {ANN: " 10.0.0.0/8 , 192.168.0.0/16 "}, ["10.0.0.0/8", "192.168.0.0/16"]),
    (("172.16.0.0/12",), {ANN: "10.0.0.0/8"}, ["172.16.0.0/12"]),
    (("172.16.0.0/12",), {ANN: "not-a-cidr"}, ["172.16.0.0/12"]),
    ((" 10.0.0.0/8 ",), {}, ["10.0.0.0/8"]),
    (("2001:db8::/32",), {}, ["2001:db8::/32"]),
    ((), {ANN: "2001:db8::/32,10.0.0.0/8"}, ["10.0.0.0/8", "2001:db8::/32"]),
    (("10.0.0.0/8", "10.0.0.0/8"), {}, ["10.0.0.0/8"]),
    (("10.1.2.3/8", "10.0.0.0/8"), {}, ["10.0.0.0/8"]),
    (
        ("2001:db8::/32", "192.168.0.0/16", "10.0.0.0/16", "10.0.0.0/8"),
        {},
        ["10.0.0.0/8", "10.0.0.0/16", "192.168.0.0/16", "2001:db8::/32"],
    ),
    (("192.168.1.1/32",), {}, ["192.168.1.1/32"]),
]


@pytest.mark.parametrize(
    ("spec", "annotations", "expected"),
    SOURCE_RANGE_CASES,
    ids=[
        "absent-defaults-to-all",
        "empty-annotation-defaults-to-all",
        "blank-annotation-defaults-to-all",
        "annotation-single",
        "annotation-trimmed-and-split",
        "spec-wins-over-annotation",
        "spec-wins-bad-annotation-unread",
        "spec-entry-trimmed",
        "spec-ipv6",
        "annotation-ipv6-sorted-after-ipv4",
        "deduplicated",
        "host-bits-normalised-then-deduplicated",
        "sorted-v4-first-by-address-then-prefix",
        "host-route",
    ],
)
def test_source_ranges(
    spec: tuple[str, ...], annotations: dict[str, str], expected: list[str]
) -> None:
    view = svc(load_balancer_source_ranges=spec, annotations=annotations)
    assert rules.source_ranges(view) == nets(*expected)


@pytest.mark.parametrize(
    ("spec", "annotations", "where", "value"),
    [
        (("bogus",), {}, {"field": "spec.loadBalancerSourceRanges[0]"}, "bogus"),
        (
            ("10.0.0.0/8", "10.0.0.0/33"),
            {},
            {"field": "spec.loadBalancerSourceRanges[1]"},
            "10.0.0.0/33",
        ),
        (("10.0.0.0/8", "::1/129"), {}, {"field": "spec.loadBalancerSourceRanges[1]"}, "::1/129"),
        ((), {ANN: "300.0.0.0/8"}, {"annotation": ANN}, "300.0.0.0/8"),
        ((), {ANN: "10.0.0.0/8,nope"}, {"annotation": ANN}, "nope"),
        ((), {ANN: "10.0.0.0/8,,192.168.0.0/16"}, {"annotation": ANN}, ""),
        ((), {ANN: "10.0.0.0/8,"}, {"annotation": ANN}, ""),
        (("10.0.0.1",), {}, {"field": "spec.loadBalancerSourceRanges[0]"}, "10.0.0.1"),
        (("2001:db8::1",), {}, {"field": "spec.loadBalancerSourceRanges[0]"}, "2001:db8::1"),
        ((), {ANN: "10.0.0.1"}, {"annotation": ANN}, "10.0.0.1"),
        (("",), {}, {"field": "spec.loadBalancerSourceRanges[0]"}, ""),
    ],
    ids=[
        "spec-first",
        "spec-bad-prefix",
        "spec-bad-ipv6",
        "annotation-bad-octet",
        "annotation-second-item",
        "annotation-empty-item",
        "annotation-trailing-comma",
        "spec-bare-ipv4-needs-prefix",
        "spec-bare-ipv6-needs-prefix",
        "annotation-bare-ip-needs-prefix",
        "spec-empty-entry",
    ],
)
def test_source_ranges_invalid(
    spec: tuple[str, ...], annotations: dict[str, str], where: dict[str, str], value: str
) -> None:
    view = svc(load_balancer_source_ranges=spec, annotations=annotations)
    with pytest.raises(InvalidInput) as info:
        rules.source_ranges(view)
    [error] = info.value.errors
    assert error.field == where.get("field")
    assert error.annotation == where.get("annotation")
    if error.annotation:
        # The annotation is quoted as written; the message names the bad entry.
        assert error.value == annotations[ANN]
        assert repr(value) in error.message
    else:
        assert error.value == value
    assert "CIDR" in error.message
    assert repr(value) in str(info.value)


def test_source_ranges_annotation_reports_every_bad_item() -> None:
    view = svc(annotations={ANN: "bad1,10.0.0.0/8,bad2"})
    with pytest.raises(InvalidInput) as info:
        rules.source_ranges(view)
    errors = info.value.errors
    assert [(e.annotation, e.value) for e in errors] == [(ANN, "bad1,10.0.0.0/8,bad2")] * 2
    assert ["'bad1'" in errors[0].message, "'bad2'" in errors[1].message] == [True, True]


def test_source_ranges_spec_reports_every_bad_entry() -> None:
    # lbctl's contract (lbctl/annotations.py, errors.InvalidInput) is to report every bad
    # input, not just the first.
    view = svc(load_balancer_source_ranges=("bad1", "10.0.0.0/8", "bad2"))
    with pytest.raises(InvalidInput) as info:
        rules.source_ranges(view)
    assert [(e.field, e.value) for e in info.value.errors] == [
        ("spec.loadBalancerSourceRanges[0]", "bad1"),
        ("spec.loadBalancerSourceRanges[2]", "bad2"),
    ]


@pytest.mark.parametrize("value", [",", " , ", ",,,"], ids=["comma", "spaced-comma", "commas"])
def test_source_ranges_annotation_of_only_separators_is_invalid(value: str) -> None:
    # Upstream ParseIPNets fails on the empty items; an empty result (a balancer nobody can
    # reach) must never come out.
    view = svc(annotations={ANN: value})
    with pytest.raises(InvalidInput) as info:
        rules.source_ranges(view)
    assert info.value.errors
    assert {e.annotation for e in info.value.errors} == {ANN}


# --- is_allow_all ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cidrs", "expected"),
    [
        (["0.0.0.0/0"], True),
        (["10.0.0.0/8", "0.0.0.0/0"], True),
        (["0.0.0.0/0", "::/0"], True),
        (["10.0.0.0/8"], False),
        (["0.0.0.0/1", "128.0.0.0/1"], False),
        ([], False),
        (["::/0"], False),
    ],
    ids=[
        "all",
        "all-among-others",
        "all-v4-and-v6",
        "private",
        "two-halves",
        "empty",
        "ipv6-all-only",
    ],
)
def test_is_allow_all(cidrs: list[str], expected: bool) -> None:
    # Upstream IsAllowAll is true only when the set holds 0.0.0.0/0: an IPv6-only ::/0
    # must not count as allow-all.
    assert rules.is_allow_all(nets(*cidrs)) is expected


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [("192.168.0.0/0", True), ("", True), ("10.0.0.0/8", False)],
    ids=["normalised-to-all", "default-is-all", "restricted"],
)
def test_is_allow_all_of_source_ranges(annotation: str, expected: bool) -> None:
    view = svc(annotations={ANN: annotation})
    assert rules.is_allow_all(rules.source_ranges(view)) is expected


# --- health checks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "policy", "port", "expected"),
    [
        ("LoadBalancer", "Local", 32000, ("/healthz", 32000)),
        ("LoadBalancer", "Cluster", 32000, ("", 0)),
        ("LoadBalancer", "Local", 0, ("", 0)),
        ("NodePort", "Local", 32000, ("", 0)),
        ("ClusterIP", "Local", 32000, ("", 0)),
        ("LoadBalancer", "local", 32000, ("", 0)),
    ],
    ids=[
        "lb-local",
        "lb-cluster",
        "lb-local-port-0",
        "nodeport-local",
        "clusterip-local",
        "policy-case-sensitive",
    ],
)
def test_health_check_path_port(
    type_: str, policy: str, port: int, expected: tuple[str, int]
) -> None:
    view = svc(type=type_, external_traffic_policy=policy, health_check_node_port=port)
    assert rules.health_check_path_port(view) == expected
    assert rules.needs_health_check(view) is (type_ == "LoadBalancer" and policy == "Local")


# --- wants_load_balancer -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "svc_class", "configured", "expected"),
    [
        ("LoadBalancer", None, None, True),
        ("LoadBalancer", "service.k8s.aws/nlb", None, False),
        ("LoadBalancer", "example.com/lbctl", "example.com/lbctl", True),
        ("LoadBalancer", "other.example/lb", "example.com/lbctl", False),
        ("LoadBalancer", None, "example.com/lbctl", False),
        ("NodePort", None, None, False),
        ("ClusterIP", None, None, False),
        ("NodePort", "example.com/lbctl", "example.com/lbctl", False),
    ],
    ids=[
        "lb-class-unset",
        "lb-class-set-elsewhere",
        "lb-class-is-ours",
        "lb-class-other-than-ours",
        "lb-unset-class-but-we-have-one",
        "nodeport",
        "clusterip",
        "nodeport-with-our-class",
    ],
)
def test_wants_load_balancer(
    type_: str, svc_class: str | None, configured: str | None, expected: bool
) -> None:
    view = svc(type=type_, load_balancer_class=svc_class)
    assert rules.wants_load_balancer(view, configured) is expected


# --- needs_cleanup (upstream TestNeedsCleanup, plus edges) -------------------------------


@pytest.mark.parametrize(
    ("finalizers", "type_", "deleting", "expected"),
    [
        ((), "LoadBalancer", False, False),
        ((LOAD_BALANCER_CLEANUP_FINALIZER,), "NodePort", False, True),
        ((LOAD_BALANCER_CLEANUP_FINALIZER,), "LoadBalancer", False, False),
        ((LOAD_BALANCER_CLEANUP_FINALIZER,), "LoadBalancer", True, True),
        ((), "NodePort", False, False),
        ((), "LoadBalancer", True, False),
        (("example.com/other",), "ClusterIP", True, False),
        (("example.com/other", LOAD_BALANCER_CLEANUP_FINALIZER), "ClusterIP", False, True),
    ],
    ids=[
        "no-finalizer",
        "finalizer-nodeport",
        "finalizer-loadbalancer",
        "finalizer-deletion-timestamp",
        "no-finalizer-nodeport",
        "no-finalizer-deleting",
        "other-finalizer-only",
        "finalizer-among-others-clusterip",
    ],
)
def test_needs_cleanup(
    finalizers: tuple[str, ...], type_: str, deleting: bool, expected: bool
) -> None:
    view = svc(finalizers=finalizers, type=type_, deleting=deleting)
    assert rules.needs_cleanup(view) is expected


# --- nodes -------------------------------------------------------------------------------

EXCLUDE = rules.EXCLUDE_LABEL


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({}, True),
        ({"kubernetes.io/os": "linux"}, True),
        ({EXCLUDE: "false"}, True),
        ({EXCLUDE: "False"}, True),
        ({EXCLUDE: "0"}, True),
        ({EXCLUDE: "f"}, True),
        ({EXCLUDE: "true"}, False),
        ({EXCLUDE: "1"}, False),
        ({EXCLUDE: ""}, False),
        ({EXCLUDE: "yes"}, False),
        ({EXCLUDE: "no"}, False),
        ({EXCLUDE: "false "}, False),
    ],
    ids=[
        "absent",
        "unrelated-label",
        "false",
        "False",
        "0",
        "f",
        "true",
        "1",
        "empty",
        "yes",
        "no-is-unparseable",
        "untrimmed-false",
    ],
)
def test_node_included(labels: dict[str, str], expected: bool) -> None:
    assert rules.node_included(node(labels=labels)) is expected
    assert rules.node_eligible(node(labels=labels)) is expected


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, True),
        ({"taints": (Taint(rules.TO_BE_DELETED_TAINT, "1700000000", "NoSchedule"),)}, False),
        ({"taints": (Taint(rules.TO_BE_DELETED_TAINT),)}, False),
        ({"taints": (Taint("node.kubernetes.io/unreachable", "", "NoExecute"),)}, True),
        (
            {
                "taints": (
                    Taint("dedicated", "gpu", "NoSchedule"),
                    Taint(rules.TO_BE_DELETED_TAINT, "", "NoSchedule"),
                )
            },
            False,
        ),
        ({"deleting": True}, False),
        ({"ready": False}, True),
        ({"provider_id": ""}, True),
        ({"labels": {"node-role.kubernetes.io/control-plane": ""}}, True),
        ({"labels": {EXCLUDE: "true"}, "ready": False}, False),
    ],
    ids=[
        "plain",
        "to-be-deleted-taint",
        "to-be-deleted-taint-no-value",
        "unrelated-taint",
        "to-be-deleted-among-others",
        "deletion-timestamp",
        "not-ready-kept",
        "no-provider-id-kept",
        "control-plane-not-excluded-by-role",
        "excluded-and-not-ready",
    ],
)
def test_node_eligible(kwargs: dict[str, Any], expected: bool) -> None:
    assert rules.node_eligible(node(**kwargs)) is expected


def test_eligible_nodes_filters_and_sorts_by_name() -> None:
    nodes = [
        node("n3"),
        node("n1", ready=False),
        node("n5", labels={EXCLUDE: "true"}),
        node("n2", labels={EXCLUDE: "false"}),
        node("n4", taints=(Taint(rules.TO_BE_DELETED_TAINT),)),
        node("n6", deleting=True),
        node("n0", taints=(Taint("dedicated", "gpu"),)),
    ]
    assert [n.name for n in rules.eligible_nodes(nodes)] == ["n0", "n1", "n2", "n3"]


def test_eligible_nodes_empty() -> None:
    assert rules.eligible_nodes([]) == []
    assert rules.eligible_nodes(iter([node("x", deleting=True)])) == []
