"""Operations: PENDING -> RUNNING -> DONE over polls, wait, and the three scopes."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1

from tests.sandbox_gce.conftest import Compute

Status = compute_v1.Operation.Status


def test_operations_progress_over_polls(compute: Compute) -> None:
    compute.server.configure_operations(polls=2, wait_completes=False)
    operation = compute.AddressesClient.insert_unary(
        **compute.regional(address_resource=compute_v1.Address(name="a"))
    )
    assert operation.status == Status.PENDING
    assert operation.operation_type == "insert"
    assert operation.target_link.endswith("/addresses/a")
    assert operation.region.endswith(f"/regions/{compute.region}")

    operations = compute.RegionOperationsClient
    where = compute.regional(operation=operation.name)
    running = operations.get(**where)
    assert (running.status, running.progress) == (Status.RUNNING, 0)
    done = operations.wait(**where)
    assert (done.status, done.progress) == (Status.DONE, 100)
    assert done.start_time and done.end_time
    assert operations.get(**where).status == Status.DONE


def test_wait_completes_at_once_by_default(compute: Compute) -> None:
    compute.server.configure_operations(polls=5)
    operation = compute.AddressesClient.insert_unary(
        **compute.regional(address_resource=compute_v1.Address(name="a"))
    )
    assert operation.status == Status.PENDING
    assert compute.wait(operation).status == Status.DONE


def test_zone_and_global_operations(compute: Compute) -> None:
    group = compute_v1.InstanceGroup(name="ig")
    zonal = compute.InstanceGroupsClient.insert_unary(
        project=compute.project, zone=compute.zone, instance_group_resource=group
    )
    assert zonal.zone.endswith(f"/zones/{compute.zone}") and not zonal.region
    assert (
        compute.ZoneOperationsClient.wait(
            project=compute.project, zone=compute.zone, operation=zonal.name
        ).status
        == Status.DONE
    )

    firewall = compute_v1.Firewall(name="fw", allowed=[compute_v1.Allowed(I_p_protocol="udp")])
    global_ = compute.FirewallsClient.insert_unary(
        project=compute.project, firewall_resource=firewall
    )
    assert (
        compute.GlobalOperationsClient.get(project=compute.project, operation=global_.name).status
        == Status.DONE
    )
    with pytest.raises(exceptions.NotFound):
        compute.RegionOperationsClient.get(**compute.regional(operation=global_.name))


def test_extended_operation_result_works_when_done_at_once(compute: Compute) -> None:
    """With ``polls=0`` the write answers DONE, so ``.result()`` never polls Google."""
    compute.server.configure_operations(polls=0)
    extended = compute.AddressesClient.insert(
        **compute.regional(address_resource=compute_v1.Address(name="a"))
    )
    extended.result(timeout=5)
    assert compute.AddressesClient.get(**compute.regional(address="a")).status == "RESERVED"


def test_requests_are_recorded(compute: Compute) -> None:
    compute.server.clear_requests()
    compute.address("a")
    compute.AddressesClient.get(**compute.regional(address="a"))
    writes = compute.server.writes()
    assert [(w.method, w.path.rsplit("/", 2)[-1]) for w in writes] == [("POST", "addresses")]
    assert writes[0].body == {"name": "a"}
