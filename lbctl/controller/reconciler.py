"""One Service's reconcile: the upstream chain, on lbctl's plan/apply flow.

    sync(key) ─┬─ gone from the cache ─► process_deletion          (no finalizer was left)
               └─ found ─► process_create_or_update ─► sync_load_balancer_if_needed
                                                          ├─ delete branch
                                                          └─ ensure branch

Ordering rules, and why:
- Ensure: `EnsuringLoadBalancer`, then plan (reads only; invalid input stops here with a
  Warning `SyncLoadBalancerFailed` naming the annotation, value and reason, and nothing
  is written anywhere), then the finalizer is added — before the first cloud write, so a
  balancer can never exist for a Service that could vanish without lbctl noticing — then
  apply, `EnsuredLoadBalancer`, and the status patch (only when the ingress changed).
- Delete: plan the deletion from what the cloud says this Service owns (never from its
  current annotations), apply it, and only when that succeeded remove the finalizer. A
  Service without lbctl's finalizer has nothing in the cloud (see above), so it is left
  alone without a single cloud call — that is also what keeps Services of another
  loadBalancerClass untouched.
- Every step that can fail raises SyncError; the caller emits `SyncLoadBalancerFailed`
  and requeues (with the provider's RetryAfter when it gave one).
- `fence()` is called before every write (cloud or Kubernetes): when leadership is lost it
  raises, so a deposed replica stops between two writes instead of racing the new leader.
"""

from __future__ import annotations

import enum
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lbctl import flow, rules
from lbctl.controller import events as ev
from lbctl.controller import predicates as pred
from lbctl.controller.kubeapi import KubeError, ServiceWriter, ingress_of
from lbctl.errors import InvalidInput, LbctlError
from lbctl.model import NodeView, ServiceView
from lbctl.plan import ServicePlan
from lbctl.provider import Provider

Obj = dict[str, Any]


class Operation(enum.StrEnum):
    NONE = "none"  # not ours, or nothing to do
    ENSURE = "ensure"
    DELETE = "delete"


@dataclass
class Outcome:
    operation: Operation
    changes: Counter[str] = field(default_factory=Counter)  # "create aws:elb" -> count
    ingress: list[dict[str, Any]] = field(default_factory=list)
    status_patched: bool = False


class Fenced(Exception):
    """Raised by `fence()` when this replica may no longer write (leadership lost)."""


class SyncError(Exception):
    """A reconcile failed. `cause` classifies it for metrics; `retry_after` is exact."""

    def __init__(
        self, message: str, *, cause: str = "other", retry_after: float | None = None
    ) -> None:
        self.cause = cause
        self.retry_after = retry_after
        super().__init__(message)


def summarize(plans: Sequence[ServicePlan]) -> Counter[str]:
    return Counter(f"{c.op.value} {c.kind}" for p in plans for c in p.changes)


def apply(provider: Provider, planned: flow.Planned) -> tuple[list[str], dict[str, float]]:
    """flow.apply_plans, returning (failures, RetryAfter seconds by Service key)."""
    failures = flow.apply_plans(provider, planned)
    delays = {p.service: p.retry_after for p in planned.plans if p.retry_after is not None}
    return failures, delays


def plan_error(plan: ServicePlan) -> str:
    return "; ".join(str(e) for e in plan.errors)


class Reconciler:
    def __init__(
        self,
        *,
        provider: Provider,
        services: Callable[[str], Obj | None],
        nodes: Callable[[], list[NodeView]],
        writer: ServiceWriter,
        events: ev.EventSink,
        load_balancer_class: str | None = None,
        fence: Callable[[], None] = lambda: None,
    ) -> None:
        self.provider = provider
        self.services = services
        self.nodes = nodes
        self.writer = writer
        self.events = events
        self.load_balancer_class = load_balancer_class
        self.fence = fence
        self._lock = threading.Lock()
        # Upstream's serviceCache: the last copy of each Service this controller acted on,
        # for a Service that vanished without our finalizer (its UID names its balancer).
        self._known: dict[str, Obj] = {}
        # lastSyncedNodes: the eligible (name, providerID) set each balancer was given.
        self._last_nodes: dict[str, frozenset[tuple[str, str]]] = {}

    # --- bookkeeping shared with node sync ---------------------------------------------

    def remember(self, svc: Obj) -> None:
        """Keep the last copy of a Service (also called by the informer's delete handler)."""
        if pred.has_finalizer(svc) or pred.wants_load_balancer(svc, self.load_balancer_class):
            with self._lock:
                self._known[pred.object_key(svc)] = svc

    def knows(self, key: str) -> bool:
        with self._lock:
            return key in self._known

    def last_nodes(self, key: str) -> frozenset[tuple[str, str]] | None:
        with self._lock:
            return self._last_nodes.get(key)

    def set_last_nodes(self, key: str, nodes: frozenset[tuple[str, str]] | None) -> None:
        with self._lock:
            if nodes is None:
                self._last_nodes.pop(key, None)
            else:
                self._last_nodes[key] = nodes

    def _forget(self, key: str) -> None:
        with self._lock:
            self._known.pop(key, None)
            self._last_nodes.pop(key, None)

    def wants(self, svc: Obj, view: ServiceView) -> bool:
        return flow.wants_balancer(
            self.provider, view, deleting=False, load_balancer_class=self.load_balancer_class
        )

    # --- the chain ---------------------------------------------------------------------

    def sync(self, key: str) -> Outcome:
        svc = self.services(key)
        with self._lock:
            cached = self._known.get(key)
        if svc is None:
            return self.process_deletion(key)
        if cached is not None and pred.meta(cached).get("uid") != pred.meta(svc).get("uid"):
            # Deleted and re-created under the same name: the old balancer is named after
            # the old UID and must go first.
            self._delete_leftovers(cached)
        self.remember(svc)
        return self.process_create_or_update(svc)

    def process_deletion(self, key: str) -> Outcome:
        """The Service is gone without our finalizer being removed by us (upstream's legacy
        path): delete what its last known copy owned."""
        with self._lock:
            cached = self._known.get(key)
        if cached is None:
            return Outcome(Operation.NONE)
        outcome = self._delete_leftovers(cached)
        self._forget(key)
        return outcome

    def _delete_leftovers(self, svc: Obj) -> Outcome:
        view = ServiceView.from_dict(svc)
        planned = flow.plan_services(
            self.provider, [view], [], deleting=True, load_balancer_class=self.load_balancer_class
        )
        plan = planned.plans[0]
        if plan.errors:
            raise SyncError(f"failed to delete load balancer: {plan_error(plan)}", cause="plan")
        if not plan.changes:
            return Outcome(Operation.NONE)
        self.events.event(svc, ev.NORMAL, ev.DELETING, "Deleting load balancer")
        self.fence()
        failures, retry = apply(self.provider, planned)
        if failures:
            message = f"Error deleting load balancer: {'; '.join(failures)}"
            self.events.event(svc, ev.WARNING, ev.DELETE_FAILED, message)
            raise SyncError(message, cause="cloud", retry_after=retry.get(view.key))
        self.events.event(svc, ev.NORMAL, ev.DELETED, "Deleted load balancer")
        return Outcome(Operation.DELETE, summarize(planned.plans))

    def process_create_or_update(self, svc: Obj) -> Outcome:
        try:
            return self.sync_load_balancer_if_needed(svc)
        except Fenced:
            raise
        except SyncError as e:
            self.events.event(svc, ev.WARNING, ev.SYNC_FAILED, f"Error syncing load balancer: {e}")
            raise
        except LbctlError as e:
            message = f"Error syncing load balancer: {e}"
            self.events.event(svc, ev.WARNING, ev.SYNC_FAILED, message)
            raise SyncError(str(e), cause="cloud") from e

    def sync_load_balancer_if_needed(self, svc: Obj) -> Outcome:
        view = ServiceView.from_dict(svc)
        if not self.wants(svc, view) or pred.needs_cleanup(svc):
            return self._delete_branch(svc, view)
        return self._ensure_branch(svc, view)

    # --- delete branch -----------------------------------------------------------------

    def _delete_branch(self, svc: Obj, view: ServiceView) -> Outcome:
        key = view.key
        if not pred.has_finalizer(svc):
            # lbctl writes its finalizer before any cloud write: nothing here is ours.
            self._forget(key)
            return Outcome(Operation.NONE)
        # Deletion needs no nodes: what to remove is found by ownership.
        planned = flow.plan_services(
            self.provider, [view], [], load_balancer_class=self.load_balancer_class
        )
        plan = planned.plans[0]
        if plan.errors:
            raise SyncError(f"failed to delete load balancer: {plan_error(plan)}", cause="plan")
        if plan.changes:
            self.events.event(svc, ev.NORMAL, ev.DELETING, "Deleting load balancer")
            self.fence()
            failures, retry = apply(self.provider, planned)
            if failures:
                raise SyncError(
                    f"failed to delete load balancer: {'; '.join(failures)}",
                    cause="cloud",
                    retry_after=retry.get(key),
                )
        self.fence()
        # Forgotten first: the Service may vanish the moment the finalizer goes, and its
        # DELETED event must not look like a Service that escaped without cleanup.
        self._forget(key)
        try:
            updated = self.writer.set_finalizer(svc, present=False)
        except KubeError as e:
            raise SyncError(
                f"failed to remove load balancer cleanup finalizer: {e}", cause="kubernetes"
            ) from e
        self.events.event(svc, ev.NORMAL, ev.DELETED, "Deleted load balancer")
        outcome = Outcome(Operation.DELETE, summarize(planned.plans))
        if updated is not None:
            outcome.status_patched = self._patch_status(updated, [])
        return outcome

    # --- ensure branch -----------------------------------------------------------------

    def _ensure_branch(self, svc: Obj, view: ServiceView) -> Outcome:
        key = view.key
        self.events.event(svc, ev.NORMAL, ev.ENSURING, "Ensuring load balancer")
        nodes = self.nodes()
        try:
            planned = flow.plan_services(
                self.provider, [view], nodes, load_balancer_class=self.load_balancer_class
            )
        except InvalidInput as e:  # provider configuration (e.g. no cluster id)
            raise SyncError(f"failed to ensure load balancer: {e}", cause="invalid_input") from e
        except LbctlError as e:
            raise SyncError(f"failed to ensure load balancer: {e}", cause="cloud") from e
        plan = planned.plans[0]
        if plan.errors:
            raise SyncError(
                f"failed to ensure load balancer: {plan_error(plan)}", cause="invalid_input"
            )
        for warning in plan.warnings:
            self.events.event(svc, ev.WARNING, ev.ENSURING, warning)
        eligible = rules.eligible_nodes(nodes)
        if not eligible:
            self.events.event(
                svc, ev.WARNING, ev.UNAVAILABLE, "There are no available nodes for LoadBalancer"
            )
        self.fence()
        try:
            current = self.writer.set_finalizer(svc, present=True)
        except KubeError as e:
            raise SyncError(
                f"failed to add load balancer cleanup finalizer: {e}", cause="kubernetes"
            ) from e
        svc = current or svc
        self.set_last_nodes(key, pred.node_set(nodes))
        if plan.changes:
            self.fence()
            failures, retry = apply(self.provider, planned)
            if failures:
                raise SyncError(
                    f"failed to ensure load balancer: {'; '.join(failures)}",
                    cause="retry_after" if key in retry else "cloud",
                    retry_after=retry.get(key),
                )
        self.events.event(svc, ev.NORMAL, ev.ENSURED, "Ensured load balancer")
        ingress = [i.to_dict() for i in plan.ingress]
        outcome = Outcome(Operation.ENSURE, summarize(planned.plans), ingress)
        outcome.status_patched = self._patch_status(svc, ingress)
        return outcome

    def _patch_status(self, svc: Obj, ingress: Sequence[Mapping[str, Any]]) -> bool:
        if ingress_of(svc) == [dict(i) for i in ingress]:
            return False
        self.fence()
        try:
            written = self.writer.patch_ingress(svc, ingress)
        except KubeError as e:
            raise SyncError(
                f"failed to update load balancer status: {e}", cause="kubernetes"
            ) from e
        return written is not None  # None: the Service is gone (finalizer removed)
