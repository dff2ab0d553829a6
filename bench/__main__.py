"""`python -m bench`: run the benchmarks, print their tables, write bench/RESULTS.md.

Exit status 0 when every budget is met, 1 when any is missed (RESULTS.md is written
either way), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench import findings, fleet, offline, rss, single
from bench.harness import Results, Sandbox
from bench.report import Budget, Section, budget_section, load_average, revision, write

RESULTS = Path(__file__).with_name("RESULTS.md")
QUICK_N = 20
SCENARIOS = ("0", "1", "4", "5")  # 1 runs 2 and 3 as well (they need its fleet)


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n",
        type=int,
        default=int(os.environ.get("BENCH_N", "200")),
        help="CLB and NLB Services each in scenarios 1-3 (default: $BENCH_N or 200)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"N={QUICK_N}, small offline sizes, one repetition (for tests)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=50,
        help="the controller's --batch-size, and Services per plan in the batched flow converge",
    )
    parser.add_argument(
        "--rss-services",
        type=int,
        default=rss.SERVICES,
        help=f"Services the controller holds in scenario 5 (default: {rss.SERVICES}; the "
        "budget is judged only at that size or more)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="repetitions of each offline plan (best is kept)"
    )
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help="comma-separated scenarios to run: 0, 1 (with 2 and 3), 4, 5 (default: all)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"where to write the results (default: {RESULTS} for a full run, none for "
        "--quick or --only)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.n = QUICK_N
        args.repeat = 1
        args.batch = min(args.batch, QUICK_N)
        args.rss_services = min(args.rss_services, rss.QUICK_SERVICES)
    if min(args.n, args.batch, args.repeat, args.rss_services) < 1:
        parser.error("--n, --batch, --repeat and --rss-services must be at least 1")
    args.only = {s.strip() for s in args.only.split(",") if s.strip()}
    if args.only - set(SCENARIOS):
        parser.error(f"--only: unknown scenario(s) {sorted(args.only - set(SCENARIOS))}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    logging.getLogger("lbctl").setLevel(logging.WARNING)
    started = time.perf_counter()
    load_at_start = load_average()
    measured = revision()  # the code this run imports: taken before anything runs
    sections: list[Section] = []
    budgets: list[Budget] = []
    results = Results()
    if {"0", "1"} & args.only:
        sandbox = Sandbox()
        try:
            if "0" in args.only:
                section, found = single.run(sandbox, results)
                sections.append(section)
                budgets += found
            if "1" in args.only:
                more, found = fleet.run(sandbox, args.n, args.batch, results)
                sections += more
                budgets += found
        finally:
            sandbox.stop()
    if "4" in args.only:
        sizes = offline.QUICK_SIZES if args.quick else offline.SIZES
        section, found = offline.run(sizes, args.repeat, results)
        sections.append(section)
        budgets += found
    if "5" in args.only:
        section, found = rss.run(args.rss_services, args.batch)
        sections.append(section)
        budgets += found
    summary = budget_section(budgets)
    elapsed = time.perf_counter() - started
    summary.text(f"Whole run: {elapsed:.0f} s.")
    found_section = findings.section(results)
    complete = not args.quick and args.only == set(SCENARIOS)
    output = args.output or (RESULTS if complete else None)
    if output is not None:
        write(
            output,
            argv=argv,
            settings=f"N = {args.n}, batch {args.batch}, offline best of {args.repeat}, "
            f"{args.rss_services} Services held",
            sections=[summary, found_section, *sections],
            load_at_start=load_at_start,
            revision=measured,
        )
        print(f"wrote {output}")
    return 1 if any(b.ok is False for b in budgets) else 0


if __name__ == "__main__":
    raise SystemExit(main())
