"""Tables (printed as they are made) and bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any


@dataclass
class Budget:
    scenario: str
    what: str
    limit: str
    measured: str
    ok: bool | None  # None: not measured in this run (e.g. --quick)

    @property
    def verdict(self) -> str:
        return "n/a" if self.ok is None else ("PASS" if self.ok else "FAIL")


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)

    def text(self, line: str = "") -> None:
        self.lines.append(line)
        print(line)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        cells = [[str(c) for c in header]] + [[_cell(c) for c in row] for row in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
        for line in _plain(cells, widths):
            print(line)
        print()
        self.lines.append("| " + " | ".join(cells[0]) + " |")
        self.lines.append("|" + "|".join(" --- " for _ in header) + "|")
        for row in cells[1:]:
            self.lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
        self.lines.append("")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _plain(cells: list[list[str]], widths: list[int]) -> list[str]:
    out = []
    for i, row in enumerate(cells):
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def revision() -> str:
    """The lbctl commit measured, and the uncommitted changes to lbctl/ and providers/aws/."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "lbctl", "providers/aws"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    changed = sorted(line[3:] for line in dirty.splitlines() if line.strip())
    if not changed:
        return head
    shown = ", ".join(changed[:8]) + (", ..." if len(changed) > 8 else "")
    return f"{head}, with uncommitted changes to {shown}"


def machine(measured: str) -> list[tuple[str, str]]:
    return [
        ("lbctl commit", measured),
        ("platform", platform.platform()),
        ("machine", platform.machine()),
        ("CPUs", str(os.cpu_count())),
        ("Python", sys.version.split()[0] + f" ({platform.python_implementation()})"),
        ("moto", _version("moto")),
        ("boto3", _version("boto3")),
        ("lbctl", _version("lbctl")),
    ]


def budget_section(budgets: Sequence[Budget]) -> Section:
    section = Section("Budgets")
    print("== Budgets ==")
    section.table(
        ("scenario", "budget", "limit", "measured", "verdict"),
        [(b.scenario, b.what, b.limit, b.measured, b.verdict) for b in budgets],
    )
    failed = [b for b in budgets if b.ok is False]
    section.text(f"{len(failed)} of {len(budgets)} budgets failed." if failed else "All met.")
    return section


def write(
    path: Path,
    *,
    argv: Sequence[str],
    settings: str,
    sections: Sequence[Section],
    load_at_start: str,
    revision: str,
) -> None:
    out = [
        "# lbctl benchmarks: results",
        "",
        "Written by `python -m bench` (`make bench`); do not edit by hand. How to run and what",
        "each scenario measures: [README.md](README.md).",
        "",
        f"Command: `{' '.join(['python -m bench', *argv])}` ({settings}).",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
    ]
    out += [f"| {k} | {v} |" for k, v in machine(revision)]
    out.append(f"| load average (1 / 5 / 15 min) at start | {load_at_start} |")
    out.append(f"| load average at end | {load_average()} |")
    out.append("")
    out.append(
        "Call counts are deterministic (the same on every machine). Times depend on the "
        "machine and on moto, so each is given as a ratio to another time measured in the "
        "same run; seconds are shown for reference only. A load average above the CPU "
        "count means other work shared the machine and the times are noisier."
    )
    out.append("")
    for section in sections:
        out.append(f"## {section.title}")
        out.append("")
        out.extend(section.lines)
        out.append("")
    path.write_text("\n".join(out).rstrip() + "\n", encoding="utf-8")
