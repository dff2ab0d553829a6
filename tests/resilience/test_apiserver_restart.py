"""The Kubernetes API server restarted under the controller, and status patches answered
409: no update is lost.

The controller (in this process) watches the sandbox API server, which keeps its state in
a file. The server is stopped — every watch connection is cut, the port refuses
connections — while a reconcile waits for the answer to its status patch. While it is
down the cluster changes, through a second API server over the same state file (as
through another replica in front of the same storage): a Service is created, one is
edited (a port added) and one is deleted. The server then starts again on the same port
from its state file, with its watch history gone (`expire_watches()`: a resume answers
410 Gone), and its next 3 status patches are answered 409 Conflict. A user then sees
every change carried out: the new Service and the in-flight one get their ingress, the
edited one's ELB gets the new listener, and the deleted one disappears with its NLB.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbctl.sandbox.kube import KubeAPIServer
from tests.resilience.conftest import STATE_FILE, World, lb_name, service_body, wait_for

WITHIN = 30.0  # seconds: watch backoff after the outage, a 5 s requeue, then the work
OUTAGE = 2.0  # seconds the API server is down


@pytest.fixture
def restarted(world: World) -> Iterator[list[KubeAPIServer]]:
    """Servers the test starts in place of world.kube; stopped at the end."""
    servers: list[KubeAPIServer] = []
    yield servers
    for server in servers:
        server.stop()


def listener_ports(world: World, lb: str) -> list[int]:
    found = world.boto.elb.describe_load_balancers(LoadBalancerNames=[lb])
    listeners = found["LoadBalancerDescriptions"][0]["ListenerDescriptions"]
    return sorted(x["Listener"]["LoadBalancerPort"] for x in listeners)


def test_api_server_restart_and_status_conflicts_lose_no_update(
    world: World, restarted: list[KubeAPIServer], tmp_path: Path
) -> None:
    ctl = world.controller(world.provider(), workers=2)
    state_file = tmp_path / STATE_FILE  # the `kube` fixture's
    assert state_file.exists()
    uid = {}
    for name, body in (
        ("edited", service_body("edited", ports=[(80, 30300)])),
        ("doomed", service_body("doomed", nlb=True, ports=[(80, 30301)])),
    ):
        uid[name] = world.create(body)["metadata"]["uid"]
    for name in ("edited", "doomed"):
        wait_for(lambda n=name: world.ingress(n), timeout=WITHIN, what=f"{name}'s ingress")
    assert listener_ports(world, lb_name(uid["edited"])) == [80]

    # A reconcile in flight when the server goes: its balancer is made, and the server
    # dies while it holds the status patch (which never takes effect).
    held = world.kube.inject(
        method="PATCH", path_regex=r"/services/inflight/status$", status=503, delay=OUTAGE
    )
    uid["inflight"] = world.create(service_body("inflight", ports=[(80, 30302)]))["metadata"]["uid"]
    wait_for(lambda: held.hits, timeout=WITHIN, what="inflight's status patch", every=0.01)
    port = world.kube.port
    world.kube.stop()  # watches cut, connections refused from here on
    outage = time.monotonic()

    # The outage: the cluster changes behind another API server over the same storage.
    replica = KubeAPIServer(state_file=state_file, bookmark_interval=1.0).start()
    restarted.append(replica)
    other = World(
        kube=replica,
        aws=world.aws,
        moto=world.moto,
        boto=world.boto,
        cloud_config=world.cloud_config,
        kubeconfig=replica.write_kubeconfig(tmp_path / "replica-kubeconfig"),
    )
    uid["during"] = other.create(service_body("during", nlb=True, ports=[(80, 30303)]))["metadata"][
        "uid"
    ]
    edited = other.get("edited")
    assert edited is not None
    edited["spec"]["ports"].append(
        {"name": "p443", "port": 443, "targetPort": 8443, "nodePort": 30304, "protocol": "TCP"}
    )
    other.core.replace_namespaced_service("edited", "default", edited)
    other.delete("doomed")  # kept (finalizer), with a deletion timestamp
    replica.stop()
    time.sleep(max(0.0, OUTAGE - (time.monotonic() - outage)))

    # The restart: same port, state from the file, no watch history (resume -> 410), and
    # the next 3 status patches conflict.
    server = KubeAPIServer(state_file=state_file, port=port, bookmark_interval=1.0)
    restarted.append(server)
    conflicts = server.inject(method="PATCH", path_regex=r"/status", status=409, times=3)
    server.start()
    server.expire_watches()
    world.kube = server

    for name in ("inflight", "during"):
        wait_for(lambda n=name: world.ingress(n), timeout=WITHIN, what=f"{name}'s ingress")
    wait_for(
        lambda: listener_ports(world, lb_name(uid["edited"])) == [80, 443],
        timeout=WITHIN,
        what="the edited Service's new listener",
    )
    wait_for(lambda: world.get("doomed") is None, timeout=WITHIN, what="doomed to disappear")

    cloud = world.cloud()
    assert sorted(cloud.balancers) == sorted(
        lb_name(uid[n]) for n in ("edited", "inflight", "during")
    )
    assert cloud.duplicates() == {}
    dns = {
        d["LoadBalancerName"]: d["DNSName"]
        for d in world.boto.elb.describe_load_balancers()["LoadBalancerDescriptions"]
    }
    dns.update(
        (lb["LoadBalancerName"], lb["DNSName"])
        for lb in world.boto.elbv2.describe_load_balancers()["LoadBalancers"]
    )
    for name in ("edited", "inflight", "during"):
        assert world.ingress(name) == dns[lb_name(uid[name])], name

    # The recovery went the way it should: a relist after 410, and the conflicting status
    # patches re-read and retried.
    assert ctl.metrics.relists.value("Service") >= 1
    assert ctl.metrics.reconcile_errors.total() >= 1  # inflight's status patch, cut
    assert conflicts.hits == 3
    statuses = [r.status for r in server.requests if r.method == "PATCH" and "/status" in r.path]
    assert statuses[:3] == [409, 409, 409] and 200 in statuses[3:], statuses

    for name in ("edited", "inflight", "during"):
        world.delete(name)
    wait_for(lambda: not world.services(), timeout=WITHIN, what="every Service to disappear")
    left = world.cloud()
    assert left.empty(), left.leftovers()
