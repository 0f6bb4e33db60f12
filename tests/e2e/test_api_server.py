"""reflex-api as a user reaches it: the real ``reflex-api`` subprocess, authenticated as its own
ServiceAccount with the RBAC of ``manifests/api``, in front of the real API server and two
operators (one per tenant namespace); callers present real ServiceAccount tokens
(``kubectl create token``). Alice may edit team A's databases, Bob only read team B's."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reflex_dev._proc import free_port, spawn, stop_process_group, wait_for_port, wait_until
from reflex_dev.controlplane import _kubeconfig, repo_root
from tests.e2e.helpers import apply, manifest, status
from tests.fixtures.operator import Operator

pytestmark = pytest.mark.e2e

API_RBAC = repo_root() / "manifests" / "api" / "rbac.yaml"


def _role(ns: str, name: str, verbs: list[str]) -> str:
    docs = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name, "namespace": ns},
         "rules": [{"apiGroups": ["reflexdb.cloud"], "resources": ["reflexdatabases"], "verbs": verbs}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name, "namespace": ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]},
    ]
    return "\n".join(json.dumps(d) for d in docs)


def _token(kube: Any, ns: str, sa: str) -> str:
    return kube.kubectl("create", "token", sa, "-n", ns, "--duration=1h").stdout.strip()


class Api:
    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, method: str, path: str, token: str | None, body: Any = None) -> tuple[int, Any]:
        req = urllib.request.Request(self.url + path, method=method, data=None if body is None else json.dumps(body).encode())
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None  # 204: no body
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:  # an error that is not JSON (a proxy's, say): shown as text
                return e.code, raw.decode(errors="replace")


@pytest.fixture
def team_b(kube: Any) -> Iterator[str]:
    name = f"t-api-b-{uuid.uuid4().hex[:6]}"
    kube.kubectl("create", "namespace", name)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def api(kube: Any, tmp_path: Path) -> Iterator[Api]:
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(API_RBAC))
    cp = kube.controlplane
    config = tmp_path / "api.kubeconfig"
    config.write_text(_kubeconfig(cp.url, cp.ca_file.read_bytes(), "reflex-api", _token(kube, "reflex-system", "reflex-api")))
    port = free_port()
    proc = spawn([sys.executable, "-m", "reflex_operator.restapi.serve", "--kubeconfig", str(config), "--host", "127.0.0.1",
                  "--port", str(port), "--review-ttl", "1"], log_path=tmp_path / "api.log")
    try:
        wait_for_port(port, timeout=60, proc=proc)
        yield Api(f"http://127.0.0.1:{port}")
    finally:
        stop_process_group(proc.pid, proc=proc)


def _audit(kube: Any, name: str, verb: str, namespace: str | None = None) -> list[dict[str, Any]]:
    """The audit events of ``verb`` on the object ``name`` (in ``namespace``: tests share the stack,
    and another test's object may have the same name)."""
    lines = kube.controlplane.audit_log.read_text().splitlines()
    events = [json.loads(line) for line in lines]
    return [e for e in events if e.get("verb") == verb and (e.get("objectRef") or {}).get("name") == name
            and (namespace is None or (e.get("objectRef") or {}).get("namespace") == namespace)
            and e.get("stage") == "ResponseComplete"]


def test_two_tenants_see_and_act_on_their_own_databases(operator, kube, aws, simulator, namespace, team_b, api, tmp_path):
    op_b = Operator(kube=kube, aws=aws, simulator=simulator, namespace=team_b, workdir=tmp_path / "op-b")
    (tmp_path / "op-b").mkdir()
    op_b.start()
    try:
        kube.kubectl("apply", "-f", "-", input=_role(namespace, "alice", ["get", "list", "watch", "patch"]))
        kube.kubectl("apply", "-f", "-", input=_role(team_b, "bob", ["get", "list", "watch"]))
        alice, bob = _token(kube, namespace, "alice"), _token(kube, team_b, "bob")
        for name in ("orders", "carts"):
            apply(kube, namespace, manifest(name, secret=f"{name}-src"))
        apply(kube, team_b, manifest("ledger"))
        a1, a2 = operator.wait_ready("orders", timeout=120), operator.wait_ready("carts", timeout=120)
        b1 = op_b.wait_ready("ledger", timeout=120)
        ida, ida2, idb = a1["metadata"]["uid"], a2["metadata"]["uid"], b1["metadata"]["uid"]

        # No token, a bad token: 401 in the seed's error shape.
        assert api.call("GET", f"/v1/databases/{ida}/instance", None)[0] == 401
        code, body = api.call("GET", f"/v1/databases/{ida}/instance", "not-a-token")
        assert code == 401 and body["error"] == "unauthenticated"

        # Each sees its own databases only; another tenant's id is 404 like an unknown one.
        wait_until(lambda: len(api.call("GET", "/v1/databases", alice)[1]["data"]) == 2, 10, what="alice's two databases")
        assert {d["id"] for d in api.call("GET", "/v1/databases", alice)[1]["data"]} == {ida, ida2}
        assert [d["id"] for d in api.call("GET", "/v1/databases", bob)[1]["data"]] == [idb]
        code, body = api.call("GET", f"/v1/databases/{idb}/instance", alice)
        assert code == 404 and body == {"error": "not_found", "message": f"no database {idb}"}
        code, body = api.call("GET", f"/v1/databases/{ida}/instance", alice)
        assert code == 200 and body["database"]["id"] == ida and body["instance"]["healthStatus"] == "ok"
        assert body["latestBuild"]["status"] == "succeeded" and body["allowedActions"]["pause"]["allowed"] is True
        code, builds = api.call("GET", f"/v1/databases/{ida}/builds", alice)
        assert code == 200 and builds["activeBuildId"] == status(a1)["activeBuildId"] == builds["builds"][0]["id"]

        # Bob may read team B but not write: 403 from the access review, nothing written.
        before = op_b.rdb("ledger")["metadata"]["resourceVersion"]
        code, body = api.call("POST", f"/v1/databases/{idb}/actions/pause", bob)
        assert code == 403 and body["error"] == "forbidden"
        assert op_b.rdb("ledger")["metadata"]["resourceVersion"] == before

        # Batch pause: one entry per id, alice's paused, bob's and an unknown id refused.
        ghost = str(uuid.uuid4())
        code, body = api.call("PATCH", "/v1/databases", alice, {"ids": [ida, ida2, idb, ghost], "status": "paused"})
        assert code == 200 and set(body["databases"]) == {ida, ida2, idb, ghost}
        assert body["databases"][ida]["status"] == body["databases"][ida2]["status"] == "stopping"
        assert body["databases"][idb]["error"] == body["databases"][ghost]["error"] == "not_found"
        operator.wait_phase("orders", "Paused", timeout=90)
        operator.wait_phase("carts", "Paused", timeout=90)
        assert op_b.rdb("ledger")["spec"].get("paused") is not True

        # A refused action (already paused) answers 409 with allowedActions' reason and writes nothing.
        wait_until(lambda: api.call("GET", f"/v1/databases/{ida}/instance", alice)[1]["allowedActions"]["pause"]["allowed"] is False,
                   10, what="the cache to show orders paused")
        before = operator.rdb("orders")["metadata"]["resourceVersion"]
        code, body = api.call("POST", f"/v1/databases/{ida}/actions/pause", alice)
        assert code == 409 and body["error"] == "action_not_allowed" and body["message"]
        assert operator.rdb("orders")["metadata"]["resourceVersion"] == before

        # Batch start brings them back.
        code, body = api.call("PATCH", "/v1/databases", alice, {"ids": [ida, ida2], "status": "running"})
        assert {v["status"] for v in body["databases"].values()} == {"starting"}
        operator.wait_phase("orders", "Running", timeout=90)

        # The audit trail names alice: the API's ServiceAccount asked, impersonating her.
        patches = _audit(kube, "orders", "patch", namespace)
        api_sa = "system:serviceaccount:reflex-system:reflex-api"
        mine = [e for e in patches if e["user"]["username"] == api_sa]
        assert mine and all(e["impersonatedUser"]["username"] == f"system:serviceaccount:{namespace}:alice" for e in mine)
        assert {e["responseStatus"]["code"] for e in mine} == {200}
        shown = json.loads(kube.kubectl("get", "rdb", "orders", "-n", namespace, "-o", "json", "--show-managed-fields").stdout)
        managers = {m["manager"] for m in shown["metadata"]["managedFields"]}
        assert "reflex-api" in managers
    finally:
        op_b.stop()
