"""Scenario 5's controller: lbctl's `Controller`, in a process of its own, whose memory is
measured.

It is what `lbctl run` builds (informers, queue, workers in batches, node sync, drift
repair, Events, metrics endpoint) against the sandbox API server of bench/kube_process.py,
with one difference: the cloud. 5 000 balancers on the moto server would take most of an
hour to create (scenario 1 creates 400 in about a minute at best, and moto's describes slow
down as balancers accumulate), so the provider is lbctl's AWS provider in its offline mode
(`observe` reads nothing, `desired` plans every resource as `lbctl plan --offline` does)
behind `NoWriteCloud`, which answers `apply` with an ingress hostname instead of calls. The
boto3 clients the AWS provider uses (EC2, ELB, ELBv2) are created and kept, never called,
so that their memory (botocore's service models) counts as it would in `lbctl run`.

Prints the metrics URL on one line once serving; runs until its standard input is closed;
then stops the controller and prints its peak RSS (getrusage) as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from lbctl.controller import logs
from lbctl.controller.controller import Controller
from lbctl.controller.options import Options
from lbctl.model import Ingress, NodeView, Resource, ServiceView
from lbctl.plan import ServicePlan
from lbctl.provider import Observed, Provider, ProviderConfig, load_provider

REGION = "us-east-1"


class NoWriteCloud:
    """A Provider that plans with `inner` and applies nothing: each applied plan gets an
    ELB-like hostname, which `observe` reports back as the Service's current ingress (so
    that a node sync finds the status up to date, as it would on a real cloud)."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.name = inner.name
        self.annotations = inner.annotations
        self.kind_order = inner.kind_order
        self.immutable = inner.immutable
        self.dependents = inner.dependents
        self.counter = inner.counter
        self.registration_kinds = getattr(inner, "registration_kinds", None)
        self._ingress: dict[str, list[Ingress]] = {}

    def load_balancer_name(self, view: ServiceView) -> str:
        return self.inner.load_balancer_name(view)

    def validate(self, view: ServiceView) -> list[str]:
        return self.inner.validate(view)

    def handles(self, view: ServiceView) -> bool:
        return self.inner.handles(view)

    def observe(
        self,
        views: Sequence[ServiceView],
        nodes: Sequence[NodeView],
        *,
        wanted: Mapping[str, bool],
        kinds: frozenset[str] | None = None,
    ) -> Observed:
        scope: dict[str, Any] = {"kinds": kinds} if kinds is not None else {}
        observed = self.inner.observe(views, nodes, wanted=wanted, **scope)
        observed.ingress = {v.key: self._ingress[v.key] for v in views if v.key in self._ingress}
        return observed

    def desired(
        self, view: ServiceView, nodes: Sequence[NodeView], observed: Observed
    ) -> list[Resource]:
        return self.inner.desired(view, nodes, observed)

    def apply(self, plan: ServicePlan, observed: Observed) -> list[Ingress]:
        hostname = f"{plan.load_balancer_name}-1234567890.{REGION}.elb.amazonaws.com"
        ingress = [Ingress(hostname=hostname)]
        self._ingress[plan.service] = ingress
        return ingress


def aws_clients() -> list[Any]:
    """The boto3 clients `lbctl run` with the AWS provider creates (never called)."""
    import boto3

    session = boto3.session.Session(region_name=REGION)
    return [session.client(name) for name in ("ec2", "elb", "elbv2", "resourcegroupstaggingapi")]


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.controller_process")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--batch-size", type=int, default=Options.batch_size)
    parser.add_argument("--workers", type=int, default=Options.workers)
    args = parser.parse_args(argv)
    logs.configure(fmt="text", level="warning")
    clients = aws_clients()
    provider = NoWriteCloud(load_provider("aws", ProviderConfig(cluster_id="bench", offline=True)))
    options = Options(
        cluster_id="bench",
        kubeconfig=args.kubeconfig,
        workers=args.workers,
        batch_size=args.batch_size,
        metrics_bind_address="127.0.0.1:0",
        health_probe_bind_address="0",
        resync_period=86400.0,  # no drift pass during the measurement
    )
    controller = Controller(options, provider=provider).start()
    while controller.metrics_url is None:
        time.sleep(0.05)
    print(controller.metrics_url, flush=True)
    sys.stdin.read()
    controller.stop(timeout=60)
    print(json.dumps({"peak_rss_bytes": peak_rss_bytes(), "clients": len(clients)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
