"""Watch: ordering, resume, 410 Expired, bookmarks and selectors, via ``kubernetes.watch``."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from lbctl.sandbox.kube import KubeAPIServer
from tests.kube.helpers import service, tweak_finalizer, tweak_lb, watch_events


def _collect(
    func: Any, *args: Any, count: int, timeout: int = 3, **kwargs: Any
) -> list[tuple[str, Any]]:
    """The first ``count`` events of a watch, as ``(type, raw_object)``."""
    events: list[tuple[str, Any]] = []
    stream = watch.Watch()
    for event in stream.stream(func, *args, timeout_seconds=timeout, **kwargs):
        events.append((event["type"], event["raw_object"]))
        if len(events) == count:
            stream.stop()
    return events


def _names(events: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    return [(kind, obj["metadata"].get("name", "")) for kind, obj in events]


def test_replay_from_a_resource_version_in_order(core: client.CoreV1Api) -> None:
    start = core.list_namespaced_service("default").metadata.resource_version
    core.create_namespaced_service("default", service())
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"v": "2"}}})
    core.delete_namespaced_service("web", "default")
    events = _collect(core.list_namespaced_service, "default", resource_version=start, count=3)
    assert _names(events) == [("ADDED", "web"), ("MODIFIED", "web"), ("DELETED", "web")]
    versions = [int(obj["metadata"]["resourceVersion"]) for _, obj in events]
    assert versions == sorted(versions) and versions[0] == int(start) + 1


def test_live_events_reach_an_open_watch(core: client.CoreV1Api) -> None:
    start = core.list_namespaced_service("default").metadata.resource_version

    def write() -> None:
        time.sleep(0.1)
        core.create_namespaced_service("default", service("a"))
        core.patch_namespaced_service("a", "default", {"metadata": {"labels": {"v": "2"}}})

    writer = threading.Thread(target=write)
    writer.start()
    events = _collect(core.list_namespaced_service, "default", resource_version=start, count=2)
    writer.join()
    assert _names(events) == [("ADDED", "a"), ("MODIFIED", "a")]


def test_watch_without_resource_version_starts_with_current_state(
    kube: KubeAPIServer, core: client.CoreV1Api
) -> None:
    kube.create(service("a"))
    kube.create(service("b"))
    events = _collect(core.list_namespaced_service, "default", count=2)
    assert _names(events) == [("ADDED", "a"), ("ADDED", "b")]


def test_resume_from_the_last_seen_version(core: client.CoreV1Api) -> None:
    start = core.list_namespaced_service("default").metadata.resource_version
    core.create_namespaced_service("default", service("a"))
    [(_, first)] = _collect(
        core.list_namespaced_service, "default", resource_version=start, count=1
    )
    core.create_namespaced_service("default", service("b"))
    resumed = _collect(
        core.list_namespaced_service,
        "default",
        resource_version=first["metadata"]["resourceVersion"],
        count=1,
    )
    assert _names(resumed) == [("ADDED", "b")]


def test_finalizer_deletion_is_modified_then_deleted(
    kube: KubeAPIServer, core: client.CoreV1Api
) -> None:
    kube.create(service("web", tweak_lb, tweak_finalizer))
    start = core.list_namespaced_service("default").metadata.resource_version
    core.delete_namespaced_service("web", "default")
    core.patch_namespaced_service("web", "default", {"metadata": {"finalizers": None}})
    events = _collect(core.list_namespaced_service, "default", resource_version=start, count=2)
    assert [kind for kind, _ in events] == ["MODIFIED", "DELETED"]
    assert events[0][1]["metadata"]["deletionTimestamp"]


def test_noop_write_sends_no_event(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube.create(service())
    start = core.list_namespaced_service("default").metadata.resource_version
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"app": "web"}}})
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"v": "2"}}})
    events = _collect(core.list_namespaced_service, "default", resource_version=start, count=1)
    assert events[0][1]["metadata"]["labels"]["v"] == "2"


def test_too_old_resource_version_is_410(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    start = core.list_namespaced_service("default").metadata.resource_version
    core.create_namespaced_service("default", service())
    kube.expire_watches()
    with pytest.raises(ApiException) as caught:
        _collect(core.list_namespaced_service, "default", resource_version=start, count=1)
    assert caught.value.status == 410
    assert "Expired" in str(caught.value.reason)


def test_410_is_an_error_event_in_a_200_stream(kube: KubeAPIServer) -> None:
    kube.create(service())
    kube.expire_watches()
    [event] = watch_events(kube, "/api/v1/namespaces/default/services?watch=true&resourceVersion=1")
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410
    assert event["object"]["reason"] == "Expired"


def test_expire_watches_ends_open_streams_with_410(
    kube: KubeAPIServer, core: client.CoreV1Api
) -> None:
    start = core.list_namespaced_service("default").metadata.resource_version
    caught: list[BaseException] = []

    def watch_it() -> None:
        try:
            _collect(
                core.list_namespaced_service, "default", resource_version=start, count=5, timeout=5
            )
        except ApiException as error:
            caught.append(error)

    watcher = threading.Thread(target=watch_it)
    watcher.start()
    time.sleep(0.2)
    core.create_namespaced_service("default", service())
    kube.expire_watches()
    watcher.join(timeout=5)
    assert [getattr(e, "status", None) for e in caught] == [410]


def test_bounded_history_expires_old_versions() -> None:
    with KubeAPIServer(history_size=3) as small:
        small.create(service("a"))
        start = small.resource_version
        for name in ("b", "c", "d", "e"):
            small.create(service(name))
        [gone] = watch_events(small, f"/api/v1/services?watch=1&resourceVersion={start}")
        assert gone["object"]["code"] == 410
        recent = small.resource_version - 1
        events = watch_events(small, f"/api/v1/services?watch=1&resourceVersion={recent}", 1)
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "e")]


def test_bookmarks_carry_the_latest_resource_version(
    kube: KubeAPIServer, core: client.CoreV1Api
) -> None:
    kube.create(service())
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    start = core.list_namespaced_service("default").metadata.resource_version
    stream = watch.Watch()
    seen = []
    for event in stream.stream(
        core.list_namespaced_service,
        "default",
        resource_version=start,
        allow_watch_bookmarks=True,
        timeout_seconds=2,
    ):
        seen.append(event)
        stream.stop()
    assert seen[0]["type"] == "BOOKMARK"
    assert seen[0]["object"]["metadata"]["resourceVersion"] == str(kube.resource_version)
    assert stream.resource_version == str(kube.resource_version)


def test_timeout_seconds_ends_the_stream(core: client.CoreV1Api) -> None:
    started = time.monotonic()
    events = list(watch.Watch().stream(core.list_namespaced_service, "default", timeout_seconds=1))
    assert events == []
    assert 0.9 <= time.monotonic() - started < 3


def test_label_selector_transitions_are_added_and_deleted(
    kube: KubeAPIServer, core: client.CoreV1Api
) -> None:
    kube.create(service())
    start = core.list_namespaced_service("default").metadata.resource_version
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"lb": "yes"}}})
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"x": "1"}}})
    core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"lb": None}}})
    events = _collect(
        core.list_namespaced_service,
        "default",
        resource_version=start,
        label_selector="lb=yes",
        count=3,
    )
    assert [kind for kind, _ in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[2][1]["metadata"]["labels"] == {"app": "web", "lb": "yes", "x": "1"}


def test_field_selector_on_name_for_watch(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    start = core.list_namespaced_service("default").metadata.resource_version
    kube.create(service("a"))
    kube.create(service("b"))
    events = _collect(
        core.list_service_for_all_namespaces,
        resource_version=start,
        field_selector="metadata.name=b",
        count=1,
    )
    assert _names(events) == [("ADDED", "b")]


def test_capitalised_watch_flags_are_accepted(kube: KubeAPIServer) -> None:
    kube.create(service())
    events = watch_events(
        kube,
        "/api/v1/namespaces/default/services?watch=True&allowWatchBookmarks=True",
        1,
    )
    assert events[0]["type"] == "ADDED"


def test_send_initial_events_ends_with_an_annotated_bookmark(kube: KubeAPIServer) -> None:
    kube.create(service())
    events = watch_events(
        kube,
        "/api/v1/namespaces/default/services?watch=1&sendInitialEvents=true"
        "&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan",
        2,
    )
    assert [e["type"] for e in events[:2]] == ["ADDED", "BOOKMARK"]
    annotations = events[1]["object"]["metadata"]["annotations"]
    assert annotations == {"k8s.io/initial-events-end": "true"}


def test_stop_ends_open_watches(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    done = threading.Event()

    def watch_it() -> None:
        # With timeout_seconds the client does not reconnect: the stream just ends.
        list(watch.Watch().stream(core.list_namespaced_service, "default", timeout_seconds=10))
        done.set()

    watcher = threading.Thread(target=watch_it)
    watcher.start()
    time.sleep(0.2)
    kube.stop()
    assert done.wait(5)
    kube.start()


def test_table_watch_for_kubectl_get_w(kube: KubeAPIServer) -> None:
    kube.create(service("a"))
    kube.create(service("b"))
    request = urllib.request.Request(
        kube.url + "/api/v1/namespaces/default/services?watch=true",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        first, second = (json.loads(response.readline()) for _ in range(2))
    assert first["object"]["kind"] == "Table"
    assert first["object"]["columnDefinitions"][0]["name"] == "Name"
    assert second["object"]["columnDefinitions"] == []
    assert second["object"]["rows"][0]["cells"][:2] == ["b", "ClusterIP"]
