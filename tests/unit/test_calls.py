"""CallCounter: counting every attempt, retrying in one place, never sleeping for real."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from lbctl.calls import CallCounter, RetryPolicy, is_read


class Throttled(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("Throttling: Rate exceeded")
        self.retry_after = retry_after


class Fatal(Exception):
    pass


class TopRng:
    """A stand-in for random.Random whose uniform(a, b) returns b: the jitter ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


def retryable(e: Exception) -> bool:
    return isinstance(e, Throttled)


def hint(e: Exception) -> float | None:
    return e.retry_after if isinstance(e, Throttled) else None


def script(outcomes: Iterable[Any]) -> tuple[Callable[[], Any], list[int]]:
    """fn raising or returning each outcome in turn; `calls` records how often it ran."""
    queue = list(outcomes)
    calls: list[int] = []

    def fn() -> Any:
        calls.append(1)
        outcome = queue.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return fn, calls


def counter(
    attempts: int = 6,
    base: float = 0.2,
    cap: float = 20.0,
    rng: Any = None,
) -> tuple[CallCounter, list[float]]:
    sleeps: list[float] = []
    c = CallCounter(
        policy=RetryPolicy(attempts=attempts, base=base, cap=cap),
        sleep=sleeps.append,
        rng=rng or TopRng(),  # type: ignore[arg-type]
    )
    return c, sleeps


# --- retries -----------------------------------------------------------------------------

RETRY_CASES: list[tuple[list[Any], int, Any, int, list[float]]] = [
    # outcomes, attempts, result or exception type, fn calls, sleeps (TopRng, base .2)
    (["ok"], 6, "ok", 1, []),
    ([Throttled(), "ok"], 6, "ok", 2, [0.2]),
    ([Throttled(), Throttled(), Throttled(), "ok"], 6, "ok", 4, [0.2, 0.4, 0.8]),
    ([Fatal()], 6, Fatal, 1, []),
    ([Throttled(), Fatal()], 6, Fatal, 2, [0.2]),
    ([Throttled()] * 3, 3, Throttled, 3, [0.2, 0.4]),
    ([Throttled()], 1, Throttled, 1, []),
    ([Throttled(), Throttled(), "ok"], 3, "ok", 3, [0.2, 0.4]),
    ([Throttled(retry_after=42.0), "ok"], 6, "ok", 2, [42.0]),
    ([Throttled(retry_after=0.0), "ok"], 6, "ok", 2, [0.0]),
    (
        [Throttled(retry_after=5.0), Throttled(), Throttled(retry_after=1.5), "ok"],
        6,
        "ok",
        4,
        [5.0, 0.4, 1.5],
    ),
]


@pytest.mark.parametrize(
    ("outcomes", "attempts", "expected", "calls", "sleeps"),
    RETRY_CASES,
    ids=[
        "first-try",
        "one-retry",
        "three-retries",
        "not-retryable",
        "retryable-then-not-retryable",
        "gives-up-after-attempts",
        "single-attempt-policy",
        "succeeds-on-last-attempt",
        "retry-after-hint",
        "zero-hint-honoured",
        "hints-and-jitter-mixed",
    ],
)
def test_call_retries(
    outcomes: list[Any], attempts: int, expected: Any, calls: int, sleeps: list[float]
) -> None:
    c, slept = counter(attempts=attempts)
    fn, ran = script(outcomes)
    if isinstance(expected, type):
        with pytest.raises(expected):
            c.call("aws", "elb:CreateLoadBalancer", fn, retryable=retryable, retry_after=hint)
    else:
        assert (
            c.call("aws", "elb:CreateLoadBalancer", fn, retryable=retryable, retry_after=hint)
            == expected
        )
    assert len(ran) == calls
    assert c.counts[("aws", "elb:CreateLoadBalancer")] == calls
    assert c.retries[("aws", "elb:CreateLoadBalancer")] == len(sleeps)
    assert slept == pytest.approx(sleeps)


def test_gives_up_and_reraises_the_last_error() -> None:
    errors = [Throttled(), Throttled(), Throttled()]
    c, sleeps = counter(attempts=3)
    fn, _ = script(errors)
    with pytest.raises(Throttled) as info:
        c.call("aws", "ec2:AuthorizeSecurityGroupIngress", fn, retryable=retryable)
    assert info.value is errors[-1]
    assert len(sleeps) == 2


def test_non_retryable_error_is_the_same_object() -> None:
    error = Fatal("AccessDenied")
    c, sleeps = counter()
    fn, _ = script([error])
    with pytest.raises(Fatal) as info:
        c.call("aws", "elb:DeleteLoadBalancer", fn, retryable=retryable)
    assert info.value is error
    assert sleeps == []
    assert c.retries == {}


def test_retryable_sees_each_exception() -> None:
    seen: list[Exception] = []
    errors = [Throttled(), Throttled()]

    def judge(e: Exception) -> bool:
        seen.append(e)
        return True

    c, _ = counter()
    fn, _ = script([*errors, "ok"])
    assert c.call("aws", "op", fn, retryable=judge) == "ok"
    assert seen == errors


def test_retry_after_not_consulted_for_non_retryable() -> None:
    asked: list[Exception] = []

    def after(e: Exception) -> float | None:
        asked.append(e)
        return 1.0

    c, _ = counter()
    fn, _ = script([Fatal()])
    with pytest.raises(Fatal):
        c.call("aws", "op", fn, retryable=retryable, retry_after=after)
    assert asked == []


@pytest.mark.parametrize(
    ("base", "cap", "attempts", "expected"),
    [
        (0.2, 20.0, 6, [0.2, 0.4, 0.8, 1.6, 3.2]),
        (1.0, 3.0, 6, [1.0, 2.0, 3.0, 3.0, 3.0]),
        (0.5, 0.5, 4, [0.5, 0.5, 0.5]),
        (2.0, 100.0, 3, [2.0, 4.0]),
    ],
    ids=["default-doubling", "capped", "cap-equals-base", "custom-base"],
)
def test_backoff_ceiling(base: float, cap: float, attempts: int, expected: list[float]) -> None:
    c, sleeps = counter(attempts=attempts, base=base, cap=cap)
    fn, _ = script([Throttled()] * attempts)
    with pytest.raises(Throttled):
        c.call("aws", "op", fn, retryable=retryable)
    assert sleeps == pytest.approx(expected)


def test_full_jitter_stays_within_ceiling() -> None:
    import random

    for seed in range(20):
        sleeps: list[float] = []
        c = CallCounter(
            policy=RetryPolicy(attempts=8, base=0.2, cap=5.0),
            sleep=sleeps.append,
            rng=random.Random(seed),
        )
        fn, _ = script([Throttled()] * 8)
        with pytest.raises(Throttled):
            c.call("aws", "op", fn, retryable=retryable)
        assert len(sleeps) == 7
        for attempt, slept in enumerate(sleeps):
            assert 0.0 <= slept <= min(5.0, 0.2 * 2**attempt)


def test_default_policy() -> None:
    policy = CallCounter().policy
    assert (policy.attempts, policy.base, policy.cap) == (6, 0.2, 20.0)


# --- counting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "read"),
    [
        ("DescribeLoadBalancers", True),
        ("elb:DescribeLoadBalancers", True),
        ("ec2:DescribeSecurityGroups", True),
        ("elbv2:DescribeTargetHealth", True),
        ("iam:GetServerCertificate", True),
        ("acm:ListCertificates", True),
        ("describe_instances", True),
        ("get", True),
        ("list_nodes", True),
        ("wait_until_deleted", True),
        ("CreateLoadBalancer", False),
        ("elb:CreateLoadBalancer", False),
        ("ec2:AuthorizeSecurityGroupIngress", False),
        ("elb:ModifyLoadBalancerAttributes", False),
        ("elb:RegisterInstancesWithLoadBalancer", False),
        ("ec2:DeleteSecurityGroup", False),
        ("elb:AddTags", False),
        ("ec2:CreateTags", False),
        ("elb:SetLoadBalancerPoliciesOfListener", False),
        ("Describe:CreateLoadBalancer", False),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_is_read(operation: str, read: bool) -> None:
    assert is_read(operation) is read


def test_every_attempt_counted_per_provider_and_operation() -> None:
    c, _ = counter()
    fn, _ = script([Throttled(), "a"])
    c.call("aws", "elb:DescribeLoadBalancers", fn, retryable=retryable)
    fn, _ = script(["b"])
    c.call("aws", "ec2:DescribeSubnets", fn, retryable=retryable)
    fn, _ = script(["c"])
    c.call("gce", "elb:DescribeLoadBalancers", fn, retryable=retryable)
    assert c.snapshot() == {
        ("aws", "elb:DescribeLoadBalancers"): 2,
        ("aws", "ec2:DescribeSubnets"): 1,
        ("gce", "elb:DescribeLoadBalancers"): 1,
    }
    assert c.retries == {("aws", "elb:DescribeLoadBalancers"): 1}


def test_totals_split_reads_and_writes() -> None:
    c, _ = counter()
    for op, n in [
        ("elb:DescribeLoadBalancers", 3),
        ("ec2:DescribeSecurityGroups", 2),
        ("elb:CreateLoadBalancer", 1),
        ("ec2:AuthorizeSecurityGroupIngress", 2),
        ("elb:AddTags", 1),
    ]:
        for _ in range(n):
            c.record("aws", op)
    assert c.totals() == (5, 4)


def test_totals_count_failed_attempts() -> None:
    c, _ = counter(attempts=2)
    fn, _ = script([Throttled(), Throttled()])
    with pytest.raises(Throttled):
        c.call("aws", "elb:CreateLoadBalancer", fn, retryable=retryable)
    assert c.totals() == (0, 2)


def test_since_snapshot() -> None:
    c, _ = counter()
    c.record("aws", "elb:DescribeLoadBalancers")
    c.record("aws", "elb:CreateLoadBalancer")
    before = c.snapshot()
    c.record("aws", "elb:DescribeLoadBalancers")
    c.record("aws", "ec2:DescribeSubnets")
    c.record("aws", "elb:AddTags")
    assert c.totals(since=before) == (2, 1)
    assert c.totals() == (3, 2)
    assert c.by_operation(since=before) == {
        "ec2:DescribeSubnets": 1,
        "elb:AddTags": 1,
        "elb:DescribeLoadBalancers": 1,
    }
    assert c.by_operation() == {
        "ec2:DescribeSubnets": 1,
        "elb:AddTags": 1,
        "elb:CreateLoadBalancer": 1,
        "elb:DescribeLoadBalancers": 2,
    }


def test_snapshot_is_a_copy() -> None:
    c, _ = counter()
    c.record("aws", "op")
    snap = c.snapshot()
    c.record("aws", "op")
    assert snap == {("aws", "op"): 1}
    assert c.totals(since=c.snapshot()) == (0, 0)
    assert c.by_operation(since=c.snapshot()) == {}


def test_by_operation_is_sorted() -> None:
    c, _ = counter()
    for op in ["elb:B", "ec2:A", "elb:A"]:
        c.record("aws", op)
    assert list(c.by_operation()) == ["ec2:A", "elb:A", "elb:B"]


def test_counting_is_thread_safe() -> None:
    c, _ = counter()

    def work() -> None:
        for _ in range(500):
            c.call("aws", "ec2:DescribeInstances", lambda: None, retryable=retryable)
            c.record("aws", "ec2:CreateTags")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.totals() == (4000, 4000)


def test_by_operation_keeps_every_call_across_providers() -> None:
    # by_operation drops the provider from the key; counts of the same operation made by
    # two providers must add up, not overwrite each other.
    c, _ = counter()
    for provider, n in [("aws", 2), ("other", 1)]:
        for _ in range(n):
            c.record(provider, "elb:DescribeLoadBalancers")
    assert c.by_operation() == {"elb:DescribeLoadBalancers": 3}
    assert sum(c.by_operation().values()) == sum(c.totals())
