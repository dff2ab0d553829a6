"""Insert / get / list / delete of every resource kind through the real google-cloud-compute SDK."""

from __future__ import annotations

import ipaddress
import re

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1

from tests.sandbox_gce.conftest import Compute

GOOGLE = "https://www.googleapis.com/compute/v1/"


def in_range(ip: str, cidr: str) -> bool:
    return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)


def test_address_lifecycle(compute: Compute) -> None:
    client = compute.AddressesClient
    created = compute.address("lb-ip", description="mine")

    assert created.kind == "compute#address"
    assert re.fullmatch(r"\d{19}", str(created.id))
    assert created.creation_timestamp
    assert created.status == "RESERVED"
    assert created.address_type == "EXTERNAL"
    assert created.network_tier == "PREMIUM"
    assert in_range(created.address, "203.0.113.0/24")
    assert created.self_link == (
        f"{GOOGLE}projects/{compute.project}/regions/{compute.region}/addresses/lb-ip"
    )
    assert created.region.endswith(f"/regions/{compute.region}")
    assert [a.name for a in client.list(**compute.regional())] == ["lb-ip"]

    compute.done(client.delete_unary(**compute.regional(address="lb-ip")))
    with pytest.raises(exceptions.NotFound):
        client.get(**compute.regional(address="lb-ip"))
    assert list(client.list(**compute.regional())) == []


def test_address_tiers_and_internal(compute: Compute) -> None:
    standard = compute.address("std", network_tier="STANDARD")
    assert in_range(standard.address, "198.51.100.0/24")
    internal = compute.address(
        "ilb", address_type="INTERNAL", subnetwork=compute.subnetwork_link("ilb-subnet")
    )
    assert in_range(internal.address, "10.129.0.0/24")
    assert internal.subnetwork.endswith("/subnetworks/ilb-subnet")
    chosen = compute.address(
        "fixed",
        address_type="INTERNAL",
        address="10.128.0.50",
        subnetwork=compute.subnetwork_link(),
    )
    assert chosen.address == "10.128.0.50"


def test_external_forwarding_rule_with_target_pool(compute: Compute) -> None:
    compute.http_health_check("k8s-sandbox-node", port=10256, requestPath="/healthz")
    pool = compute.target_pool(
        "a1234", instances=3, health_check="global/httpHealthChecks/k8s-sandbox-node"
    )
    assert len(pool.instances) == 3
    assert pool.session_affinity == "NONE"
    assert pool.health_checks == [
        f"{GOOGLE}projects/{compute.project}/global/httpHealthChecks/k8s-sandbox-node"
    ]

    rule = compute.forwarding_rule(
        "a1234",
        target=pool.self_link,
        port_range="80-443",
        I_p_protocol="TCP",
        description='{"kubernetes.io/service-name":"default/web"}',
    )
    assert rule.kind == "compute#forwardingRule"
    assert in_range(rule.I_p_address, "203.0.113.0/24")
    assert rule.port_range == "80-443"
    assert rule.load_balancing_scheme == "EXTERNAL"
    assert rule.network_tier == "PREMIUM"
    assert rule.target == pool.self_link
    assert rule.fingerprint

    client = compute.ForwardingRulesClient
    compute.done(client.delete_unary(**compute.regional(forwarding_rule="a1234")))
    compute.done(compute.TargetPoolsClient.delete_unary(**compute.regional(target_pool="a1234")))


def test_forwarding_rule_on_a_reserved_address_marks_it_in_use(compute: Compute) -> None:
    address = compute.address("a1234")
    pool = compute.target_pool("a1234", instances=1)
    rule = compute.forwarding_rule(
        "a1234", target=pool.self_link, I_p_address=address.address, port_range="80"
    )
    assert rule.I_p_address == address.address

    used = compute.AddressesClient.get(**compute.regional(address="a1234"))
    assert used.status == "IN_USE"
    assert used.users == [rule.self_link]

    compute.done(
        compute.ForwardingRulesClient.delete_unary(**compute.regional(forwarding_rule="a1234"))
    )
    assert compute.AddressesClient.get(**compute.regional(address="a1234")).status == "RESERVED"


def test_promoting_an_ephemeral_ip_keeps_it_across_recreation(compute: Compute) -> None:
    """Upstream's flow: reserve the rule's IP, recreate the rule on it, release the address."""
    pool = compute.target_pool("a1", instances=1)
    first = compute.forwarding_rule("a1", target=pool.self_link, port_range="80")
    promoted = compute.address("a1", address=first.I_p_address)
    assert promoted.status == "IN_USE"

    compute.done(
        compute.ForwardingRulesClient.delete_unary(**compute.regional(forwarding_rule="a1"))
    )
    second = compute.forwarding_rule(
        "a1", target=pool.self_link, port_range="80-81", I_p_address=first.I_p_address
    )
    compute.done(compute.AddressesClient.delete_unary(**compute.regional(address="a1")))
    kept = compute.ForwardingRulesClient.get(**compute.regional(forwarding_rule="a1"))
    assert kept.I_p_address == second.I_p_address == first.I_p_address


def test_internal_forwarding_rule_with_backend_service(compute: Compute) -> None:
    group = compute.instance_group("k8s-ig--sandbox", instances=2)
    service = compute.backend_service("ilb", groups=(group.self_link,))
    assert service.fingerprint
    assert service.backends[0].balancing_mode == "CONNECTION"

    rule = compute.forwarding_rule(
        "ilb",
        load_balancing_scheme="INTERNAL",
        backend_service=service.self_link,
        ports=["80", "443"],
        allow_global_access=True,
        subnetwork=compute.subnetwork_link(),
    )
    assert in_range(rule.I_p_address, compute.seeded.subnetwork_cidr)
    assert rule.I_p_address not in {i.internal_ip for i in compute.seeded.instances}
    assert rule.ports == ["80", "443"]
    assert rule.allow_global_access is True
    assert rule.network.endswith("/global/networks/default")
    assert rule.subnetwork == f"{GOOGLE}{compute.subnetwork_link()}"


def test_backend_service_patch_and_update_carry_the_fingerprint(compute: Compute) -> None:
    client = compute.RegionBackendServicesClient
    service = compute.backend_service("bs")
    patch = compute_v1.BackendService(session_affinity="CLIENT_IP", fingerprint=service.fingerprint)
    compute.done(
        client.patch_unary(**compute.regional(backend_service="bs", backend_service_resource=patch))
    )
    patched = client.get(**compute.regional(backend_service="bs"))
    assert patched.session_affinity == "CLIENT_IP"
    assert patched.fingerprint != service.fingerprint
    assert patched.id == service.id

    patched.description = "updated"
    compute.done(
        client.update_unary(
            **compute.regional(backend_service="bs", backend_service_resource=patched)
        )
    )
    updated = client.get(**compute.regional(backend_service="bs"))
    assert (updated.description, updated.session_affinity) == ("updated", "CLIENT_IP")


@pytest.mark.parametrize("regional", [False, True], ids=["global", "regional"])
def test_health_check_lifecycle(compute: Compute, regional: bool) -> None:
    check = compute.health_check("k8s-hc", regional=regional)
    assert check.kind == "compute#healthCheck"
    assert (check.check_interval_sec, check.timeout_sec) == (5, 5)
    assert check.http_health_check.port == 10256
    assert check.http_health_check.request_path == "/healthz"
    if regional:
        client, where = compute.RegionHealthChecksClient, compute.regional()
    else:
        client, where = compute.HealthChecksClient, {"project": compute.project}

    patch = compute_v1.HealthCheck(check_interval_sec=8, healthy_threshold=1)
    compute.done(client.patch_unary(health_check="k8s-hc", health_check_resource=patch, **where))
    patched = client.get(health_check="k8s-hc", **where)
    assert (patched.check_interval_sec, patched.healthy_threshold) == (8, 1)
    assert patched.http_health_check.port == 10256

    compute.done(client.delete_unary(health_check="k8s-hc", **where))
    assert list(client.list(**where)) == []


def test_firewall_lifecycle_and_defaults(compute: Compute) -> None:
    client = compute.FirewallsClient
    firewall = compute_v1.Firewall(
        name="k8s-fw-a1234",
        allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["80", "443"])],
        target_tags=[compute.seeded.node_tag],
        destination_ranges=["203.0.113.9"],
    )
    operation = client.insert_unary(project=compute.project, firewall_resource=firewall)
    assert not operation.region and not operation.zone
    compute.done(operation)
    got = client.get(project=compute.project, firewall="k8s-fw-a1234")
    assert got.priority == 1000
    assert got.direction == "INGRESS"
    assert got.source_ranges == ["0.0.0.0/0"]
    assert got.network == f"{GOOGLE}projects/{compute.project}/global/networks/default"
    assert got.allowed[0].ports == ["80", "443"]

    patch = compute_v1.Firewall(source_ranges=["10.0.0.0/8"])
    compute.done(
        client.patch_unary(
            project=compute.project, firewall="k8s-fw-a1234", firewall_resource=patch
        )
    )
    patched = client.get(project=compute.project, firewall="k8s-fw-a1234")
    assert patched.source_ranges == ["10.0.0.0/8"]
    assert patched.target_tags == [compute.seeded.node_tag]

    replacement = compute_v1.Firewall(
        name="k8s-fw-a1234", denied=[compute_v1.Denied(I_p_protocol="all")]
    )
    compute.done(
        client.update_unary(
            project=compute.project, firewall="k8s-fw-a1234", firewall_resource=replacement
        )
    )
    replaced = client.get(project=compute.project, firewall="k8s-fw-a1234")
    assert not replaced.allowed and replaced.denied[0].I_p_protocol == "all"
    assert not replaced.target_tags

    compute.done(client.delete_unary(project=compute.project, firewall="k8s-fw-a1234"))
    with pytest.raises(exceptions.NotFound):
        client.get(project=compute.project, firewall="k8s-fw-a1234")


def test_instance_group_lifecycle(compute: Compute) -> None:
    group = compute.instance_group("k8s-ig--sandbox", instances=2)
    assert group.kind == "compute#instanceGroup"
    assert group.size == 2
    assert group.zone.endswith(f"/zones/{compute.zone}")
    assert group.network.endswith("/global/networks/default")
    client = compute.InstanceGroupsClient
    names = [g.name for g in client.list(project=compute.project, zone=compute.zone)]
    assert names == ["k8s-ig--sandbox"]
    compute.done(
        client.delete_unary(
            project=compute.project, zone=compute.zone, instance_group="k8s-ig--sandbox"
        )
    )
    assert list(client.list(project=compute.project, zone=compute.zone)) == []


def test_seeded_read_only_resources(compute: Compute) -> None:
    seeded = compute.seeded
    region = compute.RegionsClient.get(project=compute.project, region=compute.region)
    assert region.status == "UP"
    assert [z.rsplit("/", 1)[1] for z in region.zones] == seeded.zones
    zones = [z.name for z in compute.ZonesClient.list(project=compute.project)]
    assert zones == seeded.zones
    network = compute.NetworksClient.get(project=compute.project, network="default")
    assert network.auto_create_subnetworks is False
    subnets = {
        s.name: s.ip_cidr_range for s in compute.SubnetworksClient.list(**compute.regional())
    }
    assert subnets == {"default": "10.128.0.0/20", "ilb-subnet": "10.129.0.0/24"}

    first = seeded.instances[0]
    instance = compute.InstancesClient.get(
        project=compute.project, zone=first.zone, instance=first.name
    )
    assert instance.status == "RUNNING"
    assert list(instance.tags.items) == [seeded.node_tag]
    assert instance.network_interfaces[0].network_i_p == first.internal_ip
    aggregated = compute.InstancesClient.aggregated_list(project=compute.project)
    found = {i.name for _, scoped in aggregated for i in scoped.instances}
    assert found == {i.name for i in seeded.instances}


def test_list_filter_and_paging(compute: Compute) -> None:
    client = compute.FirewallsClient
    for index in range(5):
        firewall = compute_v1.Firewall(
            name=f"fw-{index}", allowed=[compute_v1.Allowed(I_p_protocol="tcp")]
        )
        compute.done(client.insert_unary(project=compute.project, firewall_resource=firewall))

    pager = client.list(
        request=compute_v1.ListFirewallsRequest(project=compute.project, max_results=2)
    )
    assert [f.name for f in pager] == [f"fw-{i}" for i in range(5)]
    pages = list(
        client.list(
            request=compute_v1.ListFirewallsRequest(project=compute.project, max_results=2)
        ).pages
    )
    assert [len(page.items) for page in pages] == [2, 2, 1]

    filtered = client.list(
        request=compute_v1.ListFirewallsRequest(project=compute.project, filter='name = "fw-3"')
    )
    assert [f.name for f in filtered] == ["fw-3"]
    regex = client.list(
        request=compute_v1.ListFirewallsRequest(project=compute.project, filter="name eq fw-[12]")
    )
    assert [f.name for f in regex] == ["fw-1", "fw-2"]
