"""The benchmarks' moto server, in a process of its own.

moto's threaded server started in the benchmark's own process would share one interpreter
lock with the SDK clients it answers; in its own process the two use two cores, and the
benchmark's timings are not inflated by that contention. Started by `bench.harness.Sandbox`:
prints its endpoint on one line, then serves until its standard input is closed.
"""

from __future__ import annotations

import sys

from bench.harness import raise_rule_quota
from lbctl.sandbox.aws import start_moto


def main() -> int:
    raise_rule_quota()
    server = start_moto(minimal_amis=True)
    print(server.endpoint, flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
