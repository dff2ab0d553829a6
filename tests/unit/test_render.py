"""Terraform-style text and the versioned JSON document for plans."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from lbctl.errors import FieldError, NotOwned
from lbctl.model import KNOWN_AFTER_APPLY, Ingress, Resource
from lbctl.plan import Change, Op, ServicePlan, diff
from lbctl.render import counts, render_applied, render_json, render_text, to_document

ELB, SG = "aws:elb", "aws:security-group"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

ELB_PROPS: dict[str, Any] = {"Scheme": "internet-facing", "Listeners": [{"Port": 80}]}


def res(kind: str, name: str, **props: Any) -> Resource:
    return Resource(kind, name, props)


def create(kind: str = ELB, name: str = "a123", **props: Any) -> Change:
    return Change(Op.CREATE, kind, name, "missing", desired=res(kind, name, **props))


def update(kind: str = SG, name: str = "k8s-elb-a123") -> Change:
    return Change(
        Op.UPDATE,
        kind,
        name,
        "Rules changed",
        desired=res(kind, name, Rules=[1]),
        observed=res(kind, name, Rules=[], GroupId="sg-1"),
        changed=("Rules",),
    )


def replace(kind: str = ELB, name: str = "a123") -> Change:
    return Change(
        Op.REPLACE,
        kind,
        name,
        "Scheme cannot be changed in place",
        desired=res(kind, name, Scheme="internet-facing"),
        observed=res(kind, name, Scheme="internal", DNSName="x"),
        changed=("Scheme",),
    )


def delete(kind: str = ELB, name: str = "a-old") -> Change:
    return Change(
        Op.DELETE, kind, name, "no longer wanted", observed=res(kind, name, Scheme="internal")
    )


def plan(*changes: Change, **kwargs: Any) -> ServicePlan:
    return ServicePlan("shop/web", "aws", "a123", changes=list(changes), **kwargs)


# --- golden text -------------------------------------------------------------------------


def test_render_create_golden() -> None:
    desired = Resource(ELB, "a123", ELB_PROPS)
    p = plan(*diff([desired], [], kind_order=[ELB]), ingress=[Ingress(hostname="h.example")])
    assert render_text([p]) == (
        "Resource actions are indicated with the following symbols:\n"
        "  + create\n"
        "\n"
        "Service shop/web (aws, a123):\n"
        "  # aws:elb a123 will be created\n"
        "  + aws:elb 'a123'\n"
        '      + Scheme = "internet-facing"\n'
        '      + Listeners = [{"Port": 80}]\n'
        "  ingress: h.example\n"
        "\n"
        "Plan: 1 to add, 0 to change, 0 to destroy.\n"
    )


def test_render_replace_golden() -> None:
    assert render_text([plan(replace())]) == (
        "Resource actions are indicated with the following symbols:\n"
        "-/+ destroy and then create replacement\n"
        "\n"
        "Service shop/web (aws, a123):\n"
        "  # aws:elb a123 must be replaced\n"
        "  # (because Scheme cannot be changed in place)\n"
        "-/+ aws:elb 'a123'\n"
        '      ~ Scheme = "internal" -> "internet-facing"\n'
        "\n"
        "Plan: 1 to add, 0 to change, 1 to destroy.\n"
    )


def test_render_update_and_delete_golden() -> None:
    assert render_text([plan(update(), delete())]) == (
        "Resource actions are indicated with the following symbols:\n"
        "  ~ update in-place\n"
        "  - destroy\n"
        "\n"
        "Service shop/web (aws, a123):\n"
        "  # aws:security-group k8s-elb-a123 will be updated in-place\n"
        "  # (because Rules changed)\n"
        "  ~ aws:security-group 'k8s-elb-a123'\n"
        "      ~ Rules = [] -> [1]\n"
        "  # aws:elb a-old will be destroyed\n"
        "  # (because no longer wanted)\n"
        "  - aws:elb 'a-old'\n"
        "\n"
        "Plan: 0 to add, 1 to change, 1 to destroy.\n"
    )


@pytest.mark.parametrize(
    ("change", "header", "symbol_line"),
    [
        (create(), "  # aws:elb a123 will be created", "  + aws:elb 'a123'"),
        (
            update(),
            "  # aws:security-group k8s-elb-a123 will be updated in-place",
            "  ~ aws:security-group 'k8s-elb-a123'",
        ),
        (delete(), "  # aws:elb a-old will be destroyed", "  - aws:elb 'a-old'"),
        (replace(), "  # aws:elb a123 must be replaced", "-/+ aws:elb 'a123'"),
    ],
    ids=["create", "update", "delete", "replace"],
)
def test_change_header_and_symbol(change: Change, header: str, symbol_line: str) -> None:
    lines = render_text([plan(change)]).splitlines()
    assert header in lines
    assert symbol_line in lines
    assert lines.index(header) < lines.index(symbol_line)


@pytest.mark.parametrize(
    ("change", "because"),
    [(create(), False), (update(), True), (delete(), True), (replace(), True)],
    ids=["create-no-reason", "update", "delete", "replace"],
)
def test_reason_shown(change: Change, because: bool) -> None:
    text = render_text([plan(change)])
    assert (f"  # (because {change.reason})" in text) is because


LEGEND_LINES = {
    Op.CREATE: "  + create",
    Op.UPDATE: "  ~ update in-place",
    Op.DELETE: "  - destroy",
    Op.REPLACE: "-/+ destroy and then create replacement",
}


@pytest.mark.parametrize(
    "changes",
    [
        [create()],
        [update()],
        [delete()],
        [replace()],
        [create(), delete()],
        [replace(), update(), create(), delete()],
    ],
    ids=["create", "update", "delete", "replace", "create-delete", "all"],
)
def test_legend_only_for_present_ops(changes: list[Change]) -> None:
    lines = render_text([plan(*changes)]).splitlines()
    present = {c.op for c in changes}
    assert lines[0] == "Resource actions are indicated with the following symbols:"
    legend = lines[1 : 1 + len(present)]
    expected_order = [op for op in (Op.CREATE, Op.UPDATE, Op.DELETE, Op.REPLACE) if op in present]
    assert legend == [LEGEND_LINES[op] for op in expected_order]
    assert lines[1 + len(present)] == ""
    for op in set(Op) - present:
        assert LEGEND_LINES[op] not in lines


@pytest.mark.parametrize(
    ("plans", "summary"),
    [
        ([plan(create())], "Plan: 1 to add, 0 to change, 0 to destroy."),
        ([plan(update())], "Plan: 0 to add, 1 to change, 0 to destroy."),
        ([plan(delete())], "Plan: 0 to add, 0 to change, 1 to destroy."),
        ([plan(replace())], "Plan: 1 to add, 0 to change, 1 to destroy."),
        (
            [plan(create(), create(SG, "g"), replace(), update(), delete())],
            "Plan: 3 to add, 1 to change, 2 to destroy.",
        ),
        ([plan(create()), plan(replace(), delete())], "Plan: 2 to add, 0 to change, 2 to destroy."),
    ],
    ids=["create", "update", "delete", "replace-counts-twice", "mixed", "summed-over-plans"],
)
def test_summary_line(plans: list[ServicePlan], summary: str) -> None:
    lines = render_text(plans).splitlines()
    assert lines[-1] == summary
    assert "No changes." not in render_text(plans)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ([], (0, 0, 0)),
        ([create(), create()], (2, 0, 0)),
        ([replace()], (1, 0, 1)),
        ([update(), delete(), replace()], (1, 1, 2)),
    ],
    ids=["none", "two-creates", "replace", "mixed"],
)
def test_counts(changes: list[Change], expected: tuple[int, int, int]) -> None:
    assert counts(changes) == expected


def test_empty_plan_says_no_changes() -> None:
    assert render_text([plan()]) == (
        "Service shop/web (aws, a123):\n"
        "  No changes.\n"
        "\n"
        "No changes. Your load balancers match the Services.\n"
    )


def test_no_plans_at_all() -> None:
    assert render_text([]) == "No changes. Your load balancers match the Services.\n"


def test_no_changes_for_one_service_among_several() -> None:
    other = ServicePlan("shop/api", "aws", "a999")
    lines = render_text([plan(create()), other]).splitlines()
    i = lines.index("Service shop/api (aws, a999):")
    assert lines[i + 1] == "  No changes."
    assert lines[-1] == "Plan: 1 to add, 0 to change, 0 to destroy."


def test_errors_and_warnings_shown() -> None:
    errors = [
        FieldError("must be one of ...", annotation="example/type", value="alb"),
        FieldError("not a CIDR", field="spec.loadBalancerSourceRanges[0]", value="x"),
    ]
    p = ServicePlan("shop/api", "aws", "a999", errors=errors, warnings=["internal is odd"])
    lines = render_text([p]).splitlines()
    assert "  Error: annotation example/type='alb': must be one of ..." in lines
    assert "  Error: spec.loadBalancerSourceRanges[0]='x': not a CIDR" in lines
    assert "  Warning: internal is odd" in lines
    assert "  No changes." not in lines
    assert "Plan has errors: nothing was changed for the Services with errors." in lines


@pytest.mark.parametrize(
    "plans",
    [
        [ServicePlan("shop/api", "aws", "a999", errors=[FieldError("m", annotation="k")])],
        [
            ServicePlan("shop/api", "aws", "a999", errors=[FieldError("m", annotation="k")]),
            ServicePlan("shop/web", "aws", "a123"),
        ],
    ],
    ids=["only-errors", "errors-and-in-sync"],
)
def test_errors_never_summarised_as_matching(plans: list[ServicePlan]) -> None:
    # A Service whose plan failed was not compared with the cloud, so the summary must not
    # claim that every load balancer matches its Service.
    text = render_text(plans)
    assert "Plan has errors" in text
    assert "Your load balancers match the Services" not in text


def test_no_error_banner_without_errors() -> None:
    assert "Plan has errors" not in render_text([plan(create())])


@pytest.mark.parametrize(
    ("ingress", "line"),
    [
        ([Ingress(hostname="h.example")], "  ingress: h.example"),
        ([Ingress(ip="203.0.113.1"), Ingress(hostname="h")], "  ingress: 203.0.113.1, h"),
    ],
    ids=["hostname", "ip-and-hostname"],
)
def test_ingress_line(ingress: list[Ingress], line: str) -> None:
    assert line in render_text([plan(ingress=ingress)]).splitlines()


def test_known_after_apply_rendered_as_its_marker() -> None:
    text = render_text([plan(create(DNSName=KNOWN_AFTER_APPLY))])
    assert '      + DNSName = "(known after apply)"' in text.splitlines()


# --- colour ------------------------------------------------------------------------------

ALL = [create(), update(), delete(), replace()]


def test_no_ansi_without_colour() -> None:
    assert "\x1b" not in render_text([plan(*ALL)], colour=False)
    assert "\x1b" not in render_text([plan(*ALL)])


def test_colour_adds_ansi_only() -> None:
    coloured = render_text([plan(*ALL)], colour=True)
    plain = render_text([plan(*ALL)], colour=False)
    assert "\x1b[" in coloured
    assert ANSI.sub("", coloured) == plain


@pytest.mark.parametrize(
    ("change", "code", "symbol"),
    [
        (create(), "\x1b[32m", "  +"),
        (update(), "\x1b[33m", "  ~"),
        (delete(), "\x1b[31m", "  -"),
        (replace(), "\x1b[35m", "-/+"),
    ],
    ids=["create-green", "update-yellow", "delete-red", "replace-magenta"],
)
def test_colour_codes(change: Change, code: str, symbol: str) -> None:
    text = render_text([plan(change)], colour=True)
    assert f"{code}{symbol}\x1b[0m {change.kind} {change.name!r}" in text


# --- JSON --------------------------------------------------------------------------------


def test_document_shape() -> None:
    p = plan(
        create(Subnets=("s-1", "s-2")),
        replace(),
        update(),
        delete(),
        ingress=[Ingress(hostname="h.example", ip="203.0.113.1")],
        warnings=["w"],
    )
    doc = to_document([p])
    assert doc["format_version"] == "1"
    [out] = doc["plans"]
    assert set(out) == {
        "service",
        "provider",
        "loadBalancerName",
        "changes",
        "ingress",
        "errors",
        "warnings",
    }
    assert (out["service"], out["provider"], out["loadBalancerName"]) == ("shop/web", "aws", "a123")
    assert [c["op"] for c in out["changes"]] == ["create", "replace", "update", "delete"]
    for c in out["changes"]:
        assert set(c) == {"op", "kind", "name", "before", "after", "reason"}
    assert out["changes"][0]["after"] == {"Subnets": ["s-1", "s-2"]}
    assert out["changes"][1]["before"] == {"Scheme": "internal"}
    assert out["changes"][3]["after"] is None
    assert out["ingress"] == [{"ip": "203.0.113.1", "hostname": "h.example"}]
    assert out["errors"] == []
    assert out["warnings"] == ["w"]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            FieldError("bad type", annotation="a/type", value="alb"),
            {"annotation": "a/type", "value": "alb", "message": "bad type"},
        ),
        (
            FieldError("not a CIDR", field="spec.loadBalancerSourceRanges[1]", value="x"),
            {"field": "spec.loadBalancerSourceRanges[1]", "value": "x", "message": "not a CIDR"},
        ),
        (
            NotOwned(ELB, "a123", "no cluster tag").to_field_error(),
            {
                "field": "aws:elb/a123",
                "value": "a123",
                "message": "aws:elb 'a123' exists but is not owned by this cluster: no cluster tag",
            },
        ),
    ],
    ids=["annotation", "field", "not-owned"],
)
def test_document_errors(error: FieldError, expected: dict[str, str]) -> None:
    p = ServicePlan("shop/api", "aws", "a999", errors=[error])
    [out] = to_document([p])["plans"]
    assert out["errors"] == [expected]
    assert json.loads(render_json([p]))["plans"][0]["errors"] == [expected]


@pytest.mark.parametrize(
    "plans",
    [
        [],
        [plan()],
        [plan(*ALL, ingress=[Ingress(ip="1.2.3.4")])],
        [
            plan(create(Tags={"k": ("v", 1)}, Nested=[("a", None)])),
            ServicePlan("x/y", "aws", "a9", errors=[FieldError("m", annotation="k", value="v")]),
        ],
    ],
    ids=["no-plans", "empty-plan", "all-ops", "tuples-and-errors"],
)
def test_render_json_round_trips(plans: list[ServicePlan]) -> None:
    text = render_json(plans)
    assert text.endswith("\n")
    assert "\x1b" not in text
    assert json.loads(text) == to_document(plans)
    assert json.loads(text)["format_version"] == "1"


def test_render_json_is_indented() -> None:
    assert render_json([plan()]).startswith('{\n  "format_version": "1",\n  "plans": [')


# --- applied -----------------------------------------------------------------------------


def test_render_applied() -> None:
    ok = plan(create(), replace(), ingress=[Ingress(hostname="h.example")])
    failed = ServicePlan("shop/api", "aws", "a999", errors=[FieldError("m", field="f")])
    none = ServicePlan("shop/db", "aws", "a777")
    assert render_applied([ok, failed, none]) == (
        "Apply complete! Resources: 2 added, 0 changed, 1 destroyed.\n"
        "shop/web: ingress h.example\n"
        "shop/db: ingress (none)\n"
    )
