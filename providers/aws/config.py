"""The AWS cloud-config: upstream's INI `[Global]` keys, so existing files work unchanged."""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

from lbctl.errors import FieldError, InvalidInput
from lbctl.rules import parse_go_bool
from providers.aws.cache import DEFAULT_REFRESH


@dataclass(frozen=True)
class AWSConfig:
    cluster_id: str
    vpc: str = ""
    subnet_id: str = ""
    elb_security_group: str = ""
    disable_security_group_ingress: bool = False
    nlb_security_group_mode: str = ""
    # lbctl's own: balancers whose cached details a pass re-reads (providers/aws/cache.py)
    detail_refresh: int = DEFAULT_REFRESH


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def load(path: Path | None, *, cluster_id: str) -> AWSConfig:
    """Read `[Global]`; the --cluster-id flag wins over KubernetesClusterID/Tag."""
    values: dict[str, str] = {}
    if path is not None:
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            parser.read_string(path.read_text())
        except (OSError, configparser.Error) as e:
            raise InvalidInput(
                [
                    FieldError(
                        f"cannot read the cloud config: {e}",
                        field="--cloud-config",
                        value=str(path),
                    )
                ]
            ) from e
        if parser.has_section("Global"):
            values = {k: _unquote(v) for k, v in parser.items("Global")}
    cid = cluster_id or values.get("KubernetesClusterID") or values.get("KubernetesClusterTag", "")
    if not cid:
        raise InvalidInput(
            [
                FieldError(
                    "a cluster id is required: every resource lbctl creates is tagged "
                    "kubernetes.io/cluster/<id>=owned; pass --cluster-id or set "
                    "KubernetesClusterID in [Global] of --cloud-config",
                    field="--cluster-id",
                    value="",
                )
            ]
        )
    disable = values.get("DisableSecurityGroupIngress", "false")
    try:
        disable_ingress = parse_go_bool(disable)
    except ValueError as e:
        raise InvalidInput(
            [FieldError(str(e), field="[Global] DisableSecurityGroupIngress", value=disable)]
        ) from e
    raw = values.get("DetailRefreshPerSync", str(DEFAULT_REFRESH))
    try:
        refresh = int(raw)
        if refresh < 1:
            raise ValueError(f"must be a positive integer, not {raw!r}")
    except ValueError as e:
        raise InvalidInput(
            [FieldError(str(e), field="[Global] DetailRefreshPerSync", value=raw)]
        ) from e
    return AWSConfig(
        cluster_id=cid,
        vpc=values.get("VPC", ""),
        subnet_id=values.get("SubnetID", ""),
        elb_security_group=values.get("ElbSecurityGroup", ""),
        disable_security_group_ingress=disable_ingress,
        nlb_security_group_mode=values.get("NLBSecurityGroupMode", ""),
        detail_refresh=refresh,
    )
