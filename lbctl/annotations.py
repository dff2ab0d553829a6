"""Declaring, parsing and documenting a provider's annotations.

An annotation is declared once (key, parser, default, what it applies to, one line of
doc). That one declaration drives parsing, validation, `lbctl annotations` and the
generated docs/annotations.md, so the three can never disagree.

Parsers take the raw string and return the typed value or raise ValueError with the
reason; `AnnotationSet.parse` collects every failure, each naming the annotation and its
value, instead of stopping at the first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from lbctl.errors import FieldError, InvalidInput
from lbctl.rules import parse_go_bool

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class Annotation(Generic[T_co]):
    key: str
    parse: Callable[[str], T_co]
    default: T_co
    applies_to: str
    doc: str
    default_doc: str = ""

    def describe_default(self) -> str:
        if self.default_doc:
            return self.default_doc
        value = self.default
        if value is None or value in ("", (), {}):
            return ""
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, tuple | list):
            return ",".join(str(v) for v in value)
        return str(value)


class ParsedAnnotations:
    """Typed access to parsed values: `parsed[SSL_CERT]` gives the value or the default."""

    def __init__(self, values: Mapping[str, Any], raw: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.raw = dict(raw)

    def __getitem__(self, annotation: Annotation[T]) -> T:
        if annotation.key in self._values:
            value: T = self._values[annotation.key]
            return value
        return annotation.default

    def present(self, annotation: Annotation[Any]) -> bool:
        return annotation.key in self.raw


class AnnotationSet:
    def __init__(self, provider: str, annotations: Iterable[Annotation[Any]]) -> None:
        self.provider = provider
        self.annotations = list(annotations)
        keys = [a.key for a in self.annotations]
        if len(keys) != len(set(keys)):
            raise ValueError(f"{provider}: an annotation is declared twice")

    def parse(self, raw: Mapping[str, str]) -> ParsedAnnotations:
        parsed, errors = self.parse_all(raw)
        if errors:
            raise InvalidInput(errors)
        return parsed

    def parse_all(self, raw: Mapping[str, str]) -> tuple[ParsedAnnotations, list[FieldError]]:
        """Every value that parses, and an error for each that does not (which then reads
        as its default), so that validation can go on and report everything at once."""
        values: dict[str, Any] = {}
        errors: list[FieldError] = []
        for ann in self.annotations:
            if ann.key not in raw:
                continue
            try:
                values[ann.key] = ann.parse(raw[ann.key])
            except ValueError as e:
                errors.append(FieldError(annotation=ann.key, value=raw[ann.key], message=str(e)))
        present = {a.key: raw[a.key] for a in self.annotations if a.key in raw}
        return ParsedAnnotations(values, present), errors

    def markdown(self) -> str:
        lines = [
            f"## {self.provider}",
            "",
            "| annotation | applies to | default | meaning |",
            "| --- | --- | --- | --- |",
        ]
        for ann in self.annotations:
            default = ann.describe_default().replace("|", "\\|")
            doc = ann.doc.replace("|", "\\|")
            lines.append(f"| `{ann.key}` | {ann.applies_to} | {default} | {doc} |")
        return "\n".join(lines) + "\n"


# --- parsers -----------------------------------------------------------------------------


def text(value: str) -> str:
    return value


def go_int(value: str) -> int:
    """Go's strconv.ParseInt base 10: ASCII digits with an optional sign, nothing else."""
    text = value.strip()
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ValueError("not an integer")
    return int(text, 10)


def go_bool(value: str) -> bool:
    return parse_go_bool(value)


def integer(*, minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = go_int(value)
        if minimum is not None and number < minimum:
            raise ValueError(f"must be at least {minimum}")
        if maximum is not None and number > maximum:
            raise ValueError(f"must be at most {maximum}")
        return number

    return parse


def string_list(value: str) -> tuple[str, ...]:
    """Comma list, each item trimmed, empty items dropped."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def key_values(value: str) -> dict[str, str]:
    """`k=v,k2=v2,k3=,k4`: trimmed; `=v` and empty items skipped; upstream's Go semantics."""
    out: dict[str, str] = {}
    for item in value.strip().split(","):
        item = item.strip()
        if not item:
            continue
        parts = item.split("=")
        key = parts[0].strip()
        if not key:
            continue
        out[key] = parts[1].strip() if len(parts) > 1 else ""
    return out


def one_of(*choices: str, lower: bool = False) -> Callable[[str], str]:
    def parse(value: str) -> str:
        candidate = value.strip().lower() if lower else value.strip()
        if candidate not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return candidate

    return parse
