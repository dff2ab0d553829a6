"""Scenario 4: `lbctl plan --offline` over 250, 500, 1 000 and 2 000 Services.

The real CLI, in-process (`lbctl.cli.main`), on generated manifests (one multi-document
YAML file, half CLB, half NLB) and a 3-node list: reading the files, validating, planning
and rendering the text plan. Each size is timed best-of-`repeat`, in CPU seconds (with
wall seconds beside them); reading the manifests
(`manifests.load_objects`) is timed within each run, to show where the time goes, and the
plan is timed again with PyYAML's pure-Python parser in place of libyaml's, to show what
reading with libyaml saves.
"""

from __future__ import annotations

import gc
import io
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.harness import NodePorts, Results, service
from bench.report import Budget, Section
from lbctl import cli, manifests

SIZES = (250, 500, 1000, 2000)
QUICK_SIZES = (50, 100, 200)
BUDGET_SIZE = 1000
BUDGET_SECONDS = 2.0
LINEAR_SLACK = 1.5  # per-Service time at the largest size <= 1.5 x that at the smallest


def _nodes() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(3):
        zone = "us-east-1" + "ab"[i % 2]
        name = f"ip-10-0-128-{10 + i}.ec2.internal"
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                "spec": {"providerID": f"aws:///{zone}/i-0000000000000000{i}"},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            }
        )
    return out


def write_inputs(directory: Path, size: int) -> tuple[Path, Path]:
    ports = NodePorts()
    docs = [
        service(f"svc-{i:05d}", nlb=i % 2 == 1, ports=ports, namespace="plan") for i in range(size)
    ]
    services = directory / f"services-{size}.yaml"
    services.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    nodes = directory / "nodes.yaml"
    nodes.write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": _nodes()}), encoding="utf-8"
    )
    return services, nodes


@dataclass(frozen=True, order=True)
class Timing:
    cpu: float  # this process's CPU seconds: what the budgets use
    wall: float
    reading: float  # CPU seconds of it spent in manifests.load_objects


def plan_once(services: Path, nodes: Path) -> Timing:
    """One `lbctl plan --offline` run, timed in CPU seconds of this process (which other
    work on a shared machine does not inflate) and in wall seconds."""
    gc.collect()
    out, err = io.StringIO(), io.StringIO()
    argv = ["plan", "--offline", "--cluster-id", "bench", "--nodes", str(nodes)]
    reading = 0.0
    original = manifests.load_objects

    def timed(sources: Any) -> list[dict[str, Any]]:
        nonlocal reading
        started = time.process_time()
        try:
            return original(sources)
        finally:
            reading += time.process_time() - started

    manifests.load_objects = timed  # the CLI calls it as manifests.load_objects
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        code = cli.main([*argv, "-f", str(services)], out=out, err=err)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        manifests.load_objects = original
    if code != 0:
        raise RuntimeError(f"lbctl plan --offline exited {code}: {err.getvalue()[:2000]}")
    return Timing(cpu, wall, reading)


@contextmanager
def pure_python_yaml() -> Iterator[bool]:
    """lbctl's manifests read with PyYAML's pure-Python SafeLoader, for this block only.
    Yields False (and changes nothing) when lbctl already reads with it."""
    if manifests.yaml_loader() is yaml.SafeLoader:
        yield False
        return
    original = manifests._LOADER_NAME
    manifests._LOADER_NAME = "SafeLoader"
    try:
        yield True
    finally:
        manifests._LOADER_NAME = original


def _best_of(inputs: dict[int, Path], nodes: Path, repeat: int) -> dict[int, Timing]:
    """Each size's best of `repeat` runs. The sizes take turns (one run of each per round),
    so that a burst of other work on a shared machine slows one run of several sizes, not
    every run of one size: the largest runs last longest and would otherwise be hit most."""
    best: dict[int, Timing] = {}
    for _ in range(repeat):
        for size, services in inputs.items():
            timing = plan_once(services, nodes)
            best[size] = min(best[size], timing) if size in best else timing
    return best


def _timings(sizes: Sequence[int], repeat: int) -> tuple[dict[int, Timing], dict[int, Timing]]:
    """Best timings per size, with libyaml (as lbctl reads) and with pure-Python YAML."""
    with tempfile.TemporaryDirectory(prefix="lbctl-bench-") as tmp:
        warm_up, nodes = write_inputs(Path(tmp), 10)
        plan_once(warm_up, nodes)  # imports, entry points: not part of any size's time
        inputs = {size: write_inputs(Path(tmp), size)[0] for size in sizes}
        best = _best_of(inputs, nodes, repeat)
        with pure_python_yaml() as available:
            slow = _best_of(inputs, nodes, repeat) if available else {}
    return best, slow


def run(sizes: Sequence[int], repeat: int, results: Results) -> tuple[Section, list[Budget]]:
    print("== 4. lbctl plan --offline ==")
    rows = []
    times: dict[int, float] = {}
    # What earlier scenarios left in this process (fleets, moto responses, call logs) is
    # moved out of the collector's reach: a full collection during a plan then walks what
    # an `lbctl plan` process holds, not the benchmark's own heap.
    gc.collect()
    gc.freeze()
    try:
        best, slow = _timings(sizes, repeat)
    finally:
        gc.unfreeze()
    for size in sizes:
        times[size] = best[size].cpu
        results.offline[size] = (best[size].cpu, best[size].reading)
        print(f"{size} Services: {times[size]:.2f} s CPU")
        rows.append(
            (
                size,
                best[size].cpu,
                best[size].wall,
                best[size].reading,
                best[size].cpu * 1000 / size,
                f"{best[size].cpu / times[sizes[0]]:.2f} (size x{size / sizes[0]:g})",
                slow[size].cpu if size in slow else "-",
            )
        )
    first = sizes[0]
    section = Section("4. `lbctl plan --offline`")
    section.text(
        "The CLI in-process on one generated YAML file (half CLB, half NLB, 2 ports each) and "
        f"3 nodes, best of {repeat} (the sizes taking turns, so that a burst of other work "
        "slows one run of several sizes rather than every run of one). Times are this "
        "process's CPU seconds, which other work on a shared machine inflates far less than "
        "wall time (the run makes no I/O wait worth the name: on an idle machine wall time "
        "is the same); wall seconds are shown beside them. 'reading' "
        "is the part spent in `manifests.load_objects` (parsing the files), with "
        f"`yaml.{manifests.yaml_loader().__name__}`. The last column is the same plan read "
        "with PyYAML's pure-Python `SafeLoader` instead of libyaml's `CSafeLoader` (what "
        "lbctl read with before, and still does where PyYAML lacks libyaml)."
    )
    section.text()
    section.table(
        (
            "Services",
            "CPU s",
            "wall s",
            "of which reading (CPU s)",
            "CPU ms per Service",
            f"CPU time / that at {first}",
            "CPU s with pure-Python YAML",
        ),
        rows,
    )
    budgets = []
    if BUDGET_SIZE in times:
        t = times[BUDGET_SIZE]
        budgets.append(
            Budget(
                "4", f"plan --offline, {BUDGET_SIZE} Services", "< 2 s", f"{t:.2f} s CPU", t < 2.0
            )
        )
    else:
        budgets.append(
            Budget("4", f"plan --offline, {BUDGET_SIZE} Services", "< 2 s", "not run", None)
        )
    last = sizes[-1]
    growth = (times[last] / last) / (times[first] / first)
    budgets.append(
        Budget(
            "4",
            f"plan --offline grows linearly ({first} -> {last})",
            f"per-Service time x <= {LINEAR_SLACK}",
            f"x{growth:.2f}",
            growth <= LINEAR_SLACK,
        )
    )
    return section, budgets
