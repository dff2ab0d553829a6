"""Fixtures: one fake Kubernetes API server per session, reset before each test.

Tests talk to it only through the unmodified ``kubernetes`` client (configured
from a kubeconfig the server writes) and the real ``kubectl`` binary; nothing
is patched.  ``kube`` is the server itself, for set-up and fault injection.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from lbctl.sandbox.kube import KubeAPIServer

BOOKMARK_INTERVAL = 0.2


@pytest.fixture(scope="session")
def kube_server() -> Iterator[KubeAPIServer]:
    server = KubeAPIServer(bookmark_interval=BOOKMARK_INTERVAL)
    with server:
        yield server


@pytest.fixture(scope="session")
def kubeconfig(kube_server: KubeAPIServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kube_server.write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig")


@pytest.fixture
def kube(kube_server: KubeAPIServer) -> KubeAPIServer:
    """The session's server, emptied (system namespaces only) and running."""
    kube_server.start()
    kube_server.reset()
    return kube_server


@pytest.fixture(scope="session")
def api_client(kubeconfig: Path) -> Any:
    return config.new_client_from_config(config_file=str(kubeconfig))


@pytest.fixture
def core(kube: KubeAPIServer, api_client: Any) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def coordination(kube: KubeAPIServer, api_client: Any) -> client.CoordinationV1Api:
    return client.CoordinationV1Api(api_client)


@pytest.fixture
def events_api(kube: KubeAPIServer, api_client: Any) -> client.EventsV1Api:
    return client.EventsV1Api(api_client)


Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kubectl(kube: KubeAPIServer, kubeconfig: Path) -> Kubectl:
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not installed")

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, "--kubeconfig", str(kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    return run
