"""Source ranges of both IP families: IPv4 ranges only in the traffic firewall.

A VPC firewall rule "can contain either IPv4 or IPv6 ranges, but not both" (the sandbox,
like the Compute API, answers 400 to a rule that mixes them), and the balancer's IP is
IPv4 (lbctl makes IPv4 forwarding rules only): no IPv6 client can ever reach it. So
k8s-fw-<lb> takes the IPv4 ranges and the IP, exactly as for an IPv4-only Service, and
each IPv6 range gets a warning and no rule. Ranges that are all IPv6 leave no traffic
firewall at all: never a fallback to 0.0.0.0/0, which would be wider than asked.
"""

from __future__ import annotations

from typing import Any

import pytest

from lbctl.sandbox.gce import SeededGCE, compute_client
from tests.gce.helpers import (
    NODE_HC,
    RBS,
    SOURCE_RANGES,
    TYPE,
    Cloud,
    Lbctl,
    lb_name,
    local,
    service,
)

IPV4 = sorted(["10.0.0.0/8", "192.0.2.0/24"])
IPV6 = sorted(["2001:db8::/32", "2001:db8:1::/48"])
MODES: dict[str, dict[str, str]] = {
    "target-pool": {},
    "backend-service": {RBS: "enabled"},
    "internal": {TYPE: "Internal"},
}
# The shared health-check probe firewall of each mode (Cluster traffic).
PROBE_FIREWALL = {
    "target-pool": f"{NODE_HC}-http-hc",
    "backend-service": f"{NODE_HC}-http-hc",
    "internal": f"{NODE_HC}-hc",
}
UNREACHABLE = (
    "the GCE balancer has an IPv4 address only, so no IPv6 client can reach it; "
    "no firewall rule is made for this range"
)


def _traffic_firewalls(cloud: Cloud, lb: str) -> dict[str, dict[str, list[str]]]:
    """k8s-fw-<lb>*: name -> its source and destination ranges."""
    return {
        name: {
            "sourceRanges": sorted(fw.get("sourceRanges", [])),
            "destinationRanges": sorted(fw.get("destinationRanges", [])),
        }
        for name, fw in cloud.firewalls().items()
        if name.startswith(f"k8s-fw-{lb}")
    }


def _no_mixed_firewall(cloud: Cloud) -> None:
    for name, fw in cloud.firewalls().items():
        sources = fw.get("sourceRanges", [])
        assert all(":" not in s for s in sources), f"{name}: {sources}"


def _firewall_ops(plan: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["op"] for c in plan["changes"] if c["kind"] == "gce:firewall"}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_mixed_ranges_make_one_ipv4_firewall_and_warn_of_each_ipv6_range(
    lbctl: Lbctl, cloud: Cloud, mode: str
) -> None:
    # IPv6 first: the warnings name each range by its own index.
    mixed = service("web", annotations=MODES[mode], loadBalancerSourceRanges=IPV6 + IPV4)
    lb = lb_name(mixed)

    result = lbctl.apply_ok(mixed)
    ip = result.ingress()[0]["ip"]
    assert _traffic_firewalls(cloud, lb) == {
        f"k8s-fw-{lb}": {"sourceRanges": IPV4, "destinationRanges": [ip]},
    }
    traffic = cloud.get("firewalls", f"k8s-fw-{lb}")
    assert traffic["allowed"] == [{"IPProtocol": "tcp", "ports": ["80", "443"]}]
    assert PROBE_FIREWALL[mode] in cloud.firewalls()
    _no_mixed_firewall(cloud)
    warnings = result.plan()["warnings"]
    for i, cidr in enumerate(IPV6):
        assert f'spec.loadBalancerSourceRanges[{i}] "{cidr}": {UNREACHABLE}' in warnings, warnings
    assert not any("no client can reach it" in w for w in warnings), warnings
    assert not any("loadBalancerSourceRanges[2]" in w for w in warnings), warnings
    lbctl.in_sync(mixed)

    # The IPv6 ranges were never in a rule: dropping them changes nothing in the cloud,
    # and an IPv4-only Service has the very same firewall (no churn).
    ipv4_only = service("web", annotations=MODES[mode], loadBalancerSourceRanges=IPV4)
    plan = lbctl.plan(ipv4_only).plan()
    assert plan["changes"] == [], plan
    assert not any("IPv6" in w for w in plan["warnings"]), plan["warnings"]
    lbctl.in_sync(ipv4_only)
    assert cloud.get("firewalls", f"k8s-fw-{lb}") == traffic

    lbctl.in_sync(mixed)  # and back: nothing to do either
    lbctl.delete_ok(mixed)
    assert cloud.leftovers(lb) == {}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_only_ipv6_ranges_make_no_traffic_firewall_never_0_0_0_0(
    lbctl: Lbctl, cloud: Cloud, mode: str
) -> None:
    svc = service("web", annotations={**MODES[mode], SOURCE_RANGES: ", ".join(IPV6)})
    lb = lb_name(svc)

    result = lbctl.apply_ok(svc)
    assert _traffic_firewalls(cloud, lb) == {}
    assert PROBE_FIREWALL[mode] in cloud.firewalls()  # the health checks still get in
    assert lb in cloud.forwarding_rules()
    for name, fw in cloud.firewalls().items():
        assert "0.0.0.0/0" not in fw.get("sourceRanges", []), name
    warnings = result.plan()["warnings"]
    for cidr in IPV6:
        expected = f'annotation {SOURCE_RANGES} entry "{cidr}": {UNREACHABLE}'
        assert expected in warnings, warnings
    (everything,) = [w for w in warnings if "every source range is IPv6" in w]
    assert "no client can reach it" in everything and f"k8s-fw-{lb}" in everything
    lbctl.in_sync(svc)

    lbctl.delete_ok(svc)
    assert cloud.leftovers(lb) == {}


def test_ranges_becoming_all_ipv6_delete_the_traffic_firewall(lbctl: Lbctl, cloud: Cloud) -> None:
    mixed = local(service("web", loadBalancerSourceRanges=IPV4 + IPV6))
    lb = lb_name(mixed)
    lbctl.apply_ok(mixed)
    assert set(_traffic_firewalls(cloud, lb)) == {f"k8s-fw-{lb}"}

    ipv6_only = local(service("web", loadBalancerSourceRanges=IPV6))
    result = lbctl.plan(ipv6_only)
    assert _firewall_ops(result.plan()) == {f"k8s-fw-{lb}": "delete"}, result.describe()
    lbctl.apply_ok(ipv6_only)
    assert _traffic_firewalls(cloud, lb) == {}
    assert f"k8s-{lb}-http-hc" in cloud.firewalls()  # the Local probe firewall stays
    lbctl.in_sync(ipv6_only)

    result = lbctl.apply_ok(mixed)  # an IPv4 range again: the firewall is made again
    ip = result.ingress()[0]["ip"]
    assert _traffic_firewalls(cloud, lb) == {
        f"k8s-fw-{lb}": {"sourceRanges": IPV4, "destinationRanges": [ip]},
    }
    lbctl.delete_ok(mixed)
    assert cloud.leftovers(lb) == {}


def test_unowned_traffic_firewall_is_left_alone_when_ranges_are_all_ipv6(
    lbctl: Lbctl, cloud: Cloud, gce: SeededGCE
) -> None:
    svc = service("web", loadBalancerSourceRanges=IPV6)
    name = f"k8s-fw-{lb_name(svc)}"
    compute_client("FirewallsClient", gce.endpoint).insert_unary(
        project=gce.project,
        firewall_resource={
            "name": name,
            "description": '{"kubernetes.io/service-name":"default/other"}',
            "network": f"projects/{gce.project}/global/networks/{gce.network}",
            "allowed": [{"I_p_protocol": "tcp", "ports": ["22"]}],
            "source_ranges": ["192.0.2.0/24"],
        },
    )
    before = cloud.get("firewalls", name)
    lbctl.apply_ok(svc)  # lbctl wants no k8s-fw-<lb>: not its own, so not touched
    assert cloud.get("firewalls", name) == before
    lbctl.delete_ok(svc)
    assert cloud.get("firewalls", name) == before
