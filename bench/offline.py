"""Scenario 4: `lbctl plan --offline` over 250, 500, 1 000 and 2 000 Services.

The real CLI, in-process (`lbctl.cli.main`), on generated manifests (one multi-document
YAML file, half CLB, half NLB) and a 3-node list: reading the files, validating, planning
and rendering the text plan. Each size is timed best-of-`repeat`, in CPU seconds (with
wall seconds beside them); reading the manifests
(`manifests.load_objects`) is timed within each run, to show where the time goes, and the
plan is timed again with libyaml's loader patched in (the proposed fix).
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
def libyaml() -> Iterator[bool]:
    """`yaml.safe_load_all` on libyaml's CSafeLoader, for this block only: what the
    proposed fix to lbctl/manifests.py would give. Yields False (and changes nothing)
    when PyYAML was built without libyaml."""
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        yield False
        return
    original = yaml.safe_load_all

    def fast(stream: Any) -> Iterator[Any]:
        return yaml.load_all(stream, Loader=loader)

    yaml.safe_load_all = fast
    try:
        yield True
    finally:
        yaml.safe_load_all = original


def run(sizes: Sequence[int], repeat: int, results: Results) -> tuple[Section, list[Budget]]:
    print("== 4. lbctl plan --offline ==")
    rows = []
    times: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="lbctl-bench-") as tmp:
        warm_up, nodes = write_inputs(Path(tmp), 10)
        plan_once(warm_up, nodes)  # imports, entry points: not part of any size's time
        for size in sizes:
            services, nodes = write_inputs(Path(tmp), size)
            best = min(plan_once(services, nodes) for _ in range(repeat))
            fast = 0.0
            with libyaml() as available:
                if available:
                    fast = min(plan_once(services, nodes) for _ in range(repeat)).cpu
            times[size] = best.cpu
            results.offline[size] = (best.cpu, fast)
            print(f"{size} Services: {best.cpu:.2f} s CPU ({fast:.2f} s with libyaml)")
            rows.append(
                (
                    size,
                    best.cpu,
                    best.wall,
                    best.reading,
                    best.cpu * 1000 / size,
                    f"{best.cpu / times[sizes[0]]:.2f} (size x{size / sizes[0]:g})",
                    fast or "-",
                )
            )
    first = sizes[0]
    section = Section("4. `lbctl plan --offline`")
    section.text(
        "The CLI in-process on one generated YAML file (half CLB, half NLB, 2 ports each) and "
        f"3 nodes, best of {repeat}. Times are this process's CPU seconds, which other work on "
        "a shared machine does not inflate (the run makes no I/O wait worth the name: on an "
        "idle machine wall time is the same); wall seconds are shown beside them. 'reading' "
        "is the part spent in `manifests.load_objects` (parsing the files). The last column "
        "is the same plan with PyYAML's libyaml loader (`yaml.CSafeLoader`) patched in for "
        "the run: the fix proposed for lbctl/manifests.py, which today parses with the "
        "pure-Python SafeLoader."
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
            "CPU s with libyaml",
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
