"""The work queue: de-duplication, one worker per key, backoff 5 s -> 300 s, exact
RetryAfter, forget on success. Delays run on an injected clock: no test sleeps."""

from __future__ import annotations

import threading
import time

import pytest

from lbctl.controller.queue import WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(clock: Clock) -> WorkQueue:
    return WorkQueue(clock=clock)


def drain(queue: WorkQueue) -> list[str]:
    out = []
    while (key := queue.get(timeout=0)) is not None:
        out.append(key)
        queue.done(key)
    return out


def test_adds_are_deduplicated_and_ordered(queue: WorkQueue) -> None:
    for key in ["a", "b", "a", "c", "b"]:
        queue.add(key)
    assert len(queue) == 3
    assert drain(queue) == ["a", "b", "c"]


def test_a_key_added_while_processing_waits_for_done(queue: WorkQueue) -> None:
    queue.add("a")
    assert queue.get(timeout=0) == "a"
    queue.add("a")  # an update arrives while a worker holds "a"
    assert queue.get(timeout=0) is None  # no second worker gets it
    queue.done("a")
    assert queue.get(timeout=0) == "a"  # the change is not lost


BACKOFF = [5, 10, 20, 40, 80, 160, 300, 300, 300]


def test_backoff_doubles_from_5s_to_300s(queue: WorkQueue, clock: Clock) -> None:
    delays = [queue.add_rate_limited("a") for _ in BACKOFF]
    assert delays == BACKOFF
    assert queue.num_requeues("a") == len(BACKOFF)
    queue.forget("a")
    assert queue.num_requeues("a") == 0
    assert queue.next_delay("a") == 5


def test_rate_limited_key_waits_for_its_delay(queue: WorkQueue, clock: Clock) -> None:
    assert queue.add_rate_limited("a") == 5
    assert queue.get(timeout=0) is None
    assert queue.waiting() == 1
    clock.advance(4.9)
    assert queue.get(timeout=0) is None
    clock.advance(0.1)
    assert queue.get(timeout=0) == "a"


def test_retry_after_is_exact_and_not_backoff(queue: WorkQueue, clock: Clock) -> None:
    queue.add_after("a", 42)
    clock.advance(41.99)
    assert queue.get(timeout=0) is None
    clock.advance(0.01)
    assert queue.get(timeout=0) == "a"
    assert queue.num_requeues("a") == 0


def test_a_new_add_does_not_wait_for_backoff(queue: WorkQueue, clock: Clock) -> None:
    queue.add_rate_limited("a")
    queue.add("a")  # the user edits the Service
    assert queue.get(timeout=0) == "a"
    queue.done("a")
    clock.advance(5)
    assert queue.get(timeout=0) == "a"  # the delayed add still comes (deduplicated later)


def test_the_earliest_delayed_add_wins(queue: WorkQueue, clock: Clock) -> None:
    queue.add_after("a", 100)
    queue.add_after("a", 10)
    queue.add_after("a", 50)
    clock.advance(10)
    assert drain(queue) == ["a"]
    clock.advance(100)
    assert drain(queue) == []


def test_claim_holds_a_key_like_a_worker(queue: WorkQueue) -> None:
    queue.add("a")
    assert queue.claim("a")  # node sync takes it out of the queue
    assert queue.get(timeout=0) is None
    assert not queue.claim("a")
    queue.done("a")
    assert queue.get(timeout=0) == "a"  # it was dirty: processed again after the claim
    assert not queue.claim("a")  # a worker holds it now
    queue.done("a")
    assert queue.claim("b")
    queue.done("b")
    assert queue.get(timeout=0) is None


def test_shutdown_wakes_workers(queue: WorkQueue) -> None:
    got: list[str | None] = []
    worker = threading.Thread(target=lambda: got.append(queue.get()))
    worker.start()
    time.sleep(0.05)
    queue.shut_down()
    worker.join(2)
    assert got == [None]
    queue.add("a")
    assert queue.get(timeout=0) is None


def test_eight_workers_never_share_a_key() -> None:
    """Many adds of few keys, 8 workers: at no time do two workers hold the same key."""
    queue = WorkQueue()
    held: set[str] = set()
    lock = threading.Lock()
    overlaps: list[str] = []
    done_count = [0]

    def worker() -> None:
        while (key := queue.get(timeout=0.5)) is not None:
            with lock:
                if key in held:
                    overlaps.append(key)
                held.add(key)
            time.sleep(0.001)
            with lock:
                held.discard(key)
                done_count[0] += 1
            queue.done(key)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for i in range(2000):
        queue.add(f"k{i % 5}")
    time.sleep(0.3)
    queue.shut_down()
    for t in threads:
        t.join(5)
    assert overlaps == []
    assert done_count[0] >= 5
