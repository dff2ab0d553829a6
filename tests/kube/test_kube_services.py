"""What the Service registry decides: defaults, IP and port allocation, validation."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from lbctl.sandbox.kube import KubeAPIServer
from tests.kube.helpers import error_body, service, tweak_lb, tweak_local


def _create(core: client.CoreV1Api, body: dict[str, Any]) -> Any:
    return core.create_namespaced_service("default", body)


def _invalid(core: client.CoreV1Api, body: dict[str, Any]) -> str:
    with pytest.raises(ApiException) as caught:
        _create(core, body)
    assert caught.value.status == 422
    message: str = error_body(caught.value)["message"]
    return message


def test_cluster_ip_defaults(core: client.CoreV1Api) -> None:
    created = _create(core, service())
    spec = created.spec
    assert spec.type == "ClusterIP"
    assert ipaddress.ip_address(spec.cluster_ip) in ipaddress.ip_network("10.96.0.0/12")
    assert spec.cluster_ips == [spec.cluster_ip]
    assert spec.ports[0].protocol == "TCP"
    assert spec.ports[0].target_port == 80
    assert spec.ports[0].node_port is None
    assert (spec.session_affinity, spec.ip_families, spec.ip_family_policy) == (
        "None",
        ["IPv4"],
        "SingleStack",
    )
    assert spec.external_traffic_policy is None
    assert spec.internal_traffic_policy == "Cluster"


def test_load_balancer_gets_node_ports_and_cluster_policy(core: client.CoreV1Api) -> None:
    body = service("web", tweak_lb)
    body["spec"]["ports"].append({"name": "https", "port": 443, "protocol": "TCP"})
    created = _create(core, body)
    ports = [p.node_port for p in created.spec.ports]
    assert all(30000 <= p <= 32767 for p in ports) and len(set(ports)) == 2
    assert created.spec.external_traffic_policy == "Cluster"
    assert created.spec.allocate_load_balancer_node_ports is True
    assert created.spec.health_check_node_port is None


def test_distinct_services_get_distinct_allocations(core: client.CoreV1Api) -> None:
    a = _create(core, service("a", tweak_lb))
    b = _create(core, service("b", tweak_lb))
    assert a.spec.cluster_ip != b.spec.cluster_ip
    assert a.spec.ports[0].node_port != b.spec.ports[0].node_port


def test_local_policy_allocates_health_check_node_port(core: client.CoreV1Api) -> None:
    created = _create(core, service("web", tweak_lb, tweak_local))
    assert 30000 <= created.spec.health_check_node_port <= 32767
    assert created.spec.health_check_node_port != created.spec.ports[0].node_port


def test_requested_values_are_honoured(core: client.CoreV1Api) -> None:
    body = service("web", tweak_lb, tweak_local)
    body["spec"].update(clusterIP="10.96.100.100", healthCheckNodePort=32000)
    body["spec"]["ports"][0]["nodePort"] = 31000
    created = _create(core, body)
    assert created.spec.cluster_ip == "10.96.100.100"
    assert created.spec.ports[0].node_port == 31000
    assert created.spec.health_check_node_port == 32000


@pytest.mark.parametrize(
    ("tweak", "message"),
    [
        (
            lambda s: s["spec"]["ports"][0].update(nodePort=30500),
            "provided port is already allocated",
        ),
        (lambda s: s["spec"]["ports"][0].update(nodePort=80), "not in the valid range"),
        (lambda s: s["spec"].update(clusterIP="10.96.200.1"), "provided IP is already allocated"),
        (lambda s: s["spec"].update(clusterIP="192.168.0.1"), "not in the valid range"),
    ],
    ids=["node-port-taken", "node-port-range", "ip-taken", "ip-range"],
)
def test_allocation_clashes_are_422(core: client.CoreV1Api, tweak: Any, message: str) -> None:
    first = service("first", tweak_lb)
    first["spec"]["ports"][0]["nodePort"] = 30500
    first["spec"]["clusterIP"] = "10.96.200.1"
    _create(core, first)
    body = service("second", tweak_lb)
    tweak(body)
    assert message in _invalid(core, body)


@pytest.mark.parametrize(
    ("tweak", "message"),
    [
        (lambda s: s["spec"].update(type="Bogus"), 'spec.type: Unsupported value: "Bogus"'),
        (lambda s: s["spec"].update(ports=[]), "spec.ports: Required value"),
        (lambda s: s["spec"]["ports"][0].update(port=0), "must be between 1 and 65535"),
        (lambda s: s["spec"]["ports"][0].update(protocol="HTTP"), 'Unsupported value: "HTTP"'),
        (lambda s: s["spec"]["ports"].append({"port": 443}), "spec.ports[1].name: Required value"),
        (
            lambda s: s["spec"]["ports"][0].update(nodePort=30001),
            "may not be used when `type` is 'ClusterIP'",
        ),
        (lambda s: s["spec"].update(externalTrafficPolicy="Local"), "externally-accessible"),
        (
            lambda s: s["spec"].update(loadBalancerSourceRanges=["10.0.0.0/8"]),
            "only be used when `type` is 'LoadBalancer'",
        ),
        (
            lambda s: s["spec"].update(loadBalancerClass="x.example.com/lb"),
            "only be used when `type` is 'LoadBalancer'",
        ),
        (lambda s: s["spec"].update(ipFamilies=["IPv6"]), "not configured on this cluster"),
        (lambda s: s["spec"].update(sessionAffinity="Sticky"), 'Unsupported value: "Sticky"'),
    ],
    ids=[
        "type",
        "no-ports",
        "port-range",
        "protocol",
        "unnamed-ports",
        "node-port-on-clusterip",
        "etp-on-clusterip",
        "source-ranges-on-clusterip",
        "class-on-clusterip",
        "ipv6",
        "affinity",
    ],
)
def test_invalid_specs_are_422(core: client.CoreV1Api, tweak: Any, message: str) -> None:
    body = service()
    tweak(body)
    assert message in _invalid(core, body)


def test_invalid_source_range(core: client.CoreV1Api) -> None:
    body = service("web", tweak_lb)
    body["spec"]["loadBalancerSourceRanges"] = ["10.0.0.0/8", "nope"]
    assert "spec.loadBalancerSourceRanges[1]" in _invalid(core, body)


def test_replace_without_allocated_values_keeps_them(core: client.CoreV1Api) -> None:
    created = _create(core, service("web", tweak_lb, tweak_local))
    body = service("web", tweak_lb, tweak_local)
    body["metadata"]["resourceVersion"] = created.metadata.resource_version
    replaced = core.replace_namespaced_service("web", "default", body)
    assert replaced.spec.cluster_ip == created.spec.cluster_ip
    assert replaced.spec.ports[0].node_port == created.spec.ports[0].node_port
    assert replaced.spec.health_check_node_port == created.spec.health_check_node_port


def test_cluster_ip_is_immutable(core: client.CoreV1Api) -> None:
    _create(core, service())
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_service("web", "default", {"spec": {"clusterIP": "10.96.50.50"}})
    assert caught.value.status == 422
    assert "may not change once set" in error_body(caught.value)["message"]


def test_load_balancer_class_is_immutable(core: client.CoreV1Api) -> None:
    body = service("web", tweak_lb)
    body["spec"]["loadBalancerClass"] = "a.example.com/lb"
    _create(core, body)
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_service(
            "web", "default", {"spec": {"loadBalancerClass": "b.example.com/lb"}}
        )
    assert caught.value.status == 422


def test_type_change_to_cluster_ip_releases_node_ports(
    kube: KubeAPIServer, core: client.CoreV1Api
) -> None:
    created = _create(core, service("web", tweak_lb, tweak_local))
    node_port = created.spec.ports[0].node_port
    downgraded = core.patch_namespaced_service("web", "default", {"spec": {"type": "ClusterIP"}})
    assert downgraded.spec.ports[0].node_port is None
    assert downgraded.spec.health_check_node_port is None
    assert downgraded.spec.external_traffic_policy is None
    assert downgraded.spec.allocate_load_balancer_node_ports is None
    reuse = service("other", tweak_lb)
    reuse["spec"]["ports"][0]["nodePort"] = node_port
    assert _create(core, reuse).spec.ports[0].node_port == node_port


def test_policy_change_to_cluster_releases_health_check_port(core: client.CoreV1Api) -> None:
    created = _create(core, service("web", tweak_lb, tweak_local))
    port = created.spec.health_check_node_port
    changed = core.patch_namespaced_service(
        "web", "default", {"spec": {"externalTrafficPolicy": "Cluster"}}
    )
    assert changed.spec.health_check_node_port is None
    reuse = service("other", tweak_lb, tweak_local)
    reuse["spec"]["healthCheckNodePort"] = port
    assert _create(core, reuse).spec.health_check_node_port == port


def test_upgrade_to_load_balancer_allocates_and_keeps_status_on_spec_change(
    core: client.CoreV1Api,
) -> None:
    _create(core, service())
    upgraded = core.patch_namespaced_service("web", "default", {"spec": {"type": "LoadBalancer"}})
    assert upgraded.spec.ports[0].node_port
    core.patch_namespaced_service_status(
        "web", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}}
    )
    changed = core.patch_namespaced_service(
        "web", "default", {"spec": {"sessionAffinity": "ClientIP"}}
    )
    assert changed.status.load_balancer.ingress[0].ip == "203.0.113.9"
    assert changed.spec.session_affinity_config.client_ip.timeout_seconds == 10800


def test_no_node_ports_when_allocation_is_off(core: client.CoreV1Api) -> None:
    body = service("web", tweak_lb)
    body["spec"]["allocateLoadBalancerNodePorts"] = False
    assert _create(core, body).spec.ports[0].node_port is None


def test_headless_and_external_name(core: client.CoreV1Api) -> None:
    headless = service("headless")
    headless["spec"]["clusterIP"] = "None"
    assert _create(core, headless).spec.cluster_ips == ["None"]
    external = {
        "metadata": {"name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "db.example.com"},
    }
    created = _create(core, external)
    assert created.spec.cluster_ip is None
    assert "spec.externalName: Required value" in _invalid(
        core, {"metadata": {"name": "bad"}, "spec": {"type": "ExternalName"}}
    )


def test_one_node_port_may_serve_tcp_and_udp(core: client.CoreV1Api) -> None:
    body = service("dns", tweak_lb)
    body["spec"]["ports"] = [
        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "nodePort": 30053},
        {"name": "dns-udp", "port": 53, "protocol": "UDP", "nodePort": 30053},
    ]
    assert [p.node_port for p in _create(core, body).spec.ports] == [30053, 30053]
    body["metadata"]["name"] = "dup"
    body["spec"]["ports"][1]["protocol"] = "TCP"
    body["spec"]["ports"][1]["port"] = 54
    for port in body["spec"]["ports"]:
        port["nodePort"] = 30054
    assert "already allocated" in _invalid(core, body)
