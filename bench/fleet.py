"""Scenarios 1-3: N CLB and N NLB Services on the moto server, through the controller.

The controller's own parts are driven without a cluster: every key goes on the work queue
and one worker takes up to `--batch` ready keys at a time into `Workers.process_batch`
(what an `lbctl run --batch-size` worker does), then `Resyncer.check()` (the periodic
drift check) and `NodeSyncer.sync()` (a node change), over an in-memory Service store
standing in for the API server. Cloud calls are all real, over HTTP to moto.

For comparison, the same fleet is also converged by `flow.plan_services` +
`flow.apply_plans` over batches of Services (`--batch`): the flow alone, without the
controller's finalizer, Events and status steps (which make no cloud call); and by the
floor (bench/floor.py). All three run on the same server in the same run, each on a freshly
reset and seeded cloud.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.floor import Floor
from bench.harness import (
    Counted,
    Measure,
    Obj,
    Results,
    Sandbox,
    Store,
    counted_provider,
    fleet,
    key_of,
    measure,
    node_sync_scope,
    node_views,
    split,
)
from bench.report import Budget, Section
from lbctl import flow
from lbctl.calls import is_read
from lbctl.model import NodeView, ServiceView

CONVERGE_BUDGET = 1.2

# Upstream, per Service, from shared/research/aws-api-call-counts.md (warm caches).
UPSTREAM_NEW = {"clb": (10, 7), "nlb": (8, 8)}  # NLB: 8/8 once the MTU rule exists
UPSTREAM_NOOP = {"clb": (9, 1), "nlb": (12, 0)}
UPSTREAM_NODE_ADD = {"clb": (3, 1), "nlb": (14, 2)}  # + 1 DescribeInstances per node event


@dataclass
class Converged:
    label: str
    total: Measure
    by_kind: dict[str, Counter[str]] = field(default_factory=dict)
    # reads per kind, when they are shared by a batch of both kinds (split evenly)
    reads_by_kind: dict[str, float] | None = None
    failures: list[str] = field(default_factory=list)


def _kind(svc: Obj) -> str:
    return "nlb" if svc["metadata"]["annotations"] else "clb"


def _add(into: Counter[str], ops: Mapping[str, int]) -> None:
    for op, n in ops.items():
        into[op] += n


# --- the three ways to converge --------------------------------------------------------------


def converge_floor(sandbox: Sandbox, services: Sequence[Obj]) -> Converged:
    cluster = sandbox.fresh(node_count=4)
    floor = Floor(cluster)
    by_kind: dict[str, Counter[str]] = {"clb": Counter(), "nlb": Counter()}
    started = time.perf_counter()
    for svc in services:
        before = Counter(floor.counts)
        (floor.nlb if _kind(svc) == "nlb" else floor.clb)(svc)
        _add(by_kind[_kind(svc)], floor.counts - before)
    total = Measure("floor", by_operation=dict(sorted(floor.counts.items())))
    total.seconds = time.perf_counter() - started
    total.reads, total.writes = split(total.by_operation)
    return Converged("floor (bare boto3)", total, by_kind)


@dataclass
class Pass:
    """What a resync or node-sync pass reported."""

    checked: int = 0
    drifted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class ControllerDriver:
    """The controller's own parts over an in-memory Service store, without a cluster: the
    work queue and `Workers.process_batch` (each worker takes up to `batch` ready keys and
    reconciles them together, as `lbctl run --batch-size` does), `Resyncer.check()` and
    `NodeSyncer.sync()`."""

    label = "lbctl.controller (WorkQueue / Workers / Reconciler / Resyncer / NodeSyncer)"

    def __init__(self, counted: Counted, store: Store, nodes: list[NodeView], batch: int) -> None:
        from lbctl.controller.events import RecordingEvents
        from lbctl.controller.metrics import ControllerMetrics
        from lbctl.controller.nodesync import NodeSyncer
        from lbctl.controller.queue import WorkQueue
        from lbctl.controller.reconciler import Reconciler
        from lbctl.controller.resync import Resyncer
        from lbctl.controller.workers import Workers

        self.nodes = nodes
        self.store = store
        self.counted = counted
        self.batch = batch
        self.noted = Noted()
        events = RecordingEvents()
        self.queue = WorkQueue()
        provider = counted.provider
        noted = self.noted

        class Noting(Reconciler):
            """Notes the calls each key's own steps made, as the worker receives it."""

            def sync_many(self, keys: Sequence[str]) -> Iterator[tuple[str, Any]]:
                for key, result in super().sync_many(keys):
                    noted.note(counted, key, result)
                    yield key, result

        self.reconciler = Noting(
            provider=provider,
            services=store.by_key,
            nodes=lambda: list(self.nodes),
            writer=store,
            events=events,
        )
        self.resyncer = Resyncer(
            provider=provider,
            reconciler=self.reconciler,
            services=store.items,
            nodes=lambda: list(self.nodes),
            queue=self.queue,
        )
        self.node_syncer = NodeSyncer(
            provider=provider,
            reconciler=self.reconciler,
            services=store.items,
            nodes=lambda: list(self.nodes),
            queue=self.queue,
            events=events,
        )
        self.workers = Workers(
            queue=self.queue,
            reconciler=self.reconciler,
            node_syncer=self.node_syncer,
            resyncer=self.resyncer,
            metrics=ControllerMetrics(
                counter=counted.counter,
                queue_depth=lambda: len(self.queue),
                queue_waiting=self.queue.waiting,
                leading=lambda: True,
            ),
            resync_period=3600.0,
            batch_size=batch,
        )

    def converge(self, keys: Sequence[str]) -> Noted:
        """Queue every key, then let one worker take batches until the queue is empty."""
        for key in keys:
            self.queue.add(key)
        while batch := self.queue.get_batch(self.batch, timeout=0):
            self.noted.start(self.counted)
            self.workers.process_batch(batch)
            self.noted.finish(batch)
        return self.noted

    def resync(self) -> Pass:
        result = self.resyncer.check()
        return Pass(checked=result.checked, drifted=list(result.drifted))

    def node_sync(self) -> Pass:
        result = self.node_syncer.sync()
        return Pass(
            checked=len(result.planned), updated=list(result.updated), failed=list(result.failed)
        )


@dataclass
class Noted:
    """Calls per converged key: the writes of its own steps, exactly; its batch's reads
    (the shared plan), split evenly over the batch's keys."""

    writes: dict[str, Counter[str]] = field(default_factory=dict)
    reads: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    _since: Counter[tuple[str, str]] = field(default_factory=Counter)
    _batch_reads: int = 0

    def start(self, counted: Counted) -> None:
        self._since = counted.counter.snapshot()
        self._batch_reads = 0

    def note(self, counted: Counted, key: str, result: Any) -> None:
        now = counted.counter.snapshot()
        ops = counted.counter.by_operation(self._since)
        self._since = now
        self.writes[key] = Counter({op: n for op, n in ops.items() if not is_read(op)})
        self._batch_reads += sum(n for op, n in ops.items() if is_read(op))
        if isinstance(result, Exception):
            self.failures.append(f"{key}: {result}")

    def finish(self, batch: Sequence[str]) -> None:
        for key in batch:
            self.reads[key] = self._batch_reads / len(batch)


class FlowDriver:
    """The fallback when lbctl.controller cannot be driven: the same calls through the
    flow (one plan per Service to converge, one plan over all Services per pass)."""

    label = "lbctl.flow (the controller could not be driven: {why})"

    def __init__(self, counted: Counted, store: Store, nodes: list[NodeView], why: str) -> None:
        self.counted = counted
        self.provider = counted.provider
        self.store = store
        self.nodes = nodes
        self.label = self.label.format(why=why)

    def _views(self) -> list[ServiceView]:
        return [ServiceView.from_dict(s) for s in self.store.items()]

    def sync(self, key: str) -> str | None:
        svc = self.store.by_key(key)
        assert svc is not None
        planned = flow.plan_services(self.provider, [ServiceView.from_dict(svc)], self.nodes)
        failures = [str(e) for p in planned.plans for e in p.errors]
        failures += flow.apply_plans(self.provider, planned)
        if failures:
            return "; ".join(failures)
        self.store.set_finalizer(svc, present=True)
        self.store.patch_ingress(svc, [i.to_dict() for i in planned.plans[0].ingress])
        return None

    def converge(self, keys: Sequence[str]) -> Noted:
        noted = Noted()
        for key in keys:
            noted.start(self.counted)
            error = self.sync(key)
            noted.note(self.counted, key, RuntimeError(error) if error else None)
            noted.finish([key])
        return noted

    def resync(self) -> Pass:
        planned = flow.plan_services(self.provider, self._views(), self.nodes)
        drifted = [p.service for p in planned.plans if p.changes or p.errors]
        return Pass(checked=len(planned.plans), drifted=drifted)

    def node_sync(self) -> Pass:
        scope = node_sync_scope(self.provider)
        planned = flow.plan_services(self.provider, self._views(), self.nodes, **scope)
        failures = flow.apply_plans(self.provider, planned)
        updated = [p.service for p in planned.plans if p.changes and not p.errors]
        return Pass(checked=len(planned.plans), updated=updated, failed=failures)


Driver = ControllerDriver | FlowDriver


def driver(counted: Counted, store: Store, nodes: list[NodeView], batch: int) -> Driver:
    try:
        return ControllerDriver(counted, store, nodes, batch)
    except (ImportError, TypeError, AttributeError) as e:
        return FlowDriver(counted, store, nodes, f"{type(e).__name__}: {e}")


def converge_controller(counted: Counted, drive: Driver, batch: int) -> Converged:
    label = f"lbctl, controller (workers take up to {batch} keys per batch)"
    if isinstance(drive, FlowDriver):
        label = "lbctl, flow (one plan per Service: the controller could not be driven)"
    result = Converged(label, Measure("converge"))
    result.by_kind = {"clb": Counter(), "nlb": Counter()}
    result.reads_by_kind = {"clb": 0.0, "nlb": 0.0}
    services = list(drive.store.items())
    with measure(counted, "converge") as total:
        noted = drive.converge([key_of(svc) for svc in services])
    for svc in services:
        key, kind = key_of(svc), _kind(svc)
        _add(result.by_kind[kind], noted.writes.get(key, {}))
        result.reads_by_kind[kind] += noted.reads.get(key, 0.0)
    result.failures = noted.failures
    result.total = total
    return result


def converge_batched(sandbox: Sandbox, services: Sequence[Obj], batch: int) -> Converged:
    cluster = sandbox.fresh(node_count=4)
    counted = counted_provider(cluster)
    nodes = node_views(cluster, 3)
    views = [ServiceView.from_dict(s) for s in services]
    result = Converged(f"lbctl, flow in batches of {batch}", Measure("batched"))
    with measure(counted, "batched") as total:
        for i in range(0, len(views), batch):
            planned = flow.plan_services(counted.provider, views[i : i + batch], nodes)
            result.failures += [f"{p.service}: {e}" for p in planned.plans for e in p.errors]
            result.failures += flow.apply_plans(counted.provider, planned)
    result.total = total
    return result


# --- reporting -------------------------------------------------------------------------------


def _per_balancer(m: Measure, balancers: Mapping[str, int]) -> list[tuple[str, int, float]]:
    """Reads made about once per balancer (or more): they grow with N, not with pages."""
    out = []
    for op, n in m.by_operation.items():
        if not is_read(op):
            continue
        service = op.split(":", 1)[0]
        count = balancers.get(service, balancers["all"])
        if count and n >= count / 2:
            out.append((op, n, n / count))
    return out


def _ops_table(
    section: Section, columns: Sequence[tuple[str, Mapping[str, int]]], per: int | None = None
) -> None:
    operations = sorted({op for _, ops in columns for op in ops})
    header = ["operation", *(name for name, _ in columns)]
    if per:
        header.append(f"first column per Service (/{per})")
    rows = []
    for op in operations:
        row: list[object] = [op, *(ops.get(op, 0) or "" for _, ops in columns)]
        if per:
            row.append(f"{columns[0][1].get(op, 0) / per:.2f}")
        rows.append(row)
    totals: list[object] = ["total (reads / writes)"]
    for _, ops in columns:
        r, w = split(ops)
        totals.append(f"{r} / {w}")
    if per:
        r, w = split(columns[0][1])
        totals.append(f"{r / per:.2f} / {w / per:.2f}")
    rows.append(totals)
    section.table(header, rows)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def run(
    sandbox: Sandbox, n: int, batch: int, results: Results
) -> tuple[list[Section], list[Budget]]:
    services = fleet(n)
    total_services = len(services)
    budgets: list[Budget] = []

    print(f"== 1. Converge {n} CLB + {n} NLB Services ==")
    floor = converge_floor(sandbox, services)
    print(f"floor: {floor.total.calls} calls in {floor.total.seconds:.1f} s")

    cluster = sandbox.fresh(node_count=4)
    counted = counted_provider(cluster)
    store = Store(copy.deepcopy(services))
    drive = driver(counted, store, node_views(cluster, 3), batch)
    print(f"driving: {drive.label}")
    lbctl = converge_controller(counted, drive, batch)
    print(f"lbctl (controller): {lbctl.total.calls} calls in {lbctl.total.seconds:.1f} s")
    if lbctl.failures or store.ingress_count() != total_services:
        raise RuntimeError(f"converge failed: {lbctl.failures[:5]}")

    # --- 2: no-op resync (the same cloud, right after the converge)
    print("== 2. No-op resync ==")
    # The first pass after the converge re-reads the details of every balancer lbctl wrote
    # (the provider's detail cache is cleared by its own writes); the budget is the steady
    # state, every pass after it. Both are reported.
    with measure(counted, "first resync") as first:
        drive.resync()
    print(f"first resync: {first.reads} reads, {first.writes} writes in {first.seconds:.1f} s")
    with measure(counted, "resync") as resync:
        checked = drive.resync()
    print(f"resync: {resync.reads} reads, {resync.writes} writes in {resync.seconds:.1f} s")

    # --- 3: one node added (the 4th seeded instance joins)
    print("== 3. One node added ==")
    drive.nodes[:] = node_views(cluster, 4)
    with measure(counted, "node added") as node_add:
        synced = drive.node_sync()
    print(f"node sync: {node_add.reads} reads, {node_add.writes} writes")

    batched = converge_batched(sandbox, services, batch)
    print(f"lbctl (batched): {batched.total.calls} calls in {batched.total.seconds:.1f} s")
    if batched.failures:
        raise RuntimeError(f"batched converge failed: {batched.failures[:5]}")

    results.n = n
    results.converge = {"floor": floor.total, "controller": lbctl.total, "batched": batched.total}
    results.resync = resync
    results.node_add = node_add
    sections = [
        _converge_section(n, floor, lbctl, batched, budgets, drive.label),
        _resync_section(n, first, resync, checked.drifted, checked.checked, floor, budgets),
        _node_section(n, node_add, synced, floor, budgets),
    ]
    return sections, budgets


def _converge_section(
    n: int,
    floor: Converged,
    lbctl: Converged,
    batched: Converged,
    budgets: list[Budget],
    driven_by: str,
) -> Section:
    s = Section(f"1. Converge N = {n} CLB and {n} NLB Services")
    s.text(
        f"{2 * n} Services (ports 80 and 443, TCP; 3 nodes), created from nothing on a freshly "
        "seeded moto server, three ways in the same run: the floor (bare boto3, writes only), "
        "lbctl's controller (every key queued, one worker taking up to the batch size of "
        "ready keys at a time into `Workers.process_batch`: what `lbctl run` does), and "
        "`flow.plan_services` + `flow.apply_plans` over batches."
    )
    s.text()
    s.text(f"Scenarios 1-3 drive: {driven_by}.")
    s.text()
    rows = []
    for c in (floor, lbctl, batched):
        rows.append(
            (
                c.label,
                c.total.reads,
                c.total.writes,
                c.total.calls,
                _ratio(c.total.calls, floor.total.calls),
                f"{c.total.seconds:.1f}",
                _ratio(c.total.seconds, floor.total.seconds),
            )
        )
    up_r = n * (UPSTREAM_NEW["clb"][0] + UPSTREAM_NEW["nlb"][0]) + 1
    up_w = n * (UPSTREAM_NEW["clb"][1] + UPSTREAM_NEW["nlb"][1]) + 1
    rows.append(
        (
            "upstream (from its code, warm)",
            up_r,
            up_w,
            up_r + up_w,
            _ratio(up_r + up_w, floor.total.calls),
            "-",
            "-",
        )
    )
    s.table(("run", "reads", "writes", "calls", "calls / floor", "seconds", "time / floor"), rows)
    s.text(
        "Per kind (calls per Service, reads / writes; the controller's reads are made once "
        "per batch for all its Services, and are split evenly over them here):"
    )
    s.text()
    kind_rows = []
    for kind in ("clb", "nlb"):
        fr, fw = split(floor.by_kind[kind])
        lr_, lw = split(lbctl.by_kind[kind])
        lr = lbctl.reads_by_kind[kind] if lbctl.reads_by_kind is not None else float(lr_)
        kind_rows.append(
            (
                kind.upper(),
                f"{fr / n:.2f} / {fw / n:.2f}",
                f"{lr / n:.2f} / {lw / n:.2f}",
                _ratio(lr + lw, fr + fw),
                f"{UPSTREAM_NEW[kind][0]} / {UPSTREAM_NEW[kind][1]}",
            )
        )
    s.table(("kind", "floor", "lbctl controller", "lbctl / floor", "upstream"), kind_rows)
    s.text("Calls by operation:")
    s.text()
    _ops_table(
        s,
        [
            ("controller", lbctl.total.by_operation),
            ("batched", batched.total.by_operation),
            ("floor", floor.total.by_operation),
        ],
        per=2 * n,
    )
    ratio = lbctl.total.calls / floor.total.calls
    budgets.append(
        Budget(
            "1",
            "converge, calls lbctl (controller) / floor",
            f"<= {CONVERGE_BUDGET}x",
            f"{ratio:.2f}x",
            ratio <= CONVERGE_BUDGET,
        )
    )
    for c in (lbctl, batched):
        errors = "; ".join(f"{e} x{k}" for e, k in sorted(c.total.errors.items()))
        s.text(f"Calls answered with an error, {c.label}: {errors or 'none'}.")
        s.text()
    b_ratio = batched.total.calls / floor.total.calls
    s.text(
        f"Batched through the flow, the same fleet costs {b_ratio:.2f}x the floor "
        f"({'within' if b_ratio <= CONVERGE_BUDGET else 'over'} the {CONVERGE_BUDGET}x budget)."
    )
    return s


def _budget_reads(m: Measure, n: int) -> list[tuple[str, int, float]]:
    # n CLBs (elb), n NLBs (elbv2); ec2 reads are shared by all 2n Services.
    return _per_balancer(m, {"elb": n, "elbv2": n, "all": 2 * n})


def _unscoped_text(m: Measure) -> str:
    listed = ", ".join(f"{op} x{c}" for op, c in sorted(m.unscoped.items()))
    return (
        "Describes without a filter (each pages through every such resource in the region; "
        "the ELB APIs have no tag filter): " + (listed or "none") + "."
    )


def _scaling_text(per_balancer: Sequence[tuple[str, int, float]]) -> str:
    return ", ".join(f"{op} x{count} ({per:.1f}/balancer)" for op, count, per in per_balancer)


def _resync_section(
    n: int,
    first: Measure,
    m: Measure,
    drifted: Sequence[str],
    checked: int,
    floor: Converged,
    budgets: list[Budget],
) -> Section:
    s = Section(f"2. No-op resync of the {2 * n} Services")
    s.text(
        "`Resyncer.check()` twice after the converge, each one `flow.plan_services` over "
        f"every ensured Service (the second: {checked} checked, {len(drifted)} found "
        "drifted). The first pass re-reads the details (attributes, listeners, target "
        "health) of every balancer lbctl wrote to, since the AWS provider's detail cache is "
        "cleared by lbctl's own writes; every later pass re-reads those of at most "
        "`DetailRefreshPerSync` balancers (10), round robin, plus any whose description "
        "changed. The budget applies to the steady state, the second pass. Upstream has no "
        "such pass; its nearest is re-ensuring every Service (e.g. after a restart)."
    )
    s.text()
    per_balancer = _budget_reads(m, n)
    up_r = n * (UPSTREAM_NOOP["clb"][0] + UPSTREAM_NOOP["nlb"][0])
    up_w = n * (UPSTREAM_NOOP["clb"][1] + UPSTREAM_NOOP["nlb"][1])
    s.table(
        ("run", "reads", "writes", "reads per Service", "seconds", "time / floor converge"),
        [
            (
                "lbctl first resync after the converge",
                first.reads,
                first.writes,
                f"{first.reads / (2 * n):.2f}",
                f"{first.seconds:.1f}",
                _ratio(first.seconds, floor.total.seconds),
            ),
            (
                "lbctl resync (steady state)",
                m.reads,
                m.writes,
                f"{m.reads / (2 * n):.2f}",
                f"{m.seconds:.1f}",
                _ratio(m.seconds, floor.total.seconds),
            ),
            ("upstream, every Service re-ensured", up_r, up_w, f"{up_r / (2 * n):.2f}", "-", "-"),
        ],
    )
    _ops_table(s, [("resync", m.by_operation), ("first resync", first.by_operation)], per=2 * n)
    s.text(
        "Reads made once per balancer or more (they grow with N, not with pages): "
        + (_scaling_text(per_balancer) or "none")
        + "."
    )
    s.text()
    s.text(_unscoped_text(m))
    budgets.append(Budget("2", "no-op resync: write calls", "0", str(m.writes), m.writes == 0))
    budgets.append(
        Budget(
            "2",
            "no-op resync: reads, one paged describe per kind + constant",
            "no per-Service reads",
            f"{m.reads / (2 * n):.2f} reads/Service; per-balancer: "
            + (", ".join(op for op, _, _ in per_balancer) or "none"),
            not per_balancer,
        )
    )
    budgets.append(
        Budget("2", "no-op resync finds no drift", "0 drifted", str(len(drifted)), not drifted)
    )
    return s


def _node_section(
    n: int, m: Measure, synced: Pass, floor: Converged, budgets: list[Budget]
) -> Section:
    s = Section(f"3. One node added with {2 * n} Services")
    updated, failed = synced.updated, synced.failed
    s.text(
        "`NodeSyncer.sync()` after a 4th node joins: one `flow.plan_services` over every "
        f"Service whose node set changed ({len(updated)} updated, {len(failed)} failed)."
    )
    s.text()
    registers = m.by_operation.get("elb:RegisterInstancesWithLoadBalancer", 0)
    targets = m.by_operation.get("elbv2:RegisterTargets", 0)
    other_writes = m.writes - registers - targets
    per_balancer = _budget_reads(m, n)
    up_r = 1 + n * (UPSTREAM_NODE_ADD["clb"][0] + UPSTREAM_NODE_ADD["nlb"][0])
    up_w = n * (UPSTREAM_NODE_ADD["clb"][1] + UPSTREAM_NODE_ADD["nlb"][1])
    s.table(
        ("run", "reads", "writes", "reads per Service", "seconds", "time / floor converge"),
        [
            (
                "lbctl node sync",
                m.reads,
                m.writes,
                f"{m.reads / (2 * n):.2f}",
                f"{m.seconds:.1f}",
                _ratio(m.seconds, floor.total.seconds),
            ),
            ("upstream (NLB inferred)", up_r, up_w, f"{up_r / (2 * n):.2f}", "-", "-"),
        ],
    )
    _ops_table(s, [("node sync", m.by_operation)], per=2 * n)
    s.text("Reads made once per balancer or more: " + (_scaling_text(per_balancer) or "none") + ".")
    s.text()
    s.text(_unscoped_text(m))
    budgets.append(
        Budget(
            "3",
            "node added: registration calls",
            f"<= {n} CLB + {2 * n} target groups, no other write",
            f"{registers} + {targets}, {other_writes} other",
            registers <= n and targets <= 2 * n and other_writes == 0 and not failed,
        )
    )
    budgets.append(
        Budget(
            "3",
            "node added: per-Service describes",
            "0",
            ", ".join(f"{op} x{c}" for op, c, _ in per_balancer) or "none",
            not per_balancer,
        )
    )
    return s
