"""What goes wrong: invalid input, a name clash, a Shared-VPC 403, throttling, failed calls."""

from __future__ import annotations

import pytest

from lbctl.sandbox.gce import GCEServer, SeededGCE, compute_client
from tests.gce.helpers import (
    DEPRECATED_TYPE,
    GLOBAL_ACCESS,
    NODE_HC,
    RBS,
    SOURCE_RANGES,
    SUBNET,
    TIER,
    TYPE,
    Cloud,
    Lbctl,
    lb_name,
    service,
)


@pytest.mark.parametrize(
    ("annotation", "value", "words"),
    [
        (TYPE, "Internl", "unknown load balancer type"),
        (TYPE, "", "unknown load balancer type"),
        (DEPRECATED_TYPE, "internal-ish", "unknown load balancer type"),
        (TIER, "premium", "unsupported network tier"),
        (RBS, "yes", "enabled"),
        (SUBNET, "Not_A_Subnet", "not a subnetwork name"),
        (SOURCE_RANGES, "10.0.0.0", "not a valid IP range"),
    ],
)
def test_invalid_annotation_exits_1_naming_it(
    lbctl: Lbctl, gce_server: GCEServer, annotation: str, value: str, words: str
) -> None:
    gce_server.clear_requests()
    result = lbctl.apply(service("web", annotations={annotation: value}))
    assert result.rc == 1, result.describe()
    errors = result.plan()["errors"]
    assert any(e.get("annotation") == annotation and words in e["message"] for e in errors), errors
    assert f"annotation {annotation}=" in result.err
    assert gce_server.requests == []  # invalid input never reaches the cloud


def test_invalid_spec_exits_1(lbctl: Lbctl, gce_server: GCEServer) -> None:
    gce_server.clear_requests()
    mixed = service("web")
    mixed["spec"]["ports"][1]["protocol"] = "UDP"
    local = service("local", externalTrafficPolicy="Local")  # no healthCheckNodePort
    result = lbctl.apply(mixed, local)
    assert result.rc == 1
    assert "mixed protocol is not supported for LoadBalancer" in result.err
    local_errors = result.plan("default/local")["errors"]
    assert any(e.get("field") == "spec.healthCheckNodePort" for e in local_errors)
    assert gce_server.requests == []


def test_safer_result_is_kept_with_a_warning(lbctl: Lbctl, cloud: Cloud) -> None:
    svc = service("web", annotations={TYPE: "Internal", GLOBAL_ACCESS: "True"})
    result = lbctl.apply_ok(svc)
    assert any(GLOBAL_ACCESS in w and "stays off" in w for w in result.plan()["warnings"])
    assert not cloud.get("forwarding_rules", lb_name(svc)).get("allowGlobalAccess")


def test_unowned_firewall_with_our_name_is_an_error_and_untouched(
    lbctl: Lbctl, cloud: Cloud, gce: SeededGCE
) -> None:
    svc = service("web")
    name = f"k8s-fw-{lb_name(svc)}"
    client = compute_client("FirewallsClient", gce.endpoint)
    client.insert_unary(
        project=gce.project,
        firewall_resource={
            "name": name,
            "description": "hand-made, do not touch",
            "network": f"projects/{gce.project}/global/networks/{gce.network}",
            "allowed": [{"I_p_protocol": "tcp", "ports": ["22"]}],
            "source_ranges": ["192.0.2.0/24"],
        },
    )
    before = cloud.get("firewalls", name)
    result = lbctl.apply(svc)
    assert result.rc == 1, result.describe()
    (error,) = result.plan()["errors"]
    assert error["field"] == f"gce:firewall/{name}"
    assert "not owned by this cluster" in error["message"]
    assert result.plan()["changes"] == []
    assert cloud.get("firewalls", name) == before
    assert cloud.leftovers(lb_name(svc)) == {"firewalls": [name]}


def test_forbidden_firewalls_warn_with_the_gcloud_command(
    lbctl: Lbctl, cloud: Cloud, gce_server: GCEServer, gce: SeededGCE
) -> None:
    gce_server.forbid("firewalls")
    svc = service("web")
    lb = lb_name(svc)
    result = lbctl.apply(svc)
    assert result.rc == 0, result.describe()
    ip = cloud.get("forwarding_rules", lb)["IPAddress"]
    warnings = result.plan()["warnings"]
    expected = (
        f"gcloud compute firewall-rules create k8s-fw-{lb} --network {gce.network} "
        '--description "{\\"kubernetes.io/service-name\\":\\"default/web\\", '
        f'\\"kubernetes.io/service-ip\\":\\"{ip}\\"}}" '
        "--allow tcp:443,tcp:80 --source-ranges 0.0.0.0/0 "
        f"--destination-ranges {ip} --target-tags {gce.node_tag} --project {gce.project}"
    )
    assert f"Firewall change required by network admin: `{expected}`" in warnings, warnings
    assert any(f"firewall-rules create {NODE_HC}-http-hc" in w for w in warnings)
    assert "warning: default/web: Firewall change required" in result.err
    # The rest of the balancer is built.
    assert lb in cloud.target_pools()
    assert NODE_HC in cloud.http_health_checks()
    assert cloud.firewalls() == {}

    deleted = lbctl.delete(svc)
    assert deleted.rc == 0, deleted.describe()
    assert cloud.leftovers(lb) == {}


def test_throttling_and_5xx_are_retried(lbctl: Lbctl, cloud: Cloud, gce_server: GCEServer) -> None:
    gce_server.inject_error("POST", r"/global/firewalls$", 429, "rateLimitExceeded")
    gce_server.inject_error("GET", r"/regions/[^/]+/forwardingRules$", 503, "backendError")
    svc = service("web", annotations={RBS: "enabled"})
    result = lbctl.apply_ok(svc)
    assert result.calls["firewalls:insert"] == 3  # two firewalls, one retried
    assert result.calls["forwardingRules:list"] == 2
    assert lb_name(svc) in cloud.forwarding_rules()


def test_a_failed_write_exits_1_with_the_api_message(
    lbctl: Lbctl, cloud: Cloud, gce_server: GCEServer
) -> None:
    gce_server.inject_error(
        "POST", r"/targetPools$", 400, "invalid", message="Invalid value for field 'x'"
    )
    svc = service("web")
    result = lbctl.apply(svc)
    assert result.rc == 1
    assert "targetPools:insert" in result.err and "Invalid value for field 'x'" in result.err
    # The next run finishes the job (the IP held by the address is reused).
    held = cloud.addresses()[lb_name(svc)]["address"]
    lbctl.apply_ok(svc)
    assert cloud.get("forwarding_rules", lb_name(svc))["IPAddress"] == held
    assert lb_name(svc) not in cloud.addresses()
    lbctl.in_sync(svc)


def test_requested_ip_that_is_not_reserved_is_a_plan_error(lbctl: Lbctl) -> None:
    result = lbctl.apply(service("web", loadBalancerIP="203.0.113.77"))
    assert result.rc == 1
    assert 'requested ip "203.0.113.77" is neither static nor assigned to the LB' in result.err


def test_forbidden_firewall_deletes_warn_and_the_rest_is_deleted(
    lbctl: Lbctl, cloud: Cloud, gce_server: GCEServer, gce: SeededGCE
) -> None:
    svc = service("web")
    lb = lb_name(svc)
    lbctl.apply_ok(svc)
    gce_server.forbid("firewalls")
    result = lbctl.delete(svc)
    assert result.rc == 0, result.describe()
    warnings = result.plan()["warnings"]
    assert (
        "Firewall change required by network admin: "
        f"`gcloud compute firewall-rules delete k8s-fw-{lb} --project {gce.project}`"
    ) in warnings
    assert cloud.leftovers(lb) == {"firewalls": sorted([f"k8s-fw-{lb}", f"{NODE_HC}-http-hc"])}
