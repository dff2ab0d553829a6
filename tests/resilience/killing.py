"""`lbctl run` as a separate process that a test can SIGKILL at a chosen cloud call.

`KillGate` is a small HTTP proxy between the process and moto: it forwards every AWS call
unchanged and counts them. Armed with a `KillPoint`, it holds the n-th write call from
then on, SIGKILLs the process while that request is held, and then either forwards the
request (it took effect in the cloud, but nobody is left to read the answer) or drops it
(it never reached the cloud). So a kill point is "just before or just after this write",
chosen at random over the writes a pass makes, rather than a moment in time that may fall
between passes. Writes, not all calls, are counted for it: only a write can leave a
half-done state, and the number of reads in a pass varies (the controller batches the
reads of Services that are ready together), while its writes do not.
(lbctl's FaultProxy injects faults by chance; here the test needs to pick the call.)
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lbctl.calls import is_read
from tests.resilience.conftest import CLUSTER_ID

SKIP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class KillPoint:
    index: int  # the n-th write call of the pass (1-based)
    forwarded: bool  # whether that call reached the cloud before the process died
    operation: str = ""  # e.g. "DeleteTargetGroup", filled in when it is hit

    def __str__(self) -> str:
        sent = "sent" if self.forwarded else "not sent"
        return f"write #{self.index} {self.operation} ({sent})"


class KillGate:
    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.target = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.calls = 0
        self.writes = 0
        self.operations: list[str] = []
        self.fired = threading.Event()
        self._lock = threading.Lock()
        self._armed: tuple[int, KillPoint, Callable[[], None]] | None = None
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> KillGate:
        gate = self

        class Handler(_Handler):
            owner = gate

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def arm(self, point: KillPoint, kill: Callable[[], None]) -> None:
        with self._lock:
            self.fired.clear()
            self._armed = (self.writes + point.index, point, kill)

    def disarm(self) -> None:
        with self._lock:
            self._armed = None

    def count(self, operation: str) -> tuple[KillPoint, Callable[[], None]] | None:
        with self._lock:
            self.calls += 1
            self.operations.append(operation)
            if is_read(operation):
                return None
            self.writes += 1
            armed = self._armed
            if armed is None or self.writes != armed[0]:
                return None
            self._armed = None
        armed[1].operation = operation
        return armed[1], armed[2]


class _Handler(BaseHTTPRequestHandler):
    owner: KillGate
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action", ["?"])
        hit = self.owner.count(action[0])
        if hit is not None:
            point, kill = hit
            kill()  # the caller is dead before its request goes anywhere
            if point.forwarded:
                self._forward(body)
            self.owner.fired.set()
            self.close_connection = True
            return
        status, headers, answer = self._forward(body)
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in SKIP_HEADERS:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = _any

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.owner.target, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in SKIP_HEADERS}
            headers["Host"] = f"{self.owner.target[0]}:{self.owner.target[1]}"
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()


# `lbctl run` processes are forked from one that has already imported what they need, so a
# restart after a kill costs what a real restart costs once the binary is loaded (build
# the controller, list, start) and not the seconds of CPU that importing boto3 and the
# kubernetes client (whose CoreV1Api alone builds some 250 pydantic models) takes, 21
# times over, on a 2-core machine. Each child is its own process running lbctl's own
# `main(["run", ...])`, with its stderr (the JSON log) in its own file; SIGKILL is real.
FORKER = r"""
import ctypes, os, signal, sys
import boto3, kubernetes.client, lbctl.cli, lbctl.controller.controller
import providers.aws.provider
kubernetes.client.CoreV1Api  # the client imports its API classes lazily
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped as they exit
for line in sys.stdin:
    log, *args = line.rstrip("\n").split("\t")
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            try:  # Linux: die with the forker, which dies when the test's pipe closes
                ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            except (OSError, AttributeError):
                pass
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 2)
            code = lbctl.cli.main(["run", *args])
        finally:
            sys.stderr.flush()
            os._exit(code)
    print(pid, flush=True)
"""


class Forker:
    """The process `lbctl run` processes are forked from."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", FORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )

    def fork(self, log: Path, args: list[str]) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("\t".join([str(log), *args]) + "\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class LbctlRun:
    """One `lbctl run` process with JSON logs in its own file."""

    forker: Forker
    kubeconfig: Path
    cloud_config: Path
    log: Path
    workers: int = 1
    pid: int = field(default=0, init=False)

    def start(self) -> LbctlRun:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        self.pid = self.forker.fork(
            self.log,
            [
                f"--kubeconfig={self.kubeconfig}",
                f"--cluster-id={CLUSTER_ID}",
                f"--cloud-config={self.cloud_config}",
                f"--workers={self.workers}",
                "--resync-period=1h",
                "--metrics-bind-address=0",
                "--health-probe-bind-address=0",
                "--log-format=json",
            ],
        )
        return self

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue  # a line cut short by SIGKILL
        return out

    def wait_working(self, timeout: float = 30.0) -> None:
        """Until the process has synced its caches and started its workers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(r.get("msg") == "starting workers" for r in self.lines()):
                return
            if not alive(self.pid):
                raise AssertionError(f"lbctl run exited:\n{self.tail()}")
            time.sleep(0.05)
        raise AssertionError(f"lbctl run did not start its workers:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no signal handler, no finally block, no lease release."""
        os.kill(self.pid, signal.SIGKILL)
        self._gone()

    def stop(self) -> None:
        if self.pid and alive(self.pid):
            os.kill(self.pid, signal.SIGTERM)
            try:
                self._gone(15)
            except AssertionError:
                self.kill()

    def _gone(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while alive(self.pid):
            if time.monotonic() > deadline:
                raise AssertionError(f"lbctl run (pid {self.pid}) is still running")
            time.sleep(0.01)

    def tail(self, n: int = 30) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-n:])
