"""The one place GCE calls go through: SDK clients, counting, retries, operations, errors.

Every call goes through `CallCounter.call("gce", "<collection>:<method>", …)`; 429,
`rateLimitExceeded` and 5xx are retried there (the SDK's own retries are off). Writes use the
SDK's `*_unary` methods and wait on the region / zone / global operations client built
with the same `client_options` (`ExtendedOperation.result()` would poll the public endpoint
whatever the options say). Request and response bodies are the API's JSON (camelCase), so
the rest of the provider speaks the Compute API's own field names.

The legacy `httpHealthChecks` collection has no SDK client; `providers.gce.legacy` calls it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from google.api_core import exceptions as api_exceptions
from google.api_core.client_options import ClientOptions
from google.auth import credentials as auth_credentials
from google.auth import exceptions as auth_exceptions
from google.cloud import compute_v1

from lbctl.calls import CallCounter
from lbctl.errors import CloudError
from providers.gce.config import GCEConfig

RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"}
TRANSIENT_REASONS = {"backendError", "internalError"}
OPERATION_TIMEOUT = 600.0
SCOPES = ("https://www.googleapis.com/auth/compute",)
# lbctl retries (CallCounter); the SDK makes one attempt per call.
NO_RETRY: dict[str, Any] = {"retry": None, "timeout": 60.0}


class GCEError(CloudError):
    """A failed GCE call: `status` is the HTTP status, `reason` the API's reason
    (`notFound`, `alreadyExists`, `resourceInUseByAnotherResource`, …) or, for a failed
    operation, its error code (`RESOURCE_IN_USE_BY_ANOTHER_RESOURCE`, …)."""

    def __init__(self, operation: str, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(operation, message, code=reason)
        self.status = status
        self.reason = reason
        self.text = message

    @property
    def not_found(self) -> bool:
        return self.status == 404 or self.reason in ("notFound", "RESOURCE_NOT_FOUND")

    @property
    def conflict(self) -> bool:
        return self.status == 409 or self.reason in ("alreadyExists", "RESOURCE_ALREADY_EXISTS")

    @property
    def member_exists(self) -> bool:
        """An add of a target-pool or instance-group member that is already one."""
        return self.reason in ("memberAlreadyExists", "MEMBER_ALREADY_EXISTS")

    @property
    def forbidden(self) -> bool:
        return self.status == 403 and self.reason not in RATE_LIMIT_REASONS

    @property
    def in_use(self) -> bool:
        """Upstream isInUsedByError: a 400 "… is already being used by …"."""
        return self.reason in (
            "resourceInUseByAnotherResource",
            "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE",
        ) or (self.status == 400 and "being used by" in self.text)


class HTTPFailure(Exception):
    """A non-2xx answer of a raw (legacy) request, before it is mapped to GCEError."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


class OperationFailed(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _api_reason(e: api_exceptions.GoogleAPICallError) -> str:
    for item in e.errors or []:
        if isinstance(item, Mapping) and item.get("reason"):
            return str(item["reason"])
    return str(getattr(e, "reason", "") or "")


def _transient(status: int, reason: str) -> bool:
    return status == 429 or status >= 500 or reason in RATE_LIMIT_REASONS | TRANSIENT_REASONS


def retryable(e: Exception) -> bool:
    if isinstance(e, api_exceptions.GoogleAPICallError):
        return _transient(int(e.code or 0), _api_reason(e))
    if isinstance(e, HTTPFailure):
        return _transient(e.status, e.reason)
    return isinstance(
        e,
        requests.ConnectionError
        | requests.Timeout
        | auth_exceptions.TransportError
        | api_exceptions.RetryError,
    )


def to_error(operation: str, e: Exception) -> GCEError:
    if isinstance(e, api_exceptions.GoogleAPICallError):
        return GCEError(
            operation, e.message or str(e), status=int(e.code or 0), reason=_api_reason(e)
        )
    if isinstance(e, HTTPFailure):
        return GCEError(operation, e.message, status=e.status, reason=e.reason)
    if isinstance(e, OperationFailed):
        return GCEError(operation, e.message, status=e.status, reason=e.code)
    return GCEError(operation, str(e))


def as_json(message: Any) -> dict[str, Any]:
    """A compute_v1 message as the API's JSON (camelCase keys)."""
    data: dict[str, Any] = json.loads(
        type(message).to_json(message, use_integers_for_enums=False, indent=None)
    )
    return data


@dataclass(frozen=True)
class Collection:
    client: type[Any]
    scope: str  # "global" | "region" | "zone"
    message: type[Any]
    resource_arg: str  # the request's body argument, e.g. firewall_resource
    name_arg: str  # the resource-name argument, e.g. firewall


COLLECTIONS: dict[str, Collection] = {
    "addresses": Collection(
        compute_v1.AddressesClient, "region", compute_v1.Address, "address_resource", "address"
    ),
    "forwardingRules": Collection(
        compute_v1.ForwardingRulesClient,
        "region",
        compute_v1.ForwardingRule,
        "forwarding_rule_resource",
        "forwarding_rule",
    ),
    "targetPools": Collection(
        compute_v1.TargetPoolsClient,
        "region",
        compute_v1.TargetPool,
        "target_pool_resource",
        "target_pool",
    ),
    "regionBackendServices": Collection(
        compute_v1.RegionBackendServicesClient,
        "region",
        compute_v1.BackendService,
        "backend_service_resource",
        "backend_service",
    ),
    "healthChecks": Collection(
        compute_v1.HealthChecksClient,
        "global",
        compute_v1.HealthCheck,
        "health_check_resource",
        "health_check",
    ),
    "regionHealthChecks": Collection(
        compute_v1.RegionHealthChecksClient,
        "region",
        compute_v1.HealthCheck,
        "health_check_resource",
        "health_check",
    ),
    "instanceGroups": Collection(
        compute_v1.InstanceGroupsClient,
        "zone",
        compute_v1.InstanceGroup,
        "instance_group_resource",
        "instance_group",
    ),
    "firewalls": Collection(
        compute_v1.FirewallsClient, "global", compute_v1.Firewall, "firewall_resource", "firewall"
    ),
    "instances": Collection(
        compute_v1.InstancesClient, "zone", compute_v1.Instance, "instance_resource", "instance"
    ),
    "zones": Collection(compute_v1.ZonesClient, "global", compute_v1.Zone, "", "zone"),
}

# The request bodies of the POST sub-resources: method -> (argument, message type).
ACTIONS: dict[str, tuple[str, type[Any]]] = {
    "add_instance": (
        "target_pools_add_instance_request_resource",
        compute_v1.TargetPoolsAddInstanceRequest,
    ),
    "remove_instance": (
        "target_pools_remove_instance_request_resource",
        compute_v1.TargetPoolsRemoveInstanceRequest,
    ),
    "add_instances": (
        "instance_groups_add_instances_request_resource",
        compute_v1.InstanceGroupsAddInstancesRequest,
    ),
    "remove_instances": (
        "instance_groups_remove_instances_request_resource",
        compute_v1.InstanceGroupsRemoveInstancesRequest,
    ),
}


# The operations client that waits on a write, by the collection's scope.
OPERATIONS: dict[str, type[Any]] = {
    "region": compute_v1.RegionOperationsClient,
    "zone": compute_v1.ZoneOperationsClient,
    "global": compute_v1.GlobalOperationsClient,
}


def _message(spec: Collection, body: Mapping[str, Any]) -> Any:
    """A request body as the collection's message; an unknown field is an error."""
    return spec.message.from_json(json.dumps(body), ignore_unknown_fields=False)


def collection_field(collection: str) -> str:
    """The scoped list's field: instanceGroups -> instance_groups."""
    return "".join("_" + c.lower() if c.isupper() else c for c in collection)


def _camel(method: str) -> str:
    head, *rest = method.split("_")
    return head + "".join(w.title() for w in rest)


class GCEClient:
    """Counted, retried Compute calls in the API's JSON; writes wait for their operation."""

    def __init__(self, counter: CallCounter, config: GCEConfig, project: str, region: str) -> None:
        self.counter = counter
        self.config = config
        self.project = project
        self.region = region
        self.network_project = config.network_project or project
        self.base = config.base
        self.credentials = self._credentials()
        options: dict[str, Any] = {}
        if config.endpoint:
            options["client_options"] = ClientOptions(api_endpoint=config.endpoint)
        self._kwargs = {"credentials": self.credentials, "transport": "rest", **options}
        self._clients: dict[type[Any], Any] = {}
        self._session: Any = None

    def _credentials(self) -> auth_credentials.Credentials:
        if self.config.anonymous_credentials:
            return auth_credentials.AnonymousCredentials()  # type: ignore[no-untyped-call]
        import google.auth

        try:
            found, _ = google.auth.default(scopes=list(SCOPES))
        except auth_exceptions.DefaultCredentialsError as e:
            raise GCEError(
                "credentials",
                f"no Google credentials: {e} (or use --offline to plan without a cloud)",
            ) from e
        return found

    def sdk(self, cls: type[Any]) -> Any:
        if cls not in self._clients:
            self._clients[cls] = cls(**self._kwargs)
        return self._clients[cls]

    @property
    def session(self) -> Any:
        """google-auth's authorized session (the legacy httpHealthChecks calls)."""
        if self._session is None:
            from google.auth.transport.requests import AuthorizedSession

            self._session = AuthorizedSession(self.credentials)  # type: ignore[no-untyped-call]
        return self._session

    # --- the counted call ----------------------------------------------------------------

    def counted(self, operation: str, fn: Callable[[], Any]) -> Any:
        try:
            return self.counter.call("gce", operation, fn, retryable=retryable)
        except (
            api_exceptions.GoogleAPICallError,
            HTTPFailure,
            OperationFailed,
            requests.RequestException,
            auth_exceptions.GoogleAuthError,
            api_exceptions.RetryError,
        ) as e:
            raise to_error(operation, e) from e

    def _scope(self, collection: str, location: str | None) -> dict[str, str]:
        spec = COLLECTIONS[collection]
        project = self.network_project if collection == "firewalls" else self.project
        args = {"project": project}
        if spec.scope == "region":
            args["region"] = location or self.region
        elif spec.scope == "zone":
            if not location:
                raise ValueError(f"{collection} needs a zone")
            args["zone"] = location
        return args

    # --- reads ---------------------------------------------------------------------------

    def list_all(
        self, collection: str, *, location: str | None = None, filter: str = ""
    ) -> list[dict[str, Any]]:
        """Every item (all pages) of a collection, as JSON."""
        spec = COLLECTIONS[collection]
        client = self.sdk(spec.client)
        request: dict[str, Any] = self._scope(collection, location)
        if filter:
            request["filter"] = filter

        def run() -> list[dict[str, Any]]:
            return [as_json(item) for item in client.list(request=request, **NO_RETRY)]

        result: list[dict[str, Any]] = self.counted(f"{collection}:list", run)
        return result

    def aggregated(self, collection: str, *, filter: str = "") -> list[dict[str, Any]]:
        """Every item of a zonal collection in every zone (one paged call), as JSON."""
        spec = COLLECTIONS[collection]
        client = self.sdk(spec.client)
        request: dict[str, Any] = {"project": self.project}
        if filter:
            request["filter"] = filter

        def run() -> list[dict[str, Any]]:
            out = []
            for _, scoped in client.aggregated_list(request=request, **NO_RETRY):
                out += [as_json(item) for item in getattr(scoped, collection_field(collection))]
            return out

        result: list[dict[str, Any]] = self.counted(f"aggregated/{collection}:list", run)
        return result

    def get(self, collection: str, name: str, *, location: str | None = None) -> dict[str, Any]:
        spec = COLLECTIONS[collection]
        client = self.sdk(spec.client)
        request = {**self._scope(collection, location), spec.name_arg: name}
        result: dict[str, Any] = self.counted(
            f"{collection}:get", lambda: as_json(client.get(request=request, **NO_RETRY))
        )
        return result

    def find(
        self, collection: str, name: str, *, location: str | None = None
    ) -> dict[str, Any] | None:
        try:
            return self.get(collection, name, location=location)
        except GCEError as e:
            if e.not_found:
                return None
            raise

    def list_group_instances(self, zone: str, group: str) -> list[str]:
        client = self.sdk(compute_v1.InstanceGroupsClient)
        request = {
            **self._scope("instanceGroups", zone),
            "instance_group": group,
            "instance_groups_list_instances_request_resource": {"instance_state": "ALL"},
        }

        def run() -> list[str]:
            return [item.instance for item in client.list_instances(request=request, **NO_RETRY)]

        result: list[str] = self.counted("instanceGroups:listInstances", run)
        return result

    # --- writes --------------------------------------------------------------------------

    def insert(
        self, collection: str, body: Mapping[str, Any], *, location: str | None = None
    ) -> None:
        spec = COLLECTIONS[collection]
        self._write(collection, "insert", location, {spec.resource_arg: _message(spec, body)})

    def update(
        self,
        collection: str,
        name: str,
        body: Mapping[str, Any],
        *,
        location: str | None = None,
        patch: bool = False,
    ) -> None:
        """PUT (or PATCH) the whole resource."""
        spec = COLLECTIONS[collection]
        fields = {spec.name_arg: name, spec.resource_arg: _message(spec, body)}
        self._write(collection, "patch" if patch else "update", location, fields)

    def delete(self, collection: str, name: str, *, location: str | None = None) -> None:
        self._write(collection, "delete", location, {COLLECTIONS[collection].name_arg: name})

    def action(
        self,
        collection: str,
        name: str,
        method: str,
        body: Mapping[str, Any],
        *,
        location: str | None = None,
    ) -> None:
        """A POST sub-resource: addInstance, removeInstance, addInstances, removeInstances."""
        argument, message_type = ACTIONS[method]
        fields = {
            COLLECTIONS[collection].name_arg: name,
            argument: message_type.from_json(json.dumps(body)),
        }
        self._write(collection, method, location, fields)

    def _write(
        self, collection: str, method: str, location: str | None, fields: Mapping[str, Any]
    ) -> None:
        """The write `method` with `fields` (name, body) in the collection's scope."""
        spec = COLLECTIONS[collection]
        request = {**self._scope(collection, location), **fields}
        client = self.sdk(spec.client)
        operation = f"{collection}:{_camel(method)}"
        fn = getattr(client, f"{method}_unary")
        result = self.counted(operation, lambda: fn(request=request, **NO_RETRY))
        self.wait(
            operation, result, scope=spec.scope, project=request["project"], location=location
        )

    # --- operations ----------------------------------------------------------------------

    def wait(
        self,
        operation: str,
        result: Any,
        *,
        scope: str,
        project: str,
        location: str | None,
    ) -> None:
        """Wait until the operation is DONE (operations `wait`), then raise its error."""
        op = result
        deadline = time.monotonic() + OPERATION_TIMEOUT
        done = compute_v1.Operation.Status.DONE
        while op.status != done:
            if time.monotonic() > deadline:
                raise GCEError(operation, f"operation {op.name} did not finish in time")
            op = self._wait_once(op.name, scope=scope, project=project, location=location)
        if op.error and op.error.errors:
            first = op.error.errors[0]
            failure = OperationFailed(
                int(op.http_error_status_code or 0), first.code, first.message or first.code
            )
            raise to_error(operation, failure)

    def _wait_once(self, name: str, *, scope: str, project: str, location: str | None) -> Any:
        request: dict[str, Any] = {"project": project, "operation": name}
        if scope == "region":
            request["region"] = location or self.region
        elif scope == "zone":
            request["zone"] = location
        client = self.sdk(OPERATIONS[scope])
        label = f"{scope}Operations:wait"  # regionOperations:wait, ...
        return self.counted(label, lambda: client.wait(request=request, **NO_RETRY))

    def wait_global(self, operation: str, body: Mapping[str, Any], *, project: str) -> None:
        """Wait on a global operation given as JSON (the legacy calls' answers)."""
        op = compute_v1.Operation.from_json(json.dumps(body), ignore_unknown_fields=True)
        self.wait(operation, op, scope="global", project=project, location=None)
