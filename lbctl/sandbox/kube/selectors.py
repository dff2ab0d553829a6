"""``labelSelector`` and ``fieldSelector`` query parameters, parsed and matched.

The grammar is apimachinery's (k8s.io/apimachinery/pkg/labels): comma-separated
requirements ``k``, ``!k``, ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``,
``k notin (a,b)``, ``k>n``, ``k<n``.  ``!=`` and ``notin`` also match objects
that lack the label, as on a real cluster -- the service controller relies on
``!node.kubernetes.io/exclude-from-external-load-balancers`` style selectors.

Field selectors support only the fields each resource registers upstream; any
other field is a 400 ``field label not supported``, so a selector that would
fail on a cluster fails here too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lbctl.sandbox.kube.exceptions import bad_request

__all__ = ["FIELDS", "Selector", "parse_field_selector", "parse_label_selector"]

JSON = dict[str, Any]

_KEY = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^({_KEY})\s+(in|notin)\s*\(([^)]*)\)$")
_EQ = re.compile(rf"^({_KEY})\s*(==|=|!=)\s*({_VALUE})$")
_CMP = re.compile(rf"^({_KEY})\s*([<>])\s*(-?\d+)$")
_EXISTS = re.compile(rf"^(!?)\s*({_KEY})$")

# Field selectors each resource supports (the store's own field names: core Events).
_COMMON = ("metadata.name", "metadata.namespace")
FIELDS: dict[str, tuple[str, ...]] = {
    "services": (*_COMMON, "spec.type", "spec.clusterIP"),
    "nodes": (*_COMMON, "spec.unschedulable"),
    "namespaces": (*_COMMON, "status.phase"),
    "leases": _COMMON,
    "events": (
        *_COMMON,
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
}

Match = Callable[[dict[str, str]], bool]


@dataclass(frozen=True)
class Selector:
    """A parsed selector: all requirements must hold."""

    requirements: tuple[Match, ...] = ()

    def matches(self, values: dict[str, str]) -> bool:
        return all(req(values) for req in self.requirements)


def _split(text: str) -> list[str]:
    parts: list[str] = []
    depth, start = 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _label_requirement(text: str) -> Match:
    if m := _SET.match(text):
        key, op, raw = m.groups()
        values = {v.strip() for v in raw.split(",") if v.strip()}
        if not values:
            raise bad_request(
                f"unable to parse requirement: for '{op}' operator, values set can't be empty"
            )
        if op == "in":
            return lambda labels: key in labels and labels[key] in values
        return lambda labels: labels.get(key) not in values
    if m := _EQ.match(text):
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: key in labels and labels[key] == value
    if m := _CMP.match(text):
        key, op, number = m.group(1), m.group(2), int(m.group(3))

        def compare(labels: dict[str, str]) -> bool:
            try:
                have = int(labels[key])
            except (KeyError, ValueError):
                return False
            return have > number if op == ">" else have < number

        return compare
    if m := _EXISTS.match(text):
        negate, key = m.groups()
        if negate:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise bad_request(f"unable to parse requirement: found '{text}', expected: a valid requirement")


def parse_label_selector(text: str | None) -> Selector:
    """Parse a ``labelSelector``; an empty one matches everything."""
    if not text:
        return Selector()
    return Selector(tuple(_label_requirement(part) for part in _split(text)))


def _field_requirement(name: str, value: str, *, negate: bool) -> Match:
    def match(fields: dict[str, str]) -> bool:
        return (fields.get(name, "") == value) != negate

    return match


def parse_field_selector(text: str | None, store: str) -> Selector:
    """Parse a ``fieldSelector`` for resources kept in ``store`` (e.g. ``services``)."""
    if not text:
        return Selector()
    supported = FIELDS.get(store, _COMMON)
    requirements: list[Match] = []
    for part in _split(text):
        m = re.match(r"^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        name, op, value = m.group(1), m.group(2), m.group(3).strip()
        if name not in supported:
            raise bad_request(
                f'"{name}" is not a known field selector: only "{", ".join(supported)}"'
            )
        requirements.append(_field_requirement(name, value, negate=op == "!="))
    return Selector(tuple(requirements))


def field_values(obj: JSON, store: str) -> dict[str, str]:
    """The field-selector values of a stored object."""
    values: dict[str, str] = {}
    for name in FIELDS.get(store, _COMMON):
        if name == "source":  # core Events index source.component as "source"
            value: Any = obj.get("source", {}).get("component", "")
        else:
            value = obj
            for part in name.split("."):
                value = value.get(part) if isinstance(value, dict) else None
        if name == "spec.unschedulable":
            value = bool(value)
        if isinstance(value, bool):
            value = "true" if value else "false"
        values[name] = "" if value is None else str(value)
    return values


def labels_of(obj: JSON) -> dict[str, str]:
    labels = obj.get("metadata", {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()}
