"""What a user sees, end to end: the sandbox Kubernetes API, lbctl's controller, moto.

Service created -> ingress, finalizer, Events in order; annotation edit -> balancer
updated; Service deleted -> balancer gone, then finalizer removed, then object gone;
deleted while the controller was down -> cleaned when it comes back; another
loadBalancerClass -> untouched; invalid annotation -> Warning, no cloud write.
"""

from __future__ import annotations

import threading
import time

from tests.controller.world import ANN, FINALIZER, Cluster, wait_for


def test_create_edit_delete(cluster: Cluster) -> None:
    ctl = cluster.controller()
    svc = cluster.create_service("web")
    lb = cluster.lb_name(svc)

    started = time.monotonic()
    hostname = cluster.wait_ingress("web", timeout=15)
    assert time.monotonic() - started < 15
    desc = cluster.balancer(lb)
    assert desc is not None and hostname == desc["DNSName"]
    assert cluster.finalizers("web") == [FINALIZER]
    assert cluster.reasons("web") == ["EnsuringLoadBalancer", "EnsuredLoadBalancer"]
    assert {t for t, _, _ in cluster.events("web")} == {"Normal"}
    assert cluster.instances(lb) == sorted(i.instance_id for i in cluster.aws.instances)
    listener = desc["ListenerDescriptions"][0]["Listener"]
    node_port = cluster.get("web")["spec"]["ports"][0]["nodePort"]  # type: ignore[index]
    assert (listener["LoadBalancerPort"], listener["InstancePort"]) == (80, node_port)

    # Annotation edit -> the balancer is updated in place.
    cluster.core.patch_namespaced_service(
        "web", "default", {"metadata": {"annotations": {ANN + "connection-idle-timeout": "120"}}}
    )

    def idle_timeout() -> int:
        attrs = cluster.elb.describe_load_balancer_attributes(LoadBalancerName=lb)
        return int(attrs["LoadBalancerAttributes"]["ConnectionSettings"]["IdleTimeout"])

    wait_for(lambda: idle_timeout() == 120, what="idle timeout 120")
    assert cluster.balancer(lb)["DNSName"] == hostname  # type: ignore[index]

    # Delete: the balancer goes first, then the finalizer, then the object. The finalizer
    # removal is held for a moment so the order can be seen from outside.
    hold = cluster.kube.inject(method="PATCH", path_regex=r"/services/web$", status=None, delay=1.0)
    cluster.delete("web")
    wait_for(lambda: hold.hits >= 1, what="the finalizer removal")
    assert cluster.balancer(lb) is None  # gone...
    svc_now = cluster.get("web")
    assert svc_now is not None and FINALIZER in svc_now["metadata"]["finalizers"]  # ...first
    assert svc_now["metadata"].get("deletionTimestamp")
    cluster.wait_gone("web")
    cluster.assert_cloud_clean()
    assert cluster.reasons("web")[-2:] == ["DeletingLoadBalancer", "DeletedLoadBalancer"]
    assert ctl.metrics.reconciles.value("success", "delete") >= 1


def test_deleted_while_the_controller_was_down(cluster: Cluster) -> None:
    first = cluster.controller()
    svc = cluster.create_service("api")
    cluster.wait_ingress("api")
    lb = cluster.lb_name(svc)
    first.stop()

    cluster.delete("api")
    time.sleep(0.3)
    svc_now = cluster.get("api")
    assert svc_now is not None and svc_now["metadata"]["deletionTimestamp"]  # held
    assert cluster.balancer(lb) is not None  # nothing cleaned it yet

    cluster.controller()  # comes back
    cluster.wait_gone("api")
    assert cluster.balancer(lb) is None
    cluster.assert_cloud_clean()


def test_type_change_to_cluster_ip_releases_the_balancer(cluster: Cluster) -> None:
    cluster.controller()
    svc = cluster.create_service("flip")
    cluster.wait_ingress("flip")
    cluster.core.patch_namespaced_service("flip", "default", {"spec": {"type": "ClusterIP"}})
    wait_for(lambda: not cluster.finalizers("flip"), what="finalizer removed")
    assert cluster.balancer(cluster.lb_name(svc)) is None
    assert cluster.ingress("flip") is None
    cluster.assert_cloud_clean()
    cluster.delete("flip")
    cluster.wait_gone("flip")


def test_another_load_balancer_class_is_untouched(cluster: Cluster) -> None:
    ctl = cluster.controller()
    before = ctl.provider.counter.snapshot()
    theirs = cluster.create_service("theirs", loadBalancerClass="service.k8s.aws/nlb")
    cluster.create_service("ours")
    cluster.wait_ingress("ours")  # the controller has seen both by now
    time.sleep(0.3)
    assert cluster.finalizers("theirs") == []
    assert cluster.events("theirs") == []
    assert cluster.ingress("theirs") is None
    assert cluster.balancer(cluster.lb_name(theirs)) is None
    ops = ctl.provider.counter.by_operation(since=before)
    assert ops.get("elb:CreateLoadBalancer") == 1  # only ours
    cluster.delete("ours")
    cluster.delete("theirs")
    cluster.wait_gone("ours")
    cluster.wait_gone("theirs")  # no finalizer of ours held it
    cluster.assert_cloud_clean()


def test_a_class_of_our_own(cluster: Cluster) -> None:
    cluster.controller(load_balancer_class="example.com/lbctl")
    cluster.create_service("plain")
    cluster.create_service("classed", loadBalancerClass="example.com/lbctl")
    cluster.wait_ingress("classed")
    assert cluster.finalizers("plain") == []
    for name in ("plain", "classed"):
        cluster.delete(name)
        cluster.wait_gone(name)
    cluster.assert_cloud_clean()


def test_invalid_annotation_warns_and_writes_nothing(cluster: Cluster) -> None:
    ctl = cluster.controller()
    before = ctl.provider.counter.snapshot()
    key = ANN + "connection-idle-timeout"
    cluster.create_service("bad", annotations={key: "soon"})
    warning = wait_for(
        lambda: [e for e in cluster.events("bad") if e[1] == "SyncLoadBalancerFailed"],
        what="a SyncLoadBalancerFailed Event",
    )[0]
    kind, _, message = warning
    assert kind == "Warning"
    assert key in message and "'soon'" in message
    assert message.startswith("Error syncing load balancer: failed to ensure load balancer: ")
    assert cluster.reasons("bad")[0] == "EnsuringLoadBalancer"
    reads, writes = ctl.provider.counter.totals(since=before)
    assert (reads, writes) == (0, 0)  # invalid input is stopped before observe
    assert cluster.finalizers("bad") == []
    assert cluster.balancers() == []

    # Fixed by the user -> provisioned at once (the edit does not wait for the backoff).
    cluster.core.patch_namespaced_service(
        "bad", "default", {"metadata": {"annotations": {key: "90"}}}
    )
    cluster.wait_ingress("bad", timeout=10)
    cluster.delete("bad")
    cluster.wait_gone("bad")
    cluster.assert_cloud_clean()


def test_many_services_with_eight_workers(cluster: Cluster) -> None:
    ctl = cluster.controller(workers=8)
    before = ctl.provider.counter.snapshot()
    names = [f"svc-{i}" for i in range(6)]
    threads = [threading.Thread(target=cluster.create_service, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in names:
        cluster.wait_ingress(name, timeout=20)
    assert len(cluster.balancers()) == len(names)
    assert ctl.provider.counter.by_operation(since=before)["elb:CreateLoadBalancer"] == len(names)
    for name in names:
        cluster.delete(name)
    for name in names:
        cluster.wait_gone(name)
    cluster.assert_cloud_clean()
