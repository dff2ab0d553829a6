"""The small parts: the informer's cache and event handling, metrics rendering, log
formats, bind addresses, options."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from lbctl.calls import CallCounter
from lbctl.cli import build_parser
from lbctl.controller import logs
from lbctl.controller.endpoints import parse_bind_address
from lbctl.controller.informer import Informer, Store
from lbctl.controller.metrics import ControllerMetrics, Counter, Histogram
from lbctl.controller.options import Options, from_args
from tests.controller.fakes import service


def obj(name: str, rv: str, **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "resourceVersion": rv}, **extra}


def test_store_replace_reports_the_difference() -> None:
    store = Store()
    store.replace([obj("a", "1"), obj("b", "1"), obj("c", "1")])
    added, updated, deleted = store.replace([obj("a", "1"), obj("b", "2"), obj("d", "1")])
    assert [o["metadata"]["name"] for o in added] == ["d"]
    assert [(o["metadata"]["name"], n["metadata"]["resourceVersion"]) for o, n in updated] == [
        ("b", "2")
    ]
    assert [o["metadata"]["name"] for o in deleted] == ["c"]
    assert sorted(store.keys()) == ["default/a", "default/b", "default/d"]


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def informer(self) -> Informer:
        return Informer(
            kind="Service",
            list_fn=lambda **kw: None,
            on_add=lambda o: self.calls.append(("add", o["metadata"]["name"])),
            on_update=lambda o, n: self.calls.append(
                ("update", n["metadata"]["name"], o["metadata"]["resourceVersion"])
            ),
            on_delete=lambda o: self.calls.append(("delete", o["metadata"]["name"])),
        )


def test_watch_events_update_the_cache_and_call_handlers() -> None:
    rec = Recorder()
    informer = rec.informer()
    informer.dispatch("ADDED", obj("a", "5"))
    informer.dispatch("MODIFIED", obj("a", "6"))
    informer.dispatch("MODIFIED", obj("b", "7"))  # never seen: an add
    informer.dispatch("BOOKMARK", {"metadata": {"resourceVersion": "9"}})
    assert informer.resource_version == "9"
    informer.dispatch("DELETED", obj("a", "10"))
    assert rec.calls == [("add", "a"), ("update", "a", "5"), ("add", "b"), ("delete", "a")]
    assert informer.store.get("default/a") is None
    assert informer.resource_version == "10"


def test_a_failing_handler_does_not_stop_the_informer() -> None:
    informer = Informer(
        kind="Service",
        list_fn=lambda **kw: None,
        on_add=lambda o: 1 / 0,  # type: ignore[func-returns-value]
        on_update=lambda o, n: None,
        on_delete=lambda o: None,
    )
    informer.dispatch("ADDED", obj("a", "1"))
    assert informer.store.get("default/a") is not None


def test_metrics_text_format() -> None:
    counter = CallCounter()
    counter.record("aws", "elb:CreateLoadBalancer")
    m = ControllerMetrics(
        counter=counter, queue_depth=lambda: 3, queue_waiting=lambda: 1, leading=lambda: True
    )
    m.reconciles.inc("success", "ensure")
    m.reconcile_seconds.observe(0.2, "success")
    text = m.render()
    assert "# TYPE lbctl_reconcile_total counter" in text
    assert 'lbctl_reconcile_total{result="success",operation="ensure"} 1' in text
    assert 'lbctl_reconcile_duration_seconds_bucket{result="success",le="0.25"} 1' in text
    assert 'lbctl_reconcile_duration_seconds_bucket{result="success",le="0.1"} 0' in text
    assert 'lbctl_reconcile_duration_seconds_bucket{result="success",le="+Inf"} 1' in text
    assert "lbctl_workqueue_depth 3" in text
    assert "lbctl_workqueue_waiting 1" in text
    assert "lbctl_leader 1" in text
    assert 'lbctl_cloud_calls_total{provider="aws",operation="elb:CreateLoadBalancer"} 1' in text
    assert text.endswith("\n")


def test_label_values_are_escaped() -> None:
    c = Counter("x_total", "help", ("l",))
    c.inc('a"b\\c\nd')
    assert c.samples() == ['x_total{l="a\\"b\\\\c\\nd"} 1']
    h = Histogram("h", "help", (), buckets=(1,))
    h.observe(2)
    assert h.count() == 1


def test_json_logs_carry_the_fields() -> None:
    logger = logging.getLogger("lbctl")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    stream = io.StringIO()
    logs.configure(fmt="json", level="info", stream=stream)
    try:
        logging.getLogger("lbctl.controller").info(
            "reconciled", extra={"service": "default/web", "changes": {"create aws:elb": 1}}
        )
        record = json.loads(stream.getvalue())
        assert record["msg"] == "reconciled" and record["level"] == "info"
        assert record["service"] == "default/web"
        assert record["changes"] == {"create aws:elb": 1}
        stream.truncate(0)
        stream.seek(0)
        logs.configure(fmt="text", level="info", stream=stream)
        logging.getLogger("lbctl.controller").info("reconciled", extra={"service": "a b"})
        assert 'reconciled service="a b"' in stream.getvalue()
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":8080", ("0.0.0.0", 8080)),
        ("127.0.0.1:9000", ("127.0.0.1", 9000)),
        ("[::1]:8081", ("::1", 8081)),
        ("0", None),
    ],
)
def test_bind_addresses(text: str, expected: tuple[str, int] | None) -> None:
    assert parse_bind_address(text) == expected


@pytest.mark.parametrize("text", ["8080", "host:", ":99999", "localhost:http"])
def test_bad_bind_addresses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_bind_address(text)


def test_run_defaults_are_upstreams() -> None:
    options = from_args(build_parser().parse_args(["run"]))
    assert options == Options()
    assert options.workers == 1
    assert options.resync_period == 600
    assert (options.lease_duration, options.renew_deadline, options.retry_period) == (15, 10, 2)
    assert (options.lease_name, options.lease_namespace) == ("lbctl", "kube-system")
    assert options.metrics_bind_address == ":8080"
    assert options.health_probe_bind_address == ":8081"


def test_run_flags() -> None:
    args = build_parser().parse_args(
        [
            "run",
            "--workers=8",
            "--resync-period=1h30m",
            "--leader-elect",
            "--leader-elect-lease-duration=30s",
            "--leader-elect-resource-namespace=lbctl-system",
            "--load-balancer-class=example.com/lb",
            "--metrics-bind-address=0",
        ]
    )
    options = from_args(args)
    assert options.workers == 8 and options.resync_period == 5400
    assert options.leader_elect and options.lease_duration == 30
    assert options.lease_namespace == "lbctl-system"
    assert options.load_balancer_class == "example.com/lb"


@pytest.mark.parametrize(
    "argv",
    [["run", "--workers=0"], ["run", "--resync-period=600"], ["run", "--metrics-bind-address=x"]],
)
def test_bad_run_flags(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)
    assert "error" in capsys.readouterr().err


def test_service_fixture_is_namespaced() -> None:
    assert service("x")["metadata"]["namespace"] == "default"


def test_run_without_a_cluster_says_so(
    tmp_path: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lbctl.cli import main

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    missing = tmp_path / "nowhere.yaml"
    logger = logging.getLogger("lbctl")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    try:
        code = main(["run", f"--kubeconfig={missing}", "--metrics-bind-address=0"])
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]
    assert code == 1
    assert f"cannot use kubeconfig {missing}" in capsys.readouterr().err
