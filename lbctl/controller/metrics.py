"""Prometheus metrics in the text exposition format (version 0.0.4), with no dependency.

The controller needs a handful of counters, gauges and histograms; a small registry that
renders them keeps the image free of a metrics library. Values that live elsewhere (queue
depth, cloud call counts kept by the provider's CallCounter, leader status) are read
through callbacks at scrape time, so they can never drift from their source.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

from lbctl.calls import CallCounter

Labels = tuple[str, ...]
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(str(v))}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class Metric:
    kind = "untyped"

    def __init__(self, name: str, help_: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help_, tuple(labels)
        self._lock = threading.Lock()

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        raise NotImplementedError


class Counter(Metric):
    kind = "counter"

    def __init__(self, name: str, help_: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_, labels)
        self._values: dict[Labels, float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        with self._lock:
            return self._values.get(labels, 0.0)

    def total(self) -> float:
        with self._lock:
            return sum(self._values.values())

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]


class Gauge(Metric):
    kind = "gauge"

    def __init__(
        self,
        name: str,
        help_: str,
        labels: Sequence[str] = (),
        *,
        read: Callable[[], Mapping[Labels, float]] | None = None,
    ) -> None:
        super().__init__(name, help_, labels)
        self._values: dict[Labels, float] = {}
        self._read = read

    def set(self, value: float, *labels: str) -> None:
        with self._lock:
            self._values[labels] = value

    def value(self, *labels: str) -> float:
        if self._read is not None:
            return self._read().get(labels, 0.0)
        with self._lock:
            return self._values.get(labels, 0.0)

    def samples(self) -> list[str]:
        if self._read is not None:
            items = sorted(self._read().items())
        else:
            with self._lock:
                items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]


class CallbackCounter(Gauge):
    """A counter whose values are read from elsewhere at scrape time."""

    kind = "counter"


class Histogram(Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_: str,
        labels: Sequence[str] = (),
        buckets: Iterable[float] = DURATION_BUCKETS,
    ) -> None:
        super().__init__(name, help_, labels)
        self.buckets = (*tuple(sorted(buckets)), math.inf)
        self._counts: dict[Labels, list[int]] = {}
        self._sums: dict[Labels, float] = {}

    def observe(self, value: float, *labels: str) -> None:
        with self._lock:
            counts = self._counts.setdefault(labels, [0] * len(self.buckets))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            self._sums[labels] = self._sums.get(labels, 0.0) + value

    def count(self, *labels: str) -> int:
        with self._lock:
            counts = self._counts.get(labels)
            return counts[-1] if counts else 0

    def samples(self) -> list[str]:
        out = []
        with self._lock:
            items = sorted(self._counts.items())
            sums = dict(self._sums)
        for labels, counts in items:
            for bound, n in zip(self.buckets, counts, strict=True):
                le = f'le="{_number(bound)}"'
                out.append(f"{self.name}_bucket{_labels(self.label_names, labels, le)} {n}")
            out.append(f"{self.name}_sum{_labels(self.label_names, labels)} {sums[labels]!r}")
            out.append(f"{self.name}_count{_labels(self.label_names, labels)} {counts[-1]}")
        return out


class Registry:
    def __init__(self) -> None:
        self._metrics: list[Metric] = []

    def register(self, metric: Metric) -> Metric:
        self._metrics.append(metric)
        return metric

    def render(self) -> str:
        lines: list[str] = []
        for metric in self._metrics:
            lines += metric.header()
            lines += metric.samples()
        return "\n".join(lines) + "\n"


class ControllerMetrics:
    """Every metric `lbctl run` exports, under the `lbctl_` prefix."""

    def __init__(
        self,
        *,
        counter: CallCounter,
        queue_depth: Callable[[], float],
        queue_waiting: Callable[[], float],
        leading: Callable[[], bool],
    ) -> None:
        self.registry = Registry()
        r = self.registry
        self.reconciles = Counter(
            "lbctl_reconcile_total",
            "Service reconciles by result (success, error, requeue) and operation.",
            ("result", "operation"),
        )
        self.reconcile_seconds = Histogram(
            "lbctl_reconcile_duration_seconds", "Duration of Service reconciles.", ("result",)
        )
        self.batch_size = Histogram(
            "lbctl_reconcile_batch_size",
            "Services a worker reconciled together (their plans share one cloud observe).",
            (),
            buckets=BATCH_BUCKETS,
        )
        self.reconcile_errors = Counter(
            "lbctl_reconcile_errors_total",
            "Failed Service reconciles by cause (invalid_input, cloud, kubernetes, "
            "retry_after, other).",
            ("cause",),
        )
        self.node_syncs = Counter(
            "lbctl_nodesync_total", "Node syncs by result (success, error, skipped).", ("result",)
        )
        self.node_sync_seconds = Histogram(
            "lbctl_nodesync_duration_seconds", "Duration of node syncs.", ()
        )
        self.resyncs = Counter(
            "lbctl_resync_total",
            "Periodic drift checks by result (in_sync, drift, error).",
            ("result",),
        )
        self.relists = Counter(
            "lbctl_informer_relists_total", "Relists after a watch expired (410 Gone).", ("kind",)
        )
        for metric in (
            self.reconciles,
            self.reconcile_seconds,
            self.batch_size,
            self.reconcile_errors,
            self.node_syncs,
            self.node_sync_seconds,
            self.resyncs,
            self.relists,
        ):
            r.register(metric)
        r.register(
            Gauge(
                "lbctl_workqueue_depth",
                "Service keys ready to be reconciled.",
                read=lambda: {(): float(queue_depth())},
            )
        )
        r.register(
            Gauge(
                "lbctl_workqueue_waiting",
                "Service keys waiting for a backoff or a provider-requested retry.",
                read=lambda: {(): float(queue_waiting())},
            )
        )
        r.register(
            CallbackCounter(
                "lbctl_cloud_calls_total",
                "Cloud API calls (every attempt) by provider and operation.",
                ("provider", "operation"),
                read=lambda: {k: float(v) for k, v in counter.snapshot().items()},
            )
        )
        r.register(
            CallbackCounter(
                "lbctl_cloud_call_retries_total",
                "Cloud API calls retried after throttling or a server error.",
                ("provider", "operation"),
                read=lambda: {k: float(v) for k, v in dict(counter.retries).items()},
            )
        )
        r.register(
            Gauge(
                "lbctl_leader",
                "1 while this replica holds the leader lease (or runs without election).",
                read=lambda: {(): 1.0 if leading() else 0.0},
            )
        )

    def render(self) -> str:
        return self.registry.render()
