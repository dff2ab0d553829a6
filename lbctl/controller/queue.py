"""The work queue of Service keys: de-duplicated, one worker per key, per-key backoff.

Why a queue of keys and not of events: a reconcile reads the latest cached object, so ten
updates to one Service while it waits are one reconcile, not ten. The semantics are
client-go's workqueue (what the upstream service controller runs on):

- `add(key)` de-duplicates: a key already waiting is not queued twice.
- A key is handed to one worker at a time. A key added while a worker holds it is marked
  dirty and queued again when that worker calls `done(key)`, so the change is never lost and
  never processed by two workers at once (the controller is safe with `--workers 8`).
- `add_rate_limited(key)` waits 5 s, 10 s, 20 s ... up to 300 s per consecutive failure of
  that key; `forget(key)` (after a success) resets it. `add_after(key, seconds)` waits
  exactly that long: a provider's RetryAfter is honoured to the second, without backoff.
- A new `add` of a key that is backing off queues it at once (a user's edit is not made to
  wait for the backoff of an earlier failure), as in client-go.
- `get_batch(limit)` hands a worker up to `limit` ready keys at once (planned together);
  each is held, and released with `done(key)`, exactly as a key taken by `get`.
- `claim(key)` lets a batch pass (node sync) hold keys the same way a worker does.

`clock` is a test seam: with an injected clock, delays are computed from it and tests
advance it instead of sleeping.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

MIN_RETRY_DELAY = 5.0
MAX_RETRY_DELAY = 300.0


class WorkQueue:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,  # test seam
        base_delay: float = MIN_RETRY_DELAY,
        max_delay: float = MAX_RETRY_DELAY,
    ) -> None:
        self.clock = clock
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._cond = threading.Condition()
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._waiting: list[tuple[float, int, str]] = []  # heap of (ready at, seq, key)
        self._ready_at: dict[str, float] = {}  # the earliest pending delayed add per key
        self._seq = itertools.count()
        self._failures: Counter[str] = Counter()
        self._shutting_down = False

    # --- adding ------------------------------------------------------------------------

    def add(self, key: str) -> None:
        with self._cond:
            self._add_locked(key)
            self._cond.notify()

    def _add_locked(self, key: str) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutting_down:
                return
            ready = self.clock() + delay
            if key in self._ready_at and self._ready_at[key] <= ready:
                return
            self._ready_at[key] = ready
            heapq.heappush(self._waiting, (ready, next(self._seq), key))
            self._cond.notify()

    def next_delay(self, key: str) -> float:
        """The backoff for the next failure of `key`, counting it: 5 s doubling to 300 s."""
        with self._cond:
            failures = self._failures[key]
            self._failures[key] += 1
        return float(min(self.base_delay * 2**failures, self.max_delay))

    def add_rate_limited(self, key: str) -> float:
        delay = self.next_delay(key)
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        with self._cond:
            self._failures.pop(key, None)

    def num_requeues(self, key: str) -> int:
        with self._cond:
            return self._failures[key]

    # --- taking ------------------------------------------------------------------------

    def _promote_locked(self) -> None:
        now = self.clock()
        while self._waiting and self._waiting[0][0] <= now:
            ready, _, key = heapq.heappop(self._waiting)
            if self._ready_at.get(key) == ready:
                del self._ready_at[key]
                self._add_locked(key)

    def get(self, timeout: float | None = None) -> str | None:
        """The next key, marked as being processed; None on timeout or shutdown.

        The caller must call `done(key)` when it is finished with it.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._promote_locked()
                if self._queue:
                    return self._take_locked()
                if self._shutting_down:
                    return None
                wait: float | None = None
                if self._waiting:
                    wait = max(0.0, self._waiting[0][0] - self.clock())
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    wait = remaining if wait is None else min(wait, remaining)
                self._cond.wait(wait)

    def get_batch(self, limit: int, timeout: float | None = None) -> list[str]:
        """Up to `limit` ready keys at once, each marked as being processed; [] on timeout
        or shutdown. Waits only for the first: a batch is whatever is ready then, so a
        lone change is not held back to fill one.

        The caller must call `done(key)` for each key when it is finished with it.
        """
        first = self.get(timeout)
        if first is None:
            return []
        keys = [first]
        with self._cond:
            self._promote_locked()
            while self._queue and len(keys) < limit:
                keys.append(self._take_locked())
        return keys

    def _take_locked(self) -> str:
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: str) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty and not self._shutting_down:
                self._queue.append(key)
                self._cond.notify()

    def claim(self, key: str) -> bool:
        """Hold `key` as a worker would, unless a worker holds it; release with done().

        A key waiting in the queue is taken out of it (it stays dirty, so done() queues it
        again: the batch pass may have used an older copy of the object).
        """
        with self._cond:
            if self._shutting_down or key in self._processing:
                return False
            self._processing.add(key)
            if key in self._dirty:
                with contextlib.suppress(ValueError):
                    self._queue.remove(key)
            return True

    # --- lifecycle and introspection ---------------------------------------------------

    def shut_down(self) -> None:
        """Refuse new keys and wake every waiting worker (get returns None)."""
        with self._cond:
            self._shutting_down = True
            self._cond.notify_all()

    def wake(self) -> None:
        """Re-check delayed keys now (after a test advanced the injected clock)."""
        with self._cond:
            self._cond.notify_all()

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        """Keys ready to be processed (the queue depth metric)."""
        with self._cond:
            return len(self._queue)

    def waiting(self) -> int:
        """Keys scheduled for later (backing off or honouring a RetryAfter)."""
        with self._cond:
            return len(self._ready_at)

    def processing(self) -> frozenset[str]:
        with self._cond:
            return frozenset(self._processing)
