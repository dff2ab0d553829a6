"""Local sandboxes that let lbctl's cloud providers run without a cloud account.

``lbctl.sandbox.aws`` starts a moto server and seeds it with a realistic
cluster network; ``lbctl.sandbox.kube`` is a Kubernetes API server the real
client and kubectl talk to. :func:`run_sandbox` wraps both for interactive use:
it seeds the cloud, creates the matching Nodes in the API server, prints the
``export`` lines that point boto3 and kubectl at them and keeps them running
until interrupted.

Nothing here imports a cloud SDK at module import time.
"""

from __future__ import annotations

import shlex
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

__all__ = ["run_sandbox"]

_SignalHandler = Callable[[int, FrameType | None], Any] | int | None


def _progress(message: str) -> None:
    print(f"lbctl sandbox: {message}", file=sys.stderr, flush=True)


def run_sandbox(
    *,
    directory: Path,
    port: int,
    region: str = "us-east-1",
    cluster_id: str = "sandbox",
    stream: TextIO = sys.stdout,
    node_count: int = 3,
    stop: threading.Event | None = None,
    kube_port: int = 0,
) -> int:
    """Run a seeded AWS sandbox on ``127.0.0.1:port`` until SIGINT/SIGTERM (or ``stop``).

    Writes ``nodes.yaml``, ``cloud-config`` and ``kubeconfig`` into ``directory`` and
    prints, on ``stream`` only, ``export NAME=value`` lines (the AWS variables and
    ``KUBECONFIG``) plus a ``# try: lbctl plan ...`` hint. Progress goes to stderr.
    Returns the exit status (0).
    """
    from lbctl.sandbox.aws import (
        MotoServer,
        sandbox_environment,
        seed_cluster,
        start_moto,
        write_sandbox_files,
    )
    from lbctl.sandbox.kube import KubeAPIServer

    stop_event = stop if stop is not None else threading.Event()
    previous: dict[signal.Signals, _SignalHandler] = {}
    # Handlers go in first so a signal at any point stops cleanly. Python only
    # allows installing them from the main thread; elsewhere use ``stop``.
    if threading.current_thread() is threading.main_thread():

        def _handle(signum: int, frame: FrameType | None) -> None:
            stop_event.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _handle)

    server: MotoServer | None = None
    kube: KubeAPIServer | None = None
    try:
        _progress(f"starting moto on 127.0.0.1:{port}")
        server = start_moto(host="127.0.0.1", port=port)
        _progress(f"seeding cluster {cluster_id!r} in {region} at {server.endpoint}")
        cluster = seed_cluster(
            server.endpoint, region=region, cluster_id=cluster_id, node_count=node_count
        )
        files = write_sandbox_files(directory, cluster)
        kube = KubeAPIServer(host="127.0.0.1", port=kube_port).start()
        for node in cluster.nodes:
            kube.create(node)
        kubeconfig = kube.write_kubeconfig(directory / "kubeconfig")
        _progress(f"Kubernetes API on {kube.url} with {len(cluster.nodes)} nodes")

        if not stop_event.is_set():
            environment = sandbox_environment(server.endpoint, region)
            environment["KUBECONFIG"] = str(kubeconfig)
            for name, value in environment.items():
                print(f"export {name}={shlex.quote(value)}", file=stream)
            print(
                "# try: lbctl plan -f examples/"
                f" --nodes {shlex.quote(str(files['nodes']))}"
                f" --cloud-config {shlex.quote(str(files['cloud-config']))}"
                f" --cluster-id {shlex.quote(cluster_id)}",
                file=stream,
            )
            stream.flush()
            _progress("ready; press Ctrl-C to stop")

        while not stop_event.wait(0.5):
            pass
        _progress("stopping")
    finally:
        try:
            if kube is not None:
                kube.stop()
            if server is not None:
                server.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return 0
