"""Node sync: keep every balancer's backends equal to the eligible nodes (upstream §1.3).

Why one batch: a node change concerns every balancer. All affected Services are planned in
ONE `flow.plan_services` call, so the provider observes them with one batched read per
resource kind instead of one round of describes per Service; the diff of a node change
holds only the registration changes (`aws:elb-instances`), so that is all that is written
— no full re-ensure.

Which Services: those this process has already ensured (upstream iterates its service
cache the same way) whose last synced node set — the (name, providerID) of the nodes
passing the stable-node-set predicates — differs from the current one. The new set is
recorded before the cloud call, as upstream does; a Service whose update fails gets a
`UpdateLoadBalancerFailed` Warning, its recorded set is dropped and its key goes to the
service queue, whose full reconcile will retry it with backoff.

Keys are claimed on the service queue for the duration of the pass, so a worker never
reconciles a Service while node sync writes to its balancer; a key a worker holds is left
to that worker (and queued again, in case it read the nodes before the change).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lbctl import flow, rules
from lbctl.controller import events as ev
from lbctl.controller import predicates as pred
from lbctl.controller.kubeapi import ingress_of
from lbctl.controller.queue import WorkQueue
from lbctl.controller.reconciler import Reconciler, apply, plan_error, summarize
from lbctl.model import NodeView, ServiceView
from lbctl.provider import Provider

log = logging.getLogger("lbctl.controller.nodesync")

Obj = dict[str, Any]
MAX_NAMES = 20


@dataclass
class NodeSyncResult:
    planned: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    changes: dict[str, int] = field(default_factory=dict)


def hosts_message(nodes: list[NodeView], error: str) -> str:
    """Upstream's UpdateLoadBalancerFailed text (node names capped at 20)."""
    names = [n.name for n in nodes][:MAX_NAMES]
    return (
        f"Error updating load balancer with new hosts {names} [node names limited, total "
        f"number of nodes: {len(nodes)}], error: {error}"
    )


class NodeSyncer:
    def __init__(
        self,
        *,
        provider: Provider,
        reconciler: Reconciler,
        services: Callable[[], list[Obj]],
        nodes: Callable[[], list[NodeView]],
        queue: WorkQueue,
        events: ev.EventSink,
        load_balancer_class: str | None = None,
        fence: Callable[[], None] = lambda: None,
    ) -> None:
        self.provider = provider
        self.reconciler = reconciler
        self.services = services
        self.nodes = nodes
        self.queue = queue
        self.events = events
        self.load_balancer_class = load_balancer_class
        self.fence = fence

    def candidates(self) -> list[Obj]:
        out = []
        for svc in self.services():
            if not pred.has_finalizer(svc) or pred.is_deleting(svc):
                continue
            view = ServiceView.from_dict(svc)
            if self.reconciler.wants(svc, view):
                out.append(svc)
        return out

    def sync(self) -> NodeSyncResult:
        result = NodeSyncResult()
        nodes = self.nodes()
        current = pred.node_set(nodes)
        eligible = rules.eligible_nodes(nodes)
        stale = []
        for svc in self.candidates():
            key = pred.object_key(svc)
            last = self.reconciler.last_nodes(key)
            if last is not None and last != current:
                stale.append(svc)
        if not stale:
            return result
        claimed = []
        for svc in stale:
            key = pred.object_key(svc)
            if self.queue.claim(key):
                claimed.append(svc)
            else:
                result.busy.append(key)
                self.queue.add(key)
        try:
            self._sync(claimed, nodes, eligible, current, result)
        finally:
            for svc in claimed:
                self.queue.done(pred.object_key(svc))
        return result

    def _sync(
        self,
        services: list[Obj],
        nodes: list[NodeView],
        eligible: list[NodeView],
        current: frozenset[tuple[str, str]],
        result: NodeSyncResult,
    ) -> None:
        if not services:
            return
        by_key = {pred.object_key(s): s for s in services}
        for key in by_key:
            self.reconciler.set_last_nodes(key, current)
        views = [ServiceView.from_dict(s) for s in services]
        result.planned = [v.key for v in views]
        try:
            planned = flow.plan_services(
                self.provider,
                views,
                nodes,
                load_balancer_class=self.load_balancer_class,
                # only registrations change: read only what they need (no per-Service
                # attributes, policies, security groups or subnets)
                kinds=getattr(self.provider, "registration_kinds", None),
            )
        except Exception as e:
            for key, svc in by_key.items():
                self._failed(key, svc, eligible, str(e), result)
            return
        if planned.has_changes:
            self.fence()
            apply(self.provider, planned)  # a failed apply is recorded in its plan's errors
        result.changes = dict(summarize(planned.plans))
        for plan in planned.plans:
            svc = by_key[plan.service]
            if plan.errors:
                self._failed(plan.service, svc, eligible, plan_error(plan), result)
                continue
            if not eligible:
                self.events.event(
                    svc, ev.WARNING, ev.UNAVAILABLE, "There are no available nodes for LoadBalancer"
                )
            elif plan.changes:
                self.events.event(
                    svc, ev.NORMAL, ev.UPDATED, "Updated load balancer with new hosts"
                )
            if plan.changes:
                result.updated.append(plan.service)
            if ingress_of(svc) != [i.to_dict() for i in plan.ingress]:
                self.queue.add(plan.service)  # the balancer was recreated: status is stale

    def _failed(
        self, key: str, svc: Obj, eligible: list[NodeView], error: str, result: NodeSyncResult
    ) -> None:
        result.failed.append(key)
        self.reconciler.set_last_nodes(key, None)
        self.events.event(svc, ev.WARNING, ev.UPDATE_FAILED, hosts_message(eligible, error))
        self.queue.add(key)
        log.warning("node sync failed", extra={"service": key, "error": error})
