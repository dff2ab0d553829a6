"""Drift repair: every --resync-period, re-plan every Service against the cloud.

Upstream has no such pass: a balancer edited or deleted behind its back stays broken until
the Service or the nodes change. lbctl plans all its Services in ONE `flow.plan_services`
call (one batched observe), and queues for a full reconcile only those whose plan has
changes or errors, or whose status no longer matches the balancer. The repair itself
therefore goes through the ordinary reconcile (Events, finalizer, status), and a fleet in
sync costs reads only: zero write calls.

The pass also does what an informer resync does upstream: Services that need cleanup, and
Services that want a balancer but were never ensured, are queued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lbctl import flow
from lbctl.controller import predicates as pred
from lbctl.controller.kubeapi import ingress_of
from lbctl.controller.queue import WorkQueue
from lbctl.controller.reconciler import Reconciler
from lbctl.model import NodeView, ServiceView
from lbctl.provider import Provider

log = logging.getLogger("lbctl.controller.resync")

Obj = dict[str, Any]


@dataclass
class ResyncResult:
    checked: int = 0
    drifted: list[str] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)


class Resyncer:
    def __init__(
        self,
        *,
        provider: Provider,
        reconciler: Reconciler,
        services: Callable[[], list[Obj]],
        nodes: Callable[[], list[NodeView]],
        queue: WorkQueue,
        load_balancer_class: str | None = None,
    ) -> None:
        self.provider = provider
        self.reconciler = reconciler
        self.services = services
        self.nodes = nodes
        self.queue = queue
        self.load_balancer_class = load_balancer_class

    def check(self) -> ResyncResult:
        result = ResyncResult()
        ensured: list[Obj] = []
        for svc in self.services():
            key = pred.object_key(svc)
            view = ServiceView.from_dict(svc)
            if pred.needs_cleanup(svc):
                result.queued.append(key)
            elif self.reconciler.wants(svc, view):
                if pred.has_finalizer(svc):
                    ensured.append(svc)
                else:
                    result.queued.append(key)
            elif pred.has_finalizer(svc):  # e.g. another class now: ours to clean up
                result.queued.append(key)
        result.checked = len(ensured)
        if ensured:
            by_key = {pred.object_key(s): s for s in ensured}
            planned = flow.plan_services(
                self.provider,
                [ServiceView.from_dict(s) for s in ensured],
                self.nodes(),
                load_balancer_class=self.load_balancer_class,
            )
            for plan in planned.plans:
                svc = by_key[plan.service]
                stale_status = ingress_of(svc) != [i.to_dict() for i in plan.ingress]
                if plan.changes or plan.errors or stale_status:
                    result.drifted.append(plan.service)
                    result.queued.append(plan.service)
                    log.info(
                        "drift found",
                        extra={
                            "service": plan.service,
                            "changes": sorted(f"{c.op.value} {c.kind}" for c in plan.changes),
                            "errors": [str(e) for e in plan.errors],
                        },
                    )
        for key in result.queued:
            self.queue.add(key)
        return result
