"""Annotation parsers, AnnotationSet, and the AWS annotation set's upstream semantics.

AWS expectations come from /work/shared/research/aws-and-service-controller.md §2.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from lbctl import annotations as A
from lbctl.errors import InvalidInput
from providers.aws import annotations as AWS

# --- integer -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bounds", "value", "expected"),
    [
        ({}, "42", 42),
        ({}, "0", 0),
        ({}, "-3", -3),
        ({}, " 7 ", 7),
        ({"minimum": 1}, "1", 1),
        ({"maximum": 10}, "10", 10),
        ({"minimum": 1, "maximum": 3600}, "300", 300),
        ({"minimum": -5}, "-5", -5),
    ],
    ids=[
        "plain",
        "zero",
        "negative",
        "trimmed",
        "at-minimum",
        "at-maximum",
        "in-range",
        "negative-minimum",
    ],
)
def test_integer_accepts(bounds: dict[str, int], value: str, expected: int) -> None:
    assert A.integer(**bounds)(value) == expected


@pytest.mark.parametrize(
    ("bounds", "value", "message"),
    [
        ({}, "abc", "not an integer"),
        ({}, "", "not an integer"),
        ({}, "1.5", "not an integer"),
        ({}, "0x10", "not an integer"),
        ({}, "10s", "not an integer"),
        ({}, "1_000", "not an integer"),
        ({}, "\u0663", "not an integer"),
        ({"minimum": 1}, "0", "must be at least 1"),
        ({"minimum": 2}, "-7", "must be at least 2"),
        ({"maximum": 10}, "11", "must be at most 10"),
        ({"minimum": 1, "maximum": 3600}, "3601", "must be at most 3600"),
    ],
    ids=[
        "word",
        "empty",
        "float",
        "hex",
        "unit-suffix",
        "underscore-go-parseint-rejects",
        "non-ascii-digit",
        "below-min",
        "negative-below-min",
        "above-max",
        "above-range",
    ],
)
def test_integer_rejects(bounds: dict[str, int], value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        A.integer(**bounds)(value)


# --- string_list -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("sg-1", ("sg-1",)),
        ("sg-1,sg-2", ("sg-1", "sg-2")),
        (" sg-1 , sg-2 ", ("sg-1", "sg-2")),
        ("sg-1,,sg-2,", ("sg-1", "sg-2")),
        ("", ()),
        (" , ,", ()),
        ("sg-2,sg-1,sg-2", ("sg-2", "sg-1", "sg-2")),
    ],
    ids=[
        "one",
        "two",
        "trimmed",
        "empties-dropped",
        "empty",
        "only-separators",
        "order-and-duplicates-kept",
    ],
)
def test_string_list(value: str, expected: tuple[str, ...]) -> None:
    assert A.string_list(value) == expected


# --- key_values (upstream getKeyValuePropertiesFromAnnotation) ---------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("k=v,k2=v2,k3=,k4", {"k": "v", "k2": "v2", "k3": "", "k4": ""}),
        ("=v", {}),
        ("=v,k=v", {"k": "v"}),
        ("a=b=c", {"a": "b"}),
        ("a==c", {"a": ""}),
        ("", {}),
        ("  ", {}),
        (",,", {}),
        (" k = v , k2=v2 ", {"k": "v", "k2": "v2"}),
        ("k=v,k=w", {"k": "w"}),
        ("team=platform,cost-center=42", {"team": "platform", "cost-center": "42"}),
        ("k=v,,k2", {"k": "v", "k2": ""}),
    ],
    ids=[
        "upstream-example",
        "no-key-skipped",
        "no-key-among-others",
        "value-between-first-and-second-equals",
        "double-equals-empty-value",
        "empty",
        "blank",
        "only-commas",
        "trimmed",
        "last-wins",
        "realistic-tags",
        "empty-item",
    ],
)
def test_key_values(value: str, expected: dict[str, str]) -> None:
    assert A.key_values(value) == expected


# --- one_of / text / go_bool -------------------------------------------------------------


@pytest.mark.parametrize(
    ("lower", "value", "expected"),
    [
        (False, "a", "a"),
        (False, " b ", "b"),
        (True, "A", "a"),
        (True, " B ", "b"),
    ],
    ids=["exact", "trimmed", "lowered", "lowered-and-trimmed"],
)
def test_one_of_accepts(lower: bool, value: str, expected: str) -> None:
    assert A.one_of("a", "b", lower=lower)(value) == expected


@pytest.mark.parametrize(
    ("lower", "value"),
    [(False, "A"), (False, "c"), (True, "c"), (False, "")],
    ids=["case-sensitive", "unknown", "unknown-lowered", "empty"],
)
def test_one_of_rejects(lower: bool, value: str) -> None:
    with pytest.raises(ValueError, match="must be one of a, b"):
        A.one_of("a", "b", lower=lower)(value)


@pytest.mark.parametrize("value", ["", " x ", "a,b"], ids=["empty", "spaces-kept", "comma"])
def test_text_is_identity(value: str) -> None:
    assert A.text(value) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("False", False), ("f", False)],
    ids=["true", "1", "False", "f"],
)
def test_go_bool(value: str, expected: bool) -> None:
    assert A.go_bool(value) is expected


@pytest.mark.parametrize("value", ["yes", "", "TRUE "], ids=["yes", "empty", "untrimmed"])
def test_go_bool_rejects(value: str) -> None:
    with pytest.raises(ValueError):
        A.go_bool(value)


# --- AnnotationSet -----------------------------------------------------------------------

PORT = A.Annotation("example.com/port", A.integer(minimum=1, maximum=65535), 80, "both", "the port")
ENABLED = A.Annotation("example.com/enabled", A.go_bool, False, "both", "on | off")
NAME = A.Annotation("example.com/name", A.text, "", "CLB", "a name", default_doc="none")
TAGS: A.Annotation[dict[str, str]] = A.Annotation(
    "example.com/tags", A.key_values, {}, "NLB", "tags"
)
SAMPLE = A.AnnotationSet("example", [PORT, ENABLED, NAME, TAGS])


def test_parse_collects_every_error() -> None:
    raw = {PORT.key: "99999", ENABLED.key: "yes", NAME.key: "ok"}
    with pytest.raises(InvalidInput) as info:
        SAMPLE.parse(raw)
    errors = info.value.errors
    assert [(e.annotation, e.value) for e in errors] == [
        (PORT.key, "99999"),
        (ENABLED.key, "yes"),
    ]
    assert all(e.field is None for e in errors)
    assert errors[0].message == "must be at most 65535"
    assert "invalid boolean" in errors[1].message
    text = str(info.value)
    assert PORT.key in text and "99999" in text
    assert ENABLED.key in text and "yes" in text


@pytest.mark.parametrize(
    ("raw", "annotation", "expected", "present"),
    [
        ({}, PORT, 80, False),
        ({}, ENABLED, False, False),
        ({}, TAGS, {}, False),
        ({PORT.key: "8080"}, PORT, 8080, True),
        ({ENABLED.key: "true"}, ENABLED, True, True),
        ({NAME.key: ""}, NAME, "", True),
        ({TAGS.key: "a=b,c"}, TAGS, {"a": "b", "c": ""}, True),
        ({"example.com/unknown": "x"}, PORT, 80, False),
    ],
    ids=[
        "default-int",
        "default-bool",
        "default-dict",
        "parsed-int",
        "parsed-bool",
        "present-but-empty",
        "parsed-tags",
        "undeclared-key-ignored",
    ],
)
def test_parsed_values_and_defaults(
    raw: dict[str, str], annotation: A.Annotation[Any], expected: object, present: bool
) -> None:
    parsed = SAMPLE.parse(raw)
    assert parsed[annotation] == expected
    assert parsed.present(annotation) is present


def test_parsed_raw_holds_only_declared_keys() -> None:
    parsed = SAMPLE.parse({PORT.key: "81", "kubectl.kubernetes.io/last-applied": "{}"})
    assert parsed.raw == {PORT.key: "81"}


def test_undeclared_annotations_never_fail() -> None:
    parsed = SAMPLE.parse({"example.com/other": "not a number"})
    assert parsed.raw == {}


def test_duplicate_declaration_is_refused() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        A.AnnotationSet("dup", [PORT, A.Annotation(PORT.key, A.text, "", "x", "y")])


def test_markdown_table() -> None:
    lines = SAMPLE.markdown().splitlines()
    assert lines[:4] == [
        "## example",
        "",
        "| annotation | applies to | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    assert lines[4:] == [
        "| `example.com/port` | both | 80 | the port |",
        "| `example.com/enabled` | both | false | on \\| off |",
        "| `example.com/name` | CLB | none | a name |",
        "| `example.com/tags` | NLB |  | tags |",
    ]
    assert SAMPLE.markdown().endswith("\n")


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (PORT, "80"),
        (NAME, "none"),
        (A.Annotation("k", A.text, None, "x", "y"), ""),
        (A.Annotation("k", A.text, "v", "x", "y", default_doc="doc wins"), "doc wins"),
        (A.Annotation("k", A.go_bool, False, "x", "y"), "false"),
        (A.Annotation("k", A.text, "", "x", "y"), ""),
        (A.Annotation("k", A.string_list, ("*",), "x", "y"), "*"),
        (A.Annotation("k", A.key_values, {}, "x", "y"), ""),
    ],
    ids=[
        "number",
        "default-doc",
        "none-is-blank",
        "default-doc-over-value",
        "bool-as-go",
        "empty-is-blank",
        "list-joined",
        "empty-map-is-blank",
    ],
)
def test_describe_default(annotation: A.Annotation[Any], expected: str) -> None:
    assert annotation.describe_default() == expected


# --- the AWS set -------------------------------------------------------------------------

P = AWS.PREFIX


def parse_one(annotation: A.Annotation[Any], value: str) -> Any:
    return AWS.ANNOTATIONS.parse({annotation.key: value})[annotation]


def reject_one(annotation: A.Annotation[Any], value: str) -> str:
    with pytest.raises(InvalidInput) as info:
        AWS.ANNOTATIONS.parse({annotation.key: value})
    [error] = info.value.errors
    assert error.annotation == annotation.key
    assert error.value == value
    return error.message


def test_aws_markdown_has_one_row_per_annotation() -> None:
    rows = [line for line in AWS.ANNOTATIONS.markdown().splitlines() if line.startswith("| `")]
    assert len(rows) == len(AWS.ANNOTATIONS.annotations)
    for ann in AWS.ANNOTATIONS.annotations:
        assert sum(f"| `{ann.key}` |" in row for row in rows) == 1, ann.key


def test_aws_keys_use_the_upstream_prefix() -> None:
    keys = [a.key for a in AWS.ANNOTATIONS.annotations]
    assert len(keys) == len(set(keys))
    for key in keys:
        assert key.startswith(P) or key == "service.beta.kubernetes.io/load-balancer-source-ranges"
    assert "service.beta.kubernetes.io/load-balancer-source-ranges" in keys


BOOL_ANNOTATIONS = [a for a in AWS.ANNOTATIONS.annotations if a.parse is A.go_bool]


def test_aws_bool_annotations_are_the_upstream_ones() -> None:
    assert {a.key.removeprefix(P) for a in BOOL_ANNOTATIONS} == {
        "access-log-enabled",
        "connection-draining-enabled",
        "cross-zone-load-balancing-enabled",
    }


@pytest.mark.parametrize(
    "annotation", BOOL_ANNOTATIONS, ids=[a.key.removeprefix(P) for a in BOOL_ANNOTATIONS]
)
@pytest.mark.parametrize(
    "value", ["yes", "", "on", "TRUE "], ids=["yes", "empty", "on", "untrimmed"]
)
def test_aws_bool_rejects(annotation: A.Annotation[Any], value: str) -> None:
    assert "invalid boolean" in reject_one(annotation, value)


@pytest.mark.parametrize(
    "annotation", BOOL_ANNOTATIONS, ids=[a.key.removeprefix(P) for a in BOOL_ANNOTATIONS]
)
@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("false", False), ("F", False)],
    ids=["true", "1", "false", "F"],
)
def test_aws_bool_accepts(annotation: A.Annotation[Any], value: str, expected: bool) -> None:
    assert parse_one(annotation, value) is expected
    assert AWS.ANNOTATIONS.parse({})[annotation] is False


def test_aws_two_bad_annotations_two_errors() -> None:
    raw = {AWS.CROSS_ZONE.key: "yes", AWS.TYPE.key: "alb", AWS.SSL_CERT.key: "arn:x"}
    with pytest.raises(InvalidInput) as info:
        AWS.ANNOTATIONS.parse(raw)
    assert sorted((e.annotation, e.value) for e in info.value.errors) == sorted(
        [(AWS.CROSS_ZONE.key, "yes"), (AWS.TYPE.key, "alb")]
    )


@pytest.mark.parametrize("value", ["elb", "clb", "nlb", "nlb-ip", "external"])
def test_aws_type_accepts(value: str) -> None:
    assert parse_one(AWS.TYPE, value) == value


@pytest.mark.parametrize("value", ["NLB", "alb", "", " nlb", "network"])
def test_aws_type_rejects(value: str) -> None:
    message = reject_one(AWS.TYPE, value)
    assert "unknown load balancer type" in message
    assert "nlb" in message


def test_aws_type_default_is_classic() -> None:
    parsed = AWS.ANNOTATIONS.parse({})
    assert parsed[AWS.TYPE] is None
    assert not parsed.present(AWS.TYPE)


def test_aws_proxy_protocol_accepts_star() -> None:
    assert parse_one(AWS.PROXY_PROTOCOL, "*") == "*"


@pytest.mark.parametrize("value", ["true", "", " *", "* ", "v2", "**"])
def test_aws_proxy_protocol_rejects(value: str) -> None:
    assert reject_one(AWS.PROXY_PROTOCOL, value) == "the only value supported currently is '*'"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http", "http"),
        ("https", "https"),
        ("ssl", "ssl"),
        ("tcp", "tcp"),
        ("HTTP", "http"),
        ("Ssl", "ssl"),
    ],
    ids=["http", "https", "ssl", "tcp", "upper", "mixed"],
)
def test_aws_backend_protocol_accepts(value: str, expected: str) -> None:
    assert parse_one(AWS.BACKEND_PROTOCOL, value) == expected


@pytest.mark.parametrize("value", ["udp", "", "tls", "http2", " http"])
def test_aws_backend_protocol_rejects(value: str) -> None:
    assert "invalid backend protocol" in reject_one(AWS.BACKEND_PROTOCOL, value)


def test_aws_backend_protocol_default_tcp() -> None:
    assert AWS.ANNOTATIONS.parse({})[AWS.BACKEND_PROTOCOL] == "tcp"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("traffic-port", "traffic-port"),
        ("8080", 8080),
        ("1", 1),
        ("65535", 65535),
        ("10256", 10256),
    ],
    ids=["traffic-port", "number", "lowest", "highest", "kube-proxy"],
)
def test_aws_healthcheck_port_accepts(value: str, expected: str | int) -> None:
    assert parse_one(AWS.HEALTHCHECK_PORT, value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "use traffic-port or a port number"),
        ("", "use traffic-port or a port number"),
        ("Traffic-Port", "use traffic-port or a port number"),
        ("80.5", "use traffic-port or a port number"),
        ("0", "between 1 and 65535"),
        ("-1", "between 1 and 65535"),
        ("65536", "between 1 and 65535"),
        ("8_080", "use traffic-port or a port number"),
    ],
    ids=[
        "word",
        "empty",
        "case",
        "float",
        "zero",
        "negative",
        "too-high",
        "underscore-go-parseint-rejects",
    ],
)
def test_aws_healthcheck_port_rejects(value: str, message: str) -> None:
    assert message in reject_one(AWS.HEALTHCHECK_PORT, value)


def test_aws_healthcheck_port_default() -> None:
    assert AWS.ANNOTATIONS.parse({})[AWS.HEALTHCHECK_PORT] == "traffic-port"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("false", False),
        ("true", True),
        ("False", True),
        ("0.0.0.0/0", True),
        ("1", True),
        ("FALSE", True),
        (" false", True),
        ("", False),
    ],
    ids=[
        "false",
        "true",
        "False-is-internal",
        "cidr-is-internal",
        "1",
        "FALSE-is-internal",
        "untrimmed-false-is-internal",
        "empty-is-internet-facing",
    ],
)
def test_aws_internal(value: str, expected: bool) -> None:
    # Upstream: `if v == "false" {false} else if v != "" {true}` -- so an empty value is
    # internet-facing, and anything else but exactly "false" is internal.
    assert parse_one(AWS.INTERNAL, value) is expected


def test_aws_internal_default_internet_facing() -> None:
    assert AWS.ANNOTATIONS.parse({})[AWS.INTERNAL] is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("443", ("443",)),
        ("443,8443", ("443", "8443")),
        ("443, 8443", ("443", " 8443")),
        ("https,443", ("https", "443")),
        ("*", ("*",)),
        ("443,", ("443", "")),
    ],
    ids=["one", "two", "not-trimmed", "name-and-number", "star", "trailing-comma-kept"],
)
def test_aws_ssl_ports(value: str, expected: tuple[str, ...]) -> None:
    assert parse_one(AWS.SSL_PORTS, value) == expected


def test_aws_ssl_ports_default_all() -> None:
    assert AWS.ANNOTATIONS.parse({})[AWS.SSL_PORTS] == ("*",)


AWS_VALUE_CASES: list[tuple[A.Annotation[Any], str, object]] = [
    (AWS.ADDITIONAL_TAGS, "team=web,env=prod,flag", {"team": "web", "env": "prod", "flag": ""}),
    (AWS.TARGET_NODE_LABELS, "role=edge,gpu", {"role": "edge", "gpu": ""}),
    (
        AWS.TARGET_GROUP_ATTRIBUTES,
        "preserve_client_ip.enabled=false",
        {"preserve_client_ip.enabled": "false"},
    ),
    (AWS.EXTRA_SECURITY_GROUPS, "sg-1, sg-2,", ("sg-1", "sg-2")),
    (AWS.SECURITY_GROUPS, "sg-9", ("sg-9",)),
    (AWS.SUBNETS, "subnet-a , public-b", ("subnet-a", "public-b")),
    (AWS.EIP_ALLOCATIONS, "eipalloc-1, eipalloc-2", ("eipalloc-1", " eipalloc-2")),
    (AWS.PRIVATE_IPV4_ADDRESSES, "10.0.0.5,10.0.1.5", ("10.0.0.5", "10.0.1.5")),
    (AWS.CONNECTION_IDLE_TIMEOUT, "120", 120),
    (AWS.CONNECTION_DRAINING_TIMEOUT, "30", 30),
    (AWS.ACCESS_LOG_EMIT_INTERVAL, "5", 5),
    (AWS.HEALTHCHECK_INTERVAL, "10", 10),
    (
        AWS.SSL_CERT,
        "arn:aws:acm:us-east-1:123:certificate/x",
        "arn:aws:acm:us-east-1:123:certificate/x",
    ),
    (AWS.SOURCE_RANGES, "10.0.0.0/8, bogus", "10.0.0.0/8, bogus"),
    (AWS.HEALTHCHECK_PROTOCOL, "HTTP", "HTTP"),
]


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    AWS_VALUE_CASES,
    ids=[a.key.rsplit("/", 1)[1].removeprefix("aws-load-balancer-") for a, _, _ in AWS_VALUE_CASES],
)
def test_aws_values(annotation: A.Annotation[Any], value: str, expected: object) -> None:
    assert parse_one(annotation, value) == expected


INTEGER_ANNOTATIONS = [
    AWS.ACCESS_LOG_EMIT_INTERVAL,
    AWS.CONNECTION_DRAINING_TIMEOUT,
    AWS.CONNECTION_IDLE_TIMEOUT,
    AWS.HEALTHCHECK_HEALTHY,
    AWS.HEALTHCHECK_UNHEALTHY,
    AWS.HEALTHCHECK_TIMEOUT,
    AWS.HEALTHCHECK_INTERVAL,
]


@pytest.mark.parametrize(
    "annotation", INTEGER_ANNOTATIONS, ids=[a.key.removeprefix(P) for a in INTEGER_ANNOTATIONS]
)
def test_aws_integer_annotations_reject_non_integers(annotation: A.Annotation[Any]) -> None:
    assert reject_one(annotation, "5m") == "not an integer"


AWS_DEFAULTS: list[tuple[A.Annotation[Any], object]] = [
    (AWS.CONNECTION_IDLE_TIMEOUT, 60),
    (AWS.CONNECTION_DRAINING_TIMEOUT, None),
    (AWS.ACCESS_LOG_ENABLED, False),
    (AWS.ACCESS_LOG_BUCKET, ""),
    (AWS.EXTRA_SECURITY_GROUPS, ()),
    (AWS.ADDITIONAL_TAGS, {}),
    (AWS.SOURCE_RANGES, ""),
    (AWS.PROXY_PROTOCOL, None),
]


@pytest.mark.parametrize(
    ("annotation", "expected"),
    AWS_DEFAULTS,
    ids=[a.key.rsplit("/", 1)[1] for a, _ in AWS_DEFAULTS],
)
def test_aws_defaults(annotation: A.Annotation[Any], expected: object) -> None:
    assert AWS.ANNOTATIONS.parse({})[annotation] == expected


def _parsers() -> list[Callable[[str], Any]]:
    return [a.parse for a in AWS.ANNOTATIONS.annotations]


def test_aws_parsers_raise_only_value_error() -> None:
    # AnnotationSet.parse turns ValueError into a FieldError; anything else would escape.
    for parse in _parsers():
        for value in ["", " ", "x", "=", ",", "*", "-1", "99999999999999999999", "\x00"]:
            with contextlib.suppress(ValueError):
                parse(value)
