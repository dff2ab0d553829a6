"""localstack/: the compose file, its seeding hook and the endpoint switch of the test suite.

No Docker engine is needed: the compose file is checked as YAML, the hook and the seeding
command run against a moto server, and LocalStack's own HTTP endpoints (health, state
reset) are stood in for by a small local server. What only a real LocalStack can show is
listed in localstack/README.md.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbctl.sandbox.aws import (
    ENDPOINT_VARIABLE,
    MotoServer,
    SeededCluster,
    boto_client,
    seed_cluster,
    start_moto,
)
from lbctl.sandbox.aws_external import (
    check_services,
    connect,
    endpoint_kind,
    find_cluster,
    main,
    wipe_region,
)

ROOT = Path(__file__).resolve().parents[2]
LOCALSTACK = ROOT / "localstack"
COMPOSE = LOCALSTACK / "compose.yaml"
HOOK = LOCALSTACK / "init" / "ready.d" / "10-seed-lbctl-sandbox.sh"
RUNNER = LOCALSTACK / "test.sh"


def _service() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    service: dict[str, Any] = document["services"]["localstack"]
    return service


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path -> host path (relative to the compose file)."""
    mounts = {}
    for volume in service["volumes"]:
        host, container, *_ = volume.split(":")
        mounts[container] = host
    return mounts


def _hook_default(name: str) -> str:
    match = re.search(rf"\${{{name}:-([^}}]+)}}", HOOK.read_text(encoding="utf-8"))
    assert match, name
    return match.group(1)


# --- the files ---


def test_compose_runs_localstack_pro_with_the_token_from_the_environment() -> None:
    service = _service()
    assert "localstack/localstack-pro" in service["image"]
    environment = service["environment"]
    # Compose refuses to start (with this message) when the token is unset or empty.
    assert environment["LOCALSTACK_AUTH_TOKEN"].startswith("${LOCALSTACK_AUTH_TOKEN:?")
    assert "licence includes ELB" in environment["LOCALSTACK_AUTH_TOKEN"]
    services = set(environment["SERVICES"].split(","))
    assert {"ec2", "elb", "elbv2", "acm", "sts", "resourcegroupstaggingapi"} <= services
    assert environment["EC2_VM_MANAGER"] == "mock"
    assert any(port.endswith(":4566") for port in service["ports"])


def test_compose_health_waits_for_the_ready_hooks() -> None:
    healthcheck = _service()["healthcheck"]
    command = " ".join(healthcheck["test"])
    assert "http://localhost:4566/_localstack/init/ready" in command
    assert "completed" in command
    assert healthcheck["retries"] * int(healthcheck["interval"].rstrip("s")) >= 120


def test_compose_mounts_the_hook_and_the_seeding_code_the_hook_runs() -> None:
    mounts = _mounts(_service())
    hooks = mounts["/etc/localstack/init/ready.d"]
    assert (COMPOSE.parent / hooks).resolve() == HOOK.parent
    # The hook imports lbctl from its default source directory, which is where the
    # repository's own lbctl package is mounted: one seeding implementation, not a copy.
    source = _hook_default("LBCTL_SEED_SOURCE")
    assert (COMPOSE.parent / mounts[f"{source}/lbctl"]).resolve() == ROOT / "lbctl"
    assert _hook_default("LBCTL_SEED_ENDPOINT") == "http://localhost:4566"


def test_hook_and_runner_are_executable_bash_that_run_the_shared_seeding() -> None:
    for script in (HOOK, RUNNER):
        assert script.stat().st_mode & stat.S_IXUSR, script
        assert script.read_text(encoding="utf-8").startswith("#!")
        subprocess.run(["bash", "-n", str(script)], check=True)
    hook = HOOK.read_text(encoding="utf-8")
    assert "-m lbctl.sandbox.aws_external seed" in hook and "--if-missing" in hook
    runner = RUNNER.read_text(encoding="utf-8")
    assert "compose.yaml" in runner and "up --detach --wait" in runner
    assert f'{ENDPOINT_VARIABLE}="$endpoint"' in runner and "-n 0 tests/aws" in runner


def test_make_target_runs_the_runner() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^test-localstack: .*\n\t.*localstack/test\.sh", makefile, re.M)


def test_readme_says_what_it_needs() -> None:
    readme = (LOCALSTACK / "README.md").read_text(encoding="utf-8")
    for words in ("Docker engine", "LOCALSTACK_AUTH_TOKEN", "ELB", "moto", ENDPOINT_VARIABLE):
        assert words in readme


@pytest.mark.parametrize(
    ("docker", "message"),
    [
        (None, "docker not found"),
        ("exit 0", "LOCALSTACK_AUTH_TOKEN is not set"),
        ('[ "$1" = compose ] && exit 1; exit 0', "`docker compose` is not available"),
    ],
)
def test_runner_stops_with_a_clear_message(
    tmp_path: Path, docker: str | None, message: str
) -> None:
    if docker is not None:
        fake = tmp_path / "docker"
        fake.write_text(f"#!/bin/sh\n{docker}\n", encoding="utf-8")
        fake.chmod(0o755)
    result = subprocess.run(
        ["/bin/bash", str(RUNNER)],
        env={"PATH": str(tmp_path)},  # nothing else: no real docker, no token
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert message in result.stderr


# --- seeding any endpoint ---


def test_hook_seeds_the_sandbox_network(moto_server: MotoServer) -> None:
    """The hook script itself, against moto (its ``--if-missing`` is tested on ``main``)."""
    moto_server.reset()
    env = {
        **os.environ,
        "LBCTL_SEED_ENDPOINT": moto_server.endpoint,
        "LBCTL_SEED_SOURCE": str(ROOT),
        "LBCTL_SEED_PYTHON": sys.executable,
    }
    result = subprocess.run([str(HOOK)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "seeded at" in result.stderr
    cluster = find_cluster(moto_server.endpoint)
    assert cluster is not None
    assert (
        sorted(cluster.public_subnets)
        == sorted(cluster.private_subnets)
        == [
            "us-east-1a",
            "us-east-1b",
        ]
    )
    assert len(cluster.instances) == 3 and cluster.node_security_group_id
    assert cluster.internet_gateway_id and cluster.certificate_arn


def test_find_cluster_reads_back_what_seed_cluster_made(
    aws_cluster: SeededCluster, moto_server: MotoServer
) -> None:
    assert find_cluster(moto_server.endpoint) == aws_cluster
    assert find_cluster(moto_server.endpoint, cluster_id="other") is None
    assert find_cluster(moto_server.endpoint, region="eu-west-1") is None


def test_seed_command_writes_the_sandbox_files(moto_server: MotoServer, tmp_path: Path) -> None:
    moto_server.reset()
    out = tmp_path / "sandbox"
    argv = ["seed", "--endpoint", moto_server.endpoint, "--nodes", "2", "--out", str(out)]
    assert main(argv) == 0
    cluster = find_cluster(moto_server.endpoint)
    assert cluster is not None and len(cluster.instances) == 2
    assert f"VPC = {cluster.vpc_id}" in (out / "cloud-config").read_text(encoding="utf-8")
    nodes = yaml.safe_load((out / "nodes.yaml").read_text(encoding="utf-8"))["items"]
    assert [node["metadata"]["name"] for node in nodes] == [
        instance.private_dns_name for instance in cluster.instances
    ]
    assert (out / "certificate-arn").read_text(encoding="utf-8").strip() == (
        cluster.certificate_arn
    )
    # --if-missing keeps it (and writes the same files again): still one sandbox VPC.
    assert main([*argv, "--if-missing"]) == 0
    assert find_cluster(moto_server.endpoint) == cluster
    vpcs = boto_client("ec2", moto_server.endpoint, "us-east-1").describe_vpcs(
        Filters=[{"Name": "tag:Name", "Values": ["lbctl-sandbox"]}]
    )["Vpcs"]
    assert [vpc["VpcId"] for vpc in vpcs] == [cluster.vpc_id]


def test_seed_command_needs_an_endpoint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(ENDPOINT_VARIABLE, raising=False)
    with pytest.raises(SystemExit):
        main(["seed"])
    assert ENDPOINT_VARIABLE in capsys.readouterr().err


def test_seed_command_reports_an_unreachable_endpoint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["reset", "--endpoint", f"http://127.0.0.1:{_free_port()}"]) == 1
    assert "no AWS endpoint answers" in capsys.readouterr().err


def test_check_passes_on_moto(moto_server: MotoServer) -> None:
    assert check_services(moto_server.endpoint) == []
    assert main(["check", "--endpoint", moto_server.endpoint]) == 0


# --- emulators started elsewhere: kinds and resets ---


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _FakeLocalStack:
    """LocalStack's internal endpoints as far as lbctl uses them; AWS calls answer 501."""

    def __init__(self, reset_status: int = 200) -> None:
        self.resets = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/_localstack/health":
                    services = {"ec2": "running", "elb": "available"}
                    body = json.dumps({"services": services, "edition": "pro"}).encode()
                    self._answer(200, body, "application/json")
                else:
                    self._answer(404, b"", "text/plain")

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/_localstack/state/reset":
                    fake.resets += 1
                    self._answer(reset_status, b"", "text/plain")
                    return
                # What the community edition says about ELB, measured (issue 5).
                message = b"API for service 'elb' not included in your current license plan"
                body = (
                    b"<ErrorResponse><Error><Type>Sender</Type><Code>InternalFailure</Code>"
                    b"<Message>" + message + b"</Message></Error></ErrorResponse>"
                )
                self._answer(501, body, "text/xml")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> _FakeLocalStack:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_localstack_is_recognised_and_reset_through_its_state_endpoint() -> None:
    with _FakeLocalStack() as fake:
        assert endpoint_kind(fake.url) == "localstack"
        endpoint = connect(fake.url + "/")
        assert (endpoint.kind, endpoint.endpoint) == ("localstack", fake.url)
        endpoint.reset()
        endpoint.reset()
        endpoint.stop()  # leaves it running: it is not ours
        assert fake.resets == 2
        assert endpoint_kind(fake.url) == "localstack"


def test_localstack_without_a_state_reset_falls_back_to_deleting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with _FakeLocalStack(reset_status=404) as fake:
        endpoint = connect(fake.url, regions=())  # no regions: the deleting is a no-op
        endpoint.reset()
        assert fake.resets == 1
        assert "deleting resources instead" in caplog.text


def test_check_reports_the_licence_error() -> None:
    with _FakeLocalStack() as fake:
        problems = check_services(fake.url)
    assert len(problems) == 4
    assert all("HTTP 501" in problem for problem in problems)
    assert any(p.startswith("ELB (classic)") and "license plan" in p for p in problems)


def test_moto_is_recognised_and_nothing_else_is() -> None:
    server = start_moto()
    try:
        assert endpoint_kind(server.endpoint) == "moto"
        assert connect(server.endpoint).kind == "moto"
    finally:
        server.stop()
    with pytest.raises(ConnectionError, match="no AWS endpoint answers"):
        endpoint_kind(server.endpoint)
    with pytest.raises(ValueError):
        connect(server.endpoint, kind="azure")


def _region_state(endpoint: str, region: str) -> dict[str, Any]:
    ec2 = boto_client("ec2", endpoint, region)
    live = [{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    return {
        "vpcs": sorted(vpc["VpcId"] for vpc in ec2.describe_vpcs()["Vpcs"]),
        "subnets": sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]),
        "groups": sorted(g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]),
        "tables": len(ec2.describe_route_tables()["RouteTables"]),
        "gateways": len(ec2.describe_internet_gateways()["InternetGateways"]),
        "interfaces": len(ec2.describe_network_interfaces()["NetworkInterfaces"]),
        "instances": sum(
            len(r["Instances"]) for r in ec2.describe_instances(Filters=live)["Reservations"]
        ),
        "elb": boto_client("elb", endpoint, region).describe_load_balancers()[
            "LoadBalancerDescriptions"
        ],
        "elbv2": boto_client("elbv2", endpoint, region).describe_load_balancers()["LoadBalancers"],
        "target_groups": boto_client("elbv2", endpoint, region).describe_target_groups()[
            "TargetGroups"
        ],
        "certificates": boto_client("acm", endpoint, region).list_certificates()[
            "CertificateSummaryList"
        ],
    }


def test_wipe_region_leaves_a_region_as_fresh(moto_server: MotoServer) -> None:
    """The reset for emulators without one: everything the suite makes is deleted."""
    moto_server.reset()
    endpoint, region = moto_server.endpoint, "us-east-1"
    fresh = _region_state(endpoint, region)
    cluster = seed_cluster(endpoint, region=region)
    ec2 = boto_client("ec2", endpoint, region)
    group = ec2.create_security_group(GroupName="elb", Description="x", VpcId=cluster.vpc_id)
    # A rule naming another group: that group cannot go before the rule does.
    ec2.authorize_security_group_ingress(
        GroupId=cluster.node_security_group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 30000,
                "ToPort": 32767,
                "UserIdGroupPairs": [{"GroupId": group["GroupId"]}],
            }
        ],
    )
    subnets = list(cluster.public_subnets.values())
    boto_client("elb", endpoint, region).create_load_balancer(
        LoadBalancerName="classic",
        Listeners=[{"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": 30080}],
        Subnets=subnets,
        SecurityGroups=[group["GroupId"]],
    )
    elbv2 = boto_client("elbv2", endpoint, region)
    nlb = elbv2.create_load_balancer(Name="nlb", Type="network", Subnets=subnets)
    target_group = elbv2.create_target_group(
        Name="tg", Protocol="TCP", Port=30080, VpcId=cluster.vpc_id, TargetType="instance"
    )
    elbv2.create_listener(
        LoadBalancerArn=nlb["LoadBalancers"][0]["LoadBalancerArn"],
        Protocol="TCP",
        Port=80,
        DefaultActions=[
            {"Type": "forward", "TargetGroupArn": target_group["TargetGroups"][0]["TargetGroupArn"]}
        ],
    )
    assert _region_state(endpoint, region) != fresh

    wipe_region(endpoint, region)

    assert _region_state(endpoint, region) == fresh
    assert find_cluster(endpoint, region=region) is None
    # And the next test can seed again.
    assert find_cluster(endpoint) is None
    assert seed_cluster(endpoint).vpc_id


# --- the test suite's endpoint switch ---


@pytest.fixture
def separate_moto() -> Iterator[MotoServer]:
    """A moto server the test suite under test did not start (as LocalStack would be)."""
    server = start_moto(minimal_amis=True)
    try:
        yield server
    finally:
        server.stop()


def _pytest(*args: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LBCTL_AWS"))}
    env[ENDPOINT_VARIABLE] = endpoint
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_suite_uses_the_endpoint_from_the_environment(separate_moto: MotoServer) -> None:
    result = _pytest(
        "-n", "0", "tests/aws/test_clb_lifecycle.py::test_plan_apply_reapply_delete",
        endpoint=separate_moto.endpoint,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    # The test ran against this server, not a moto server of its own: the cluster it
    # seeded is still here (resets come before a test, not after).
    assert find_cluster(separate_moto.endpoint) is not None


def test_suite_refuses_parallel_workers_on_one_shared_endpoint(
    separate_moto: MotoServer,
) -> None:
    result = _pytest("-n", "2", "tests/aws/test_nlb.py", endpoint=separate_moto.endpoint)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert "run them in one process (-n 0)" in result.stderr
