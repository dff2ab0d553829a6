"""Checks of the Service spec shared by the classic ELB and the NLB (upstream's wording)."""

from __future__ import annotations

from collections.abc import Collection

from lbctl.errors import FieldError
from lbctl.model import ServiceView


def spec_errors(view: ServiceView, *, protocols: Collection[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    if view.session_affinity not in ("", "None"):
        errors.append(
            FieldError(
                f"unsupported load balancer affinity: {view.session_affinity}",
                field="spec.sessionAffinity",
                value=view.session_affinity,
            )
        )
    if not view.ports:
        errors.append(
            FieldError("requested load balancer with no ports", field="spec.ports", value=[])
        )
    if len({p.protocol for p in view.ports}) > 1:
        errors.append(
            FieldError(
                "mixed protocol is not supported for LoadBalancer",
                field="spec.ports",
                value=sorted({p.protocol for p in view.ports}),
            )
        )
    seen: set[int] = set()
    for i, port in enumerate(view.ports):
        if port.protocol not in protocols:
            errors.append(
                FieldError(
                    f"Protocol {port.protocol} not supported by LoadBalancer",
                    field=f"spec.ports[{i}].protocol",
                    value=port.protocol,
                )
            )
        if not port.node_port:
            errors.append(
                FieldError(
                    "no node port allocated: the balancer forwards to the node "
                    "port the API server assigns",
                    field=f"spec.ports[{i}].nodePort",
                    value=port.node_port,
                )
            )
        if not 1 <= port.port <= 65535:
            errors.append(
                FieldError(
                    "must be between 1 and 65535", field=f"spec.ports[{i}].port", value=port.port
                )
            )
        if port.port in seen:
            # AWS rejects a second listener on a port (moto does not): say so before any call.
            errors.append(
                FieldError(
                    "duplicate port: a balancer has one listener per port",
                    field=f"spec.ports[{i}].port",
                    value=port.port,
                )
            )
        seen.add(port.port)
    if view.load_balancer_ip:
        errors.append(
            FieldError(
                "LoadBalancerIP cannot be specified for AWS ELB",
                field="spec.loadBalancerIP",
                value=view.load_balancer_ip,
            )
        )
    return errors
