"""Nodes to EC2 instances: providerID parsing and the target-node-labels filter."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from lbctl.model import NodeView

_INSTANCE = re.compile(r"^i-[^/]+$")


def instance_id(provider_id: str) -> str | None:
    """`aws:///<az>/i-x`, `aws:////i-x` or a bare `i-x`; the last segment must be `i-...`."""
    if not provider_id:
        return None
    text = provider_id
    if text.startswith("aws://"):
        text = text[len("aws://") :]
    elif "://" in text:
        return None
    last = text.rstrip("/").rsplit("/", 1)[-1] if "/" in text else text
    if _INSTANCE.match(last):
        return last
    if last.startswith("fargate-"):
        return None  # Fargate pods are not load-balancer targets
    return None


def matches_labels(node: NodeView, wanted: Mapping[str, str]) -> bool:
    """Every key present and, where a value is given, equal (upstream semantics)."""
    for key, value in wanted.items():
        if key not in node.labels:
            return False
        if value and node.labels[key] != value:
            return False
    return True


def target_instance_ids(nodes: Iterable[NodeView], labels: Mapping[str, str]) -> list[str]:
    ids = {
        iid
        for node in nodes
        if matches_labels(node, labels) and (iid := instance_id(node.provider_id))
    }
    return sorted(ids)
