"""Compute ``Operation`` objects: PENDING -> RUNNING -> DONE over successive reads.

Every write answers with an Operation, regional / zonal / global like the resource
it touches. The sandbox applies the change at once and only *reports* progress:
with ``polls`` = N the write's answer and the first N-1 reads say "not done yet"
(``PENDING`` while at least two reads remain, then ``RUNNING``), the N-th read says
``DONE``. ``polls=0`` answers ``DONE`` straight away. ``POST .../wait`` answers
``DONE`` at once when ``wait_completes`` (the real ``wait`` blocks up to two
minutes, so a well-behaved client sees DONE there), else it counts as one read.

A failed asynchronous write never changes state; its error shows only once the
operation is DONE, as in the real API (``error.errors[{code, message}]``).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from lbctl.sandbox.gce.exceptions import ComputeError

_SEQUENCE = itertools.count(1)


def operation_name() -> str:
    """A fresh name shaped like the API's ``operation-<ms>-<hex>-<hex>-<hex>``."""
    n = next(_SEQUENCE)
    return f"operation-{int(time.time() * 1000)}-{n:013x}-{n * 2654435761 % 2**32:08x}-sbx"


@dataclass
class Operation:
    """One operation; ``scope_path`` is ``projects/p/regions/r`` (or zones/z, global)."""

    name: str
    id: str
    scope_path: str
    operation_type: str
    target_link: str
    target_id: str
    self_link: str
    scope_link: str
    scope_kind: str
    insert_time: str
    reads_left: int
    error: ComputeError | None = None
    start_time: str = ""
    end_time: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.reads_left <= 0

    def status(self) -> str:
        if self.done:
            return "DONE"
        return "PENDING" if self.reads_left >= 2 else "RUNNING"

    def read(self, now: str, *, complete: bool = False) -> None:
        """One client poll: step towards DONE (or finish at once when ``complete``)."""
        self.reads_left = 0 if complete else max(self.reads_left - 1, 0)
        self.stamp(now)

    def stamp(self, now: str) -> None:
        """Record start / end times the status has reached."""
        if self.status() != "PENDING" and not self.start_time:
            self.start_time = now
        if self.done and not self.end_time:
            self.end_time = now

    def to_json(self) -> dict[str, Any]:
        status = self.status()
        body: dict[str, Any] = {
            "kind": "compute#operation",
            "id": self.id,
            "name": self.name,
            "operationType": self.operation_type,
            "targetLink": self.target_link,
            "targetId": self.target_id,
            "status": status,
            "user": "sandbox@lbctl.invalid",
            "progress": 100 if status == "DONE" else 0,
            "insertTime": self.insert_time,
            "selfLink": self.self_link,
        }
        if self.scope_kind in ("regions", "zones"):
            body["region" if self.scope_kind == "regions" else "zone"] = self.scope_link
        if self.start_time:
            body["startTime"] = self.start_time
        if self.end_time:
            body["endTime"] = self.end_time
        if status == "DONE" and self.error is not None:
            body.update(self.error.operation_fields())
        body.update(self.extra)
        return body
