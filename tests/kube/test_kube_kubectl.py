"""The real kubectl binary against the fake: apply, get, delete (with openapi validation)."""

from __future__ import annotations

from pathlib import Path

from lbctl.sandbox.kube import KubeAPIServer
from tests.kube.conftest import Kubectl
from tests.kube.helpers import node

MANIFEST = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
"""


def test_apply_get_reapply_delete(kube: KubeAPIServer, kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "svc.yaml"
    manifest.write_text(MANIFEST)
    created = kubectl("apply", "-f", str(manifest))
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "service/web created"
    node_port = kube.get("Service", "default", "web")["spec"]["ports"][0]["nodePort"]

    listed = kubectl("get", "svc")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert row.split()[:5] == [
        "web",
        "LoadBalancer",
        kube.get("Service", "default", "web")["spec"]["clusterIP"],
        "<pending>",
        f"80:{node_port}/TCP",
    ]
    assert kubectl("apply", "-f", str(manifest)).stdout.strip() == "service/web unchanged"
    manifest.write_text(MANIFEST.replace("8080", "9090"))
    assert kubectl("apply", "-f", str(manifest)).stdout.strip() == "service/web configured"
    spec = kube.get("Service", "default", "web")["spec"]
    assert spec["ports"][0]["targetPort"] == 9090
    assert spec["ports"][0]["nodePort"] == node_port  # kept: apply never sent it

    deleted = kubectl("delete", "-f", str(manifest))
    assert deleted.returncode == 0, deleted.stderr
    assert kube.list("Service") == []


def test_apply_rejects_unknown_fields(kubectl: Kubectl) -> None:
    result = kubectl("apply", "-f", "-", stdin=MANIFEST.replace("  selector:", "  selectr:"))
    assert result.returncode == 1
    assert 'unknown field "spec.selectr"' in result.stderr


def test_get_shows_ingress_nodes_and_events(kube: KubeAPIServer, kubectl: Kubectl) -> None:
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
            "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}},
        }
    )
    assert "lb.example.com" in kubectl("get", "svc", "web").stdout
    kube.create(node("n1", labels={"node-role.kubernetes.io/control-plane": ""}))
    nodes = kubectl("get", "nodes")
    assert nodes.stdout.splitlines()[1].split()[:3] == ["n1", "Ready", "control-plane"]
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "web.1", "namespace": "default"},
            "involvedObject": {"kind": "Service", "name": "web", "namespace": "default"},
            "reason": "EnsuredLoadBalancer",
            "message": "Ensured load balancer",
            "type": "Normal",
        }
    )
    events = kubectl("get", "events")
    assert events.returncode == 0, events.stderr
    assert "EnsuredLoadBalancer" in events.stdout and "service/web" in events.stdout


def test_get_json_and_selector(kube: KubeAPIServer, kubectl: Kubectl) -> None:
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "a", "labels": {"tier": "front"}},
            "spec": {"ports": [{"port": 80}]},
        }
    )
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "b"},
            "spec": {"ports": [{"port": 80}]},
        }
    )
    names = kubectl("get", "svc", "-l", "tier=front", "-o", "jsonpath={.items[*].metadata.name}")
    assert names.stdout == "a"
    missing = kubectl("get", "svc", "nope")
    assert missing.returncode == 1
    assert 'services "nope" not found' in missing.stderr
