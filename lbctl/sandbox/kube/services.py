"""What the apiserver's Service registry does on top of storing the object.

A load-balancer controller reads values the *server* decides: ``clusterIP``,
each port's ``nodePort`` (its targets on every node), and ``healthCheckNodePort``
for ``externalTrafficPolicy: Local`` (what cloud health checks probe).  So this
module reproduces the registry's defaulting, allocation and validation:

* defaults: ``type: ClusterIP``, port ``protocol: TCP`` and ``targetPort``,
  ``sessionAffinity: None``, ``externalTrafficPolicy``/``internalTrafficPolicy:
  Cluster``, ``ipFamilies: [IPv4]``, ``ipFamilyPolicy: SingleStack``,
  ``allocateLoadBalancerNodePorts: true``, and ``ipMode: VIP`` on ingress entries
  that carry an ``ip`` (LoadBalancerIPMode, on by default since 1.30);
* allocation from ``10.96.0.0/12`` and ``30000-32767`` (requested values are
  honoured; a clash or an out-of-range value is 422), released on delete and
  when the type or traffic policy no longer needs them;
* on update, omitted allocated values are carried over (``patchAllocatedValues``)
  and values a new type cannot have are dropped (``dropTypeDependentFields``),
  so ``kubectl apply``/PUT without ``clusterIP`` or ``nodePort`` keep them;
* the validation errors a controller can trip over, with upstream's wording.

Allocation is deterministic (lowest free value) rather than random, so tests
can predict it; nothing in the API promises either.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from lbctl.sandbox.kube import validation

__all__ = [
    "CLUSTER_IP_RANGE",
    "NODE_PORT_RANGE",
    "Allocator",
    "default_status",
    "prepare",
]

JSON = dict[str, Any]

CLUSTER_IP_RANGE = ipaddress.ip_network("10.96.0.0/12")
NODE_PORT_RANGE = range(30000, 32768)


class Allocator:
    """Cluster IPs and node ports in use, each with its owner (``ns/name``)."""

    def __init__(self) -> None:
        self.ips: dict[str, str] = {str(CLUSTER_IP_RANGE[1]): "default/kubernetes"}
        self.ports: dict[int, str] = {}

    @staticmethod
    def claims(svc: JSON | None) -> tuple[set[str], set[int]]:
        if not svc:
            return set(), set()
        spec = svc.get("spec", {})
        ips = {
            ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip and ip != "None"
        }
        ports = {p["nodePort"] for p in spec.get("ports", []) if p.get("nodePort")}
        if spec.get("healthCheckNodePort"):
            ports.add(spec["healthCheckNodePort"])
        return ips, ports

    def commit(self, owner: str, old: JSON | None, new: JSON | None) -> None:
        """Release what ``old`` held and ``new`` does not; claim what ``new`` holds."""
        old_ips, old_ports = self.claims(old)
        new_ips, new_ports = self.claims(new)
        for ip in old_ips - new_ips:
            if self.ips.get(ip) == owner:
                del self.ips[ip]
        for port in old_ports - new_ports:
            if self.ports.get(port) == owner:
                del self.ports[port]
        self.ips.update(dict.fromkeys(new_ips, owner))
        self.ports.update(dict.fromkeys(new_ports, owner))

    def release(self, owner: str) -> None:
        """Free everything ``owner`` holds (the Service is gone)."""
        self.ips = {ip: o for ip, o in self.ips.items() if o != owner}
        self.ports = {port: o for port, o in self.ports.items() if o != owner}

    def free_ip(self) -> str:
        for host in CLUSTER_IP_RANGE.hosts():
            if str(host) not in self.ips:
                return str(host)
        raise RuntimeError("cluster IP range exhausted")

    def free_port(self, also_taken: set[int]) -> int:
        for port in NODE_PORT_RANGE:
            if port not in self.ports and port not in also_taken:
                return port
        raise RuntimeError("node port range exhausted")


def _needs_cluster_ip(spec: JSON) -> bool:
    return spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None"


def _needs_node_ports(spec: JSON) -> bool:
    kind = spec.get("type")
    return kind == "NodePort" or (
        kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True) is not False
    )


def _needs_health_check(spec: JSON) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def _external(spec: JSON) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


def _carry_over(spec: JSON, old: JSON) -> None:
    """patchAllocatedValues + dropTypeDependentFields of the upstream registry."""
    if _needs_cluster_ip(old) and _needs_cluster_ip(spec):
        if not spec.get("clusterIP"):
            spec["clusterIP"] = old.get("clusterIP")
        if not spec.get("clusterIPs"):
            spec["clusterIPs"] = old.get("clusterIPs")
    elif spec.get("type") == "ExternalName":
        for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if spec.get(key) == old.get(key):
                spec.pop(key, None)
    old_ports = old.get("ports", [])
    if _needs_node_ports(old) and _needs_node_ports(spec):
        used = {p.get("nodePort") for p in spec.get("ports", []) if p.get("nodePort")}
        by_name = {p.get("name", ""): p.get("nodePort") for p in old_ports}
        for port in spec.get("ports", []):
            previous = by_name.get(port.get("name", ""))
            if not port.get("nodePort") and previous and previous not in used:
                port["nodePort"] = previous
    elif not _needs_node_ports(spec) and spec.get("type") != "LoadBalancer":
        old_node_ports = {p.get("nodePort") for p in old_ports}
        for port in spec.get("ports", []):
            if port.get("nodePort") in old_node_ports:
                port.pop("nodePort", None)
    if _needs_health_check(old) and _needs_health_check(spec):
        spec.setdefault("healthCheckNodePort", old.get("healthCheckNodePort"))
    elif spec.get("healthCheckNodePort") == old.get("healthCheckNodePort"):
        spec.pop("healthCheckNodePort", None)
    if not _external(spec) and spec.get("externalTrafficPolicy") == old.get(
        "externalTrafficPolicy"
    ):
        spec.pop("externalTrafficPolicy", None)
    if spec.get("type") != "LoadBalancer":
        for key in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if spec.get(key) == old.get(key):
                spec.pop(key, None)


def _default(spec: JSON) -> None:
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP":
        spec.setdefault("sessionAffinityConfig", {"clientIP": {"timeoutSeconds": 10800}})
    for port in spec.get("ports", []):
        port.setdefault("protocol", "TCP")
        if "port" in port:
            port.setdefault("targetPort", port["port"])
    if spec["type"] == "ExternalName":
        return
    if _external(spec):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")


def _allocate(spec: JSON, owner: str, alloc: Allocator, causes: validation.Causes) -> None:
    if _needs_cluster_ip(spec):
        if not spec.get("clusterIP") and spec.get("clusterIPs"):
            spec["clusterIP"] = spec["clusterIPs"][0]
        requested = spec.get("clusterIP")
        if not requested:
            spec["clusterIP"] = alloc.free_ip()
        else:
            why = _check_ip(requested, owner, alloc)
            if why:
                causes.append(
                    (
                        "spec.clusterIPs",
                        f'Invalid value: ["{requested}"]: failed to allocate IP {requested}: {why}',
                    )
                )
        spec["clusterIPs"] = [spec["clusterIP"]]
    elif spec.get("clusterIP") == "None":
        spec["clusterIPs"] = ["None"]
    # Requested ports first (upstream allocates explicit values before dynamic ones);
    # one port number may serve two protocols of the same Service (DNS on 53/TCP+UDP).
    protocols: dict[int, set[str]] = {}
    hcnp = spec.get("healthCheckNodePort") if _needs_health_check(spec) else None
    for where, wanted, protocol in [
        *(
            (f"spec.ports[{i}].nodePort", p.get("nodePort"), p.get("protocol", "TCP"))
            for i, p in enumerate(spec.get("ports", []))
        ),
        ("spec.healthCheckNodePort", hcnp, "health-check"),
    ]:
        if not wanted:
            continue
        taken = {n for n, used in protocols.items() if protocol in used}
        why = _check_port(wanted, owner, alloc, taken)
        if why:
            causes.append((where, f"Invalid value: {wanted}: {why}"))
        protocols.setdefault(wanted, set()).add(protocol)
    for port in spec.get("ports", []):
        if not port.get("nodePort") and _needs_node_ports(spec):
            port["nodePort"] = alloc.free_port(set(protocols))
            protocols[port["nodePort"]] = {port.get("protocol", "TCP")}
    if _needs_health_check(spec) and not hcnp:
        spec["healthCheckNodePort"] = alloc.free_port(set(protocols))


def _check_ip(ip: str, owner: str, alloc: Allocator) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "must be a valid IP address"
    if address not in CLUSTER_IP_RANGE or address == CLUSTER_IP_RANGE.network_address:
        return (
            f"the provided IP ({ip}) is not in the valid range."
            f" The range of valid IPs is {CLUSTER_IP_RANGE}"
        )
    if alloc.ips.get(ip, owner) != owner:
        return "provided IP is already allocated"
    return ""


def _check_port(port: Any, owner: str, alloc: Allocator, taken: set[int]) -> str:
    if not isinstance(port, int) or port not in NODE_PORT_RANGE:
        return (
            "provided port is not in the valid range."
            f" The range of valid ports is {NODE_PORT_RANGE.start}-{NODE_PORT_RANGE.stop - 1}"
        )
    if alloc.ports.get(port, owner) != owner or port in taken:
        return "provided port is already allocated"
    return ""


def prepare(svc: JSON, old: JSON | None, owner: str, alloc: Allocator) -> validation.Causes:
    """Default, carry over, allocate (tentatively) and validate ``svc`` in place.

    Returns the validation causes; the caller claims the allocations with
    :meth:`Allocator.commit` only once the write is committed.
    """
    spec = svc.setdefault("spec", {})
    if old is not None:
        _carry_over(spec, old.get("spec", {}))
    _default(spec)
    causes = validation.validate_service(svc, old)
    if not causes:
        _allocate(spec, owner, alloc, causes)
    if causes:
        return causes
    default_status(svc)
    return validation.validate_service_status(svc)


def default_status(svc: JSON) -> None:
    """``status.loadBalancer`` is always present; ingress IPs default ``ipMode: VIP``."""
    status = svc.setdefault("status", {})
    balancer = status.setdefault("loadBalancer", {})
    for ingress in balancer.get("ingress") or []:
        if isinstance(ingress, dict) and ingress.get("ip") and "ipMode" not in ingress:
            ingress["ipMode"] = "VIP"
