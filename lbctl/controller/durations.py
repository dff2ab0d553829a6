"""Durations written as upstream's flags write them (Go's time.ParseDuration).

`30s`, `10m`, `1h`, `1h30m`, `1.5h`, `300ms`, `0` — a sequence of decimal numbers, each
with a unit (ns, us, µs, ms, s, m, h). A bare number other than 0 is rejected, as Go
rejects it: `--resync-period 600` is more likely a mistake than 600 seconds.
"""

from __future__ import annotations

import argparse
import re

UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string; raises ValueError naming the text on bad input."""
    raw = text.strip()
    body = raw.lstrip("+-")
    sign = -1.0 if raw.startswith("-") else 1.0
    if body == "0":
        return 0.0
    if not body:
        raise ValueError(f"invalid duration {text!r}")
    total = 0.0
    pos = 0
    while pos < len(body):
        match = _PART.match(body, pos)
        if match is None:
            if re.fullmatch(r"[\d.]+", body[pos:]):
                raise ValueError(f"missing unit in duration {text!r} (e.g. 30s, 10m, 1h)")
            raise ValueError(f"invalid duration {text!r} (e.g. 30s, 10m, 1h30m)")
        total += float(match.group(1)) * UNITS[match.group(2)]
        pos = match.end()
    return sign * total


def format_duration(seconds: float) -> str:
    """The shortest Go-style spelling of whole-second durations (`1h30m`, `45s`)."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    rest = int(seconds)
    if rest == 0:
        return "0s"
    out = ""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out


def positive_duration(text: str) -> float:
    """argparse `type=` for flags that need a duration greater than zero."""
    try:
        value = parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e
    if value <= 0:
        raise argparse.ArgumentTypeError(f"duration must be greater than 0, got {text!r}")
    return value
