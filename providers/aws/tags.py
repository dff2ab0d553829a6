"""Ownership tags: a resource is this cluster's only if it carries its owned tag."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SERVICE_NAME_TAG = "kubernetes.io/service-name"
LEGACY_CLUSTER_TAG = "KubernetesCluster"


def cluster_tag(cluster_id: str) -> str:
    return f"kubernetes.io/cluster/{cluster_id}"


def as_dict(tags: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags or []}


def as_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def owned(tags: Mapping[str, str], cluster_id: str) -> bool:
    return tags.get(cluster_tag(cluster_id)) == "owned" or (
        tags.get(LEGACY_CLUSTER_TAG) == cluster_id
    )


def in_cluster(tags: Mapping[str, str], cluster_id: str) -> bool:
    """Owned or shared by this cluster."""
    return cluster_tag(cluster_id) in tags or tags.get(LEGACY_CLUSTER_TAG) == cluster_id


def ownership(cluster_id: str, service_key: str, extra: Mapping[str, str]) -> dict[str, str]:
    tags = dict(extra)
    tags[cluster_tag(cluster_id)] = "owned"
    tags[SERVICE_NAME_TAG] = service_key
    return tags
