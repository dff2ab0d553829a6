"""Counting and retrying cloud calls.

Every provider sends every cloud call through `CallCounter.call`, so that (a) each attempt
is counted by provider and operation (the numbers behind the benchmarks' budgets and the
Prometheus metrics), and (b) throttling and 5xx answers are retried in one place with
jittered exponential backoff ("full jitter"), instead of the SDK's hidden retries.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

READ_PREFIXES = ("Describe", "Get", "List", "describe", "get", "list", "wait")


def is_read(operation: str) -> bool:
    """`ec2:DescribeSubnets`, `DescribeSubnets` and `get` are reads; the rest are writes."""
    return operation.rsplit(":", 1)[-1].startswith(READ_PREFIXES)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base: float = 0.2
    cap: float = 20.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")


@dataclass
class CallCounter:
    """Thread-safe tally of cloud calls: (provider, operation) -> attempts."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    retries: Counter[tuple[str, str]] = field(default_factory=Counter)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep  # test seam: no real waiting in tests
    rng: random.Random = field(default_factory=random.Random)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, provider: str, operation: str) -> None:
        with self._lock:
            self.counts[(provider, operation)] += 1

    def call(
        self,
        provider: str,
        operation: str,
        fn: Callable[[], T],
        *,
        retryable: Callable[[Exception], bool],
        retry_after: Callable[[Exception], float | None] = lambda e: None,
    ) -> T:
        for attempt in range(self.policy.attempts):
            self.record(provider, operation)
            try:
                return fn()
            except Exception as e:
                if attempt + 1 >= self.policy.attempts or not retryable(e):
                    raise
                with self._lock:
                    self.retries[(provider, operation)] += 1
                hinted = retry_after(e)
                ceiling = min(self.policy.cap, self.policy.base * 2**attempt)
                self.sleep(hinted if hinted is not None else self.rng.uniform(0, ceiling))
        raise AssertionError("unreachable")

    def snapshot(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter(self.counts)

    def totals(self, since: Counter[tuple[str, str]] | None = None) -> tuple[int, int]:
        """(reads, writes) made since a snapshot (or ever)."""
        now = self.snapshot()
        if since is not None:
            now.subtract(since)
        reads = sum(n for (_, op), n in now.items() if is_read(op))
        writes = sum(n for (_, op), n in now.items() if not is_read(op))
        return reads, writes

    def by_operation(self, since: Counter[tuple[str, str]] | None = None) -> dict[str, int]:
        now = self.snapshot()
        if since is not None:
            now.subtract(since)
        out: dict[str, int] = {}
        for (_, op), n in sorted(now.items()):
            if n:
                out[op] = out.get(op, 0) + n
        return out
