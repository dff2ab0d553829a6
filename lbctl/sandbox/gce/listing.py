"""Listing: the subset of the Compute ``filter`` language the sandbox understands, and paging.

Supported: ``field = "value"``, ``field != value``, ``field : value`` (substring),
``field eq regex`` / ``field ne regex`` (RE2 full match, the older syntax), dotted
field paths (``labels.env``), ``AND`` / ``OR`` / juxtaposition (an implicit AND)
and parentheses. ``*`` in an ``=`` value is a wildcard. Anything else is a 400,
which is what a provider sending an unsupported expression would get anyway.

Pages hold up to ``maxResults`` (default and maximum 500) items sorted by name;
``nextPageToken`` encodes the last name returned, so paging is stable while
resources come and go.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import re
from collections.abc import Callable
from typing import Any

from lbctl.sandbox.gce.exceptions import InvalidValue

Predicate = Callable[[dict[str, Any]], bool]
MAX_RESULTS = 500

_TOKEN = re.compile(r'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|(!=|=|:)|([^\s()"=!:]+))')


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if text[position:].strip():
                raise _bad(text)
            break
        position = match.end()
        opened, closed, quoted, operator, word = match.groups()
        if opened:
            out.append(("(", opened))
        elif closed:
            out.append((")", closed))
        elif quoted is not None:
            out.append(("value", re.sub(r"\\(.)", r"\1", quoted)))
        elif operator:
            out.append(("op", operator))
        elif word:
            out.append(("word", word))
    return out


def _bad(text: str) -> InvalidValue:
    return InvalidValue("filter", text, "Invalid list filter expression.")


def _values(record: dict[str, Any], path: str) -> list[str]:
    current: list[Any] = [record]
    for part in path.split("."):
        following: list[Any] = []
        for item in current:
            value = item.get(part) if isinstance(item, dict) else None
            if isinstance(value, list):
                following.extend(value)
            elif value is not None:
                following.append(value)
        current = following
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in current]


def _comparison(field: str, operator: str, value: str, text: str) -> Predicate:
    if operator in ("=", "!="):
        positive = operator == "="

        def equals(record: dict[str, Any]) -> bool:
            hit = any(fnmatch.fnmatchcase(v, value) for v in _values(record, field))
            return hit == positive

        return equals
    if operator == ":":
        if value == "*":
            return lambda record: bool(_values(record, field))
        return lambda record: any(value in v for v in _values(record, field))
    try:
        pattern = re.compile(value)
    except re.error as error:
        raise _bad(text) from error
    positive = operator == "eq"
    return lambda record: any(pattern.fullmatch(v) for v in _values(record, field)) == positive


def compile_filter(text: str) -> Predicate:
    """A predicate over a resource's JSON; an empty filter matches everything."""
    tokens = _tokens(text)
    if not tokens:
        return lambda record: True
    position = 0

    def peek() -> tuple[str, str] | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal position
        if position >= len(tokens):
            raise _bad(text)
        position += 1
        return tokens[position - 1]

    def term() -> Predicate:
        kind, value = take()
        if kind == "(":
            inner = expression()
            if take()[0] != ")":
                raise _bad(text)
            return inner
        if kind != "word":
            raise _bad(text)
        op_kind, operator = take()
        if op_kind == "word" and operator.lower() in ("eq", "ne"):
            operator = operator.lower()
        elif op_kind != "op":
            raise _bad(text)
        value_kind, operand = take()
        if value_kind not in ("value", "word"):
            raise _bad(text)
        return _comparison(value, operator, operand, text)

    def expression() -> Predicate:
        terms = [term()]
        joins: list[str] = []
        while (following := peek()) is not None and following[0] != ")":
            join = "AND"
            if following[0] == "word" and following[1].upper() in ("AND", "OR"):
                join = take()[1].upper()
            joins.append(join)
            terms.append(term())
        # AND binds tighter than OR: split into OR-groups of AND-ed terms.
        groups: list[list[Predicate]] = [[terms[0]]]
        for join, predicate in zip(joins, terms[1:], strict=True):
            if join == "OR":
                groups.append([predicate])
            else:
                groups[-1].append(predicate)
        return lambda record: any(all(p(record) for p in group) for group in groups)

    predicate = expression()
    if position != len(tokens):
        raise _bad(text)
    return predicate


def _sort_key(item: dict[str, Any]) -> str:
    return str(item.get("name") or item.get("instance") or "")


def page(
    link: Callable[[str], str],
    kind: str,
    path: str,
    items: list[dict[str, Any]],
    filter_text: str,
    max_results: str | None,
    page_token: str,
) -> dict[str, Any]:
    """The list body for one page of the ``items`` matching ``filter_text``."""
    predicate = compile_filter(filter_text)
    items = [item for item in items if predicate(item)]
    try:
        size = int(max_results) if max_results not in (None, "") else MAX_RESULTS
    except ValueError as error:
        raise InvalidValue("maxResults", max_results, "Expected an integer.") from error
    if not 0 <= size <= MAX_RESULTS:
        raise InvalidValue("maxResults", size, f"Must be in [0, {MAX_RESULTS}].")
    size = size or MAX_RESULTS
    if page_token:
        try:
            after = base64.urlsafe_b64decode(page_token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError) as error:
            raise InvalidValue("pageToken", page_token, "Invalid page token.") from error
        items = [item for item in items if _sort_key(item) > after]
    body: dict[str, Any] = {"kind": kind, "id": path, "selfLink": link(path)}
    if items[:size]:
        body["items"] = items[:size]
    if len(items) > size:
        last = _sort_key(items[size - 1])
        body["nextPageToken"] = base64.urlsafe_b64encode(last.encode()).decode()
    return body
