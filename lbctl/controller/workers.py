"""The leader's work: service workers, the node-sync worker and the drift-repair timer.

Each service worker takes up to `--batch-size` ready keys at once from the queue and
reconciles them together (their plans share one batched observe: see reconciler.py), and
requeues each key as its own result says: forget on success, the provider's RetryAfter
exactly, otherwise the per-key backoff (5 s doubling to 300 s). Every reconcile is logged
on one line — the Service, the operation, the changes made by op and kind, the duration
(from the start of its batch), the result — and counted in the metrics. A reconcile
stopped by the leadership fence is dropped silently: the replica is stepping down and the
new leader's queue has the key.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from lbctl.controller.metrics import ControllerMetrics
from lbctl.controller.nodesync import NodeSyncer
from lbctl.controller.queue import WorkQueue
from lbctl.controller.reconciler import Fenced, Outcome, Reconciler, Result, SyncError
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
        batch_size: int = 1,
    ) -> None:
        self.queue = queue
        self.reconciler = reconciler
        self.node_syncer = node_syncer
        self.resyncer = resyncer
        self.metrics = metrics
        self.resync_period = resync_period
        self.batch_size = batch_size
        self.stop = threading.Event()  # set: take no new work
        self.node_sync_needed = threading.Event()

    def worker(self) -> None:
        while not self.stop.is_set():
            keys = self.queue.get_batch(self.batch_size, timeout=0.5)
            if not keys:
                if self.queue.shutting_down:
                    return
                continue
            self.process_batch(keys)

    def process_batch(self, keys: Sequence[str]) -> dict[str, Outcome | None]:
        """Reconcile keys taken from the queue together, and release each (`done`) as soon
        as its own reconcile is over, requeued as its result says.

        When work stops (shutdown, or leadership lost) mid-batch, the keys not yet
        reconciled are released untouched: like keys still queued, they are picked up
        again on the next start (or by the new leader) from a fresh list.
        """
        started = time.monotonic()
        left = dict.fromkeys(keys)
        outcomes: dict[str, Outcome | None] = {}
        self.metrics.batch_size.observe(len(left))
        try:
            for key, result in self.reconciler.sync_many(list(left)):
                del left[key]
                try:
                    outcomes[key] = self._finish(key, result, time.monotonic() - started)
                finally:
                    self.queue.done(key)
                if self.stop.is_set() and left:
                    log.warning("stopping; batch left unfinished", extra={"services": len(left)})
                    break
        except Exception as e:  # the batch itself broke: each key left is retried
            log.exception("reconcile batch crashed", extra={"services": len(left)})
            for key in left:
                outcomes[key] = self._finish(key, e, time.monotonic() - started)
        finally:
            for key in left:
                self.queue.done(key)
        return outcomes

    def _finish(self, key: str, result: Result, elapsed: float) -> Outcome | None:
        """Requeue one key as its result says, log one line, count it."""
        fields: dict[str, Any] = {"service": key}
        outcome = result if isinstance(result, Outcome) else None
        if isinstance(result, Fenced):
            log.warning("not the leader any more; dropped", extra=fields)
            return None
        if isinstance(result, Outcome):
            self.queue.forget(key)
            status = "success"
            fields.update(
                operation=result.operation.value,
                changes=dict(sorted(result.changes.items())),
                statusPatched=result.status_patched,
            )
        elif isinstance(result, SyncError):
            status = "requeue" if result.retry_after is not None else "error"
            delay = result.retry_after
            if delay is None:
                delay = self.queue.next_delay(key)
            self.queue.add_after(key, delay)
            self.metrics.reconcile_errors.inc(result.cause)
            fields.update(error=str(result), retryIn=delay)
        else:
            status = "error"
            delay = self.queue.add_rate_limited(key)
            self.metrics.reconcile_errors.inc("other")
            fields.update(error=f"{type(result).__name__}: {result}", retryIn=delay)
            log.error("reconcile crashed", extra={"service": key}, exc_info=result)
        fields["durationMs"] = round(elapsed * 1000, 1)
        fields["result"] = status
        operation = outcome.operation.value if outcome else "unknown"
        self.metrics.reconciles.inc(status, operation)
        self.metrics.reconcile_seconds.observe(elapsed, status)
        if outcome is not None:
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
