"""plan.diff: desired vs observed Resources -> ordered Changes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lbctl.model import KNOWN_AFTER_APPLY, Resource
from lbctl.plan import Change, Op, changed_props, diff, matches

SG, ELB, POLICY = "aws:security-group", "aws:elb", "aws:elb-policy"
KIND_ORDER = [SG, ELB, POLICY]
IMMUTABLE = {ELB: ["Scheme", "Subnets"]}

ELB_PROPS: dict[str, Any] = {
    "Scheme": "internet-facing",
    "Subnets": ["subnet-a", "subnet-b"],
    "Listeners": [{"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": 30080}],
    "IdleTimeout": 60,
}


def res(kind: str, name: str, **props: Any) -> Resource:
    return Resource(kind, name, props)


def elb(**overrides: Any) -> Resource:
    return Resource(ELB, "a123", {**ELB_PROPS, **overrides})


def run(desired: list[Resource], observed: list[Resource], **kwargs: Any) -> list[Change]:
    return diff(desired, observed, kind_order=KIND_ORDER, immutable=IMMUTABLE, **kwargs)


# --- matches -----------------------------------------------------------------------------

MATCH_CASES: list[tuple[Any, Any, bool]] = [
    (1, 1, True),
    (1, 2, False),
    ("a", "a", True),
    (None, None, True),
    (KNOWN_AFTER_APPLY, "anything", False),
    (KNOWN_AFTER_APPLY, None, False),
    (KNOWN_AFTER_APPLY, {"deep": [1]}, False),
    ({"a": KNOWN_AFTER_APPLY, "b": 1}, {"a": "x", "b": 1}, False),
    ({"a": KNOWN_AFTER_APPLY, "b": 1}, {"a": "x", "b": 2}, False),
    ({"a": KNOWN_AFTER_APPLY}, {"a": "x", "b": 1}, False),
    ({"a": 1, "b": 2}, {"b": 2, "a": 1}, True),
    ([{"id": KNOWN_AFTER_APPLY, "port": 80}], [{"id": "sg-1", "port": 80}], False),
    ([{"id": KNOWN_AFTER_APPLY, "port": 80}], [{"id": "sg-1", "port": 81}], False),
    ({"x": [{"y": KNOWN_AFTER_APPLY}]}, {"x": [{"y": 3}]}, False),
    ([1, 2], [1, 2], True),
    ([1, 2], [2, 1], False),
    ([1, 2], [1, 2, 3], False),
    ((1, 2), [1, 2], True),
    ([KNOWN_AFTER_APPLY], [], False),
    ({"a": 1}, [("a", 1)], False),
    ("x", KNOWN_AFTER_APPLY, False),
]


@pytest.mark.parametrize(
    ("desired", "observed", "expected"),
    MATCH_CASES,
    ids=[
        "int-eq",
        "int-ne",
        "str-eq",
        "none",
        "kaa-str",
        "kaa-none",
        "kaa-nested-value",
        "kaa-in-dict",
        "kaa-in-dict-other-differs",
        "dict-keys-differ",
        "dict-order-free",
        "kaa-in-list-of-dicts",
        "kaa-in-list-other-differs",
        "kaa-deep",
        "list-eq",
        "list-order-matters",
        "list-length",
        "tuple-vs-list",
        "kaa-does-not-fill-missing-item",
        "dict-vs-list",
        "kaa-only-on-desired-side",
    ],
)
def test_matches(desired: Any, observed: Any, expected: bool) -> None:
    assert matches(desired, observed) is expected


def test_changed_props_in_desired_order_and_ignores_extra_observed() -> None:
    desired = res(ELB, "a", A=1, B=2, C=KNOWN_AFTER_APPLY, D=[1])
    observed = res(ELB, "a", D=[2], B=3, A=1, C="sg-1", DNSName="x.elb.amazonaws.com")
    assert changed_props(desired, observed) == ("B", "C", "D")


# --- diff --------------------------------------------------------------------------------


def test_create() -> None:
    [change] = run([elb()], [])
    assert (change.op, change.kind, change.name, change.reason) == (
        Op.CREATE,
        ELB,
        "a123",
        "missing",
    )
    assert change.desired == elb()
    assert change.observed is None
    assert change.changed == ()
    assert change.before is None
    assert change.after == ELB_PROPS


def test_in_sync_yields_nothing() -> None:
    assert run([elb()], [elb()]) == []


def test_observed_read_only_props_are_ignored() -> None:
    observed = elb(DNSName="a123.elb.amazonaws.com", CreatedTime="2024-01-01", VPCId="vpc-1")
    assert run([elb()], [observed]) == []


def test_observed_id_and_owner_are_ignored() -> None:
    observed = Resource(ELB, "a123", dict(ELB_PROPS), owner="shop/web", id="arn:aws:x")
    assert run([elb()], [observed]) == []


@pytest.mark.parametrize(
    ("desired", "observed"),
    [
        ({"SecurityGroups": [KNOWN_AFTER_APPLY]}, {"SecurityGroups": ["sg-user"]}),
        (
            {
                "Listeners": [
                    {"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": KNOWN_AFTER_APPLY}
                ]
            },
            {"Listeners": [{"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": 30080}]},
        ),
        ({"IdleTimeout": KNOWN_AFTER_APPLY}, {"IdleTimeout": None}),
    ],
    ids=["top-level", "nested-in-list-of-dicts", "against-none"],
)
def test_known_after_apply_is_always_a_change(
    desired: dict[str, Any], observed: dict[str, Any]
) -> None:
    # It stands for something that does not exist yet (a group lbctl is about to create),
    # so what exists now cannot be it.
    [change] = run([elb(**desired)], [elb(**observed)])
    assert change.op is Op.UPDATE


def test_update() -> None:
    observed = elb(IdleTimeout=30)
    [change] = run([elb()], [observed])
    assert change.op is Op.UPDATE
    assert change.changed == ("IdleTimeout",)
    assert change.reason == "IdleTimeout changed"
    assert change.desired == elb()
    assert change.observed == observed
    assert change.before == {**ELB_PROPS, "IdleTimeout": 30}
    assert change.after == ELB_PROPS


def test_update_of_several_props_names_them_in_desired_order() -> None:
    observed = elb(IdleTimeout=30, Listeners=[])
    [change] = run([elb()], [observed])
    assert change.op is Op.UPDATE
    assert change.changed == ("Listeners", "IdleTimeout")
    assert change.reason == "Listeners, IdleTimeout changed"


@pytest.mark.parametrize(
    ("observed_overrides", "changed", "reason"),
    [
        ({"Scheme": "internal"}, ("Scheme",), "Scheme cannot be changed in place"),
        (
            {"Subnets": ["subnet-c"], "Scheme": "internal"},
            ("Scheme", "Subnets"),
            "Scheme, Subnets cannot be changed in place",
        ),
        (
            {"Scheme": "internal", "IdleTimeout": 30},
            ("Scheme", "IdleTimeout"),
            "Scheme cannot be changed in place",
        ),
    ],
    ids=["one-immutable", "two-immutable-sorted", "immutable-and-mutable"],
)
def test_replace(observed_overrides: dict[str, Any], changed: tuple[str, ...], reason: str) -> None:
    observed = elb(**observed_overrides)
    [change] = run([elb()], [observed])
    assert change.op is Op.REPLACE
    assert change.changed == changed
    assert change.reason == reason
    assert change.desired == elb()
    assert change.observed == observed


def test_immutable_is_per_kind() -> None:
    desired = res(SG, "sg", Scheme="a")
    [change] = run([desired], [res(SG, "sg", Scheme="b")])
    assert change.op is Op.UPDATE


def test_no_immutable_map_means_update() -> None:
    [change] = diff([elb()], [elb(Scheme="internal")], kind_order=KIND_ORDER)
    assert change.op is Op.UPDATE


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({}, "no longer wanted"),
        ({"delete_reason": "the Service is being deleted"}, "the Service is being deleted"),
    ],
    ids=["default-reason", "custom-reason"],
)
def test_delete(kwargs: dict[str, str], reason: str) -> None:
    observed = elb(DNSName="a123.elb.amazonaws.com")
    [change] = run([], [observed], **kwargs)
    assert change.op is Op.DELETE
    assert (change.kind, change.name, change.reason) == (ELB, "a123", reason)
    assert change.desired is None
    assert change.observed == observed
    assert change.before == observed.props
    assert change.after is None


def test_matching_is_by_kind_and_name() -> None:
    desired = [res(SG, "x", A=1), res(ELB, "y", A=1)]
    observed = [res(ELB, "x", A=1), res(SG, "y", A=1)]
    changes = run(desired, observed)
    assert [(c.op, c.kind, c.name) for c in changes] == [
        (Op.CREATE, SG, "x"),
        (Op.CREATE, ELB, "y"),
        (Op.DELETE, ELB, "x"),
        (Op.DELETE, SG, "y"),
    ]


def test_ordering_creates_in_kind_order_deletes_after_in_reverse() -> None:
    desired = [
        res(POLICY, "p-new", V=1),
        res(ELB, "lb-b", V=1),
        res("aws:unknown-kind", "u", V=1),
        res(SG, "sg-new", V=1),
        res(ELB, "lb-a", V=2),
    ]
    observed = [
        res(ELB, "lb-a", V=1),
        res(SG, "sg-old-1", V=1),
        res(POLICY, "p-old", V=1),
        res(SG, "sg-old-2", V=1),
        res(ELB, "lb-old", V=1),
    ]
    changes = run(desired, observed)
    assert [(c.op.value, c.kind, c.name) for c in changes] == [
        ("create", SG, "sg-new"),
        ("update", ELB, "lb-a"),
        ("create", ELB, "lb-b"),
        ("create", POLICY, "p-new"),
        ("create", "aws:unknown-kind", "u"),
        ("delete", POLICY, "p-old"),
        ("delete", ELB, "lb-old"),
        ("delete", SG, "sg-old-2"),
        ("delete", SG, "sg-old-1"),
    ]


def test_ordering_independent_of_input_order() -> None:
    desired = [res(POLICY, "p", V=1), res(SG, "s", V=1), res(ELB, "e", V=1)]
    observed = [res(SG, "old-s", V=1), res(POLICY, "old-p", V=1)]
    forward = run(desired, observed)
    backward = run(list(reversed(desired)), list(reversed(observed)))
    assert forward == backward
    assert [c.name for c in forward] == ["s", "e", "p", "old-p", "old-s"]


def test_generators_are_accepted() -> None:
    changes = diff((r for r in [elb()]), iter([]), kind_order=KIND_ORDER)
    assert [c.op for c in changes] == [Op.CREATE]


# --- Change ------------------------------------------------------------------------------


def test_change_before_shows_only_managed_props_of_observed() -> None:
    desired = res(ELB, "a", Scheme="internet-facing", Tags={"k": "v"})
    observed = res(ELB, "a", Scheme="internal", DNSName="x", CreatedTime="t")
    change = Change(Op.REPLACE, ELB, "a", "r", desired, observed, ("Scheme", "Tags"))
    assert change.before == {"Scheme": "internal", "Tags": None}
    assert change.after == {"Scheme": "internet-facing", "Tags": {"k": "v"}}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            Change(
                Op.CREATE,
                ELB,
                "a",
                "missing",
                desired=res(ELB, "a", Subnets=("s-1", "s-2"), Tags={"k": ("v",)}),
            ),
            {
                "op": "create",
                "kind": ELB,
                "name": "a",
                "before": None,
                "after": {"Subnets": ["s-1", "s-2"], "Tags": {"k": ["v"]}},
                "reason": "missing",
            },
        ),
        (
            Change(
                Op.UPDATE,
                SG,
                "g",
                "Rules changed",
                desired=res(SG, "g", Rules=[1]),
                observed=res(SG, "g", Rules=[], GroupId="sg-1"),
                changed=("Rules",),
            ),
            {
                "op": "update",
                "kind": SG,
                "name": "g",
                "before": {"Rules": []},
                "after": {"Rules": [1]},
                "reason": "Rules changed",
            },
        ),
        (
            Change(
                Op.REPLACE,
                ELB,
                "a",
                "Scheme cannot be changed in place",
                desired=res(ELB, "a", Scheme="internal"),
                observed=res(ELB, "a", Scheme="internet-facing"),
                changed=("Scheme",),
            ),
            {
                "op": "replace",
                "kind": ELB,
                "name": "a",
                "before": {"Scheme": "internet-facing"},
                "after": {"Scheme": "internal"},
                "reason": "Scheme cannot be changed in place",
            },
        ),
        (
            Change(
                Op.DELETE,
                POLICY,
                "p",
                "no longer wanted",
                observed=res(POLICY, "p", Attributes=(("a", 1),)),
            ),
            {
                "op": "delete",
                "kind": POLICY,
                "name": "p",
                "before": {"Attributes": [["a", 1]]},
                "after": None,
                "reason": "no longer wanted",
            },
        ),
    ],
    ids=["create", "update", "replace", "delete"],
)
def test_change_to_dict(change: Change, expected: dict[str, Any]) -> None:
    out = change.to_dict()
    assert out == expected
    assert json.loads(json.dumps(out)) == expected


@pytest.mark.parametrize(
    ("op", "value"),
    [(Op.CREATE, "create"), (Op.UPDATE, "update"), (Op.REPLACE, "replace"), (Op.DELETE, "delete")],
    ids=["create", "update", "replace", "delete"],
)
def test_op_strings(op: Op, value: str) -> None:
    assert op.value == value
    assert op == value


# --- dependents: a replaced parent re-creates what lives inside it -----------------------

HEALTH, BACKENDS = "aws:elb-health-check", "aws:elb-instances"
DEPENDENTS = {ELB: (HEALTH, BACKENDS)}


def cascade(desired: list[Resource], observed: list[Resource]) -> list[Change]:
    return diff(
        desired,
        observed,
        kind_order=[SG, ELB, HEALTH, BACKENDS],
        immutable=IMMUTABLE,
        dependents=DEPENDENTS,
    )


def test_replaced_parent_recreates_in_sync_dependents() -> None:
    health = res(HEALTH, "a123", Target="TCP:30080")
    backends = res(BACKENDS, "a123", Instances=["i-1"])
    changes = cascade([elb(), health, backends], [elb(Scheme="internal"), health, backends])
    assert [(c.op, c.kind, c.reason) for c in changes] == [
        (Op.REPLACE, ELB, "Scheme cannot be changed in place"),
        (Op.CREATE, HEALTH, f"recreated with the replaced {ELB}"),
        (Op.CREATE, BACKENDS, f"recreated with the replaced {ELB}"),
    ]
    assert changes[1].desired == health
    assert changes[1].observed is None


def test_replaced_parent_turns_dependent_update_into_create() -> None:
    health = res(HEALTH, "a123", Target="TCP:30080")
    changes = cascade([elb(), health], [elb(Scheme="internal"), res(HEALTH, "a123", Target="x")])
    assert [(c.op, c.kind) for c in changes] == [(Op.REPLACE, ELB), (Op.CREATE, HEALTH)]


@pytest.mark.parametrize(
    ("observed_elb", "expected"),
    [
        (elb(), []),
        (elb(IdleTimeout=30), [(Op.UPDATE, ELB)]),
    ],
    ids=["parent-in-sync", "parent-updated-in-place"],
)
def test_dependents_untouched_unless_parent_replaced(
    observed_elb: Resource, expected: list[tuple[Op, str]]
) -> None:
    health = res(HEALTH, "a123", Target="TCP:30080")
    changes = cascade([elb(), health], [observed_elb, health])
    assert [(c.op, c.kind) for c in changes] == expected


def test_unwanted_dependent_still_deleted_when_parent_replaced() -> None:
    old_backends = res(BACKENDS, "a123", Instances=["i-1"])
    changes = cascade([elb()], [elb(Scheme="internal"), old_backends])
    assert [(c.op, c.kind) for c in changes] == [(Op.REPLACE, ELB), (Op.DELETE, BACKENDS)]


def test_non_dependent_kinds_keep_their_own_changes() -> None:
    sg = res(SG, "g", Rules=[1])
    changes = cascade([elb(), sg], [elb(Scheme="internal"), sg])
    assert [(c.op, c.kind) for c in changes] == [(Op.REPLACE, ELB)]


def test_shared_resource_is_kept_while_another_service_uses_it() -> None:
    from lbctl.model import Resource
    from lbctl.plan import Op, diff

    shared = Resource(
        "gce:http-health-check",
        "k8s-c-node",
        {"port": 10256},
        owner="ns/a",
        shared_with=frozenset({"ns/b"}),
    )
    last = Resource("gce:http-health-check", "k8s-c-node", {"port": 10256}, owner="ns/a")
    assert diff([], [shared], kind_order=["gce:http-health-check"]) == []
    changes = diff([], [last], kind_order=["gce:http-health-check"])
    assert [(c.op, c.name) for c in changes] == [(Op.DELETE, "k8s-c-node")]
