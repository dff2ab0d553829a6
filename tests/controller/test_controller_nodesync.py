"""Node sync (upstream TestNodeChangesForStableNodeSetEnabled) and drift repair, against
the recording fake provider: one batched plan per pass, registrations only."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lbctl.controller.events import RecordingEvents
from lbctl.controller.nodesync import NodeSyncer, hosts_message
from lbctl.controller.queue import WorkQueue
from lbctl.controller.reconciler import Reconciler
from lbctl.controller.resync import Resyncer
from tests.controller.fakes import (
    INVALID,
    FakeProvider,
    FakeServices,
    cloud_error,
    lb_of,
    node,
    service,
    tweak_annotation,
    tweak_spec,
    views,
)

Obj = dict[str, Any]
EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"
TAINT = "ToBeDeletedByClusterAutoscaler"


class Fleet:
    """Three ensured Services (two eTP=Local, as upstream's table) and three nodes."""

    def __init__(self) -> None:
        self.provider = FakeProvider()
        self.kube = FakeServices()
        self.events = RecordingEvents()
        self.queue = WorkQueue()
        self.nodes: list[Obj] = [node("n1"), node("n2"), node("n3")]
        self.reconciler = Reconciler(
            provider=self.provider,
            services=lambda key: copy.deepcopy(self.kube.objects.get(key)),
            nodes=lambda: views(*self.nodes),
            writer=self.kube,
            events=self.events,
        )
        self.syncer = NodeSyncer(
            provider=self.provider,
            reconciler=self.reconciler,
            services=lambda: copy.deepcopy(list(self.kube.objects.values())),
            nodes=lambda: views(*self.nodes),
            queue=self.queue,
            events=self.events,
        )
        self.resyncer = Resyncer(
            provider=self.provider,
            reconciler=self.reconciler,
            services=lambda: copy.deepcopy(list(self.kube.objects.values())),
            nodes=lambda: views(*self.nodes),
            queue=self.queue,
        )
        self.services = [
            service("s0"),
            service("s1", tweaks=[tweak_spec("externalTrafficPolicy", "Local")]),
            service("s2", tweaks=[tweak_spec("externalTrafficPolicy", "Local")]),
        ]
        for svc in self.services:
            self.kube.put(svc)
            self.reconciler.sync(f"default/{svc['metadata']['name']}")
        self.provider.calls.clear()
        self.events.events.clear()

    def backends(self) -> list[list[str]]:
        return [self.provider.backends(lb_of(s)) for s in self.services]

    def drain(self) -> list[str]:
        out = []
        while (key := self.queue.get(timeout=0)) is not None:
            out.append(key)
            self.queue.done(key)
        return out


@pytest.fixture
def fleet() -> Fleet:
    return Fleet()


ALL3 = [["n1", "n2", "n3"]] * 3

# (step, new node list, expected backends of the 3 Services, whether a plan/apply ran)
STEPS: list[tuple[str, list[Obj], list[list[str]], bool]] = [
    ("no change", [node("n1"), node("n2"), node("n3")], ALL3, False),
    ("node NotReady: kept", [node("n1"), node("n2", ready=False), node("n3")], ALL3, False),
    (
        "ToBeDeleted taint: removed",
        [node("n1"), node("n2", taints=[TAINT]), node("n3")],
        [["n1", "n3"]] * 3,
        True,
    ),
    ("taint gone: back", [node("n1"), node("n2"), node("n3")], ALL3, True),
    (
        "exclude label: removed",
        [node("n1"), node("n2", labels={EXCLUDE: "true"}), node("n3")],
        [["n1", "n3"]] * 3,
        True,
    ),
    ("label gone", [node("n1"), node("n2"), node("n3")], ALL3, True),
    ("node removed", [node("n1"), node("n2")], [["n1", "n2"]] * 3, True),
    ("node added", [node("n1"), node("n2"), node("n3")], ALL3, True),
    (
        "deletionTimestamp: removed",
        [node("n1"), node("n2", deleting=True), node("n3")],
        [["n1", "n3"]] * 3,
        True,
    ),
    (
        "unrelated taint: nothing",
        [node("n1"), node("n2", deleting=True), node("n3", taints=["example.com/gpu"])],
        [["n1", "n3"]] * 3,
        False,
    ),
]


def test_node_changes_as_upstream(fleet: Fleet) -> None:
    for step, nodes, expected, planned in STEPS:
        fleet.provider.calls.clear()
        fleet.nodes = nodes
        result = fleet.syncer.sync()
        assert fleet.backends() == expected, step
        if planned:
            # ONE batched observe for all three Services, then one apply each.
            assert fleet.provider.observes() == [("default/s0", "default/s1", "default/s2")], step
            assert sorted(fleet.provider.applied()) == sorted(result.planned), step
            assert result.changes == {"update fake:backends": 3}, step
        else:
            assert fleet.provider.calls == [], step
        assert fleet.drain() == [], step


def test_updated_and_unavailable_events(fleet: Fleet) -> None:
    fleet.nodes = [node("n1"), node("n2")]
    fleet.syncer.sync()
    assert [e.reason for e in fleet.events.events] == ["UpdatedLoadBalancer"] * 3
    assert fleet.events.events[0].message == "Updated load balancer with new hosts"
    fleet.events.events.clear()
    fleet.nodes = []
    fleet.syncer.sync()
    assert {(e.type, e.reason) for e in fleet.events.events} == {
        ("Warning", "UnAvailableLoadBalancer")
    }
    assert fleet.backends() == [[], [], []]


def test_a_failed_service_goes_to_the_service_queue(fleet: Fleet) -> None:
    fleet.provider.fail["default/s1"] = cloud_error("Throttling")
    fleet.nodes = [node("n1"), node("n2")]
    result = fleet.syncer.sync()
    assert result.failed == ["default/s1"]
    assert fleet.backends() == [["n1", "n2"], ["n1", "n2", "n3"], ["n1", "n2"]]
    failed = [e for e in fleet.events.events if e.reason == "UpdateLoadBalancerFailed"]
    assert len(failed) == 1 and failed[0].type == "Warning"
    assert failed[0].message.startswith(
        "Error updating load balancer with new hosts ['n1', 'n2'] [node names limited, "
        "total number of nodes: 2], error: "
    )
    assert fleet.drain() == ["default/s1"]
    # A later node sync leaves it to the service queue (its node set is unknown now).
    fleet.provider.calls.clear()
    fleet.nodes = [node("n1")]
    fleet.syncer.sync()
    assert ("default/s1",) not in fleet.provider.observes()
    assert "default/s1" not in fleet.provider.observes()[0]


def test_a_key_held_by_a_worker_is_left_to_it(fleet: Fleet) -> None:
    fleet.queue.add("default/s0")
    assert fleet.queue.get(timeout=0) == "default/s0"  # a worker holds it
    fleet.nodes = [node("n1")]
    result = fleet.syncer.sync()
    assert result.busy == ["default/s0"]
    assert fleet.provider.observes() == [("default/s1", "default/s2")]
    fleet.queue.done("default/s0")
    assert fleet.drain() == ["default/s0"]  # the worker's full reconcile runs again


def test_hosts_message_caps_names_at_20() -> None:
    nodes = views(*(node(f"n{i:02d}") for i in range(25)))
    message = hosts_message(nodes, "boom")
    assert "n19" in message and "n20" not in message
    assert "total number of nodes: 25], error: boom" in message


# --- drift repair ---------------------------------------------------------------------------


def test_resync_in_sync_reads_once_and_writes_nothing(fleet: Fleet) -> None:
    writes = fleet.provider.writes()
    result = fleet.resyncer.check()
    assert result.checked == 3 and result.drifted == []
    assert fleet.provider.observes() == [("default/s0", "default/s1", "default/s2")]
    assert fleet.provider.writes() == writes
    assert fleet.drain() == []


def test_resync_queues_a_balancer_deleted_behind_our_back(fleet: Fleet) -> None:
    del fleet.provider.cloud[lb_of(fleet.services[1])]
    result = fleet.resyncer.check()
    assert result.drifted == ["default/s1"]
    assert fleet.drain() == ["default/s1"]
    fleet.reconciler.sync("default/s1")  # the ordinary reconcile repairs it
    assert lb_of(fleet.services[1]) in fleet.provider.cloud
    assert fleet.resyncer.check().drifted == []


def test_resync_queues_what_an_informer_resync_would(fleet: Fleet) -> None:
    fleet.kube.put(service("new"))  # wants a balancer, never ensured
    bad = service("bad", tweaks=[tweak_annotation(INVALID, "x")])
    fleet.kube.put(bad)
    fleet.kube.put(service("plain", type_="ClusterIP"))
    result = fleet.resyncer.check()
    assert sorted(result.queued) == ["default/bad", "default/new"]
