"""Compute Engine errors as the v1 REST API returns them.

A synchronous failure is an HTTP status plus this body, which
``google.api_core.exceptions.from_http_response`` turns into ``NotFound``,
``Conflict``, ``BadRequest``, ``PreconditionFailed`` or ``Forbidden``::

    {"error": {"code": 404,
               "message": "The resource 'projects/p/regions/r/forwardingRules/x' was not found",
               "errors": [{"message": "...", "domain": "global", "reason": "notFound"}]}}

An asynchronous failure is an HTTP 200 carrying an ``Operation`` that ends ``DONE``
with ``error.errors[{code, message}]`` (``code`` is the UPPER_SNAKE form, e.g.
``MEMBER_ALREADY_EXISTS``) and ``httpErrorStatusCode`` / ``httpErrorMessage``.

Messages follow the real API word for word where they are known; the exact text of
a few (noted below) is a close paraphrase.
"""

from __future__ import annotations

from typing import Any

_STATUS_TEXT = {
    400: "BAD REQUEST",
    403: "FORBIDDEN",
    404: "NOT FOUND",
    409: "CONFLICT",
    412: "PRECONDITION FAILED",
    429: "TOO MANY REQUESTS",
    500: "INTERNAL SERVER ERROR",
    503: "SERVICE UNAVAILABLE",
}


class ComputeError(Exception):
    """One Compute API error: HTTP ``status``, ``reason`` and ``message``."""

    status = 400
    reason = "badRequest"
    # The code an Operation's ``error.errors[]`` carries for the same failure.
    operation_code = "BAD_REQUEST"
    # Reported inside a DONE operation rather than as the HTTP answer.
    asynchronous = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        operation_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if reason is not None:
            self.reason = reason
        if operation_code is not None:
            self.operation_code = operation_code

    def body(self) -> dict[str, Any]:
        """The JSON error body of a synchronous failure."""
        detail = {"message": self.message, "domain": "global", "reason": self.reason}
        return {"error": {"code": self.status, "message": self.message, "errors": [detail]}}

    def operation_fields(self) -> dict[str, Any]:
        """The fields an ``Operation`` that failed this way carries once ``DONE``."""
        return {
            "error": {"errors": [{"code": self.operation_code, "message": self.message}]},
            "httpErrorStatusCode": self.status,
            "httpErrorMessage": _STATUS_TEXT.get(self.status, "ERROR"),
        }


class NotFound(ComputeError):
    status = 404
    reason = "notFound"
    operation_code = "RESOURCE_NOT_FOUND"

    def __init__(self, path: str) -> None:
        super().__init__(f"The resource '{path}' was not found")


class AlreadyExists(ComputeError):
    status = 409
    reason = "alreadyExists"
    operation_code = "RESOURCE_ALREADY_EXISTS"

    def __init__(self, path: str) -> None:
        super().__init__(f"The resource '{path}' already exists")


class Required(ComputeError):
    reason = "required"
    operation_code = "REQUIRED_FIELD_MISSING"

    def __init__(self, field: str) -> None:
        super().__init__(f"Required field '{field}' not specified")


class InvalidValue(ComputeError):
    reason = "invalid"
    operation_code = "INVALID_FIELD_VALUE"

    def __init__(self, field: str, value: object, why: str = "") -> None:
        text = "" if value is None else str(value)
        suffix = f" {why}" if why else ""
        super().__init__(f"Invalid value for field '{field}': '{text}'.{suffix}")


class UnknownField(ComputeError):
    """A JSON key the resource does not have (the API's ESF front end rejects it)."""

    reason = "invalid"
    operation_code = "INVALID_FIELD_VALUE"

    def __init__(self, name: str, where: str = "resource") -> None:
        super().__init__(
            f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': "
            "Cannot find field."
        )


class ParseError(ComputeError):
    reason = "parseError"

    def __init__(self, detail: str) -> None:
        super().__init__(f"Invalid JSON payload received. {detail}")


class ConditionNotMet(ComputeError):
    """A stale or missing fingerprint (``If-Match`` semantics)."""

    status = 412
    reason = "conditionNotMet"
    operation_code = "CONDITION_NOT_MET"

    def __init__(self, message: str = "Invalid fingerprint.") -> None:
        super().__init__(message)


class ResourceInUse(ComputeError):
    reason = "resourceInUseByAnotherResource"
    operation_code = "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE"

    def __init__(self, path: str, user: str) -> None:
        super().__init__(f"The resource '{path}' is already being used by '{user}'")


class IpInUse(ComputeError):
    """Message as the API words it; the reason is its generic ``badRequest``."""

    operation_code = "IP_IN_USE_BY_ANOTHER_RESOURCE"

    def __init__(self, ip: str) -> None:
        super().__init__(
            f"IP_IN_USE_BY_ANOTHER_RESOURCE - IP '{ip}' is already being used by another resource."
        )


class MemberAlreadyExists(ComputeError):
    """Adding an instance twice to a target pool or instance group (an async failure)."""

    reason = "memberAlreadyExists"
    operation_code = "MEMBER_ALREADY_EXISTS"
    asynchronous = True

    def __init__(self, member: str, group: str) -> None:
        super().__init__(f"The resource '{member}' is already a member of '{group}'")


class Forbidden(ComputeError):
    status = 403
    reason = "forbidden"
    operation_code = "FORBIDDEN"

    def __init__(self, permission: str, path: str) -> None:
        super().__init__(f"Required '{permission}' permission for '{path}'")


def injected(status: int, reason: str, message: str | None = None) -> ComputeError:
    """An error a test asked for, with a plausible message when none is given."""
    text = message or f"Injected error: {reason}"
    code = "".join(f"_{c}" if c.isupper() else c.upper() for c in reason).lstrip("_")
    return ComputeError(text, status=status, reason=reason, operation_code=code)
