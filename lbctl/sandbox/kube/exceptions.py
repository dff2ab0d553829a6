"""Errors the fake API server answers with, as ``kind: Status`` bodies.

Every client (the ``kubernetes`` package, kubectl, client-go) branches on the
HTTP code *and* on ``Status.reason``, and shows ``Status.message`` to users, so
each error here carries the apiserver's own reason and message wording (see
k8s.io/apimachinery/pkg/api/errors).  Handlers raise these; the HTTP layer
turns them into the response.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "REASONS",
    "StatusError",
    "already_exists",
    "bad_request",
    "conflict",
    "expired",
    "forbidden",
    "invalid",
    "method_not_allowed",
    "not_found",
    "status_body",
    "unsupported_media_type",
]

JSON = dict[str, Any]

# HTTP code -> the Status.reason the apiserver uses for it.
REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def status_body(code: int, reason: str, message: str, details: JSON | None = None) -> JSON:
    """A failure ``Status`` object, exactly as the apiserver serialises it."""
    body: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details:
        body["details"] = details
    body["code"] = code
    return body


class StatusError(Exception):
    """An API error; ``body`` is the ``Status`` the server sends."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: JSON | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason or REASONS.get(code, "Unknown")
        self.message = message
        self.details = details
        self.headers = dict(headers or {})

    @property
    def body(self) -> JSON:
        return status_body(self.code, self.reason, self.message, self.details)


def _details(resource: str, group: str, name: str, **extra: Any) -> JSON:
    details: JSON = {"name": name} if name else {}
    if group:
        details["group"] = group
    details["kind"] = resource
    details.update(extra)
    return details


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str, group: str = "") -> StatusError:
    return StatusError(
        404,
        f'{_qualified(resource, group)} "{name}" not found',
        details=_details(resource, group, name),
    )


def already_exists(resource: str, name: str, group: str = "") -> StatusError:
    return StatusError(
        409,
        f'{_qualified(resource, group)} "{name}" already exists',
        reason="AlreadyExists",
        details=_details(resource, group, name),
    )


def conflict(resource: str, name: str, group: str = "", why: str = "") -> StatusError:
    why = why or (
        "the object has been modified; please apply your changes to the latest version"
        " and try again"
    )
    return StatusError(
        409,
        f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
        reason="Conflict",
        details=_details(resource, group, name),
    )


def invalid(kind: str, name: str, causes: list[tuple[str, str]], group: str = "") -> StatusError:
    """422 Invalid; ``causes`` are ``(field, "Invalid value: ...")`` pairs."""
    text = ", ".join(f"{fld}: {msg}" for fld, msg in causes)
    qualified = f"{kind}.{group}" if group else kind
    return StatusError(
        422,
        f'{qualified} "{name}" is invalid: {text}',
        reason="Invalid",
        details=_details(
            kind,
            group,
            name,
            causes=[
                {"reason": _cause_reason(msg), "message": msg, "field": fld} for fld, msg in causes
            ],
        ),
    )


def _cause_reason(message: str) -> str:
    for prefix, reason in (
        ("Required value", "FieldValueRequired"),
        ("Forbidden", "FieldValueForbidden"),
        ("Duplicate value", "FieldValueDuplicate"),
        ("Unsupported value", "FieldValueNotSupported"),
    ):
        if message.startswith(prefix):
            return reason
    return "FieldValueInvalid"


def bad_request(message: str) -> StatusError:
    return StatusError(400, message)


def forbidden(resource: str, name: str, why: str, group: str = "") -> StatusError:
    return StatusError(
        403,
        f'{_qualified(resource, group)} "{name}" is forbidden: {why}',
        details=_details(resource, group, name),
    )


def method_not_allowed() -> StatusError:
    return StatusError(405, "the server does not allow this method on the requested resource")


def unsupported_media_type(content_type: str) -> StatusError:
    return StatusError(415, f"the body of the request was in an unknown format: {content_type}")


def expired(message: str) -> StatusError:
    return StatusError(410, message, reason="Expired")
