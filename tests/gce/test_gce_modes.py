"""Each balancer mode through its whole life: apply, read back with the SDK, no-op, delete.

Every assertion reads the Compute API back (what `gcloud compute … describe` shows) or
looks at what lbctl printed (exit code, the JSON plan, the --stats call counts).
"""

from __future__ import annotations

import ipaddress

from lbctl.sandbox.gce import SeededGCE
from tests.gce.helpers import (
    GLOBAL_ACCESS,
    GROUP,
    HC_RANGES,
    NODE_HC,
    RBS,
    SOURCE_RANGES,
    SUBNET,
    TIER,
    TYPE,
    Cloud,
    Lbctl,
    last,
    lb_name,
    local,
    service,
)


def _in(ip: str, cidr: str) -> bool:
    return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)


def test_target_pool_lifecycle(lbctl: Lbctl, cloud: Cloud, gce: SeededGCE) -> None:
    svc = service("web", ports=((80, 30080), (81, 30081), (443, 30443)))
    lb = lb_name(svc)

    plan = lbctl.plan(svc, extra=("--detailed-exitcode",))
    assert plan.rc == 2, plan.describe()
    assert plan.writes == 0
    assert plan.ops() == {
        ("gce:address", lb): "create",
        ("gce:firewall", f"k8s-fw-{lb}"): "create",
        ("gce:firewall", f"{NODE_HC}-http-hc"): "create",
        ("gce:http-health-check", NODE_HC): "create",
        ("gce:target-pool", lb): "create",
        ("gce:forwarding-rule", lb): "create",
    }
    assert cloud.leftovers(lb) == {}

    result = lbctl.apply_ok(svc)
    rule = cloud.get("forwarding_rules", lb)
    ip = rule["IPAddress"]
    assert result.ingress() == [{"ip": ip}]
    assert _in(ip, "203.0.113.0/24")  # the sandbox's PREMIUM pool
    assert rule["IPProtocol"] == "TCP"
    assert rule["portRange"] == "80-443"
    assert rule["loadBalancingScheme"] == "EXTERNAL"
    assert rule["networkTier"] == "PREMIUM"
    assert rule["description"] == '{"kubernetes.io/service-name":"default/web"}'
    assert last(rule["target"]) == lb

    pool = cloud.get("target_pools", lb)
    assert sorted(last(i) for i in pool["instances"]) == sorted(i.name for i in gce.instances)
    assert pool["sessionAffinity"] == "NONE"
    assert [last(h) for h in pool["healthChecks"]] == [NODE_HC]

    check = cloud.get("http_health_checks", NODE_HC)
    assert (check["port"], check["requestPath"]) == (10256, "/healthz")
    assert (check["checkIntervalSec"], check["timeoutSec"]) == (8, 1)
    assert (check["healthyThreshold"], check["unhealthyThreshold"]) == (1, 3)

    traffic = cloud.get("firewalls", f"k8s-fw-{lb}")
    assert traffic["allowed"] == [{"IPProtocol": "tcp", "ports": ["80-81", "443"]}]
    assert traffic["sourceRanges"] == ["0.0.0.0/0"]
    assert traffic["destinationRanges"] == [ip]
    assert traffic["targetTags"] == [gce.node_tag]
    assert last(traffic["network"]) == gce.network
    assert traffic["description"] == (
        '{"kubernetes.io/service-name":"default/web", "kubernetes.io/service-ip":"' + ip + '"}'
    )
    probes = cloud.get("firewalls", f"{NODE_HC}-http-hc")
    assert probes["allowed"] == [{"IPProtocol": "tcp", "ports": ["10256"]}]
    assert sorted(probes["sourceRanges"]) == HC_RANGES
    assert probes["description"] == '{"kubernetes.io/cluster-id":"sandbox"}'
    # The address only held the IP while the rule was built; it is released.
    assert lb not in cloud.addresses()

    again = lbctl.plan(svc, extra=("--detailed-exitcode",))
    assert again.rc == 0, again.describe()
    assert again.ingress() == [{"ip": ip}]
    lbctl.in_sync(svc)

    gone = lbctl.delete_ok(svc)
    assert set(gone.ops().values()) == {"delete"}
    assert cloud.leftovers(lb) == {}


def test_backend_service_mode(lbctl: Lbctl, cloud: Cloud, gce: SeededGCE) -> None:
    svc = service("web", annotations={RBS: "enabled"}, sessionAffinity="ClientIP")
    lb = lb_name(svc)
    lbctl.apply_ok(svc)

    rule = cloud.get("forwarding_rules", lb)
    assert not rule.get("target")
    assert last(rule["backendService"]) == lb
    assert rule["portRange"] == "80-443"
    assert rule["loadBalancingScheme"] == "EXTERNAL"
    backend = cloud.get("backend_services", lb)
    assert backend["loadBalancingScheme"] == "EXTERNAL"
    assert backend["protocol"] == "TCP"
    assert backend["sessionAffinity"] == "CLIENT_IP"
    assert [last(h) for h in backend["healthChecks"]] == [NODE_HC]
    assert f"/regions/{gce.region}/" in backend["healthChecks"][0]
    zones = sorted({i.zone for i in gce.instances})
    assert sorted(b["group"].split("/zones/")[1] for b in backend["backends"]) == [
        f"{z}/instanceGroups/{GROUP}" for z in zones
    ]
    groups = cloud.instance_groups()
    assert sorted(groups) == [f"{z}/{GROUP}" for z in zones]
    for zone in zones:
        assert groups[f"{zone}/{GROUP}"]["members"] == sorted(
            i.name for i in gce.instances if i.zone == zone
        )
    check = cloud.get("region_health_checks", NODE_HC)
    assert check["httpHealthCheck"]["port"] == 10256
    assert NODE_HC not in cloud.http_health_checks()
    assert f"{NODE_HC}-http-hc" in cloud.firewalls()

    lbctl.in_sync(svc)
    lbctl.delete_ok(svc)
    assert cloud.leftovers(lb) == {}


def test_internal_local_all_ports_subnet_global_access(
    lbctl: Lbctl, cloud: Cloud, gce: SeededGCE
) -> None:
    ports = tuple((p, 30000 + p) for p in (80, 81, 82, 443, 8080, 9090))
    svc = local(
        service(
            "web",
            ports=ports,
            annotations={
                TYPE: "Internal",
                SUBNET: "ilb-subnet",
                GLOBAL_ACCESS: "true",
                SOURCE_RANGES: "10.0.0.0/8, 192.168.0.0/16",
            },
        ),
        32001,
    )
    lb = lb_name(svc)
    result = lbctl.apply_ok(svc)

    rule = cloud.get("forwarding_rules", lb)
    assert rule["loadBalancingScheme"] == "INTERNAL"
    assert rule["allPorts"] is True and not rule.get("ports")  # more than 5 ports
    assert rule["allowGlobalAccess"] is True
    assert last(rule["subnetwork"]) == "ilb-subnet"
    assert _in(rule["IPAddress"], gce.extra_subnetworks["ilb-subnet"])
    assert result.ingress() == [{"ip": rule["IPAddress"]}]
    check = cloud.get("health_checks", lb)  # Local: the Service's own check
    assert check["httpHealthCheck"] == {
        "port": 32001,
        "requestPath": "/healthz",
        "proxyHeader": "NONE",
    }
    assert check["description"] == '{"kubernetes.io/service-name":"default/web"}'
    assert NODE_HC not in cloud.health_checks()
    probes = cloud.get("firewalls", f"{lb}-hc")
    assert probes["allowed"] == [{"IPProtocol": "tcp", "ports": ["32001"]}]
    assert not probes.get("destinationRanges")
    traffic = cloud.get("firewalls", f"k8s-fw-{lb}")
    assert traffic["allowed"] == [{"IPProtocol": "tcp", "ports": ["80-82", "443", "8080", "9090"]}]
    assert traffic["sourceRanges"] == ["10.0.0.0/8", "192.168.0.0/16"]
    assert traffic["destinationRanges"] == [rule["IPAddress"]]
    backend = cloud.get("backend_services", lb)
    assert backend["loadBalancingScheme"] == "INTERNAL"
    assert [last(h) for h in backend["healthChecks"]] == [lb]
    assert lb not in cloud.addresses()  # the reservation is released

    lbctl.in_sync(svc)
    lbctl.delete_ok(svc)
    assert cloud.leftovers(lb) == {}


def test_internal_cluster_ports_udp(lbctl: Lbctl, cloud: Cloud, gce: SeededGCE) -> None:
    svc = service(
        "dns", annotations={TYPE: "Internal"}, ports=((53, 30053), (5353, 30054)), protocol="UDP"
    )
    lb = lb_name(svc)
    lbctl.apply_ok(svc)
    rule = cloud.get("forwarding_rules", lb)
    assert rule["IPProtocol"] == "UDP"
    assert sorted(rule["ports"]) == ["53", "5353"]
    assert not rule.get("allowGlobalAccess")
    assert last(rule["subnetwork"]) == gce.subnetwork
    assert _in(rule["IPAddress"], gce.subnetwork_cidr)
    check = cloud.get("health_checks", NODE_HC)  # shared, on kube-proxy's port
    assert check["httpHealthCheck"]["port"] == 10256
    assert not check.get("description")
    assert cloud.get("firewalls", f"{NODE_HC}-hc")["sourceRanges"] == HC_RANGES
    assert cloud.get("firewalls", f"k8s-fw-{lb}")["allowed"] == [
        {"IPProtocol": "udp", "ports": ["53", "5353"]}
    ]
    assert cloud.get("backend_services", lb)["protocol"] == "UDP"
    lbctl.in_sync(svc)

    # TCP now: the backend service is replaced, its rule re-created on the same IP.
    tcp = service("dns", annotations={TYPE: "Internal"}, ports=((53, 30053), (8053, 30055)))
    plan = lbctl.plan(tcp)
    assert plan.ops("default/dns")[("gce:backend-service", lb)] == "replace"
    assert plan.ops("default/dns")[("gce:forwarding-rule", lb)] == "create"
    lbctl.apply_ok(tcp)
    moved = cloud.get("forwarding_rules", lb)
    assert (moved["IPProtocol"], moved["IPAddress"]) == ("TCP", rule["IPAddress"])
    assert sorted(moved["ports"]) == ["53", "8053"]
    assert lb not in cloud.addresses()
    lbctl.in_sync(tcp)
    lbctl.delete_ok(tcp)
    assert cloud.leftovers(lb) == {}


def test_local_target_pool_and_standard_tier(lbctl: Lbctl, cloud: Cloud) -> None:
    svc = local(service("web", annotations={TIER: "Standard"}), 31999)
    lb = lb_name(svc)
    lbctl.apply_ok(svc)
    rule = cloud.get("forwarding_rules", lb)
    assert rule["networkTier"] == "STANDARD"
    assert _in(rule["IPAddress"], "198.51.100.0/24")  # the sandbox's STANDARD pool
    check = cloud.get("http_health_checks", lb)
    assert (check["port"], check["requestPath"]) == (31999, "/healthz")
    assert check["description"] == '{"kubernetes.io/service-name":"' + lb + '"}'  # upstream's
    assert [last(h) for h in cloud.get("target_pools", lb)["healthChecks"]] == [lb]
    probes = cloud.get("firewalls", f"k8s-{lb}-http-hc")
    assert probes["destinationRanges"] == [rule["IPAddress"]]
    assert NODE_HC not in cloud.http_health_checks()
    lbctl.in_sync(svc)

    # Premium now: the tier cannot change in place; a new IP of the other pool.
    premium = local(service("web", annotations={TIER: "Premium"}), 31999)
    plan = lbctl.plan(premium)
    assert plan.ops()[("gce:forwarding-rule", lb)] == "replace"
    lbctl.apply_ok(premium)
    moved = cloud.get("forwarding_rules", lb)
    assert moved["networkTier"] == "PREMIUM"
    assert _in(moved["IPAddress"], "203.0.113.0/24")
    assert cloud.get("firewalls", f"k8s-fw-{lb}")["destinationRanges"] == [moved["IPAddress"]]
    assert cloud.get("firewalls", f"k8s-{lb}-http-hc")["destinationRanges"] == [moved["IPAddress"]]
    lbctl.in_sync(premium)
    lbctl.delete_ok(premium)
    assert cloud.leftovers(lb) == {}
