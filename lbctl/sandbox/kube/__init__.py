"""A Kubernetes API server for tests and the sandbox, speaking the real HTTP API.

There is no kube-apiserver binary, kind or Docker on the machines lbctl is built
on, and patching the ``kubernetes`` client would test the patch, not the client.
So this package serves the API itself -- discovery, Services (+status), Nodes
(+status), Namespaces, core and ``events.k8s.io`` Events and ``coordination``
Leases -- with the semantics a service controller depends on: resourceVersions
and 409 conflicts, status-subresource isolation, finalizers, watch with resume,
bookmarks and 410 Expired, selectors, and Service IP/port allocation.  The
unmodified ``kubernetes`` client and ``kubectl`` talk to it over HTTP.

Laid out like a moto service: ``models`` (state, no HTTP), ``registry`` /
``services`` / ``validation`` (per-type rules), ``responses`` (parse, call,
serialise), ``urls`` (routes), ``exceptions`` (``Status`` errors), and
``server`` (the threaded HTTP server, fault injection, kubeconfig).
See docs/sandbox-kube.md.
"""

from __future__ import annotations

from lbctl.sandbox.kube.faults import Fault, RecordedRequest
from lbctl.sandbox.kube.server import KubeAPIServer

__all__ = ["Fault", "KubeAPIServer", "RecordedRequest"]
