"""The controller converges 20 Services (50 with LBCTL_RESILIENCE=long) while 30 % of its
cloud calls fail.

Every AWS call of the controller goes through lbctl's FaultProxy, which answers 30 % of
the requests with the cloud's own throttling error, a 500, a 503, a connection reset, or
forwards the request and then drops the answer (the write happened, the caller does not
know). The test then looks at what a user would look at: every Service's
`status.loadBalancer.ingress`; the account read straight from moto — one balancer per
Service and no duplicate balancer, target group, listener or security group; and
`lbctl plan` of the same Services, which must show nothing left to do. After every
Service is deleted (as `kubectl delete` does), every Service object disappears (its
finalizer was removed) and nothing lbctl made is left in the account: no ELB, NLB, target
group, k8s-elb-* security group or node security-group rule.

Sizing (2 cores): 20 Services by default, 50 in the long profile (`make resilience`),
half classic ELBs and half NLBs with one port each (distinct nodePorts), 4 workers, drift
resync every 2 s (moto, unlike AWS, makes a second NLB when a create whose answer was
lost is retried; the next re-plan must delete it, as it would any duplicate). Bounds: 90 s
to converge, 60 s to delete. Measured on 2 cores: 20 Services ~20 s and ~10 s, the whole
test ~45 s; 50 Services ~55 s and ~16 s, the whole test ~85 s.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from lbctl.sandbox.faults import Fault, FaultProxy, FaultRates
from tests.resilience.conftest import FINALIZER, World, lb_name, service_body, sized, wait_for

SERVICES = sized(20, long=50)
FAILURE_RATE = 0.3
CONVERGE_WITHIN = 90.0  # seconds, for 50 Services through the flaky proxy
QUIET_WITHIN = 30.0  # then a plan of every Service shows nothing left to do
DELETE_WITHIN = 60.0


@pytest.fixture
def proxy(world: World, monkeypatch: pytest.MonkeyPatch) -> Any:
    with FaultProxy(world.moto.endpoint, FaultRates.failing(FAILURE_RATE), seed=20240) as p:
        # The controller's boto3 clients find the cloud through this variable; the test's
        # own clients (world.boto) are pointed at moto explicitly and bypass the proxy.
        monkeypatch.setenv("AWS_ENDPOINT_URL", p.url)
        yield p


def test_converges_services_through_a_flaky_cloud(
    world: World, proxy: FaultProxy, tmp_path: Path
) -> None:
    ctl = world.controller(world.provider(), workers=4, resync_period=2.0)
    names = [f"svc-{i:02d}" for i in range(SERVICES)]
    uids = {}
    for i, name in enumerate(names):
        body = service_body(name, nlb=i % 2 == 1, ports=[(80, 30100 + i)])
        uids[name] = world.create(body)["metadata"]["uid"]
    expected = sorted(lb_name(uids[n]) for n in names)

    # Converged, as a user sees it: every Service has its ingress, and the account holds
    # exactly one balancer per Service and nothing twice ...
    started = time.monotonic()

    def converged() -> bool:
        if world.without_ingress(names):
            return False
        cloud = world.cloud()
        return sorted(cloud.balancers) == expected and not cloud.duplicates()

    try:
        wait_for(converged, timeout=CONVERGE_WITHIN, what="convergence", every=0.5)
    finally:
        cloud = world.cloud()
        print(
            f"\nconverged in {time.monotonic() - started:.1f}s; faults {dict(proxy.injected)}; "
            f"without ingress {world.without_ingress(names)}; duplicates {cloud.duplicates()}; "
            f"{len(cloud.classic)} classic, {len(cloud.network)} network; drift checks: "
            f"{ctl.metrics.resyncs.value('in_sync'):.0f} in sync, "
            f"{ctl.metrics.resyncs.value('drift'):.0f} found drift"
        )
    # ... and nothing is left to do: `lbctl plan` of the same Services, straight against
    # moto, shows no change (a drift check of the controller would find none either).
    pending: dict[str, list[str]] = {}

    def nothing_to_do() -> bool:
        nonlocal pending
        pending = {k: v for k, v in world.plan(tmp_path).items() if v}
        return not pending

    try:
        wait_for(nothing_to_do, timeout=QUIET_WITHIN, what="an empty plan", every=2.0)
    except AssertionError as e:
        raise AssertionError(f"{e}; still planned: {pending}") from e

    # The faults really happened, of every kind, and the controller really retried (a
    # Service takes some 15 calls to converge, so 30 % of them is 4 or 5 faults).
    assert sum(proxy.injected.values()) >= 2 * SERVICES, proxy.injected
    assert {f.value for f in Fault} - {"latency"} <= set(proxy.injected), proxy.injected
    assert sum(ctl.provider.counter.retries.values()) >= SERVICES

    # What a user checks: every Service has its balancer's DNS name ...
    services = world.services()
    cloud = world.cloud()
    dns = {
        d["LoadBalancerName"]: d["DNSName"]
        for d in world.boto.elb.describe_load_balancers()["LoadBalancerDescriptions"]
    }
    dns.update(
        (lb["LoadBalancerName"], lb["DNSName"])
        for lb in world.boto.elbv2.describe_load_balancers()["LoadBalancers"]
    )
    for name in names:
        hostnames = [i.get("hostname") for i in World.ingress_of(services[name])]
        assert hostnames == [dns[lb_name(uids[name])]], name
        assert FINALIZER in services[name]["metadata"]["finalizers"]
    # ... and the account holds one of everything: one balancer per Service (half
    # classic, half network), one target group and one listener per NLB port, one security group
    # per classic ELB, no duplicates.
    assert cloud.duplicates() == {}
    assert len(cloud.classic) == SERVICES // 2 and len(cloud.network) == SERVICES // 2
    assert len(cloud.target_groups) == SERVICES // 2
    assert all(ports == [80] for ports in cloud.listeners.values()), cloud.listeners
    assert sorted(cloud.security_groups) == sorted(
        f"k8s-elb-{lb_name(uids[n])}" for i, n in enumerate(names) if i % 2 == 0
    )

    # Delete every Service as kubectl does; the cloud stays flaky.
    for name in names:
        world.delete(name)
    started = time.monotonic()
    try:
        wait_for(
            lambda: not world.services(),
            timeout=DELETE_WITHIN,
            what="every Service to disappear (finalizer removed)",
            every=0.5,
        )
        wait_for(lambda: world.cloud().empty(), timeout=5, what="nothing owned left")
    finally:
        print(f"deleted in {time.monotonic() - started:.1f}s; faults: {dict(proxy.injected)}")
    left = world.cloud()
    assert left.empty(), left.leftovers()
