"""Rendering plans for people (terraform-style text) and programs (the versioned JSON).

Both renderers are pure: data in, string out. Colour is a separate pass applied to the
symbol column only, so plain output (not a TTY) is the same text without escape codes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lbctl.plan import FORMAT_VERSION, Change, Op, ServicePlan

SYMBOLS = {Op.CREATE: "  +", Op.UPDATE: "  ~", Op.DELETE: "  -", Op.REPLACE: "-/+"}
SENTENCES = {
    Op.CREATE: "will be created",
    Op.UPDATE: "will be updated in-place",
    Op.DELETE: "will be destroyed",
    Op.REPLACE: "must be replaced",
}
LEGEND = {
    Op.CREATE: "create",
    Op.UPDATE: "update in-place",
    Op.DELETE: "destroy",
    Op.REPLACE: "destroy and then create replacement",
}
COLOURS = {"+": "\x1b[32m", "~": "\x1b[33m", "-": "\x1b[31m", "-/+": "\x1b[35m"}
RESET = "\x1b[0m"


_ENCODER = json.JSONEncoder(default=str)  # json.dumps(default=...) would build one per value


def _value(value: Any) -> str:
    return _ENCODER.encode(value)


def _colour(symbol: str, enabled: bool) -> str:
    if not enabled:
        return symbol
    code = COLOURS.get(symbol.strip(), "")
    return f"{code}{symbol}{RESET}" if code else symbol


def _prop_lines(change: Change, colour: bool) -> list[str]:
    before: Mapping[str, Any] = change.before or {}
    after: Mapping[str, Any] = change.after or {}
    if change.op is Op.CREATE:
        return [f"      {_colour('+', colour)} {k} = {_value(v)}" for k, v in after.items()]
    if change.op is Op.DELETE:
        return []
    return [
        f"      {_colour('~', colour)} {k} = {_value(before.get(k))} -> {_value(after.get(k))}"
        for k in change.changed
    ]


def render_change(change: Change, *, colour: bool = False) -> list[str]:
    lines = [f"  # {change.kind} {change.name} {SENTENCES[change.op]}"]
    if change.op in (Op.REPLACE, Op.DELETE, Op.UPDATE):
        lines.append(f"  # (because {change.reason})")
    lines.append(f"{_colour(SYMBOLS[change.op], colour)} {change.kind} {change.name!r}")
    lines.extend(_prop_lines(change, colour))
    return lines


def counts(changes: Iterable[Change]) -> tuple[int, int, int]:
    add = change = destroy = 0
    for c in changes:
        add += c.op in (Op.CREATE, Op.REPLACE)
        change += c.op is Op.UPDATE
        destroy += c.op in (Op.DELETE, Op.REPLACE)
    return add, change, destroy


def render_text(plans: Sequence[ServicePlan], *, colour: bool = False) -> str:
    out: list[str] = []
    all_changes = [c for p in plans for c in p.changes]
    present = {c.op for c in all_changes}
    if present:
        out.append("Resource actions are indicated with the following symbols:")
        for op in (Op.CREATE, Op.UPDATE, Op.DELETE, Op.REPLACE):
            if op in present:
                out.append(f"{_colour(SYMBOLS[op], colour)} {LEGEND[op]}")
        out.append("")
    for plan in plans:
        out.append(f"Service {plan.service} ({plan.provider}, {plan.load_balancer_name}):")
        for error in plan.errors:
            out.append(f"  Error: {error}")
        for warning in plan.warnings:
            out.append(f"  Warning: {warning}")
        if not plan.errors and not plan.changes:
            out.append("  No changes.")
        for c in plan.changes:
            out.extend(render_change(c, colour=colour))
        if plan.ingress:
            shown = ", ".join(i.hostname or i.ip or "" for i in plan.ingress)
            out.append(f"  ingress: {shown}")
        out.append("")
    add, change, destroy = counts(all_changes)
    if any(p.errors for p in plans):
        out.append("Plan has errors: nothing was changed for the Services with errors.")
    if all_changes:
        out.append(f"Plan: {add} to add, {change} to change, {destroy} to destroy.")
    elif not any(p.errors for p in plans):
        out.append("No changes. Your load balancers match the Services.")
    return "\n".join(out) + "\n"


def render_applied(plans: Sequence[ServicePlan]) -> str:
    add, change, destroy = counts(c for p in plans for c in p.changes)
    lines = [f"Apply complete! Resources: {add} added, {change} changed, {destroy} destroyed."]
    for plan in plans:
        if plan.errors:
            continue
        shown = ", ".join(i.hostname or i.ip or "" for i in plan.ingress) or "(none)"
        lines.append(f"{plan.service}: ingress {shown}")
    return "\n".join(lines) + "\n"


def to_document(plans: Sequence[ServicePlan]) -> dict[str, Any]:
    return {"format_version": FORMAT_VERSION, "plans": [p.to_dict() for p in plans]}


def render_json(plans: Sequence[ServicePlan]) -> str:
    return json.dumps(to_document(plans), indent=2) + "\n"
