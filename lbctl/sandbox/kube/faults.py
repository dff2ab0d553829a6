"""Fault injection and request recording for tests of API clients.

A controller must survive what a real apiserver does under load or during an
upgrade: 409s from a concurrent writer, 429 throttling with ``Retry-After``,
500/503s, slow answers.  :meth:`KubeAPIServer.inject` queues a :class:`Fault`
that answers the next matching request(s) with a proper ``Status`` error (or
just delays them), without touching the client.  Every request is also recorded
so tests can assert on the calls made ("a no-op sync sends no PATCH").
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Fault", "FaultSet", "RecordedRequest", "RequestLog"]


@dataclass
class Fault:
    """Answer matching requests with ``status`` (``None``: only delay them).

    ``path_regex`` is searched in the request target, path *and* query string
    (``.../services?...watch=true``); ``times=None`` means every time.
    """

    method: str | None
    path_regex: re.Pattern[str]
    status: int | None
    reason: str | None = None
    message: str = ""
    times: int | None = 1
    delay: float = 0.0
    retry_after: int | None = None
    hits: int = 0

    def matches(self, method: str, target: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path_regex.search(target) is not None

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


class FaultSet:
    """The pending faults; the first matching one that is not used up wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, target: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if not fault.exhausted and fault.matches(method, target):
                    fault.hits += 1
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it; ``body`` is parsed JSON when it was JSON."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any = None
    status: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class RequestLog:
    """The last ``size`` requests, thread-safe."""

    def __init__(self, size: int = 10000) -> None:
        self._lock = threading.Lock()
        self._items: deque[RecordedRequest] = deque(maxlen=size)

    def append(self, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
