"""The plan caches and the watches that fill them: which databases a plan, namespace or database
event wakes, an invalid plan ignored, the monthly totals read back from a plan's status once
after a restart, and a ReflexPlan status written only when it changed."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import kopf

from reflex_operator.controller import handlers
from reflex_operator.tenancy.plan_cache import PlanCache
from reflex_operator.controller.poller import publish_plans
from reflex_operator.controller.runtime import Entry
from tests.unit.controller.test_handlers import drain
from tests.unit.world import World, at_once

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
SPEC = {"computeUnitsLimit": 1, "maxInstanceSize": "small", "pollModeMinSyncInterval": 10, "dataTransferGBPerMonth": 1}


def _db(name: str, namespace: str = "team-a", waiting: bool = False, size: str = "small") -> dict:
    conditions = [{"type": "Stalled", "status": "True", "reason": "PlanLimitExceeded"}] if waiting else []
    return {
        "metadata": {"namespace": namespace, "name": name, "uid": f"u-{name}", "resourceVersion": "1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"size": size, "source": {"secretRef": {"name": "db"}}},
        "status": {"conditions": conditions},
    }


def _memo(*dbs: dict) -> tuple[kopf.Memo, object]:
    memo = kopf.Memo()
    rt = World().runtime()
    for db in dbs:
        rt.resources[(db["metadata"]["namespace"], db["metadata"]["name"])] = Entry(body=db)
    memo.runtime = rt
    return memo, rt


def test_a_plan_edit_wakes_every_database_of_its_namespaces_only() -> None:
    memo, rt = _memo(_db("a"), _db("b"), _db("c", namespace="elsewhere"))
    rt.plans.labels["elsewhere"] = "other"
    at_once(handlers.on_plan(event={"type": "MODIFIED", "object": {"metadata": {"name": "default"}, "spec": SPEC}}, memo=memo))
    assert sorted(drain(rt)) == [("team-a", "a"), ("team-a", "b")]
    # Its own status write comes back: the limits did not change, nothing wakes.
    at_once(handlers.on_plan(event={"type": "MODIFIED", "object": {"metadata": {"name": "default"}, "spec": SPEC, "status": {}}}, memo=memo))
    assert drain(rt) == []


def test_an_invalid_plan_is_ignored() -> None:
    cache = PlanCache()
    assert cache.plan_seen({"metadata": {"name": "p"}, "spec": SPEC})
    assert cache.plan_seen({"metadata": {"name": "p"}, "spec": {**SPEC, "computeUnitsLimit": 0}})
    assert "p" not in cache.plans


def test_a_namespace_label_change_wakes_its_databases() -> None:
    memo, rt = _memo(_db("a"))
    ns = {"metadata": {"name": "team-a", "labels": {"reflexdb.cloud/plan": "pro"}}}
    at_once(handlers.on_namespace(event={"type": "MODIFIED", "object": ns}, memo=memo))
    assert drain(rt) == [("team-a", "a")] and rt.plans.plan_name("team-a") == "pro"
    at_once(handlers.on_namespace(event={"type": "MODIFIED", "object": ns}, memo=memo))
    assert drain(rt) == []


def test_a_database_freeing_room_wakes_the_waiting_ones() -> None:
    memo, rt = _memo(_db("big", size="medium"), _db("waits", waiting=True), _db("idle"))
    paused = _db("big", size="medium")
    paused["spec"]["paused"] = True
    paused["metadata"]["resourceVersion"] = "2"
    at_once(handlers.on_database(event={"type": "MODIFIED", "object": paused}, memo=memo))
    assert sorted(drain(rt)) == [("team-a", "big"), ("team-a", "waits")]
    at_once(handlers.on_database(event={"type": "DELETED", "object": paused}, memo=memo))
    assert drain(rt) == [("team-a", "waits")]


def test_monthly_totals_are_read_back_once_after_a_restart() -> None:
    cache = PlanCache()
    cache.count(("team-a", "a"), 100, NOW)  # counted before the plan's status arrived
    status = {"namespaces": [{"namespace": "team-a", "bytesTransferredThisMonth": 5000, "month": "2026-11"}]}
    cache.plan_seen({"metadata": {"name": "default"}, "spec": SPEC, "status": status})
    assert cache.bytes_this_month("team-a", NOW) == 5100
    cache.plan_seen({"metadata": {"name": "default"}, "spec": SPEC, "status": status})  # our own write, back
    assert cache.bytes_this_month("team-a", NOW) == 5100
    assert cache.bytes_this_month("team-a", NOW.replace(month=12)) == 0


def test_plan_status_is_written_only_when_it_changed() -> None:
    w = World()
    rt = w.runtime()
    rt.resources[("team-a", "a")] = Entry(body=_db("a"))
    asyncio.run(publish_plans(rt, NOW))
    assert w.plan_status["default"]["namespaces"][0]["namespace"] == "team-a"
    w.plan_status.clear()
    asyncio.run(publish_plans(rt, NOW))
    assert w.plan_status == {}


def test_a_newer_spec_is_taken_even_before_our_own_write_is_seen() -> None:
    import time

    old, ours = {"phase": "Pending"}, {"phase": "Building"}
    entry = Entry(body={"metadata": {"resourceVersion": "1", "generation": 1}, "status": old})
    entry.wrote({"metadata": {"resourceVersion": "5", "generation": 1}, "status": ours}, time.monotonic())
    assert not entry.seen({"metadata": {"resourceVersion": "4", "generation": 1}, "status": old}, time.monotonic())
    # kopf folded our write's event into the user's: a newer generation, still the old status.
    assert entry.seen({"metadata": {"resourceVersion": "6", "generation": 2}, "status": old}, time.monotonic())


def test_a_later_event_without_our_own_version_is_taken_when_it_carries_our_status() -> None:
    """Only the operator writes status: an event with the status it wrote is its write or later
    (a label or annotation change, say), even when the write's own event never comes (kopf folds
    bursts of events)."""
    import time

    old, ours = {"phase": "Pending"}, {"phase": "Building"}
    entry = Entry(body={"metadata": {"resourceVersion": "1", "generation": 1}, "status": old})
    entry.wrote({"metadata": {"resourceVersion": "5", "generation": 1}, "status": ours}, time.monotonic())
    later = {"metadata": {"resourceVersion": "7", "generation": 1, "annotations": {"a": "b"}}, "status": ours}
    assert entry.seen(later, time.monotonic()) and entry.written is None and entry.body == later


def test_facts_of_a_namespace_without_a_plan_limit_nothing() -> None:
    """Seen without the label and no default plan: None (nothing is limited). A label naming a
    missing plan, or a namespace not seen yet, keeps the plan's name (its databases wait)."""
    cache = PlanCache()
    assert cache.namespace_seen({"metadata": {"name": "plain"}})  # new: its databases get a pass
    assert not cache.namespace_seen({"metadata": {"name": "plain", "labels": {}}})
    cache.namespace_seen({"metadata": {"name": "tenant", "labels": {"reflexdb.cloud/plan": "starter"}}})
    assert cache.facts("plain", [], NOW) is None
    assert cache.facts("tenant", [], NOW).name == "starter" and cache.facts("tenant", [], NOW).plan is None
    unseen = cache.facts("unseen", [], NOW)
    assert unseen is not None and unseen.name == "default" and unseen.plan is None
    cache.plan_seen({"metadata": {"name": "default"}, "spec": SPEC})  # a platform's own default plan
    assert cache.facts("plain", [], NOW).plan is not None and cache.facts("plain", [], NOW).name == "default"
    assert cache.plan_seen({"metadata": {"name": "default"}}, deleted=True)
    assert cache.facts("plain", [], NOW) is None


def test_only_the_replica_that_leads_the_installation_writes_plan_status() -> None:
    """A standby holds no shard: its poll writes no ReflexPlan status (it would put back stale
    monthly totals over the leader's); the holder of shard 0 writes it."""
    import time

    from reflex_operator.controller.poller import poll_once
    from reflex_operator.ha.gate import Gate

    w = World()
    rt = w.runtime()
    rt.resources[("team-a", "a")] = Entry(body=_db("a"))
    rt.gate = Gate(1, elected=True, renew_deadline=10.0)
    asyncio.run(poll_once(rt))
    assert w.plan_status == {}
    rt.gate.hold(0, time.monotonic())
    asyncio.run(poll_once(rt))
    assert w.plan_status["default"]["namespaces"][0]["namespace"] == "team-a"
