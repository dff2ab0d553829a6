"""Building blocks of a resource kind: the spec record and request-field readers.

A kind's ``prepare(draft)`` turns a request body into the record the sandbox
stores: it reads each field through a :class:`Draft` method, which applies the
default, checks the value and raises the API's own error naming the field
(``resource.portRange``), and resolves references to canonical links. Common
fields (``kind``, ``id``, ``selfLink``, ``region``, ``fingerprint`` ...) are set by
the backend afterwards.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lbctl.sandbox.gce.exceptions import InvalidValue, Required

if TYPE_CHECKING:
    from lbctl.sandbox.gce.models import ComputeBackend, Scope

Record = dict[str, Any]

NAME_REGEX = "(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)"
_NAME = re.compile(NAME_REGEX)
_PORT_RANGE = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?")

# Fields every resource may echo back: the API ignores them on input.
OUTPUT_ONLY = frozenset(
    {"kind", "id", "creationTimestamp", "selfLink", "selfLinkWithId", "region", "zone"}
)


def check_name(value: object, field_name: str = "resource.name") -> str:
    if not isinstance(value, str) or not value:
        raise Required(field_name)
    if not _NAME.fullmatch(value):
        raise InvalidValue(field_name, value, f"Must be a match of regex '{NAME_REGEX}'")
    return value


def port_range(value: str, field_name: str) -> tuple[int, int]:
    """``"80"`` or ``"80-443"`` as (low, high), each within 1..65535."""
    match = _PORT_RANGE.fullmatch(value)
    low = int(match.group(1)) if match else 0
    high = int(match.group(2) or low) if match else 0
    if not match or not 1 <= low <= high <= 65535:
        raise InvalidValue(field_name, value, "Invalid port or port range.")
    return low, high


def cidr(value: str, field_name: str) -> str:
    """Check an IPv4/IPv6 range (or bare address); it is stored as sent, like the API does."""
    try:
        ipaddress.ip_network(value, strict=False)
        return value
    except ValueError as error:
        raise InvalidValue(field_name, value, "Must be a valid IP range in CIDR format.") from error


def plain_render(backend: ComputeBackend, record: Record) -> Record:
    """The public JSON of a record: everything but the sandbox's ``_private`` keys."""
    return {key: value for key, value in record.items() if not key.startswith("_")}


def no_refs(record: Record) -> list[str]:
    return []


@dataclass(frozen=True)
class KindSpec:
    """What the sandbox knows about one collection (``forwardingRules``, ...)."""

    collection: str
    kind: str
    scopes: frozenset[str]
    # Top-level JSON keys the resource has; anything else is "Unknown name".
    fields: frozenset[str]
    # Validates a body into a record; ``None`` makes the collection read-only.
    prepare: Callable[[Draft], Record] | None = None
    # Links of the resources this record uses (what makes *them* "in use").
    refs: Callable[[Record], list[str]] = no_refs
    render: Callable[[ComputeBackend, Record], Record] = plain_render
    patchable: bool = False
    updatable: bool = False
    # The record carries a ``fingerprint`` that a PATCH / PUT must send back unchanged.
    fingerprinted: bool = False
    # Fields of this kind the API computes (ignored on input, like ``OUTPUT_ONLY``).
    output_only: frozenset[str] = frozenset()
    # POST sub-resources that change the record (``addInstance``): draft -> new record.
    actions: Mapping[str, Callable[[Draft], Record]] = field(default_factory=dict)
    # POST sub-resources that only read (``listInstances``): draft -> (list kind, items).
    queries: Mapping[str, Callable[[Draft], tuple[str, list[Record]]]] = field(default_factory=dict)

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


class Draft:
    """A request body on its way to a record; ``out`` is the record built so far."""

    def __init__(
        self, backend: ComputeBackend, scope: Scope, body: Record, existing: Record | None
    ) -> None:
        self.backend = backend
        self.scope = scope
        self.body = body
        self.existing = existing
        self.out: Record = {}

    @staticmethod
    def where(key: str) -> str:
        return f"resource.{key}"

    def copy(self, *keys: str) -> None:
        """Keep these fields as sent (free-form: labels, logConfig, ...)."""
        for key in keys:
            if self.body.get(key) not in (None, "", [], {}):
                self.out[key] = self.body[key]

    def text(
        self,
        key: str,
        *,
        default: str | None = None,
        required: bool = False,
        choices: Collection[str] = (),
    ) -> str | None:
        value = self.body.get(key)
        if value in (None, ""):
            if required:
                raise Required(self.where(key))
            value = default
        elif not isinstance(value, str):
            raise InvalidValue(self.where(key), value, "Expected a string.")
        if value is not None and choices and value not in choices:
            raise InvalidValue(self.where(key), value, f"Allowed values: {', '.join(choices)}.")
        if value is not None:
            self.out[key] = value
        return value

    def integer(
        self, key: str, *, default: int | None = None, low: int = 0, high: int = 2**31 - 1
    ) -> int | None:
        value = self.body.get(key)
        if value in (None, ""):
            number = default
        else:
            try:
                number = int(value)
            except (TypeError, ValueError) as error:
                raise InvalidValue(self.where(key), value, "Expected an integer.") from error
            if isinstance(value, bool) or not low <= number <= high:
                raise InvalidValue(self.where(key), value, f"Must be in [{low}, {high}].")
        if number is not None:
            self.out[key] = number
        return number

    def flag(self, key: str, *, default: bool | None = None) -> bool | None:
        value = self.body.get(key, default)
        if value is not None and not isinstance(value, bool):
            raise InvalidValue(self.where(key), value, "Expected a boolean.")
        if value is not None:
            self.out[key] = value
        return value

    def texts(self, key: str, *, check: Callable[[str, str], str] | None = None) -> list[str]:
        """A list of strings (each passed through ``check(value, field)`` when given)."""
        value = self.body.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidValue(self.where(key), value, "Expected a list of strings.")
        items = [check(v, f"{self.where(key)}[{i}]") if check else v for i, v in enumerate(value)]
        if items:
            self.out[key] = items
        return items

    def copy_rest(self) -> None:
        """Keep every other field the request set (accepted, not modelled)."""
        self.copy(*(key for key in self.body if key not in self.out))

    def objects(self, key: str) -> list[Record]:
        value = self.body.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise InvalidValue(self.where(key), value, "Expected a list of objects.")
        return [dict(v) for v in value]

    def link(
        self,
        key: str,
        *,
        collections: Collection[str],
        required: bool = False,
        default: str | None = None,
    ) -> str | None:
        """Resolve a reference (URL, ``projects/...`` or ``regions/...`` path) to its link."""
        value = self.body.get(key) or default
        if value in (None, ""):
            if required:
                raise Required(self.where(key))
            return None
        resolved = self.backend.resolve(
            value, field=self.where(key), scope=self.scope, collections=collections
        )
        self.out[key] = resolved
        return resolved

    def links(
        self, values: Iterable[object], *, where: str, collections: Collection[str]
    ) -> list[str]:
        return [
            self.backend.resolve(
                v, field=f"{where}[{i}]", scope=self.scope, collections=collections
            )
            for i, v in enumerate(values)
        ]
