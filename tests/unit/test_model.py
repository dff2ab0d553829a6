"""ServiceView / NodeView are built the same from API (camelCase) and client (snake_case) dicts."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from lbctl.model import (
    KNOWN_AFTER_APPLY,
    LOAD_BALANCER_CLEANUP_FINALIZER,
    Ingress,
    NodeView,
    Resource,
    ServicePort,
    ServiceView,
    Taint,
)

UID = "12345678-1234-1234-1234-123456789abc"
ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
}

# A Service as `kubectl get svc web -o json` shows it.
CAMEL_SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "uid": UID,
        "resourceVersion": "4711",
        "labels": {"app": "web"},
        "annotations": ANNOTATIONS,
        "finalizers": [LOAD_BALANCER_CLEANUP_FINALIZER],
        "deletionTimestamp": "2024-05-01T10:00:00Z",
    },
    "spec": {
        "type": "LoadBalancer",
        "selector": {"app": "web"},
        "clusterIP": "10.96.0.10",
        "ports": [
            {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30080},
            {
                "name": "dns",
                "protocol": "UDP",
                "port": 53,
                "targetPort": "dns",
                "nodePort": 30053,
                "appProtocol": "dns",
            },
        ],
        "loadBalancerSourceRanges": ["10.0.0.0/8", "192.168.0.0/16"],
        "externalTrafficPolicy": "Local",
        "healthCheckNodePort": 32000,
        "loadBalancerIP": "203.0.113.10",
        "loadBalancerClass": "example.com/lbctl",
        "sessionAffinity": "ClientIP",
        "ipFamilies": ["IPv4", "IPv6"],
    },
    "status": {
        "loadBalancer": {
            "ingress": [
                {"hostname": "a1234.elb.us-east-1.amazonaws.com"},
                {"ip": "203.0.113.10", "ipMode": "VIP"},
            ]
        }
    },
}

# The same Service as the kubernetes client's `V1Service.to_dict()` gives it: snake_case
# keys, every unset optional field present with None, datetimes as objects.
SNAKE_SERVICE: dict[str, Any] = {
    "api_version": "v1",
    "kind": "Service",
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "uid": UID,
        "resource_version": "4711",
        "labels": {"app": "web"},
        "annotations": dict(ANNOTATIONS),
        "finalizers": [LOAD_BALANCER_CLEANUP_FINALIZER],
        "deletion_timestamp": datetime.datetime(2024, 5, 1, 10, 0, tzinfo=datetime.UTC),
        "generate_name": None,
        "owner_references": None,
    },
    "spec": {
        "type": "LoadBalancer",
        "selector": {"app": "web"},
        "cluster_ip": "10.96.0.10",
        "external_i_ps": None,
        "ports": [
            {
                "name": "http",
                "protocol": "TCP",
                "port": 80,
                "target_port": 8080,
                "node_port": 30080,
                "app_protocol": None,
            },
            {
                "name": "dns",
                "protocol": "UDP",
                "port": 53,
                "target_port": "dns",
                "node_port": 30053,
                "app_protocol": "dns",
            },
        ],
        "load_balancer_source_ranges": ["10.0.0.0/8", "192.168.0.0/16"],
        "external_traffic_policy": "Local",
        "health_check_node_port": 32000,
        "load_balancer_ip": "203.0.113.10",
        "load_balancer_class": "example.com/lbctl",
        "session_affinity": "ClientIP",
        "session_affinity_config": None,
        "ip_families": ["IPv4", "IPv6"],
        "ip_family_policy": None,
    },
    "status": {
        "conditions": None,
        "load_balancer": {
            "ingress": [
                {
                    "hostname": "a1234.elb.us-east-1.amazonaws.com",
                    "ip": None,
                    "ip_mode": None,
                    "ports": None,
                },
                {"hostname": None, "ip": "203.0.113.10", "ip_mode": "VIP", "ports": None},
            ]
        },
    },
}

EXPECTED_SERVICE = {
    "namespace": "shop",
    "name": "web",
    "key": "shop/web",
    "uid": UID,
    "resource_version": "4711",
    "annotations": ANNOTATIONS,
    "finalizers": (LOAD_BALANCER_CLEANUP_FINALIZER,),
    "deleting": True,
    "type": "LoadBalancer",
    "ports": (
        ServicePort("http", "TCP", 80, 30080, 8080, None),
        ServicePort("dns", "UDP", 53, 30053, "dns", "dns"),
    ),
    "load_balancer_source_ranges": ("10.0.0.0/8", "192.168.0.0/16"),
    "external_traffic_policy": "Local",
    "health_check_node_port": 32000,
    "load_balancer_ip": "203.0.113.10",
    "load_balancer_class": "example.com/lbctl",
    "session_affinity": "ClientIP",
    "ip_families": ("IPv4", "IPv6"),
    "ingress": (
        Ingress(hostname="a1234.elb.us-east-1.amazonaws.com"),
        Ingress(ip="203.0.113.10"),
    ),
}

STYLES = {"camel": CAMEL_SERVICE, "snake": SNAKE_SERVICE}


@pytest.mark.parametrize(
    ("style", "attr"),
    [(s, a) for s in STYLES for a in EXPECTED_SERVICE],
    ids=[f"{s}-{a}" for s in STYLES for a in EXPECTED_SERVICE],
)
def test_service_from_dict(style: str, attr: str) -> None:
    # snake-load_balancer_ip: the client spells loadBalancerIP `load_balancer_ip` (acronym
    # kept as one word), not `load_balancer_i_p`.
    view = ServiceView.from_dict(STYLES[style])
    assert getattr(view, attr) == EXPECTED_SERVICE[attr]


def test_service_from_camel_and_snake_agree() -> None:
    assert ServiceView.from_dict(CAMEL_SERVICE) == ServiceView.from_dict(SNAKE_SERVICE)


DEFAULTS = {
    "namespace": "default",
    "name": "",
    "uid": "",
    "annotations": {},
    "ports": (),
    "type": "ClusterIP",
    "load_balancer_source_ranges": (),
    "external_traffic_policy": "Cluster",
    "health_check_node_port": 0,
    "load_balancer_ip": "",
    "load_balancer_class": None,
    "session_affinity": "None",
    "ip_families": (),
    "finalizers": (),
    "deleting": False,
    "ingress": (),
    "resource_version": "",
}

SPARSE_SERVICES: dict[str, dict[str, Any]] = {
    "empty-dict": {},
    "metadata-only": {"metadata": {}},
    "none-sections": {"metadata": None, "spec": None, "status": None},
    "client-nones": {
        "metadata": {
            "name": None,
            "namespace": None,
            "uid": None,
            "annotations": None,
            "finalizers": None,
            "deletion_timestamp": None,
            "resource_version": None,
        },
        "spec": {
            "type": None,
            "ports": None,
            "load_balancer_source_ranges": None,
            "external_traffic_policy": None,
            "health_check_node_port": None,
            "load_balancer_ip": None,
            "load_balancer_class": None,
            "session_affinity": None,
            "ip_families": None,
        },
        "status": {"load_balancer": {"ingress": None}},
    },
    "empty-status": {"status": {"loadBalancer": {}}},
}


@pytest.mark.parametrize("raw", SPARSE_SERVICES.values(), ids=SPARSE_SERVICES.keys())
def test_service_defaults(raw: dict[str, Any]) -> None:
    view = ServiceView.from_dict(raw)
    for attr, expected in DEFAULTS.items():
        assert getattr(view, attr) == expected, attr


def test_service_dataclass_defaults_match_from_dict_defaults() -> None:
    assert ServiceView(namespace="default", name="", uid="") == ServiceView.from_dict({})


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({"a": "x"}, {"a": "x"}),
        ({"a": None}, {"a": ""}),
        ({"a": 5}, {"a": "5"}),
        ({"a": ""}, {"a": ""}),
    ],
    ids=["string", "none-becomes-empty", "number-stringified", "empty-kept"],
)
def test_service_annotations_are_strings(
    annotations: dict[str, Any], expected: dict[str, str]
) -> None:
    view = ServiceView.from_dict({"metadata": {"name": "s", "annotations": annotations}})
    assert view.annotations == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"port": 80}, ServicePort("", "TCP", 80, 0, None, None)),
        ({"port": 53, "protocol": "udp"}, ServicePort("", "UDP", 53, 0, None, None)),
        ({"port": "443", "nodePort": "30443"}, ServicePort("", "TCP", 443, 30443)),
        (
            {"name": "h", "port": 80, "protocol": None, "node_port": None, "target_port": None},
            ServicePort("h", "TCP", 80, 0),
        ),
        (
            {"name": "h2", "port": 80, "target_port": "web", "app_protocol": "kubernetes.io/h2c"},
            ServicePort("h2", "TCP", 80, 0, "web", "kubernetes.io/h2c"),
        ),
        (
            {"port": 9, "protocol": "SCTP", "nodePort": 31000, "targetPort": 9},
            ServicePort("", "SCTP", 9, 31000, 9),
        ),
    ],
    ids=[
        "minimal",
        "protocol-upper-cased",
        "numeric-strings",
        "snake-nones",
        "snake-named-target",
        "sctp",
    ],
)
def test_service_port_from_dict(raw: dict[str, Any], expected: ServicePort) -> None:
    assert ServicePort.from_dict(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected", "as_dict"),
    [
        ({"hostname": "lb.example"}, Ingress(hostname="lb.example"), {"hostname": "lb.example"}),
        ({"ip": "1.2.3.4"}, Ingress(ip="1.2.3.4"), {"ip": "1.2.3.4"}),
        (
            {"ip": "1.2.3.4", "hostname": "h"},
            Ingress("h", "1.2.3.4"),
            {"ip": "1.2.3.4", "hostname": "h"},
        ),
        ({"ip": None, "hostname": None, "ip_mode": None}, Ingress(), {}),
    ],
    ids=["hostname", "ip", "both", "client-nones"],
)
def test_ingress(raw: dict[str, Any], expected: Ingress, as_dict: dict[str, str]) -> None:
    ingress = Ingress.from_dict(raw)
    assert ingress == expected
    assert ingress.to_dict() == as_dict


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({}, False),
        ({"deletionTimestamp": None}, False),
        ({"deletionTimestamp": "2024-05-01T10:00:00Z"}, True),
        ({"deletion_timestamp": None}, False),
        ({"deletion_timestamp": datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC)}, True),
    ],
    ids=["absent", "camel-null", "camel-set", "snake-null", "snake-datetime"],
)
def test_service_deleting(meta: dict[str, Any], expected: bool) -> None:
    assert ServiceView.from_dict({"metadata": {"name": "s", **meta}}).deleting is expected


@pytest.mark.parametrize(
    ("finalizers", "expected"),
    [
        (None, ()),
        ([], ()),
        ([LOAD_BALANCER_CLEANUP_FINALIZER], (LOAD_BALANCER_CLEANUP_FINALIZER,)),
        (["a/b", LOAD_BALANCER_CLEANUP_FINALIZER], ("a/b", LOAD_BALANCER_CLEANUP_FINALIZER)),
    ],
    ids=["none", "empty", "ours", "order-kept"],
)
def test_service_finalizers(finalizers: list[str] | None, expected: tuple[str, ...]) -> None:
    view = ServiceView.from_dict({"metadata": {"name": "s", "finalizers": finalizers}})
    assert view.finalizers == expected


def test_service_key() -> None:
    assert ServiceView(namespace="kube-system", name="dns", uid="u").key == "kube-system/dns"


# --- nodes -------------------------------------------------------------------------------

CAMEL_NODE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "name": "ip-10-0-1-5.ec2.internal",
        "labels": {
            "kubernetes.io/hostname": "ip-10-0-1-5.ec2.internal",
            "topology.kubernetes.io/zone": "us-east-1a",
        },
    },
    "spec": {
        "providerID": "aws:///us-east-1a/i-0123456789abcdef0",
        "taints": [
            {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
            {"key": "ToBeDeletedByClusterAutoscaler", "effect": "NoSchedule"},
        ],
    },
    "status": {
        "conditions": [
            {"type": "MemoryPressure", "status": "False"},
            {"type": "Ready", "status": "True"},
        ],
        "addresses": [
            {"type": "InternalIP", "address": "10.0.1.5"},
            {"type": "Hostname", "address": "ip-10-0-1-5.ec2.internal"},
        ],
    },
}

SNAKE_NODE: dict[str, Any] = {
    "api_version": "v1",
    "kind": "Node",
    "metadata": {
        "name": "ip-10-0-1-5.ec2.internal",
        "labels": {
            "kubernetes.io/hostname": "ip-10-0-1-5.ec2.internal",
            "topology.kubernetes.io/zone": "us-east-1a",
        },
        "deletion_timestamp": None,
    },
    "spec": {
        "provider_id": "aws:///us-east-1a/i-0123456789abcdef0",
        "pod_cidr": None,
        "taints": [
            {"key": "dedicated", "value": "gpu", "effect": "NoSchedule", "time_added": None},
            {
                "key": "ToBeDeletedByClusterAutoscaler",
                "value": None,
                "effect": "NoSchedule",
                "time_added": None,
            },
        ],
        "unschedulable": None,
    },
    "status": {
        "conditions": [
            {"type": "MemoryPressure", "status": "False", "reason": None},
            {"type": "Ready", "status": "True", "reason": "KubeletReady"},
        ],
        "addresses": [
            {"type": "InternalIP", "address": "10.0.1.5"},
            {"type": "Hostname", "address": "ip-10-0-1-5.ec2.internal"},
        ],
    },
}

EXPECTED_NODE = NodeView(
    name="ip-10-0-1-5.ec2.internal",
    labels={
        "kubernetes.io/hostname": "ip-10-0-1-5.ec2.internal",
        "topology.kubernetes.io/zone": "us-east-1a",
    },
    taints=(
        Taint("dedicated", "gpu", "NoSchedule"),
        Taint("ToBeDeletedByClusterAutoscaler", "", "NoSchedule"),
    ),
    provider_id="aws:///us-east-1a/i-0123456789abcdef0",
    addresses=(("InternalIP", "10.0.1.5"), ("Hostname", "ip-10-0-1-5.ec2.internal")),
    deleting=False,
    ready=True,
)


@pytest.mark.parametrize("raw", [CAMEL_NODE, SNAKE_NODE], ids=["camel", "snake"])
def test_node_from_dict(raw: dict[str, Any]) -> None:
    assert NodeView.from_dict(raw) == EXPECTED_NODE


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        (None, True),
        ([], True),
        ([{"type": "Ready", "status": "True"}], True),
        ([{"type": "Ready", "status": "False"}], False),
        ([{"type": "Ready", "status": "Unknown"}], False),
        ([{"type": "MemoryPressure", "status": "True"}], False),
        ([{"type": "DiskPressure", "status": "False"}, {"type": "Ready", "status": "True"}], True),
    ],
    ids=[
        "no-conditions",
        "empty-conditions",
        "ready",
        "not-ready",
        "unknown",
        "no-ready-condition",
        "ready-among-others",
    ],
)
def test_node_ready(conditions: list[dict[str, str]] | None, expected: bool) -> None:
    view = NodeView.from_dict({"metadata": {"name": "n"}, "status": {"conditions": conditions}})
    assert view.ready is expected


@pytest.mark.parametrize(
    ("raw", "attr", "expected"),
    [
        ({}, "name", ""),
        ({}, "labels", {}),
        ({}, "taints", ()),
        ({}, "provider_id", ""),
        ({}, "addresses", ()),
        ({}, "deleting", False),
        ({"metadata": {"labels": None}}, "labels", {}),
        ({"spec": {"providerID": None, "provider_id": None}}, "provider_id", ""),
        ({"spec": {"taints": [{"key": "k"}]}}, "taints", (Taint("k", "", ""),)),
        ({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}}, "deleting", True),
        ({"metadata": {"deletion_timestamp": datetime.datetime(2024, 1, 1)}}, "deleting", True),
        ({"metadata": {"labels": {"n": 1}}}, "labels", {"n": "1"}),
    ],
    ids=[
        "name",
        "labels",
        "taints",
        "provider-id",
        "addresses",
        "deleting",
        "labels-none",
        "provider-id-none",
        "taint-defaults",
        "deleting-camel",
        "deleting-snake",
        "label-stringified",
    ],
)
def test_node_fields(raw: dict[str, Any], attr: str, expected: object) -> None:
    assert getattr(NodeView.from_dict(raw), attr) == expected


# --- Resource ----------------------------------------------------------------------------


def test_resource_ref_and_defaults() -> None:
    res = Resource("aws:elb", "a123", {"Scheme": KNOWN_AFTER_APPLY})
    assert res.ref == ("aws:elb", "a123")
    assert res.owner == ""
    assert res.id == ""
    assert KNOWN_AFTER_APPLY == "(known after apply)"
