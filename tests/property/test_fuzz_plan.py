"""Hostile input through the one flow: `flow.plan_services` with the real providers, offline.

Over random Services (annotation maps of both providers' keys with valid, near-miss and
garbage values; port lists with duplicates, UDP, SCTP and missing nodePorts; source ranges
valid, invalid and IPv6; affinity, loadBalancerIP, traffic policy, types) and random Node
sets (the exclude label with any value, ToBeDeleted taints, deletion, providerIDs of every
form), the properties are:

- planning never raises: every input error lands in `plan.errors`;
- every error names an annotation or a field, carries the value it is about (the one in the
  input) and says why;
- a plan with errors has no changes;
- offline, against an empty cloud, a Service that wants a balancer and has no errors gets
  only creates, and one that does not want one gets nothing;
- an accepted Service listens on ports 1-65535 only (invalid input never reaches the cloud);
- the backends are exactly the eligible nodes' instances (read from the manifests by an
  oracle independent of lbctl.rules), and with an API-server UID every name fits its cloud;
- the same input gives the same plan (rendered JSON), whatever the order of the nodes, the
  annotations, or the other Services planned with it;
- the plan JSON is a format_version "1" document that round-trips through json.

The tests at the end pin down, as plain examples, the failures these properties found.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st

from lbctl import flow, render, rules
from lbctl.errors import FieldError
from lbctl.model import NodeView, ServiceView
from lbctl.plan import ServicePlan
from lbctl.provider import Provider, ProviderConfig, load_provider
from lbctl.rules import EXCLUDE_LABEL, SOURCE_RANGES_ANNOTATION, TO_BE_DELETED_TAINT
from tests.property.strategies import (
    AWS_KEYS,
    GCE_EXTRA_KEYS,
    GCE_KEYS,
    examples,
    node_manifests,
    service_manifests,
)

CLUSTER_IDS = {"aws": "fuzz-cluster", "gce": "fuzz"}
KEYS = {"aws": AWS_KEYS + GCE_KEYS[:2], "gce": GCE_KEYS + GCE_EXTRA_KEYS + AWS_KEYS[:2]}


@functools.cache
def _factory(name: str) -> Callable[[ProviderConfig], Provider]:
    """The provider's entry point, found once by `load_provider` (scanning the installed
    entry points costs ~25 ms; every example builds fresh providers from it)."""
    return type(load_provider(name, ProviderConfig(cluster_id="x", offline=True)))


def offline(name: str, cluster_id: str | None = None) -> Provider:
    cid = CLUSTER_IDS[name] if cluster_id is None else cluster_id
    return _factory(name)(ProviderConfig(cluster_id=cid, offline=True))


@functools.cache
def cluster_ids(name: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(CLUSTER_IDS[name]),
        st.just(CLUSTER_IDS[name]),
        st.just(CLUSTER_IDS[name]),
        st.sampled_from(["", "Prod_Cluster", "x" * 41, "a-", "c1"]),
    )


@st.composite
def scenario(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(["aws", "gce"]))
    return {
        "provider": name,
        "cluster_id": draw(cluster_ids(name)),
        "services": draw(service_manifests(keys=KEYS[name])),
        "nodes": draw(node_manifests()),
        "deleting": draw(st.integers(0, 7)) == 0,
        "class": draw(st.sampled_from([None] * 7 + ["example.com/lb"])),
    }


# --- checks --------------------------------------------------------------------------------


def expected_value(view: ServiceView, error: FieldError, cluster_id: str) -> Any:
    """The input value an error about `error.field` must carry; ... when not pinned down."""
    path = error.field or ""
    simple = {
        "metadata.name": view.name,
        "metadata.uid": view.uid,
        "spec.sessionAffinity": view.session_affinity,
        "spec.loadBalancerIP": view.load_balancer_ip,
        "spec.healthCheckNodePort": view.health_check_node_port,
        "--cluster-id": cluster_id,
    }
    if path in simple:
        return simple[path]
    if path.startswith("spec.loadBalancerSourceRanges["):
        index = int(path[len("spec.loadBalancerSourceRanges[") : -1])
        return view.load_balancer_source_ranges[index]
    if path.startswith("spec.ports[") and "]." in path:
        index = int(path[len("spec.ports[") : path.index("]")])
        attribute = path.split("].", 1)[1]
        port = view.ports[index]
        return {"protocol": port.protocol, "port": port.port, "nodePort": port.node_port}[attribute]
    return ...


def check_error(view: ServiceView, error: Any, cluster_id: str) -> None:
    assert isinstance(error, FieldError), f"{view.key}: not a FieldError: {error!r}"
    assert error.annotation or error.field, f"{view.key}: error names nothing: {error!r}"
    assert isinstance(error.message, str) and error.message.strip(), f"no reason: {error!r}"
    if error.annotation:
        if error.annotation in view.annotations:
            raw = view.annotations[error.annotation]
            # The annotation's value as given (surrounding blanks aside); or, for a list
            # annotation, one bad item of it when the message still shows the whole value
            # (so `annotation K=V` never misquotes what the user wrote).
            same = isinstance(error.value, str) and error.value.strip() == raw.strip()
            assert same or repr(raw) in error.message, (
                f"{view.key}: error about {error.annotation} carries {error.value!r}, "
                f"the annotation is {raw!r}: {error}"
            )
        else:
            # An error about a missing annotation ("access logs need a bucket") has no value;
            # it must still say which annotation to add.
            assert error.value is None, f"{view.key}: value of an absent annotation: {error!r}"
        return
    expected = expected_value(view, error, cluster_id)
    if expected is ...:
        assert error.value is not None, f"{view.key}: error carries no value: {error!r}"
    else:
        assert error.value == expected, (
            f"{view.key}: error about {error.field} carries {error.value!r}, "
            f"the input has {expected!r}"
        )


def wants(provider: Provider, view: ServiceView, deleting: bool, cls: str | None) -> bool:
    return flow.wants_balancer(provider, view, deleting=deleting, load_balancer_class=cls)


def check_plans(
    provider: Provider,
    plans: Sequence[ServicePlan],
    views: Sequence[ServiceView],
    nodes: Sequence[dict[str, Any]],
    *,
    cluster_id: str,
    deleting: bool,
    cls: str | None,
) -> None:
    assert [p.service for p in plans] == [v.key for v in views]
    for plan, view in zip(plans, views, strict=True):
        assert plan.provider == provider.name
        assert all(isinstance(w, str) and w.strip() for w in plan.warnings), plan.warnings
        for error in plan.errors:
            check_error(view, error, cluster_id)
        if plan.errors:
            assert plan.changes == [], f"{view.key}: a plan with errors has changes"
            continue
        assert plan.load_balancer_name == rules.load_balancer_name(view)
        ops = {c.op.value for c in plan.changes}
        if wants(provider, view, deleting, cls):
            # invalid input never reaches the cloud: what a balancer cannot listen on is an
            # input error, not a failed apply
            bad = [p.port for p in view.ports if not 1 <= p.port <= 65535]
            assert not bad, f"{view.key}: accepted service ports {bad}"
            # offline the cloud is empty: everything is to be created, nothing else
            assert plan.changes, f"{view.key}: wants a balancer but the plan is empty"
            assert ops == {"create"}, f"{view.key}: offline plan has {ops}"
        else:
            assert plan.changes == [], f"{view.key}: wants no balancer but has changes"
        refs = [(c.kind, c.name) for c in plan.changes]
        assert len(refs) == len(set(refs)), f"{view.key}: a (kind, name) planned twice: {refs}"
        check_backends(provider.name, view, plan, nodes)
        check_names(provider.name, view, plan)


# Oracles read from the manifests, independently of lbctl.rules and the providers.
GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")
AWS_INSTANCE = re.compile(r"^(?:aws://[^/]*/(?:[^/]*/)?|aws:////)?(i-[^/]+)$")
GCE_INSTANCE = re.compile(r"^gce://([^/]+)/([^/]+)/([^/]+)$")
AWS_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")
GCE_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def eligible(node: dict[str, Any]) -> bool:
    """Upstream's stable node predicates: not being deleted, not excluded by the label
    (anything Go's ParseBool does not read as false excludes), no ToBeDeleted taint."""
    meta, spec = node["metadata"], node.get("spec", {})
    exclude = meta.get("labels", {}).get(EXCLUDE_LABEL)
    return (
        "deletionTimestamp" not in meta
        and (exclude is None or exclude in GO_FALSE)
        and not any(t["key"] == TO_BE_DELETED_TAINT for t in spec.get("taints", []))
    )


def aws_backends(nodes: Sequence[dict[str, Any]], labels: dict[str, str]) -> list[str]:
    out = set()
    for node in nodes:
        have = node["metadata"].get("labels", {})
        if not eligible(node) or any(
            k not in have or (v and have[k] != v) for k, v in labels.items()
        ):
            continue
        match = AWS_INSTANCE.match(node["spec"].get("providerID", ""))
        if match:
            out.add(match.group(1))
    return sorted(out)


def check_backends(
    name: str, view: ServiceView, plan: ServicePlan, nodes: Sequence[dict[str, Any]]
) -> None:
    """Backends are exactly the eligible nodes' instances: an excluded, deleted or
    draining node never gets traffic, and none that should is left out."""
    after = {(c.kind, c.name): c.after for c in plan.changes if c.after is not None}
    if name == "aws":
        from providers.aws.annotations import TARGET_NODE_LABELS

        labels = TARGET_NODE_LABELS.parse(view.annotations.get(TARGET_NODE_LABELS.key, ""))
        expected = aws_backends(nodes, labels)
        for (kind, _), props in after.items():
            if kind == "aws:elb-instances":
                event(f"aws: {len(expected)} backends")
                assert props["Instances"] == expected, f"{view.key}: {props} != {expected}"
            if kind == "aws:targets":
                assert props["Targets"] == expected, f"{view.key}: {props} != {expected}"
    else:
        allowed = set()
        for node in nodes:
            match = GCE_INSTANCE.match(node["spec"].get("providerID", ""))
            if eligible(node) and match:
                p, z, n = match.groups()
                allowed.add(f"projects/{p}/zones/{z}/instances/{n}")
        for (kind, _), props in after.items():
            if kind in ("gce:target-pool", "gce:instance-group"):
                extra = set(props["instances"]) - allowed
                assert not extra, f"{view.key}: {kind} has non-eligible instances {extra}"


def check_names(name: str, view: ServiceView, plan: ServicePlan) -> None:
    """With a UID as the API server assigns them, every name fits its cloud's rules."""
    if not UUID.match(view.uid):
        return
    for change in plan.changes:
        props = change.after or {}
        if name == "aws":
            for key in ("LoadBalancerName", "Name"):
                if change.kind in ("aws:elb", "aws:nlb", "aws:target-group") and key in props:
                    assert AWS_NAME.match(props[key]), f"{change.kind} name {props[key]!r}"
            if change.kind == "aws:security-group":
                assert 0 < len(props["GroupName"]) <= 255, props["GroupName"]
        elif "name" in props:
            assert GCE_NAME.match(props["name"]), f"{change.kind} name {props['name']!r}"


def check_document(plans: Sequence[ServicePlan]) -> str:
    text = render.render_json(plans)
    doc = json.loads(text)
    assert doc["format_version"] == "1"
    assert json.dumps(doc, indent=2) + "\n" == text, "plan JSON does not round-trip"
    for p in doc["plans"]:
        for e in p["errors"]:
            assert ("annotation" in e or "field" in e) and "value" in e and e["message"]
        if p["errors"]:
            assert p["changes"] == []
    render.render_text(plans)  # the human form renders too
    return text


# --- properties ----------------------------------------------------------------------------


@examples(150)
@given(case=scenario(), data=st.data())
def test_plan_services_never_raises_and_reports_every_error(
    case: dict[str, Any], data: st.DataObject
) -> None:
    name, cid = case["provider"], case["cluster_id"]
    views = [ServiceView.from_dict(s) for s in case["services"]]
    nodes = [NodeView.from_dict(n) for n in case["nodes"]]
    provider = offline(name, cid)
    planned = flow.plan_services(
        provider, views, nodes, deleting=case["deleting"], load_balancer_class=case["class"]
    )
    for plan in planned.plans:
        note(f"{plan.service}: errors={[str(e) for e in plan.errors]}")
        event(f"{name}: " + ("errors" if plan.errors else "changes" if plan.changes else "none"))
    check_plans(
        provider,
        planned.plans,
        views,
        case["nodes"],
        cluster_id=cid,
        deleting=case["deleting"],
        cls=case["class"],
    )
    first = check_document(planned.plans)

    # Determinism: the same provider again, and a fresh one given the nodes and every
    # Service's annotations in another order, plan the same.
    again = flow.plan_services(
        provider, views, nodes, deleting=case["deleting"], load_balancer_class=case["class"]
    )
    assert render.render_json(again.plans) == first, "same input, another plan"
    shuffled_nodes = data.draw(st.permutations(nodes), label="node order")
    reordered = [
        ServiceView.from_dict(
            {
                **s,
                "metadata": {
                    **s["metadata"],
                    "annotations": dict(reversed(list(s["metadata"]["annotations"].items()))),
                },
            }
        )
        for s in case["services"]
    ]
    other = flow.plan_services(
        offline(name, cid),
        reordered,
        shuffled_nodes,
        deleting=case["deleting"],
        load_balancer_class=case["class"],
    )
    assert render.render_json(other.plans) == first, "plan depends on input order"

    # Planning Services together is planning each alone (batching changes nothing).
    alone = [
        flow.plan_services(
            offline(name, cid),
            [view],
            nodes,
            deleting=case["deleting"],
            load_balancer_class=case["class"],
        ).plans[0]
        for view in views
    ]
    assert render.render_json(alone) == first, "a Service's plan depends on the others"


@examples(60)
@given(
    name=st.sampled_from(["aws", "gce"]),
    services=service_manifests(),
    nodes=node_manifests(),
)
def test_delete_plans_never_raise_and_offline_delete_nothing(
    name: str, services: list[dict[str, Any]], nodes: list[dict[str, Any]]
) -> None:
    """`lbctl delete` plans from ownership, never from annotations: any annotation junk
    plans nothing to delete offline (the empty cloud owns nothing) and raises nothing."""
    views = [ServiceView.from_dict(s) for s in services]
    provider = offline(name)
    planned = flow.plan_services(provider, views, [], deleting=True)
    for plan, view in zip(planned.plans, views, strict=True):
        for error in plan.errors:
            check_error(view, error, CLUSTER_IDS[name])
        assert plan.changes == []
    check_document(planned.plans)


# --- the failures the properties found, pinned down -------------------------------------------


def _service(annotations: dict[str, str], ports: list[dict[str, Any]]) -> ServiceView:
    return ServiceView.from_dict(
        {
            "metadata": {
                "name": "web",
                "namespace": "default",
                "uid": "6a3c1f7e-1111-2222-3333-444455556666",
                "annotations": annotations,
            },
            "spec": {"type": "LoadBalancer", "ports": ports},
        }
    )


WEB_PORTS = [{"name": "http", "port": 80, "nodePort": 30080, "protocol": "TCP"}]


@pytest.mark.parametrize("raw", ["10.0.0.0/8,,", "10.0.0.0/8, 10.0.0.0/33"])
def test_source_ranges_annotation_error_quotes_the_annotation(raw: str) -> None:
    """`annotation K=V: why` must show the annotation as written (lbctl/rules.py, shared by
    every provider): for "10.0.0.0/8,," the error reads `annotation ...source-ranges='': a
    prefix length is required`, as if the annotation were empty."""
    view = _service({SOURCE_RANGES_ANNOTATION: raw}, WEB_PORTS)
    (plan,) = flow.plan_services(offline("aws"), [view], []).plans
    errors = [e for e in plan.errors if e.annotation == SOURCE_RANGES_ANNOTATION]
    assert errors, [str(e) for e in plan.errors]
    for error in errors:
        assert error.value == raw or repr(raw) in error.message, str(error)


@pytest.mark.parametrize("kind", ["elb", "nlb"])
@pytest.mark.parametrize("number", [0, 65536])
def test_aws_rejects_a_service_port_outside_1_to_65535(kind: str, number: int) -> None:
    """GCE rejects these (spec.ports[i].port: must be between 1 and 65535); AWS plans a
    listener and a security-group rule on port 0 / 65536 that only the cloud rejects, after
    the security group was created."""
    ports = [{"name": "x", "port": number, "nodePort": 30080, "protocol": "TCP"}]
    view = _service({"service.beta.kubernetes.io/aws-load-balancer-type": kind}, ports)
    (plan,) = flow.plan_services(offline("aws"), [view], []).plans
    fields = {(e.field, e.value) for e in plan.errors}
    assert ("spec.ports[0].port", number) in fields, [str(e) for e in plan.errors]
    assert plan.changes == []


def test_a_service_given_twice_is_rejected_or_planned_as_given() -> None:
    """Two documents with one namespace/name (`-f old.yaml -f new.yaml`): flow.plan_services
    keys `wanted` by Service key, so the last document decides for both: the ClusterIP
    document below gets a plan that creates a balancer. Either reject the second document,
    or plan each as it would be planned alone."""
    cluster_ip = ServiceView.from_dict(
        {
            "metadata": {"name": "web", "namespace": "default", "uid": "6a3c1f7e-1111-2222"},
            "spec": {"type": "ClusterIP", "ports": WEB_PORTS},
        }
    )
    balanced = _service({}, WEB_PORTS)
    for views in ([cluster_ip, balanced], [balanced, cluster_ip]):
        planned = flow.plan_services(offline("aws"), views, [])
        for view, plan in zip(views, planned.plans, strict=True):
            if plan.errors:
                continue
            (alone,) = flow.plan_services(offline("aws"), [view], []).plans
            assert render.render_json([plan]) == render.render_json([alone]), (
                f"{view.type} document planned as the other one: "
                f"{[(c.op.value, c.kind) for c in plan.changes]}"
            )
