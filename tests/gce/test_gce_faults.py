"""A flaky Compute API: lbctl converges through throttling, 5xx, resets, lost answers and
latency, with long-running operations, and leaves neither duplicates nor leftovers.

Every call of lbctl goes through the FaultProxy (the cloud config's api-endpoint is the
proxy); operations answer PENDING, then RUNNING, and are DONE only on the second poll, so
the waits go through the proxy too. A lost answer is the case that proves creates are
idempotent: the write happened, lbctl does not know, and its retry meets 409 alreadyExists
(or, for a membership change, memberAlreadyExists). The cloud is read back straight from
the sandbox, past the proxy.

lbctl's own flow (what `lbctl apply` / `delete` run) is driven here with the CallCounter's
`sleep` seam turned off: with ~30 % of several hundred calls failing, the real jittered
backoff would sleep for most of a minute (it has its own tests in tests/unit/test_calls.py).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pytest

from lbctl import flow, manifests
from lbctl.calls import CallCounter
from lbctl.errors import CloudError
from lbctl.model import NodeView, ServiceView
from lbctl.provider import ProviderConfig, load_provider
from lbctl.sandbox.faults import Fault, FaultProxy, FaultRates
from lbctl.sandbox.gce import GCEServer, SeededGCE, compute_client, write_gce_files
from providers.gce.names import firewall_description
from tests.gce.helpers import (
    CLUSTER_ID,
    NODE_HC,
    RBS,
    TYPE,
    Cloud,
    Lbctl,
    key_of,
    lb_name,
    local,
    service,
)

MAX_RUNS = 10
FAULTS = dataclasses.replace(FaultRates.failing(0.3), latency=0.05, latency_seconds=0.01)
MIXED = ["10.0.0.0/8", "2001:db8::/32"]
CREATED = ("/addresses", "/firewalls", "/forwardingRules", "/targetPools", "/backendServices")


@dataclasses.dataclass
class Flaky:
    """`lbctl apply` / `lbctl delete`, through the proxy, without backoff sleeps."""

    cloud_config: Path
    nodes: list[NodeView]
    counter: CallCounter = dataclasses.field(
        default_factory=lambda: CallCounter(sleep=lambda _: None)
    )

    def run(self, services: list[dict[str, Any]], *, deleting: bool = False) -> flow.Planned:
        """One `lbctl apply` (or `delete`); a failed read fails the whole run, as in the CLI."""
        config = ProviderConfig(CLUSTER_ID, cloud_config=self.cloud_config, counter=self.counter)
        provider = load_provider("gce", config)
        views = [ServiceView.from_dict(s) for s in services]
        nodes = [] if deleting else self.nodes
        planned = flow.plan_services(provider, views, nodes, deleting=deleting)
        if not planned.has_errors:
            flow.apply_plans(provider, planned)
        return planned

    def until_ok(self, services: list[dict[str, Any]], **kw: Any) -> flow.Planned:
        failures: list[str] = []
        for _ in range(MAX_RUNS):
            try:
                planned = self.run(services, **kw)
            except CloudError as e:
                failures.append(str(e))
                continue
            if not planned.has_errors:
                return planned
            failures += [f"{p.service}: {e}" for p in planned.plans for e in p.errors]
        raise AssertionError(f"no convergence in {MAX_RUNS} runs: {failures}")


@pytest.fixture
def proxy(gce_server: GCEServer, gce: SeededGCE) -> Iterator[FaultProxy]:
    gce_server.configure_operations(polls=2, wait_completes=False)
    try:
        with FaultProxy(gce_server.endpoint, FAULTS, seed=11) as running:
            yield running
    finally:
        gce_server.configure_operations(polls=1, wait_completes=True)  # start_gce's defaults


@pytest.fixture
def flaky(tmp_path: Path, gce: SeededGCE, proxy: FaultProxy) -> Flaky:
    files = write_gce_files(tmp_path / "flaky", dataclasses.replace(gce, endpoint=proxy.url))
    return Flaky(files["cloud-config"], manifests.nodes(gce.nodes))


def _services() -> list[dict[str, Any]]:
    """Ten Services of the three kinds, Cluster and Local, one with IPv4 + IPv6 ranges."""
    internal = {TYPE: "Internal"}
    return [
        service("pool-0", ports=((80, 30100),)),
        service("pool-1", ports=((81, 30101),)),
        local(service("pool-local", ports=((90, 30190),)), 32001),
        service("pool-v6", ports=((91, 30191),), loadBalancerSourceRanges=MIXED),
        service("rbs-0", annotations={RBS: "enabled"}, ports=((80, 30200),)),
        service("rbs-1", annotations={RBS: "enabled"}, ports=((81, 30201),)),
        local(service("rbs-local", annotations={RBS: "enabled"}), 32002),
        service("ilb-0", annotations=internal),
        service("ilb-1", annotations=internal),
        local(service("ilb-local", annotations=internal), 32003),
    ]


def _expected_firewalls(services: list[dict[str, Any]]) -> list[str]:
    names = {f"{NODE_HC}-http-hc", f"{NODE_HC}-hc"}  # the shared probe firewalls
    for svc in services:
        lb = lb_name(svc)
        names.add(f"k8s-fw-{lb}")
        if svc["spec"].get("externalTrafficPolicy") == "Local":
            internal = svc["metadata"].get("annotations", {}).get(TYPE) == "Internal"
            names.add(f"{lb}-hc" if internal else f"k8s-{lb}-http-hc")
    return sorted(names)


def _creates_answered_twice(server: GCEServer, lbs: Collection[str]) -> list[str]:
    """Creates of a Service's own resources that reached the sandbox more than once: the
    first one's answer was lost on the way back, and the retry met 409 alreadyExists."""
    posts = Counter(
        f"{r.path.rsplit('/', 1)[-1]}/{r.body.get('name')}"
        for r in server.requests
        if r.method == "POST" and r.path.endswith(CREATED) and r.body.get("name")
    )
    return sorted(p for p, n in posts.items() if n > 1 and any(lb in p for lb in lbs))


def _of(services: list[dict[str, Any]], prefix: str) -> list[str]:
    return sorted(lb_name(s) for s in services if s["metadata"]["name"].startswith(prefix))


def test_converges_through_a_flaky_compute_api_without_duplicates_or_leftovers(
    flaky: Flaky, lbctl: Lbctl, cloud: Cloud, proxy: FaultProxy, gce_server: GCEServer
) -> None:
    services = _services()
    lbs = {key_of(s): lb_name(s) for s in services}

    applied = flaky.until_ok(services)
    assert {f.value for f in Fault} <= set(proxy.injected), proxy.injected
    assert sum(flaky.counter.retries.values()) > 50, flaky.counter.retries
    assert _creates_answered_twice(gce_server, lbs.values()), "no lost answer to a create"

    # As a user sees it: one of each resource per Service, every ingress the rule's IP,
    # no address left reserved, and (straight to the sandbox) nothing left to do.
    rules = cloud.forwarding_rules()
    assert sorted(rules) == sorted(lbs.values())
    ingress = {p.service: [i.ip for i in p.ingress] for p in applied.plans}
    assert ingress == {key: [rules[lb]["IPAddress"]] for key, lb in lbs.items()}
    assert len({r["IPAddress"] for r in rules.values()}) == len(rules)
    assert sorted(cloud.target_pools()) == _of(services, "pool")
    assert sorted(cloud.backend_services()) == sorted(_of(services, "rbs") + _of(services, "ilb"))
    firewalls = cloud.firewalls()
    assert sorted(firewalls) == _expected_firewalls(services)
    # IPv4 + IPv6 ranges: the traffic firewall takes the IPv4 ones, the IPv6 one gets none.
    mixed = firewalls[f"k8s-fw-{lbs['default/pool-v6']}"]
    assert mixed["sourceRanges"] == ["10.0.0.0/8"], mixed
    assert cloud.addresses() == {}
    lbctl.in_sync(*services)

    flaky.until_ok(services, deleting=True)
    assert cloud.leftovers(*lbs.values()) == {}


@pytest.mark.parametrize("made_by", ["default/web", "default/other"])
def test_a_create_meeting_409_adopts_only_what_is_its_own(
    gce: SeededGCE, gce_files: dict[str, Path], lbctl: Lbctl, cloud: Cloud, made_by: str
) -> None:
    """Between plan and apply, k8s-fw-<lb> appears: made by web's own interrupted apply
    (adopted and brought up to date) or by another Service (an error; left untouched)."""
    svc = service("web")
    lb = lb_name(svc)
    name = f"k8s-fw-{lb}"
    runner = Flaky(gce_files["cloud-config"], manifests.nodes(gce.nodes))
    config = ProviderConfig(CLUSTER_ID, cloud_config=runner.cloud_config)
    provider = load_provider("gce", config)
    planned = flow.plan_services(provider, [ServiceView.from_dict(svc)], runner.nodes)
    (plan,) = planned.plans
    assert ("gce:firewall", name) in {(c.kind, c.name) for c in plan.changes}
    compute_client("FirewallsClient", gce.endpoint).insert_unary(
        project=gce.project,
        firewall_resource={
            "name": name,
            "description": firewall_description(made_by, "203.0.113.250"),
            "network": f"projects/{gce.project}/global/networks/{gce.network}",
            "allowed": [{"I_p_protocol": "tcp", "ports": ["22"]}],
            "source_ranges": ["192.0.2.0/24"],
        },
    )
    before = cloud.get("firewalls", name)

    flow.apply_plans(provider, planned)

    if made_by == "default/web":
        assert plan.errors == []
        ip = cloud.get("forwarding_rules", lb)["IPAddress"]
        adopted = cloud.get("firewalls", name)
        assert adopted["id"] == before["id"]
        assert adopted["description"] == firewall_description("default/web", ip)
        assert adopted["allowed"] == [{"IPProtocol": "tcp", "ports": ["80", "443"]}]
        assert (adopted["sourceRanges"], adopted["destinationRanges"]) == (["0.0.0.0/0"], [ip])
        lbctl.in_sync(svc)
        lbctl.delete_ok(svc)
        assert cloud.leftovers(lb) == {}
        return
    (error,) = plan.errors
    assert f"gce:firewall {name!r} exists but is not owned" in str(error), error
    assert cloud.get("firewalls", name) == before
    assert lb not in cloud.forwarding_rules()
    lbctl.delete_ok(svc)  # what web made before the error goes; the other's firewall stays
    assert cloud.leftovers(lb) == {"firewalls": [name]}


@pytest.mark.parametrize("kind", ["target pool", "instance groups"])
def test_an_add_meeting_member_already_exists_adds_only_the_missing_members(
    lbctl: Lbctl, cloud: Cloud, gce: SeededGCE, gce_server: GCEServer, kind: str
) -> None:
    """The add fails in its operation and changes nothing: the members are read again and
    those still missing are added (a lost answer leaves them all there: nothing is added)."""
    svc = service("web", annotations={} if kind == "target pool" else {TYPE: "Internal"})
    names = sorted(i.name for i in gce.instances)
    fewer = [n for n in gce.nodes if n["metadata"]["name"] != names[-1]]
    lbctl.apply_ok(svc, nodes=lbctl.write_nodes(fewer))
    path = r"/addInstance$" if kind == "target pool" else r"/addInstances$"
    gce_server.inject_error("POST", path, 400, "memberAlreadyExists", in_operation=True)
    gce_server.clear_requests()

    lbctl.apply_ok(svc)

    adds = [r for r in gce_server.writes() if r.path.endswith(("/addInstance", "/addInstances"))]
    assert len(adds) == 2, adds  # the failed add, then the one still missing
    if kind == "target pool":
        members = cloud.get("target_pools", lb_name(svc))["instances"]
    else:
        members = [m for g in cloud.instance_groups().values() for m in g["members"]]
    assert sorted(m.rsplit("/", 1)[-1] for m in members) == names
    lbctl.in_sync(svc)
