"""Workers reconcile the ready keys in batches: one plan (one observe) per branch of a
batch, while the finalizer, apply, Events, status and requeue stay per Service.

Against the recording fake provider and fake Kubernetes writer (delays on an injected
clock); the last test runs the real controller on the sandbox API and moto and counts the
AWS describes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from lbctl.calls import CallCounter
from lbctl.controller.events import RecordingEvents
from lbctl.controller.metrics import ControllerMetrics
from lbctl.controller.nodesync import NodeSyncer
from lbctl.controller.queue import WorkQueue
from lbctl.controller.reconciler import Fenced, Operation, Reconciler, SyncError
from lbctl.controller.resync import Resyncer
from lbctl.controller.workers import Workers
from lbctl.errors import CloudError
from lbctl.model import LOAD_BALANCER_CLEANUP_FINALIZER, NodeView, ServiceView
from lbctl.provider import Observed
from tests.controller.fakes import (
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
    views,
)
from tests.controller.test_controller_queue import Clock
from tests.controller.world import ANN, Cluster, wait_for

Obj = dict[str, Any]


class PoisonProvider(FakeProvider):
    """observe fails whenever one given Service is among those observed."""

    def __init__(self, log: list[str]) -> None:
        super().__init__(log)
        self.poison: str | None = None

    def observe(
        self, views: Sequence[ServiceView], nodes: Sequence[NodeView], *, wanted: Mapping[str, bool]
    ) -> Observed:
        observed = super().observe(views, nodes, wanted=wanted)
        if self.poison in {v.key for v in views}:
            raise CloudError("fake:Describe", f"cannot describe {self.poison}")
        return observed


class Batch:
    def __init__(self, batch_size: int = 50) -> None:
        self.log: list[str] = []
        self.clock = Clock()
        self.provider = PoisonProvider(self.log)
        self.kube = FakeServices(self.log)
        self.events = RecordingEvents()
        self.queue = WorkQueue(clock=self.clock)
        self.fenced_after: int | None = None  # writes allowed before the fence closes
        self._fence_calls = 0
        nodes = lambda: views(node("n1"), node("n2"))  # noqa: E731
        self.reconciler = Reconciler(
            provider=self.provider,
            services=self.cached,
            nodes=nodes,
            writer=self.kube,
            events=self.events,
            fence=self.fence,
        )
        services = lambda: list(self.kube.objects.values())  # noqa: E731
        self.workers = Workers(
            queue=self.queue,
            reconciler=self.reconciler,
            node_syncer=NodeSyncer(
                provider=self.provider,
                reconciler=self.reconciler,
                services=services,
                nodes=nodes,
                queue=self.queue,
                events=self.events,
            ),
            resyncer=Resyncer(
                provider=self.provider,
                reconciler=self.reconciler,
                services=services,
                nodes=nodes,
                queue=self.queue,
            ),
            metrics=ControllerMetrics(
                counter=CallCounter(),
                queue_depth=lambda: len(self.queue),
                queue_waiting=self.queue.waiting,
                leading=lambda: True,
            ),
            resync_period=3600,
            batch_size=batch_size,
        )

    def fence(self) -> None:
        self._fence_calls += 1
        if self.fenced_after is not None and self._fence_calls > self.fenced_after:
            raise Fenced("not the leader")

    def cached(self, key: str) -> Obj | None:
        obj = self.kube.objects.get(key)
        return copy.deepcopy(obj) if obj is not None else None

    def add(self, *services: Obj) -> list[str]:
        keys = []
        for svc in services:
            self.kube.put(svc)
            keys.append(f"{svc['metadata']['namespace']}/{svc['metadata']['name']}")
            self.queue.add(keys[-1])
        return keys

    def run(self) -> dict[str, Any]:
        """What one worker does with one batch: take the ready keys, reconcile them."""
        keys = self.queue.get_batch(self.workers.batch_size, timeout=0)
        return self.workers.process_batch(keys)

    def ingress(self, key: str) -> list[dict[str, str]]:
        lb: list[dict[str, str]] = self.kube.objects[key]["status"]["loadBalancer"].get(
            "ingress", []
        )
        return lb

    def finalizers(self, key: str) -> list[str]:
        return list(self.kube.objects[key]["metadata"].get("finalizers", []))


def test_new_services_are_planned_together_and_each_gets_its_own_steps() -> None:
    world = Batch()
    svcs = [service(f"web-{i}") for i in range(5)]
    keys = world.add(*svcs)
    outcomes = world.run()
    assert world.provider.observes() == [tuple(keys)]  # one observe for the five
    assert {k: o.operation for k, o in outcomes.items()} == dict.fromkeys(keys, Operation.ENSURE)
    for key, svc in zip(keys, svcs, strict=True):
        assert world.finalizers(key) == [LOAD_BALANCER_CLEANUP_FINALIZER]
        assert world.ingress(key) == [{"hostname": f"{lb_of(svc)}.fake.example"}]
        assert world.events.reasons(key) == ["EnsuringLoadBalancer", "EnsuredLoadBalancer"]
        # the finalizer still comes before that Service's first cloud write
        mine = [line for line in world.log if line.endswith(key) or f" {key} " in line]
        assert mine[0] == f"kube add finalizer {key}"
        assert mine[1].startswith("cloud create")
    assert len(world.queue) == 0 and world.queue.processing() == frozenset()


def test_the_batch_size_bounds_a_batch() -> None:
    world = Batch(batch_size=2)
    keys = world.add(*(service(f"web-{i}") for i in range(5)))
    while len(world.queue):
        world.run()
    assert world.provider.observes() == [tuple(keys[0:2]), tuple(keys[2:4]), (keys[4],)]


def test_one_failing_service_does_not_fail_or_delay_the_others() -> None:
    world = Batch()
    keys = world.add(*(service(f"web-{i}") for i in range(4)))
    world.provider.fail[keys[1]] = cloud_error("Throttling")
    world.provider.fail[keys[2]] = retry_after(42)
    outcomes = world.run()
    assert outcomes[keys[1]] is None and outcomes[keys[2]] is None
    for ok in (keys[0], keys[3]):
        assert outcomes[ok] is not None and world.ingress(ok), ok
        assert world.events.reasons(ok)[-1] == "EnsuredLoadBalancer"
    for failed in (keys[1], keys[2]):
        assert world.events.reasons(failed)[-1] == "SyncLoadBalancerFailed"
        assert world.ingress(failed) == []
    # Each failure is requeued on its own clock: backoff for one, RetryAfter for the other.
    assert world.queue.waiting() == 2 and len(world.queue) == 0
    world.clock.advance(5)
    assert world.queue.get_batch(10, timeout=0) == [keys[1]]
    world.queue.done(keys[1])
    world.clock.advance(36.9)
    assert world.queue.get_batch(10, timeout=0) == []
    world.clock.advance(0.1)
    assert world.queue.get_batch(10, timeout=0) == [keys[2]]
    assert world.workers.metrics.reconciles.value("success", "ensure") == 2


def test_an_invalid_service_is_left_out_of_the_shared_observe() -> None:
    world = Batch()
    good = world.add(service("a"), service("c"))
    [bad] = world.add(service("b", tweaks=[tweak_annotation(INVALID, "three")]))
    outcomes = world.run()
    assert world.provider.observes() == [tuple(good)]
    assert outcomes[bad] is None and world.finalizers(bad) == []
    assert world.events.reasons(bad) == ["EnsuringLoadBalancer", "SyncLoadBalancerFailed"]
    assert all(world.ingress(k) for k in good)


def test_a_service_that_cannot_be_read_fails_alone() -> None:
    world = Batch()
    bad = service("bad")
    bad["spec"]["ports"][0]["port"] = "eighty"  # the view cannot be built from it
    keys = world.add(service("a"), bad, service("c"))
    outcomes = world.run()
    assert outcomes[keys[1]] is None
    assert world.ingress(keys[0]) and world.ingress(keys[2])
    assert world.queue.waiting() == 1  # retried with backoff, like any crash
    assert world.workers.metrics.reconcile_errors.value("other") == 1


def test_a_service_that_breaks_the_shared_observe_is_planned_alone() -> None:
    world = Batch()
    keys = world.add(*(service(f"web-{i}") for i in range(3)))
    world.provider.poison = keys[1]
    outcomes = world.run()
    # the batch failed as a whole, so each Service was planned again on its own
    assert world.provider.observes() == [tuple(keys), (keys[0],), (keys[1],), (keys[2],)]
    assert outcomes[keys[1]] is None
    [failed] = [e for e in world.events.events if e.reason == "SyncLoadBalancerFailed"]
    assert failed.service == keys[1] and "cannot describe" in failed.message
    assert world.ingress(keys[0]) and world.ingress(keys[2])
    assert world.queue.waiting() == 1


def test_each_branch_of_a_mixed_batch_is_planned_once() -> None:
    world = Batch()
    old = world.add(service("old-0"), service("old-1"), service("gone"))
    world.run()
    tweak_deleting(world.kube.objects[old[0]])
    tweak_deleting(world.kube.objects[old[1]])
    del world.kube.objects[old[2]]  # vanished without our finalizer being removed by us
    new = world.add(service("new-0"), service("new-1"))
    for key in old:
        world.queue.add(key)
    world.provider.calls.clear()
    outcomes = world.run()
    assert sorted(world.provider.observes()) == sorted(
        [(old[2],), (old[0], old[1]), (new[0], new[1])]  # leftovers, deletes, ensures
    )
    assert [outcomes[k].operation for k in old] == [Operation.DELETE] * 3
    assert [outcomes[k].operation for k in new] == [Operation.ENSURE] * 2
    assert old[0] not in world.kube.objects and old[1] not in world.kube.objects
    assert len(world.provider.cloud) == 2


def test_losing_leadership_mid_batch_stops_the_rest_untouched() -> None:
    world = Batch()
    keys = world.add(*(service(f"web-{i}") for i in range(3)))
    world.fenced_after = 3  # finalizer, apply and status of the first Service
    outcomes = world.run()
    assert outcomes[keys[0]] is not None and world.ingress(keys[0])
    assert outcomes[keys[1]] is None and outcomes[keys[2]] is None
    assert world.finalizers(keys[1]) == [] and world.finalizers(keys[2]) == []
    assert world.provider.applied() == [keys[0]]
    assert world.events.reasons(keys[2]) == ["EnsuringLoadBalancer"]  # no failure Event
    assert world.queue.waiting() == 0  # dropped, not requeued: the new leader has them


def test_a_key_changed_while_its_batch_runs_is_requeued_once_and_never_handed_out() -> None:
    world = Batch()
    keys = world.add(service("a"), service("b"))
    taken = world.queue.get_batch(10, timeout=0)
    assert taken == keys
    world.queue.add(keys[1])  # an update arrives while the batch holds "b"
    assert world.queue.get_batch(10, timeout=0) == []  # no other worker gets it
    world.workers.process_batch(taken)
    assert world.queue.get_batch(10, timeout=0) == [keys[1]]  # the change is not lost


def test_stopping_mid_batch_releases_the_keys_not_started() -> None:
    world = Batch()
    keys = world.add(*(service(f"web-{i}") for i in range(3)))
    original = world.events.event

    def stop_after_first_ensured(obj: Obj, type_: str, reason: str, message: str) -> None:
        original(obj, type_, reason, message)
        if reason == "EnsuredLoadBalancer":
            world.workers.stop.set()

    world.events.event = stop_after_first_ensured  # type: ignore[method-assign]
    outcomes = world.run()
    assert list(outcomes) == [keys[0]]
    assert world.provider.applied() == [keys[0]]
    assert world.queue.processing() == frozenset()  # every key released


def test_sync_of_one_key_raises_its_error() -> None:
    world = Batch()
    [key] = world.add(service())
    world.provider.fail[key] = retry_after(7)
    with pytest.raises(SyncError) as raised:
        world.reconciler.sync(key)
    assert raised.value.retry_after == 7


# --- the real provider: a batch of new Services does the shared describes once ------------


SHARED_DESCRIBES = (
    "ec2:DescribeInstances",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "elb:DescribeLoadBalancers",
    "elbv2:DescribeLoadBalancers",
)


def test_a_batch_of_new_services_describes_the_cloud_once(cluster: Cluster) -> None:
    names = [f"clb-{i}" for i in range(3)] + [f"nlb-{i}" for i in range(2)]
    for name in names:
        nlb = {ANN + "type": "nlb"} if name.startswith("nlb") else None
        cluster.create_service(name, annotations=nlb)
    before = cluster.provider.counter.snapshot()
    ctl = cluster.controller(batch_size=10)  # lists the five at once: one batch
    for name in names:
        cluster.wait_ingress(name, timeout=30)
    wait_for(lambda: ctl.metrics.reconciles.value("success", "ensure") >= len(names))
    calls = cluster.provider.counter.by_operation(before)
    assert {op: calls.get(op, 0) for op in SHARED_DESCRIBES} == dict.fromkeys(SHARED_DESCRIBES, 1)
    assert calls["elb:CreateLoadBalancer"] == 3 and calls["elbv2:CreateLoadBalancer"] == 2
    assert ctl.metrics.batch_size.count() == 1
    for name in names:
        cluster.delete(name)
    for name in names:
        cluster.wait_gone(name, timeout=30)
    cluster.assert_cloud_clean()
