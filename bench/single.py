"""Scenario 0: one Service (2 ports, 3 nodes), step by step, calls counted per step.

Each step is one `flow.plan_services` + `flow.apply_plans`, which is what one reconcile of
the controller and one `lbctl apply` / `lbctl delete` do. Upstream's counts (warm caches)
are those read from cloud-provider-aws in shared/research/aws-api-call-counts.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.harness import (
    Counted,
    Measure,
    NodePorts,
    Results,
    Sandbox,
    counted_provider,
    measure,
    node_sync_scope,
    node_views,
    service,
)
from bench.report import Budget, Section
from lbctl import flow
from lbctl.model import NodeView, ServiceView


@dataclass(frozen=True)
class Step:
    label: str
    kind: str  # "clb" | "nlb"
    nodes: int  # how many of the 4 seeded nodes the plan is given (0: a delete)
    deleting: bool
    upstream: str  # reads / writes, from the research file
    max_reads: int | None = None
    max_writes: int | None = None
    node_sync: bool = False  # planned as the controller's node sync plans


STEPS = (
    Step("new CLB", "clb", 3, False, "10 / 7", max_reads=6, max_writes=7),
    Step("CLB no-op", "clb", 3, False, "9 / 1", max_writes=0),
    Step("CLB one node added (3 -> 4)", "clb", 4, False, "4 / 1", node_sync=True),
    Step("delete CLB", "clb", 0, True, "5 / 3+R", max_reads=3),
    Step("new NLB", "nlb", 3, False, "9 / 9", max_reads=6, max_writes=9),
    Step("NLB no-op", "nlb", 3, False, "12 / 0", max_writes=0),
    Step("NLB one node added (3 -> 4)", "nlb", 4, False, "~14 / 2 (inferred)", node_sync=True),
    Step("delete NLB", "nlb", 0, True, "5 / 5", max_reads=3),
)

NOTES = (
    "Upstream = cloud-provider-aws, warm caches, read from its code "
    "(shared/research/aws-api-call-counts.md; R = DependencyViolation polls of "
    "DeleteSecurityGroup, every 5 s; the NLB node add is that file's inferred aside). "
    "Upstream's deletes exclude the service controller's GetLoadBalancer (+1 read)."
)


def run_step(counted: Counted, step: Step, view: ServiceView, nodes: Sequence[NodeView]) -> Measure:
    with measure(counted, step.label) as m:
        scope = node_sync_scope(counted.provider) if step.node_sync else {}
        planned = flow.plan_services(
            counted.provider, [view], nodes, deleting=step.deleting, **scope
        )
        errors = [str(e) for p in planned.plans for e in p.errors]
        if errors:
            raise RuntimeError(f"{step.label}: plan errors: {errors}")
        failures = flow.apply_plans(counted.provider, planned)
        if failures:
            raise RuntimeError(f"{step.label}: apply failed: {failures}")
    return m


def run(sandbox: Sandbox, results: Results) -> tuple[Section, list[Budget]]:
    print("== 0. One Service, 2 ports, 3 nodes ==")
    cluster = sandbox.fresh(node_count=4)
    counted = counted_provider(cluster)
    ports = NodePorts()
    views = {
        "clb": ServiceView.from_dict(service("single-clb", nlb=False, ports=ports)),
        "nlb": ServiceView.from_dict(service("single-nlb", nlb=True, ports=ports)),
    }
    measured: list[tuple[Step, Measure]] = []
    for step in STEPS:
        nodes = node_views(cluster, step.nodes)
        measured.append((step, run_step(counted, step, views[step.kind], nodes)))
        results.single[step.label] = measured[-1][1]

    section = Section("0. One Service, 2 ports, 3 nodes")
    section.text(
        "One Service (ports 80 and 443, TCP), 3 nodes; the node step plans with the 4th node "
        "seeded from the start. Each step is one plan + apply (one reconcile); the node "
        "steps are planned as the controller's node sync plans them (scoped to the "
        "provider's registration kinds, when it declares them)."
    )
    section.text()
    budgets: list[Budget] = []
    rows = []
    for step, m in measured:
        limits = []
        verdicts = []
        if step.max_reads is not None:
            limits.append(f"reads <= {step.max_reads}")
            verdicts.append(m.reads <= step.max_reads)
        if step.max_writes is not None:
            limits.append(f"writes <= {step.max_writes}")
            verdicts.append(m.writes <= step.max_writes)
        if limits:
            ok = all(verdicts)
            budgets.append(
                Budget("0", step.label, ", ".join(limits), f"{m.reads} / {m.writes}", ok)
            )
            verdict = "PASS" if ok else "FAIL"
        else:
            verdict = "-"
        rows.append(
            (
                step.label,
                f"{m.reads} / {m.writes}",
                step.upstream,
                ", ".join(limits) or "-",
                verdict,
            )
        )
    section.table(("step", "lbctl reads / writes", "upstream", "budget", "verdict"), rows)
    section.text(NOTES)
    section.text()

    unscoped = sorted({op for _, m in measured for op in m.unscoped})
    budgets.append(
        Budget(
            "0",
            "no describe without a filter",
            "0 unfiltered reads",
            ", ".join(unscoped) or "none",
            not unscoped,
        )
    )
    section.text(
        "Describes without a filter (no Filters, ids, names or ARNs): "
        + (", ".join(unscoped) if unscoped else "none")
        + "."
    )
    section.text()
    errors: dict[str, list[str]] = {}
    for i, (_, m) in enumerate(measured, 1):
        for error, count in m.errors.items():
            errors.setdefault(error, []).extend([str(i)] * count)
    listed = [f"{e} (steps {', '.join(steps)})" for e, steps in sorted(errors.items())]
    section.text(
        "Calls answered with an error (a lookup of a balancer that does not exist is a read "
        "answered LoadBalancerNotFound): " + ("; ".join(listed) or "none") + "."
    )
    section.text()

    operations = sorted({op for _, m in measured for op in m.by_operation})
    short = [f"{i}" for i in range(1, len(measured) + 1)]
    section.text(
        "Calls by operation, per step ("
        + "; ".join(f"{s} = {step.label}" for s, (step, _) in zip(short, measured, strict=True))
        + "):"
    )
    section.text()
    section.table(
        ("operation", *short),
        [(op, *(m.by_operation.get(op, 0) or "" for _, m in measured)) for op in operations],
    )
    return section, budgets
