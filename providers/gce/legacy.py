"""The legacy global `httpHealthChecks` collection, which target pools require and which
google-cloud-compute has no client for: called through google-auth's AuthorizedSession
against the same endpoint and credentials, counted and retried like every other call.
Writes answer with a global operation, waited on through the SDK's operations client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.gce.client import GCEClient, HTTPFailure

COLLECTION = "httpHealthChecks"
TIMEOUT = 60.0


class HttpHealthChecks:
    def __init__(self, client: GCEClient) -> None:
        self.client = client
        self.project = client.project
        self.url = f"{client.base}projects/{self.project}/global/{COLLECTION}"

    def _request(self, method: str, url: str, body: Mapping[str, Any] | None = None) -> Any:
        def run() -> Any:
            response = self.client.session.request(method, url, json=body, timeout=TIMEOUT)
            if response.status_code >= 400:
                reason, message = "", response.text
                try:
                    error = response.json().get("error", {})
                    message = error.get("message", message)
                    reason = next(
                        (e.get("reason", "") for e in error.get("errors", []) if e.get("reason")),
                        "",
                    )
                except ValueError:
                    pass
                raise HTTPFailure(response.status_code, reason, message)
            return response.json() if response.content else {}

        return run

    def list_all(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            url = self.url + (f"?pageToken={token}" if token else "")
            page = self.client.counted(f"{COLLECTION}:list", self._request("GET", url))
            items += page.get("items", [])
            token = page.get("nextPageToken", "")
            if not token:
                return items

    def find(self, name: str) -> dict[str, Any] | None:
        """The check named `name`, found by listing the collection (None when absent)."""
        return next((h for h in self.list_all() if h.get("name") == name), None)

    def insert(self, body: Mapping[str, Any]) -> None:
        self._write("insert", "POST", self.url, body)

    def update(self, name: str, body: Mapping[str, Any]) -> None:
        self._write("update", "PUT", f"{self.url}/{name}", body)

    def delete(self, name: str) -> None:
        self._write("delete", "DELETE", f"{self.url}/{name}", None)

    def _write(self, verb: str, method: str, url: str, body: Mapping[str, Any] | None) -> None:
        operation = f"{COLLECTION}:{verb}"
        answer = self.client.counted(operation, self._request(method, url, body))
        self.client.wait_global(operation, answer, project=self.project)
