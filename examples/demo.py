"""The lbctl demo (`make demo`): the examples, planned, applied and deleted on a local AWS.

1. starts a moto server in this process and seeds it like a Kubernetes cluster on AWS
   (VPC, tagged subnets, node instances, a self-signed ACM certificate);
2. copies examples/*.yaml into a scratch directory, with the SSL example's placeholder
   certificate ARN replaced by the one the sandbox imported;
3. runs the real CLI against it: `lbctl plan`, `lbctl apply --stats`, a second
   `lbctl plan --detailed-exitcode` that must find no changes, and `lbctl delete`;
4. checks with boto3 that no ELB, NLB, target group or security group rule is left;
5. then runs the controller for real: starts the sandbox Kubernetes API (with the seeded
   Nodes) and `lbctl run` against it, creates the example Services with the kubernetes
   client, prints each Service with its ingress and Events once reconciled, deletes one
   and shows its balancer gone, deletes the rest, and stops the controller with SIGTERM.

Exits 1 if any step does not give the expected result. Needs no AWS account and no network.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from lbctl.sandbox.aws import (
    CERTIFICATE_ARN_FILE,
    SeededCluster,
    boto_client,
    sandbox_environment,
    seed_cluster,
    start_moto,
    write_sandbox_files,
)

EXAMPLES = Path(__file__).resolve().parent
PLACEHOLDER_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/REPLACE-ME"
CLUSTER_ID = "demo"
REGION = "us-east-1"
STEP_TIMEOUT = 120  # seconds; the whole demo takes a fraction of this


class DemoFailed(Exception):
    pass


def lbctl_program() -> list[str]:
    """The installed `lbctl` script beside this interpreter, else on PATH, else the module."""
    beside = Path(sys.executable).with_name("lbctl")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("lbctl")
    return [found] if found else [sys.executable, "-m", "lbctl.cli"]


def section(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(3, 74 - len(title)), flush=True)


def indent(text: str, prefix: str = "  ") -> str:
    return "".join(prefix + line for line in text.splitlines(keepends=True))


def run_lbctl(
    args: Sequence[str], *, cwd: Path, expect: int = 0, show_stdout: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `lbctl ARGS` in cwd, echo the command and its output; check the exit code."""
    print(f"$ lbctl {shlex.join(args)}", flush=True)
    started = time.monotonic()
    done = subprocess.run(
        [*lbctl_program(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    if show_stdout and done.stdout:
        print(indent(done.stdout), end="")
    if done.stderr:
        print(indent(done.stderr, "  stderr| "), end="")
    print(f"(exit code {done.returncode}, {time.monotonic() - started:.1f} s)", flush=True)
    if done.returncode != expect:
        raise DemoFailed(f"lbctl {args[0]} exited {done.returncode}, expected {expect}")
    return done


def start_sandbox(workdir: Path) -> tuple[Any, SeededCluster]:
    server = start_moto(minimal_amis=True)
    cluster = seed_cluster(server.endpoint, region=REGION, cluster_id=CLUSTER_ID)
    write_sandbox_files(workdir / "sandbox", cluster)
    os.environ.update(sandbox_environment(server.endpoint, REGION))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):  # keep a real AWS config out of it
        os.environ.pop(name, None)
    print(f"moto server       {server.endpoint}  (AWS_ENDPOINT_URL)")
    print(f"cluster id        {cluster.cluster_id}")
    print(f"VPC               {cluster.vpc_id}")
    print(f"public subnets    {', '.join(sorted(cluster.public_subnets.values()))}")
    print(f"private subnets   {', '.join(sorted(cluster.private_subnets.values()))}")
    print(f"node SG           {cluster.node_security_group_id}")
    print(f"node instances    {', '.join(i.instance_id for i in cluster.instances)}")
    print(f"ACM certificate   {cluster.certificate_arn}")
    print("wrote sandbox/nodes.yaml, sandbox/cloud-config, sandbox/" + CERTIFICATE_ARN_FILE)
    return server, cluster


def copy_examples(workdir: Path) -> Path:
    arn = (workdir / "sandbox" / CERTIFICATE_ARN_FILE).read_text(encoding="utf-8").strip()
    target = workdir / "examples"
    target.mkdir()
    for source in sorted(EXAMPLES.glob("*.yaml")):
        text = source.read_text(encoding="utf-8")
        note = ""
        if PLACEHOLDER_ARN in text:
            text = text.replace(PLACEHOLDER_ARN, arn)
            note = "  (certificate ARN filled in from sandbox/certificate-arn)"
        (target / source.name).write_text(text, encoding="utf-8")
        print(f"examples/{source.name}{note}")
    return target


def count_leftovers(cluster: SeededCluster, endpoint: str) -> dict[str, int]:
    elb = boto_client("elb", endpoint, REGION)
    ec2 = boto_client("ec2", endpoint, REGION)
    balancers = elb.describe_load_balancers()["LoadBalancerDescriptions"]
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [cluster.vpc_id]}])[
        "SecurityGroups"
    ]
    elb_groups = {g["GroupId"] for g in groups if g["GroupName"].startswith("k8s-elb-")}
    (node_group,) = ec2.describe_security_groups(GroupIds=[cluster.node_security_group_id])[
        "SecurityGroups"
    ]
    # The seeded node SG has no rule of its own: every group-to-group rule is a balancer's.
    node_rules = [
        pair
        for perm in node_group.get("IpPermissions", [])
        for pair in perm.get("UserIdGroupPairs", [])
    ]
    elbv2 = boto_client("elbv2", endpoint, REGION)
    nlbs = elbv2.describe_load_balancers()["LoadBalancers"]
    target_groups = elbv2.describe_target_groups()["TargetGroups"]
    nlb_rules = [
        r
        for perm in node_group.get("IpPermissions", [])
        for r in perm.get("IpRanges", [])
        if "kubernetes.io/rule/nlb" in r.get("Description", "")
    ]
    return {
        "classic ELBs": len(balancers),
        "k8s-elb-* security groups": len(elb_groups),
        "node SG rules from a balancer SG": len(node_rules),
        "NLBs": len(nlbs),
        "target groups": len(target_groups),
        "node SG rules for NLB clients": len(nlb_rules),
    }


def print_counts(counts: dict[str, int]) -> None:
    for what, n in counts.items():
        print(f"  {what:<34} {n}")


def demo(workdir: Path) -> None:
    section("1. Start a seeded AWS sandbox (moto, in this process)")
    server, cluster = start_sandbox(workdir)
    try:
        section("2. The examples (copied to a scratch directory)")
        copy_examples(workdir)
        print(f"(scratch directory: {workdir}; the commands below run there)")
        common = [
            "-f",
            "examples/",
            "--nodes",
            "sandbox/nodes.yaml",
            "--cloud-config",
            "sandbox/cloud-config",
            "--cluster-id",
            CLUSTER_ID,
        ]

        section("3. Plan: what apply would do (reads the cloud, changes nothing)")
        run_lbctl(["plan", *common], cwd=workdir)

        section("4. Apply, with the cloud calls it made (--stats)")
        applied = run_lbctl(
            ["apply", *common, "-o", "json", "--stats"], cwd=workdir, show_stdout=False
        )
        document = json.loads(applied.stdout)
        print("  the -o json document, summarised:")
        for plan in document["plans"]:
            hosts = ", ".join(i.get("hostname") or i.get("ip", "") for i in plan["ingress"])
            print(f"  {plan['service']:<36} {len(plan['changes'])} changes  ingress: {hosts}")
            if plan["errors"] or not plan["ingress"]:
                raise DemoFailed(f"{plan['service']}: no ingress after apply: {plan['errors']}")
        print("in the cloud now:")
        print_counts(count_leftovers(cluster, server.endpoint))

        section("5. Plan again: the cloud matches the Services")
        again = run_lbctl(["plan", *common, "--detailed-exitcode"], cwd=workdir, expect=0)
        if "No changes. Your load balancers match the Services." not in again.stdout:
            raise DemoFailed("the second plan is not empty")

        section("6. Delete everything the Services own")
        run_lbctl(
            [
                "delete",
                "-f",
                "examples/",
                "--cloud-config",
                "sandbox/cloud-config",
                "--cluster-id",
                CLUSTER_ID,
            ],
            cwd=workdir,
        )

        section("7. Check with boto3 that nothing is left")
        left = count_leftovers(cluster, server.endpoint)
        print_counts(left)
        if any(left.values()):
            raise DemoFailed(f"resources left after delete: {left}")

        controller_demo(workdir, cluster, server.endpoint)
    finally:
        server.stop()
    gce_demo(workdir)


# --- GCE: the same flow on the Compute API sandbox --------------------------------------

GCE_KINDS = {
    "forwarding rules": ("ForwardingRulesClient", "region"),
    "target pools": ("TargetPoolsClient", "region"),
    "backend services": ("RegionBackendServicesClient", "region"),
    "regional health checks": ("RegionHealthChecksClient", "region"),
    "addresses": ("AddressesClient", "region"),
    "firewalls": ("FirewallsClient", "global"),
}


def gce_counts(server: Any, seeded: Any) -> dict[str, int]:
    from lbctl.sandbox.gce import compute_client

    counts = {}
    for what, (client_name, scope) in GCE_KINDS.items():
        client = compute_client(client_name, server)
        kwargs = {"project": seeded.project}
        if scope == "region":
            kwargs["region"] = seeded.region
        counts[what] = sum(1 for _ in client.list(**kwargs))
    return counts


def gce_demo(workdir: Path) -> None:
    from lbctl.sandbox.gce import gce_environment, seed_gce, start_gce, write_gce_files

    section("13. GCE: the same flow on the Compute API sandbox (--provider gce)")
    server = start_gce()
    try:
        seeded = seed_gce(server, cluster_id=CLUSTER_ID)
        write_gce_files(workdir / "gce", seeded)
        os.environ.update(gce_environment(server, project=seeded.project))
        for source in sorted(EXAMPLES.glob("gce-*.yaml")):
            shutil.copy(source, workdir / "gce" / source.name)
        common = [
            "-f",
            "gce/",
            "--provider",
            "gce",
            "--nodes",
            "gce/nodes.yaml",
            "--cloud-config",
            "gce/gce.conf",
            "--cluster-id",
            CLUSTER_ID,
        ]
        applied = run_lbctl(
            ["apply", *common, "-o", "json", "--stats"], cwd=workdir, show_stdout=False
        )
        for plan in json.loads(applied.stdout)["plans"]:
            ips = ", ".join(i.get("ip") or i.get("hostname", "") for i in plan["ingress"])
            print(f"  {plan['service']:<36} {len(plan['changes'])} changes  ingress: {ips}")
            if plan["errors"] or not plan["ingress"]:
                raise DemoFailed(f"{plan['service']}: no ingress after apply: {plan['errors']}")
        run_lbctl(["plan", *common, "--detailed-exitcode"], cwd=workdir, expect=0)
        run_lbctl(["delete", *common], cwd=workdir)
        left = gce_counts(server, seeded)
        print_counts(left)
        if any(left.values()):
            raise DemoFailed(f"GCE resources left after delete: {left}")
    finally:
        server.stop()


# --- the controller: `lbctl run` against the sandbox Kubernetes API ----------------------

CONTROLLER_EXAMPLES = "[0-9][0-9]-*.yaml"  # the AWS examples (not gce-*)
RECONCILE_TIMEOUT = 40  # seconds for every example Service to get its ingress


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return 0


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise DemoFailed(f"timed out after {timeout} s waiting for {what}")


def example_services(workdir: Path) -> list[dict[str, Any]]:
    """The example Services as a user would create them: without the values the API server
    assigns (uid, resourceVersion, status); their fixed nodePorts are kept."""
    out = []
    for path in sorted((workdir / "examples").glob(CONTROLLER_EXAMPLES)):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not doc or doc.get("kind") != "Service":
                continue
            for key in ("uid", "resourceVersion", "creationTimestamp"):
                doc["metadata"].pop(key, None)
            doc.pop("status", None)
            out.append(doc)
    return out


def service_events(core: Any, namespace: str, name: str) -> list[tuple[str, str, str]]:
    items = core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}"
    ).items
    items.sort(key=lambda e: int(e.metadata.resource_version))
    return [(e.type, e.reason, e.message) for e in items]


def ingress_of(core: Any, namespace: str, name: str) -> str:
    svc = core.read_namespaced_service(name, namespace)
    ingress = (svc.status.load_balancer.ingress or []) if svc.status.load_balancer else []
    return ", ".join(i.hostname or i.ip or "" for i in ingress)


def gone(core: Any, namespace: str, name: str) -> bool:
    from kubernetes.client.exceptions import ApiException

    try:
        core.read_namespaced_service(name, namespace)
    except ApiException as e:
        return bool(e.status == 404)
    return False


def controller_demo(workdir: Path, cluster: SeededCluster, endpoint: str) -> None:
    from kubernetes import client, config

    from lbctl.sandbox.kube import KubeAPIServer

    section("8. Start the sandbox Kubernetes API and the controller (lbctl run)")
    kube = KubeAPIServer().start()
    process: subprocess.Popen[bytes] | None = None
    log_path = workdir / "lbctl-run.log"
    try:
        kubeconfig = kube.write_kubeconfig(workdir / "sandbox" / "kubeconfig")
        for node in cluster.nodes:
            kube.create(node)
        print(f"Kubernetes API    {kube.url}  ({len(cluster.nodes)} Nodes; sandbox/kubeconfig)")
        health, metrics = free_port(), free_port()
        args = [
            "run",
            "--kubeconfig=sandbox/kubeconfig",
            "--cloud-config=sandbox/cloud-config",
            f"--cluster-id={CLUSTER_ID}",
            "--workers=4",
            "--leader-elect",
            f"--metrics-bind-address=127.0.0.1:{metrics}",
            f"--health-probe-bind-address=127.0.0.1:{health}",
        ]
        print(f"$ lbctl {shlex.join(args)} 2> lbctl-run.log &", flush=True)
        with log_path.open("w", encoding="utf-8") as log:
            process = subprocess.Popen(
                [*lbctl_program(), *args], cwd=workdir, stdout=log, stderr=log
            )
        wait_until(
            lambda: http_status(f"http://127.0.0.1:{health}/readyz") == 200,
            30,
            "the controller to be ready (/readyz)",
        )
        print(f"ready: /readyz answers 200 on :{health}; metrics on :{metrics}/metrics")

        section("9. Create the example Services with the kubernetes client")
        core = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
        services = example_services(workdir)
        names = []
        for body in services:
            namespace = body["metadata"].get("namespace", "default")
            core.create_namespaced_service(namespace, body)
            names.append((namespace, body["metadata"]["name"]))
            print(f"created {namespace}/{body['metadata']['name']}")

        section("10. The controller reconciles them: each Service's ingress and Events")
        wait_until(
            lambda: all(ingress_of(core, ns, name) for ns, name in names),
            RECONCILE_TIMEOUT,
            "every example Service to get an ingress",
        )
        for ns, name in names:
            print(f"{ns}/{name}")
            print(f"  ingress: {ingress_of(core, ns, name)}")
            for kind, reason, message in service_events(core, ns, name):
                print(f"  {kind:<8} {reason:<22} {message}")

        section("11. Delete my-service: its balancer goes, then the Service")
        target = core.read_namespaced_service("my-service", "default")
        lb = ("a" + target.metadata.uid.replace("-", ""))[:32]
        elb = boto_client("elb", endpoint, REGION)

        def balancer_names() -> list[str]:
            found = elb.describe_load_balancers()["LoadBalancerDescriptions"]
            return [str(d["LoadBalancerName"]) for d in found]

        print(f"classic ELB {lb} exists: {lb in balancer_names()}")
        print("$ kubectl delete service my-service")
        core.delete_namespaced_service("my-service", "default")
        wait_until(lambda: gone(core, "default", "my-service"), 20, "my-service to be deleted")
        if lb in balancer_names():
            raise DemoFailed(f"balancer {lb} is still there after the Service went")
        print(f"classic ELB {lb} exists: False; Service default/my-service: gone")
        for kind, reason, message in service_events(core, "default", "my-service")[-2:]:
            print(f"  {kind:<8} {reason:<22} {message}")

        section("12. Delete the rest, then stop the controller (SIGTERM)")
        for ns, name in names:
            if name != "my-service":
                core.delete_namespaced_service(name, ns)
        wait_until(
            lambda: all(gone(core, ns, name) for ns, name in names), 30, "every Service deleted"
        )
        left = count_leftovers(cluster, endpoint)
        print_counts(left)
        if any(left.values()):
            raise DemoFailed(f"resources left after the Services were deleted: {left}")
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=2) as r:
            text = r.read().decode()
        print("from /metrics:")
        for line in text.splitlines():
            if line.startswith(("lbctl_reconcile_total", "lbctl_leader")):
                print(f"  {line}")
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        process = None
        print("the controller's log (one line per reconcile):")
        for line in log_path.read_text(encoding="utf-8").splitlines():
            if " reconciled " in line or " lease" in line or " stopped " in line:
                print(f"  {line[:160]}")
        print(f"lbctl run exited {code}")
        if code != 0:
            raise DemoFailed(f"lbctl run exited {code} on SIGTERM")
    except BaseException:
        if log_path.exists():
            print(indent(log_path.read_text(encoding="utf-8")[-4000:], "  log| "))
        raise
    finally:
        if process is not None:
            process.kill()
            process.wait()
        kube.stop()


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lbctl-demo-") as scratch:
        try:
            demo(Path(scratch))
        except (DemoFailed, subprocess.TimeoutExpired) as e:
            print(f"\nDEMO FAILED: {e}", file=sys.stderr)
            return 1
    print(f"\nDemo passed in {time.monotonic() - started:.1f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
