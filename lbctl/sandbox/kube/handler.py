"""HTTP/1.1 plumbing: the threaded server, keep-alive, and chunked watch streams.

Clients keep connections alive (urllib3 pools, Go's transport), so the server
speaks HTTP/1.1 with ``Content-Length`` on every reply and tracks its open
connections: :meth:`KubeHTTPServer.close_connections` cuts them on ``stop()``,
otherwise a "stopped" server would go on answering over old sockets.

A watch is a chunked ``application/json`` response of newline-separated events.
The stream ends when the watcher closes (``expire_watches``, ``stop``), after
``timeoutSeconds``, or when the client goes away (noticed within a second, so
abandoned watches do not pile up).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import select
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from lbctl.sandbox.kube.exceptions import REASONS, StatusError, status_body
from lbctl.sandbox.kube.faults import Fault, FaultSet, RecordedRequest, RequestLog
from lbctl.sandbox.kube.models import KubeBackend
from lbctl.sandbox.kube.responses import KubeResponses, Reply, Request, WatchReply

__all__ = ["Context", "KubeHTTPServer", "KubeRequestHandler"]

log = logging.getLogger(__name__)
_IDLE_CHECK = 1.0  # seconds between client-gone checks on a quiet watch


@dataclass
class Context:
    """What request handlers share: the app, the fault queue and the request log."""

    backend: KubeBackend
    responses: KubeResponses
    faults: FaultSet
    requests: RequestLog
    bookmark_interval: float


class KubeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], context: Context) -> None:
        self.context = context
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, KubeRequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class KubeRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers+body writes meet delayed ACKs: 40 ms each
    server: KubeHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        context = self.server.context
        if self.server.stopping.is_set():
            self.close_connection = True
            return
        split = urlsplit(self.path)
        body = self._read_body()
        request = Request(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            content_type=(self.headers.get("Content-Type") or "").split(";")[0].strip(),
            accept=self.headers.get("Accept") or "",
            body=body,
            host=self.headers.get("Host") or "",
        )
        fault = context.faults.take(request.method, self.path)
        try:
            if fault is not None:
                time.sleep(fault.delay)
                if fault.status is not None:
                    self._record(request, fault.status)
                    self._send_fault(fault)
                    return
            reply = context.responses.handle(request)
        except StatusError as error:
            self._record(request, error.code)
            self._send(Reply(error.code, error.body, error.headers))
            return
        except Exception as exc:  # a bug in the fake: answer like an apiserver would
            log.exception("internal error serving %s %s", request.method, self.path)
            self._record(request, 500)
            message = f"sandbox apiserver bug: {exc!r}\n{traceback.format_exc()}"
            self._send(Reply(500, status_body(500, "InternalError", message)))
            return
        self._record(request, 200 if isinstance(reply, WatchReply) else reply.status)
        if isinstance(reply, WatchReply):
            self._stream(reply)
        else:
            self._send(reply)

    def _record(self, request: Request, status: int) -> None:
        parsed: Any = request.body.decode("utf-8", "replace") if request.body else None
        if parsed is not None and "json" in request.content_type:
            with contextlib.suppress(ValueError):
                parsed = json.loads(parsed)
        self.server.context.requests.append(
            RecordedRequest(
                request.method, request.path, request.query, request.content_type, parsed, status
            )
        )

    def _send_fault(self, fault: Fault) -> None:
        assert fault.status is not None
        reason = fault.reason or REASONS.get(fault.status, "Unknown")
        message = fault.message or f"injected fault: {reason}"
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        body = status_body(fault.status, reason, message)
        if fault.retry_after is not None:
            body["details"] = {"retryAfterSeconds": fault.retry_after}
        self._send(Reply(fault.status, body, headers))

    def _send(self, reply: Reply) -> None:
        if isinstance(reply.body, str):
            data, content_type = reply.body.encode(), "text/plain; charset=utf-8"
        else:
            data, content_type = json.dumps(reply.body).encode(), "application/json"
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _stream(self, reply: WatchReply) -> None:
        context = self.server.context
        watcher = reply.watcher
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        start = time.monotonic()
        deadline = start + reply.timeout
        interval = context.bookmark_interval
        next_bookmark = start + interval if reply.bookmarks else float("inf")
        try:
            while not self.server.stopping.is_set():
                now = time.monotonic()
                if now >= deadline:
                    break
                if now >= next_bookmark:
                    bookmark = context.backend.bookmark(watcher)
                    if bookmark is not None:
                        self._chunk(json.dumps(bookmark).encode() + b"\n")
                        next_bookmark = now + interval
                wait = min(deadline, next_bookmark, now + _IDLE_CHECK) - now
                try:
                    event = watcher.events.get(timeout=max(wait, 0.0))
                except queue.Empty:
                    if self._client_gone():
                        self.close_connection = True
                        return
                    continue
                if event is None:
                    break
                if reply.render is not None:
                    event = reply.render(event)
                self._chunk(json.dumps(event).encode() + b"\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:  # the client hung up (or stop() cut the socket)
            self.close_connection = True
        finally:
            context.backend.unwatch(watcher)
