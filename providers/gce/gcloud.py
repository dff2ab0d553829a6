"""The `gcloud compute firewall-rules …` commands a network admin runs when lbctl may not
write firewalls (Shared VPC: the network's project answers 403). Upstream's format
(`FirewallToGCloud*Cmd`), plus `--destination-ranges`, which upstream leaves out (its
command would open the ports to every address of the nodes)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from providers.gce.names import last


def _args(firewall: Mapping[str, Any], project: str) -> str:
    allow = sorted(
        f"{rule['IPProtocol']}:{port}"
        for rule in firewall.get("allowed", [])
        for port in rule.get("ports", [])
    )
    parts = [
        f"--description {json.dumps(firewall.get('description', ''))}",
        f"--allow {','.join(allow)}",
        f"--source-ranges {','.join(sorted(firewall.get('sourceRanges', [])))}",
    ]
    if firewall.get("destinationRanges"):
        parts.append(f"--destination-ranges {','.join(sorted(firewall['destinationRanges']))}")
    parts.append(f"--target-tags {','.join(sorted(firewall.get('targetTags', [])))}")
    parts.append(f"--project {project}")
    return " ".join(parts)


def create_command(firewall: Mapping[str, Any], project: str) -> str:
    network = last(str(firewall.get("network", "")))
    return f"gcloud compute firewall-rules create {firewall['name']} --network {network} " + _args(
        firewall, project
    )


def update_command(firewall: Mapping[str, Any], project: str) -> str:
    return f"gcloud compute firewall-rules update {firewall['name']} " + _args(firewall, project)


def delete_command(name: str, project: str) -> str:
    return f"gcloud compute firewall-rules delete {name} --project {project}"


def change_required(command: str) -> str:
    """Upstream's Event message (reason LoadBalancerManualChange)."""
    return f"Firewall change required by network admin: `{command}`"
