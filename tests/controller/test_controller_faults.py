"""Recovering from what an API server and a cloud do: a 409 on the status patch, a watch
expired with 410 Gone, watch connections failing; and drift repair on resync."""

from __future__ import annotations

import time
import urllib.request

from tests.controller.world import FINALIZER, Cluster, wait_for


def test_conflicts_are_re_read_and_retried(cluster: Cluster) -> None:
    cluster.controller()
    on_status = cluster.kube.inject(
        method="PATCH", path_regex=r"/services/web/status$", status=409, times=1
    )
    on_finalizer = cluster.kube.inject(
        method="PATCH", path_regex=r"/services/web$", status=409, times=1
    )
    cluster.create_service("web")
    cluster.wait_ingress("web")
    assert (on_status.hits, on_finalizer.hits) == (1, 1)

    def statuses(suffix: str) -> list[int]:
        return [
            r.status
            for r in cluster.kube.requests
            if r.method == "PATCH" and r.path.endswith(suffix)
        ]

    # Each retried at once on a freshly read copy, not after a backoff.
    assert statuses("/services/web/status") == [409, 200]
    assert statuses("/services/web") == [409, 200]
    assert cluster.finalizers("web") == [FINALIZER]
    assert "SyncLoadBalancerFailed" not in cluster.reasons("web")
    cluster.delete("web")
    cluster.wait_gone("web")
    cluster.assert_cloud_clean()


def test_expired_watch_relists_and_misses_nothing(cluster: Cluster) -> None:
    ctl = cluster.controller()
    cluster.create_service("before")
    cluster.wait_ingress("before")
    # Make the reconnect fail twice (backoff), and expire the history (410 on resume).
    cluster.kube.inject(method="GET", path_regex=r"services\?.*watch=true", status=500, times=2)
    cluster.kube.expire_watches()
    cluster.create_service("during")  # happens while the watch is down
    cluster.wait_ingress("during", timeout=15)
    assert ctl.services.lists >= 2
    assert ctl.metrics.relists.value("Service") >= 1
    for name in ("before", "during"):
        cluster.delete(name)
    for name in ("before", "during"):
        cluster.wait_gone(name)
    cluster.assert_cloud_clean()


def test_drift_is_repaired_on_resync(cluster: Cluster) -> None:
    ctl = cluster.controller(resync_period=0.5)
    svc = cluster.create_service("web")
    hostname = cluster.wait_ingress("web")
    lb = cluster.lb_name(svc)

    # In sync: resyncs read but write nothing.
    wait_for(lambda: ctl.metrics.resyncs.value("in_sync") >= 1, what="a resync")
    before = ctl.provider.counter.snapshot()
    seen = ctl.metrics.resyncs.value("in_sync")
    wait_for(lambda: ctl.metrics.resyncs.value("in_sync") >= seen + 2, what="two more resyncs")
    reads, writes = ctl.provider.counter.totals(since=before)
    assert writes == 0 and reads > 0

    # Deleted behind lbctl's back: recreated whole (listeners, health check, instances),
    # and the status follows it.
    registered = cluster.instances(lb)
    assert len(registered) == len(cluster.aws.instances)
    cluster.elb.delete_load_balancer(LoadBalancerName=lb)
    wait_for(lambda: cluster.instances(lb) == registered, what="the ELB recreated")
    new = cluster.balancer(lb)
    assert new is not None
    wait_for(lambda: cluster.ingress("web") == new["DNSName"], what="status updated")
    assert ctl.metrics.resyncs.value("drift") >= 1
    assert hostname.startswith(lb)

    # Edited behind lbctl's back: an instance deregistered by hand comes back.
    first = cluster.instances(lb)[0]
    cluster.elb.deregister_instances_from_load_balancer(
        LoadBalancerName=lb, Instances=[{"InstanceId": first}]
    )
    wait_for(lambda: first in cluster.instances(lb), what="the instance re-registered")

    cluster.delete("web")
    cluster.wait_gone("web")
    cluster.assert_cloud_clean()


def test_metrics_and_probes(cluster: Cluster) -> None:
    ctl = cluster.controller()
    cluster.create_service("web")
    cluster.wait_ingress("web")
    assert ctl.health_url and ctl.metrics_url

    def get(url: str) -> tuple[int, str, str]:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()

    assert get(ctl.health_url + "/healthz")[0] == 200
    assert get(ctl.health_url + "/readyz")[0] == 200
    status, ctype, text = get(ctl.metrics_url + "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    for line in (
        'lbctl_reconcile_total{result="success",operation="ensure"} 1',
        'lbctl_cloud_calls_total{provider="aws",operation="elb:CreateLoadBalancer"}',
        "lbctl_workqueue_depth 0",
        "lbctl_leader 1",
        'lbctl_reconcile_duration_seconds_count{result="success"} 1',
    ):
        assert line in text, line
    cluster.delete("web")
    cluster.wait_gone("web")
    cluster.assert_cloud_clean()
    time.sleep(0.1)
