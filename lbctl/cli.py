"""The lbctl command line: plan, apply, delete, annotations, sandbox, version.

Exit codes: 0 done; 1 any error (invalid input, usage, plan error, failed apply); 2 only
with --detailed-exitcode when a plan has changes. With `-o json` the document always goes
to standard output, errors included; human messages go to standard error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TextIO

from lbctl import flow, manifests, render
from lbctl.errors import FieldError, InvalidInput, LbctlError
from lbctl.model import NodeView
from lbctl.plan import ServicePlan
from lbctl.provider import Provider, ProviderConfig, available, load_provider

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


def _common(parser: argparse.ArgumentParser, *, nodes: bool = True) -> None:
    parser.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="FILE",
        help="Service manifests: YAML/JSON files, directories, or - for stdin",
    )
    parser.add_argument(
        "--nodes",
        metavar="FILE",
        help=(
            "a v1 Node List (default: nodes of the current kube context)"
            if nodes
            else "accepted for symmetry; deletion needs no nodes"
        ),
    )
    parser.add_argument("--provider", default="aws", help="cloud provider (default: aws)")
    parser.add_argument("--cluster-id", default="", help="this cluster's id (ownership tags)")
    parser.add_argument("--cloud-config", type=Path, help="the provider's upstream config file")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    parser.add_argument(
        "--offline", action="store_true", help="plan against an empty cloud; no credentials needed"
    )
    parser.add_argument(
        "--stats",
        action="store_true",
        help="print the cloud calls made, by operation, to standard error",
    )
    parser.add_argument(
        "--load-balancer-class",
        default=None,
        help="only Services of this loadBalancerClass (default: class unset)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lbctl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="show what apply would change; changes nothing")
    _common(p)
    p.add_argument(
        "--detailed-exitcode", action="store_true", help="exit 2 when the plan has changes"
    )
    _common(sub.add_parser("apply", help="carry out the plan once"))
    _common(sub.add_parser("delete", help="delete every resource the Services own"), nodes=False)
    a = sub.add_parser("annotations", help="list the annotations a provider understands")
    a.add_argument("--provider", default=None)
    a.add_argument("--markdown", action="store_true")
    s = sub.add_parser("sandbox", help="run the local cloud stand-ins in the foreground")
    s.add_argument("--dir", type=Path, default=Path(".lbctl-sandbox"))
    s.add_argument("--port", type=int, default=5000)
    s.add_argument("--cluster-id", default="sandbox")
    sub.add_parser("version", help="print the version")
    r = sub.add_parser(
        "run",
        help="run the controller: watch Services and Nodes, keep their balancers in sync",
        description="Run the in-cluster controller: watch Services and Nodes and keep every "
        "type LoadBalancer Service's balancer in sync (finalizer, status, Events).",
    )
    from lbctl.controller.options import add_arguments as _run_arguments

    _run_arguments(r)
    return parser


def _config(args: argparse.Namespace) -> ProviderConfig:
    return ProviderConfig(
        cluster_id=args.cluster_id, cloud_config=args.cloud_config, offline=args.offline
    )


def _stats(provider: Provider, err: TextIO) -> None:
    reads, writes = provider.counter.totals()
    err.write(f"cloud calls: {reads} reads, {writes} writes\n")
    for operation, count in provider.counter.by_operation().items():
        err.write(f"  {operation} {count}\n")


def _nodes(args: argparse.Namespace) -> list[NodeView]:
    if getattr(args, "nodes", None):
        return manifests.nodes(manifests.load_objects([args.nodes]))
    if args.command == "delete":
        return []
    if args.offline:
        return []
    return manifests.nodes_from_cluster()


def _emit(
    plans: Sequence[ServicePlan], args: argparse.Namespace, out: TextIO, *, applied: bool
) -> None:
    if args.output == "json":
        out.write(render.render_json(plans))
    elif applied:
        out.write(render.render_text(plans, colour=out.isatty()))
        if not any(p.errors for p in plans):
            out.write(render.render_applied(plans))
    else:
        out.write(render.render_text(plans, colour=out.isatty()))


def run_flow(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    provider = load_provider(args.provider, _config(args))
    views = manifests.services(manifests.load_objects(args.filename))
    if not views:
        raise InvalidInput([])  # handled by caller as "no Services"
    deleting = args.command == "delete"
    planned = flow.plan_services(
        provider,
        views,
        _nodes(args),
        deleting=deleting,
        load_balancer_class=args.load_balancer_class,
    )
    if args.command != "plan" and not planned.has_errors:
        flow.apply_plans(provider, planned)
    _emit(planned.plans, args, out, applied=args.command != "plan")
    if args.stats:
        _stats(provider, err)
    for plan in planned.plans:
        for warning in plan.warnings:
            err.write(f"warning: {plan.service}: {warning}\n")
        for e in plan.errors:
            err.write(f"error: {plan.service}: {e}\n")
    if planned.has_errors:
        return EXIT_ERROR
    if args.command == "plan" and args.detailed_exitcode and planned.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def _annotations(args: argparse.Namespace, out: TextIO) -> int:
    names = [args.provider] if args.provider else available()
    for name in names:
        provider = load_provider(name, ProviderConfig(cluster_id="", offline=True))
        if args.markdown:
            out.write(provider.annotations.markdown())
            continue
        for ann in provider.annotations.annotations:
            default = ann.describe_default()
            out.write(
                f"{ann.key}\n    {ann.applies_to}; default {default or '(none)'}\n    {ann.doc}\n"
            )
    return EXIT_OK


def _sandbox(args: argparse.Namespace) -> int:
    from lbctl.sandbox import run_sandbox

    return run_sandbox(directory=args.dir, port=args.port, cluster_id=args.cluster_id)


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        if args.command == "version":
            out.write(f"lbctl {metadata.version('lbctl')}\n")
            return EXIT_OK
        if args.command == "annotations":
            return _annotations(args, out)
        if args.command == "sandbox":
            return _sandbox(args)
        if args.command == "run":
            from lbctl.controller import main as run_controller

            return run_controller(args)
        return run_flow(args, out, err)
    except InvalidInput as e:
        errors = e.errors or [FieldError("no Service found in the given files", field="-f")]
        for fe in errors:
            err.write(f"error: {fe}\n")
        if getattr(args, "output", "text") == "json":
            # The document always goes to standard output, even when no plan could be made.
            document = render.to_document([])
            document["errors"] = [fe.to_dict() for fe in errors]
            out.write(json.dumps(document, indent=2) + "\n")
        return EXIT_ERROR
    except LbctlError as e:
        err.write(f"error: {e}\n")
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
