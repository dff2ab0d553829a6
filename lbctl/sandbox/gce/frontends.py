"""Regional addresses and forwarding rules, and where their IPs come from.

External IPs come from documentation ranges standing in for Google's pools:
``203.0.113.0/24`` for the PREMIUM tier and ``198.51.100.0/24`` for STANDARD.
Internal IPs come from the subnetwork's range, skipping the four addresses GCE
keeps (network, gateway, the second-to-last and broadcast) and any address a
resource already holds.

Addresses follow the API's life cycle: ``status`` is ``IN_USE`` (with ``users``)
while a forwarding rule in the region holds the IP, else ``RESERVED``. Both are
derived on every read. Deleting an address that a forwarding rule uses is allowed,
as in GCE: the rule keeps the IP as an ephemeral one (upstream's controller relies
on this when it "releases" the address after creating the rule). An external
address may be reserved with an explicit ``address`` only to promote a
forwarding rule's ephemeral IP, the way upstream keeps an IP across a rule's
re-creation.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from lbctl.sandbox.gce.exceptions import ComputeError, InvalidValue, IpInUse, Required
from lbctl.sandbox.gce.fields import Draft, KindSpec, Record, plain_render, port_range

if TYPE_CHECKING:
    from lbctl.sandbox.gce.models import ComputeBackend

EXTERNAL_POOLS = {"PREMIUM": "203.0.113.0/24", "STANDARD": "198.51.100.0/24"}
TIERS = ("PREMIUM", "STANDARD")
SCHEMES = ("EXTERNAL", "EXTERNAL_MANAGED", "INTERNAL", "INTERNAL_MANAGED", "INTERNAL_SELF_MANAGED")
PASSTHROUGH = ("EXTERNAL", "INTERNAL")
_PORTED = ("TCP", "UDP", "SCTP")


def _is_ip(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def holders(backend: ComputeBackend, ip: str) -> list[Record]:
    """Every address, forwarding rule and instance holding ``ip``."""
    found = [r for r in backend.records("addresses") if r.get("address") == ip]
    found += [r for r in backend.records("forwardingRules") if r.get("IPAddress") == ip]
    for instance in backend.records("instances"):
        if any(nic.get("networkIP") == ip for nic in instance.get("networkInterfaces", [])):
            found.append(instance)
    return found


def allocate(backend: ComputeBackend, cidr: str) -> str:
    network = ipaddress.ip_network(cidr)
    taken = {str(r.get("address") or r.get("IPAddress")) for r in backend.records("addresses")}
    taken |= {str(r.get("IPAddress")) for r in backend.records("forwardingRules")}
    for instance in backend.records("instances"):
        taken |= {str(nic.get("networkIP")) for nic in instance.get("networkInterfaces", [])}
    hosts = list(network.hosts())
    for host in hosts[1:-1]:
        if str(host) not in taken:
            return str(host)
    raise ComputeError(f"IP space of '{cidr}' is exhausted.", reason="ipSpaceExhausted")


def default_subnetwork(d: Draft, network: str | None) -> Record | None:
    """The region's only subnetwork of ``network`` (``default`` when unset), if just one.

    As in GCE, a network with several subnetworks in the region (custom mode) needs
    ``subnetwork`` spelled out.
    """
    network = network or d.backend.link(f"projects/{d.scope.project}/global/networks/default")
    subnets = d.backend.records("subnetworks", under=f"{d.scope.path}/")
    mine = [subnet for subnet in subnets if subnet.get("network") == network]
    return mine[0] if len(mine) == 1 else None


def _subnetwork(d: Draft) -> Record:
    """Resolve (or default) ``network`` and ``subnetwork``; both end up in ``d.out``."""
    network = d.link("network", collections=("networks",))
    link = d.link("subnetwork", collections=("subnetworks",))
    subnet = d.backend.deref(link) if link else None
    if link and not link.startswith(d.backend.link(d.scope.path + "/")):
        raise InvalidValue("resource.subnetwork", link, "Must be in the resource's region.")
    subnet = subnet or default_subnetwork(d, network)
    if subnet is None:
        raise Required("resource.subnetwork")
    if network and subnet["network"] != network:
        raise InvalidValue("resource.subnetwork", subnet["selfLink"], "Not in the given network.")
    d.out["network"], d.out["subnetwork"] = subnet["network"], subnet["selfLink"]
    return subnet


def _in_subnet(ip: str, subnet: Record) -> bool:
    return ipaddress.IPv4Address(ip) in ipaddress.ip_network(subnet["ipCidrRange"])


# -- addresses -----------------------------------------------------------------------


def prepare_address(d: Draft) -> Record:
    d.text("description")
    kind = d.text("addressType", default="EXTERNAL", choices=("EXTERNAL", "INTERNAL"))
    d.text("ipVersion", choices=("IPV4",))
    requested = d.body.get("address")
    if requested is not None and (not isinstance(requested, str) or not _is_ip(requested)):
        raise InvalidValue("resource.address", requested, "Must be an IPv4 address.")
    users = holders(d.backend, requested) if requested else []
    if any(r["kind"] == "compute#address" for r in users):
        raise IpInUse(str(requested))
    if kind == "EXTERNAL":
        tier = str(d.text("networkTier", default="PREMIUM", choices=TIERS))
        if d.body.get("subnetwork"):
            raise InvalidValue("resource.subnetwork", d.body["subnetwork"], "Only for INTERNAL.")
        if requested:
            rules = [r for r in users if r["kind"] == "compute#forwardingRule"]
            if not rules or rules[0]["region"] != d.backend.link(d.scope.path):
                raise InvalidValue("resource.address", requested, "IP address is not available.")
            if rules[0].get("networkTier") != tier:
                raise InvalidValue("resource.networkTier", tier, "Does not match the IP's tier.")
        d.out["address"] = requested or allocate(d.backend, EXTERNAL_POOLS[tier])
    else:
        d.text(
            "purpose", default="GCE_ENDPOINT", choices=("GCE_ENDPOINT", "SHARED_LOADBALANCER_VIP")
        )
        named_network = bool(d.body.get("network"))
        subnet = _subnetwork(d)
        if not named_network:
            del d.out["network"]
        if requested and not _in_subnet(requested, subnet):
            raise InvalidValue("resource.address", requested, "Outside the subnetwork's range.")
        if any(r["kind"] == "compute#instance" for r in users):
            raise IpInUse(str(requested))
        d.out["address"] = requested or allocate(d.backend, subnet["ipCidrRange"])
    d.out["addressType"] = kind
    d.copy_rest()
    return d.out


def render_address(backend: ComputeBackend, record: Record) -> Record:
    out = plain_render(backend, record)
    users = [
        str(rule["selfLink"])
        for rule in backend.records("forwardingRules")
        if rule.get("region") == record.get("region") and rule.get("IPAddress") == out["address"]
    ]
    out["status"] = "IN_USE" if users else "RESERVED"
    if users:
        out["users"] = users
    return out


# -- forwarding rules ----------------------------------------------------------------


def _ports(d: Draft, scheme: str, protocol: str, by_pool: bool) -> None:
    ports = d.texts("ports")
    span = d.text("portRange")
    every = d.flag("allPorts")
    if sum((bool(ports), bool(span), bool(every))) > 1:
        raise InvalidValue(
            "resource.ports", ",".join(ports), "Set one of ports, portRange, allPorts."
        )
    if protocol not in _PORTED and (ports or span):
        raise InvalidValue("resource.IPProtocol", protocol, "This protocol takes no ports.")
    if len(ports) > 5:
        raise InvalidValue("resource.ports", ",".join(ports), "At most 5 ports may be specified.")
    for i, port in enumerate(ports):
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise InvalidValue(f"resource.ports[{i}]", port, "Must be a port number.")
    if span:
        port_range(span, "resource.portRange")
    if ports and by_pool:
        raise InvalidValue("resource.ports", ",".join(ports), "Target pools take a portRange.")
    if scheme == "INTERNAL":
        if span:
            raise InvalidValue("resource.portRange", span, "Use ports or allPorts for INTERNAL.")
        if protocol in _PORTED and not ports and not every:
            raise InvalidValue("resource.ports", "", "INTERNAL rules need ports or allPorts.")
    elif protocol in _PORTED and not (ports or span or every):
        d.out["portRange"] = "1-65535"


def _address_by_reference(d: Draft, value: str) -> Record:
    if "/" not in value:
        value = f"{d.scope.path}/addresses/{value}"
    link = d.backend.resolve(
        value, field="resource.IPAddress", scope=d.scope, collections=("addresses",)
    )
    return d.backend.deref(link)


def _ip(d: Draft, scheme: str, tier: str, subnet: Record | None) -> str:
    """The rule's IP: a literal, an address reference, or a fresh ephemeral one."""
    requested = d.body.get("IPAddress")
    if requested in (None, ""):
        pool = subnet["ipCidrRange"] if subnet else EXTERNAL_POOLS[tier]
        return allocate(d.backend, pool)
    if not isinstance(requested, str):
        raise InvalidValue("resource.IPAddress", requested, "Expected a string.")
    region = d.backend.link(d.scope.path)
    address = None if _is_ip(requested) else _address_by_reference(d, requested)
    ip = str(address["address"]) if address else requested
    others = holders(d.backend, ip)
    if address is None:
        found = [r for r in others if r["kind"] == "compute#address" and r["region"] == region]
        address = found[0] if found else None
    if subnet is None:
        if address is None or address["addressType"] != "EXTERNAL":
            raise InvalidValue("resource.IPAddress", requested, "Not a reserved external IP.")
        if address.get("networkTier", "PREMIUM") != tier:
            raise InvalidValue("resource.networkTier", tier, "Does not match the address's tier.")
        return ip
    if not _in_subnet(ip, subnet) or (address and address["addressType"] != "INTERNAL"):
        raise InvalidValue("resource.IPAddress", requested, "Not in the rule's subnetwork.")
    shared = address is not None and address.get("purpose") == "SHARED_LOADBALANCER_VIP"
    if any(r["kind"] != "compute#address" for r in others) and not shared:
        raise IpInUse(ip)
    return ip


def prepare_forwarding_rule(d: Draft) -> Record:
    d.text("description")
    scheme = str(d.text("loadBalancingScheme", default="EXTERNAL", choices=SCHEMES))
    if scheme not in PASSTHROUGH:
        raise InvalidValue("resource.loadBalancingScheme", scheme, "Sandbox: passthrough only.")
    protocol = str(
        d.text(
            "IPProtocol",
            default="TCP",
            choices=("TCP", "UDP", "ESP", "AH", "SCTP", "ICMP", "L3_DEFAULT"),
        )
    )
    pool = d.link("target", collections=("targetPools",))
    service = d.link("backendService", collections=("backendServices",))
    if bool(pool) == bool(service):
        raise InvalidValue(
            "resource.target", pool or "", "Set exactly one of target, backendService."
        )
    here = d.backend.link(d.scope.path + "/")
    if not str(pool or service).startswith(here):
        raise InvalidValue("resource.target", pool or service, "Must be in the rule's region.")
    if pool and scheme == "INTERNAL":
        raise InvalidValue("resource.target", pool, "INTERNAL rules use a backendService.")
    if service:
        backend = d.backend.deref(service)
        if backend["loadBalancingScheme"] != scheme:
            raise InvalidValue("resource.backendService", service, "Scheme does not match.")
        if backend.get("protocol") not in ("UNSPECIFIED", protocol):
            raise InvalidValue(
                "resource.IPProtocol", protocol, "Does not match the backend service."
            )
    _ports(d, scheme, protocol, by_pool=bool(pool))
    if d.flag("allowGlobalAccess") and scheme != "INTERNAL":
        raise InvalidValue("resource.allowGlobalAccess", "true", "Only for INTERNAL.")
    subnet: Record | None = None
    if scheme == "INTERNAL":
        subnet = _subnetwork(d)
        d.out["networkTier"] = "PREMIUM"
        tier = "PREMIUM"
    else:
        for key in ("network", "subnetwork"):
            if d.body.get(key):
                raise InvalidValue(f"resource.{key}", d.body[key], "Only for INTERNAL.")
        tier = str(d.text("networkTier", default="PREMIUM", choices=TIERS))
    d.text("ipVersion", choices=("IPV4",))
    d.out["IPAddress"] = _ip(d, scheme, tier, subnet)
    d.copy_rest()
    return d.out


def forwarding_rule_refs(record: Record) -> list[str]:
    return [str(record[key]) for key in ("target", "backendService") if record.get(key)]


_ADDRESS_FIELDS = """address addressType creationTimestamp description id ipCollection ipVersion
    ipv6EndpointType kind labelFingerprint labels name network networkTier prefixLength purpose
    region selfLink status subnetwork users"""
_RULE_FIELDS = """IPAddress IPProtocol allPorts allowGlobalAccess allowPscGlobalAccess
    backendService creationTimestamp description fingerprint id ipVersion isMirroringCollector kind
    labelFingerprint labels loadBalancingScheme name network networkTier portRange ports region
    selfLink serviceLabel serviceName sourceIpRanges subnetwork target"""

ADDRESSES = KindSpec(
    collection="addresses",
    kind="compute#address",
    scopes=frozenset({"regions"}),
    fields=frozenset(_ADDRESS_FIELDS.split()),
    prepare=prepare_address,
    render=render_address,
    output_only=frozenset({"status", "users", "labelFingerprint"}),
)
FORWARDING_RULES = KindSpec(
    collection="forwardingRules",
    kind="compute#forwardingRule",
    scopes=frozenset({"regions"}),
    fields=frozenset(_RULE_FIELDS.split()),
    prepare=prepare_forwarding_rule,
    refs=forwarding_rule_refs,
    fingerprinted=True,
    output_only=frozenset({"labelFingerprint"}),
)
