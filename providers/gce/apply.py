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
- Lost answers: a create retried after its first answer was lost meets 409 alreadyExists
  and adopts what it made, once the description shows it is this Service's (or cluster's);
  a membership add meets memberAlreadyExists and adds only the members still missing.
- Firewalls: a 403 is not fatal (Shared VPC: the network's project belongs to someone
  else); the plan gets a warning with the gcloud command a network admin must run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lbctl.errors import NotOwned
from lbctl.model import Ingress
from lbctl.plan import Change, Op, ServicePlan
from lbctl.provider import Observed
from providers.gce import bodies, gcloud, names
from providers.gce import desired as D
from providers.gce.client import GCEClient, GCEError
from providers.gce.legacy import HttpHealthChecks
from providers.gce.names import Links, relative

TARGET_POOL_CREATE_MAX = 200  # upstream maxTargetPoolCreateInstances
INSTANCE_BATCH = 1000  # upstream maxInstancesPerTargetPoolUpdate
# The membership calls (add, remove) of a collection.
MEMBER_VERBS = {
    "instanceGroups": ("add_instances", "remove_instances"),
    "targetPools": ("add_instance", "remove_instance"),
}


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _deleted(delete: Callable[[], None], *, in_use_ok: bool = False) -> bool:
    """Run a delete; False when the resource is still in use (and that is acceptable).
    One already gone counts as deleted."""
    try:
        delete()
    except GCEError as e:
        if e.not_found:
            return True
        if in_use_ok and e.in_use:
            return False
        raise
    return True


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
        self.rule_ip = ""  # the IP the forwarding rule holds; "" while there is none
        self.rule_gone = False  # this apply deleted the observed forwarding rule
        self.held = False  # an address <lb> of this Service holds the IP
        self.held_internal = False
        self.kept_checks: set[str] = set()

    # --- the whole plan --------------------------------------------------------------------

    def apply(self) -> list[Ingress]:
        self._start()
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

    def _start(self) -> None:
        """The IP before the first write: the rule's, or that of an address <lb> an
        interrupted apply left (unless the plan deletes that address)."""
        rule = self.owned.get((D.FORWARDING_RULE, self.lb))
        if rule is not None:
            self.ip = self.rule_ip = str(rule.props.get("IPAddress", ""))
        address = self.owned.get((D.ADDRESS, self.lb))
        dropped = {(c.kind, c.name) for c in self.plan.changes if c.op is Op.DELETE}
        if address is not None and (D.ADDRESS, self.lb) not in dropped:
            self.ip = str(address.props.get("address", "")) or self.ip
            self.held = True
            self.held_internal = address.props.get("addressType") == "INTERNAL"

    def _release(self, done: bool) -> None:
        """Give the IP back to the forwarding rule (it stays, ephemeral)."""
        if not (self.held and (self.held_internal or (done and self.rule_ip))):
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

    def _url(self, link: str) -> str:
        return self.links.url(link)

    def _delete(
        self, collection: str, name: str, *, location: str | None = None, in_use_ok: bool = False
    ) -> bool:
        """Delete; False when it was still in use (and that is acceptable)."""
        return _deleted(
            lambda: self.client.delete(collection, name, location=location), in_use_ok=in_use_ok
        )

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

    def _insert_or_adopt(
        self,
        change: Change,
        insert: Callable[[], None],
        get: Callable[[], Mapping[str, Any]],
        *,
        shared: bool = False,
    ) -> Mapping[str, Any] | None:
        """Create; None when created. A 409 finds it there already (an interrupted apply,
        or a shared resource another Service made): it is returned, once known to be
        ours, for the caller to bring up to date."""
        try:
            insert()
        except GCEError as e:
            if not e.conflict:
                raise
            existing = get()
            self._check_owner(change.kind, change.name, existing, shared=shared)
            return existing
        return None

    def _insert(
        self,
        change: Change,
        collection: str,
        body: Mapping[str, Any],
        *,
        location: str | None = None,
        shared: bool = False,
    ) -> Mapping[str, Any] | None:
        """_insert_or_adopt into a collection of the client (named as in the body)."""
        return self._insert_or_adopt(
            change,
            lambda: self.client.insert(collection, body, location=location),
            lambda: self.client.get(collection, body["name"], location=location),
            shared=shared,
        )

    def _stale(self, change: Change, insert: Callable[[], Mapping[str, Any] | None]) -> bool:
        """True when the resource stands as it was and the caller must bring it up to date:
        an UPDATE's, or one that `insert` (a create; an UPDATE inserts nothing) met."""
        return change.op is Op.UPDATE or insert() is not None

    def _drop_rule(self) -> None:
        """Delete the forwarding rule before what it points at is replaced."""
        if not self.rule_gone and (D.FORWARDING_RULE, self.lb) in self.owned:
            self._delete_rule()

    def _delete_rule(self) -> None:
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
        self._insert(change, "addresses", bodies.address(props, self._url))
        found = self.client.get("addresses", change.name)
        self.ip = str(found.get("address", ""))
        self.held = True
        self.held_internal = props["addressType"] == "INTERNAL"

    # --- firewalls -------------------------------------------------------------------------

    def _firewall(self, change: Change) -> None:
        if change.op is Op.DELETE:
            self._delete_firewall(change.name)
            return
        assert change.desired is not None
        body = bodies.firewall(change.desired.props, self.ip, self._url)
        try:
            self._write_firewall(change, body)
        except GCEError as e:
            if not e.forbidden:
                raise
            command = gcloud.update_command if change.op is Op.UPDATE else gcloud.create_command
            self._warn(command(body, self.client.network_project))

    def _delete_firewall(self, name: str) -> None:
        if names.health_check_of_firewall(name, self.cid, self.lb) in self.kept_checks:
            return  # its health check is still in use, so are the probes
        try:
            self._delete("firewalls", name)
        except GCEError as e:
            if not e.forbidden:
                raise
            self._warn(gcloud.delete_command(name, self.client.network_project))

    def _write_firewall(self, change: Change, body: Mapping[str, Any]) -> None:
        # The traffic and external Local check firewalls carry the Service in their
        # description; the others carry their mark in the name.
        shared = change.name not in (
            names.firewall_name(self.lb),
            names.external_hc_firewall_name(self.cid, self.lb, False),
        )
        if change.op is Op.REPLACE:
            self._delete("firewalls", change.name)
        if self._stale(change, lambda: self._insert(change, "firewalls", body, shared=shared)):
            self.client.update("firewalls", change.name, body)

    # --- health checks -----------------------------------------------------------------------

    def _delete_check(self, name: str, delete: Callable[[], None]) -> bool:
        """Delete a health check; False when another Service still uses it: it stays, and
        so does its firewall (see _delete_firewall)."""
        if _deleted(delete, in_use_ok=True):
            return True
        self.kept_checks.add(name)
        return False

    def _http_health_check(self, change: Change) -> None:
        name = change.name
        if change.op in (Op.DELETE, Op.REPLACE) and not self._delete_check(
            name, lambda: self.http.delete(name)
        ):
            return
        if change.desired is None:
            return
        body = bodies.http_health_check(change.desired.props)
        if change.op is not Op.UPDATE:
            existing = self._insert_or_adopt(
                change,
                lambda: self.http.insert(body),
                lambda: self.http.find(name) or {"description": ""},
                shared=True,
            )
            if existing is None:
                return  # created as wanted
        self.http.update(name, body)

    def _health_check(self, change: Change) -> None:
        name = change.name.split("/", 1)[-1]  # a regional check's plan name is <region>/<name>
        collection = "regionHealthChecks" if "/" in change.name else "healthChecks"
        if change.op in (Op.DELETE, Op.REPLACE) and not self._delete_check(
            name, lambda: self.client.delete(collection, name)
        ):
            return
        if change.desired is None:
            return
        body = bodies.health_check(change.desired.props)
        shared = name != self.lb
        if self._stale(change, lambda: self._insert(change, collection, body, shared=shared)):
            self.client.update(collection, name, body)

    # --- instance groups ---------------------------------------------------------------------

    def _instance_group(self, change: Change) -> None:
        zone, name = change.name.split("/", 1)
        if change.op in (Op.DELETE, Op.REPLACE):
            self._delete("instanceGroups", name, location=zone, in_use_ok=True)
        if change.desired is None:
            return
        body = bodies.instance_group(name, self._group_network(), self._url)
        have: list[str] = []
        if self._stale(
            change, lambda: self._insert(change, "instanceGroups", body, location=zone, shared=True)
        ):
            # Shared: another Service of this run may have changed it since observe.
            have = self.client.list_group_instances(zone, name)
        want = change.desired.props["instances"]
        self._members("instanceGroups", name, zone, want, {relative(h) for h in have})

    def _group_network(self) -> str:
        for change in self.plan.changes:
            if change.kind == D.FIREWALL and change.desired is not None:
                return str(change.desired.props.get("network", ""))
        for res in self.owned.values():
            if res.kind == D.FIREWALL:
                return str(res.props.get("network", ""))
        return ""

    def _members(
        self, collection: str, name: str, location: str | None, want: Sequence[str], have: set[str]
    ) -> None:
        """Add what is wanted and missing, then remove what is there and not wanted."""
        for chunk in _chunks([i for i in want if i not in have], INSTANCE_BATCH):
            self._add_members(collection, name, location, chunk)
        remove = MEMBER_VERBS[collection][1]
        for chunk in _chunks(sorted(have - set(want)), INSTANCE_BATCH):
            self._member_call(collection, name, location, remove, chunk)

    def _add_members(
        self, collection: str, name: str, location: str | None, chunk: Sequence[str]
    ) -> None:
        """An add retried after its answer was lost fails with memberAlreadyExists (and
        changes nothing): the members it names may be there already, so add only those
        still missing."""
        verb = MEMBER_VERBS[collection][0]
        try:
            self._member_call(collection, name, location, verb, chunk)
        except GCEError as e:
            if not e.member_exists:
                raise
            have = self._current_members(collection, name, location)
            missing = [i for i in chunk if i not in have]
            if missing:
                self._member_call(collection, name, location, verb, missing)

    def _member_call(
        self, collection: str, name: str, location: str | None, verb: str, chunk: Sequence[str]
    ) -> None:
        body = {"instances": [{"instance": self._url(i)} for i in chunk]}
        self.client.action(collection, name, verb, body, location=location)

    def _current_members(self, collection: str, name: str, location: str | None) -> set[str]:
        if collection == "instanceGroups":
            assert location is not None, "instance groups are zonal"
            links = self.client.list_group_instances(location, name)
        else:
            links = self.client.get(collection, name, location=location).get("instances", [])
        return {relative(i) for i in links}

    # --- backend service ---------------------------------------------------------------------

    def _backend_service(self, change: Change) -> None:
        if change.op is Op.REPLACE:
            self._drop_rule()
        if change.op in (Op.DELETE, Op.REPLACE):
            self._delete("regionBackendServices", change.name, in_use_ok=True)
        if change.desired is None:
            return
        body = bodies.backend_service(change.desired.props, self._url)
        if self._stale(change, lambda: self._insert(change, "regionBackendServices", body)):
            self._update_backend(change.name, body)

    def _update_backend(self, name: str, body: dict[str, Any]) -> None:
        # The PUT carries the fingerprint just read; a 412 means someone wrote in between.
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
        if change.op is Op.REPLACE:
            self._drop_rule()
        if change.op in (Op.DELETE, Op.REPLACE):
            self._delete("targetPools", change.name)
        if change.desired is None:
            return
        want = list(change.desired.props["instances"])
        if change.op is Op.UPDATE:
            assert change.observed is not None
            self._pool_members(change.name, want, set(change.observed.props.get("instances", [])))
            return
        have = self._create_pool(change, want)
        if set(want) != have:
            self._pool_members(change.name, want, have)

    def _create_pool(self, change: Change, want: Sequence[str]) -> set[str]:
        """Create the pool with its first instances (upstream's cap); returns its members."""
        assert change.desired is not None
        first = want[:TARGET_POOL_CREATE_MAX]
        body = bodies.target_pool(change.desired.props, first, self._url)
        existing = self._insert(change, "targetPools", body)
        if existing is None:
            return set(first)
        return {relative(i) for i in existing.get("instances", [])}

    def _pool_members(self, name: str, want: Sequence[str], have: set[str]) -> None:
        self._members("targetPools", name, None, want, have)
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
            self._delete_rule()
        if change.op is Op.DELETE:
            self.ingress = []
            return
        assert change.desired is not None
        if change.op is Op.UPDATE:  # every prop is immutable; nothing to do in place
            return
        body = bodies.forwarding_rule(change.desired.props, self.ip, self._url)
        self._insert(change, "forwardingRules", body)
        rule = self.client.get("forwardingRules", change.name)
        self.rule_ip = self.ip = str(rule.get("IPAddress", ""))
        self.rule_gone = False
        self.ingress = [Ingress(ip=self.rule_ip)]
