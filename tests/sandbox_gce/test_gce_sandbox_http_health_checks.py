"""The legacy ``global/httpHealthChecks`` resource, which google-cloud-compute has no client for.

Called the way the provider does: google-auth's ``AuthorizedSession`` with
``AnonymousCredentials`` against the same endpoint, plain JSON in and out.
"""

from __future__ import annotations

from google.cloud import compute_v1

from tests.sandbox_gce.conftest import Compute


def test_http_health_check_lifecycle(compute: Compute) -> None:
    session = compute.http_session()
    collection = compute.url("global/httpHealthChecks")
    item = f"{collection}/k8s-sandbox-node"

    created = session.post(
        collection, json={"name": "k8s-sandbox-node", "port": 10256, "requestPath": "/healthz"}
    )
    assert created.status_code == 200
    operation = created.json()
    assert operation["kind"] == "compute#operation"
    assert "region" not in operation
    compute.done(compute_v1.Operation(name=operation["name"]))

    check = session.get(item).json()
    assert check["kind"] == "compute#httpHealthCheck"
    assert (
        check["port"],
        check["requestPath"],
        check["checkIntervalSec"],
        check["timeoutSec"],
    ) == (10256, "/healthz", 5, 5)
    assert (check["healthyThreshold"], check["unhealthyThreshold"]) == (2, 2)

    patched = session.patch(
        item,
        json={
            "checkIntervalSec": 8,
            "timeoutSec": 1,
            "healthyThreshold": 1,
            "unhealthyThreshold": 3,
        },
    )
    compute.done(compute_v1.Operation(name=patched.json()["name"]))
    check = session.get(item).json()
    assert (
        check["checkIntervalSec"],
        check["timeoutSec"],
        check["healthyThreshold"],
        check["unhealthyThreshold"],
    ) == (8, 1, 1, 3)

    replaced = session.put(
        item, json={**check, "description": '{"kubernetes.io/service-name":"k8s-sandbox-node"}'}
    )
    compute.done(compute_v1.Operation(name=replaced.json()["name"]))
    assert session.get(item).json()["description"].startswith("{")

    listed = session.get(collection, params={"filter": 'name = "k8s-sandbox-node"'}).json()
    assert listed["kind"] == "compute#httpHealthCheckList"
    assert [c["name"] for c in listed["items"]] == ["k8s-sandbox-node"]

    deleted = session.delete(item)
    compute.done(compute_v1.Operation(name=deleted.json()["name"]))
    missing = session.get(item)
    path = f"projects/{compute.project}/global/httpHealthChecks/k8s-sandbox-node"
    message = f"The resource '{path}' was not found"
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {
            "code": 404,
            "message": message,
            "errors": [
                {
                    "message": message,
                    "domain": "global",
                    "reason": "notFound",
                }
            ],
        }
    }
    assert "items" not in session.get(collection).json()


def test_timeout_may_not_exceed_interval(compute: Compute) -> None:
    response = compute.http_session().post(
        compute.url("global/httpHealthChecks"),
        json={"name": "hc", "checkIntervalSec": 2, "timeoutSec": 5},
    )
    assert response.status_code == 400
    assert (
        "TimeoutSec should be less than or equal to checkIntervalSec"
        in response.json()["error"]["message"]
    )
