"""The one place AWS calls go through: boto3 clients, counting, retries, error mapping.

boto3's own retries are switched off (one attempt per call) so that every HTTP attempt is
counted and retried by lbctl's CallCounter, with throttling and 5xx as the retryable set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lbctl.calls import CallCounter
from lbctl.errors import CloudError

THROTTLING = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "SlowDown",
}
TRANSIENT = {"InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable"}
# Services whose IAM prefix differs from boto3's client name: calls are counted (and named
# in errors) by the IAM name, e.g. "tag:GetResources", a read like every Get.
BOTO_SERVICES = {"tag": "resourcegroupstaggingapi"}


class AWSError(CloudError):
    """A failed AWS call; `code` is the AWS error code (e.g. LoadBalancerNotFound)."""


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def error_code(e: Exception) -> str:
    if isinstance(e, ClientError):
        return str(e.response.get("Error", {}).get("Code", ""))
    return ""


def retryable(e: Exception) -> bool:
    if isinstance(e, ClientError):
        status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return error_code(e) in THROTTLING | TRANSIENT or status >= 500
    return isinstance(e, BotoCoreError)  # connection reset, timeouts, ...


class AWSClient:
    def __init__(self, counter: CallCounter, *, region: str | None = None) -> None:
        self.counter = counter
        self.region = (
            region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
        )
        self._session = boto3.session.Session(region_name=self.region)
        self._config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=10,
            read_timeout=30,
        )
        self._clients: dict[str, Any] = {}

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            if not self._session.region_name:
                raise AWSError("configure", "no AWS region: set AWS_REGION")
            self._clients[service] = self._session.client(
                BOTO_SERVICES.get(service, service), config=self._config
            )
        return self._clients[service]

    def call(self, service: str, operation: str, **kwargs: Any) -> dict[str, Any]:
        """Call `service:Operation` with kwargs; raises AWSError with the AWS error code."""
        method = getattr(self._client(service), _snake(operation))
        try:
            result: dict[str, Any] = self.counter.call(
                "aws", f"{service}:{operation}", lambda: method(**kwargs), retryable=retryable
            )
        except ClientError as e:
            message = str(e.response.get("Error", {}).get("Message", e))
            raise AWSError(f"{service}:{operation}", message, code=error_code(e)) from e
        except BotoCoreError as e:
            raise AWSError(f"{service}:{operation}", str(e)) from e
        return result

    def pages(
        self,
        service: str,
        operation: str,
        *,
        items: str,
        token: str = "NextToken",
        request_token: str | None = None,
        **kwargs: Any,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paged describe; each page is one counted call."""
        request_token = request_token or token
        while True:
            page = self.call(service, operation, **kwargs)
            yield from page.get(items, [])
            marker = page.get(token)
            if not marker:
                return
            kwargs[request_token] = marker
