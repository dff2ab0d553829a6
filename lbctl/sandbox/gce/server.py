"""The Compute sandbox over HTTP: a stdlib ``ThreadingHTTPServer`` in a daemon thread.

The unmodified google-cloud-compute client reaches it with
``client_options=ClientOptions(api_endpoint=server.endpoint)``,
``credentials=AnonymousCredentials()`` and ``transport="rest"`` (plain ``http://``
is honoured). Requests are served one at a time against the backend (it holds
``backend.lock``); connections are kept alive (HTTP/1.1).

Test seams: :meth:`GCEServer.inject_error` (fail matching requests, synchronously
or inside the operation), :meth:`GCEServer.forbid` (403 on writes to one kind, as
in a Shared VPC whose firewalls belong to the host project),
:meth:`GCEServer.configure_operations` and :attr:`GCEServer.requests` (what the
client sent, e.g. to assert that a re-apply makes no write calls).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Collection
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from lbctl.sandbox.gce import urls
from lbctl.sandbox.gce.exceptions import ComputeError, ParseError, injected
from lbctl.sandbox.gce.models import DEFAULT_LINK_BASE, ComputeBackend
from lbctl.sandbox.gce.responses import ComputeResponses

__all__ = ["GCEServer", "RecordedRequest", "start_gce"]

_READ_ONLY_POSTS = re.compile(r".*/(?:wait|listInstances)$")
_WRITE_HANDLERS = ("insert", "delete", "patch", "update", "action")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]

    @property
    def is_write(self) -> bool:
        """A call that could change state (not a read, an operation poll or a control call)."""
        if self.method == "GET" or self.path.startswith("/_lbctl/"):
            return False
        return not _READ_ONLY_POSTS.fullmatch(self.path)


@dataclass
class _Injection:
    method: str
    pattern: re.Pattern[str]
    error: ComputeError
    times: int
    in_operation: bool


class GCEServer:
    """A running Compute sandbox; ``endpoint`` is ``http://host:port``."""

    def __init__(self, backend: ComputeBackend, host: str, port: int) -> None:
        self.backend = backend
        self.responses = ComputeResponses(backend)
        self.requests: list[RecordedRequest] = []
        self._injections: list[_Injection] = []
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        bound_host, bound_port = self._httpd.server_address[:2]
        self.endpoint = f"http://{bound_host!s}:{bound_port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="lbctl-gce-sandbox", daemon=True
        )
        self._stopped = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Shut the server down (idempotent)."""
        if not self._stopped:
            self._stopped = True
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)

    def __enter__(self) -> GCEServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- test seams ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all resources (seeded ones too), injections, forbids and recorded requests."""
        with self.backend.lock:
            self.backend.reset()
            self._injections.clear()
            self.requests.clear()

    def inject_error(
        self,
        method: str,
        path_regex: str,
        status: int,
        reason: str,
        times: int = 1,
        *,
        message: str | None = None,
        in_operation: bool = False,
    ) -> None:
        """Fail the next ``times`` requests whose path matches ``path_regex`` (``re.search``).

        The answer is the API's error JSON with ``status`` and ``reason``; with
        ``in_operation`` the request instead answers 200 with an operation that
        ends DONE carrying the error, and changes nothing.
        """
        with self.backend.lock:
            self._injections.append(
                _Injection(
                    method.upper(),
                    re.compile(path_regex),
                    injected(status, reason, message),
                    times,
                    in_operation,
                )
            )

    def forbid(self, kind: str, verbs: Collection[str] = ("create", "update", "delete")) -> None:
        """Answer 403 to writes on collection ``kind`` (``"firewalls"``), until :meth:`allow`."""
        with self.backend.lock:
            self.backend.forbid(kind, verbs)

    def allow(self, kind: str) -> None:
        with self.backend.lock:
            self.backend.allow(kind)

    def configure_operations(self, *, polls: int, wait_completes: bool = True) -> None:
        """Reads an operation needs before DONE; see :mod:`lbctl.sandbox.gce.operations`."""
        with self.backend.lock:
            self.backend.operation_polls = polls
            self.backend.wait_completes = wait_completes

    def writes(self) -> list[RecordedRequest]:
        """The recorded requests that could have changed something."""
        with self.backend.lock:
            return [request for request in self.requests if request.is_write]

    def clear_requests(self) -> None:
        with self.backend.lock:
            self.requests.clear()

    # -- request handling -----------------------------------------------------------------------

    def handle(self, method: str, target: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        url = urlsplit(target)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        with self.backend.lock:
            try:
                body = _json_body(raw)
                self.requests.append(RecordedRequest(method, url.path, query, body))
                injection = self._take_injection(method, url.path)
                found = urls.match(method, url.path)
                if found is None:
                    if urls.known_path(url.path):
                        raise ComputeError(
                            f"Method {method} not allowed",
                            status=405,
                            reason="httpMethodNotAllowed",
                        )
                    raise ComputeError(f"Not Found: {url.path}", status=404, reason="notFound")
                route, params = found
                if injection is not None:
                    if not injection.in_operation or route.handler not in _WRITE_HANDLERS:
                        raise injection.error
                    return 200, self.responses.failed(route, params, body, injection.error)
                return 200, self.responses.dispatch(route, params, query, body)
            except ComputeError as error:
                return error.status, error.body()

    def _take_injection(self, method: str, path: str) -> _Injection | None:
        for injection in self._injections:
            if injection.method in (method, "*") and injection.pattern.search(path):
                injection.times -= 1
                if injection.times <= 0:
                    self._injections.remove(injection)
                return injection
        return None


def _json_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise ParseError(str(error)) from error
    if not isinstance(body, dict):
        raise ParseError("Expected a JSON object.")
    return body


def _handler_for(server: GCEServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "lbctl-gce-sandbox"
        # Headers and body go out as two writes; without TCP_NODELAY each keep-alive
        # request waits ~40 ms on Nagle + delayed ACK.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, body = server.handle(self.command, self.path, raw)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def start_gce(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    self_links: Literal["google", "server"] = "google",
    operation_polls: int = 1,
    wait_completes: bool = True,
) -> GCEServer:
    """Start a Compute sandbox (port 0 picks a free port); it starts empty, see ``seed_gce``.

    ``self_links="google"`` writes links as the real API does
    (``https://www.googleapis.com/compute/v1/projects/...``); ``"server"`` uses this
    server's own URL instead, so links can be fetched.
    """
    backend = ComputeBackend(operation_polls=operation_polls, wait_completes=wait_completes)
    server = GCEServer(backend, host, port)
    backend.link_base = (
        DEFAULT_LINK_BASE if self_links == "google" else f"{server.endpoint}/compute/v1/"
    )
    server.start()
    return server
