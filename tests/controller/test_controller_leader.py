"""Leader election on a coordination.k8s.io/v1 Lease: only the leader acts; when it is
killed the standby takes over within the lease duration; a clean stop releases the lease
at once; a leader whose lease is taken stops all work."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from tests.controller.world import Cluster, wait_for

LEASE = 2.0  # seconds (renew deadline 1.5 s, retry period 0.25 s: see conftest)


def lease(cluster: Cluster) -> dict[str, Any]:
    from kubernetes import client

    coordination = client.CoordinationV1Api(cluster.api)
    out: dict[str, Any] = cluster.api.sanitize_for_serialization(
        coordination.read_namespaced_lease("lbctl", "kube-system")
    )
    return out


def holder(cluster: Cluster) -> str | None:
    try:
        return lease(cluster)["spec"].get("holderIdentity")
    except Exception:
        return None


def test_only_the_leader_acts_and_a_standby_takes_over(cluster: Cluster) -> None:
    a = cluster.controller(leader_elect=True, identity="replica-a")
    assert a.wait_leading(5)
    b = cluster.controller(leader_elect=True, identity="replica-b")
    assert holder(cluster) == "replica-a"
    spec = lease(cluster)["spec"]
    assert spec["leaseDurationSeconds"] == 2 and spec["leaseTransitions"] == 0

    cluster.create_service("one")
    cluster.wait_ingress("one")
    assert a.metrics.reconciles.value("success", "ensure") == 1
    assert b.ready and not b.is_leader()
    assert b.metrics.reconciles.total() == 0  # the standby did nothing

    # The leader dies without giving the lease back.
    killed_at = time.monotonic()
    a.kill()
    wait_for(b.is_leader, timeout=LEASE + 2, what="replica-b to lead")
    took = time.monotonic() - killed_at
    assert took <= LEASE + 1.0, f"takeover took {took:.2f}s"
    assert holder(cluster) == "replica-b"
    assert lease(cluster)["spec"]["leaseTransitions"] == 1

    cluster.create_service("two")
    cluster.wait_ingress("two")
    assert b.metrics.reconciles.value("success", "ensure") >= 1
    for name in ("one", "two"):
        cluster.delete(name)
    for name in ("one", "two"):
        cluster.wait_gone(name)
    cluster.assert_cloud_clean()

    # A clean stop releases the lease: the next candidate need not wait for it to expire.
    b.stop()
    assert b.exit_code == 0
    assert holder(cluster) in (None, "")
    c = cluster.controller(leader_elect=True, identity="replica-c")
    started = time.monotonic()
    assert c.wait_leading(LEASE)
    assert time.monotonic() - started < 1.0


def test_a_leader_that_loses_its_lease_stops_all_work(cluster: Cluster) -> None:
    from kubernetes import client

    a = cluster.controller(leader_elect=True, identity="replica-a")
    assert a.wait_leading(5)
    # Another party takes the lease (as after a network partition) and keeps renewing it.
    coordination = client.CoordinationV1Api(cluster.api)
    stop_at = time.monotonic() + 4
    while time.monotonic() < stop_at and a.exit_code is None:
        current = lease(cluster)
        current["spec"]["holderIdentity"] = "intruder"
        current["spec"]["renewTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        with contextlib.suppress(client.exceptions.ApiException):  # raced a renewal: again
            coordination.replace_namespaced_lease("lbctl", "kube-system", current)
        time.sleep(0.1)
    wait_for(lambda: a.exit_code is not None, timeout=5, what="the deposed leader to stop")
    assert a.exit_code == 1
    assert not a.is_leader()
    # It no longer acts: a new Service is left alone.
    cluster.create_service("orphan")
    time.sleep(0.5)
    assert cluster.finalizers("orphan") == []
    assert cluster.events("orphan") == []
    cluster.delete("orphan")
    cluster.wait_gone("orphan")
