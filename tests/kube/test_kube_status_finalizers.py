"""The status subresource and graceful deletion, as the service controller uses them."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from lbctl.sandbox.kube import KubeAPIServer
from tests.kube.helpers import FINALIZER, error_body, service, tweak_finalizer, tweak_lb

INGRESS = {"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}}


def test_main_resource_writes_ignore_status(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube.create(service("web", tweak_lb))
    core.patch_namespaced_service_status("web", "default", INGRESS)
    patched = core.patch_namespaced_service(
        "web",
        "default",
        {
            "metadata": {"labels": {"x": "y"}},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}},
        },
    )
    assert patched.status.load_balancer.ingress[0].ip == "203.0.113.10"
    current = core.read_namespaced_service("web", "default")
    current.status = client.V1ServiceStatus(load_balancer=client.V1LoadBalancerStatus(ingress=[]))
    replaced = core.replace_namespaced_service("web", "default", current)
    assert replaced.status.load_balancer.ingress[0].ip == "203.0.113.10"


def test_create_resets_service_status(core: client.CoreV1Api) -> None:
    body = service("web", tweak_lb)
    body["status"] = INGRESS["status"]
    created = core.create_namespaced_service("default", body)
    assert created.status.load_balancer.ingress is None


def test_status_writes_ignore_spec_but_apply_metadata(
    kube: KubeAPIServer, core: client.CoreV1Api
) -> None:
    kube.create(service("web", tweak_lb))
    patched = core.patch_namespaced_service_status(
        "web",
        "default",
        {
            "metadata": {"finalizers": [FINALIZER], "labels": {"seen": "yes"}},
            "spec": {"type": "ClusterIP"},
            **INGRESS,
        },
    )
    assert patched.spec.type == "LoadBalancer"
    assert patched.metadata.finalizers == [FINALIZER]
    assert patched.metadata.labels["seen"] == "yes"
    assert patched.status.load_balancer.ingress[0].ip == "203.0.113.10"


def test_replace_status_with_stale_resource_version_is_409(
    kube: KubeAPIServer, core: client.CoreV1Api
) -> None:
    kube.create(service("web", tweak_lb))
    stale = core.read_namespaced_service("web", "default")
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"v": "2"}}})
    stale.status.load_balancer.ingress = [client.V1LoadBalancerIngress(ip="203.0.113.10")]
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_service_status("web", "default", stale)
    assert caught.value.status == 409


def test_replace_status_with_current_resource_version(
    kube: KubeAPIServer, core: client.CoreV1Api
) -> None:
    kube.create(service("web", tweak_lb))
    current = core.read_namespaced_service_status("web", "default")
    current.status.load_balancer.ingress = [client.V1LoadBalancerIngress(hostname="a.example.com")]
    current.spec.type = "NodePort"
    replaced = core.replace_namespaced_service_status("web", "default", current)
    assert replaced.status.load_balancer.ingress[0].hostname == "a.example.com"
    assert replaced.spec.type == "LoadBalancer"


def test_ingress_ip_defaults_ip_mode_vip(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube.create(service("web", tweak_lb))
    patched = core.patch_namespaced_service_status("web", "default", INGRESS)
    assert patched.status.load_balancer.ingress[0].ip_mode == "VIP"
    host = core.patch_namespaced_service_status(
        "web", "default", {"status": {"loadBalancer": {"ingress": [{"hostname": "a.example.com"}]}}}
    )
    assert host.status.load_balancer.ingress[0].ip_mode is None


@pytest.mark.parametrize(
    ("ingress", "message"),
    [
        ({"ip": "not-an-ip"}, "must be a valid IP address"),
        ({"hostname": "10.0.0.1"}, "must be a DNS name, not an IP address"),
        ({"hostname": "a.example.com", "ipMode": "VIP"}, "may not be specified when `ip` is not"),
        ({"ip": "10.0.0.1", "ipMode": "Direct"}, 'Unsupported value: "Direct"'),
    ],
    ids=["bad-ip", "ip-as-hostname", "ipmode-without-ip", "bad-ipmode"],
)
def test_invalid_ingress_is_422(
    kube: KubeAPIServer, core: client.CoreV1Api, ingress: dict[str, str], message: str
) -> None:
    kube.create(service("web", tweak_lb))
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_service_status(
            "web", "default", {"status": {"loadBalancer": {"ingress": [ingress]}}}
        )
    assert caught.value.status == 422
    assert message in error_body(caught.value)["message"]


def test_delete_with_finalizer_only_marks_the_object(
    kube: KubeAPIServer, core: client.CoreV1Api
) -> None:
    kube.create(service("web", tweak_lb, tweak_finalizer))
    answer = core.delete_namespaced_service("web", "default")
    assert answer.metadata.deletion_timestamp is not None
    marked = core.read_namespaced_service("web", "default")
    assert marked.metadata.deletion_timestamp is not None
    assert marked.metadata.deletion_grace_period_seconds == 0
    again = core.delete_namespaced_service("web", "default")
    assert again.metadata.resource_version == marked.metadata.resource_version


def test_removing_the_last_finalizer_deletes(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube.create(service("web", tweak_lb, tweak_finalizer))
    core.delete_namespaced_service("web", "default")
    core.patch_namespaced_service_status(
        "web",
        "default",
        {
            "metadata": {
                "$setElementOrder/finalizers": [],
                "$deleteFromPrimitiveList/finalizers": [FINALIZER],
            }
        },
    )
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_service("web", "default")
    assert caught.value.status == 404


def test_no_new_finalizers_while_deleting(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube.create(service("web", tweak_lb, tweak_finalizer))
    core.delete_namespaced_service("web", "default")
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_service(
            "web", "default", {"metadata": {"finalizers": ["other.example.com/x"]}}
        )
    assert caught.value.status == 422
    assert "no new finalizers can be added" in caught.value.body


def test_deletion_releases_allocations_only_when_gone(
    kube: KubeAPIServer, core: client.CoreV1Api
) -> None:
    created = kube.create(service("web", tweak_lb, tweak_finalizer))
    node_port = created["spec"]["ports"][0]["nodePort"]
    core.delete_namespaced_service("web", "default")
    clash = service("other", tweak_lb)
    clash["spec"]["ports"][0]["nodePort"] = node_port
    with pytest.raises(ApiException):
        core.create_namespaced_service("default", clash)
    core.patch_namespaced_service(
        "web", "default", [{"op": "remove", "path": "/metadata/finalizers"}]
    )
    assert core.create_namespaced_service("default", clash).spec.ports[0].node_port == node_port
