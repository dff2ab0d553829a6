"""Errors in the API's shapes as google-api-core maps them: HTTP errors and failed operations."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1

from tests.sandbox_gce.conftest import Compute


def reason(error: exceptions.GoogleAPICallError) -> str:
    detail: dict[str, Any] = error.errors[0]
    return str(detail["reason"])


def test_not_found_names_the_resource(compute: Compute) -> None:
    with pytest.raises(exceptions.NotFound) as caught:
        compute.ForwardingRulesClient.get(**compute.regional(forwarding_rule="x"))
    path = f"projects/{compute.project}/regions/{compute.region}/forwardingRules/x"
    expected = f"The resource '{path}' was not found"
    assert caught.value.message.endswith(expected)
    assert reason(caught.value) == "notFound"


def test_unknown_region_is_not_found(compute: Compute) -> None:
    with pytest.raises(exceptions.NotFound, match="regions/mars-east1"):
        compute.AddressesClient.list(project=compute.project, region="mars-east1")


def test_duplicate_insert_is_a_conflict(compute: Compute) -> None:
    compute.address("dup")
    with pytest.raises(exceptions.Conflict) as caught:
        compute.AddressesClient.insert_unary(
            **compute.regional(address_resource=compute_v1.Address(name="dup"))
        )
    assert reason(caught.value) == "alreadyExists"
    assert "already exists" in caught.value.message


@pytest.mark.parametrize(
    ("rule", "message", "why"),
    [
        ({}, "Required field 'resource.name' not specified", "required"),
        ({"name": "Bad_Name"}, "Invalid value for field 'resource.name': 'Bad_Name'", "invalid"),
        (
            {"name": "x", "I_p_protocol": "TCP"},
            "Set exactly one of target, backendService",
            "invalid",
        ),
    ],
    ids=["missing-name", "bad-name", "no-target"],
)
def test_invalid_bodies_are_bad_requests(
    compute: Compute, rule: dict[str, Any], message: str, why: str
) -> None:
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.ForwardingRulesClient.insert_unary(
            **compute.regional(forwarding_rule_resource=compute_v1.ForwardingRule(**rule))
        )
    assert message in caught.value.message
    assert reason(caught.value) == why


def test_forwarding_rule_rules(compute: Compute) -> None:
    pool = compute.target_pool("tp", instances=1)
    service = compute.backend_service("bs")
    insert = compute.ForwardingRulesClient.insert_unary
    cases = [
        (
            {"load_balancing_scheme": "INTERNAL", "target": pool.self_link, "ports": ["80"]},
            "resource.target",
        ),
        (
            {
                "load_balancing_scheme": "INTERNAL",
                "backend_service": service.self_link,
                "ports": [str(p) for p in range(80, 86)],
                "subnetwork": compute.subnetwork_link(),
            },
            "At most 5 ports",
        ),
        (
            {"target": pool.self_link, "I_p_address": "203.0.113.77", "port_range": "80"},
            "Not a reserved external IP",
        ),
        ({"target": pool.self_link, "port_range": "90-80"}, "resource.portRange"),
        ({"target": pool.self_link, "network_tier": "GOLD"}, "resource.networkTier"),
        (
            {
                "load_balancing_scheme": "INTERNAL",
                "backend_service": service.self_link,
                "ports": ["80"],
            },
            "Required field 'resource.subnetwork'",
        ),
    ]
    for fields, message in cases:
        rule = compute_v1.ForwardingRule(name="fr", **fields)
        with pytest.raises(exceptions.BadRequest, match=message):
            insert(**compute.regional(forwarding_rule_resource=rule))

    taken = compute.seeded.instances[0].internal_ip
    with pytest.raises(exceptions.BadRequest, match="IP_IN_USE_BY_ANOTHER_RESOURCE"):
        insert(
            **compute.regional(
                forwarding_rule_resource=compute_v1.ForwardingRule(
                    name="fr",
                    load_balancing_scheme="INTERNAL",
                    backend_service=service.self_link,
                    all_ports=True,
                    I_p_address=taken,
                    subnetwork=compute.subnetwork_link(),
                )
            )
        )
    with pytest.raises(exceptions.NotFound, match="targetPools/ghost"):
        insert(
            **compute.regional(
                forwarding_rule_resource=compute_v1.ForwardingRule(
                    name="fr", target=f"regions/{compute.region}/targetPools/ghost"
                )
            )
        )


def test_deleting_a_referenced_resource_is_refused(compute: Compute) -> None:
    check = compute.http_health_check("hc")
    pool = compute.target_pool("tp", health_check=check["selfLink"], instances=1)
    compute.forwarding_rule("fr", target=pool.self_link, port_range="80")
    group = compute.instance_group("ig", instances=1)
    service = compute.backend_service("bs", groups=(group.self_link,))
    compute.forwarding_rule(
        "ilb",
        load_balancing_scheme="INTERNAL",
        backend_service=service.self_link,
        all_ports=True,
        subnetwork=compute.subnetwork_link(),
    )

    deletes = [
        (
            compute.TargetPoolsClient.delete_unary,
            compute.regional(target_pool="tp"),
            "forwardingRules/fr",
        ),
        (
            compute.RegionBackendServicesClient.delete_unary,
            compute.regional(backend_service="bs"),
            "forwardingRules/ilb",
        ),
        (
            compute.RegionHealthChecksClient.delete_unary,
            compute.regional(health_check="bs-hc"),
            "backendServices/bs",
        ),
        (
            compute.InstanceGroupsClient.delete_unary,
            {"project": compute.project, "zone": compute.zone, "instance_group": "ig"},
            "backendServices/bs",
        ),
    ]
    for delete, where, user in deletes:
        with pytest.raises(exceptions.BadRequest) as caught:
            delete(**where)
        assert reason(caught.value) == "resourceInUseByAnotherResource"
        assert f"is already being used by 'projects/{compute.project}/" in caught.value.message
        assert caught.value.message.endswith(f"{user}'")

    response = compute.http_session().delete(compute.url("global/httpHealthChecks/hc"))
    assert response.status_code == 400
    assert response.json()["error"]["errors"][0]["reason"] == "resourceInUseByAnotherResource"


def test_a_stale_fingerprint_is_a_failed_precondition(compute: Compute) -> None:
    client = compute.RegionBackendServicesClient
    service = compute.backend_service("bs")
    fresh = compute_v1.BackendService(description="one", fingerprint=service.fingerprint)
    compute.done(
        client.patch_unary(**compute.regional(backend_service="bs", backend_service_resource=fresh))
    )
    for fingerprint in (service.fingerprint, None):
        stale = compute_v1.BackendService(description="two", fingerprint=fingerprint)
        with pytest.raises(exceptions.PreconditionFailed) as caught:
            client.patch_unary(
                **compute.regional(backend_service="bs", backend_service_resource=stale)
            )
        assert reason(caught.value) == "conditionNotMet"
    assert client.get(**compute.regional(backend_service="bs")).description == "one"


def test_forbidden_firewalls_as_in_a_shared_vpc(compute: Compute) -> None:
    client = compute.FirewallsClient
    firewall = compute_v1.Firewall(
        name="k8s-fw-x", allowed=[compute_v1.Allowed(I_p_protocol="tcp")]
    )
    compute.server.forbid("firewalls")
    with pytest.raises(exceptions.Forbidden) as caught:
        client.insert_unary(project=compute.project, firewall_resource=firewall)
    path = f"projects/{compute.project}/global/firewalls/k8s-fw-x"
    expected = f"Required 'compute.firewalls.create' permission for '{path}'"
    assert caught.value.message.endswith(expected)
    assert list(client.list(project=compute.project)) == []
    compute.server.allow("firewalls")
    compute.done(client.insert_unary(project=compute.project, firewall_resource=firewall))


@pytest.mark.parametrize(
    ("sources", "destinations", "field", "value"),
    [
        (["10.0.0.0/8", "2001:db8::/32"], [], "sourceRanges[1]", "2001:db8::/32"),
        (["2001:db8::/32"], ["203.0.113.9"], "destinationRanges[0]", "203.0.113.9"),
    ],
)
def test_a_firewall_rule_is_of_one_ip_family(
    compute: Compute, sources: list[str], destinations: list[str], field: str, value: str
) -> None:
    client = compute.FirewallsClient
    firewall = compute_v1.Firewall(
        name="k8s-fw-x",
        allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["80"])],
        source_ranges=sources,
        destination_ranges=destinations,
    )
    with pytest.raises(exceptions.BadRequest) as caught:
        client.insert_unary(project=compute.project, firewall_resource=firewall)
    assert reason(caught.value) == "invalid"
    assert caught.value.message.endswith(
        f"Invalid value for field 'resource.{field}': '{value}'. A firewall rule can contain "
        "either IPv4 or IPv6 ranges, but not both."
    )
    assert list(client.list(project=compute.project)) == []

    # One family per rule is accepted; a patch that would mix them is refused the same way.
    firewall.source_ranges = ["2001:db8::/32", "2001:db8:1::/48"]
    firewall.destination_ranges = []
    compute.done(client.insert_unary(project=compute.project, firewall_resource=firewall))
    mixed = compute_v1.Firewall(destination_ranges=["203.0.113.9"])
    with pytest.raises(exceptions.BadRequest):
        client.patch_unary(project=compute.project, firewall="k8s-fw-x", firewall_resource=mixed)
    got = client.get(project=compute.project, firewall="k8s-fw-x")
    assert (list(got.source_ranges), list(got.destination_ranges)) == (firewall.source_ranges, [])


def test_injected_errors_are_consumed(compute: Compute) -> None:
    compute.server.inject_error(
        "POST", r"/addresses$", 429, "rateLimitExceeded", message="Slow down"
    )
    address = compute_v1.Address(name="a")
    with pytest.raises(exceptions.TooManyRequests, match="Slow down"):
        compute.AddressesClient.insert_unary(**compute.regional(address_resource=address))
    compute.done(compute.AddressesClient.insert_unary(**compute.regional(address_resource=address)))


def test_injected_async_failure_lands_in_the_operation(compute: Compute) -> None:
    compute.server.inject_error(
        "POST",
        r"/forwardingRules$",
        412,
        "conditionNotMet",
        message="Constraint constraints/compute.restrictLoadBalancerCreationForTypes violated",
        in_operation=True,
    )
    pool = compute.target_pool("tp", instances=1)
    rule = compute_v1.ForwardingRule(name="fr", target=pool.self_link)
    operation = compute.ForwardingRulesClient.insert_unary(
        **compute.regional(forwarding_rule_resource=rule)
    )
    assert not operation.error.errors
    done = compute.wait(operation)
    assert done.error.errors[0].code == "CONDITION_NOT_MET"
    assert "restrictLoadBalancerCreationForTypes" in done.error.errors[0].message
    assert done.http_error_status_code == 412
    with pytest.raises(exceptions.NotFound):
        compute.ForwardingRulesClient.get(**compute.regional(forwarding_rule="fr"))


def test_unknown_json_fields_are_rejected(compute: Compute) -> None:
    response = compute.http_session().post(
        compute.url("global/httpHealthChecks"), json={"name": "hc", "requestpath": "/healthz"}
    )
    assert response.status_code == 400
    assert 'Unknown name "requestpath"' in response.json()["error"]["message"]
