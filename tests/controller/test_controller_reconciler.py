"""The reconcile chain against a recording fake provider and a fake Kubernetes writer.

Mirrors upstream TestSyncLoadBalancerIfNeeded / TestProcessServiceDeletion: the operation
taken, the order of writes (finalizer before the first cloud write), the patches counted,
the Events in order.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lbctl.controller.events import RecordingEvents
from lbctl.controller.reconciler import Operation, Reconciler, SyncError
from lbctl.model import LOAD_BALANCER_CLEANUP_FINALIZER
from tests.controller.fakes import (
    ELSEWHERE,
    INVALID,
    FakeProvider,
    FakeServices,
    cloud_error,
    lb_of,
    node,
    retry_after,
    service,
    tweak_annotation,
    tweak_deleting,
    tweak_finalizer,
    tweak_spec,
    tweak_type,
    tweak_uid,
    views,
)

Obj = dict[str, Any]


class World:
    def __init__(self, load_balancer_class: str | None = None) -> None:
        self.log: list[str] = []
        self.provider = FakeProvider(self.log)
        self.kube = FakeServices(self.log)
        self.events = RecordingEvents()
        self.nodes = [node("n1"), node("n2")]
        self.reconciler = Reconciler(
            provider=self.provider,
            services=self.cached,
            nodes=lambda: views(*self.nodes),
            writer=self.kube,
            events=self.events,
            load_balancer_class=load_balancer_class,
        )

    def cached(self, key: str) -> Obj | None:
        obj = self.kube.objects.get(key)
        return copy.deepcopy(obj) if obj is not None else None

    def add(self, svc: Obj) -> str:
        self.kube.put(svc)
        return f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"

    def sync(self, key: str) -> Operation:
        return self.reconciler.sync(key).operation

    def kube_writes(self) -> list[str]:
        return [line for line in self.log if line.startswith("kube")]

    def reasons(self) -> list[str]:
        return [f"{e.type} {e.reason}" for e in self.events.events]


@pytest.fixture
def world() -> World:
    return World()


def test_new_service_gets_finalizer_before_the_balancer(world: World) -> None:
    svc = service()
    key = world.add(svc)
    assert world.sync(key) is Operation.ENSURE
    lb = lb_of(svc)
    assert world.log == [
        f"kube add finalizer {key}",
        f"cloud create fake:lb {key}",
        f"cloud create fake:backends {key}",
        f"kube status {key} [{{'hostname': '{lb}.fake.example'}}]",
    ]
    assert len(world.kube_writes()) == 2  # upstream: a new LB Service costs 2 patches
    assert world.reasons() == ["Normal EnsuringLoadBalancer", "Normal EnsuredLoadBalancer"]
    stored = world.kube.objects[key]
    assert stored["metadata"]["finalizers"] == [LOAD_BALANCER_CLEANUP_FINALIZER]
    assert stored["status"]["loadBalancer"]["ingress"] == [{"hostname": f"{lb}.fake.example"}]
    assert world.provider.backends(lb) == ["n1", "n2"]


def test_in_sync_makes_no_write(world: World) -> None:
    key = world.add(service())
    world.sync(key)
    writes, log_len = world.provider.writes(), len(world.log)
    assert world.sync(key) is Operation.ENSURE
    assert world.provider.writes() == writes
    assert len(world.log) == log_len  # no finalizer patch, no status patch


def test_annotation_edit_updates_the_balancer(world: World) -> None:
    key = world.add(service())
    world.sync(key)
    world.kube.objects[key]["metadata"]["annotations"] = {"example.com/x": "1"}
    outcome = world.reconciler.sync(key)
    assert dict(outcome.changes) == {"update fake:lb": 1}
    assert not outcome.status_patched


def test_type_change_deletes_the_balancer(world: World) -> None:
    svc = service()
    key = world.add(svc)
    world.sync(key)
    world.log.clear()
    world.events.events.clear()
    world.kube.objects[key]["spec"]["type"] = "ClusterIP"
    assert world.sync(key) is Operation.DELETE
    assert world.provider.cloud == {}
    assert world.log[-2:] == [f"kube remove finalizer {key}", f"kube status {key} []"]
    assert world.log.index(f"kube remove finalizer {key}") > max(
        i for i, line in enumerate(world.log) if line.startswith("cloud")
    )
    assert world.reasons() == ["Normal DeletingLoadBalancer", "Normal DeletedLoadBalancer"]
    assert "finalizers" not in world.kube.objects[key]["metadata"] or (
        world.kube.objects[key]["metadata"]["finalizers"] == []
    )


def test_service_deleted_while_down_is_cleaned_then_released(world: World) -> None:
    svc = service()
    key = world.add(svc)
    world.sync(key)
    # The controller is down; the user deletes the Service: the API server only sets
    # deletionTimestamp because of the finalizer. The controller comes back.
    tweak_deleting(world.kube.objects[key])
    fresh = World()
    fresh.provider.cloud = world.provider.cloud
    fresh.kube = world.kube
    fresh.reconciler.writer = world.kube
    fresh.reconciler.services = world.cached
    assert fresh.reconciler.sync(key).operation is Operation.DELETE
    assert world.provider.cloud == {}
    assert key not in world.kube.objects  # last finalizer gone: the object is gone


def test_failed_delete_keeps_the_finalizer(world: World) -> None:
    key = world.add(service())
    world.sync(key)
    tweak_deleting(world.kube.objects[key])
    world.provider.fail[key] = cloud_error("DependencyViolation")
    with pytest.raises(SyncError, match="failed to delete load balancer"):
        world.sync(key)
    assert world.kube.objects[key]["metadata"]["finalizers"] == [LOAD_BALANCER_CLEANUP_FINALIZER]
    assert world.reasons()[-1] == "Warning SyncLoadBalancerFailed"


def test_another_class_is_untouched(world: World) -> None:
    key = world.add(service(tweaks=[tweak_spec("loadBalancerClass", "service.k8s.aws/nlb")]))
    assert world.sync(key) is Operation.NONE
    assert world.provider.calls == []
    assert world.log == []
    assert world.events.events == []


def test_our_class_is_reconciled() -> None:
    world = World(load_balancer_class="example.com/lbctl")
    key = world.add(service(tweaks=[tweak_spec("loadBalancerClass", "example.com/lbctl")]))
    assert world.sync(key) is Operation.ENSURE
    other = world.add(service("plain"))
    assert world.sync(other) is Operation.NONE


def test_invalid_annotation_warns_and_writes_nothing(world: World) -> None:
    key = world.add(service(tweaks=[tweak_annotation(INVALID, "three")]))
    with pytest.raises(SyncError) as raised:
        world.sync(key)
    assert raised.value.cause == "invalid_input"
    assert world.provider.calls == []  # not even an observe
    assert world.log == []  # no finalizer either: nothing can exist in the cloud
    assert world.reasons() == ["Normal EnsuringLoadBalancer", "Warning SyncLoadBalancerFailed"]
    message = world.events.events[-1].message
    assert message.startswith("Error syncing load balancer: failed to ensure load balancer:")
    assert INVALID in message and "'three'" in message and "whole number" in message


def test_cloud_failure_after_the_finalizer(world: World) -> None:
    key = world.add(service())
    world.provider.fail[key] = cloud_error("Throttling")
    with pytest.raises(SyncError) as raised:
        world.sync(key)
    assert raised.value.retry_after is None
    assert world.log == [f"kube add finalizer {key}"]
    assert world.reasons() == ["Normal EnsuringLoadBalancer", "Warning SyncLoadBalancerFailed"]
    assert "Throttling" in world.events.events[-1].message


def test_retry_after_is_passed_on_exactly(world: World) -> None:
    key = world.add(service())
    world.provider.fail[key] = retry_after(42)
    with pytest.raises(SyncError) as raised:
        world.sync(key)
    assert raised.value.retry_after == 42
    assert raised.value.cause == "retry_after"


def test_no_nodes_warns_and_still_ensures(world: World) -> None:
    world.nodes = [node("n1", taints=["ToBeDeletedByClusterAutoscaler"])]
    key = world.add(service())
    assert world.sync(key) is Operation.ENSURE
    assert world.reasons() == [
        "Normal EnsuringLoadBalancer",
        "Warning UnAvailableLoadBalancer",
        "Normal EnsuredLoadBalancer",
    ]


def test_vanished_service_is_deleted_from_the_last_copy(world: World) -> None:
    svc = service()
    key = world.add(svc)
    world.sync(key)
    del world.kube.objects[key]  # the finalizer was stripped by hand and the object went
    assert world.sync(key) is Operation.DELETE
    assert world.provider.cloud == {}
    assert world.reasons()[-2:] == ["Normal DeletingLoadBalancer", "Normal DeletedLoadBalancer"]
    assert world.sync(key) is Operation.NONE


def test_recreated_with_a_new_uid_deletes_the_old_balancer(world: World) -> None:
    svc = service()
    key = world.add(svc)
    world.sync(key)
    old_lb = lb_of(svc)
    replacement = service()
    tweak_uid("11111111-2222-3333-4444-555555555555")(replacement)
    world.add(replacement)
    assert world.sync(key) is Operation.ENSURE
    assert old_lb not in world.provider.cloud
    assert list(world.provider.cloud) == [lb_of(replacement)]


def test_elsewhere_without_finalizer_is_left_alone(world: World) -> None:
    key = world.add(service(tweaks=[tweak_annotation(ELSEWHERE, "1")]))
    assert world.sync(key) is Operation.NONE
    assert world.provider.calls == []


def test_elsewhere_with_our_finalizer_cleans_up(world: World) -> None:
    key = world.add(service())
    world.sync(key)
    tweak_annotation(ELSEWHERE, "1")(world.kube.objects[key])
    assert world.sync(key) is Operation.DELETE
    assert world.provider.cloud == {}


def test_cluster_ip_without_finalizer_costs_nothing(world: World) -> None:
    key = world.add(service(type_="ClusterIP"))
    assert world.sync(key) is Operation.NONE
    assert world.provider.calls == []


def test_cluster_ip_with_finalizer_and_no_balancer(world: World) -> None:
    key = world.add(service(type_="ClusterIP", tweaks=[tweak_finalizer]))
    assert world.sync(key) is Operation.DELETE
    assert world.provider.writes() == 0
    assert world.reasons() == ["Normal DeletedLoadBalancer"]  # upstream: even with no LB
    assert world.kube.objects[key]["metadata"]["finalizers"] == []


def test_fence_stops_before_any_write(world: World) -> None:
    from lbctl.controller.reconciler import Fenced

    def fence() -> None:
        raise Fenced("not the leader")

    world.reconciler.fence = fence
    key = world.add(service())
    with pytest.raises(Fenced):
        world.sync(key)
    assert world.log == []
    assert "Warning SyncLoadBalancerFailed" not in world.reasons()


def test_type_flip_back_and_forth(world: World) -> None:
    key = world.add(service())
    world.sync(key)
    tweak_type("NodePort")(world.kube.objects[key])
    assert world.sync(key) is Operation.DELETE
    tweak_type("LoadBalancer")(world.kube.objects[key])
    assert world.sync(key) is Operation.ENSURE
    assert len(world.provider.cloud) == 1
