"""The leader's work: service workers, the node-sync worker and the drift-repair timer.

Each service worker takes one key at a time from the queue, reconciles it, and requeues it
as the result says: forget on success, the provider's RetryAfter exactly, otherwise the
per-key backoff (5 s doubling to 300 s). Every reconcile is logged on one line — the
Service, the operation, the changes made by op and kind, the duration, the result — and
counted in the metrics. A reconcile stopped by the leadership fence is dropped silently:
the replica is stepping down and the new leader's queue has the key.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from lbctl.controller.metrics import ControllerMetrics
from lbctl.controller.nodesync import NodeSyncer
from lbctl.controller.queue import WorkQueue
from lbctl.controller.reconciler import Fenced, Outcome, Reconciler, SyncError
from lbctl.controller.resync import Resyncer

log = logging.getLogger("lbctl.controller")

POLL = 0.2


class Workers:
    def __init__(
        self,
        *,
        queue: WorkQueue,
        reconciler: Reconciler,
        node_syncer: NodeSyncer,
        resyncer: Resyncer,
        metrics: ControllerMetrics,
        resync_period: float,
    ) -> None:
        self.queue = queue
        self.reconciler = reconciler
        self.node_syncer = node_syncer
        self.resyncer = resyncer
        self.metrics = metrics
        self.resync_period = resync_period
        self.stop = threading.Event()  # set: take no new work
        self.node_sync_needed = threading.Event()

    def worker(self) -> None:
        while not self.stop.is_set():
            key = self.queue.get(timeout=0.5)
            if key is None:
                if self.queue.shutting_down:
                    return
                continue
            try:
                self.process(key)
            finally:
                self.queue.done(key)

    def process(self, key: str) -> Outcome | None:
        """Reconcile one key, requeue it as its result says, log one line, count it."""
        started = time.monotonic()
        outcome: Outcome | None = None
        fields: dict[str, Any] = {"service": key}
        try:
            outcome = self.reconciler.sync(key)
            self.queue.forget(key)
            result = "success"
            fields.update(
                operation=outcome.operation.value,
                changes=dict(sorted(outcome.changes.items())),
                statusPatched=outcome.status_patched,
            )
        except Fenced:
            log.warning("not the leader any more; dropped", extra=fields)
            return None
        except SyncError as e:
            result = "requeue" if e.retry_after is not None else "error"
            delay = e.retry_after if e.retry_after is not None else self.queue.next_delay(key)
            self.queue.add_after(key, delay)
            self.metrics.reconcile_errors.inc(e.cause)
            fields.update(error=str(e), retryIn=delay)
        except Exception as e:
            result = "error"
            delay = self.queue.add_rate_limited(key)
            self.metrics.reconcile_errors.inc("other")
            fields.update(error=f"{type(e).__name__}: {e}", retryIn=delay)
            log.exception("reconcile crashed", extra={"service": key})
        elapsed = time.monotonic() - started
        fields["durationMs"] = round(elapsed * 1000, 1)
        fields["result"] = result
        operation = outcome.operation.value if outcome else "unknown"
        self.metrics.reconciles.inc(result, operation)
        self.metrics.reconcile_seconds.observe(elapsed, result)
        if result == "success":
            log.info("reconciled", extra=fields)
        else:
            log.warning("reconcile failed", extra=fields)
        return outcome

    def node_sync_loop(self) -> None:
        while not self.stop.is_set():
            if not self.node_sync_needed.wait(POLL):
                continue
            self.node_sync_needed.clear()
            self.run_node_sync()

    def run_node_sync(self) -> None:
        started = time.monotonic()
        try:
            result = self.node_syncer.sync()
        except Fenced:
            return
        except Exception:
            self.metrics.node_syncs.inc("error")
            log.exception("node sync crashed")
            return
        elapsed = time.monotonic() - started
        self.metrics.node_sync_seconds.observe(elapsed)
        if not result.planned and not result.busy:
            self.metrics.node_syncs.inc("skipped")
            return
        self.metrics.node_syncs.inc("error" if result.failed else "success")
        log.info(
            "node sync",
            extra={
                "services": len(result.planned),
                "updated": result.updated,
                "failed": result.failed,
                "busy": result.busy,
                "changes": result.changes,
                "durationMs": round(elapsed * 1000, 1),
            },
        )

    def resync_loop(self) -> None:
        while not self.stop.wait(self.resync_period):
            self.run_resync()

    def run_resync(self) -> None:
        try:
            result = self.resyncer.check()
        except Exception as e:
            self.metrics.resyncs.inc("error")
            log.warning("drift check failed", extra={"error": str(e)[:300]})
            return
        self.metrics.resyncs.inc("drift" if result.drifted else "in_sync")
        log.info(
            "drift check",
            extra={"checked": result.checked, "drifted": result.drifted, "queued": result.queued},
        )
