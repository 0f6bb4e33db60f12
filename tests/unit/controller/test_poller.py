"""The poller's wake decisions (poll_once against the in-memory world): a changed build, service
or health sample wakes its owner; an unchanged one does not."""

from __future__ import annotations

import asyncio
import time

import pytest

from reflex_operator.api.models import HealthStatus, Phase
from reflex_operator.database import steps as s
from reflex_operator.controller.poller import poll_once, run_poller
from reflex_operator.settings import Settings
from tests.unit.world import World, deliver, one_pass, resource, settle


def running_world():
    w = World()
    d, _ = settle(w, resource())
    assert d.status.phase is Phase.RUNNING
    rt, key = deliver(w, d)
    return w, d, rt, key


def poll(rt):
    return asyncio.run(poll_once(rt))


def test_a_steady_resource_is_not_woken():
    w, d, rt, key = running_world()
    assert poll(rt) == set()
    w.tick()  # a new sample (the swap count moved), nothing the status shows changed
    assert poll(rt) == set()


def test_a_changed_service_wakes_its_owner():
    w, d, rt, key = running_world()
    w.service["running"] = 0
    assert poll(rt) == {key}
    assert rt.services[next(iter(rt.services))].running_count == 0
    assert poll(rt) == set()  # seen now


def asked(rt):
    """The service names each DescribeServices of the runtime asks about."""
    names: list[str] = []
    describe = rt.ecs.describe

    async def counting(batch, cluster=None):
        names.extend(batch)
        return await describe(batch, cluster)

    rt.ecs.describe = counting
    return names


def test_a_short_round_asks_nothing_when_nothing_moves():
    w, d, rt, key = running_world()
    poll(rt)
    names, probed = asked(rt), rt.health.pop(key)
    assert asyncio.run(poll_once(rt, full=False)) == set()
    assert names == []
    assert key not in rt.health  # no health probe in a short round
    poll(rt)
    assert len(names) == 1 and key in rt.health and probed is not None


def test_a_short_round_follows_a_service_that_is_moving():
    w, d, rt, key = running_world()
    w.service["running"] = 0  # the task stopped: the full poll sees it
    assert poll(rt) == {key}
    rt.queue.done(asyncio.run(rt.queue.get()))  # its pass ran
    names = asked(rt)
    w.service["running"] = 1  # back: the short round sees it, wakes the owner, then stops asking
    assert asyncio.run(poll_once(rt, full=False)) == {key}
    rt.queue.done(asyncio.run(rt.queue.get()))
    assert asyncio.run(poll_once(rt, full=False)) == set()
    assert len(names) == 1


def test_a_short_round_asks_about_a_deploying_service_unless_its_pass_is_queued():
    w, d, rt, key = running_world()
    entry = rt.resources[key]
    entry.body = {**entry.body, "status": {**entry.body["status"], "phase": "Deploying"}}
    poll(rt)
    names = asked(rt)
    rt.queue.add(key)
    asyncio.run(poll_once(rt, full=False))
    assert names == []  # its pass will see what there is to see
    rt.queue.done(asyncio.run(rt.queue.get()))
    asyncio.run(poll_once(rt, full=False))
    assert len(names) == 1


def test_changed_health_wakes_its_owner():
    w, d, rt, key = running_world()
    w.health_mode = HealthStatus.DEGRADED
    assert poll(rt) == {key}
    assert rt.health[key].status is HealthStatus.DEGRADED
    assert rt.metrics.registry.get_sample_value("reflexdb_health", {"namespace": "team-a", "name": "orders"}) == 0.5


def test_a_due_refresh_wakes_its_owner():
    w, d, rt, key = running_world()
    w.tick(rt.settings.status_refresh_seconds + 1)
    assert poll(rt) == {key}


def test_a_build_wakes_its_owner_when_it_moves():
    w = World(build_ticks=3)
    d, p = one_pass(w, resource())
    assert any(isinstance(x, s.StartBuild) for x in p.steps)
    rt, key = deliver(w, d)
    assert poll(rt) == set()  # still queued, as status says
    assert key not in rt.health  # nothing to probe while building
    w.tick()
    assert poll(rt) == {key}  # in progress now
    assert poll(rt) == set()


def test_a_paused_resource_is_not_probed():
    w = World()
    d, _ = settle(w, resource({"paused": True}))
    rt, key = deliver(w, d)
    rt.health[key] = object()  # type: ignore[assignment] - a sample from before the pause
    poll(rt)
    assert key not in rt.health


def test_an_unreadable_resource_is_skipped():
    w, d, rt, key = running_world()
    entry = rt.resources[key]
    entry.body = {**entry.body, "spec": {"size": "enormous"}}
    assert poll(rt) == set()


async def test_the_poller_survives_a_failing_round():
    w = World()
    rt = w.runtime()
    rt.settings = Settings(poll_interval_seconds=0.01)
    rounds = []

    async def failing(names, cluster=None):
        rounds.append(names)
        raise RuntimeError("ECS is down")

    w.ecs.describe = failing  # type: ignore[method-assign]
    d = resource()
    rt, key = deliver(w, d)
    entry = rt.resources[key]
    entry.body = {**entry.body, "status": {"phase": "Running"}}
    task = asyncio.create_task(run_poller(rt))
    try:
        deadline = time.monotonic() + 2
        while len(rounds) < 2:  # a second round after the first one failed
            assert time.monotonic() < deadline
            await asyncio.sleep(0.005)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_poller_runs_short_rounds_between_polls(monkeypatch):
    w = World()
    rt = w.runtime()
    rt.settings = Settings(poll_interval_seconds=60, transition_poll_seconds=0.01)
    rounds: list[bool] = []

    async def recording(rt_, full=True):
        rounds.append(full)
        return set()

    monkeypatch.setattr("reflex_operator.controller.poller.poll_once", recording)
    task = asyncio.create_task(run_poller(rt))
    try:
        deadline = time.monotonic() + 2
        while len(rounds) < 3:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.005)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert rounds[0] is True and not any(rounds[1:])  # the full one first, then short ones until the next


@pytest.mark.parametrize("slots,woken", [(0, set()), (1, {"b"}), (2, {"a", "b"}), (5, {"a", "b"})])
def test_finished_builds_wake_as_many_queued_databases_longest_waiting_first(slots, woken):
    from datetime import datetime, timedelta, timezone

    from reflex_operator.api.models import BuildIntent, ReflexDatabaseStatus
    from reflex_operator.controller.poller import _queued_to_wake

    t0 = datetime(2026, 11, 22, tzinfo=timezone.utc)

    def st(queued_minutes_ago: int | None) -> ReflexDatabaseStatus:
        intent = BuildIntent(
            idempotency_token="t", attempt=0, input_hash="h", image_uri="i", recorded_at=t0,
            queued_since=t0 - timedelta(minutes=queued_minutes_ago) if queued_minutes_ago is not None else None,
        )
        return ReflexDatabaseStatus(build_intent=intent)

    parsed = {
        ("ns", "a"): st(5),
        ("ns", "b"): st(10),  # waiting longest
        ("ns", "c"): st(None),  # starting, not queued
        ("ns", "d"): ReflexDatabaseStatus(),
    }
    assert {k[1] for k in _queued_to_wake(parsed, slots)} == woken


def test_a_short_round_does_not_ask_about_a_service_known_not_to_exist_yet():
    # A database in Deploying whose pass waits for its RegisterTaskDefinition token: no service yet,
    # and only a pass of the operator's creates it. The full poll still asks.
    w, d, rt, key = running_world()
    entry = rt.resources[key]
    entry.body = {**entry.body, "status": {**entry.body["status"], "phase": "Deploying"}}
    w.service = None
    poll(rt)
    names = asked(rt)
    asyncio.run(poll_once(rt, full=False))
    assert names == []
    poll(rt)
    assert len(names) == 1
