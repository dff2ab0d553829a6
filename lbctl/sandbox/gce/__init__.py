"""A Compute Engine v1 REST sandbox for lbctl's GCE provider.

The unmodified google-cloud-compute client runs against it over plain HTTP::

    server = start_gce()
    seeded = seed_gce(server)
    rules = compute_client("ForwardingRulesClient", server)

Laid out like a moto service: :mod:`~lbctl.sandbox.gce.models` (state and rules,
no HTTP; per-kind rules in ``kinds``/``frontends``/``backends``),
:mod:`~lbctl.sandbox.gce.responses` (parse -> backend -> JSON),
:mod:`~lbctl.sandbox.gce.urls` (the route table) and
:mod:`~lbctl.sandbox.gce.exceptions` (the API's error codes and messages).
"""

from lbctl.sandbox.gce.cluster import (
    SeededGCE,
    SeededGCEInstance,
    anonymous_session,
    compute_client,
    gce_environment,
    seed_gce,
    write_gce_files,
)
from lbctl.sandbox.gce.models import ComputeBackend, Scope
from lbctl.sandbox.gce.server import GCEServer, RecordedRequest, start_gce

__all__ = [
    "ComputeBackend",
    "GCEServer",
    "RecordedRequest",
    "Scope",
    "SeededGCE",
    "SeededGCEInstance",
    "anonymous_session",
    "compute_client",
    "gce_environment",
    "seed_gce",
    "start_gce",
    "write_gce_files",
]
