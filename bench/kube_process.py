"""Scenario 5's Kubernetes API: lbctl's sandbox API server, in a process of its own.

Own process, so that the controller's measured memory holds nothing of the API server's.
Started by `bench.rss`: creates the Nodes and the Services, writes a kubeconfig, prints
the server's URL on one line, then serves until its standard input is closed.

One change is made to the server here, as `--service-node-port-range` would make to a real
one: 5 000 Services with 2 ports each need 10 000 NodePorts, and the default range
(30000-32767) has 2 768, so the range is widened downwards to hold them. Every Service is
created with its NodePorts and cluster IP given (distinct, in range), so the server
allocates nothing by scanning its ranges.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path
from typing import Any

from lbctl.sandbox.kube import KubeAPIServer
from lbctl.sandbox.kube import services as kube_services

NAMESPACE = "bench"
NLB_TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
NODE_PORT_TOP = 32768  # the default range's end (exclusive), kept


def node(i: int) -> dict[str, Any]:
    name = f"ip-10-0-128-{10 + i}.ec2.internal"
    zone = "us-east-1" + "ab"[i % 2]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"providerID": f"aws:///{zone}/i-{i:017x}"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def service(i: int, first_port: int) -> dict[str, Any]:
    """A type LoadBalancer Service with ports 80 and 443 (every other one an NLB), as the
    other scenarios' Services, with its NodePorts and cluster IP given."""
    ip = ipaddress.ip_network("10.96.0.0/12")[1000 + i]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"svc-{i:05d}",
            "namespace": NAMESPACE,
            "annotations": {NLB_TYPE: "nlb"} if i % 2 else {},
        },
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": str(ip),
            "ports": [
                {"name": "http", "protocol": "TCP", "port": 80, "nodePort": first_port + 2 * i},
                {
                    "name": "https",
                    "protocol": "TCP",
                    "port": 443,
                    "nodePort": first_port + 2 * i + 1,
                },
            ],
            "selector": {"app": f"svc-{i:05d}"},
            "externalTrafficPolicy": "Cluster",
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kube_process")
    parser.add_argument("--services", type=int, required=True)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    args = parser.parse_args(argv)
    first_port = min(30000, NODE_PORT_TOP - 2 * args.services)
    kube_services.NODE_PORT_RANGE = range(first_port, NODE_PORT_TOP)
    server = KubeAPIServer(bookmark_interval=5.0).start()
    try:
        server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        for i in range(args.nodes):
            server.create(node(i))
        for i in range(args.services):
            server.create(service(i, first_port))
        server.write_kubeconfig(args.kubeconfig, namespace=NAMESPACE)
        print(server.url, flush=True)
        sys.stdin.read()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
