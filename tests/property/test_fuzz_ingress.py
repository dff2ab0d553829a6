"""The ingress lbctl writes is exactly the source ranges asked for: never wider, never less.

For every security-group / firewall rule in the desired Resources of a valid Service:

- every CIDR is one of the requested ranges (spec.loadBalancerSourceRanges, else the
  source-ranges annotation, else 0.0.0.0/0), in its normalised form, and opens only the
  Service's ports (node ports on the nodes' groups) or ICMP/ICMPv6 "packet too big" for path
  MTU discovery;
- the only other sources are the ones the providers document: an NLB's health-check rules
  come from the VPC subnets the NLB is in (upstream), GCE health-check firewalls from
  Google's probe ranges (HEALTH_CHECK_RANGES), and node groups admit the balancer's own
  security group;
- every requested range is admitted on every port it asked for.

GCE and the classic ELB are checked on `lbctl plan --offline` plans. Offline, AWS does not
know the nodes' security groups, so no NLB node rule is planned there: the AWS cases also run
the provider's `desired()` (pure) against a hand-made observation of a VPC with two subnets,
node instances and their cluster-tagged group, in both NLB security-group modes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from lbctl import flow
from lbctl.model import KNOWN_AFTER_APPLY, NodeView, Resource, ServiceView
from lbctl.provider import Observed, Provider, ProviderConfig, load_provider
from lbctl.rules import SOURCE_RANGES_ANNOTATION
from providers.aws import annotations as AWS
from providers.aws import nlb as aws_nlb
from providers.aws.observe import Facts
from providers.gce import annotations as GCE
from providers.gce import desired as gce_desired
from tests.property.strategies import (
    INSTANCE_IDS,
    Network,
    examples,
    requested_ranges,
    valid_cidr_text,
)

CLUSTER = "fuzz"
NODE_GROUP = "sg-0node"
SUBNET_CIDRS = {"subnet-pa": "10.0.1.0/24", "subnet-pb": "10.0.2.0/24"}
PRIVATE_CIDRS = {"subnet-qa": "10.0.101.0/24", "subnet-qb": "10.0.102.0/24"}
ICMP_MTU = {("icmp", 3, 4, 4), ("icmpv6", 2, 0, 6)}  # (protocol, type, code, IP version)


# --- valid Services ------------------------------------------------------------------------


@st.composite
def valid_service(draw: st.DrawFn, provider: str) -> dict[str, Any]:
    """A Service that should plan without errors, with random (valid) source ranges."""
    kind = draw(
        st.sampled_from(
            ["clb", "nlb"] if provider == "aws" else ["target-pool", "backend-service", "internal"]
        )
    )
    protocol = "TCP" if kind == "clb" else draw(st.sampled_from(["TCP", "TCP", "UDP"]))
    numbers = sorted({draw(st.integers(1, 65535)) for _ in range(draw(st.integers(1, 5)))})
    first = draw(st.integers(30000, 32767 - len(numbers)))
    node_ports = draw(st.permutations(range(first, first + len(numbers))))
    ports = [
        {"name": f"p{n}", "port": n, "nodePort": np, "protocol": protocol}
        for n, np in zip(numbers, node_ports, strict=True)
    ]
    annotations: dict[str, str] = {}
    spec: dict[str, Any] = {"type": "LoadBalancer", "ports": ports}
    ranges = draw(st.lists(valid_cidr_text(), max_size=5))
    where = draw(st.sampled_from(["spec", "annotation", "both", "none"]))
    if ranges and where in ("spec", "both"):
        spec["loadBalancerSourceRanges"] = ranges
    if ranges and where in ("annotation", "both"):
        other = draw(st.lists(valid_cidr_text(), min_size=1, max_size=3))
        annotations[SOURCE_RANGES_ANNOTATION] = ", ".join(other if where == "both" else ranges)
    if draw(st.booleans()):
        spec["externalTrafficPolicy"] = "Local"
        spec["healthCheckNodePort"] = draw(st.integers(30000, 32767))
    if provider == "aws":
        if kind == "nlb":
            annotations[AWS.TYPE.key] = "nlb"
        if draw(st.booleans()):
            annotations[AWS.INTERNAL.key] = draw(st.sampled_from(["true", "false"]))
        if draw(st.integers(0, 4)) == 0:
            annotations[AWS.HEALTHCHECK_PORT.key] = draw(
                st.sampled_from(["traffic-port", "10256", str(node_ports[0])])
            )
        if kind == "clb" and draw(st.integers(0, 5)) == 0:
            annotations[AWS.SECURITY_GROUPS.key] = "sg-0users"
        if kind == "clb" and draw(st.integers(0, 5)) == 0:
            annotations[AWS.EXTRA_SECURITY_GROUPS.key] = "sg-0extra"
    else:
        if kind == "internal":
            annotations[GCE.TYPE.key] = "Internal"
        elif kind == "backend-service":
            annotations[GCE.L4_RBS.key] = "enabled"
        spec["sessionAffinity"] = draw(st.sampled_from(["None", "ClientIP"]))
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": str(draw(st.uuids())),
            "annotations": annotations,
        },
        "spec": spec,
    }


@st.composite
def aws_nodes(draw: st.DrawFn) -> list[NodeView]:
    ids = draw(st.lists(st.sampled_from(INSTANCE_IDS), max_size=4, unique=True))
    return [
        NodeView(name=f"node-{i}", provider_id=f"aws:///us-east-1a/{iid}")
        for i, iid in enumerate(ids)
    ]


@st.composite
def gce_nodes(draw: st.DrawFn) -> list[NodeView]:
    count = draw(st.integers(0, 4))
    zones = ["us-central1-a", "us-central1-b"]
    return [
        NodeView(name=f"node-{i}", provider_id=f"gce://proj/{zones[i % 2]}/node-{i}")
        for i in range(count)
    ]


# --- reading rules out of Resources ----------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    where: str  # the Resource it came from
    protocol: str
    from_port: int
    to_port: int
    source: str  # a CIDR, or "group:<id>"
    description: str = ""


def aws_rules(resources: Sequence[Resource]) -> list[Rule]:
    out = []
    for res in resources:
        if res.kind != "aws:security-group-ingress":
            continue
        for perm in res.props["IpPermissions"]:
            cidrs = [perm[k] for k in ("CidrIp", "CidrIpv6") if k in perm]
            sources = cidrs + ([f"group:{perm['GroupId']}"] if "GroupId" in perm else [])
            assert len(sources) == 1, f"{res.name}: one source per permission: {perm}"
            out.append(
                Rule(
                    res.name,
                    perm["IpProtocol"],
                    perm.get("FromPort", -1),
                    perm.get("ToPort", -1),
                    sources[0],
                    perm.get("Description", ""),
                )
            )
    return out


def normalised(cidr: str) -> Network:
    net = ipaddress.ip_network(cidr, strict=True)  # host bits set would be a wider rule
    assert str(net) == cidr, f"{cidr!r} is not in normalised form ({net})"
    return net


def ports_of(ranges: Sequence[str]) -> set[int]:
    out: set[int] = set()
    for item in ranges:
        low, _, high = item.partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return out


# --- AWS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aws_providers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Provider]:
    """The AWS provider, online-configured (desired() is pure; nothing here calls AWS)."""
    out = {}
    directory = tmp_path_factory.mktemp("ingress")
    for mode in ("", "Managed"):
        path = Path(directory / f"cloud-config-{mode or 'default'}")
        path.write_text(
            f"[Global]\nKubernetesClusterID = {CLUSTER}\nVPC = vpc-0fuzz\n"
            + (f"NLBSecurityGroupMode = {mode}\n" if mode else "")
        )
        out[mode or "default"] = load_provider(
            "aws", ProviderConfig(cluster_id=CLUSTER, cloud_config=path)
        )
    out["offline"] = load_provider("aws", ProviderConfig(cluster_id=CLUSTER, offline=True))
    return out


def aws_facts() -> Facts:
    owned = [{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}]
    subnets = [
        {
            "SubnetId": sid,
            "CidrBlock": cidr,
            "AvailabilityZone": f"us-east-1{sid[-1]}",
            "VpcId": "vpc-0fuzz",
            "Tags": [{"Key": "kubernetes.io/role/elb", "Value": "1"}],
        }
        for sid, cidr in SUBNET_CIDRS.items()
    ] + [
        {
            "SubnetId": sid,
            "CidrBlock": cidr,
            "AvailabilityZone": f"us-east-1{sid[-1]}",
            "VpcId": "vpc-0fuzz",
            "Tags": [{"Key": "kubernetes.io/role/internal-elb", "Value": "1"}],
        }
        for sid, cidr in PRIVATE_CIDRS.items()
    ]
    return Facts(
        vpc_id="vpc-0fuzz",
        instances={
            iid: {
                "InstanceId": iid,
                "VpcId": "vpc-0fuzz",
                "SecurityGroups": [{"GroupId": NODE_GROUP}],
            }
            for iid in INSTANCE_IDS
        },
        subnets=subnets,
        route_tables=[
            {
                "Associations": [{"SubnetId": sid} for sid in SUBNET_CIDRS],
                "Routes": [{"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-0fuzz"}],
            },
            {"Associations": [{"Main": True}], "Routes": [{"GatewayId": "local"}]},
        ],
        groups={NODE_GROUP: {"GroupId": NODE_GROUP, "GroupName": "k8s-nodes", "Tags": owned}},
    )


def check_aws(view: ServiceView, manifest: dict[str, Any], resources: Sequence[Resource]) -> None:
    requested = requested_ranges(manifest)
    health_sources = {ipaddress.ip_network(c) for c in {**SUBNET_CIDRS, **PRIVATE_CIDRS}.values()}
    service_ports = {(p.protocol.lower(), p.port) for p in view.ports}
    node_ports = {(p.protocol.lower(), p.node_port) for p in view.ports}
    hc_ports = health_ports(view)
    rules = aws_rules(resources)
    for rule in rules:
        if rule.source.startswith("group:"):
            # A node group admitting the balancer's own (or the user's named) group.
            assert rule.protocol == "-1", rule
            continue
        net = normalised(rule.source)
        if (rule.protocol, rule.from_port, rule.to_port, net.version) in ICMP_MTU:
            assert net in requested, f"path-MTU rule from an unrequested range: {rule}"
            continue
        assert rule.protocol in ("tcp", "udp"), f"only the Service's protocol: {rule}"
        assert rule.from_port == rule.to_port, f"a port range is wider than a port: {rule}"
        on_nodes = "/" in rule.where  # <node-sg>/nlb/<lb>: rules on the nodes' groups
        if rule.description.startswith(aws_nlb.HEALTH_RULE.format("")):
            assert net in health_sources, f"health rule from outside the VPC subnets: {rule}"
            assert (rule.protocol, rule.from_port) in hc_ports, f"health rule port: {rule}"
            continue
        assert net in requested, f"client rule wider than the source ranges: {rule}"
        allowed = node_ports if on_nodes else service_ports
        assert (rule.protocol, rule.from_port) in allowed, f"client rule on another port: {rule}"
    # Coverage: each place that holds client rules admits every range on every port.
    places = {r.where for r in rules if not r.source.startswith("group:")}
    for where in places:
        have = {
            (ipaddress.ip_network(r.source), r.protocol, r.from_port)
            for r in rules
            if r.where == where and not r.description.startswith(aws_nlb.HEALTH_RULE.format(""))
        }
        if all(r.protocol.startswith("icmp") for r in rules if r.where == where):
            continue  # a node group's shared path-MTU rule
        ports = node_ports if "/" in where else service_ports
        missing = {(n, p, q) for n in requested for p, q in ports} - have
        assert not missing, f"{where}: requested ranges not admitted: {sorted(map(str, missing))}"


def health_ports(view: ServiceView) -> set[tuple[str, int]]:
    """The ports an NLB health-checks: the annotation's (traffic-port: the node ports),
    else healthCheckNodePort for externalTrafficPolicy: Local, else the node ports."""
    raw = view.annotations.get(AWS.HEALTHCHECK_PORT.key)
    if raw is not None and raw != "traffic-port":
        return {("tcp", int(raw))}
    if raw is None and view.external_traffic_policy == "Local" and view.health_check_node_port:
        return {("tcp", view.health_check_node_port)}
    return {("tcp", p.node_port) for p in view.ports}


def client_places(resources: Sequence[Resource]) -> set[str]:
    return {r.where for r in aws_rules(resources) if not r.source.startswith("group:")}


@examples(150)
@given(
    manifest=valid_service("aws"), nodes=aws_nodes(), mode=st.sampled_from(["default", "Managed"])
)
def test_aws_security_group_ingress_is_exactly_the_source_ranges(
    aws_providers: dict[str, Provider],
    manifest: dict[str, Any],
    nodes: list[NodeView],
    mode: str,
) -> None:
    view = ServiceView.from_dict(manifest)
    # offline plan: the classic ELB's own group with the client rules
    offline = aws_providers["offline"]
    planned = flow.plan_services(offline, [view], nodes)
    (plan,) = planned.plans
    assert plan.errors == [], [str(e) for e in plan.errors]
    check_aws(view, manifest, [c.desired for c in plan.changes if c.desired is not None])
    # desired() against an observed VPC: node rules, NLB health rules, managed NLB groups
    provider = aws_providers[mode]
    provider.validate(view)
    resources = provider.desired(view, nodes, Observed(facts=aws_facts()))
    note("\n".join(str(rule) for rule in aws_rules(resources)))
    check_aws(view, manifest, resources)
    is_nlb = manifest["metadata"]["annotations"].get(AWS.TYPE.key) == "nlb"
    byo = AWS.SECURITY_GROUPS.key in manifest["metadata"]["annotations"]
    places = client_places(resources)
    if not byo and (not is_nlb or mode == "Managed" or nodes):
        # lbctl writes client rules somewhere: the ELB's group, the NLB's own group, or
        # (default NLB mode) the nodes' group
        assert places, "no client rule at all"


# --- GCE -----------------------------------------------------------------------------------


def check_gce(view: ServiceView, manifest: dict[str, Any], resources: Sequence[Resource]) -> None:
    """k8s-fw-<lb> admits exactly the requested IPv4 ranges: the balancer's IP is IPv4, so
    an IPv6 range gets no rule at all (GCE refuses a rule mixing the families, and one with
    no destination would be wider), and ranges that are all IPv6 give no traffic firewall,
    never a 0.0.0.0/0 one."""
    requested = {str(n) for n in requested_ranges(manifest)}
    ipv4 = {c for c in requested if ipaddress.ip_network(c).version == 4}
    ports = {p.port for p in view.ports}
    local = view.external_traffic_policy == "Local"
    hc_port = view.health_check_node_port if local else 10256
    firewalls = [r for r in resources if r.kind == "gce:firewall"]
    assert firewalls, "no firewall planned"  # the health-check probes' one at least
    traffic = f"k8s-fw-{view_lb(view)}"
    planned = {f.name: f for f in firewalls}
    assert len(planned) == len(firewalls), f"a firewall planned twice: {firewalls}"
    assert (traffic in planned) == bool(ipv4), f"{traffic}: requested {requested}"
    assert not any(name.startswith(f"{traffic}-") for name in planned), sorted(planned)
    for fw in firewalls:
        sources = fw.props["sourceRanges"]
        for cidr in sources:
            normalised(cidr)
        assert len(sources) == len(set(sources)), f"{fw.name}: {sources}"
        ranges = sources + fw.props["destinationRanges"]
        families = {ipaddress.ip_network(c).version for c in ranges if c != KNOWN_AFTER_APPLY}
        assert families <= {4}, f"{fw.name}: an IPv6 range in an IPv4 balancer's rule: {ranges}"
        (allowed,) = fw.props["allowed"]
        if fw.name == traffic:
            assert set(sources) == ipv4, f"{fw.name}: {sources} != requested IPv4 {ipv4}"
            assert len(fw.props["destinationRanges"]) == 1, fw.props
            assert allowed["IPProtocol"] == view.ports[0].protocol.lower()
            assert ports_of(allowed["ports"]) == ports, f"{fw.name}: {allowed} != ports {ports}"
        else:
            assert set(sources) <= set(gce_desired.HEALTH_CHECK_RANGES), f"{fw.name}: {sources}"
            assert allowed == {"IPProtocol": "tcp", "ports": [str(hc_port)]}, fw.props


def check_gce_warnings(manifest: dict[str, Any], warnings: Sequence[str]) -> None:
    """Each IPv6 range is warned of; ranges that are all IPv6 also say no client gets in."""
    families = {n.version for n in requested_ranges(manifest)}
    per_range = [w for w in warnings if "no IPv6 client can reach it" in w]
    everything = [w for w in warnings if w.startswith("every source range is IPv6")]
    assert bool(per_range) == (6 in families), warnings
    assert len(everything) == (families == {6}), warnings


def view_lb(view: ServiceView) -> str:
    return ("a" + view.uid.replace("-", ""))[:32]


@pytest.fixture(scope="module")
def gce_provider() -> Provider:
    return load_provider("gce", ProviderConfig(cluster_id=CLUSTER, offline=True))


@examples(150)
@given(manifest=valid_service("gce"), nodes=gce_nodes())
def test_gce_firewalls_are_exactly_the_source_ranges(
    gce_provider: Provider, manifest: dict[str, Any], nodes: list[NodeView]
) -> None:
    view = ServiceView.from_dict(manifest)
    planned = flow.plan_services(gce_provider, [view], nodes)
    (plan,) = planned.plans
    assert plan.errors == [], [str(e) for e in plan.errors]
    resources = [c.desired for c in plan.changes if c.desired is not None]
    check_gce(view, manifest, resources)
    check_gce_warnings(manifest, plan.warnings)
    for res in resources:
        assert KNOWN_AFTER_APPLY not in res.props.get("sourceRanges", [])


def test_requested_ranges_reader_agrees_on_examples() -> None:
    """The independent reader the properties compare with, on fixed cases."""

    def manifest(spec_ranges: list[str], annotation: str | None) -> dict[str, Any]:
        ann = {SOURCE_RANGES_ANNOTATION: annotation} if annotation is not None else {}
        return {"metadata": {"annotations": ann}, "spec": {"loadBalancerSourceRanges": spec_ranges}}

    net = ipaddress.ip_network
    assert requested_ranges(manifest([], None)) == {net("0.0.0.0/0")}
    assert requested_ranges(manifest([], " 10.0.0.1/8 ,::1/64")) == {
        net("10.0.0.0/8"),
        net("::/64"),
    }
    assert requested_ranges(manifest(["192.0.2.7/24"], "10.0.0.0/8")) == {net("192.0.2.0/24")}


def gce_view(ranges: list[str], where: str) -> ServiceView:
    spec: dict[str, Any] = {"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 30080}]}
    annotations = {}
    if where == "spec":
        spec["loadBalancerSourceRanges"] = ranges
    else:
        annotations[SOURCE_RANGES_ANNOTATION] = ",".join(ranges)
    return ServiceView.from_dict(
        {
            "metadata": {
                "name": "web",
                "namespace": "default",
                "uid": "6a3c1f7e-1111-2222-3333-444455556666",
                "annotations": annotations,
            },
            "spec": spec,
        }
    )


def planned_firewalls(provider: Provider, view: ServiceView) -> tuple[dict[str, Any], list[str]]:
    (plan,) = flow.plan_services(provider, [view], []).plans
    assert plan.errors == [], plan.errors
    firewalls = {
        c.name: c.after for c in plan.changes if c.kind == "gce:firewall" and c.after is not None
    }
    return firewalls, plan.warnings


@pytest.mark.parametrize("where", ["spec", "annotation"])
def test_gce_never_plans_a_firewall_mixing_ipv4_and_ipv6_sources(
    gce_provider: Provider, where: str
) -> None:
    """Google Cloud's VPC firewall rules: "A firewall rule can contain either IPv4 or IPv6
    ranges, but not both" (the Compute API answers 400; upstream sends such a rule). The
    balancer's IP is IPv4, so k8s-fw-<lb> takes the IPv4 ranges and the IPv6 one is only
    warned of: no IPv6 client can reach the balancer."""
    view = gce_view(["2001:db8::/32", "10.0.0.0/8"], where)
    firewalls, warnings = planned_firewalls(gce_provider, view)
    lb = view_lb(view)
    traffic = firewalls.pop(f"k8s-fw-{lb}")
    assert traffic["sourceRanges"] == ["10.0.0.0/8"]
    assert traffic["destinationRanges"] == [KNOWN_AFTER_APPLY]
    assert list(firewalls) == [f"k8s-{CLUSTER}-node-http-hc"]  # the probes' one only
    origin = (
        "spec.loadBalancerSourceRanges[0]"
        if where == "spec"
        else f"annotation {SOURCE_RANGES_ANNOTATION} entry"
    )
    assert [w for w in warnings if "IPv6" in w] == [
        f'{origin} "2001:db8::/32": the GCE balancer has an IPv4 address only, so no IPv6 '
        "client can reach it; no firewall rule is made for this range"
    ]


@pytest.mark.parametrize("where", ["spec", "annotation"])
def test_gce_ipv6_only_ranges_plan_no_traffic_firewall_never_0_0_0_0(
    gce_provider: Provider, where: str
) -> None:
    """Dropping the IPv6 ranges must not leave an empty list that falls back to the
    default 0.0.0.0/0: no traffic firewall at all, and a warning that no client gets in."""
    view = gce_view(["2001:db8::/32", "::/0"], where)
    firewalls, warnings = planned_firewalls(gce_provider, view)
    assert list(firewalls) == [f"k8s-{CLUSTER}-node-http-hc"], firewalls
    for after in firewalls.values():
        assert "0.0.0.0/0" not in after["sourceRanges"]
    assert len([w for w in warnings if "no IPv6 client can reach it" in w]) == 2, warnings
    (everything,) = [w for w in warnings if w.startswith("every source range is IPv6")]
    assert "no client can reach it" in everything
    assert f"k8s-fw-{view_lb(view)}" in everything
