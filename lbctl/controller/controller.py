"""The Controller: informers, queue, workers, node sync, drift repair, leader election,
endpoints — started and stopped as one object.

Lifecycle, and why:
- Informers start at once on every replica, leader or not: a standby keeps a warm cache
  (and reports ready once it has listed everything), so a takeover costs no relist. Their
  handlers feed the queue on every replica; only the leader takes keys from it.
- Work (service workers, the node-sync worker, the drift-repair timer) starts when this
  replica leads (at once without --leader-elect) and the caches have synced.
- Losing the lease stops all work at once: workers take no new key, and every write an
  in-flight reconcile attempts after that point raises (the reconciler's fence), then
  `run()` returns 1 so the process exits and restarts as a candidate, as client-go
  controllers do.
- stop() (SIGTERM/SIGINT): take no new work, let in-flight reconciles finish, release the
  lease, stop watching, return 0.

Test seams: `api_client`, `provider`, `writer`, `events`, `identity` and `clock` can be
injected; `start()` runs the controller in a thread, `stop()` / `kill()` end it (kill skips
the lease release, like a crashed process).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client

from lbctl.controller import predicates as pred
from lbctl.controller.endpoints import PROMETHEUS_TEXT, Endpoint, parse_bind_address
from lbctl.controller.events import EventSink, KubeEvents
from lbctl.controller.informer import Informer
from lbctl.controller.kubeapi import KubeServices, ServiceWriter, load_api_client
from lbctl.controller.leader import LeaderElector, default_identity
from lbctl.controller.metrics import ControllerMetrics
from lbctl.controller.nodesync import NodeSyncer
from lbctl.controller.options import Options
from lbctl.controller.queue import WorkQueue
from lbctl.controller.reconciler import Reconciler
from lbctl.controller.resync import Resyncer
from lbctl.controller.workers import Workers
from lbctl.model import NodeView
from lbctl.provider import Provider, ProviderConfig, load_provider

log = logging.getLogger("lbctl.controller")

Obj = dict[str, Any]
POLL = 0.2


class Controller:
    def __init__(
        self,
        options: Options,
        *,
        api_client: Any = None,
        provider: Provider | None = None,
        writer: ServiceWriter | None = None,
        events: EventSink | None = None,
        identity: str | None = None,
        clock: Callable[[], float] = time.monotonic,  # test seam (queue delays)
    ) -> None:
        self.options = options
        self.api_client = api_client or load_api_client(
            kubeconfig=options.kubeconfig, context=options.context
        )
        self.identity = identity or default_identity()
        self.provider = provider or load_provider(
            options.provider,
            ProviderConfig(cluster_id=options.cluster_id, cloud_config=options.cloud_config),
        )
        cls = options.load_balancer_class
        self.queue = WorkQueue(clock=clock)
        core = client.CoreV1Api(self.api_client)
        self.services = Informer(
            kind="Service",
            list_fn=core.list_service_for_all_namespaces,
            on_add=self._service_added,
            on_update=self._service_updated,
            on_delete=self._service_deleted,
            watch_timeout=options.watch_timeout,
            on_relist=self._relisted,
        )
        self.nodes = Informer(
            kind="Node",
            list_fn=core.list_node,
            on_add=lambda node: self.trigger_node_sync(),
            on_update=self._node_updated,
            on_delete=lambda node: self.trigger_node_sync(),
            watch_timeout=options.watch_timeout,
            on_relist=self._relisted,
        )
        self.writer: ServiceWriter = writer or KubeServices(self.api_client)
        self.events: EventSink = events or KubeEvents(self.api_client, instance=self.identity)
        self.elector: LeaderElector | None = None
        if options.leader_elect:
            self.elector = LeaderElector(
                self.api_client,
                namespace=options.lease_namespace,
                name=options.lease_name,
                identity=self.identity,
                lease_duration=options.lease_duration,
                renew_deadline=options.renew_deadline,
                retry_period=options.retry_period,
            )
        self.reconciler = Reconciler(
            provider=self.provider,
            services=self.services.store.get,
            nodes=self.node_views,
            writer=self.writer,
            events=self.events,
            load_balancer_class=cls,
            fence=self.fence,
        )
        self.node_syncer = NodeSyncer(
            provider=self.provider,
            reconciler=self.reconciler,
            services=self.services.store.items,
            nodes=self.node_views,
            queue=self.queue,
            events=self.events,
            load_balancer_class=cls,
            fence=self.fence,
        )
        self.resyncer = Resyncer(
            provider=self.provider,
            reconciler=self.reconciler,
            services=self.services.store.items,
            nodes=self.node_views,
            queue=self.queue,
            load_balancer_class=cls,
        )
        self.metrics = ControllerMetrics(
            counter=self.provider.counter,
            queue_depth=lambda: len(self.queue),
            queue_waiting=self.queue.waiting,
            leading=self.is_leader,
        )
        self.work = Workers(
            queue=self.queue,
            reconciler=self.reconciler,
            node_syncer=self.node_syncer,
            resyncer=self.resyncer,
            metrics=self.metrics,
            resync_period=options.resync_period,
            batch_size=options.batch_size,
        )
        self._stop = threading.Event()  # everything
        self._leading = threading.Event()
        self._release = True
        self._lost = False
        self._informer_threads: list[threading.Thread] = []
        self._work_threads: list[threading.Thread] = []
        self._endpoints: list[Endpoint] = []
        self._thread: threading.Thread | None = None
        self.exit_code: int | None = None
        self.metrics_url: str | None = None
        self.health_url: str | None = None

    # --- handlers ------------------------------------------------------------------------

    def _service_added(self, svc: Obj) -> None:
        if pred.enqueue_on_add(svc, self.options.load_balancer_class):
            self.queue.add(pred.object_key(svc))

    def _service_updated(self, old: Obj, new: Obj) -> None:
        if pred.enqueue_on_update(old, new, self.options.load_balancer_class):
            self.queue.add(pred.object_key(new))

    def _service_deleted(self, svc: Obj) -> None:
        # Upstream has no delete handler: the finalizer turns a delete into an update.
        # A Service this controller knows that vanished anyway (its finalizer was removed
        # by hand) still gets its balancer deleted, from the last copy seen.
        key = pred.object_key(svc)
        if self.reconciler.knows(key):
            self.queue.add(key)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if pred.should_sync_updated_node(old, new):
            self.trigger_node_sync()

    def _relisted(self, kind: str) -> None:
        self.metrics.relists.inc(kind)

    def trigger_node_sync(self) -> None:
        self.work.node_sync_needed.set()

    def node_views(self) -> list[NodeView]:
        return [NodeView.from_dict(n) for n in self.nodes.store.items()]

    # --- leadership ----------------------------------------------------------------------

    def is_leader(self) -> bool:
        if self.elector is None:
            return self._leading.is_set()
        return self.elector.is_leader()

    def fence(self) -> None:
        if self.elector is not None:
            self.elector.fence()

    def _started_leading(self) -> None:
        self._leading.set()

    def _stopped_leading(self) -> None:
        self._lost = True
        self._leading.clear()
        self.work.stop.set()
        self.queue.shut_down()
        self._stop.set()

    # --- readiness -------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.services.synced.is_set() and self.nodes.synced.is_set()

    def wait_ready(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready:
                return True
            time.sleep(0.02)
        return False

    def wait_leading(self, timeout: float = 10.0) -> bool:
        return self._leading.wait(timeout)

    # --- running -------------------------------------------------------------------------

    def run(self) -> int:
        """Run until stop() (returns 0) or lost leadership (returns 1)."""
        try:
            self._start_endpoints()
            self._start_informers()
            if self.elector is not None:
                self._spawn(
                    self._informer_threads,
                    "leader-election",
                    lambda: self.elector.run(  # type: ignore[union-attr]
                        self._stop,
                        on_started_leading=self._started_leading,
                        on_stopped_leading=self._stopped_leading,
                        release=lambda: self._release,
                    ),
                )
            else:
                self._leading.set()
            while not self._stop.is_set():
                if self._leading.is_set() and self.ready:
                    self._start_work()
                    break
                self._stop.wait(POLL)
            self._stop.wait()
        finally:
            self._shutdown()
        self.exit_code = 1 if self._lost else 0
        return self.exit_code

    def _spawn(self, group: list[threading.Thread], name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        group.append(thread)
        thread.start()

    def _start_informers(self) -> None:
        self._spawn(
            self._informer_threads, "informer-services", lambda: self.services.run(self._stop)
        )
        self._spawn(self._informer_threads, "informer-nodes", lambda: self.nodes.run(self._stop))

    def _start_work(self) -> None:
        log.info(
            "starting workers",
            extra={
                "workers": self.options.workers,
                "batchSize": self.options.batch_size,
                "identity": self.identity,
            },
        )
        for i in range(self.options.workers):
            self._spawn(self._work_threads, f"worker-{i}", self.work.worker)
        self._spawn(self._work_threads, "node-sync", self.work.node_sync_loop)
        self._spawn(self._work_threads, "resync", self.work.resync_loop)
        self.trigger_node_sync()

    def _start_endpoints(self) -> None:
        metrics = parse_bind_address(self.options.metrics_bind_address)
        if metrics is not None:
            endpoint = Endpoint(
                *metrics, {"/metrics": lambda: (200, PROMETHEUS_TEXT, self.metrics.render())}
            ).start()
            self._endpoints.append(endpoint)
            self.metrics_url = endpoint.url
        health = parse_bind_address(self.options.health_probe_bind_address)
        if health is not None:
            endpoint = Endpoint(
                *health,
                {
                    "/healthz": lambda: (200, "text/plain; charset=utf-8", "ok\n"),
                    "/readyz": self._readyz,
                },
            ).start()
            self._endpoints.append(endpoint)
            self.health_url = endpoint.url

    def _readyz(self) -> tuple[int, str, str]:
        if self.ready:
            return 200, "text/plain; charset=utf-8", "ok\n"
        return 503, "text/plain; charset=utf-8", "caches not synced\n"

    # --- stopping ------------------------------------------------------------------------

    def start(self) -> Controller:
        """Run in a background thread (tests, the demo)."""
        self._thread = threading.Thread(target=self.run, name="lbctl-controller", daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Ask run() to shut down (safe from a signal handler); returns at once."""
        self._stop.set()

    def stop(self, *, release: bool = True, timeout: float = 30.0) -> None:
        """Stop taking work, finish in-flight reconciles, release the lease, stop."""
        self._release = release
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def kill(self, timeout: float = 30.0) -> None:
        """Stop without releasing the lease, as a crashed replica would leave it."""
        self.stop(release=False, timeout=timeout)

    def _shutdown(self) -> None:
        self._stop.set()
        self.work.stop.set()
        self.queue.shut_down()
        for thread in self._work_threads:
            thread.join()  # in-flight reconciles finish
        for informer in (self.services, self.nodes):
            informer.stop_watch()
        for thread in self._informer_threads:  # includes leader election (releases)
            thread.join(timeout=10)
        for endpoint in self._endpoints:
            endpoint.stop()
        log.info("stopped", extra={"identity": self.identity, "leaseLost": self._lost})
