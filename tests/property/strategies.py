"""Hypothesis strategies for hostile input: Service manifests, Node sets, annotation maps.

Everything here draws plain dicts shaped like `kubectl get -o yaml` output (what the CLI
reads and what `ServiceView.from_dict` / `NodeView.from_dict` take). Values mix three
kinds of input so that both the accepting and the rejecting paths are exercised:

- valid values of each annotation and field (so that many examples plan successfully);
- near misses of them (case, whitespace, trailing commas, one character changed);
- garbage (any text, including control characters and non-ASCII).

Two Services in three and one Node in two are tame (valid throughout), so that many
examples get as far as planning resources and registering backends.

The annotation keys are read from the providers' own declarations, so a newly declared
annotation is fuzzed without touching this file (it then gets near misses and garbage;
add its valid values to `VALID` for deeper coverage).
"""

from __future__ import annotations

import functools
import ipaddress
import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

from lbctl.rules import EXCLUDE_LABEL, SOURCE_RANGES_ANNOTATION, TO_BE_DELETED_TAINT
from providers.aws import annotations as AWS
from providers.gce import annotations as GCE


def examples(quick: int) -> settings:
    """`quick` examples under the default profile; the loaded profile's count otherwise."""
    if os.environ.get("HYPOTHESIS_PROFILE", "quick") == "quick":
        return settings(max_examples=quick)
    return settings()


AWS_KEYS: tuple[str, ...] = tuple(a.key for a in AWS.ANNOTATIONS.annotations)
GCE_KEYS: tuple[str, ...] = tuple(a.key for a in GCE.ANNOTATIONS.annotations)
GCE_EXTRA_KEYS: tuple[str, ...] = tuple(GCE.BACKEND_SHARE_KEYS)
ALL_KEYS: tuple[str, ...] = tuple(dict.fromkeys(AWS_KEYS + GCE_KEYS + GCE_EXTRA_KEYS))
SUBNET_LABEL = "cloud.google.com/gke-node-pool-subnet"

CIDRS = (
    "0.0.0.0/0",
    "10.0.0.0/8",
    "10.1.2.0/24",
    "192.0.2.0/24",
    "198.51.100.7/32",
    "203.0.113.0/25",
    "::/0",
    "2001:db8::/32",
    "2001:db8:1::/48",
    "fd00::1/128",
)
NEAR_MISS_CIDRS = (
    "10.0.0.1/8",  # host bits set: accepted, normalised to 10.0.0.0/8
    " 10.0.0.0/8 ",
    "10.0.0.0",  # no prefix length
    "10.0.0.0/33",
    "300.0.0.0/8",
    "10.0.0.0/-1",
    "2001:db8::/129",
    "::ffff:10.0.0.0/104",
    "10.0.0.0/8,",
    "",
    " ",
    "0/0",
    "10.0.0.0/08",
    "\u0661\u0660.0.0.0/8",  # Arabic-Indic digits: int() reads them, ipaddress must not
)

PORT_NAMES = ("", "http", "https", "HTTPS", "dns", "metrics", "grpc", "p443")
PROTOCOLS = ("TCP", "TCP", "TCP", "UDP", "SCTP", "tcp", "udp", "", "HTTP", "ICMP")

# Valid values (and the upstream spellings people use) of each annotation.
VALID: dict[str, tuple[str, ...]] = {
    AWS.TYPE.key: ("elb", "clb", "nlb", "nlb", "nlb-ip", "external"),
    AWS.INTERNAL.key: ("true", "false", "0.0.0.0/0", "1"),
    AWS.PROXY_PROTOCOL.key: ("*",),
    AWS.ACCESS_LOG_EMIT_INTERVAL.key: ("5", "60"),
    AWS.ACCESS_LOG_ENABLED.key: ("true", "false"),
    AWS.ACCESS_LOG_BUCKET.key: ("my-logs", "logs.example.com"),
    AWS.ACCESS_LOG_PREFIX.key: ("prod/web", ""),
    AWS.CONNECTION_DRAINING_ENABLED.key: ("true", "false"),
    AWS.CONNECTION_DRAINING_TIMEOUT.key: ("1", "60", "3600"),
    AWS.CONNECTION_IDLE_TIMEOUT.key: ("1", "60", "4000"),
    AWS.CROSS_ZONE.key: ("true", "false"),
    AWS.EXTRA_SECURITY_GROUPS.key: ("sg-0123456789abcdef0", "sg-1,sg-2", "sg-1, sg-1"),
    AWS.SECURITY_GROUPS.key: ("sg-0123456789abcdef0", "sg-1,sg-2"),
    AWS.SSL_CERT.key: (
        "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d",
        "arn:aws:iam::123456789012:server-certificate/web",
    ),
    AWS.SSL_PORTS.key: ("443", "*", "https", "443,8443", "https,80"),
    AWS.SSL_NEGOTIATION_POLICY.key: ("ELBSecurityPolicy-TLS-1-2-2017-01",),
    AWS.BACKEND_PROTOCOL.key: ("http", "https", "ssl", "tcp", "HTTP"),
    AWS.ADDITIONAL_TAGS.key: ("team=web", "team=web,env=prod", "owner"),
    AWS.HEALTHCHECK_PROTOCOL.key: ("TCP", "HTTP", "HTTPS", "SSL", "http"),
    AWS.HEALTHCHECK_PORT.key: ("traffic-port", "8080", "10256", "1", "65535"),
    AWS.HEALTHCHECK_PATH.key: ("/", "/healthz", "/ready?x=1"),
    AWS.HEALTHCHECK_HEALTHY.key: ("2", "3", "10"),
    AWS.HEALTHCHECK_UNHEALTHY.key: ("2", "3", "10"),
    AWS.HEALTHCHECK_TIMEOUT.key: ("2", "5", "10"),
    AWS.HEALTHCHECK_INTERVAL.key: ("5", "10", "30"),
    AWS.TARGET_GROUP_ATTRIBUTES.key: (
        "preserve_client_ip.enabled=true",
        "preserve_client_ip.enabled=false",
        "proxy_protocol_v2.enabled=true,preserve_client_ip.enabled=true",
    ),
    AWS.EIP_ALLOCATIONS.key: ("eipalloc-1", "eipalloc-1,eipalloc-2"),
    AWS.PRIVATE_IPV4_ADDRESSES.key: ("10.0.1.10", "10.0.1.10,10.0.2.10"),
    AWS.TARGET_NODE_LABELS.key: ("role=lb", "role", "role=lb,team=web"),
    AWS.SUBNETS.key: ("subnet-1", "subnet-1,subnet-2", "public-a"),
    SOURCE_RANGES_ANNOTATION: (
        "10.0.0.0/8",
        "10.0.0.0/8,192.0.2.0/24",
        "0.0.0.0/0",
        "2001:db8::/32",
        "10.0.0.0/8, 2001:db8::/32",
    ),
    GCE.TYPE.key: ("Internal", "internal", "External", "external"),
    GCE.DEPRECATED_TYPE.key: ("Internal", "External"),
    GCE.SUBNET.key: ("ilb-subnet", "a", "subnet-1"),
    GCE.GLOBAL_ACCESS.key: ("true", "false"),
    GCE.NETWORK_TIER.key: ("Premium", "Standard"),
    GCE.L4_RBS.key: ("enabled", "disabled"),
    **{key: ("true", "false", "") for key in GCE.BACKEND_SHARE_KEYS},
}

GARBAGE_TEXT = st.text(max_size=24)


def _mutations(value: str) -> list[str]:
    out = [
        value.upper(),
        value.lower(),
        value.title(),
        f" {value}",
        f"{value} ",
        f"{value},",
        f",{value}",
        f"{value},{value}",
        value + "\n",
        value + "\x00",
        value[:-1],
        value + "x",
        '"' + value + '"',
    ]
    return [m for m in out if m != value]


@st.composite
def near_miss(draw: st.DrawFn, values: Sequence[str]) -> str:
    value = draw(st.sampled_from(values))
    choices = _mutations(value)
    if value:
        i = draw(st.integers(0, len(value) - 1))
        choices.append(value[:i] + draw(st.characters()) + value[i + 1 :])
    return draw(st.sampled_from(choices))


INTEGERS = st.one_of(
    st.integers(-5, 70_000).map(str),
    st.sampled_from(
        [
            "0",
            "-0",
            "+5",
            "00005",
            "5.0",
            "1e3",
            "0x10",
            "99999999999999999999999",
            "\u0665",
            " 60 ",
        ]
    ),
)


@functools.cache
def annotation_value(key: str) -> st.SearchStrategy[str]:
    """Valid, near-miss or garbage text for one annotation key."""
    valid = VALID.get(key, ("",))
    options: list[st.SearchStrategy[str]] = [
        st.sampled_from(valid),
        st.sampled_from(valid),
        near_miss(valid),
        GARBAGE_TEXT,
        INTEGERS,
    ]
    if key == SOURCE_RANGES_ANNOTATION:
        options.append(st.lists(cidr_text(), min_size=1, max_size=4).map(",".join))
    return st.one_of(options)


@functools.cache
def near_miss_key(keys: tuple[str, ...]) -> st.SearchStrategy[str]:
    def variants(key: str) -> list[str]:
        head, _, tail = key.rpartition("/")
        return [
            key.upper(),
            key + " ",
            key + "s",
            key[:-1],
            key.replace("-", "_"),
            f"{head}/{tail.replace('-', '', 1)}",
            f"{head}.io/{tail}",
        ]

    return st.sampled_from([v for k in keys for v in variants(k)])


@functools.cache
def annotations(keys: tuple[str, ...] = ALL_KEYS, *, max_size: int = 8) -> st.SearchStrategy:
    """A random annotation map over `keys`, with near-miss keys and unrelated ones."""
    declared = st.one_of([st.tuples(st.just(k), annotation_value(k)) for k in keys])
    other = st.tuples(
        st.one_of(
            near_miss_key(keys), st.sampled_from(["kubectl.kubernetes.io/last-applied", "x"])
        ),
        GARBAGE_TEXT,
    )
    return st.lists(st.one_of(declared, declared, declared, other), max_size=max_size).map(dict)


@functools.cache
def tame_annotations(keys: tuple[str, ...] = ALL_KEYS) -> st.SearchStrategy:
    """A few annotations of `keys`, each with a valid value (combinations may still clash)."""
    pairs = st.one_of([st.tuples(st.just(k), st.sampled_from(VALID.get(k, ("",)))) for k in keys])
    return st.lists(pairs, max_size=3).map(dict)


# --- source ranges -------------------------------------------------------------------------


@st.composite
def cidr(draw: st.DrawFn) -> str:
    """A syntactically valid CIDR, IPv4 or IPv6, host bits possibly set."""
    if draw(st.booleans()):
        address = draw(st.ip_addresses(v=4))
        prefix = draw(st.integers(0, 32))
    else:
        address = draw(st.ip_addresses(v=6))
        prefix = draw(st.integers(0, 128))
    return f"{address}/{prefix}"


@functools.cache
def cidr_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(CIDRS), st.sampled_from(NEAR_MISS_CIDRS), cidr(), cidr(), GARBAGE_TEXT
    )


@functools.cache
def valid_cidr_text() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(CIDRS), cidr())


# --- Services ------------------------------------------------------------------------------


PORT_NUMBERS = st.one_of(
    st.sampled_from([80, 443, 53, 8080, 8443]),
    st.integers(1, 65535),
    st.sampled_from([0, -1, 65536, 10**12]),
)
VALID_PORT_NUMBERS = st.one_of(st.sampled_from([80, 443, 53, 8080, 8443]), st.integers(1, 65535))
NODE_PORTS = st.one_of(
    st.none(),  # not allocated (yet)
    st.sampled_from([30080, 30443, 30053, 32767]),
    st.integers(30000, 32767),
    st.sampled_from([0, 1, 80, 65535, 99999]),
)
TARGET_PORTS = st.one_of(st.integers(1, 65535), st.sampled_from(["http", "x"]))
APP_PROTOCOLS = st.sampled_from(["http", "kubernetes.io/h2c", "tcp"])
# "\u00b2" (superscript two) and "\u2460" (circled one) are str.isdigit() but not int().
JUNK = st.one_of(
    GARBAGE_TEXT,
    st.sampled_from([None, [], {}, 1.5, True, "80", " 80 ", "eighty", "\u00b2", "\u2460"]),
)
ONE_IN = {n: st.integers(0, n - 1).map(lambda i: i == 0) for n in range(2, 10)}


@st.composite
def port(draw: st.DrawFn, *, wellformed: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": draw(st.sampled_from(PORT_NAMES)),
        "protocol": draw(st.sampled_from(PROTOCOLS)),
        "port": draw(PORT_NUMBERS),
    }
    node_port = draw(NODE_PORTS)
    if node_port is not None:
        out["nodePort"] = node_port
    if draw(st.booleans()):
        out["targetPort"] = draw(TARGET_PORTS)
    if draw(ONE_IN[6]):
        out["appProtocol"] = draw(APP_PROTOCOLS)
    if draw(ONE_IN[5]):
        del out["protocol"]  # the API default, TCP
    if not wellformed and draw(ONE_IN[4]):
        out[draw(st.sampled_from(["port", "nodePort", "protocol", "name"]))] = draw(JUNK)
    return out


PORTS = st.lists(port(), max_size=6)


@st.composite
def tame_ports(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Valid ports: distinct numbers and node ports, one protocol (mostly TCP)."""
    protocol = draw(st.sampled_from(["TCP", "TCP", "TCP", "UDP"]))
    count = draw(st.integers(1, 4))
    numbers = sorted({draw(VALID_PORT_NUMBERS) for _ in range(count)})
    first = draw(st.integers(30000, 32767 - len(numbers)))
    node_ports = draw(st.permutations(range(first, first + len(numbers))))
    return [
        {"name": f"p{n}", "port": n, "nodePort": np, "protocol": protocol}
        for n, np in zip(numbers, node_ports, strict=True)
    ]


TAME_PORTS = tame_ports()
LOOSE_PORTS = st.lists(port(wellformed=False), max_size=6)


@functools.cache
def _uid() -> st.SearchStrategy[str]:
    return st.one_of(
        st.uuids().map(str),
        st.uuids().map(str),
        st.uuids().map(lambda u: u.hex),
        st.sampled_from(["", "x", "-", "UID-WITH-CAPS", str(uuid.UUID(int=0))]),
        GARBAGE_TEXT,
    )


NAMES = ("web", "api", "dns", "a", "x" * 63, "db-0")
NAMESPACES = ("default", "prod", "kube-system", "")


SERVICE_TYPES = st.sampled_from(
    ["LoadBalancer"] * 6 + ["ClusterIP", "NodePort", "ExternalName", "loadbalancer"]
)
AFFINITIES = st.sampled_from(["None", "ClientIP", "", "clientip", "Cookie"])
LB_IPS = st.one_of(
    st.sampled_from(["203.0.113.10", "10.0.0.5", "2001:db8::1", "1.2.3", ""]),
    st.ip_addresses().map(str),
    GARBAGE_TEXT,
)
TRAFFIC_POLICIES = st.sampled_from(["Local", "Cluster", "local", ""])
HEALTH_NODE_PORTS = st.one_of(st.integers(30000, 32767), st.sampled_from([0, 1, 65535, 70000, -3]))
LB_CLASSES = st.sampled_from(["example.com/lb", ""])
IP_FAMILIES = st.sampled_from([["IPv4"], ["IPv6"], ["IPv4", "IPv6"]])
SOURCE_RANGES = st.lists(cidr_text(), max_size=4)
STRUCTURE_JUNK = st.sampled_from([None, [], "text", 7, {"a": [1, 2]}, [{"x": 1}]])
JUNK_TARGETS = st.sampled_from(
    ["metadata", "spec", "annotations", "ports", "loadBalancerSourceRanges", "type"]
)


@st.composite
def service_manifest(
    draw: st.DrawFn,
    *,
    keys: tuple[str, ...] = ALL_KEYS,
    wellformed: bool = True,
    name: str | None = None,
) -> dict[str, Any]:
    """A v1 Service manifest; `wellformed` keeps every field of its API type.

    Two in three are tame (valid ports and annotation values, type LoadBalancer), so that
    many examples get as far as planning resources; the rest are hostile throughout."""
    if draw(st.integers(0, 2)) > 0:
        return draw(_tame_service(keys, name))
    meta: dict[str, Any] = {
        "name": name if name is not None else draw(st.sampled_from(NAMES)),
        "namespace": draw(st.sampled_from(NAMESPACES)),
        "uid": draw(_uid()),
        "annotations": draw(annotations(keys)),
    }
    if draw(ONE_IN[7]):
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    if draw(ONE_IN[4]):
        meta["finalizers"] = ["service.kubernetes.io/load-balancer-cleanup"]
    spec: dict[str, Any] = {
        "type": draw(SERVICE_TYPES),
        "ports": draw(PORTS if wellformed else LOOSE_PORTS),
        "selector": {"app": meta["name"]},
    }
    if spec["ports"] and draw(ONE_IN[4]):  # a duplicate port (same number, maybe other proto)
        spec["ports"].append(dict(draw(st.sampled_from(spec["ports"]))))
    if draw(st.booleans()):
        spec["loadBalancerSourceRanges"] = draw(SOURCE_RANGES)
    if draw(ONE_IN[3]):
        spec["sessionAffinity"] = draw(AFFINITIES)
    if draw(ONE_IN[4]):
        spec["loadBalancerIP"] = draw(LB_IPS)
    if draw(ONE_IN[3]):
        spec["externalTrafficPolicy"] = draw(TRAFFIC_POLICIES)
        if draw(st.booleans()):
            spec["healthCheckNodePort"] = draw(HEALTH_NODE_PORTS)
    if draw(ONE_IN[9]):
        spec["loadBalancerClass"] = draw(LB_CLASSES)
    if draw(ONE_IN[5]):
        spec["ipFamilies"] = draw(IP_FAMILIES)
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": spec,
    }
    if draw(ONE_IN[6]):
        manifest["status"] = {"loadBalancer": {"ingress": [{"hostname": "old.example.com"}]}}
    if not wellformed and draw(ONE_IN[4]):
        target = draw(JUNK_TARGETS)
        junk = draw(STRUCTURE_JUNK)
        if target == "annotations":
            meta["annotations"] = {"k": junk, **meta["annotations"]}
        elif target in spec:
            spec[target] = junk
        else:
            manifest[target] = junk
    return manifest


@functools.cache
def _tame_service(keys: tuple[str, ...], name: str | None) -> st.SearchStrategy:
    return tame_service(keys=keys, name=name)


@st.composite
def tame_service(
    draw: st.DrawFn, *, keys: tuple[str, ...] = ALL_KEYS, name: str | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name if name is not None else draw(st.sampled_from(NAMES)),
        "namespace": draw(st.sampled_from(NAMESPACES)),
        "uid": str(draw(st.uuids())),
        "annotations": draw(tame_annotations(keys)),
    }
    spec: dict[str, Any] = {"type": "LoadBalancer", "ports": draw(TAME_PORTS)}
    if draw(ONE_IN[3]):
        spec["loadBalancerSourceRanges"] = draw(st.lists(valid_cidr_text(), max_size=4))
    if draw(ONE_IN[4]):
        spec["sessionAffinity"] = draw(st.sampled_from(["None", "ClientIP"]))
    if draw(ONE_IN[3]):
        spec["externalTrafficPolicy"] = "Local"
        spec["healthCheckNodePort"] = draw(st.integers(30000, 32767))
    if draw(ONE_IN[8]):
        spec["loadBalancerIP"] = draw(st.sampled_from(["203.0.113.10", "10.0.0.5"]))
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


@st.composite
def service_manifests(
    draw: st.DrawFn, *, keys: tuple[str, ...] = ALL_KEYS, wellformed: bool = True
) -> list[dict[str, Any]]:
    """1-3 Services with distinct names (distinct keys are what the API server ensures)."""
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    return [draw(_named_service(keys, wellformed, n)) for n in names]


@functools.cache
def _named_service(keys: tuple[str, ...], wellformed: bool, name: str) -> st.SearchStrategy:
    return service_manifest(keys=keys, wellformed=wellformed, name=name)


# --- Nodes ---------------------------------------------------------------------------------

INSTANCE_IDS = ("i-0123456789abcdef0", "i-1", "i-0aaaaaaaaaaaaaaa1", "i-02")
AWS_ZONES = ("us-east-1a", "us-east-1b", "")
GCE_ZONES = ("us-central1-a", "us-central1-b", "europe-west1-b", "zone")


@functools.cache
def provider_id() -> st.SearchStrategy[str]:
    iid = st.sampled_from(INSTANCE_IDS)
    return st.one_of(
        st.builds(lambda z, i: f"aws:///{z}/{i}", st.sampled_from(AWS_ZONES), iid),
        st.builds(lambda i: f"aws:////{i}", iid),
        iid,
        st.builds(lambda i: f"aws://us-east-1a/{i}", iid),
        st.just("aws:///us-east-1a/fargate-ip-10-0-0-1.ec2.internal"),
        st.builds(
            lambda p, z, n: f"gce://{p}/{z}/{n}",
            st.sampled_from(["proj", "other-proj", ""]),
            st.sampled_from(GCE_ZONES),
            st.sampled_from(["node-1", "node-2", "node-3", ""]),
        ),
        st.sampled_from(["", "azure:///subscriptions/x", "kind://docker/kind/node", "aws:///"]),
        GARBAGE_TEXT,
    )


LABEL_KEYS = (EXCLUDE_LABEL, EXCLUDE_LABEL, "role", "team", SUBNET_LABEL, "kubernetes.io/os")
LABEL_VALUES = ("true", "false", "True", "1", "0", "", "yes", "lb", "web", "subnet-1")
LABELS = st.dictionaries(
    st.sampled_from(LABEL_KEYS),
    st.one_of(st.sampled_from(LABEL_VALUES), GARBAGE_TEXT),
    max_size=4,
)
TAINTS = st.lists(
    st.fixed_dictionaries(
        {
            "key": st.sampled_from(
                [TO_BE_DELETED_TAINT, "node.kubernetes.io/unschedulable", "dedicated"]
            ),
            "effect": st.sampled_from(["NoSchedule", "NoExecute", "PreferNoSchedule"]),
        },
        optional={"value": st.sampled_from(["1700000000", "", "x"])},
    ),
    max_size=2,
)
READY = st.sampled_from([None, "True", "False", "Unknown"])


TAME_PROVIDER_IDS = st.one_of(
    st.builds(lambda i: f"aws:///us-east-1a/{i}", st.sampled_from(INSTANCE_IDS)),
    st.builds(
        lambda z, n: f"gce://proj/{z}/{n}",
        st.sampled_from(GCE_ZONES[:2]),
        st.sampled_from(["node-1", "node-2", "node-3"]),
    ),
)


@st.composite
def node(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """Half are plain eligible nodes of either cloud; the rest hostile throughout."""
    if draw(st.booleans()):
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"role": draw(st.sampled_from(["lb", "web"]))}},
            "spec": {"providerID": draw(TAME_PROVIDER_IDS)},
        }
    meta: dict[str, Any] = {"name": name, "labels": draw(LABELS)}
    if draw(ONE_IN[7]):
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    taints = draw(TAINTS)
    spec: dict[str, Any] = {"providerID": draw(provider_id())}
    if taints:
        spec["taints"] = taints
    status: dict[str, Any] = {}
    ready = draw(READY)
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready}]
    return {"apiVersion": "v1", "kind": "Node", "metadata": meta, "spec": spec, "status": status}


NODES = [node(f"node-{i}") for i in range(8)]


@st.composite
def node_manifests(draw: st.DrawFn, max_size: int = 6) -> list[dict[str, Any]]:
    count = draw(st.integers(0, max_size))
    return [draw(NODES[i]) for i in range(count)]


# --- what the tests compare against ----------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def requested_ranges(manifest: Mapping[str, Any]) -> set[Network]:
    """The source ranges a Service asks for, read independently of lbctl.rules:
    spec.loadBalancerSourceRanges, else the annotation, else everything (0.0.0.0/0)."""
    spec_ranges = manifest["spec"].get("loadBalancerSourceRanges") or []
    if spec_ranges:
        items = [str(r) for r in spec_ranges]
    else:
        raw = manifest["metadata"].get("annotations", {}).get(SOURCE_RANGES_ANNOTATION, "")
        raw = raw.strip()
        items = raw.split(",") if raw else ["0.0.0.0/0"]
    return {ipaddress.ip_network(i.strip(), strict=False) for i in items}
