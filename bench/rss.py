"""Scenario 5: the controller holding 5 000 Services in the Kubernetes sandbox; peak RSS.

Two child processes: the sandbox API server (bench/kube_process.py), created with the
Services and 3 Nodes, and lbctl's controller (bench/controller_process.py), which lists
them, reconciles every one (finalizer, Events, status, in batches), then runs one node
sync over all of them (a 4th Node joins: ONE plan over every Service, the largest the
controller makes; a drift pass plans the same set). The controller's resident memory is
read from /proc/<pid>/status at each step: VmRSS (now) and VmHWM (the peak so far); its
own getrusage peak, printed when it stops, is the fallback where /proc is missing.
The cloud is planned but not called: bench/controller_process.py says why.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.report import Budget, Section

SERVICES = 5000
QUICK_SERVICES = 500
BUDGET_MB = 300.0
MB = 1024 * 1024
POLL = 1.0


@dataclass
class Step:
    label: str
    seconds: float
    rss: float  # MB now
    peak: float  # MB, the process's peak so far


def _child(module: str, *args: str) -> subprocess.Popen[str]:
    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=root,
        env=env,
        text=True,
    )


def _first_line(process: subprocess.Popen[str], what: str) -> str:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("http"):
        raise RuntimeError(f"{what} did not start (exit {process.poll()})")
    return line


def _stop(process: subprocess.Popen[str]) -> str:
    """Close its standard input (the signal to stop) and return what it printed last."""
    assert process.stdin is not None and process.stdout is not None
    process.stdin.close()
    try:
        out = process.stdout.read()
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        out = ""
    return out.strip().splitlines()[-1] if out.strip() else ""


def memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of `pid` in MB; (0, 0) where /proc is not there."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0.0
    found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.MULTILINE))
    return int(found.get("VmRSS", 0)) / 1024, int(found.get("VmHWM", 0)) / 1024


def metric(url: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    with urllib.request.urlopen(url, timeout=30) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        series, value = line.rsplit(" ", 1)
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            total += float(value)
    return total


def _wait(url: str, timeout: float, what: str, name: str, need: float, **labels: str) -> None:
    """Poll the controller's metrics until `name{labels}` reaches `need`."""
    deadline = time.monotonic() + timeout
    while metric(url, name, **labels) < need:
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL)


def run(services: int, batch: int) -> tuple[Section, list[Budget]]:
    print(f"== 5. The controller holding {services} Services ==")
    steps: list[Step] = []
    with tempfile.TemporaryDirectory(prefix="lbctl-bench-rss-") as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        started = time.monotonic()
        kube = _child(
            "bench.kube_process", "--services", str(services), "--kubeconfig", str(kubeconfig)
        )
        try:
            _first_line(kube, "the sandbox API server")
            steps, peak = _measure(kubeconfig, services, batch, started)
        finally:
            _stop(kube)
    return _section(services, batch, steps, peak)


def _measure(
    kubeconfig: Path, services: int, batch: int, started: float
) -> tuple[list[Step], float]:
    ctl = _child(
        "bench.controller_process", "--kubeconfig", str(kubeconfig), "--batch-size", str(batch)
    )
    steps: list[Step] = []

    def step(label: str) -> None:
        rss, peak = memory(ctl.pid)
        steps.append(Step(label, time.monotonic() - started, rss, peak))
        print(f"{label}: {rss:.0f} MB now, {peak:.0f} MB peak")

    try:
        url = _first_line(ctl, "the controller") + "/metrics"
        step("controller started (imports, no Service listed yet)")
        _wait(
            url,
            3600,
            f"{services} Services ensured",
            "lbctl_reconcile_total",
            services,
            result="success",
            operation="ensure",
        )
        step(f"{services} Services listed, ensured and given their status")
        _add_node(kubeconfig)
        _wait(url, 1800, "the node sync", "lbctl_nodesync_total", 1, result="success")
        step("a 4th Node joined: one node sync planned every Service")
    finally:
        last = _stop(ctl)
    reported = json.loads(last).get("peak_rss_bytes", 0) / MB if last.startswith("{") else 0.0
    peak = max([s.peak for s in steps] + [reported])
    return steps, peak


def _add_node(kubeconfig: Path) -> None:
    from kubernetes import client, config

    from bench.kube_process import node

    api = config.new_client_from_config(str(kubeconfig))  # type: ignore[no-untyped-call]
    client.CoreV1Api(api).create_node(node(3))  # type: ignore[arg-type]  # a dict body is sent as is


def _section(
    services: int, batch: int, steps: list[Step], peak: float
) -> tuple[Section, list[Budget]]:
    s = Section(f"5. The controller holding {services} Services")
    s.text(
        f"lbctl's `Controller` in a process of its own (workers planning in batches of "
        f"{batch}), against the sandbox Kubernetes API server in another, holding {services} "
        "type LoadBalancer Services (half CLB, half NLB, 2 ports each) and 3 Nodes. The "
        "controller lists them, ensures every one (finalizer, Events, status), then a 4th "
        "Node joins and one node sync plans all of them at once. The cloud is lbctl's AWS "
        "provider planning offline, with `apply` answered in memory: creating 5 000 "
        "balancers on moto would take most of an hour (see bench/controller_process.py); the "
        "boto3 clients `lbctl run` creates are created, so their memory counts. RSS is read "
        "from /proc/<pid>/status (VmRSS now, VmHWM the peak so far)."
    )
    s.text()
    s.table(
        ("step", "seconds since start", "RSS now (MB)", "peak RSS so far (MB)"),
        [(st.label, f"{st.seconds:.1f}", f"{st.rss:.0f}", f"{st.peak:.0f}") for st in steps],
    )
    budget = Budget(
        "5",
        f"controller peak RSS holding {services} Services",
        f"< {BUDGET_MB:.0f} MB",
        f"{peak:.0f} MB",
        peak < BUDGET_MB if services >= SERVICES else None,
    )
    return s, [budget]
