"""The provider-neutral differ: desired vs observed Resources -> ordered Changes.

Comparison rules, stated once:
- Resources are matched by (kind, name).
- Only the props the desired Resource names are compared; the observed side may carry more
  (read-only fields such as a DNS name).
- A desired value of KNOWN_AFTER_APPLY never matches: it stands for something that does
  not exist yet (a group about to be created), so what exists now cannot be it.
- Lists and dicts are compared as a whole (providers normalise order before they return).
- A change to a prop the provider declares immutable for that kind is a replace.
- An observed resource that other Services still use (`shared_with`) is never deleted.

Ordering: creates, updates and replaces follow the provider's kind order; deletes come after
them, in reverse kind order, so dependents go before what they depend on.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lbctl.errors import FieldError
from lbctl.model import KNOWN_AFTER_APPLY, Ingress, Resource

FORMAT_VERSION = "1"


class Op(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"


@dataclass(frozen=True)
class Change:
    op: Op
    kind: str
    name: str
    reason: str
    desired: Resource | None = None
    observed: Resource | None = None
    changed: tuple[str, ...] = ()

    @property
    def before(self) -> Mapping[str, Any] | None:
        if self.observed is None:
            return None
        if self.desired is None:
            return self.observed.props
        # Show the observed side of the props the plan manages, not every read-only field.
        return {k: self.observed.props.get(k) for k in self.desired.props}

    @property
    def after(self) -> Mapping[str, Any] | None:
        return None if self.desired is None else self.desired.props

    def to_dict(self) -> dict[str, Any]:
        return {
            "op": self.op.value,
            "kind": self.kind,
            "name": self.name,
            "before": _jsonable(self.before),
            "after": _jsonable(self.after),
            "reason": self.reason,
        }


@dataclass
class ServicePlan:
    service: str
    provider: str
    load_balancer_name: str
    changes: list[Change] = field(default_factory=list)
    ingress: list[Ingress] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    retry_after: float | None = None  # the provider asked to come back after this long

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "provider": self.provider,
            "loadBalancerName": self.load_balancer_name,
            "changes": [c.to_dict() for c in self.changes],
            "ingress": [i.to_dict() for i in self.ingress],
            "errors": [e.to_dict() for e in self.errors],
            "warnings": list(self.warnings),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def matches(desired: Any, observed: Any) -> bool:
    """Desired equals observed; KNOWN_AFTER_APPLY matches nothing."""
    if desired == KNOWN_AFTER_APPLY:
        return False
    if isinstance(desired, Mapping) and isinstance(observed, Mapping):
        return desired.keys() == observed.keys() and all(
            matches(desired[k], observed[k]) for k in desired
        )
    if isinstance(desired, list | tuple) and isinstance(observed, list | tuple):
        return len(desired) == len(observed) and all(
            matches(d, o) for d, o in zip(desired, observed, strict=True)
        )
    return bool(desired == observed)


def changed_props(desired: Resource, observed: Resource) -> tuple[str, ...]:
    return tuple(
        key for key, value in desired.props.items() if not matches(value, observed.props.get(key))
    )


def diff(
    desired: Iterable[Resource],
    observed: Iterable[Resource],
    *,
    kind_order: Sequence[str],
    immutable: Mapping[str, Iterable[str]] | None = None,
    dependents: Mapping[str, Iterable[str]] | None = None,
    delete_reason: str = "no longer wanted",
) -> list[Change]:
    """`dependents[kind]` lists kinds that live inside a resource of `kind` (an ELB's health
    check): when that resource is replaced, its dependents are written again too."""
    immutable = immutable or {}
    dependents = dependents or {}
    want = {r.ref: r for r in desired}
    have = {r.ref: r for r in observed}
    forward: list[Change] = []
    for ref, res in want.items():
        old = have.get(ref)
        if old is None:
            forward.append(Change(Op.CREATE, res.kind, res.name, "missing", desired=res))
            continue
        changed = changed_props(res, old)
        if not changed:
            continue
        fixed = sorted(set(changed) & set(immutable.get(res.kind, ())))
        if fixed:
            reason = f"{', '.join(fixed)} cannot be changed in place"
            forward.append(Change(Op.REPLACE, res.kind, res.name, reason, res, old, changed))
        else:
            reason = f"{', '.join(changed)} changed"
            forward.append(Change(Op.UPDATE, res.kind, res.name, reason, res, old, changed))
    forward = _cascade(forward, want, dependents)
    backward = [
        Change(Op.DELETE, old.kind, old.name, delete_reason, observed=old)
        for ref, old in have.items()
        if ref not in want and not old.shared_with
    ]
    rank = {kind: i for i, kind in enumerate(kind_order)}

    def position(change: Change) -> tuple[int, str]:
        return (rank.get(change.kind, len(rank)), change.name)

    forward.sort(key=position)
    backward.sort(key=position, reverse=True)
    return forward + backward


def _cascade(
    forward: list[Change],
    want: Mapping[tuple[str, str], Resource],
    dependents: Mapping[str, Iterable[str]],
) -> list[Change]:
    replaced = {c.kind for c in forward if c.op is Op.REPLACE}
    inner = {kind for parent in replaced for kind in dependents.get(parent, ())}
    if not inner:
        return forward
    parents = ", ".join(sorted(replaced))
    kept = [c for c in forward if c.kind not in inner]
    recreated = [
        Change(Op.CREATE, res.kind, res.name, f"recreated with the replaced {parents}", res)
        for res in want.values()
        if res.kind in inner
    ]
    return kept + recreated
