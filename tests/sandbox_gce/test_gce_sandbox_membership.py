"""Target-pool and instance-group membership through the SDK's POST sub-resources."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1

from tests.sandbox_gce.conftest import Compute


def pool_request(links: list[str]) -> dict[str, object]:
    references = [compute_v1.InstanceReference(instance=link) for link in links]
    return {"instances": references}


def test_target_pool_add_and_remove_instance(compute: Compute) -> None:
    client = compute.TargetPoolsClient
    first, second, third = (i.self_link for i in compute.seeded.instances)
    compute.target_pool("tp", instances=1)

    add = compute_v1.TargetPoolsAddInstanceRequest(**pool_request([second, third]))
    compute.done(
        client.add_instance_unary(
            **compute.regional(target_pool="tp", target_pools_add_instance_request_resource=add)
        )
    )
    assert client.get(**compute.regional(target_pool="tp")).instances == [first, second, third]

    remove = compute_v1.TargetPoolsRemoveInstanceRequest(**pool_request([first, third]))
    compute.done(
        client.remove_instance_unary(
            **compute.regional(
                target_pool="tp", target_pools_remove_instance_request_resource=remove
            )
        )
    )
    assert client.get(**compute.regional(target_pool="tp")).instances == [second]


def test_adding_a_member_twice_fails_inside_the_operation(compute: Compute) -> None:
    client = compute.TargetPoolsClient
    compute.target_pool("tp", instances=1)
    again = compute_v1.TargetPoolsAddInstanceRequest(
        **pool_request([compute.seeded.instances[0].self_link])
    )
    operation = client.add_instance_unary(
        **compute.regional(target_pool="tp", target_pools_add_instance_request_resource=again)
    )
    done = compute.wait(operation)
    assert done.error.errors[0].code == "MEMBER_ALREADY_EXISTS"
    assert done.http_error_status_code == 400
    assert len(client.get(**compute.regional(target_pool="tp")).instances) == 1


def test_target_pool_health_check_is_single(compute: Compute) -> None:
    client = compute.TargetPoolsClient
    one = compute.http_health_check("one")["selfLink"]
    two = compute.http_health_check("two")["selfLink"]
    compute.target_pool("tp")

    def add(link: str) -> compute_v1.Operation:
        request = compute_v1.TargetPoolsAddHealthCheckRequest(
            health_checks=[compute_v1.HealthCheckReference(health_check=link)]
        )
        return client.add_health_check_unary(
            **compute.regional(
                target_pool="tp", target_pools_add_health_check_request_resource=request
            )
        )

    compute.done(add(one))
    assert client.get(**compute.regional(target_pool="tp")).health_checks == [one]
    with pytest.raises(exceptions.BadRequest, match="At most one health check"):
        add(two)
    remove = compute_v1.TargetPoolsRemoveHealthCheckRequest(
        health_checks=[compute_v1.HealthCheckReference(health_check=one)]
    )
    compute.done(
        client.remove_health_check_unary(
            **compute.regional(
                target_pool="tp", target_pools_remove_health_check_request_resource=remove
            )
        )
    )
    assert not client.get(**compute.regional(target_pool="tp")).health_checks


def test_target_pool_instances_must_exist(compute: Compute) -> None:
    ghost = f"projects/{compute.project}/zones/{compute.zone}/instances/ghost"
    add = compute_v1.TargetPoolsAddInstanceRequest(**pool_request([ghost]))
    compute.target_pool("tp")
    with pytest.raises(exceptions.NotFound, match="instances/ghost"):
        compute.TargetPoolsClient.add_instance_unary(
            **compute.regional(target_pool="tp", target_pools_add_instance_request_resource=add)
        )


def test_instance_group_membership_and_listing(compute: Compute) -> None:
    client = compute.InstanceGroupsClient
    where = {"project": compute.project, "zone": compute.zone, "instance_group": "k8s-ig--sandbox"}
    group = compute.instance_group("k8s-ig--sandbox", instances=2)
    members = sorted(i.self_link for i in compute.seeded.instances if i.zone == compute.zone)
    assert group.size == len(members) == 2

    listed = client.list_instances(
        request=compute_v1.ListInstancesInstanceGroupsRequest(
            max_results=1,
            instance_groups_list_instances_request_resource=compute_v1.InstanceGroupsListInstancesRequest(
                instance_state="ALL"
            ),
            **where,
        )
    )
    assert [item.instance for item in listed] == members
    assert {item.status for item in client.list_instances(**where)} == {"RUNNING"}

    remove = compute_v1.InstanceGroupsRemoveInstancesRequest(**pool_request(members[:1]))
    compute.done(
        client.remove_instances_unary(
            instance_groups_remove_instances_request_resource=remove, **where
        )
    )
    assert [item.instance for item in client.list_instances(**where)] == members[1:]
    assert client.get(**where).size == 1


def test_instance_group_rejects_another_zones_instance(compute: Compute) -> None:
    other = next(i for i in compute.seeded.instances if i.zone != compute.zone)
    compute.instance_group("ig")
    add = compute_v1.InstanceGroupsAddInstancesRequest(**pool_request([other.self_link]))
    with pytest.raises(exceptions.BadRequest, match="group's zone"):
        compute.InstanceGroupsClient.add_instances_unary(
            project=compute.project,
            zone=compute.zone,
            instance_group="ig",
            instance_groups_add_instances_request_resource=add,
        )


def test_set_named_ports_checks_the_fingerprint(compute: Compute) -> None:
    client = compute.InstanceGroupsClient
    where = {"project": compute.project, "zone": compute.zone, "instance_group": "ig"}
    group = compute.instance_group("ig")
    ports = [compute_v1.NamedPort(name="http", port=30080)]
    request = compute_v1.InstanceGroupsSetNamedPortsRequest(
        named_ports=ports, fingerprint=group.fingerprint
    )
    compute.done(
        client.set_named_ports_unary(
            instance_groups_set_named_ports_request_resource=request, **where
        )
    )
    assert [(p.name, p.port) for p in client.get(**where).named_ports] == [("http", 30080)]
    with pytest.raises(exceptions.PreconditionFailed):
        client.set_named_ports_unary(
            instance_groups_set_named_ports_request_resource=request, **where
        )
