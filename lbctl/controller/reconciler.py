"""A Service's reconcile: the upstream chain, on lbctl's plan/apply flow, for a batch of keys.

    sync_many(keys) ─┬─ gone from the cache, or re-created under a new UID
                     │     ─► delete what the last known copy owned     (one plan)
                     └─ found ─┬─ delete branch: no longer wants one    (one plan)
                               └─ ensure branch                         (one plan)

Why batches: every plan starts with the provider's describes, and one `observe` serves any
number of Services. A worker takes up to `--batch-size` ready keys, and the Services of
each branch are planned together; everything after the plan (Events, finalizer, apply,
status) is done Service by Service, as it would be for one, and a failure is only that
Service's (its own error, backoff or RetryAfter). `sync(key)` is a batch of one. The plans
of a batch share one observation, made before the first of them is applied, exactly as
`lbctl apply` over many Services does.

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
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from lbctl import flow, rules
from lbctl.controller import events as ev
from lbctl.controller import predicates as pred
from lbctl.controller.kubeapi import KubeError, ServiceWriter, ingress_of
from lbctl.errors import InvalidInput, LbctlError
from lbctl.model import NodeView, ServiceView
from lbctl.plan import ServicePlan
from lbctl.provider import Provider

log = logging.getLogger("lbctl.controller")

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


Result = Outcome | Exception  # what one key's reconcile gave
Planning = flow.Planned | Exception  # one Service's share of a batched plan, or its failure


def _planned(planning: Planning) -> flow.Planned:
    if isinstance(planning, Exception):
        raise planning
    return planning


def _raise(e: Exception) -> Outcome:
    raise e


def _uid(svc: Obj) -> Any:
    return pred.meta(svc).get("uid")


class _Batch:
    """The state one batch shares: once a write is fenced, the rest is not even tried."""

    def __init__(self) -> None:
        self.fenced = False

    def run(self, step: Callable[[], Outcome]) -> Result:
        """One key's step, its failure caught as its result."""
        if self.fenced:
            return Fenced("not the leader any more")
        try:
            return step()
        except Fenced as e:
            self.fenced = True
            return e
        except Exception as e:
            return e


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
        """Reconcile one Service (a batch of one); raises what the reconcile failed with."""
        ((_, result),) = self.sync_many([key])
        if isinstance(result, Exception):
            raise result
        return result

    def sync_many(self, keys: Sequence[str]) -> Iterator[tuple[str, Result]]:
        """Reconcile several Services, yielding each key's Outcome or exception as soon as
        that key is done, so the caller can release it at once.

        The planning is shared: the Services of one branch are planned in ONE
        `flow.plan_services` call, so the provider's describes serve all of them. Every
        other step (Events, finalizer, apply, status) stays per Service and in the order
        the module docstring gives; a failure is that Service's alone. Once a write is
        fenced (leadership lost), the keys not yet done are yielded as Fenced, untouched.
        """
        batch = _Batch()
        current: dict[str, Obj] = {}
        stale: dict[str, Obj] = {}  # last copies whose balancers must go first
        for key in dict.fromkeys(keys):
            svc = self.services(key)
            with self._lock:
                cached = self._known.get(key)
            if svc is None and cached is None:
                yield key, Outcome(Operation.NONE)
                continue
            if svc is not None:
                current[key] = svc
            if cached is not None and (svc is None or _uid(cached) != _uid(svc)):
                # Gone without our finalizer being removed by us (upstream's legacy path),
                # or deleted and re-created under the same name: either way the balancer
                # named after the old UID must go, before a new one is made.
                stale[key] = cached
        for key, result in self._delete_stale(batch, stale):
            if key not in current:
                if not isinstance(result, Exception):
                    self._forget(key)
                yield key, result
            elif isinstance(result, Exception):
                del current[key]
                yield key, result
        yield from self._create_or_update(batch, current)

    def _delete_stale(
        self, batch: _Batch, services: Mapping[str, Obj]
    ) -> Iterator[tuple[str, Result]]:
        views: dict[str, ServiceView] = {}
        for key, svc in services.items():
            try:
                views[key] = ServiceView.from_dict(svc)
            except Exception as e:  # this copy's alone: the others still go
                yield key, e
        planned = self._plan(batch, list(views.values()), [], deleting=True)
        for key in views:
            yield key, batch.run(partial(self._delete_leftovers, services[key], planned[key]))

    def _delete_leftovers(self, svc: Obj, planning: Planning) -> Outcome:
        planned = _planned(planning)
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
            raise SyncError(message, cause="cloud", retry_after=retry.get(plan.service))
        self.events.event(svc, ev.NORMAL, ev.DELETED, "Deleted load balancer")
        return Outcome(Operation.DELETE, summarize([plan]))

    def _create_or_update(
        self, batch: _Batch, services: Mapping[str, Obj]
    ) -> Iterator[tuple[str, Result]]:
        """Upstream's processServiceCreateOrUpdate + syncLoadBalancerIfNeeded, per branch."""
        ensure: dict[str, tuple[Obj, ServiceView]] = {}
        delete: dict[str, tuple[Obj, ServiceView]] = {}
        for key, svc in services.items():
            try:
                self.remember(svc)
                view = ServiceView.from_dict(svc)
                if self.wants(svc, view) and not pred.needs_cleanup(svc):
                    ensure[key] = (svc, view)
                elif pred.has_finalizer(svc):
                    delete[key] = (svc, view)
                else:  # lbctl writes its finalizer before any cloud write: nothing is ours
                    self._forget(key)
                    yield key, Outcome(Operation.NONE)
            except Exception as e:
                yield key, batch.run(partial(self._reported, svc, partial(_raise, e)))
        # Deletion needs no nodes: what to remove is found by ownership.
        planned = self._plan(batch, [view for _, view in delete.values()], [])
        for key, (svc, view) in delete.items():
            step = partial(self._delete_branch, svc, view, planned[key])
            yield key, batch.run(partial(self._reported, svc, step))
        if not ensure:
            return
        if not batch.fenced:
            for svc, _ in ensure.values():
                self.events.event(svc, ev.NORMAL, ev.ENSURING, "Ensuring load balancer")
        nodes = self.nodes()
        planned = self._plan(batch, [view for _, view in ensure.values()], nodes)
        for key, (svc, view) in ensure.items():
            step = partial(self._ensure_branch, svc, view, nodes, planned[key])
            yield key, batch.run(partial(self._reported, svc, step))

    def _reported(self, svc: Obj, step: Callable[[], Outcome]) -> Outcome:
        """A failed create-or-update gets a `SyncLoadBalancerFailed` Warning."""
        try:
            return step()
        except Fenced:
            raise
        except SyncError as e:
            self.events.event(svc, ev.WARNING, ev.SYNC_FAILED, f"Error syncing load balancer: {e}")
            raise
        except LbctlError as e:
            message = f"Error syncing load balancer: {e}"
            self.events.event(svc, ev.WARNING, ev.SYNC_FAILED, message)
            raise SyncError(str(e), cause="cloud") from e

    def _plan(
        self,
        batch: _Batch,
        views: Sequence[ServiceView],
        nodes: Sequence[NodeView],
        *,
        deleting: bool = False,
    ) -> dict[str, Planning]:
        """One `flow.plan_services` over `views`: each Service's own plan, sharing the one
        observe, or the exception planning raised.

        When the shared plan fails for several Services, each is planned again alone, so
        that one Service that makes observe fail cannot fail the others. (When the cloud
        itself is failing, that costs one observe more than planning one by one would.)
        """
        if batch.fenced:  # nothing more is done in this batch: no reads either
            return {view.key: Fenced("not the leader any more") for view in views}
        if not views:
            return {}
        try:
            planned = flow.plan_services(
                self.provider,
                views,
                nodes,
                deleting=deleting,
                load_balancer_class=self.load_balancer_class,
            )
        except Exception as e:
            if len(views) == 1:
                return {views[0].key: e}
            log.warning(
                "batched plan failed; planning one Service at a time",
                extra={"services": len(views), "error": str(e)[:300]},
            )
            out: dict[str, Planning] = {}
            for view in views:
                out.update(self._plan(batch, [view], nodes, deleting=deleting))
            return out
        return {p.service: flow.Planned([p], planned.observed) for p in planned.plans}

    # --- delete branch -----------------------------------------------------------------

    def _delete_branch(self, svc: Obj, view: ServiceView, planning: Planning) -> Outcome:
        key = view.key
        planned = _planned(planning)
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
        outcome = Outcome(Operation.DELETE, summarize([plan]))
        if updated is not None:
            outcome.status_patched = self._patch_status(updated, [])
        return outcome

    # --- ensure branch -----------------------------------------------------------------

    def _ensure_branch(
        self, svc: Obj, view: ServiceView, nodes: list[NodeView], planning: Planning
    ) -> Outcome:
        key = view.key
        if isinstance(planning, InvalidInput):  # provider configuration (e.g. no cluster id)
            raise SyncError(
                f"failed to ensure load balancer: {planning}", cause="invalid_input"
            ) from planning
        if isinstance(planning, LbctlError):
            raise SyncError(
                f"failed to ensure load balancer: {planning}", cause="cloud"
            ) from planning
        planned = _planned(planning)
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
        outcome = Outcome(Operation.ENSURE, summarize([plan]), ingress)
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
