"""Checking the shape of a Service or Node before reading it.

Manifests come from files people write: a port of "eighty", annotations given as a list or
a spec that is a string must be an input error naming the field, never a crash inside
`ServiceView.from_dict`. Only the fields lbctl reads are checked; the names accepted are
the API's camelCase and the kubernetes client's snake_case, as in `lbctl.model`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lbctl.errors import FieldError

SCALAR = (str, int, float, bool)


def _get(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    return obj.get(camel, obj.get(snake))


def _mapping(value: Any, field: str, errors: list[FieldError]) -> bool:
    if value is None or isinstance(value, Mapping):
        return True
    errors.append(FieldError("must be an object", field=field, value=value))
    return False


def _string_map(value: Any, field: str, errors: list[FieldError]) -> None:
    if not _mapping(value, field, errors) or value is None:
        return
    for key, item in value.items():
        if item is not None and not isinstance(item, SCALAR):
            errors.append(FieldError("must be a string", field=f"{field}.{key}", value=item))


def _list(value: Any, field: str, errors: list[FieldError]) -> bool:
    if value is None or isinstance(value, list):
        return True
    errors.append(FieldError("must be a list", field=field, value=value))
    return False


def _integer(value: Any, field: str, errors: list[FieldError]) -> None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        return  # ASCII digits only: "²".isdigit() is true, but int() refuses it
    errors.append(FieldError("must be an integer", field=field, value=value))


def _objects(value: Any, field: str, errors: list[FieldError]) -> list[Mapping[str, Any]]:
    if not _list(value, field, errors) or value is None:
        return []
    out = []
    for i, item in enumerate(value):
        if _mapping(item, f"{field}[{i}]", errors) and item is not None:
            out.append(item)
    return out


def _metadata(raw: Mapping[str, Any], errors: list[FieldError]) -> None:
    meta = raw.get("metadata")
    if not _mapping(meta, "metadata", errors) or meta is None:
        return
    _string_map(meta.get("annotations"), "metadata.annotations", errors)
    _string_map(meta.get("labels"), "metadata.labels", errors)
    _list(meta.get("finalizers"), "metadata.finalizers", errors)


def service_errors(raw: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    _metadata(raw, errors)
    spec = raw.get("spec")
    if _mapping(spec, "spec", errors) and spec is not None:
        for i, port in enumerate(_objects(spec.get("ports"), "spec.ports", errors)):
            _integer(port.get("port"), f"spec.ports[{i}].port", errors)
            _integer(_get(port, "nodePort", "node_port"), f"spec.ports[{i}].nodePort", errors)
        ranges = _get(spec, "loadBalancerSourceRanges", "load_balancer_source_ranges")
        if _list(ranges, "spec.loadBalancerSourceRanges", errors):
            for i, item in enumerate(ranges or []):
                if not isinstance(item, str):
                    errors.append(
                        FieldError(
                            "must be a string",
                            field=f"spec.loadBalancerSourceRanges[{i}]",
                            value=item,
                        )
                    )
        _integer(
            _get(spec, "healthCheckNodePort", "health_check_node_port"),
            "spec.healthCheckNodePort",
            errors,
        )
        _list(_get(spec, "ipFamilies", "ip_families"), "spec.ipFamilies", errors)
    status = raw.get("status")
    if _mapping(status, "status", errors) and status is not None:
        balancer = _get(status, "loadBalancer", "load_balancer")
        if _mapping(balancer, "status.loadBalancer", errors) and balancer is not None:
            _objects(balancer.get("ingress"), "status.loadBalancer.ingress", errors)
    return errors


def node_errors(raw: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    _metadata(raw, errors)
    spec = raw.get("spec")
    if _mapping(spec, "spec", errors) and spec is not None:
        _objects(spec.get("taints"), "spec.taints", errors)
    status = raw.get("status")
    if _mapping(status, "status", errors) and status is not None:
        _objects(status.get("conditions"), "status.conditions", errors)
        _objects(status.get("addresses"), "status.addresses", errors)
    return errors
