"""reflex-api's seed surface against the local stack (the real API server, its admission, an
operator, the AWS emulator and the simulator), callers presenting real ServiceAccount tokens:
the seed's batch body with one id the API server refuses to write; a poll-only plan's
allowedSyncModes and minimum interval; a reconfigure that changes the spec and is deployed; create
and delete decided by Kubernetes RBAC (one identity allowed, one refused)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from reflex_dev._proc import wait_until
from tests.e2e.helpers import SECRET_URL, apply, manifest
from tests.e2e.test_api_server import Api, _audit, _role, _token, api  # noqa: F401 - the api fixture

pytestmark = pytest.mark.e2e


@pytest.fixture
def seed_api(api: Api) -> Api:  # noqa: F811 - the imported fixture
    return api


def _plan(kube: Any, namespace: str) -> Iterator[str]:
    name = f"poll-{namespace}"[:63].rstrip("-")
    spec = {"computeUnitsLimit": 4, "maxInstanceSize": "medium", "pollModeMinSyncInterval": 30,
            "dataTransferGBPerMonth": 10, "allowedSyncModes": ["poll"]}
    kube.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "reflexdb.cloud/v1alpha1", "kind": "ReflexPlan", "metadata": {"name": name}, "spec": spec}))
    kube.kubectl("label", "namespace", namespace, f"reflexdb.cloud/plan={name}", "--overwrite")
    try:
        yield name
    finally:
        kube.kubectl("delete", "reflexplan", name, "--ignore-not-found", "--wait=false", check=False)


@pytest.fixture
def poll_plan(kube: Any, namespace: str) -> Iterator[str]:
    yield from _plan(kube, namespace)


@contextmanager
def _refuse_writes(kube: Any, name: str, namespace: str, db: str, user: str) -> Iterator[None]:
    """A ValidatingAdmissionPolicy that refuses ``user``'s updates of one database: the API server
    itself says no to that write (RBAC and allowedActions say yes)."""
    where = f"object.metadata.namespace == '{namespace}' && object.metadata.name == '{db}' && request.userInfo.username == '{user}'"
    docs = [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy", "metadata": {"name": name},
         "spec": {"failurePolicy": "Fail",
                  "matchConstraints": {"resourceRules": [{"apiGroups": ["reflexdb.cloud"], "apiVersions": ["*"],
                                                          "operations": ["UPDATE"], "resources": ["reflexdatabases"]}]},
                  "matchConditions": [{"name": "this-one", "expression": where}],
                  "validations": [{"expression": "false", "message": "writes to this database are refused for the test"}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": name},
         "spec": {"policyName": name, "validationActions": ["Deny"]}},
    ]
    kube.kubectl("apply", "-f", "-", input="\n".join(json.dumps(d) for d in docs))
    try:
        yield
    finally:
        kube.kubectl("delete", "validatingadmissionpolicybinding", name, "--ignore-not-found", check=False)
        kube.kubectl("delete", "validatingadmissionpolicy", name, "--ignore-not-found", check=False)


def _instance(api: Api, token: str, uid: str) -> dict[str, Any]:
    code, body = api.call("GET", f"/v1/databases/{uid}/instance", token)
    assert code == 200, body
    return body


def test_seed_batch_poll_only_plan_and_a_real_reconfigure(operator, kube, namespace, poll_plan, seed_api):
    api = seed_api
    kube.kubectl("apply", "-f", "-", input=_role(namespace, "alice", ["get", "list", "watch", "patch"]))
    alice = _token(kube, namespace, "alice")
    for name in ("orders", "carts"):
        apply(kube, namespace, manifest(name, secret=f"{name}-src"))
    ida = operator.wait_ready("orders", timeout=120)["metadata"]["uid"]
    idc = operator.wait_ready("carts", timeout=120)["metadata"]["uid"]

    # The plan allows poll only, 30 s at least: /instance says so (the plan is watched, no request per read).
    wait_until(lambda: _instance(api, alice, ida)["database"]["allowedSyncModes"] == ["poll"], 30, what="the plan's sync modes")
    doc = _instance(api, alice, ida)
    assert doc["database"]["minSyncInterval"] == 30 and doc["database"]["minSyncIntervals"] == {"poll": 30}
    assert doc["pollModeMinSyncInterval"] == 30 and doc["lifecycle"]["plan"] == poll_plan
    assert doc["lifecycle"]["phase"] == "Running" and doc["lifecycle"]["status"] == "STATUS_RUNNING"
    assert doc["lifecycle"]["placement"]["cluster"] and {c["type"] for c in doc["lifecycle"]["conditions"]} >= {"Ready", "Stalled"}

    # stream is refused by the API server's admission (the plan), nothing written.
    before = operator.rdb("orders")["metadata"]["resourceVersion"]
    code, body = api.call("POST", f"/v1/databases/{ida}/reconfigure", alice, {"syncMode": "stream"})
    assert code in (403, 422) and "allowedSyncModes" in body["message"], body
    assert operator.rdb("orders")["metadata"]["resourceVersion"] == before

    # A real reconfigure: the spec changes and the operator deploys it.
    code, body = api.call("POST", f"/v1/databases/{ida}/reconfigure", alice, {"logLevel": "debug", "syncInterval": 45})
    assert code == 200 and body["patch"] == {"spec": {"logLevel": "debug", "sync": {"intervalSeconds": 45}}}, body
    spec = operator.rdb("orders")["spec"]
    assert spec["logLevel"] == "debug" and spec["sync"]["intervalSeconds"] == 45
    deployed = lambda o: (o.get("status", {}).get("deployedConfig") or {})  # noqa: E731
    operator.wait("orders", lambda o: deployed(o).get("logLevel") == "debug" and deployed(o).get("syncInterval") == 45
                  and not o["status"].get("hasPendingChanges"), timeout=120, what="the new configuration deployed")

    # The seed's batch body, one id the API server refuses to write, one unknown: every id answered.
    user = f"system:serviceaccount:{namespace}:alice"
    with _refuse_writes(kube, f"refuse-{namespace}"[:63], namespace, "carts", user):
        # the policy takes effect within moments: wait until a dry-run write as alice is refused
        as_alice = ("--as", user)
        wait_until(lambda: kube.kubectl("patch", "rdb", "carts", "-n", namespace, "--type=merge", "-p", '{"spec":{"paused":true}}',
                                        "--dry-run=server", *as_alice, check=False).returncode != 0, 30, what="the policy in force")
        ghost = str(uuid.uuid4())
        code, body = api.call("PATCH", "/v2/instances", alice, {"instances": [ida, idc, ghost], "status": "STATUS_PAUSED"})
        assert code == 200 and set(body["instances"]) == {ida, idc, ghost}, body
        got = body["instances"]
        assert got[ida]["status"] == "STATUS_STOPPING" and got[ida]["error"] is None
        assert got[idc]["status"] == "STATUS_RUNNING" and got[idc]["error"] in ("forbidden", "invalid"), got[idc]
        assert "refused for the test" in got[idc]["message"]
        assert got[ghost] == {"status": "STATUS_UNKNOWN", "error": "not_found", "message": "no such database"}
        operator.wait_phase("orders", "Paused", timeout=90)
        assert operator.rdb("carts")["spec"].get("paused") is not True

    # History: the pause is there, newest first, for the instance and in the fleet's.
    def paused_in_history() -> bool:
        code, page = api.call("GET", f"/v2/instances/status/history?instance_fid={ida}&limit=5", alice)
        return code == 200 and any(e["to"] == "Paused" for e in page["data"])

    wait_until(paused_in_history, 30, what="the pause in the history")
    code, page = api.call("GET", f"/v2/instances/status/history?project={namespace}&limit=100", alice)
    assert code == 200 and {e["databaseId"] for e in page["data"]} == {ida, idc}

    # Start again with the seed's words: STATUS_CONFIRMED.
    code, body = api.call("PATCH", "/v2/instances", alice, {"instances": [ida], "status": "STATUS_RUNNING"})
    assert body["instances"][ida]["status"] == "STATUS_CONFIRMED", body
    operator.wait_phase("orders", "Running", timeout=90)


def test_create_and_delete_through_the_api_decided_by_rbac(operator, kube, namespace, seed_api):
    api = seed_api
    kube.kubectl("apply", "-f", "-", input=_role(namespace, "alice", ["get", "list", "watch", "patch", "create", "delete"]))
    kube.kubectl("apply", "-f", "-", input=_role(namespace, "bob", ["get", "list", "watch"]))
    alice, bob = _token(kube, namespace, "alice"), _token(kube, namespace, "bob")
    kube.kubectl("create", "secret", "generic", "fresh-src", "-n", namespace, f"--from-literal=url={SECRET_URL}")
    body = {"name": "fresh", "namespace": namespace, "source": {"secretRef": {"name": "fresh-src"}}, "instanceSize": "micro", "logLevel": "warn"}

    # Bob may read, not create: 403 from his access review, nothing made.
    code, out = api.call("POST", "/v1/databases", bob, body)
    assert code == 403 and out["error"] == "forbidden", out
    assert operator.rdb("fresh") is None

    # Alice may: 201 with the created database, made as her, and the operator deploys it.
    code, out = api.call("POST", "/v1/databases", alice, body)
    assert code == 201 and out["name"] == "fresh" and out["instanceSize"] == "micro", out
    uid = out["id"]
    created = operator.wait_ready("fresh", timeout=120)
    assert created["metadata"]["uid"] == uid and created["spec"]["logLevel"] == "warn"
    creates = [e for e in _audit(kube, "fresh", "create", namespace) if e["user"]["username"].endswith(":reflex-api")]
    assert creates and creates[0]["impersonatedUser"]["username"] == f"system:serviceaccount:{namespace}:alice"
    assert SECRET_URL not in json.dumps(out)
    wait_until(lambda: api.call("GET", f"/v1/databases/{uid}/instance", alice)[0] == 200, 10, what="the cache to have it")

    # A second create of the same name: the API server's conflict, answered as such.
    code, out = api.call("POST", "/v1/databases", alice, body)
    assert code == 409 and out["error"] == "conflict", out

    # Bob may not delete it; Alice may: 204, and it goes.
    code, out = api.call("DELETE", f"/v1/databases/{uid}", bob)
    assert code == 403 and out["error"] == "forbidden"
    assert operator.rdb("fresh") is not None
    code, out = api.call("DELETE", f"/v1/databases/{uid}", alice)
    assert code == 204 and out is None
    wait_until(lambda: operator.rdb("fresh") is None, 120, what="fresh deleted")
