"""The resource types the fake serves, and the discovery documents about them.

kubectl and the dynamic clients find resources through discovery (``/api``,
``/api/v1``, ``/apis``, ``/apis/<group>/<version>``) before they make any
request, so the table below is the single source both for routing and for
discovery.  Each row carries the few per-type behaviours of the real registry
that a controller can observe (status kept on create for Nodes, create-on-PUT
for Events, the deleted object returned by DELETE for Services ...).

``events.k8s.io/v1`` Events are, as on a real cluster, another *view* of the
core ``v1`` Events: both rows share one storage and convert on the way in and
out, so an Event recorded through one API is listed by the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lbctl.sandbox.kube import schema

__all__ = [
    "RESOURCES",
    "ResourceType",
    "api_group",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "find",
    "lookup",
    "version_info",
]

JSON = dict[str, Any]
KUBE_VERSION = ("1", "32", "v1.32.0-lbctl-sandbox")


def _same(obj: JSON) -> JSON:
    return obj


@dataclass(frozen=True)
class ResourceType:
    """One served resource (``group``/``version``/``plural``) and its registry quirks."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    storage: str = ""  # shared by rows that are views of the same objects ("" = plural)
    has_status: bool = False  # a /status subresource that alone may write .status
    status_on_create: bool = False  # POST keeps .status (Nodes); otherwise it is reset
    create_on_update: bool = False  # PUT of a missing name creates it (Events)
    return_deleted: bool = False  # DELETE answers with the object instead of a Status
    deletecollection: bool = True
    to_view: Callable[[JSON], JSON] = field(default=_same, repr=False)
    to_storage: Callable[[JSON], JSON] = field(default=_same, repr=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def store(self) -> str:
        return self.storage or self.plural

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def schema(self) -> schema.Schema:
        return schema.SCHEMAS[f"{self.group}/{self.version}/{self.kind}"]

    def external(self, stored: JSON) -> JSON:
        """The stored object as this view serves it (with ``kind``/``apiVersion``)."""
        out = self.to_view(stored)
        return {"kind": self.kind, "apiVersion": self.api_version, **out}

    def verbs(self) -> list[str]:
        verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        if self.deletecollection:
            verbs.insert(2, "deletecollection")
        return verbs


# core v1 Event field  <->  events.k8s.io/v1 Event field
_EVENT_FIELDS = (
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
    ("action", "action"),
    ("reason", "reason"),
    ("involvedObject", "regarding"),
    ("related", "related"),
    ("message", "note"),
    ("type", "type"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
)


def _core_event_to_v1(stored: JSON) -> JSON:
    # eventTime is a non-pointer MicroTime: a legacy Event shows ``"eventTime": null``.
    out: JSON = {"metadata": stored.get("metadata", {}), "eventTime": None}
    for core, v1 in _EVENT_FIELDS:
        if core in stored:
            out[v1] = stored[core]
    return out


def _v1_event_to_core(obj: JSON) -> JSON:
    out: JSON = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
    for core, v1 in _EVENT_FIELDS:
        if v1 in obj:
            out[core] = obj[v1]
    return out


def _strip_type(obj: JSON) -> JSON:
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "Namespace", "namespaces", False, ("ns",), has_status=True),
    ResourceType(
        "",
        "v1",
        "Service",
        "services",
        True,
        ("svc",),
        ("all",),
        has_status=True,
        return_deleted=True,
        deletecollection=False,
    ),
    ResourceType("", "v1", "Node", "nodes", False, ("no",), has_status=True, status_on_create=True),
    ResourceType("", "v1", "Event", "events", True, ("ev",), create_on_update=True),
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", True),
    ResourceType(
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        True,
        ("ev",),
        create_on_update=True,
        to_view=lambda o: _strip_type(_core_event_to_v1(o)),
        to_storage=_v1_event_to_core,
    ),
)

_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    """The resource served at ``/api[s]/<group>/<version>/<plural>``, if any."""
    return _BY_PATH.get((group, version, plural))


def find(name: str, api_version: str | None = None) -> ResourceType:
    """A resource by Kind, plural or short name (test helpers); core group first."""
    wanted = name.lower()
    for r in RESOURCES:
        if api_version is not None and r.api_version != api_version:
            continue
        if wanted in (r.kind.lower(), r.plural, *r.short_names):
            return r
    raise KeyError(f"no served resource called {name!r} (apiVersion {api_version!r})")


def group_versions() -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for r in RESOURCES:
        if r.group and (r.group, r.version) not in seen:
            seen.append((r.group, r.version))
    return seen


def api_versions(server_address: str) -> JSON:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_resource_list(group: str, version: str) -> JSON | None:
    served = [r for r in RESOURCES if (r.group, r.version) == (group, version)]
    if not served:
        return None
    entries: list[JSON] = []
    for r in served:
        entry: JSON = {
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs(),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        entries.append(entry)
        if r.has_status:
            entries.append(
                {
                    "name": f"{r.plural}/status",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": entries,
    }


def api_group(name: str) -> JSON | None:
    versions = [
        {"groupVersion": f"{g}/{v}", "version": v} for g, v in group_versions() if g == name
    ]
    if not versions:
        return None
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": name,
        "versions": versions,
        "preferredVersion": versions[0],
    }


def api_group_list() -> JSON:
    names = list(dict.fromkeys(g for g, _ in group_versions()))
    groups = []
    for name in names:
        group = api_group(name)
        assert group is not None
        groups.append({k: group[k] for k in ("name", "versions", "preferredVersion")})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def version_info() -> JSON:
    major, minor, git = KUBE_VERSION
    return {
        "major": major,
        "minor": minor,
        "gitVersion": git,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }
