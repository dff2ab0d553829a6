"""The HTTP endpoints: /metrics on --metrics-bind-address, /healthz and /readyz on
--health-probe-bind-address. Addresses are written as upstream's flags write them:
`:8080` (every interface), `127.0.0.1:8080`, `[::1]:8080`; `0` disables the endpoint.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# path -> () -> (status, content type, body)
Route = Callable[[], tuple[int, str, str]]

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def parse_bind_address(text: str) -> tuple[str, int] | None:
    """`:8080` -> ("0.0.0.0", 8080); `0` -> None (disabled); raises ValueError otherwise."""
    text = text.strip()
    if text in ("0", ""):
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"invalid bind address {text!r}: expected [HOST]:PORT, or 0 to disable")
    host = host.strip("[]") or "0.0.0.0"
    value = int(port)
    if value > 65535:
        raise ValueError(f"invalid port in bind address {text!r}")
    return host, value


class Endpoint:
    """One small HTTP server in a daemon thread."""

    def __init__(self, host: str, port: int, routes: Mapping[str, Route]) -> None:
        self.routes = dict(routes)

        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = outer.routes.get(self.path.split("?", 1)[0])
                if route is None:
                    status, ctype, body = 404, "text/plain; charset=utf-8", "not found\n"
                else:
                    status, ctype, body = route()
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass  # probes every few seconds would flood the log

        family_host = host
        if ":" in host:  # IPv6
            import socket

            class V6Server(ThreadingHTTPServer):
                address_family = socket.AF_INET6

            self.server: ThreadingHTTPServer = V6Server((family_host, port), Handler)
        else:
            self.server = ThreadingHTTPServer((family_host, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.1},  # how long stop() may wait
            name=f"http-{self.port}",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        bound = self.server.server_address[0]
        host = bound.decode() if isinstance(bound, bytes) else str(bound)
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> Endpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
