"""Fixtures: one Compute sandbox per session, reset and seeded per test, and real SDK clients.

Every client is the unmodified ``google.cloud.compute_v1`` one with
``ClientOptions(api_endpoint=server.endpoint)``, ``AnonymousCredentials()`` and
``transport="rest"``; writes use the ``*_unary`` calls and wait on the operations
clients (``ExtendedOperation.result()`` would poll compute.googleapis.com).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from google.cloud import compute_v1

from lbctl.sandbox.gce import (
    GCEServer,
    SeededGCE,
    anonymous_session,
    compute_client,
    seed_gce,
    start_gce,
)


@pytest.fixture(scope="session")
def gce_server() -> Iterator[GCEServer]:
    with start_gce() as server:  # stopped on the way out
        yield server


@pytest.fixture
def gce(gce_server: GCEServer) -> SeededGCE:
    """A freshly reset sandbox with the default cluster seeded."""
    gce_server.reset()
    gce_server.configure_operations(polls=1, wait_completes=True)
    return seed_gce(gce_server)


@dataclass
class Compute:
    """SDK clients on the sandbox plus helpers that create a resource and wait for it."""

    server: GCEServer
    seeded: SeededGCE
    _clients: dict[str, Any] = field(default_factory=dict)

    @property
    def project(self) -> str:
        return self.seeded.project

    @property
    def region(self) -> str:
        return self.seeded.region

    @property
    def zone(self) -> str:
        return self.seeded.zones[0]

    def client(self, name: str) -> Any:
        if name not in self._clients:
            self._clients[name] = compute_client(name, self.server)
        return self._clients[name]

    def __getattr__(self, name: str) -> Any:
        # compute.ForwardingRulesClient, compute.RegionOperationsClient, ...
        if name.endswith("Client"):
            return self.client(name)
        raise AttributeError(name)

    def http_session(self) -> Any:
        if "session" not in self._clients:
            self._clients["session"] = anonymous_session()
        return self._clients["session"]

    def url(self, path: str) -> str:
        return f"{self.server.endpoint}/compute/v1/projects/{self.project}/{path}"

    # -- waiting ---------------------------------------------------------------------------

    def wait(self, operation: compute_v1.Operation) -> compute_v1.Operation:
        """Wait on the operations client matching the operation's scope."""
        common = {"project": self.project, "operation": operation.name}
        if operation.region:
            region = operation.region.rsplit("/", 1)[1]
            result = self.RegionOperationsClient.wait(region=region, **common)
        elif operation.zone:
            zone = operation.zone.rsplit("/", 1)[1]
            result = self.ZoneOperationsClient.wait(zone=zone, **common)
        else:
            result = self.GlobalOperationsClient.wait(**common)
        assert result.status == compute_v1.Operation.Status.DONE
        return result

    def done(self, operation: compute_v1.Operation) -> compute_v1.Operation:
        """Wait and assert the operation succeeded."""
        result = self.wait(operation)
        assert not result.error.errors, result.error
        return result

    # -- creating resources ------------------------------------------------------------------

    def regional(self, **kwargs: Any) -> dict[str, Any]:
        return {"project": self.project, "region": self.region, **kwargs}

    def http_health_check(self, name: str, **fields: Any) -> dict[str, Any]:
        """Create a legacy ``global/httpHealthChecks`` check (no SDK client exists)."""
        session = self.http_session()
        response = session.post(self.url("global/httpHealthChecks"), json={"name": name, **fields})
        assert response.status_code == 200, response.text
        operation = response.json()
        self.done(compute_v1.Operation(name=operation["name"]))
        got = session.get(self.url(f"global/httpHealthChecks/{name}"))
        result: dict[str, Any] = got.json()
        return result

    def health_check(self, name: str, *, regional: bool = False) -> Any:
        check = compute_v1.HealthCheck(
            name=name,
            type_="HTTP",
            http_health_check=compute_v1.HTTPHealthCheck(port=10256, request_path="/healthz"),
        )
        if regional:
            self.done(
                self.RegionHealthChecksClient.insert_unary(
                    **self.regional(health_check_resource=check)
                )
            )
            return self.RegionHealthChecksClient.get(**self.regional(health_check=name))
        self.done(
            self.HealthChecksClient.insert_unary(project=self.project, health_check_resource=check)
        )
        return self.HealthChecksClient.get(project=self.project, health_check=name)

    def instance_group(self, name: str, zone: str | None = None, instances: int = 0) -> Any:
        zone = zone or self.zone
        client = self.InstanceGroupsClient
        group = compute_v1.InstanceGroup(name=name)
        self.done(
            client.insert_unary(project=self.project, zone=zone, instance_group_resource=group)
        )
        members = [i.self_link for i in self.seeded.instances if i.zone == zone][:instances]
        if members:
            request = compute_v1.InstanceGroupsAddInstancesRequest(
                instances=[compute_v1.InstanceReference(instance=link) for link in members]
            )
            self.done(
                client.add_instances_unary(
                    project=self.project,
                    zone=zone,
                    instance_group=name,
                    instance_groups_add_instances_request_resource=request,
                )
            )
        return client.get(project=self.project, zone=zone, instance_group=name)

    def backend_service(
        self, name: str, *, scheme: str = "INTERNAL", groups: tuple[str, ...] = ()
    ) -> Any:
        check = self.health_check(f"{name}-hc", regional=True)
        service = compute_v1.BackendService(
            name=name,
            load_balancing_scheme=scheme,
            protocol="TCP",
            health_checks=[check.self_link],
            backends=[compute_v1.Backend(group=g) for g in groups],
        )
        client = self.RegionBackendServicesClient
        self.done(client.insert_unary(**self.regional(backend_service_resource=service)))
        return client.get(**self.regional(backend_service=name))

    def target_pool(self, name: str, *, health_check: str | None = None, instances: int = 0) -> Any:
        pool = compute_v1.TargetPool(
            name=name,
            instances=[i.self_link for i in self.seeded.instances[:instances]],
            health_checks=[health_check] if health_check else [],
        )
        client = self.TargetPoolsClient
        self.done(client.insert_unary(**self.regional(target_pool_resource=pool)))
        return client.get(**self.regional(target_pool=name))

    def forwarding_rule(self, name: str, **fields: Any) -> Any:
        rule = compute_v1.ForwardingRule(name=name, **fields)
        client = self.ForwardingRulesClient
        self.done(client.insert_unary(**self.regional(forwarding_rule_resource=rule)))
        return client.get(**self.regional(forwarding_rule=name))

    def address(self, name: str, **fields: Any) -> Any:
        client = self.AddressesClient
        address = compute_v1.Address(name=name, **fields)
        self.done(client.insert_unary(**self.regional(address_resource=address)))
        return client.get(**self.regional(address=name))

    def subnetwork_link(self, name: str | None = None) -> str:
        name = name or self.seeded.subnetwork
        return f"projects/{self.project}/regions/{self.region}/subnetworks/{name}"


@pytest.fixture
def compute(gce_server: GCEServer, gce: SeededGCE) -> Compute:
    return Compute(gce_server, gce)
