"""Create / get / list / replace / delete through the real ``kubernetes`` client."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from lbctl.sandbox.kube import KubeAPIServer
from tests.kube.helpers import raw, service


def _rv(obj: Any) -> int:
    return int(obj.metadata.resource_version)


def test_create_sets_server_metadata(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_service("default", service())
    meta = created.metadata
    assert uuid.UUID(meta.uid).version == 4
    assert meta.creation_timestamp is not None
    assert meta.namespace == "default"
    assert created.kind == "Service" and created.api_version == "v1"
    assert created.status.load_balancer.ingress is None


def test_every_write_bumps_one_global_resource_version(core: client.CoreV1Api) -> None:
    first = core.create_namespaced_service("default", service("a"))
    second = core.create_namespaced_service("default", service("b"))
    assert _rv(second) == _rv(first) + 1
    patched = core.patch_namespaced_service("a", "default", {"metadata": {"labels": {"x": "y"}}})
    assert _rv(patched) == _rv(second) + 1
    listed = core.list_namespaced_service("default")
    assert int(listed.metadata.resource_version) == _rv(patched)


def test_noop_update_is_not_written(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_service("default", service())
    same = core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"app": "web"}}})
    assert same.metadata.resource_version == created.metadata.resource_version


def test_get_missing_is_404_with_a_status_body(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_service("nope", "default")
    assert caught.value.status == 404
    assert '"reason":"NotFound"' in caught.value.body.replace(" ", "")
    assert 'services \\"nope\\" not found' in caught.value.body


def test_create_existing_name_is_409_already_exists(core: client.CoreV1Api) -> None:
    core.create_namespaced_service("default", service())
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_service("default", service())
    assert caught.value.status == 409
    assert "AlreadyExists" in caught.value.body


def test_replace_with_stale_resource_version_is_409_conflict(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_service("default", service())
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"v": "2"}}})
    created.metadata.labels = {"v": "3"}
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_service("web", "default", created)
    assert caught.value.status == 409
    assert '"reason": "Conflict"' in caught.value.body or '"reason":"Conflict"' in caught.value.body
    assert "the object has been modified" in caught.value.body


def test_replace_with_current_resource_version_succeeds(core: client.CoreV1Api) -> None:
    current = core.create_namespaced_service("default", service())
    current.metadata.labels = {"app": "web", "tier": "front"}
    replaced = core.replace_namespaced_service("web", "default", current)
    assert replaced.metadata.labels["tier"] == "front"
    assert replaced.spec.cluster_ip == current.spec.cluster_ip


def test_patch_carrying_a_stale_resource_version_is_409(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_service("default", service())
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"v": "2"}}})
    stale = {
        "metadata": {"resourceVersion": created.metadata.resource_version, "labels": {"v": "3"}}
    }
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_service("web", "default", stale)
    assert caught.value.status == 409


def test_create_in_a_missing_namespace_is_404(core: client.CoreV1Api) -> None:
    body = service()
    del body["metadata"]["namespace"]
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_service("nowhere", body)
    assert caught.value.status == 404
    assert 'namespaces \\"nowhere\\" not found' in caught.value.body


def test_namespace_mismatch_is_400(core: client.CoreV1Api) -> None:
    body = service()
    body["metadata"]["namespace"] = "kube-system"
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_service("default", body)
    assert caught.value.status == 400


def test_generate_name(core: client.CoreV1Api) -> None:
    body = service()
    del body["metadata"]["name"]
    body["metadata"]["generateName"] = "web-"
    created = core.create_namespaced_service("default", body)
    assert created.metadata.name.startswith("web-") and len(created.metadata.name) == 9


@pytest.mark.parametrize(
    ("name", "message"),
    [("Web", "DNS-1035 label"), ("9web", "DNS-1035 label"), ("", "Required value")],
    ids=["uppercase", "leading-digit", "missing"],
)
def test_bad_service_names_are_422(core: client.CoreV1Api, name: str, message: str) -> None:
    body = service()
    body["metadata"]["name"] = name
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_service("default", body)
    assert caught.value.status == 422
    assert message in caught.value.body


def test_list_across_namespaces_and_paging(core: client.CoreV1Api) -> None:
    for name in ("a", "b", "c"):
        core.create_namespaced_service("default", service(name))
    core.create_namespaced_service("kube-system", {**service("d"), "metadata": {"name": "d"}})
    everywhere = core.list_service_for_all_namespaces()
    assert [(s.metadata.namespace, s.metadata.name) for s in everywhere.items] == [
        ("default", "a"),
        ("default", "b"),
        ("default", "c"),
        ("kube-system", "d"),
    ]
    page = core.list_namespaced_service("default", limit=2)
    assert [s.metadata.name for s in page.items] == ["a", "b"]
    assert page.metadata.remaining_item_count == 1
    rest = core.list_namespaced_service("default", limit=2, _continue=page.metadata._continue)
    assert [s.metadata.name for s in rest.items] == ["c"]
    assert rest.metadata._continue is None


def test_expired_continue_token_is_410(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    for name in ("a", "b"):
        core.create_namespaced_service("default", service(name))
    page = core.list_namespaced_service("default", limit=1)
    core.create_namespaced_service("default", service("c"))
    kube.expire_watches()
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_service("default", limit=1, _continue=page.metadata._continue)
    assert caught.value.status == 410


def test_list_items_carry_no_kind_but_the_list_does(kube: KubeAPIServer) -> None:
    kube.create(service())
    _, _, body = raw(kube, "GET", "/api/v1/namespaces/default/services")
    assert body["kind"] == "ServiceList"
    assert "kind" not in body["items"][0]


def test_delete_without_finalizers_removes_and_returns_the_object(
    core: client.CoreV1Api,
) -> None:
    core.create_namespaced_service("default", service())
    deleted = core.delete_namespaced_service("web", "default")
    assert deleted.metadata.name == "web"
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_service("web", "default")
    assert caught.value.status == 404


def test_delete_precondition_on_uid(core: client.CoreV1Api) -> None:
    core.create_namespaced_service("default", service())
    options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="not-it"))
    with pytest.raises(ApiException) as caught:
        core.delete_namespaced_service("web", "default", body=options)
    assert caught.value.status == 409
    assert "Precondition failed" in caught.value.body


def test_dry_run_writes_nothing(core: client.CoreV1Api) -> None:
    before = core.list_namespaced_service("default").metadata.resource_version
    result = core.create_namespaced_service("default", service(), dry_run="All")
    assert result.spec.cluster_ip
    assert core.list_namespaced_service("default").items == []
    assert core.list_namespaced_service("default").metadata.resource_version == before


def test_nodes_are_cluster_scoped_and_keep_status_on_create(core: client.CoreV1Api) -> None:
    from tests.kube.helpers import node

    created = core.create_node(node("n1"))
    assert created.metadata.namespace is None
    assert created.status.conditions[0].type == "Ready"
    assert [n.metadata.name for n in core.list_node().items] == ["n1"]
    status = core.delete_node("n1")
    assert status["status"] == "Success"


def test_leases_support_leader_election_conflicts(
    coordination: client.CoordinationV1Api,
) -> None:
    lease = {
        "metadata": {"name": "lbctl", "namespace": "kube-system"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15, "leaseTransitions": 0},
    }
    created = coordination.create_namespaced_lease("kube-system", lease)
    mine = coordination.read_namespaced_lease("lbctl", "kube-system")
    created.spec.holder_identity = "b"
    coordination.replace_namespaced_lease("lbctl", "kube-system", created)
    mine.spec.holder_identity = "a"
    with pytest.raises(ApiException) as caught:
        coordination.replace_namespaced_lease("lbctl", "kube-system", mine)
    assert caught.value.status == 409
    assert coordination.read_namespaced_lease("lbctl", "kube-system").spec.holder_identity == "b"


def test_lease_duration_must_be_positive(coordination: client.CoordinationV1Api) -> None:
    lease = {"metadata": {"name": "x"}, "spec": {"leaseDurationSeconds": 0}}
    with pytest.raises(ApiException) as caught:
        coordination.create_namespaced_lease("default", lease)
    assert caught.value.status == 422


def _core_event(name: str = "web.1") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default"},
        "involvedObject": {"kind": "Service", "name": "web", "namespace": "default"},
        "reason": "EnsuringLoadBalancer",
        "message": "Ensuring load balancer",
        "type": "Normal",
        "source": {"component": "service-controller"},
        "count": 1,
    }


def test_core_events_are_listed_by_events_k8s_io(
    kube: KubeAPIServer, core: client.CoreV1Api
) -> None:
    core.create_namespaced_event("default", _core_event())
    patched = core.patch_namespaced_event("web.1", "default", {"count": 2})
    assert patched.count == 2
    # Raw HTTP: a legacy Event has "eventTime": null in events.k8s.io/v1, which the
    # pydantic models of kubernetes>=37 refuse to parse (as against a real cluster).
    _, _, body = raw(kube, "GET", "/apis/events.k8s.io/v1/namespaces/default/events")
    [event] = body["items"]
    assert event["eventTime"] is None
    assert event["note"] == "Ensuring load balancer"
    assert event["regarding"]["name"] == "web"
    assert event["deprecatedCount"] == 2
    assert event["deprecatedSource"] == {"component": "service-controller"}


def test_events_k8s_io_events_are_listed_by_core(
    core: client.CoreV1Api, events_api: client.EventsV1Api
) -> None:
    events_api.create_namespaced_event(
        "default",
        {
            "metadata": {"name": "web.2"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "lbctl",
            "reportingInstance": "lbctl-0",
            "action": "Ensuring",
            "reason": "EnsuredLoadBalancer",
            "regarding": {"kind": "Service", "name": "web", "namespace": "default"},
            "note": "Ensured load balancer",
            "type": "Normal",
        },
    )
    [event] = core.list_namespaced_event(
        "default", field_selector="involvedObject.name=web,reason=EnsuredLoadBalancer"
    ).items
    assert event.message == "Ensured load balancer"
    assert event.reporting_component == "lbctl"


def test_new_style_event_needs_reporting_fields(events_api: client.EventsV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        events_api.create_namespaced_event(
            "default",
            {
                "metadata": {"name": "x"},
                "eventTime": "2026-01-01T00:00:00.000000Z",
                "regarding": {"kind": "Service", "name": "web", "namespace": "default"},
            },
        )
    assert caught.value.status == 422
    assert "reportingController: Required value" in caught.value.body


def test_event_namespace_must_match_involved_object(core: client.CoreV1Api) -> None:
    event = _core_event()
    event["involvedObject"]["namespace"] = "kube-system"
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_event("default", event)
    assert caught.value.status == 422
    assert "does not match event.namespace" in caught.value.body


def test_put_creates_a_missing_event(kube: KubeAPIServer) -> None:
    body = {"apiVersion": "v1", "kind": "Event", **_core_event("web.3")}
    status, _, created = raw(kube, "PUT", "/api/v1/namespaces/default/events/web.3", body)
    assert status == 201
    assert created["metadata"]["uid"]


def test_namespace_deletion_tears_down_its_content(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "team"}})
    core.create_namespaced_service("team", {**service(), "metadata": {"name": "web"}})
    core.delete_namespace("team")
    assert core.list_namespaced_service("team").items == []
    with pytest.raises(ApiException) as caught:
        core.read_namespace("team")
    assert caught.value.status == 404


def test_system_namespaces_cannot_be_deleted(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.delete_namespace("default")
    assert caught.value.status == 403
