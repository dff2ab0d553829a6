"""`lbctl run`: the in-cluster controller that keeps every type LoadBalancer Service's
balancer in sync, through the same plan/apply flow as the CLI.

Modules, each named for the one thing it holds: predicates (upstream's decisions),
queue, informer, reconciler, nodesync, resync, leader, events, kubeapi, metrics,
endpoints, logs, durations, options, workers (the leader's work), controller (the wiring).

Importing this package (and `options`, which `lbctl --help` needs) does not import the
kubernetes client; `main` and `Controller` load it when used.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from lbctl.controller.options import Options, add_arguments, from_args

if TYPE_CHECKING:
    from lbctl.controller.controller import Controller

__all__ = ["Controller", "Options", "add_arguments", "from_args", "main"]


def __getattr__(name: str) -> Any:
    if name == "Controller":
        from lbctl.controller.controller import Controller

        return Controller
    raise AttributeError(name)


def main(args: argparse.Namespace) -> int:
    """Run the controller in the foreground until SIGTERM/SIGINT; the exit status."""
    from lbctl.controller import logs
    from lbctl.controller.controller import Controller
    from lbctl.controller.kubeapi import KubeError

    options = from_args(args)
    logs.configure(fmt=options.log_format, level=options.log_level)
    try:
        controller = Controller(options)
    except KubeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if threading.current_thread() is threading.main_thread():

        def _stop(signum: int, frame: FrameType | None) -> None:
            print(f"lbctl run: {signal.Signals(signum).name}, stopping", file=sys.stderr)
            controller.request_stop()  # run() below does the shutdown, on this thread

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    try:
        return controller.run()
    except OSError as e:  # e.g. a bind address already in use
        print(f"error: {e}", file=sys.stderr)
        return 1
