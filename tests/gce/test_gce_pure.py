"""The GCE provider's pure parts: annotations, names, ports, config, commands, desired state."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from lbctl.cli import main
from lbctl.errors import InvalidInput
from lbctl.model import KNOWN_AFTER_APPLY, NodeView, Resource, ServiceView
from providers.gce import annotations as A
from providers.gce import config as gce_config
from providers.gce import desired as D
from providers.gce import gcloud, names, spec
from providers.gce.observe import compute_host_tags
from providers.gce.spec import InstanceRef, Mode

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
UID = "392e2559-9fb1-4cb6-85bb-753cfb85a53a"
LB = "a392e25599fb14cb685bb753cfb85a53"


def view(annotations: dict[str, str] | None = None, **spec_fields: Any) -> ServiceView:
    raw_spec: dict[str, Any] = {
        "type": "LoadBalancer",
        "ports": [
            {"port": 80, "nodePort": 30080, "protocol": "TCP"},
            {"port": 443, "nodePort": 30443, "protocol": "TCP"},
        ],
        **spec_fields,
    }
    return ServiceView.from_dict(
        {
            "metadata": {
                "name": "web",
                "namespace": "default",
                "uid": UID,
                "annotations": annotations or {},
            },
            "spec": raw_spec,
        }
    )


# --- annotations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, Mode.TARGET_POOL),
        ({A.TYPE.key: "Internal"}, Mode.INTERNAL),
        ({A.TYPE.key: "internal"}, Mode.INTERNAL),
        ({A.TYPE.key: "External"}, Mode.TARGET_POOL),
        ({A.DEPRECATED_TYPE.key: "Internal"}, Mode.INTERNAL),
        # The new key wins when both are present (upstream).
        ({A.TYPE.key: "External", A.DEPRECATED_TYPE.key: "Internal"}, Mode.TARGET_POOL),
        ({A.L4_RBS.key: "enabled"}, Mode.BACKEND_SERVICE),
        ({A.L4_RBS.key: "disabled"}, Mode.TARGET_POOL),
        ({A.TYPE.key: "Internal", A.L4_RBS.key: "enabled"}, Mode.INTERNAL),
    ],
)
def test_mode(raw: dict[str, str], expected: Mode) -> None:
    assert spec.mode(A.ANNOTATIONS.parse(raw), rbs_default=False) is expected


def test_cloud_config_default_selects_backend_services() -> None:
    assert spec.mode(A.ANNOTATIONS.parse({}), rbs_default=True) is Mode.BACKEND_SERVICE
    parsed = A.ANNOTATIONS.parse({A.L4_RBS.key: "disabled"})
    assert spec.mode(parsed, rbs_default=True) is Mode.TARGET_POOL


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (A.TYPE.key, "Internl"),
        (A.TYPE.key, ""),
        (A.TYPE.key, "INTERNAL"),
        (A.DEPRECATED_TYPE.key, "ilb"),
        (A.NETWORK_TIER.key, "premium"),
        (A.NETWORK_TIER.key, "Gold"),
        (A.L4_RBS.key, "true"),
        (A.SUBNET.key, "My_Subnet"),
    ],
)
def test_rejected_values_name_the_annotation(key: str, value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        A.ANNOTATIONS.parse({key: value})
    (error,) = caught.value.errors
    assert (error.annotation, error.value) == (key, value)


def test_tier_values() -> None:
    assert A.ANNOTATIONS.parse({A.NETWORK_TIER.key: "Standard"})[A.NETWORK_TIER] == "STANDARD"
    assert A.ANNOTATIONS.parse({})[A.NETWORK_TIER] == "PREMIUM"


def test_global_access_is_only_exactly_true_and_others_warn() -> None:
    for value, expected in (("true", True), ("false", False), ("True", False), ("1", False)):
        parsed = A.ANNOTATIONS.parse({A.GLOBAL_ACCESS.key: value})
        assert parsed[A.GLOBAL_ACCESS] is expected
    svc = view({A.TYPE.key: "Internal", A.GLOBAL_ACCESS.key: "yes"})
    errors, warnings = spec.validate(svc, A.ANNOTATIONS.parse(svc.annotations), rbs_default=False)
    assert errors == []
    assert any("stays off" in w for w in warnings)


def test_options_of_the_other_kind_of_balancer_warn() -> None:
    svc = view({A.SUBNET.key: "ilb", A.NETWORK_TIER.key: "Standard"})
    _, warnings = spec.validate(svc, A.ANNOTATIONS.parse(svc.annotations), rbs_default=False)
    assert any(A.SUBNET.key in w for w in warnings)
    svc = view({A.TYPE.key: "Internal", A.NETWORK_TIER.key: "Standard"})
    _, warnings = spec.validate(svc, A.ANNOTATIONS.parse(svc.annotations), rbs_default=False)
    assert any(A.NETWORK_TIER.key in w for w in warnings)


@pytest.mark.parametrize(
    ("ports", "field", "words"),
    [
        ([("TCP", 80), ("UDP", 53)], "spec.ports", "mixed protocol is not supported"),
        ([("SCTP", 80)], "spec.ports[0].protocol", "only TCP and UDP are supported"),
        ([], "spec.ports", "no ports"),
    ],
)
def test_spec_errors(ports: list[tuple[str, int]], field: str, words: str) -> None:
    svc = view(ports=[{"port": p, "protocol": proto} for proto, p in ports])
    errors, _ = spec.validate(svc, A.ANNOTATIONS.parse({}), rbs_default=False)
    assert any(e.field == field and words in e.message for e in errors), errors


def test_local_needs_its_health_check_port() -> None:
    errors, _ = spec.validate(
        view(externalTrafficPolicy="Local"), A.ANNOTATIONS.parse({}), rbs_default=False
    )
    assert [e.field for e in errors] == ["spec.healthCheckNodePort"]


# --- names, ports, commands ------------------------------------------------------------------


def test_names_and_descriptions_are_upstreams() -> None:
    assert names.firewall_name(LB) == f"k8s-fw-{LB}"
    assert names.nodes_health_check_name("c1") == "k8s-c1-node"
    assert names.external_hc_firewall_name("c1", "k8s-c1-node", True) == "k8s-c1-node-http-hc"
    assert names.external_hc_firewall_name("c1", LB, False) == f"k8s-{LB}-http-hc"
    assert names.internal_hc_firewall_name("c1", LB, True) == "k8s-c1-node-hc"
    assert names.internal_hc_firewall_name("c1", LB, False) == f"{LB}-hc"
    assert names.instance_group_name("c1") == "k8s-ig--c1"
    assert names.instance_group_name("") == "k8s-ig"
    assert names.service_description("ns/n") == '{"kubernetes.io/service-name":"ns/n"}'
    assert names.firewall_description("ns/n", "1.2.3.4") == (
        '{"kubernetes.io/service-name":"ns/n", "kubernetes.io/service-ip":"1.2.3.4"}'
    )
    assert names.cluster_description("c1") == '{"kubernetes.io/cluster-id":"c1"}'


def test_ownership_marks() -> None:
    assert names.owned_by_service(names.firewall_description("ns/n", "1.2.3.4"), "ns/n")
    assert not names.owned_by_service(names.service_description("ns/other"), "ns/n")
    assert not names.owned_by_service("hand-made", "ns/n")
    assert not names.owned_by_service("", "ns/n")
    assert names.owned_by_name("")
    assert names.owned_by_name(names.cluster_description("c1"), cluster_id="c1")
    assert not names.owned_by_name(names.cluster_description("c2"), cluster_id="c1")
    assert names.owned_by_name(names.service_description("k8s-c1-node"), allowed=("k8s-c1-node",))
    assert not names.owned_by_name("not json")


@pytest.mark.parametrize(
    ("ports", "ranges"),
    [
        ([80], ["80"]),
        ([443, 80, 81, 82], ["80-82", "443"]),
        ([80, 80, 81], ["80-81"]),
        ([1, 3, 5, 6], ["1", "3", "5-6"]),
        ([8080, 8081, 9000, 9001, 9002], ["8080-8081", "9000-9002"]),
    ],
)
def test_port_ranges_collapse(ports: list[int], ranges: list[str]) -> None:
    assert spec.port_ranges(ports) == ranges


def test_port_range_is_min_max() -> None:
    assert spec.port_range([443, 80]) == "80-443"
    assert spec.port_range([53]) == "53-53"


def test_provider_id() -> None:
    node = NodeView(name="n1", provider_id="gce://proj/us-central1-b/n1")
    assert spec.instance_ref(node) == InstanceRef("proj", "us-central1-b", "n1")
    assert spec.instance_ref(NodeView(name="x", provider_id="aws:///us-east-1a/i-1")) is None
    nodes = [node, NodeView(name="n2", provider_id="gce://proj/europe-west1-b/n2")]
    assert spec.instances(nodes, "us-central1") == [InstanceRef("proj", "us-central1-b", "n1")]


def test_gcloud_commands() -> None:
    firewall = {
        "name": "k8s-fw-x",
        "description": names.firewall_description("ns/n", "1.2.3.4"),
        "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/net",
        "allowed": [{"IPProtocol": "tcp", "ports": ["80", "443"]}],
        "sourceRanges": ["10.0.0.0/8", "0.0.0.0/0"],
        "destinationRanges": ["1.2.3.4"],
        "targetTags": ["node"],
    }
    assert gcloud.create_command(firewall, "host") == (
        "gcloud compute firewall-rules create k8s-fw-x --network net "
        '--description "{\\"kubernetes.io/service-name\\":\\"ns/n\\", '
        '\\"kubernetes.io/service-ip\\":\\"1.2.3.4\\"}" --allow tcp:443,tcp:80 '
        "--source-ranges 0.0.0.0/0,10.0.0.0/8 --destination-ranges 1.2.3.4 "
        "--target-tags node --project host"
    )
    assert gcloud.update_command(firewall, "host").startswith(
        "gcloud compute firewall-rules update k8s-fw-x --description"
    )
    assert gcloud.delete_command("k8s-fw-x", "host") == (
        "gcloud compute firewall-rules delete k8s-fw-x --project host"
    )


def test_host_tags_are_each_instances_longest_name_prefix() -> None:
    instances = [
        {"name": "k8s-c1-node-1", "tags": {"items": ["k8s", "k8s-c1-node", "web"]}},
        {"name": "k8s-c1-node-2", "tags": {"items": ["k8s-c1-node"]}},
    ]
    assert compute_host_tags(instances, "") == (("k8s-c1-node",), "")
    tags, error = compute_host_tags([{"name": "n", "tags": {"items": ["x"]}}], "")
    assert tags == () and "could not find any tag" in error


# --- the cloud config -------------------------------------------------------------------------


def test_gce_conf(tmp_path: Path) -> None:
    path = tmp_path / "gce.conf"
    path.write_text(
        "[Global]\n"
        "project-id = my-project\n"
        "network-project-id = host-project\n"
        "local-zone = europe-west1-b\n"
        'network-name = "shared-net"\n'
        "subnetwork-name = nodes ; a comment\n"
        "node-tags = tag-a\n"
        "node-tags = tag-b\n"
        "node-instance-prefix = gke-\n"
        "api-endpoint = https://compute.example.com/compute/v1/\n"
        "token-url = nil\n"
        "multizone = true\n"
    )
    cfg = gce_config.load(path, cluster_id="c1")
    assert (cfg.project, cfg.network_project, cfg.region) == (
        "my-project",
        "host-project",
        "europe-west1",
    )
    assert (cfg.network_name, cfg.subnetwork_name) == ("shared-net", "nodes")
    assert cfg.node_tags == ("tag-a", "tag-b")
    assert cfg.endpoint == "https://compute.example.com"
    assert cfg.base == "https://compute.example.com/compute/v1/"
    assert not cfg.anonymous_credentials
    assert not cfg.rbs_default


def test_gce_conf_lbctl_keys_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "gce.conf"
    path.write_text(
        "[global]\ncluster-id = from-file\nregion = us-east1\nl4-rbs = enabled\n"
        "api-endpoint = http://127.0.0.1:9\n"
    )
    cfg = gce_config.load(path, cluster_id="")
    assert (cfg.cluster_id, cfg.region, cfg.rbs_default) == ("from-file", "us-east1", True)
    assert cfg.anonymous_credentials  # plain http: a local stand-in
    assert gce_config.load(path, cluster_id="flag").cluster_id == "flag"
    with pytest.raises(InvalidInput, match="cluster id is required"):
        gce_config.load(None, cluster_id="")
    with pytest.raises(InvalidInput, match="lowercase"):
        gce_config.load(None, cluster_id="Bad_Id")
    path.write_text("[global]\nl4-rbs = yes\n")
    with pytest.raises(InvalidInput, match="enabled"):
        gce_config.load(path, cluster_id="c1")


# --- desired state ------------------------------------------------------------------------------

NODES = [
    InstanceRef("p", "us-central1-a", "node-1"),
    InstanceRef("p", "us-central1-b", "node-2"),
]


def context(**overrides: Any) -> D.Context:
    values: dict[str, Any] = {
        "cluster_id": "c1",
        "lb": LB,
        "links": names.Links("p", "us-central1"),
        "network": "projects/p/global/networks/default",
        "subnetwork": "projects/p/regions/us-central1/subnetworks/default",
        "node_tags": ("node",),
        "instances": NODES,
        "group_instances": NODES,
        **overrides,
    }
    return D.Context(**values)


def resources(svc: ServiceView, ctx: D.Context | None = None) -> dict[tuple[str, str], Resource]:
    out = D.resources(svc, A.ANNOTATIONS.parse(svc.annotations), ctx or context())
    return {r.ref: r for r in out}


def test_desired_target_pool() -> None:
    got = resources(view())
    assert sorted(got) == sorted(
        [
            (D.ADDRESS, LB),
            (D.FIREWALL, f"k8s-fw-{LB}"),
            (D.FIREWALL, "k8s-c1-node-http-hc"),
            (D.HTTP_HEALTH_CHECK, "k8s-c1-node"),
            (D.TARGET_POOL, LB),
            (D.FORWARDING_RULE, LB),
        ]
    )
    rule = got[(D.FORWARDING_RULE, LB)].props
    assert rule["portRange"] == "80-443"
    assert rule["target"] == f"projects/p/regions/us-central1/targetPools/{LB}"
    assert rule["IPAddress"] == KNOWN_AFTER_APPLY
    pool = got[(D.TARGET_POOL, LB)].props
    assert pool["instances"] == [
        "projects/p/zones/us-central1-a/instances/node-1",
        "projects/p/zones/us-central1-b/instances/node-2",
    ]
    assert pool["healthChecks"] == ["projects/p/global/httpHealthChecks/k8s-c1-node"]
    traffic = got[(D.FIREWALL, f"k8s-fw-{LB}")].props
    assert traffic["allowed"] == [{"IPProtocol": "tcp", "ports": ["80", "443"]}]
    assert traffic["destinationRanges"] == [KNOWN_AFTER_APPLY]
    assert traffic["targetTags"] == ["node"]


def test_desired_local_backend_service() -> None:
    svc = view({A.L4_RBS.key: "enabled"}, externalTrafficPolicy="Local", healthCheckNodePort=32000)
    got = resources(svc)
    check = got[(D.HEALTH_CHECK, f"us-central1/{LB}")].props
    assert check["httpHealthCheck"] == {"port": 32000, "requestPath": "/healthz"}
    assert check["region"] == "projects/p/regions/us-central1"
    backend = got[(D.BACKEND_SERVICE, LB)].props
    assert backend["loadBalancingScheme"] == "EXTERNAL"
    assert backend["healthChecks"] == [f"projects/p/regions/us-central1/healthChecks/{LB}"]
    assert [b["group"] for b in backend["backends"]] == [
        "projects/p/zones/us-central1-a/instanceGroups/k8s-ig--c1",
        "projects/p/zones/us-central1-b/instanceGroups/k8s-ig--c1",
    ]
    assert (D.INSTANCE_GROUP, "us-central1-a/k8s-ig--c1") in got
    probes = got[(D.FIREWALL, f"k8s-{LB}-http-hc")].props
    assert probes["allowed"] == [{"IPProtocol": "tcp", "ports": ["32000"]}]
    assert probes["destinationRanges"] == [KNOWN_AFTER_APPLY]


def test_desired_internal_ports() -> None:
    five = view({A.TYPE.key: "Internal"}, ports=[{"port": p} for p in (1, 2, 3, 4, 5)])
    rule = resources(five)[(D.FORWARDING_RULE, LB)].props
    assert (rule["ports"], rule["allPorts"]) == (["1", "2", "3", "4", "5"], False)
    six = view(
        {A.TYPE.key: "Internal", A.SUBNET.key: "ilb", A.GLOBAL_ACCESS.key: "true"},
        ports=[{"port": p} for p in (1, 2, 3, 4, 5, 6)],
    )
    got = resources(six)
    rule = got[(D.FORWARDING_RULE, LB)].props
    assert (rule["ports"], rule["allPorts"]) == ([], True)
    assert rule["subnetwork"] == "projects/p/regions/us-central1/subnetworks/ilb"
    assert rule["allowGlobalAccess"] is True
    assert got[(D.ADDRESS, LB)].props["subnetwork"] == rule["subnetwork"]
    assert got[(D.HEALTH_CHECK, "k8s-c1-node")].props["description"] == ""
    assert got[(D.FIREWALL, "k8s-c1-node-hc")].props["destinationRanges"] == []


def _observed(*items: Resource) -> dict[tuple[str, str], Resource]:
    return {r.ref: r for r in items}


def test_existing_rule_keeps_its_ip_and_no_address_is_held() -> None:
    first = resources(view())
    rule = first[(D.FORWARDING_RULE, LB)]
    live = dict(rule.props, IPAddress="203.0.113.9")
    existing = _observed(
        *(r for r in first.values() if r.kind != D.ADDRESS and r.kind != D.FORWARDING_RULE),
        Resource(D.FORWARDING_RULE, LB, live),
    )
    got = resources(view(), context(existing=existing))
    assert (D.ADDRESS, LB) not in got
    assert got[(D.FORWARDING_RULE, LB)].props["IPAddress"] == "203.0.113.9"
    assert got[(D.FIREWALL, f"k8s-fw-{LB}")].props["destinationRanges"] == ["203.0.113.9"]
    # A change that rebuilds the rule (the pool's affinity) holds the same IP meanwhile.
    sticky = resources(view(sessionAffinity="ClientIP"), context(existing=existing))
    assert sticky[(D.ADDRESS, LB)].props["address"] == "203.0.113.9"


def test_health_check_timings_are_never_lowered() -> None:
    slow = Resource(
        D.HTTP_HEALTH_CHECK,
        "k8s-c1-node",
        {"checkIntervalSec": 30, "timeoutSec": 10, "healthyThreshold": 1, "unhealthyThreshold": 2},
    )
    got = resources(view(), context(existing=_observed(slow)))
    check = got[(D.HTTP_HEALTH_CHECK, "k8s-c1-node")].props
    assert (check["checkIntervalSec"], check["timeoutSec"]) == (30, 10)
    assert (check["healthyThreshold"], check["unhealthyThreshold"]) == (1, 3)


def test_user_reserved_ip_is_not_reserved_again() -> None:
    svc = view(loadBalancerIP="203.0.113.50")
    got = resources(svc, context(requested_address={"name": "mine", "networkTier": "PREMIUM"}))
    assert (D.ADDRESS, LB) not in got
    assert got[(D.FORWARDING_RULE, LB)].props["IPAddress"] == "203.0.113.50"
    with pytest.raises(InvalidInput, match="belongs to the Standard network tier"):
        resources(svc, context(requested_address={"name": "mine", "networkTier": "STANDARD"}))
    with pytest.raises(InvalidInput, match="neither static nor assigned"):
        resources(svc)


def test_offline_plans_every_example_for_gce() -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["plan", "--offline", "--provider", "gce", "-f", str(EXAMPLES), "--cluster-id", "demo"]
    assert main([*argv, "-o", "json"], out=out, err=err) == 0, err.getvalue()
    assert "gce:forwarding-rule" in out.getvalue()
