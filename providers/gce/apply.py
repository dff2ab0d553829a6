"""Every GCE write of one Service's plan, one handler per kind, in plan order.

- The IP: an address `<lb>` is reserved (or the forwarding rule's ephemeral IP promoted)
  before anything that needs the IP, and released once the forwarding rule holds it —
  for internal balancers also when the apply fails, for external ones only after the
  rule exists (a failed attempt keeps the IP for the next one), as upstream does.
- A replaced target pool or backend service first deletes the forwarding rule that points
  at it (the plan shows that rule as re-created).
- Shared resources (node health checks, their firewalls, instance groups): a create that
  finds the resource (409) checks it is this cluster's and brings it up to date; a delete
  that finds it still in use leaves it, and then leaves its firewall too.
- Firewalls: a 403 is not fatal (Shared VPC: the network's project belongs to someone
  else); the plan gets a warning with the gcloud command a network admin must run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lbctl.errors import NotOwned
from lbctl.model import KNOWN_AFTER_APPLY, Ingress
from lbctl.plan import Change, Op, ServicePlan
from lbctl.provider import Observed
from providers.gce import desired as D
from providers.gce import gcloud, names
from providers.gce.client import GCEClient, GCEError
from providers.gce.legacy import HttpHealthChecks
from providers.gce.names import Links, relative

TARGET_POOL_CREATE_MAX = 200  # upstream maxTargetPoolCreateInstances
INSTANCE_BATCH = 1000  # upstream maxInstancesPerTargetPoolUpdate
TIMING_KEYS = tuple(D.HC_TIMINGS)


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class Applier:
    def __init__(self, client: GCEClient, cluster_id: str, plan: ServicePlan, observed: Observed):
        self.client = client
        self.cid = cluster_id
        self.plan = plan
        self.key = plan.service
        self.lb = plan.load_balancer_name
        self.links = Links(client.project, client.region, client.network_project, client.base)
        self.http = HttpHealthChecks(client)
        self.owned = {r.ref: r for r in observed.owned(plan.service)}
        self.ingress = list(observed.ingress.get(plan.service, []))
        self.ip = ""
        self.rule_ip = ""
        self.rule_gone = False
        self.held = False  # an address <lb> of this Service holds the IP
        self.held_internal = False
        self.kept_checks: set[str] = set()

    # --- the whole plan --------------------------------------------------------------------

    def apply(self) -> list[Ingress]:
        rule = self.owned.get((D.FORWARDING_RULE, self.lb))
        if rule is not None:
            self.ip = self.rule_ip = str(rule.props.get("IPAddress", ""))
        address = self.owned.get((D.ADDRESS, self.lb))
        dropped = {(c.kind, c.name) for c in self.plan.changes if c.op is Op.DELETE}
        if address is not None and (D.ADDRESS, self.lb) not in dropped:
            self.ip = str(address.props.get("address", "")) or self.ip
            self.held = True
            self.held_internal = address.props.get("addressType") == "INTERNAL"
        handlers: dict[str, Callable[[Change], None]] = {
            D.ADDRESS: self._address,
            D.FIREWALL: self._firewall,
            D.HTTP_HEALTH_CHECK: self._http_health_check,
            D.HEALTH_CHECK: self._health_check,
            D.INSTANCE_GROUP: self._instance_group,
            D.BACKEND_SERVICE: self._backend_service,
            D.TARGET_POOL: self._target_pool,
            D.FORWARDING_RULE: self._forwarding_rule,
        }
        done = False
        try:
            for change in self.plan.changes:
                handlers[change.kind](change)
            done = True
        finally:
            self._release(done)
        return self.ingress

    def _release(self, done: bool) -> None:
        """Give the IP back to the forwarding rule (it stays, ephemeral)."""
        if not self.held or not (self.held_internal or (done and self.rule_ip)):
            return
        try:
            self._delete("addresses", self.lb)
            self.held = False
        except GCEError:
            if done:
                raise
            # The apply already failed; that error is the one to report.

    def _warn(self, command: str) -> None:
        self.plan.warnings.append(gcloud.change_required(command))

    # --- helpers ---------------------------------------------------------------------------

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, str) and KNOWN_AFTER_APPLY in value:
            if not self.ip:
                raise GCEError("apply", "the load balancer's IP is not known")
            return value.replace(KNOWN_AFTER_APPLY, self.ip)
        if isinstance(value, list):
            return [self._resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: self._resolve(v) for k, v in value.items()}
        return value

    def _url(self, link: str) -> str:
        return self.links.url(link)

    def _delete(
        self, collection: str, name: str, *, location: str | None = None, in_use_ok: bool = False
    ) -> bool:
        """Delete; False when it was still in use (and that is acceptable)."""
        try:
            self.client.delete(collection, name, location=location)
        except GCEError as e:
            if e.not_found:
                return True
            if in_use_ok and e.in_use:
                return False
            raise
        return True

    def _check_owner(self, kind: str, name: str, raw: Mapping[str, Any], *, shared: bool) -> None:
        desc = str(raw.get("description", ""))
        node = names.nodes_health_check_name(self.cid)
        ok = (
            names.owned_by_name(desc, allowed=(node, self.lb), cluster_id=self.cid)
            if shared
            else names.owned_by_service(desc, self.key)
        )
        if not ok:
            raise NotOwned(kind, name, f"description {desc!r}; lbctl will not change it")

    def _drop_rule(self) -> None:
        """Delete the forwarding rule before what it points at is replaced."""
        if not self.rule_gone and (D.FORWARDING_RULE, self.lb) in self.owned:
            self._delete("forwardingRules", self.lb)
            self.rule_gone = True
            self.rule_ip = ""

    # --- address ---------------------------------------------------------------------------

    def _address(self, change: Change) -> None:
        if change.op in (Op.DELETE, Op.REPLACE):
            self._delete("addresses", change.name)
            self.held = False
        if change.op not in (Op.CREATE, Op.REPLACE):
            return
        assert change.desired is not None
        props = change.desired.props
        body: dict[str, Any] = {
            "name": props["name"],
            "description": props["description"],
            "addressType": props["addressType"],
        }
        if props["addressType"] == "EXTERNAL":
            body["networkTier"] = props["networkTier"]
        else:
            body["subnetwork"] = self._url(props["subnetwork"])
        if props.get("address") not in (None, "", KNOWN_AFTER_APPLY):
            body["address"] = props["address"]
        try:
            self.client.insert("addresses", body)
        except GCEError as e:
            if not e.conflict:
                raise
            existing = self.client.get("addresses", change.name)
            self._check_owner(D.ADDRESS, change.name, existing, shared=False)
        found = self.client.get("addresses", change.name)
        self.ip = str(found.get("address", ""))
        self.held = True
        self.held_internal = props["addressType"] == "INTERNAL"

    # --- firewalls -------------------------------------------------------------------------

    def _firewall_body(self, props: Mapping[str, Any]) -> dict[str, Any]:
        resolved = self._resolve(dict(props))
        body: dict[str, Any] = {
            "name": resolved["name"],
            "description": resolved["description"],
            "network": self._url(resolved["network"]),
            "direction": "INGRESS",
            "allowed": resolved["allowed"],
            "sourceRanges": resolved["sourceRanges"],
            "targetTags": resolved["targetTags"],
        }
        if resolved.get("destinationRanges"):
            body["destinationRanges"] = resolved["destinationRanges"]
        return body

    def _firewall(self, change: Change) -> None:
        project = self.client.network_project
        if change.op is Op.DELETE:
            check = names.health_check_of_firewall(change.name, self.cid, self.lb)
            if check is not None and check in self.kept_checks:
                return  # its health check is still in use, so are the probes
            try:
                self._delete("firewalls", change.name)
            except GCEError as e:
                if not e.forbidden:
                    raise
                self._warn(gcloud.delete_command(change.name, project))
            return
        assert change.desired is not None
        body = self._firewall_body(change.desired.props)
        # The traffic and external Local check firewalls carry the Service in their
        # description; the others carry their mark in the name.
        shared = change.name not in (
            names.firewall_name(self.lb),
            names.external_hc_firewall_name(self.cid, self.lb, False),
        )
        try:
            if change.op is Op.UPDATE:
                self.client.update("firewalls", change.name, body)
                return
            if change.op is Op.REPLACE:
                self._delete("firewalls", change.name)
            try:
                self.client.insert("firewalls", body)
            except GCEError as e:
                if not e.conflict:
                    raise
                existing = self.client.get("firewalls", change.name)
                self._check_owner(D.FIREWALL, change.name, existing, shared=shared)
                self.client.update("firewalls", change.name, body)
        except GCEError as e:
            if not e.forbidden:
                raise
            command = (
                gcloud.update_command(body, project)
                if change.op is Op.UPDATE
                else gcloud.create_command(body, project)
            )
            self._warn(command)

    # --- health checks -----------------------------------------------------------------------

    def _http_health_check(self, change: Change) -> None:
        if change.op in (Op.DELETE, Op.REPLACE) and not self.http_delete(change.name):
            return
        if change.desired is None:
            return
        props = change.desired.props
        body = {
            k: props[k]
            for k in ("name", "description", "requestPath", "port", *TIMING_KEYS)
            if k in props
        }
        if change.op is Op.UPDATE:
            self.http.update(change.name, body)
            return
        try:
            self.http.insert(body)
        except GCEError as e:
            if not e.conflict:
                raise
            found = [h for h in self.http.list_all() if h.get("name") == change.name]
            existing = found[0] if found else {"description": ""}
            self._check_owner(D.HTTP_HEALTH_CHECK, change.name, existing, shared=True)
            self.http.update(change.name, body)

    def http_delete(self, name: str) -> bool:
        try:
            self.http.delete(name)
        except GCEError as e:
            if e.in_use:
                self.kept_checks.add(name)
                return False
            if not e.not_found:
                raise
        return True

    def _health_check(self, change: Change) -> None:
        regional = "/" in change.name
        name = change.name.split("/", 1)[1] if regional else change.name
        collection = "regionHealthChecks" if regional else "healthChecks"
        if change.op in (Op.DELETE, Op.REPLACE) and not self._delete(
            collection, name, in_use_ok=True
        ):
            self.kept_checks.add(name)
            return
        if change.desired is None:
            return
        props = change.desired.props
        body = {
            k: props[k]
            for k in ("name", "description", "type", "httpHealthCheck", *TIMING_KEYS)
            if k in props
        }
        if change.op is Op.UPDATE:
            self.client.update(collection, name, body)
            return
        try:
            self.client.insert(collection, body)
        except GCEError as e:
            if not e.conflict:
                raise
            existing = self.client.get(collection, name)
            self._check_owner(D.HEALTH_CHECK, change.name, existing, shared=name != self.lb)
            self.client.update(collection, name, body)

    # --- instance groups ---------------------------------------------------------------------

    def _instance_group(self, change: Change) -> None:
        zone, name = change.name.split("/", 1)
        if change.op in (Op.DELETE, Op.REPLACE):
            self._delete("instanceGroups", name, location=zone, in_use_ok=True)
        if change.desired is None:
            return
        want = list(change.desired.props["instances"])
        if change.op in (Op.CREATE, Op.REPLACE):
            body: dict[str, Any] = {"name": name}
            network = self._group_network()
            if network:
                body["network"] = self._url(network)
            try:
                self.client.insert("instanceGroups", body, location=zone)
                have: list[str] = []
            except GCEError as e:
                if not e.conflict:
                    raise
                existing = self.client.get("instanceGroups", name, location=zone)
                self._check_owner(D.INSTANCE_GROUP, change.name, existing, shared=True)
                have = self.client.list_group_instances(zone, name)
        else:
            # Shared: another Service of this run may have changed it since observe.
            have = self.client.list_group_instances(zone, name)
        current = {relative(h) for h in have}
        self._members(
            "instanceGroups",
            name,
            zone,
            add=[i for i in want if i not in current],
            remove=sorted(current - set(want)),
            verbs=("add_instances", "remove_instances"),
        )

    def _group_network(self) -> str:
        for change in self.plan.changes:
            if change.kind == D.FIREWALL and change.desired is not None:
                return str(change.desired.props.get("network", ""))
        for res in self.owned.values():
            if res.kind == D.FIREWALL:
                return str(res.props.get("network", ""))
        return ""

    def _members(
        self,
        collection: str,
        name: str,
        location: str | None,
        *,
        add: Sequence[str],
        remove: Sequence[str],
        verbs: tuple[str, str],
    ) -> None:
        for verb, items in ((verbs[0], add), (verbs[1], remove)):
            for chunk in _chunks(list(items), INSTANCE_BATCH):
                body = {"instances": [{"instance": self._url(i)} for i in chunk]}
                self.client.action(collection, name, verb, body, location=location)

    # --- backend service ---------------------------------------------------------------------

    def _backend_body(self, props: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "name": props["name"],
            "description": props["description"],
            "loadBalancingScheme": props["loadBalancingScheme"],
            "protocol": props["protocol"],
            "sessionAffinity": props["sessionAffinity"],
            "healthChecks": [self._url(h) for h in props["healthChecks"]],
            "backends": [
                {"group": self._url(b["group"]), "balancingMode": b["balancingMode"]}
                for b in props["backends"]
            ],
        }

    def _backend_service(self, change: Change) -> None:
        if change.op in (Op.DELETE, Op.REPLACE):
            if change.op is Op.REPLACE:
                self._drop_rule()
            self._delete("regionBackendServices", change.name, in_use_ok=True)
        if change.desired is None:
            return
        body = self._backend_body(change.desired.props)
        if change.op is Op.UPDATE:
            self._update_backend(change.name, body)
            return
        try:
            self.client.insert("regionBackendServices", body)
        except GCEError as e:
            if not e.conflict:
                raise
            existing = self.client.get("regionBackendServices", change.name)
            self._check_owner(D.BACKEND_SERVICE, change.name, existing, shared=False)
            self._update_backend(change.name, body)

    def _update_backend(self, name: str, body: dict[str, Any]) -> None:
        for attempt in range(3):
            current = self.client.get("regionBackendServices", name)
            try:
                self.client.update(
                    "regionBackendServices",
                    name,
                    {**body, "fingerprint": current.get("fingerprint", "")},
                )
                return
            except GCEError as e:
                if e.status != 412 or attempt == 2:
                    raise

    # --- target pool -----------------------------------------------------------------------

    def _target_pool(self, change: Change) -> None:
        if change.op in (Op.DELETE, Op.REPLACE):
            if change.op is Op.REPLACE:
                self._drop_rule()
            self._delete("targetPools", change.name)
        if change.desired is None:
            return
        props = change.desired.props
        want = list(props["instances"])
        if change.op is Op.UPDATE:
            assert change.observed is not None
            have = set(change.observed.props.get("instances", []))
            self._pool_members(change.name, want, have)
            return
        body = {
            "name": props["name"],
            "description": props["description"],
            "sessionAffinity": props["sessionAffinity"],
            "healthChecks": [self._url(h) for h in props["healthChecks"]],
            "instances": [self._url(i) for i in want[:TARGET_POOL_CREATE_MAX]],
        }
        try:
            self.client.insert("targetPools", body)
            have = set(want[:TARGET_POOL_CREATE_MAX])
        except GCEError as e:
            if not e.conflict:
                raise
            existing = self.client.get("targetPools", change.name)
            self._check_owner(D.TARGET_POOL, change.name, existing, shared=False)
            have = {relative(i) for i in existing.get("instances", [])}
        if set(want) != have:
            self._pool_members(change.name, want, have)

    def _pool_members(self, name: str, want: Sequence[str], have: set[str]) -> None:
        self._members(
            "targetPools",
            name,
            None,
            add=[i for i in want if i not in have],
            remove=sorted(have - set(want)),
            verbs=("add_instance", "remove_instance"),
        )
        # Upstream verifies the count (kubernetes#11327 removed every node once).
        pool = self.client.get("targetPools", name)
        count = len(pool.get("instances", []))
        if count != len(want):
            raise GCEError(
                "targetPools:get",
                f"unexpected number of instances ({count}) in target pool {name} after "
                f"update (expected {len(want)})",
            )

    # --- forwarding rule -------------------------------------------------------------------

    def _forwarding_rule(self, change: Change) -> None:
        if change.op is Op.DELETE or (change.op is Op.REPLACE and not self.rule_gone):
            self._delete("forwardingRules", change.name)
            self.rule_gone = True
            self.rule_ip = ""
            if change.op is Op.DELETE:
                self.ingress = []
                return
        assert change.desired is not None
        if change.op is Op.UPDATE:  # every prop is immutable; nothing to do in place
            return
        props = change.desired.props
        body: dict[str, Any] = {
            "name": props["name"],
            "description": props["description"],
            "IPProtocol": props["IPProtocol"],
            "loadBalancingScheme": props["loadBalancingScheme"],
        }
        ip = props.get("IPAddress")
        if ip == KNOWN_AFTER_APPLY:
            ip = self.ip
        if ip:
            body["IPAddress"] = ip
        for key in ("target", "backendService", "network", "subnetwork"):
            if props.get(key):
                body[key] = self._url(props[key])
        if props.get("portRange"):
            body["portRange"] = props["portRange"]
        if props.get("allPorts"):
            body["allPorts"] = True
        elif props.get("ports"):
            body["ports"] = list(props["ports"])
        if props.get("networkTier"):
            body["networkTier"] = props["networkTier"]
        if props.get("allowGlobalAccess"):
            body["allowGlobalAccess"] = True
        try:
            self.client.insert("forwardingRules", body)
        except GCEError as e:
            if not e.conflict:
                raise
            existing = self.client.get("forwardingRules", change.name)
            self._check_owner(D.FORWARDING_RULE, change.name, existing, shared=False)
        rule = self.client.get("forwardingRules", change.name)
        self.rule_ip = self.ip = str(rule.get("IPAddress", ""))
        self.rule_gone = False
        self.ingress = [Ingress(ip=self.rule_ip)]
