"""Who wakes whom is declared in one module: ``controller.triggers``. Nothing else in the product
puts a key into the work queue, and each trigger wakes exactly what its table row says."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from reflex_operator.controller import triggers
from reflex_operator.controller.runtime import Entry
from tests.unit.world import World, resource

PRODUCT = Path(__file__).resolve().parents[3] / "operator" / "reflex_operator"
_ENQUEUE = {"add", "add_after"}


def _enqueue_sites(path: Path) -> list[int]:
    """Lines that call ``<...>.queue.add(...)`` / ``queue.add_after(...)`` (the queue's own module aside)."""
    sites = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _ENQUEUE:
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else owner.id if isinstance(owner, ast.Name) else ""
            if name == "queue":
                sites.append(node.lineno)
    return sites


def test_only_the_triggers_module_enqueues() -> None:
    found = {str(p.relative_to(PRODUCT)): lines for p in sorted(PRODUCT.rglob("*.py")) if (lines := _enqueue_sites(p))}
    assert set(found) == {"controller/triggers.py"}, found


def test_the_site_finder_sees_an_enqueue(tmp_path: Path) -> None:
    path = tmp_path / "probe.py"
    path.write_text("def f(rt, queue):\n    rt.queue.add(key)\n    queue.add_after(key, 1)\n    other.add(x)\n")
    assert _enqueue_sites(path) == [2, 3]


def _body(namespace: str, name: str, uid: str, secret: str = "s", waiting: bool = False, held: bool = False) -> dict:
    conditions = [{"type": "Stalled", "status": "True", "reason": "PlanLimitExceeded", "message": "no room"}] if waiting else []
    status: dict = {"conditions": conditions}
    if held:
        status["rollout"] = {"name": "server-v2", "serverVersion": "v2", "state": "Held", "since": "2026-12-05T12:00:00Z"}
    return {
        "metadata": {"namespace": namespace, "name": name, "uid": uid, "resourceVersion": "1", "generation": 1},
        "spec": {"source": {"secretRef": {"name": secret}}},
        "status": status,
    }


@pytest.fixture
def rt():
    runtime = World().runtime()
    for body in (
        _body("a", "one", "u1", secret="s1"),
        _body("a", "two", "u2", secret="s2", waiting=True),
        _body("b", "three", "u3", secret="s1", held=True),
    ):
        runtime.resources[(body["metadata"]["namespace"], body["metadata"]["name"])] = Entry(body=body)
    return runtime


def _queued(rt) -> set:
    return {key for key in rt.resources if key in rt.queue}


@pytest.mark.parametrize(
    ("trigger", "woken"),
    [
        (lambda rt: triggers.database_changed(rt, ("a", "one")), {("a", "one")}),
        (lambda rt: triggers.room_changed(rt, "a"), {("a", "two")}),
        (lambda rt: triggers.database_gone(rt, ("a", "gone"), None), {("a", "two")}),
        (lambda rt: triggers.secret_changed(rt, "a", "s1"), {("a", "one")}),
        (lambda rt: triggers.plan_changed(rt, ["a"]), {("a", "one"), ("a", "two")}),
        (lambda rt: triggers.namespace_moved(rt, "b"), {("b", "three")}),
        (lambda rt: triggers.observed(rt, [("b", "three")]), {("b", "three")}),
        (lambda rt: triggers.step_due(rt, ("a", "one")), {("a", "one")}),
        (lambda rt: triggers.conflict(rt, ("a", "two")), {("a", "two")}),
        (lambda rt: triggers.shard_taken(rt, [("a", "one"), ("b", "three")]), {("a", "one"), ("b", "three")}),
        (lambda rt: triggers.build_queue_full(rt, ("a", "one")), set()),  # later, not now
        (lambda rt: triggers.wave_advanced(rt, "server-v2", ["a/one", "x/gone"], False), {("a", "one")}),  # the admitted
        (lambda rt: triggers.wave_advanced(rt, "server-v2", ["a/one"], True), {("a", "one"), ("b", "three")}),  # and the held
        (lambda rt: triggers.wave_advanced(rt, "server-v3", [], True), set()),  # another rollout's held are not woken
    ],
)
async def test_each_trigger_wakes_what_its_row_says(rt, trigger, woken) -> None:
    trigger(rt)
    assert _queued(rt) == woken


def test_a_database_gone_frees_its_slot_for_those_waiting_on_its_cluster(rt) -> None:
    rt.placements.waiting.add(("b", "three"))
    triggers.database_gone(rt, ("a", "gone"), "reflex")
    assert _queued(rt) == {("a", "two"), ("b", "three")}
