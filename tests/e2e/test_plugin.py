"""``kubectl reflex`` as a user runs it (kubectl finds the plugin on the PATH), against the real API
server, the operator, the AWS emulator and the simulator: one database through a sequence of
actions, and a fleet of databases selected by label, some refused and some acted on."""

from __future__ import annotations

import json

import pytest

from reflex_dev._proc import wait_until
from tests.e2e.helpers import SECRET_URL, apply, manifest, plugin, status
from tests.fixtures.operator import condition

pytestmark = pytest.mark.e2e


def _kinds(obj) -> list[str]:
    """Notification types, oldest first."""
    return [n["eventType"] for n in status(obj).get("notifications", [])][::-1]


def _phases(obj) -> list[tuple[str | None, str | None]]:
    return [(h.get("from"), h.get("to")) for h in status(obj).get("history", []) if h["kind"] == "phase"][::-1]


def test_one_database_through_a_sequence_of_actions(operator, ok, kube, aws, simulator, namespace):
    apply(kube, namespace, manifest("orders"))
    obj = operator.wait_ready("orders")
    first_build = status(obj)["activeBuildId"]

    screen = ok(plugin(kube, namespace, "status", "orders"))
    assert "Phase:" in screen and "Running" in screen and "Health:" in screen and "ok" in screen
    assert "Actions:" in screen and "pause-replication" in screen and "Conditions:" in screen
    assert "Notifications: 2 unseen" in screen

    out = ok(plugin(kube, namespace, "pause", "orders", "--wait", "--timeout", "60"))
    assert out.strip() == "orders: done: Paused"
    obj = operator.rdb("orders")
    assert status(obj)["phase"] == "Paused" and obj["spec"]["paused"] is True
    shown = json.loads(kube.kubectl("get", "rdb", "orders", "-n", namespace, "-o", "json", "--show-managed-fields").stdout)
    managers = {m["manager"] for m in shown["metadata"]["managedFields"]}
    assert "kubectl-reflex" in managers

    # Refused by allowedActions: nothing is written, the exit status says so.
    before = obj["metadata"]["resourceVersion"]
    out = ok(plugin(kube, namespace, "pause", "orders"), rc=1)
    assert out.startswith("orders: refused: ") and operator.rdb("orders")["metadata"]["resourceVersion"] == before

    ok(plugin(kube, namespace, "resume", "orders", "--wait", "--timeout", "60"))
    ok(plugin(kube, namespace, "reload", "orders", "--wait", "--timeout", "60"))
    out = ok(plugin(kube, namespace, "rebuild", "orders", "--wait", "--timeout", "90"))
    assert "done" in out
    obj = operator.rdb("orders")
    second_build = status(obj)["activeBuildId"]
    assert second_build != first_build

    table = ok(plugin(kube, namespace, "builds", "orders")).splitlines()
    assert table[0].split()[:2] == ["ID", "STATUS"]
    assert table[1].startswith("*") and second_build in table[1] and first_build in table[2]
    builds = json.loads(ok(plugin(kube, namespace, "builds", "orders", "-o", "json")))
    assert builds["activeBuildId"] == second_build and [b["id"] for b in builds["builds"]] == [second_build, first_build]

    out = ok(plugin(kube, namespace, "redeploy", "orders", first_build, "--wait", "--timeout", "60"))
    assert out.strip() == f"orders: done: running build {first_build}"
    assert ok(plugin(kube, namespace, "redeploy", "orders", "no-such-build"), rc=1).strip() == (
        "orders: refused: build no-such-build is not in status.builds"
    )

    # --dry-run: validated by the API server, nothing stored; -o json for machines.
    size = operator.rdb("orders")["spec"].get("size")
    out = json.loads(ok(plugin(kube, namespace, "resize", "orders", "large", "--dry-run", "-o", "json")))
    assert out == [{"namespace": namespace, "name": "orders", "result": "would patch", "detail": '{"spec":{"size":"large"}}'}]
    assert operator.rdb("orders")["spec"].get("size") == size != "large"
    bad = plugin(kube, namespace, "resize", "orders", "huge")
    assert bad.returncode == 2 and "invalid choice: 'huge'" in bad.stderr
    ok(plugin(kube, namespace, "resize", "orders", "large", "--wait", "--timeout", "60"))
    ok(plugin(kube, namespace, "pause-replication", "orders", "--wait", "--timeout", "60"))
    ok(plugin(kube, namespace, "resume-replication", "orders", "--wait", "--timeout", "60"))
    ok(plugin(kube, namespace, "restart", "orders", "--wait", "--timeout", "60"))
    ok(plugin(kube, namespace, "terminate", "orders", "--wait", "--timeout", "60"))
    ok(plugin(kube, namespace, "provision", "orders", "--wait", "--timeout", "90"))

    obj = operator.rdb("orders")
    kinds = _kinds(obj)
    for kind in ("BuildSucceeded", "Deployed", "Paused", "Resumed", "Reloaded", "ReplicationPaused", "ReplicationResumed", "Terminated"):
        assert kind in kinds, (kind, kinds)
    assert kinds.index("Paused") < kinds.index("Resumed") < kinds.index("Reloaded") < kinds.index("Terminated")
    ids = [n["id"] for n in status(obj)["notifications"]]
    assert len(ids) == len(set(ids)) and len(ids) <= 20
    # Events and notifications come from the same transitions.
    events = operator.event_reasons("orders")
    assert all(kind in events for kind in kinds)
    phases = _phases(obj)
    tos = [t for _, t in phases]
    assert "Paused" in tos and any(f == "Paused" for f, _ in phases), phases
    assert "Terminated" in tos and tos[-1] == "Running" and phases[0][0] is None, phases
    health = [h for h in status(obj)["history"] if h["kind"] == "health"]
    assert health and health[0]["to"] == "ok"
    described = kube.kubectl("describe", "rdb", "orders", "-n", namespace).stdout
    assert "Notifications:" in described and "Event Type:" in described and "History:" in described


def _database(name: str, labels: dict[str, str], spec: dict | None = None) -> str:
    body = {"source": {"secretRef": {"name": "src"}}, "size": "micro", **(spec or {})}
    doc = {"apiVersion": "reflexdb.cloud/v1alpha1", "kind": "ReflexDatabase", "metadata": {"name": name, "labels": labels}, "spec": body}
    return json.dumps(doc)


def test_a_fleet_selected_by_label(operator, ok, kube, aws, simulator, namespace):
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "src"}, "stringData": {"url": SECRET_URL}}
    docs = [json.dumps(secret)]
    docs += [_database(f"db-{i:02d}", {"fleet": "f1", "group": "a" if i < 5 else "b"}) for i in range(20)]
    docs += [_database("outsider", {"fleet": "other"})]
    apply(kube, namespace, "\n".join(docs))

    def all_ready() -> bool:
        items = json.loads(kube.kubectl("get", "rdb", "-n", namespace, "-o", "json").stdout)["items"]
        return len(items) == 21 and all(condition(o, "Ready") == "True" for o in items)

    wait_until(all_ready, 180, interval=0.5, what="21 databases Ready")

    # Five are paused first (a fleet of five)...
    out = ok(plugin(kube, namespace, "pause", "-l", "group=a", "--wait", "--timeout", "90"))
    assert out.splitlines()[-1] == "5 databases: 5 done"
    # ...then the whole fleet is asked to pause: those five are refused (already paused, no write),
    # the fifteen others are paused; the one outside the selector is left alone.
    proc = plugin(kube, namespace, "pause", "-l", "fleet=f1", "--wait", "--timeout", "120")
    lines = ok(proc, rc=1).splitlines()
    assert len(lines) == 21 and lines[-1] == "20 databases: 15 done, 5 refused"
    refused = sorted(line.split(":")[0] for line in lines[:-1] if ": refused: " in line)
    assert refused == [f"db-{i:02d}" for i in range(5)]
    assert all(line.endswith(": done: Paused") for line in lines[:-1] if ": refused: " not in line)
    items = json.loads(kube.kubectl("get", "rdb", "-n", namespace, "-o", "json").stdout)["items"]
    by_name = {o["metadata"]["name"]: o for o in items}
    assert all(status(by_name[f"db-{i:02d}"])["phase"] == "Paused" for i in range(20))
    assert status(by_name["outsider"])["phase"] == "Running" and not by_name["outsider"]["spec"].get("paused")

    # --all in the namespace, --dry-run: every database answered, nothing written.
    lines = ok(plugin(kube, namespace, "resume", "--all", "--dry-run"), rc=1).splitlines()
    assert lines[-1] == "21 databases: 1 refused, 20 would patch"
    assert "outsider: refused: " in "\n".join(lines)
    items = json.loads(kube.kubectl("get", "rdb", "-n", namespace, "-l", "fleet=f1", "-o", "json").stdout)["items"]
    assert all(o["spec"]["paused"] is True for o in items)
