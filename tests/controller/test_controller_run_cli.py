"""`lbctl run` as a user starts it: a separate process, flags only, JSON logs; it serves
its probes and metrics, reconciles, and on SIGTERM finishes, releases its lease, exits 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from lbctl.cli import build_parser
from tests.controller.world import CLUSTER_ID, Cluster, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return 0


def test_run_help_documents_every_flag() -> None:
    parser = build_parser()
    run = parser._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    text = run.format_help()
    for action in run._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, action.option_strings
            for flag in action.option_strings:
                assert flag in text
    for flag in (
        "--kubeconfig",
        "--provider",
        "--cluster-id",
        "--cloud-config",
        "--load-balancer-class",
        "--workers",
        "--resync-period",
        "--leader-elect",
        "--leader-elect-lease-duration",
        "--leader-elect-namespace",
        "--metrics-bind-address",
        "--health-probe-bind-address",
        "--log-format",
    ):
        assert flag in text


def test_lbctl_run_process(cluster: Cluster, tmp_path: Path) -> None:
    metrics, health = free_port(), free_port()
    log = tmp_path / "lbctl.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lbctl.cli",
                "run",
                f"--kubeconfig={cluster.kubeconfig}",
                f"--cluster-id={CLUSTER_ID}",
                f"--cloud-config={cluster.cloud_config}",
                "--leader-elect",
                "--leader-elect-lease-duration=3s",
                "--leader-elect-renew-deadline=2s",
                "--leader-elect-retry-period=500ms",
                f"--metrics-bind-address=127.0.0.1:{metrics}",
                f"--health-probe-bind-address=127.0.0.1:{health}",
                "--log-format=json",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=dict(os.environ),
        )
    try:
        wait_for(
            lambda: status(f"http://127.0.0.1:{health}/readyz") == 200,
            timeout=20,
            what="/readyz",
        )
        assert status(f"http://127.0.0.1:{health}/healthz") == 200
        cluster.create_service("cli")
        cluster.wait_ingress("cli", timeout=20)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=2) as r:
            text = r.read().decode()
        assert "lbctl_leader 1" in text
        cluster.delete("cli")
        cluster.wait_gone("cli")
        cluster.assert_cloud_clean()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
    assert code == 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    reconciled = [r for r in lines if r.get("msg") == "reconciled"]
    assert {r["service"] for r in reconciled} == {"default/cli"}
    first = reconciled[0]
    assert first["operation"] == "ensure" and first["result"] == "success"
    assert first["changes"]["create aws:elb"] == 1
    assert isinstance(first["durationMs"], float)
    assert any(r.get("msg") == "released lease" for r in lines)
    from kubernetes import client

    lease = client.CoordinationV1Api(cluster.api).read_namespaced_lease("lbctl", "kube-system")
    assert not lease.spec.holder_identity
