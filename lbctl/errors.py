"""lbctl's error tree. Callers branch on these classes only.

LbctlError
├── InvalidInput        bad annotation or field; nothing is sent to the cloud
├── NotOwned            a resource with our name exists but is not ours; plan error
├── RetryAfter          come back after a fixed delay (e.g. a balancer still provisioning)
└── CloudError          a cloud call failed after retries (message truncated for logs)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE = 512


@dataclass(frozen=True)
class FieldError:
    """One reason an input is rejected: names the annotation or the field, and the value."""

    message: str
    annotation: str | None = None
    field: str | None = None
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.annotation is not None:
            out["annotation"] = self.annotation
        if self.field is not None:
            out["field"] = self.field
        out["value"] = self.value
        out["message"] = self.message
        return out

    def __str__(self) -> str:
        if self.annotation:
            return f"annotation {self.annotation}={self.value!r}: {self.message}"
        if self.field and self.value is not None:
            return f"{self.field}={self.value!r}: {self.message}"
        if self.field:
            return f"{self.field}: {self.message}"
        return self.message


class LbctlError(Exception):
    """Base of every error lbctl raises on purpose."""


class InvalidInput(LbctlError):
    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


class NotOwned(LbctlError):
    """A resource named as ours exists but carries no ownership mark of this cluster."""

    def __init__(self, kind: str, name: str, why: str) -> None:
        self.kind, self.name = kind, name
        super().__init__(f"{kind} {name!r} exists but is not owned by this cluster: {why}")

    def to_field_error(self) -> FieldError:
        return FieldError(message=str(self), field=f"{self.kind}/{self.name}", value=self.name)


class RetryAfter(LbctlError):
    def __init__(self, message: str, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(message)


class CloudError(LbctlError):
    def __init__(self, operation: str, message: str, code: str = "") -> None:
        self.operation, self.code = operation, code
        text = message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE] + "…"
        super().__init__(f"{operation}: {text}")
