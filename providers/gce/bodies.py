"""The Compute API request body of each kind, built from its plan props (pure).

Plan props keep links relative and may hold KNOWN_AFTER_APPLY; a body carries absolute
URLs (`url`, which is `Links.url`) and the IP as it is known by the time of the write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lbctl.model import KNOWN_AFTER_APPLY
from providers.gce.client import GCEError
from providers.gce.desired import HC_TIMINGS

Url = Callable[[str], str]


def _pick(props: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: props[k] for k in keys if k in props}


def resolve(value: Any, ip: str) -> Any:
    """`value` with KNOWN_AFTER_APPLY replaced by the IP, in every string it holds."""
    if isinstance(value, str) and KNOWN_AFTER_APPLY in value:
        if not ip:
            raise GCEError("apply", "the load balancer's IP is not known")
        return value.replace(KNOWN_AFTER_APPLY, ip)
    if isinstance(value, list):
        return [resolve(v, ip) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, ip) for k, v in value.items()}
    return value


def address(props: Mapping[str, Any], url: Url) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": props["name"],
        "description": props["description"],
        "addressType": props["addressType"],
    }
    if props["addressType"] == "EXTERNAL":
        body["networkTier"] = props["networkTier"]
    else:
        body["subnetwork"] = url(props["subnetwork"])
    # A known IP (the forwarding rule's, or loadBalancerIP) is reserved as it is.
    if props.get("address") not in (None, "", KNOWN_AFTER_APPLY):
        body["address"] = props["address"]
    return body


def firewall(props: Mapping[str, Any], ip: str, url: Url) -> dict[str, Any]:
    resolved = resolve(dict(props), ip)
    body: dict[str, Any] = {
        "name": resolved["name"],
        "description": resolved["description"],
        "network": url(resolved["network"]),
        "direction": "INGRESS",
        "allowed": resolved["allowed"],
        "sourceRanges": resolved["sourceRanges"],
        "targetTags": resolved["targetTags"],
    }
    if resolved.get("destinationRanges"):
        body["destinationRanges"] = resolved["destinationRanges"]
    return body


def http_health_check(props: Mapping[str, Any]) -> dict[str, Any]:
    return _pick(props, "name", "description", "requestPath", "port", *HC_TIMINGS)


def health_check(props: Mapping[str, Any]) -> dict[str, Any]:
    return _pick(props, "name", "description", "type", "httpHealthCheck", *HC_TIMINGS)


def instance_group(name: str, network: str, url: Url) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if network:
        body["network"] = url(network)
    return body


def backend_service(props: Mapping[str, Any], url: Url) -> dict[str, Any]:
    return {
        "name": props["name"],
        "description": props["description"],
        "loadBalancingScheme": props["loadBalancingScheme"],
        "protocol": props["protocol"],
        "sessionAffinity": props["sessionAffinity"],
        "healthChecks": [url(h) for h in props["healthChecks"]],
        "backends": [
            {"group": url(b["group"]), "balancingMode": b["balancingMode"]}
            for b in props["backends"]
        ],
    }


def target_pool(props: Mapping[str, Any], instances: Sequence[str], url: Url) -> dict[str, Any]:
    """The pool with `instances`: upstream creates it with only the first ones."""
    return {
        "name": props["name"],
        "description": props["description"],
        "sessionAffinity": props["sessionAffinity"],
        "healthChecks": [url(h) for h in props["healthChecks"]],
        "instances": [url(i) for i in instances],
    }


def forwarding_rule(props: Mapping[str, Any], ip: str, url: Url) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": props["name"],
        "description": props["description"],
        "IPProtocol": props["IPProtocol"],
        "loadBalancingScheme": props["loadBalancingScheme"],
    }
    wanted = ip if props.get("IPAddress") == KNOWN_AFTER_APPLY else props.get("IPAddress")
    if wanted:
        body["IPAddress"] = wanted
    for key in ("target", "backendService", "network", "subnetwork"):
        if props.get(key):
            body[key] = url(props[key])
    for key in ("portRange", "networkTier"):
        if props.get(key):
            body[key] = props[key]
    if props.get("allPorts"):
        body["allPorts"] = True
    elif props.get("ports"):
        body["ports"] = list(props["ports"])
    if props.get("allowGlobalAccess"):
        body["allowGlobalAccess"] = True
    return body
