"""Notifications and history in status, end to end: marking them seen with the annotation (through
``kubectl reflex notifications --ack``) resets unseenCount, a new transition counts again, and the
ids survive an operator restart with nothing duplicated."""

from __future__ import annotations

import json

import pytest

from tests.e2e.helpers import apply, manifest, plugin, status

pytestmark = pytest.mark.e2e


def test_marking_seen_resets_unseen_count_and_ids_survive_a_restart(operator, ok, kube, aws, simulator, namespace):
    apply(kube, namespace, manifest("orders"))
    obj = operator.wait_ready("orders")
    obj = operator.wait("orders", lambda o: status(o).get("unseenCount") == 2, what="two unseen notifications")
    assert [n["eventType"] for n in status(obj)["notifications"]] == ["Deployed", "BuildSucceeded"]
    assert {n["severity"] for n in status(obj)["notifications"]} == {"success"}
    assert status(obj)["skippedCount"] == 0

    listed = ok(plugin(kube, namespace, "notifications", "orders"))
    assert listed.splitlines()[0] == "2 unseen, 0 skipped" and "Deployed" in listed

    out = json.loads(ok(plugin(kube, namespace, "notifications", "orders", "--ack", "--wait", "-o", "json")))
    assert out["unseenCount"] == 0 and len(out["notifications"]) == 2
    obj = operator.rdb("orders")
    assert "reflexdb.cloud/notifications-seen" in obj["metadata"]["annotations"]

    ok(plugin(kube, namespace, "pause", "orders", "--wait", "--timeout", "60"))
    obj = operator.wait("orders", lambda o: status(o).get("unseenCount") == 1, what="one unseen (Paused)")
    assert status(obj)["notifications"][0]["eventType"] == "Paused"
    assert "Notifications: 1 unseen, 0 skipped" in ok(plugin(kube, namespace, "status", "orders"))

    # A restarted operator keeps the ids it wrote and adds nothing for what it already told.
    before = status(obj)["notifications"]
    operator.stop()
    operator.start()
    ok(plugin(kube, namespace, "resume", "orders", "--wait", "--timeout", "60"))
    # Resumed is notified; it need not be the newest: a health check the instance did not answer
    # yet, just after its task started, is told (HealthDegraded, then HealthRecovered) too.
    obj = operator.wait("orders", lambda o: "Resumed" in [n["eventType"] for n in status(o)["notifications"]], what="Resumed notified")
    after = status(obj)["notifications"]
    added = after[: len(after) - len(before)]
    assert after[len(added):] == before
    assert [n["eventType"] for n in added if not n["eventType"].startswith("Health")] == ["Resumed"]
    assert status(obj)["unseenCount"] == 1 + len(added)  # Paused, then what the resume added

    # When and for how long: the history has the pause, with time and reason.
    entries = [h for h in status(obj)["history"] if h["kind"] == "phase"]
    paused = next(h for h in entries if h.get("to") == "Paused")
    resumed = next(h for h in entries if h.get("from") == "Paused")
    assert paused["at"] <= resumed["at"] and paused["reason"]


def test_a_failed_build_is_sticky_until_a_rebuild_resolves_it(operator, ok, kube, aws, simulator, namespace):
    aws.emulator.fault("build_fail", match={"env": {"REFLEX_CLUSTER_IDENTITY": namespace}}, count=1, message="cargo build: error")
    apply(kube, namespace, manifest("orders"))
    obj = operator.wait_phase("orders", "Failed")
    obj = operator.wait("orders", lambda o: any(n["eventType"] == "BuildFailed" for n in status(o).get("notifications", [])),
                        what="BuildFailed notified")
    failed = next(n for n in status(obj)["notifications"] if n["eventType"] == "BuildFailed")
    assert failed["sticky"] is True and failed["severity"] == "error" and "cargo build" in failed["message"]
    assert "STICKY" in ok(plugin(kube, namespace, "notifications", "orders"))

    out = ok(plugin(kube, namespace, "rebuild", "orders", "--wait", "--timeout", "90"))
    assert out.strip() == "orders: done: rebuilt and Ready"
    obj = operator.rdb("orders")
    same = next(n for n in status(obj)["notifications"] if n["id"] == failed["id"])
    assert same["sticky"] is False  # resolved: it ages out like any other now
    tos = [h.get("to") for h in status(obj)["history"] if h["kind"] == "phase"][::-1]
    assert "Failed" in tos and tos[-1] == "Running"
