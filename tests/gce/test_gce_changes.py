"""Changes to a running balancer: mode switches, shared resources, nodes, replacements, IPs."""

from __future__ import annotations

from typing import Any

import yaml

from lbctl.sandbox.gce import SeededGCE, compute_client
from tests.gce.helpers import (
    EXAMPLES,
    GROUP,
    NODE_HC,
    RBS,
    TYPE,
    Cloud,
    Lbctl,
    last,
    lb_name,
    service,
)


def _internal_only(cloud: Cloud, lb: str) -> list[str]:
    """What only an internal balancer has, still present."""
    left = []
    if lb in cloud.backend_services():
        left.append("backend service")
    if NODE_HC in cloud.health_checks():
        left.append("global health check")
    if f"{NODE_HC}-hc" in cloud.firewalls():
        left.append("internal health-check firewall")
    if cloud.instance_groups():
        left.append("instance groups")
    return left


def _target_pool_only(cloud: Cloud, lb: str) -> list[str]:
    left = []
    if lb in cloud.target_pools():
        left.append("target pool")
    if cloud.http_health_checks():
        left.append("legacy health check")
    return left


def test_internal_external_switch_leaves_nothing_behind(lbctl: Lbctl, cloud: Cloud) -> None:
    internal = service("web", annotations={TYPE: "Internal"})
    external = service("web")
    lb = lb_name(internal)

    lbctl.apply_ok(internal)
    internal_ip = cloud.get("forwarding_rules", lb)["IPAddress"]

    plan = lbctl.plan(external)
    assert plan.ops()[("gce:forwarding-rule", lb)] == "replace"
    assert plan.ops()[("gce:backend-service", lb)] == "delete"
    result = lbctl.apply_ok(external)
    rule = cloud.get("forwarding_rules", lb)
    assert rule["loadBalancingScheme"] == "EXTERNAL"
    assert rule["IPAddress"] != internal_ip
    assert result.ingress() == [{"ip": rule["IPAddress"]}]
    # The traffic firewall follows the new IP.
    assert cloud.get("firewalls", f"k8s-fw-{lb}")["destinationRanges"] == [rule["IPAddress"]]
    assert _internal_only(cloud, lb) == []
    assert lb not in cloud.addresses()
    lbctl.in_sync(external)

    lbctl.apply_ok(internal)
    assert cloud.get("forwarding_rules", lb)["loadBalancingScheme"] == "INTERNAL"
    assert _target_pool_only(cloud, lb) == []
    assert f"{NODE_HC}-http-hc" not in cloud.firewalls()
    lbctl.in_sync(internal)

    lbctl.delete_ok(internal)
    assert cloud.leftovers(lb) == {}


def test_target_pool_backend_service_switch_keeps_the_ip(lbctl: Lbctl, cloud: Cloud) -> None:
    pool = service("web")
    backend = service("web", annotations={RBS: "enabled"})
    lb = lb_name(pool)

    lbctl.apply_ok(pool)
    ip = cloud.get("forwarding_rules", lb)["IPAddress"]

    plan = lbctl.plan(backend)
    assert plan.ops()[("gce:forwarding-rule", lb)] == "replace"
    assert plan.ops()[("gce:target-pool", lb)] == "delete"
    # The rule is rebuilt: its IP is held (promoted to a static address) meanwhile.
    address = next(c for c in plan.plan()["changes"] if c["kind"] == "gce:address")
    assert address["after"]["address"] == ip
    lbctl.apply_ok(backend)
    rule = cloud.get("forwarding_rules", lb)
    assert rule["IPAddress"] == ip
    assert last(rule["backendService"]) == lb
    assert _target_pool_only(cloud, lb) == []
    assert lb not in cloud.addresses()
    lbctl.in_sync(backend)

    lbctl.apply_ok(pool)
    rule = cloud.get("forwarding_rules", lb)
    assert rule["IPAddress"] == ip
    assert last(rule["target"]) == lb
    assert lb not in cloud.backend_services()
    assert cloud.region_health_checks() == {}
    assert cloud.instance_groups() == {}
    lbctl.in_sync(pool)
    lbctl.delete_ok(pool)
    assert cloud.leftovers(lb) == {}


def test_two_services_share_the_node_health_check(lbctl: Lbctl, cloud: Cloud) -> None:
    first, second = service("first"), service("second")
    lbctl.apply_ok(first, second)
    checks = cloud.http_health_checks()
    assert list(checks) == [NODE_HC]
    for svc in (first, second):
        pool = cloud.get("target_pools", lb_name(svc))
        assert [last(h) for h in pool["healthChecks"]] == [NODE_HC]
    lbctl.in_sync(first, second)

    # Deleting one keeps what the other still uses.
    gone = lbctl.delete_ok(first)
    assert ("gce:http-health-check", NODE_HC) not in gone.ops("default/first")
    assert NODE_HC in cloud.http_health_checks()
    assert f"{NODE_HC}-http-hc" in cloud.firewalls()
    assert lb_name(first) not in cloud.target_pools()
    lbctl.in_sync(second)

    # The last one out removes them.
    lbctl.delete_ok(second)
    assert cloud.leftovers(lb_name(first), lb_name(second)) == {}


def test_deleting_all_at_once_leaves_nothing(lbctl: Lbctl, cloud: Cloud) -> None:
    services = [
        service("a"),
        service("b"),
        service("c", annotations={RBS: "enabled"}),
        service("d", annotations={TYPE: "Internal"}),
        service("e", annotations={TYPE: "Internal"}),
    ]
    lbctl.apply_ok(*services)
    assert len(cloud.forwarding_rules()) == 5
    groups = cloud.instance_groups()
    assert sorted(groups) == [f"us-central1-a/{GROUP}", f"us-central1-b/{GROUP}"]
    lbctl.in_sync(*services)
    lbctl.delete_ok(*services)
    assert cloud.leftovers(*(lb_name(s) for s in services)) == {}


def _nodes(gce: SeededGCE, *names: str) -> list[dict[str, Any]]:
    return [n for n in gce.nodes if n["metadata"]["name"] in names]


def test_node_changes_touch_only_membership(lbctl: Lbctl, cloud: Cloud, gce: SeededGCE) -> None:
    pool, internal = service("pool"), service("ilb", annotations={TYPE: "Internal"})
    lbctl.apply_ok(pool, internal)
    names = sorted(i.name for i in gce.instances)
    fewer = lbctl.write_nodes(_nodes(gce, *names[:-1]))

    plan = lbctl.plan(pool, internal, nodes=fewer)
    assert set(plan.ops("default/pool").items()) == {(("gce:target-pool", lb_name(pool)), "update")}
    assert set(plan.ops("default/ilb").values()) == {"update"}
    assert {kind for kind, _ in plan.ops("default/ilb")} == {"gce:instance-group"}

    result = lbctl.apply_ok(pool, internal, nodes=fewer)
    writes = {op for op in result.calls if op.split(":")[1] not in ("list", "get", "wait")}
    writes -= {op for op in writes if op.endswith(("listInstances",))}
    assert writes <= {"targetPools:removeInstance", "instanceGroups:removeInstances"}, writes
    members = sorted(last(i) for i in cloud.get("target_pools", lb_name(pool))["instances"])
    assert members == names[:-1]
    grouped = sorted(m for g in cloud.instance_groups().values() for m in g["members"])
    assert grouped == names[:-1]
    again = lbctl.plan(pool, internal, nodes=fewer, extra=("--detailed-exitcode",))
    assert again.rc == 0, again.describe()
    lbctl.apply_ok(pool, internal)  # all three nodes again
    assert len(cloud.get("target_pools", lb_name(pool))["instances"]) == 3
    assert sum(len(g["members"]) for g in cloud.instance_groups().values()) == 3


def test_affinity_change_replaces_pool_and_keeps_ip(lbctl: Lbctl, cloud: Cloud) -> None:
    svc = service("web")
    lb = lb_name(svc)
    lbctl.apply_ok(svc)
    ip = cloud.get("forwarding_rules", lb)["IPAddress"]
    sticky = service("web", sessionAffinity="ClientIP")
    plan = lbctl.plan(sticky)
    ops = plan.ops()
    assert ops[("gce:target-pool", lb)] == "replace"
    assert ops[("gce:forwarding-rule", lb)] == "create"  # re-created after the pool
    assert ops[("gce:address", lb)] == "create"  # holds the IP meanwhile
    lbctl.apply_ok(sticky)
    assert cloud.get("target_pools", lb)["sessionAffinity"] == "CLIENT_IP"
    assert cloud.get("forwarding_rules", lb)["IPAddress"] == ip
    assert lb not in cloud.addresses()
    lbctl.in_sync(sticky)


def test_user_reserved_address_is_used_and_never_released(
    lbctl: Lbctl, cloud: Cloud, gce: SeededGCE
) -> None:
    client = compute_client("AddressesClient", gce.endpoint)
    operation = client.insert_unary(
        project=gce.project,
        region=gce.region,
        address_resource={"name": "my-static-ip", "network_tier": "PREMIUM"},
    )
    assert operation.name
    ip = cloud.get("addresses", "my-static-ip")["address"]
    svc = service("web", loadBalancerIP=ip)
    lb = lb_name(svc)
    plan = lbctl.plan(svc)
    assert ("gce:address", lb) not in plan.ops()  # nothing to reserve: the user did
    result = lbctl.apply_ok(svc)
    assert result.ingress() == [{"ip": ip}]
    assert cloud.get("forwarding_rules", lb)["IPAddress"] == ip
    assert "my-static-ip" in cloud.addresses()
    lbctl.in_sync(svc)
    lbctl.delete_ok(svc)
    assert cloud.leftovers(lb) == {}
    assert cloud.get("addresses", "my-static-ip")["address"] == ip


def test_every_example_applies_and_deletes(lbctl: Lbctl, cloud: Cloud) -> None:
    services = [
        doc
        for path in sorted(EXAMPLES.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "Service"
    ]
    result = lbctl.apply_ok(*services)
    assert len(cloud.forwarding_rules()) == len(services)
    for plan in result.doc["plans"]:
        assert plan["ingress"], plan
    lbctl.in_sync(*services)
    lbctl.delete_ok(*services)
    assert cloud.leftovers(*(lb_name(s) for s in services)) == {}
