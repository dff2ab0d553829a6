"""The one flow every entry point shares: validate -> observe -> desired -> diff -> apply.

`lbctl plan`, `lbctl apply`, `lbctl delete` and the controller all call `plan_services`
and then (except `plan`) `apply_plans`. Invalid input is caught before `observe`, so a
Service with a bad annotation causes no cloud call at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lbctl import plan as planning
from lbctl import rules
from lbctl.errors import FieldError, InvalidInput, LbctlError, RetryAfter
from lbctl.model import NodeView, ServiceView
from lbctl.plan import ServicePlan
from lbctl.provider import Observed, Provider


@dataclass
class Planned:
    plans: list[ServicePlan]
    observed: Observed

    @property
    def has_errors(self) -> bool:
        return any(p.errors for p in self.plans)

    @property
    def has_changes(self) -> bool:
        return any(p.changes for p in self.plans)


# What every cloud's naming rules accept once the dashes are dropped (GCE: lowercase only).
UID_FORM = re.compile(r"[0-9a-z]+(-[0-9a-z]+)*")


def check_identity(view: ServiceView) -> None:
    """What naming and ownership need: lbctl names balancers after the Service's UID."""
    errors = []
    if not view.name:
        errors.append(FieldError("a Service needs a name", field="metadata.name", value=""))
    if not view.uid:
        errors.append(
            FieldError(
                "the load balancer is named after the UID the API server assigned; "
                "give the Service as the cluster has it (kubectl get service NAME -o yaml)",
                field="metadata.uid",
                value="",
            )
        )
    elif not UID_FORM.fullmatch(view.uid):
        errors.append(
            FieldError(
                "the load balancer is named after the UID, and cloud names take only "
                "lowercase letters, digits and '-'; the API server assigns such UIDs "
                "(a UUID): give the Service as the cluster has it",
                field="metadata.uid",
                value=view.uid,
            )
        )
    if errors:
        raise InvalidInput(errors)


def wants_balancer(
    provider: Provider, view: ServiceView, *, deleting: bool, load_balancer_class: str | None
) -> bool:
    return (
        not deleting
        and not view.deleting
        and rules.wants_load_balancer(view, load_balancer_class)
        and provider.handles(view)
    )


def plan_services(
    provider: Provider,
    views: Sequence[ServiceView],
    nodes: Sequence[NodeView],
    *,
    deleting: bool = False,
    load_balancer_class: str | None = None,
    kinds: frozenset[str] | None = None,
) -> Planned:
    """`kinds` scopes the plan to those kinds (node sync: the provider's registration
    kinds), so that observe reads only what they need."""
    eligible = rules.eligible_nodes(nodes)
    plans: list[ServicePlan] = []
    wanted: dict[str, bool] = {}
    seen: set[str] = set()
    for view in views:
        plan = ServicePlan(view.key, provider.name, "")
        plans.append(plan)
        if view.key in seen:
            # Plans are keyed by Service: a second document of one Service is an error.
            plan.errors = [
                FieldError(
                    "the same Service is given twice; give it once",
                    field="metadata.name",
                    value=view.key,
                )
            ]
            continue
        seen.add(view.key)
        if view.input_errors:
            plan.errors = list(view.input_errors)
            continue
        try:
            check_identity(view)
            plan.load_balancer_name = provider.load_balancer_name(view)
            wanted[view.key] = wants_balancer(
                provider, view, deleting=deleting, load_balancer_class=load_balancer_class
            )
            if wanted[view.key]:
                plan.warnings = provider.validate(view)
        except InvalidInput as e:
            plan.errors = e.errors
    valid = [v for v, p in zip(views, plans, strict=True) if not p.errors]
    try:
        scope = {"kinds": kinds} if kinds is not None else {}
        observed = (
            provider.observe(valid, eligible, wanted=wanted, **scope) if valid else Observed()
        )
    except InvalidInput as e:  # e.g. the cloud config names a project that is not there
        for plan in plans:
            plan.errors = plan.errors or list(e.errors)
        return Planned(plans, Observed())
    for view, plan in zip(views, plans, strict=True):
        if not plan.errors:
            _fill(plan, provider, view, eligible, observed, wanted[view.key], deleting)
    return Planned(plans, observed)


def _fill(
    plan: ServicePlan,
    provider: Provider,
    view: ServiceView,
    nodes: Sequence[NodeView],
    observed: Observed,
    wanted: bool,
    deleting: bool,
) -> None:
    # A clash only matters when lbctl would create or change something: a Service that no
    # longer wants a balancer still deletes what it owns (or its finalizer never goes).
    clashes = observed.clashes.get(view.key, [])
    if clashes and wanted:
        plan.errors = [c.to_field_error() for c in clashes]
        return
    plan.warnings += [f"{c}; left alone" for c in clashes]
    try:
        desired = provider.desired(view, nodes, observed) if wanted else []
    except InvalidInput as e:
        plan.errors = e.errors
        return
    if wanted:
        reason = "no longer wanted"
    elif deleting:
        reason = "lbctl delete"
    else:
        reason = "the Service no longer wants a load balancer"
    owned = observed.owned(view.key)
    if observed.kinds is not None:
        desired = [r for r in desired if r.kind in observed.kinds]
        owned = [r for r in owned if r.kind in observed.kinds]
    plan.changes = planning.diff(
        desired,
        owned,
        kind_order=provider.kind_order,
        immutable=provider.immutable,
        dependents=provider.dependents,
        delete_reason=reason,
    )
    plan.ingress = list(observed.ingress.get(view.key, [])) if wanted else []


def apply_plans(provider: Provider, planned: Planned) -> list[str]:
    """Carry out every plan without errors; returns the failures (the plan keeps them too)."""
    failures: list[str] = []
    for plan in planned.plans:
        if plan.errors:
            continue
        try:
            plan.ingress = provider.apply(plan, planned.observed)
        except LbctlError as e:
            if isinstance(e, RetryAfter):
                plan.retry_after = e.seconds
            plan.errors.append(FieldError(f"apply failed: {e}"))
            failures.append(f"{plan.service}: {e}")
    return failures
