"""422 ``Invalid`` checks, with the apiserver's field paths and wording.

Only what a load-balancer controller (or its tests) can plausibly get wrong is
checked: object names, label keys and values, finalizer names, the Service spec
fields the registry validates, and ``status.loadBalancer.ingress``.  Each check
returns ``(field, message)`` causes; :func:`exceptions.invalid` renders them as
``Service "web" is invalid: spec.ports[0].port: Invalid value: 0: ...``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

__all__ = ["Causes", "validate_metadata", "validate_service", "validate_service_status"]

JSON = dict[str, Any]
Causes = list[tuple[str, str]]

_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_PROTOCOLS = ("SCTP", "TCP", "UDP")
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(rf"^{_LABEL}$")
DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

_SUBDOMAIN_HELP = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or"
    " '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used"
    " for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_HELP = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and"
    " must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex"
    " used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1035_HELP = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an"
    " alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or"
    " 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def _quote(values: tuple[str, ...]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def _qualified_name_problem(text: str) -> str:
    prefix, _, name = text.rpartition("/")
    if "/" in text and (not prefix or len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return "prefix part " + _SUBDOMAIN_HELP
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        return (
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start"
            " and end with an alphanumeric character"
        )
    return ""


def validate_metadata(meta: JSON, *, name_rule: str) -> Causes:
    """``name_rule`` is ``subdomain``, ``label`` (Namespaces) or ``dns1035`` (Services)."""
    causes: Causes = []
    name = meta.get("name", "")
    if not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    else:
        pattern, help_text, limit = {
            "label": (DNS1123_LABEL, _LABEL_HELP, 63),
            "dns1035": (DNS1035_LABEL, _DNS1035_HELP, 63),
        }.get(name_rule, (DNS1123_SUBDOMAIN, _SUBDOMAIN_HELP, 253))
        if len(name) > limit:
            causes.append(
                (
                    "metadata.name",
                    f'Invalid value: "{name}": must be no more than {limit} characters',
                )
            )
        elif not pattern.match(name):
            causes.append(("metadata.name", f'Invalid value: "{name}": {help_text}'))
    for key, value in (meta.get("labels") or {}).items():
        problem = _qualified_name_problem(str(key))
        if problem:
            causes.append(("metadata.labels", f'Invalid value: "{key}": {problem}'))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(
                (
                    "metadata.labels",
                    f'Invalid value: "{value}": a valid label must be an empty string or consist'
                    " of alphanumeric characters, '-', '_' or '.', and must start and end with an"
                    " alphanumeric character",
                )
            )
    for key in meta.get("annotations") or {}:
        problem = _qualified_name_problem(str(key))
        if problem:
            causes.append(("metadata.annotations", f'Invalid value: "{key}": {problem}'))
    for i, finalizer in enumerate(meta.get("finalizers") or []):
        problem = _qualified_name_problem(str(finalizer))
        if problem:
            causes.append((f"metadata.finalizers[{i}]", f'Invalid value: "{finalizer}": {problem}'))
    return causes


def _ports(spec: JSON, kind: str, causes: Causes) -> None:
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(("spec.ports", "Required value"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        where = f"spec.ports[{i}]"
        name = port.get("name", "")
        if len(ports) > 1 and not name:
            causes.append((f"{where}.name", "Required value"))
        elif name in names:
            causes.append((f"{where}.name", f'Duplicate value: "{name}"'))
        names.add(name)
        number = port.get("port")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            causes.append(
                (
                    f"{where}.port",
                    f"Invalid value: {number}: must be between 1 and 65535, inclusive",
                )
            )
        protocol = port.get("protocol")
        if protocol not in _PROTOCOLS:
            causes.append(
                (
                    f"{where}.protocol",
                    f'Unsupported value: "{protocol}": supported values: {_quote(_PROTOCOLS)}',
                )
            )
        if port.get("nodePort") and kind in ("ClusterIP", "ExternalName"):
            causes.append(
                (f"{where}.nodePort", f"Forbidden: may not be used when `type` is '{kind}'")
            )


def _traffic(spec: JSON, kind: str, causes: Causes) -> None:
    etp = spec.get("externalTrafficPolicy")
    if etp is not None and etp not in ("Cluster", "Local"):
        causes.append(
            (
                "spec.externalTrafficPolicy",
                f'Unsupported value: "{etp}": supported values: "Cluster", "Local"',
            )
        )
    elif etp is not None and kind not in ("NodePort", "LoadBalancer"):
        causes.append(
            (
                "spec.externalTrafficPolicy",
                f'Invalid value: "{etp}": may only be set for externally-accessible services',
            )
        )
    hcnp = spec.get("healthCheckNodePort")
    if hcnp and not (kind == "LoadBalancer" and etp == "Local"):
        causes.append(
            (
                "spec.healthCheckNodePort",
                f"Invalid value: {hcnp}: may only be set when `type` is 'LoadBalancer' and"
                " `externalTrafficPolicy` is 'Local'",
            )
        )
    affinity = spec.get("sessionAffinity")
    if affinity not in ("None", "ClientIP"):
        causes.append(
            (
                "spec.sessionAffinity",
                f'Unsupported value: "{affinity}": supported values: "ClientIP", "None"',
            )
        )
    for i, family in enumerate(spec.get("ipFamilies") or []):
        if family != "IPv4":
            causes.append(
                (
                    f"spec.ipFamilies[{i}]",
                    f'Invalid value: "{family}": not configured on this cluster',
                )
            )


def _load_balancer(spec: JSON, kind: str, old_spec: JSON | None, causes: Causes) -> None:
    ranges = spec.get("loadBalancerSourceRanges") or []
    if ranges and kind != "LoadBalancer":
        causes.append(
            (
                "spec.loadBalancerSourceRanges",
                "Forbidden: may only be used when `type` is 'LoadBalancer'",
            )
        )
    for i, cidr in enumerate(ranges):
        try:
            ipaddress.ip_network(str(cidr).strip(), strict=False)
        except ValueError:
            causes.append(
                (
                    f"spec.loadBalancerSourceRanges[{i}]",
                    f'Invalid value: "{cidr}": must be a valid CIDR value, (e.g. 10.9.8.0/24 or'
                    " 2001:db8::/64)",
                )
            )
    lb_class = spec.get("loadBalancerClass")
    if lb_class is not None and kind != "LoadBalancer":
        causes.append(
            ("spec.loadBalancerClass", "Forbidden: may only be used when `type` is 'LoadBalancer'")
        )
    if (
        old_spec is not None
        and old_spec.get("type") == "LoadBalancer"
        and kind == "LoadBalancer"
        and old_spec.get("loadBalancerClass") != lb_class
    ):
        causes.append(
            ("spec.loadBalancerClass", f'Invalid value: "{lb_class}": may not change once set')
        )


def validate_service(svc: JSON, old: JSON | None) -> Causes:
    """Spec checks of the Service registry (after defaulting, before allocation)."""
    causes = validate_metadata(svc.get("metadata", {}), name_rule="dns1035")
    spec = svc.get("spec", {})
    kind = spec.get("type")
    if kind not in _TYPES:
        causes.append(
            ("spec.type", f'Unsupported value: "{kind}": supported values: {_quote(_TYPES)}')
        )
    if kind == "ExternalName" and not spec.get("externalName"):
        causes.append(("spec.externalName", "Required value"))
    _ports(spec, str(kind), causes)
    _traffic(spec, str(kind), causes)
    old_spec = None if old is None else old.get("spec", {})
    _load_balancer(spec, str(kind), old_spec, causes)
    if old_spec is not None:
        was, now = old_spec.get("clusterIP"), spec.get("clusterIP")
        if was and now and was != now and "ExternalName" not in (kind, old_spec.get("type")):
            causes.append(
                ("spec.clusterIPs[0]", f'Invalid value: ["{now}"]: may not change once set')
            )
    return causes


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def validate_service_status(svc: JSON) -> Causes:
    """``status.loadBalancer.ingress`` checks (``ValidateLoadBalancerStatus``)."""
    causes: Causes = []
    ingresses = svc.get("status", {}).get("loadBalancer", {}).get("ingress") or []
    for i, ingress in enumerate(ingresses):
        where = f"status.loadBalancer.ingress[{i}]"
        ip, host, mode = ingress.get("ip"), ingress.get("hostname"), ingress.get("ipMode")
        if ip and not _is_ip(ip):
            causes.append((f"{where}.ip", f'Invalid value: "{ip}": must be a valid IP address'))
        if host and _is_ip(host):
            causes.append(
                (
                    f"{where}.hostname",
                    f'Invalid value: "{host}": must be a DNS name, not an IP address',
                )
            )
        elif host and not DNS1123_SUBDOMAIN.match(host):
            causes.append((f"{where}.hostname", f'Invalid value: "{host}": {_SUBDOMAIN_HELP}'))
        if mode is not None and not ip:
            causes.append((f"{where}.ipMode", "Forbidden: may not be specified when `ip` is not"))
        elif mode is not None and mode not in ("VIP", "Proxy"):
            causes.append(
                (
                    f"{where}.ipMode",
                    f'Unsupported value: "{mode}": supported values: "Proxy", "VIP"',
                )
            )
        for j, port in enumerate(ingress.get("ports") or []):
            if port.get("protocol") not in _PROTOCOLS:
                causes.append(
                    (
                        f"{where}.ports[{j}].protocol",
                        f'Unsupported value: "{port.get("protocol")}": supported values:'
                        f" {_quote(_PROTOCOLS)}",
                    )
                )
    return causes
