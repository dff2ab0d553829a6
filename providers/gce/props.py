"""The Compute API's JSON as plan props, normalised so that what is read back compares
equal to what desired() writes: links relative, lists sorted, and a field the API leaves
out at the value the API gives it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from providers.gce.names import relative


def _port_key(value: str) -> tuple[int, str]:
    """Ports and ranges ("80", "8000-8080") in numeric order, as desired() lists them."""
    head = value.split("-", 1)[0]
    return (int(head) if head.isdigit() else 0, value)


def address_props(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": raw.get("name", ""),
        "description": raw.get("description", ""),
        "addressType": raw.get("addressType", "EXTERNAL"),
        "networkTier": raw.get("networkTier", "PREMIUM"),
        "address": raw.get("address", ""),
        "subnetwork": relative(raw.get("subnetwork", "")),
        "purpose": raw.get("purpose", ""),
        "status": raw.get("status", ""),
    }


def firewall_props(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": raw.get("name", ""),
        "description": raw.get("description", ""),
        "network": relative(raw.get("network", "")),
        "allowed": [
            {
                "IPProtocol": rule.get("IPProtocol", ""),
                "ports": sorted(rule.get("ports", []), key=_port_key),
            }
            for rule in raw.get("allowed", [])
        ],
        "sourceRanges": sorted(raw.get("sourceRanges", [])),
        "destinationRanges": sorted(raw.get("destinationRanges", [])),
        "targetTags": sorted(raw.get("targetTags", [])),
    }


def _timings(raw: Mapping[str, Any]) -> dict[str, Any]:
    # The API's defaults when a field is left out.
    return {
        "checkIntervalSec": raw.get("checkIntervalSec", 5),
        "timeoutSec": raw.get("timeoutSec", 5),
        "healthyThreshold": raw.get("healthyThreshold", 2),
        "unhealthyThreshold": raw.get("unhealthyThreshold", 2),
    }


def http_health_check_props(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": raw.get("name", ""),
        "description": raw.get("description", ""),
        "requestPath": raw.get("requestPath", "/"),
        "port": raw.get("port", 80),
        **_timings(raw),
    }


def health_check_props(raw: Mapping[str, Any]) -> dict[str, Any]:
    http = raw.get("httpHealthCheck", {})
    props = {
        "name": raw.get("name", ""),
        "description": raw.get("description", ""),
        "type": raw.get("type", ""),
        "httpHealthCheck": {
            "port": http.get("port", 80),
            "requestPath": http.get("requestPath", "/"),
        },
        **_timings(raw),
    }
    if raw.get("region"):
        props["region"] = relative(raw["region"])
    return props


def backend_service_props(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": raw.get("name", ""),
        "description": raw.get("description", ""),
        "region": relative(raw.get("region", "")),
        "loadBalancingScheme": raw.get("loadBalancingScheme", ""),
        "protocol": raw.get("protocol", ""),
        "sessionAffinity": raw.get("sessionAffinity") or "NONE",
        "healthChecks": [relative(h) for h in raw.get("healthChecks", [])],
        "backends": sorted(
            (
                {
                    "group": relative(b.get("group", "")),
                    "balancingMode": b.get("balancingMode", "CONNECTION"),
                }
                for b in raw.get("backends", [])
            ),
            key=lambda b: str(b["group"]),
        ),
    }


def target_pool_props(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": raw.get("name", ""),
        "description": raw.get("description", ""),
        # Upstream: an unset affinity is not a reason to rebuild the pool.
        "sessionAffinity": raw.get("sessionAffinity") or "NONE",
        "healthChecks": [relative(h) for h in raw.get("healthChecks", [])],
        "instances": sorted(relative(i) for i in raw.get("instances", [])),
    }


def forwarding_rule_props(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": raw.get("name", ""),
        "description": raw.get("description", ""),
        "IPAddress": raw.get("IPAddress", ""),
        "IPProtocol": raw.get("IPProtocol", ""),
        "portRange": raw.get("portRange", ""),
        "ports": sorted(raw.get("ports", []), key=_port_key),
        "allPorts": bool(raw.get("allPorts", False)),
        "target": relative(raw.get("target", "")),
        "backendService": relative(raw.get("backendService", "")),
        "networkTier": raw.get("networkTier", "PREMIUM"),
        "loadBalancingScheme": raw.get("loadBalancingScheme", "EXTERNAL"),
        "subnetwork": relative(raw.get("subnetwork", "")),
        "network": relative(raw.get("network", "")),
        "allowGlobalAccess": bool(raw.get("allowGlobalAccess", False)),
    }


def instance_group_props(raw: Mapping[str, Any], members: Iterable[str]) -> dict[str, Any]:
    return {
        "name": raw.get("name", ""),
        "zone": relative(raw.get("zone", "")),
        "instances": sorted(relative(m) for m in members),
    }
