"""Per-balancer details kept across observes of one provider (the controller's passes).

The AWS APIs have no batch form of a balancer's details (classic ELB attributes and
policies; an NLB's listeners, attributes, and per target group its health and
attributes), so reading them on every pass costs reads per Service. The provider keeps
the last read per balancer, with what it was read against (the balancer's batched
description, which every observe reads anyway), and an observe reads them fresh only for:

- a balancer with no entry (new, or the first pass of this provider: the CLI, which makes
  a provider per run, always reads everything);
- a balancer whose description changed (re-created: a new ARN or CreatedTime; or any
  other change the batched describe shows);
- a balancer lbctl wrote to since (`invalidate`, called by the provider's apply for
  every plan with a change, whether it succeeded or not);
- at most `refresh` others per observe, the oldest read first, so that every balancer's
  details are read again every ceil(N / refresh) passes and drift made outside lbctl
  (an attribute, a listener, a target) is still found and repaired, just later.

Node sync (registrations only) refreshes none: it uses the cached target health.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CLB = "clb"
NLB = "nlb"
DEFAULT_REFRESH = 10


def fingerprint(desc: Mapping[str, Any]) -> str:
    """What a cached entry was read against: the balancer's whole batched description."""
    return json.dumps(desc, sort_keys=True, default=str)


@dataclass
class Entry:
    fingerprint: str
    read: int  # the pass it was read in
    data: dict[str, Any] = field(default_factory=dict)


class DetailCache:
    """Shared by the controller's worker threads: each observe's choices (`begin`) are its
    thread's own, and entries change under a lock."""

    def __init__(self, refresh: int = DEFAULT_REFRESH) -> None:
        self.refresh = max(0, refresh)
        self.entries: dict[tuple[str, str], Entry] = {}
        self.passes = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self._writes = 0  # invalidations so far
        self._written: dict[str, int] = {}  # balancer name -> `_writes` at its last one

    @property
    def due(self) -> frozenset[tuple[str, str]]:
        return getattr(self._local, "due", frozenset())

    def begin(self, present: Mapping[tuple[str, str], str], *, refresh: bool = True) -> None:
        """A new observe: `present` are its wanted balancers with their fingerprints. Of
        those with a valid entry, the `refresh` read longest ago are due a fresh read."""
        with self._lock:
            self.passes += 1
            self._local.passes = self.passes
            self._local.start = self._writes
            valid = [
                (entry.read, k)
                for k, fp in present.items()
                if (entry := self.entries.get(k)) is not None and entry.fingerprint == fp
            ]
        valid.sort()
        self._local.due = frozenset(k for _, k in valid[: self.refresh]) if refresh else frozenset()

    def get(self, kind: str, name: str, fp: str) -> dict[str, Any] | None:
        """The cached details, or None when they are to be read fresh."""
        entry = self.entries.get((kind, name))
        if entry is None or entry.fingerprint != fp or (kind, name) in self.due:
            return None
        return entry.data

    def put(self, kind: str, name: str, fp: str, data: dict[str, Any], *, fresh: bool) -> None:
        """`fresh`: everything in `data` was read in this pass (else it keeps its age). Not
        kept when lbctl wrote to the balancer since this observe began (another worker):
        what was read may predate that write."""
        with self._lock:
            if self._written.get(name, -1) >= getattr(self._local, "start", 0):
                return
            old = self.entries.get((kind, name))
            now = getattr(self._local, "passes", self.passes)
            read = now if fresh or old is None else old.read
            self.entries[(kind, name)] = Entry(fp, read, data)

    def forget(self, kind: str, name: str) -> None:
        with self._lock:
            self.entries.pop((kind, name), None)

    def invalidate(self, name: str) -> None:
        """lbctl wrote to the balancer of this name (either kind): read it fresh next."""
        with self._lock:
            self._written[name] = self._writes
            self._writes += 1
            self.entries.pop((CLB, name), None)
            self.entries.pop((NLB, name), None)
