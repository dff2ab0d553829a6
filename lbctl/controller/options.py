"""`lbctl run` flags and the Options they make. Flag names follow the upstream
cloud-controller-manager / controller-runtime flags where one exists."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from lbctl.controller.durations import format_duration, positive_duration
from lbctl.controller.endpoints import parse_bind_address


@dataclass(frozen=True)
class Options:
    provider: str = "aws"
    cluster_id: str = ""
    cloud_config: Path | None = None
    load_balancer_class: str | None = None
    workers: int = 1
    batch_size: int = 50
    resync_period: float = 600.0
    kubeconfig: str | None = None
    context: str | None = None
    leader_elect: bool = False
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    lease_name: str = "lbctl"
    lease_namespace: str = "kube-system"
    metrics_bind_address: str = ":8080"
    health_probe_bind_address: str = ":8081"
    log_format: str = "text"
    log_level: str = "info"
    watch_timeout: int = 300  # seconds a watch stays open before it is renewed


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--workers must be an integer, got {text!r}") from e
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"--workers must be between 1 and 64, got {value}")
    return value


def _batch_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--batch-size must be an integer, got {text!r}") from e
    if not 1 <= value <= 500:
        raise argparse.ArgumentTypeError(f"--batch-size must be between 1 and 500, got {value}")
    return value


def _bind(text: str) -> str:
    try:
        parse_bind_address(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Options()
    cloud = parser.add_argument_group("cloud")
    cloud.add_argument(
        "--provider", default=d.provider, help=f"cloud provider plugin (default: {d.provider})"
    )
    cloud.add_argument(
        "--cluster-id",
        default=d.cluster_id,
        help="this cluster's id: every cloud resource lbctl creates is tagged with it, and "
        "only resources carrying it are ever changed or deleted (AWS: KubernetesClusterID; "
        "wins over the cloud config)",
    )
    cloud.add_argument(
        "--cloud-config",
        type=Path,
        default=None,
        metavar="FILE",
        help="the provider's upstream config file (AWS: INI with a [Global] section)",
    )
    sel = parser.add_argument_group("which Services")
    sel.add_argument(
        "--load-balancer-class",
        default=None,
        metavar="CLASS",
        help="reconcile only type LoadBalancer Services whose spec.loadBalancerClass is CLASS "
        "(default: only those with no class, as the upstream service controller)",
    )
    run = parser.add_argument_group("reconciling")
    run.add_argument(
        "--workers",
        type=_workers,
        default=d.workers,
        metavar="N",
        help=f"Services reconciled concurrently (default: {d.workers}, as upstream's "
        "--concurrent-service-syncs; one Service is never reconciled by two workers)",
    )
    run.add_argument(
        "--batch-size",
        type=_batch_size,
        default=d.batch_size,
        metavar="N",
        help=f"most Services a worker takes from the queue at once and plans together, so "
        f"that one batched read of the cloud serves them all (default: {d.batch_size}; 1 "
        "plans each Service alone, as upstream does)",
    )
    run.add_argument(
        "--resync-period",
        type=positive_duration,
        default=d.resync_period,
        metavar="DURATION",
        help="how often every Service is re-planned against the cloud to repair drift "
        f"(default: {format_duration(d.resync_period)}; Go durations: 30s, 10m, 1h, 1h30m)",
    )
    kube = parser.add_argument_group("Kubernetes API")
    kube.add_argument(
        "--kubeconfig",
        default=None,
        metavar="FILE",
        help="kubeconfig file (default: $KUBECONFIG, else in-cluster config, else ~/.kube/config)",
    )
    kube.add_argument(
        "--context", default=None, help="kubeconfig context (default: the current context)"
    )
    le = parser.add_argument_group("leader election")
    le.add_argument(
        "--leader-elect",
        action="store_true",
        help="take a coordination.k8s.io/v1 Lease before doing any work, so that only one "
        "of several replicas acts (default: off)",
    )
    le.add_argument(
        "--leader-elect-lease-duration",
        type=positive_duration,
        default=d.lease_duration,
        metavar="DURATION",
        help="how long standbys wait after the last renewal before taking over "
        f"(default: {format_duration(d.lease_duration)})",
    )
    le.add_argument(
        "--leader-elect-renew-deadline",
        type=positive_duration,
        default=d.renew_deadline,
        metavar="DURATION",
        help="the leader steps down if it cannot renew for this long "
        f"(default: {format_duration(d.renew_deadline)})",
    )
    le.add_argument(
        "--leader-elect-retry-period",
        type=positive_duration,
        default=d.retry_period,
        metavar="DURATION",
        help=f"how often to try to acquire or renew (default: {format_duration(d.retry_period)})",
    )
    le.add_argument(
        "--leader-elect-resource-name",
        default=d.lease_name,
        metavar="NAME",
        help=f"name of the Lease (default: {d.lease_name})",
    )
    le.add_argument(
        "--leader-elect-namespace",
        "--leader-elect-resource-namespace",
        dest="leader_elect_namespace",
        default=d.lease_namespace,
        metavar="NAMESPACE",
        help=f"namespace of the Lease (default: {d.lease_namespace})",
    )
    obs = parser.add_argument_group("observability")
    obs.add_argument(
        "--metrics-bind-address",
        type=_bind,
        default=d.metrics_bind_address,
        metavar="ADDR",
        help="where /metrics (Prometheus text format) is served; 0 disables "
        f"(default: {d.metrics_bind_address})",
    )
    obs.add_argument(
        "--health-probe-bind-address",
        type=_bind,
        default=d.health_probe_bind_address,
        metavar="ADDR",
        help="where /healthz and /readyz are served; 0 disables "
        f"(default: {d.health_probe_bind_address})",
    )
    obs.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=d.log_format,
        help="text (key=value) or json, one object per line (default: text)",
    )
    obs.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default=d.log_level,
        help="(default: info)",
    )


def from_args(args: argparse.Namespace) -> Options:
    return Options(
        provider=args.provider,
        cluster_id=args.cluster_id,
        cloud_config=args.cloud_config,
        load_balancer_class=args.load_balancer_class,
        workers=args.workers,
        batch_size=args.batch_size,
        resync_period=args.resync_period,
        kubeconfig=args.kubeconfig,
        context=args.context,
        leader_elect=args.leader_elect,
        lease_duration=args.leader_elect_lease_duration,
        renew_deadline=args.leader_elect_renew_deadline,
        retry_period=args.leader_elect_retry_period,
        lease_name=args.leader_elect_resource_name,
        lease_namespace=args.leader_elect_namespace,
        metrics_bind_address=args.metrics_bind_address,
        health_probe_bind_address=args.health_probe_bind_address,
        log_format=args.log_format,
        log_level=args.log_level,
    )
