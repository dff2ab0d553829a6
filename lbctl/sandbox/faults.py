"""A fault-injecting HTTP proxy between the SDKs and the local emulators.

With a seeded probability per request it answers the cloud's own throttling error, a 500
or 503, resets the connection (before forwarding, or after forwarding so the request took
effect but its answer is lost — the case that proves creates are idempotent), or adds
latency. Everything else is forwarded unchanged. The errors are written in each API's own
wire format so the unmodified SDKs classify them as they would a real cloud's:

- AWS EC2 (query protocol): XML `<Response><Errors><Error>`, `RequestLimitExceeded`, 503;
- AWS ELB / ELBv2: XML `<ErrorResponse>`, `Throttling`, 400;
- GCE and other JSON APIs: `{"error": {"code": 429, ... "reason": "rateLimitExceeded"}}`.

Bounded and local: it listens on 127.0.0.1 and forwards only to the one upstream URL given.
"""

from __future__ import annotations

import enum
import http.client
import random
import re
import socket
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Fault", "FaultProxy", "FaultRates"]

_SCOPE = re.compile(r"Credential=[^/]+/\d+/[^/]+/([^/]+)/aws4_request")
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "content-length",
    "host",
}


class Fault(enum.StrEnum):
    THROTTLE = "throttle"
    ERROR_500 = "500"
    ERROR_503 = "503"
    RESET = "reset"
    LOST_ANSWER = "lost-answer"  # forwarded, then the connection is reset
    LATENCY = "latency"


@dataclass(frozen=True)
class FaultRates:
    """Probability of each fault per request; their sum is the failure rate."""

    throttle: float = 0.0
    error_500: float = 0.0
    error_503: float = 0.0
    reset: float = 0.0
    lost_answer: float = 0.0
    latency: float = 0.0
    latency_seconds: float = 0.05

    @classmethod
    def failing(cls, rate: float) -> FaultRates:
        """`rate` of the requests fail, spread over every kind of failure."""
        share = rate / 5
        return cls(throttle=share, error_500=share, error_503=share, reset=share, lost_answer=share)

    def pick(self, rng: random.Random) -> Fault | None:
        roll = rng.random()
        for fault, p in (
            (Fault.THROTTLE, self.throttle),
            (Fault.ERROR_500, self.error_500),
            (Fault.ERROR_503, self.error_503),
            (Fault.RESET, self.reset),
            (Fault.LOST_ANSWER, self.lost_answer),
            (Fault.LATENCY, self.latency),
        ):
            if roll < p:
                return fault
            roll -= p
        return None


@dataclass
class FaultProxy:
    upstream: str
    rates: FaultRates = field(default_factory=FaultRates)
    seed: int = 0
    host: str = "127.0.0.1"
    port: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    forwarded: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        parsed = urllib.parse.urlsplit(self.upstream)
        self._target = (parsed.hostname or "127.0.0.1", parsed.port or 80)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the proxy first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def set_rates(self, rates: FaultRates) -> None:
        with self._lock:
            self.rates = rates

    def _choose(self) -> Fault | None:
        with self._lock:
            fault = self.rates.pick(self._rng)
            if fault is not None:
                self.injected[fault.value] += 1
            return fault


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; without TCP_NODELAY each keep-alive answer
    # waits ~40 ms on Nagle + delayed ACK.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        return

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = self.owner._choose()
        if fault is Fault.LATENCY:
            time.sleep(self.owner.rates.latency_seconds)
        elif fault is Fault.RESET:
            self._reset()
            return
        elif fault in (Fault.THROTTLE, Fault.ERROR_500, Fault.ERROR_503):
            self._error(fault, body)
            return
        status, headers, answer = self._forward(body)
        if fault is Fault.LOST_ANSWER:
            self._reset()
            return
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.owner._target, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Host"] = f"{self.owner._target[0]}:{self.owner._target[1]}"
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            answer = response.read()
            with self.owner._lock:
                self.owner.forwarded += 1
            return response.status, response.getheaders(), answer
        finally:
            conn.close()

    def _reset(self) -> None:
        # SO_LINGER 0: close with RST, as a dropped connection looks to the client.
        self.connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
        )
        self.close_connection = True
        self.connection.close()

    def _service(self, body: bytes) -> str:
        match = _SCOPE.search(self.headers.get("Authorization", ""))
        if match:
            return match.group(1)
        return (
            "json"
            if self.headers.get("Content-Type", "").startswith("application/json") or not body
            else "unknown"
        )

    def _error(self, fault: Fault, body: bytes) -> None:
        service = self._service(body)
        status, payload, content_type = _error_body(fault, service)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if fault is Fault.THROTTLE and content_type == "application/json":
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(payload)


def _error_body(fault: Fault, service: str) -> tuple[int, bytes, str]:
    if service == "ec2":
        code, status = {
            Fault.THROTTLE: ("RequestLimitExceeded", 503),
            Fault.ERROR_500: ("InternalError", 500),
            Fault.ERROR_503: ("Unavailable", 503),
        }[fault]
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}'
            f"</Code><Message>injected by lbctl's fault proxy</Message></Error></Errors>"
            "<RequestID>fault-proxy</RequestID></Response>"
        )
        return status, xml.encode(), "text/xml"
    if service in ("elasticloadbalancing", "elb", "elbv2"):
        code, status, kind = {
            Fault.THROTTLE: ("Throttling", 400, "Sender"),
            Fault.ERROR_500: ("InternalFailure", 500, "Receiver"),
            Fault.ERROR_503: ("ServiceUnavailable", 503, "Receiver"),
        }[fault]
        xml = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>injected "
            "by lbctl's fault proxy</Message></Error><RequestId>fault-proxy</RequestId>"
            "</ErrorResponse>"
        )
        return status, xml.encode(), "text/xml"
    http_status, reason = {
        Fault.THROTTLE: (429, "rateLimitExceeded"),
        Fault.ERROR_500: (500, "backendError"),
        Fault.ERROR_503: (503, "backendError"),
    }[fault]
    text = (
        f'{{"error": {{"code": {http_status}, "message": "injected by lbctl\'s fault proxy", '
        f'"errors": [{{"domain": "global", "reason": "{reason}", '
        '"message": "injected by lbctl\'s fault proxy"}]}}'
    )
    return http_status, text.encode(), "application/json"
