"""``KubeAPIServer``: the fake apiserver as a test fixture and a sandbox process.

It runs :class:`handler.KubeHTTPServer` in a daemon thread on loopback (port 0
picks a free port, remembered so ``stop()``/``start()`` restarts in place, the
way an apiserver restart keeps its address).  State outlives a restart; with
``state_file`` it also outlives the Python process, so a "new" apiserver over the
same file serves the same objects at the same resourceVersions (but, like a
real one after etcd compaction, no watch history from before it started).

Test helpers (``create``/``get``/``list``) go through the same registry code as
HTTP requests; they are for set-up, the code under test should use a client.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from lbctl.sandbox.kube import faults, resources
from lbctl.sandbox.kube.handler import Context, KubeHTTPServer
from lbctl.sandbox.kube.models import KubeBackend
from lbctl.sandbox.kube.responses import KubeResponses
from lbctl.sandbox.kube.selectors import Selector

__all__ = ["KubeAPIServer"]

JSON = dict[str, Any]
TOKEN = "sandbox"


class KubeAPIServer:
    """A Kubernetes API server for tests: plain HTTP on ``host:port``, any token accepted."""

    def __init__(
        self,
        state_file: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        history_size: int = 1000,
        bookmark_interval: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self.backend = KubeBackend(state_file=state_file, history_size=history_size)
        self.faults = faults.FaultSet()
        self.request_log = faults.RequestLog()
        self._context = Context(
            backend=self.backend,
            responses=KubeResponses(self.backend),
            faults=self.faults,
            requests=self.request_log,
            bookmark_interval=bookmark_interval,
        )
        self._httpd: KubeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._httpd is None and self.port == 0:
            raise RuntimeError("KubeAPIServer has not been started")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> KubeAPIServer:
        """Listen (again) on ``host:port``; idempotent."""
        if self._httpd is not None:
            return self
        httpd = KubeHTTPServer((self.host, self.port), self._context)
        self.port = httpd.server_address[1]
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"kube-apiserver:{self.port}",
            daemon=True,
        )
        thread.start()
        self._httpd, self._thread = httpd, thread
        return self

    def stop(self) -> None:
        """Stop listening, end every watch and cut open connections; keep the state."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._httpd = self._thread = None
        httpd.stopping.set()
        self.backend.close_watches()
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    def reset(self) -> None:
        """Drop all objects except the system namespaces, faults and the request log."""
        self.backend.reset()
        self.faults.clear()
        self.request_log.clear()

    def __enter__(self) -> KubeAPIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def write_kubeconfig(self, path: Path, *, namespace: str = "default") -> Path:
        """Write a kubeconfig whose current context points at this server (token auth)."""
        name = "lbctl-sandbox"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": self.url}}],
            "users": [{"name": name, "user": {"token": TOKEN}}],
            "contexts": [
                {"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}
            ],
            "current-context": name,
            "preferences": {},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    # -- fault injection and observation ---------------------------------------------------

    def inject(
        self,
        *,
        method: str | None = None,
        path_regex: str = ".*",
        status: int | None = 500,
        reason: str | None = None,
        message: str = "",
        times: int | None = 1,
        delay: float = 0.0,
        retry_after: int | None = None,
    ) -> faults.Fault:
        """Answer the next ``times`` matching requests with a ``Status`` error.

        ``path_regex`` is searched in ``path?query``; ``status=None`` only delays
        the request; ``retry_after`` adds the header (and ``retryAfterSeconds``)
        a 429 carries.  The returned fault's ``hits`` counts the requests it took.
        """
        return self.faults.add(
            faults.Fault(
                method=method,
                path_regex=re.compile(path_regex),
                status=status,
                reason=reason,
                message=message,
                times=times,
                delay=delay,
                retry_after=retry_after,
            )
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    def expire_watches(self) -> None:
        """End open watches with ERROR 410 Expired and forget the watch history."""
        self.backend.expire_watches()

    @property
    def requests(self) -> list[faults.RecordedRequest]:
        """The requests served so far (the last 10000), oldest first."""
        return self.request_log.snapshot()

    def clear_requests(self) -> None:
        self.request_log.clear()

    @property
    def resource_version(self) -> int:
        return self.backend.rv

    # -- set-up helpers --------------------------------------------------------------------

    def create(self, obj: JSON) -> JSON:
        """Create ``obj`` (any served kind); its ``status``, if any, is written too."""
        rtype = resources.find(obj["kind"], obj.get("apiVersion"))
        namespace = obj.get("metadata", {}).get("namespace") or "default"
        created = self.backend.create(rtype, namespace, obj)
        if obj.get("status") and rtype.has_status and not rtype.status_on_create:
            name = created["metadata"]["name"]
            created = self.backend.update(
                rtype,
                namespace,
                name,
                lambda current: {**(current or {}), "status": obj["status"]},
                subresource="status",
            )
        return created

    def get(self, kind: str, namespace: str | None, name: str) -> JSON:
        """The object as the API serves it (``namespace`` is ignored for cluster kinds)."""
        return self.backend.get(resources.find(kind), namespace or "", name)

    def list(self, kind: str, namespace: str | None = None) -> list[JSON]:
        """All objects of ``kind`` (in ``namespace``, or everywhere), with kind/apiVersion."""
        rtype = resources.find(kind)
        doc = self.backend.list(rtype, namespace or "", labels=Selector(), fields=Selector())
        return [rtype.external(rtype.to_storage(item)) for item in doc["items"]]
