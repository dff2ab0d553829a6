"""The GCE cloud config: upstream's `gce.conf` (gcfg INI, section `[global]`).

Upstream keys read: `project-id`, `network-project-id`, `network-name`, `subnetwork-name`,
`node-tags` (repeatable), `node-instance-prefix`, `api-endpoint`, `local-zone` (its region).
lbctl additions in `[global]`: `region` (otherwise the region of `local-zone`, or of the
nodes' zones), `cluster-id` (the --cluster-id flag wins) and `l4-rbs` (`enabled` makes
external balancers backend-service based by default). Other upstream keys (token-url,
multizone, alpha-features, ...) are accepted and ignored, as gcfg does with unknown ones.

Environment (what `lbctl sandbox` exports): `LBCTL_GCE_API_ENDPOINT` when the config has no
api-endpoint, `LBCTL_GCE_CREDENTIALS=anonymous` to send no credentials, and
`GOOGLE_CLOUD_PROJECT` when the config has no project-id.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from lbctl.errors import FieldError, InvalidInput
from providers.gce.names import DEFAULT_BASE
from providers.gce.spec import region_of


@dataclass(frozen=True)
class GCEConfig:
    cluster_id: str
    project: str = ""
    network_project: str = ""
    region: str = ""
    zone: str = ""
    network_name: str = ""
    subnetwork_name: str = ""
    node_tags: tuple[str, ...] = ()
    node_instance_prefix: str = ""
    api_endpoint: str = ""
    rbs_default: bool = False
    anonymous: bool = False

    @property
    def endpoint(self) -> str:
        """`scheme://host[:port]` of api-endpoint (the SDK's client_options.api_endpoint)."""
        if not self.api_endpoint:
            return ""
        parts = urlsplit(self.api_endpoint)
        if not parts.scheme:
            return self.api_endpoint.rstrip("/")
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def base(self) -> str:
        """The URL prefix of absolute resource links (`…/compute/v1/`)."""
        if not self.endpoint:
            return DEFAULT_BASE
        return self.endpoint + "/compute/v1/"

    @property
    def plain_http(self) -> bool:
        return self.endpoint.startswith("http://")

    @property
    def anonymous_credentials(self) -> bool:
        """No credentials: asked for, or a plain-http endpoint (a local stand-in)."""
        return self.anonymous or self.plain_http


def _error(message: str, key: str, value: str) -> InvalidInput:
    return InvalidInput([FieldError(message, field=key, value=value)])


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def parse_gcfg(text: str) -> dict[str, dict[str, list[str]]]:
    """gcfg: `[section]`, `key = value` (repeatable), `;`/`#` comments; names are
    case-insensitive; a bare key means "true"."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        header = re.fullmatch(r"\[\s*([A-Za-z0-9_.-]+)(?:\s+\"[^\"]*\")?\s*\]", line)
        if header:
            current = sections.setdefault(header.group(1).lower(), {})
            continue
        if current is None:
            raise ValueError(f"line {number}: a variable outside of a section")
        key, sep, value = line.partition("=")
        key = key.strip().lower()
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", key):
            raise ValueError(f"line {number}: invalid variable name {key!r}")
        if not sep:
            value = "true"
        elif not value.strip().startswith('"'):
            value = re.split(r"\s[;#]", value, maxsplit=1)[0]
        current.setdefault(key, []).append(_unquote(value))
    return sections


def load(path: Path | None, *, cluster_id: str) -> GCEConfig:
    values: dict[str, list[str]] = {}
    if path is not None:
        try:
            values = parse_gcfg(path.read_text()).get("global", {})
        except (OSError, ValueError) as e:
            raise _error(f"cannot read the cloud config: {e}", "--cloud-config", str(path)) from e

    def one(key: str) -> str:
        items = values.get(key, [])
        return items[-1].strip() if items else ""

    cid = cluster_id or one("cluster-id")
    if not cid:
        raise _error(
            "a cluster id is required: shared resources are named after it "
            "(k8s-<id>-node, k8s-ig--<id>); pass --cluster-id or set cluster-id in [global] "
            "of --cloud-config",
            "--cluster-id",
            "",
        )
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", cid) or len(cid) > 40:
        raise _error(
            "the cluster id goes into resource names: lowercase letters, digits and '-', "
            "at most 40 characters",
            "--cluster-id",
            cid,
        )
    tags: list[str] = []
    for item in values.get("node-tags", []):
        tags += [t.strip() for t in item.split(",") if t.strip()]
    zone = one("local-zone")
    region = one("region") or region_of(zone)
    rbs = one("l4-rbs") or "disabled"
    if rbs not in ("enabled", "disabled"):
        raise _error('must be "enabled" or "disabled"', "[global] l4-rbs", rbs)
    return GCEConfig(
        cluster_id=cid,
        project=one("project-id") or os.environ.get("GOOGLE_CLOUD_PROJECT", ""),
        network_project=one("network-project-id"),
        region=region,
        zone=zone,
        network_name=one("network-name"),
        subnetwork_name=one("subnetwork-name"),
        node_tags=tuple(dict.fromkeys(tags)),
        node_instance_prefix=one("node-instance-prefix"),
        api_endpoint=one("api-endpoint") or os.environ.get("LBCTL_GCE_API_ENDPOINT", ""),
        rbs_default=rbs == "enabled",
        anonymous=os.environ.get("LBCTL_GCE_CREDENTIALS", "") == "anonymous",
    )
