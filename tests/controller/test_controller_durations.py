"""Durations as upstream's flags write them (Go's time.ParseDuration)."""

from __future__ import annotations

import argparse

import pytest

from lbctl.controller.durations import format_duration, parse_duration, positive_duration

CASES = [
    ("30s", 30.0),
    ("10m", 600.0),
    ("1h", 3600.0),
    ("1h30m", 5400.0),
    ("1h30m15s", 5415.0),
    ("1.5h", 5400.0),
    ("300ms", 0.3),
    ("2m0s", 120.0),
    ("0", 0.0),
    ("0s", 0.0),
    ("+5s", 5.0),
    ("-5s", -5.0),
    (".5s", 0.5),
    ("1500us", 0.0015),
    ("1µs", 1e-6),
    ("100ns", 1e-7),
]


@pytest.mark.parametrize(("text", "seconds"), CASES, ids=[c[0] for c in CASES])
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "600", "10", "1d", "m", "10 m", "1h-30m", "s10", "1.2.3s"])
def test_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_a_bare_number_says_the_unit_is_missing() -> None:
    with pytest.raises(ValueError, match="missing unit"):
        parse_duration("600")


@pytest.mark.parametrize(
    ("seconds", "text"), [(600, "10m"), (5400, "1h30m"), (15, "15s"), (3601, "1h1s"), (0, "0s")]
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


def test_flag_type_needs_a_positive_duration() -> None:
    assert positive_duration("2s") == 2.0
    with pytest.raises(argparse.ArgumentTypeError):
        positive_duration("0s")
    with pytest.raises(argparse.ArgumentTypeError):
        positive_duration("ten minutes")
