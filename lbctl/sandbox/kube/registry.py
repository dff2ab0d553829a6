"""Per-type registry rules applied on every write, before the store commits.

Upstream each resource has a ``RESTCreateStrategy``/``RESTUpdateStrategy``:
``PrepareForCreate`` resets status, ``PrepareForUpdate`` keeps the status (or,
for ``/status``, the spec) of the stored object, defaulting fills in fields, and
validation rejects the rest with 422.  This module is those strategies for the
served types, plus the decoding the apiserver does first: bodies are converted
to the storage version, unknown fields are dropped (or, with
``fieldValidation=Strict``, rejected), and ``null``/empty values disappear the
way Go's ``omitempty`` makes them disappear.
"""

from __future__ import annotations

import copy
from typing import Any

from lbctl.sandbox.kube import exceptions, schema, services, validation
from lbctl.sandbox.kube.resources import ResourceType

__all__ = ["decode", "incoming", "merge_update", "normalize", "prepare"]

JSON = dict[str, Any]
_SYSTEM_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")


def decode(rtype: ResourceType, body: Any, field_validation: str) -> tuple[JSON, list[str]]:
    """Check a request body (view form); drop unknown fields; return it and warnings."""
    if not isinstance(body, dict):
        raise exceptions.bad_request(
            f"json: cannot unmarshal {type(body).__name__} into Go value of type"
            f" struct {{ APIVersion string; Kind string }}"
        )
    kind, version = body.get("kind"), body.get("apiVersion")
    if (kind and kind != rtype.kind) or (version and version != rtype.api_version):
        raise exceptions.bad_request(
            f"the API version in the data ({version}) does not match the expected API version"
            f" ({rtype.api_version})"
            if version != rtype.api_version
            else f'{kind} in version "{rtype.version}" cannot be handled as a {rtype.kind}'
        )
    body = copy.deepcopy(body)
    unknown = schema.prune(body, rtype.schema)
    if unknown and field_validation == "Strict":
        detail = ", ".join(f'unknown field "{u}"' for u in unknown)
        raise exceptions.bad_request(f"strict decoding error: {detail}")
    if field_validation == "Ignore":
        return body, []
    return body, [f'unknown field "{u}"' for u in unknown]


def normalize(value: Any) -> Any:
    """Drop ``None`` everywhere, and empty maps/lists that are values of a map key."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = normalize(item)
            if item is None or (isinstance(item, dict | list) and not item):
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        return [normalize(v) for v in value if v is not None]
    return value


def incoming(rtype: ResourceType, body: JSON) -> JSON:
    """A decoded body in storage form, without type fields or server-owned metadata."""
    obj = rtype.to_storage(copy.deepcopy(body))
    obj.pop("kind", None)
    obj.pop("apiVersion", None)
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        meta.pop("selfLink", None)
    return obj


def merge_update(rtype: ResourceType, new: JSON, current: JSON, *, subresource: str) -> None:
    """Carry server-owned fields over from ``current`` (PrepareForUpdate)."""
    meta, old_meta = new.setdefault("metadata", {}), current["metadata"]
    for field in (*_SYSTEM_META, "name", "namespace"):
        if field in old_meta:
            meta[field] = old_meta[field]
        else:
            meta.pop(field, None)
    if old_meta.get("deletionTimestamp"):
        added = [f for f in meta.get("finalizers") or [] if f not in old_meta.get("finalizers", [])]
        if added:
            listed = ", ".join(f'"{f}"' for f in added)
            raise exceptions.invalid(
                rtype.kind,
                meta["name"],
                [
                    (
                        "metadata.finalizers",
                        "Forbidden: no new finalizers can be added if the object is being"
                        f" deleted, found new finalizers []string{{{listed}}}",
                    )
                ],
                rtype.group,
            )
    if subresource == "status":
        for key in set(new) | set(current):
            if key not in ("metadata", "status"):
                if key in current:
                    new[key] = copy.deepcopy(current[key])
                else:
                    new.pop(key, None)
    elif rtype.has_status:
        if "status" in current:
            new["status"] = copy.deepcopy(current["status"])
        else:
            new.pop("status", None)


def _skeleton(rtype: ResourceType, obj: JSON) -> None:
    if rtype.store in ("services", "nodes", "namespaces", "leases"):
        obj.setdefault("spec", {})
    if rtype.has_status:
        obj.setdefault("status", {})


def prepare(
    rtype: ResourceType, obj: JSON, old: JSON | None, *, alloc: services.Allocator, owner: str
) -> None:
    """Default and validate ``obj`` in place (PrepareForCreate/Update + Validate)."""
    normalized = normalize(obj)
    obj.clear()
    obj.update(normalized)
    meta = obj.setdefault("metadata", {})
    if old is None and rtype.has_status and not rtype.status_on_create:
        obj.pop("status", None)
    _skeleton(rtype, obj)
    store = rtype.store
    if store == "services":
        causes = services.prepare(obj, old, owner, alloc)
    elif store == "namespaces":
        if old is None:
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        causes = validation.validate_metadata(meta, name_rule="label")
    else:
        causes = validation.validate_metadata(meta, name_rule="subdomain")
        if store == "leases":
            duration = obj.get("spec", {}).get("leaseDurationSeconds")
            if duration is not None and (not isinstance(duration, int) or duration <= 0):
                causes.append(
                    (
                        "spec.leaseDurationSeconds",
                        f"Invalid value: {duration}: must be greater than 0",
                    )
                )
        if store == "events":
            causes += _event_causes(rtype, obj)
    if causes:
        raise exceptions.invalid(rtype.kind, meta.get("name", ""), causes, rtype.group)


def _event_causes(rtype: ResourceType, event: JSON) -> validation.Causes:
    """``ValidateEventCreate``: namespace agreement and, for new-style Events, required fields."""
    causes: validation.Causes = []
    involved = event.get("involvedObject") or {}
    namespace = event.get("metadata", {}).get("namespace", "")
    wanted = involved.get("namespace", "")
    new_style = bool(event.get("eventTime"))
    allowed = ("", "default", "kube-system") if new_style else ("", "default")
    if (wanted and wanted != namespace) or (not wanted and namespace not in allowed):
        field = "regarding.namespace" if rtype.group else "involvedObject.namespace"
        causes.append((field, f'Invalid value: "{wanted}": does not match event.namespace'))
    if new_style:
        controller = "reportingController" if rtype.group else "reportingComponent"
        for stored, shown in (
            ("reportingComponent", controller),
            ("reportingInstance", "reportingInstance"),
            ("action", "action"),
            ("reason", "reason"),
        ):
            if not event.get(stored):
                causes.append((shown, "Required value"))
    return causes
