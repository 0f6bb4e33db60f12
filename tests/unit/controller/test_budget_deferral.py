"""A pass that meets an empty client-side rate budget gives its worker back: nothing is sent, the
status says what waits, and the database is queued for the time the token held for it comes (the
real pass over the in-memory world; its budgets run on the world's clock)."""

from __future__ import annotations

import asyncio

import pytest

from reflex_operator.api.models import ConditionType, Phase
from reflex_operator.aws.budget import Budgets, Rate
from reflex_operator.controller.poller import poll_once
from reflex_operator.controller.workers import process
from reflex_operator.database import steps as s
from tests.unit.world import World, deliver, pass_once, resource

KEY = ("team-a", "orders")
REGISTER = "ecs.task-definition-modify"


def _message(d) -> str:
    return next(c.message for c in d.status.conditions if c.type == ConditionType.RECONCILING.value)


def _requeued_in(rt) -> float:
    """Seconds until the key's timer fires (it must have one)."""
    return rt.queue._timers[KEY].when() - asyncio.get_running_loop().time()


def _deferred(rt, family: str) -> float:
    return rt.metrics.registry.get_sample_value(
        "reflex_operator_aws_budget_deferred_total", {"service": family.split(".")[0], "family": family}
    ) or 0.0


async def _built(w: World):
    """A database whose image is built: its next pass deploys."""
    d, _ = await pass_once(w, resource())
    w.tick(), w.tick()
    return d


def _sent(p, kind) -> list:
    return [x for x in p.steps if isinstance(x, kind)]


async def test_a_pass_that_meets_an_empty_registration_budget_gives_its_worker_back_and_is_requeued():
    w = World()
    w.budgets = w.tight_budgets({REGISTER: Rate(1, 0.1)})  # one registration, then one per 10 s
    d = await _built(w)
    w.budgets.bucket(REGISTER).reserve()  # another database's registration took the token
    d, p = await pass_once(w, d)
    assert not _sent(p, s.Deploy) and w.create_service_calls == 0 and w.budget_sleeps == []  # nothing sent, no sleep
    assert d.status.phase is Phase.DEPLOYING and "RegisterTaskDefinition token" in _message(d)
    assert w.rt.queue.failures(KEY) == 0 and _requeued_in(w.rt) == pytest.approx(10, abs=0.5)
    assert _deferred(w.rt, REGISTER) == 1
    w.tick(4)  # woken early (the poller, a spec edit): still not its turn, requeued for the rest
    d, p = await pass_once(w, d)
    assert not _sent(p, s.Deploy) and _requeued_in(w.rt) == pytest.approx(6, abs=0.5)
    w.tick(6)  # the token held for it comes
    d, p = await pass_once(w, d)
    assert len(_sent(p, s.Deploy)) == 1 and w.create_service_calls == 1 and w.budget_sleeps == []
    assert not w.budgets.bucket(REGISTER).holds(KEY) and "RegisterTaskDefinition" not in _message(d)
    assert w.budgets.bucket(REGISTER).reserve() == pytest.approx(10)  # it took one token, in its turn


async def test_the_worker_is_back_at_once_even_when_the_token_is_minutes_away():
    w = World()
    d = await _built(w)
    # Real time: the next registration token is 100 s away.
    w.budgets = Budgets(100.0, {REGISTER: Rate(1, 0.01)})
    w.budgets.bucket(REGISTER).reserve()
    rt, key = deliver(w, d)
    await poll_once(rt)  # the poller sees the build finished
    await asyncio.wait_for(process(rt, key), timeout=5)  # the pass ends; it does not sleep 100 s
    assert rt.queue.failures(key) == 0 and _requeued_in(rt) == pytest.approx(100, abs=2)
    assert w.create_service_calls == 0


async def test_a_build_intent_is_written_only_once_its_start_token_is_the_passs():
    w = World()
    w.budgets = w.tight_budgets({"codebuild.build-modify": Rate(1, 0.1)})
    w.budgets.bucket("codebuild.build-modify").reserve()
    d, p = await pass_once(w, resource())
    assert d.status.build_intent is None and not _sent(p, s.StartBuild) and w.start_build_calls == 0
    assert d.status.phase is Phase.BUILDING and "StartBuild token" in _message(d)
    assert _requeued_in(w.rt) == pytest.approx(10, abs=0.5) and w.budget_sleeps == []
    w.tick(10)
    d, p = await pass_once(w, d)
    starts = _sent(p, s.StartBuild)
    assert len(starts) == 1 and starts[0].record and w.start_build_calls == 1 and len(d.status.builds) == 1
    assert w.budgets.bucket("codebuild.build-modify").reserve() == pytest.approx(10)  # one token for hold and start


async def test_a_step_that_has_sent_a_write_finishes_in_place():
    w = World()
    w.budgets = w.tight_budgets({"ecs.service-modify": Rate(1, 0.1)})
    d = await _built(w)
    w.budgets.bucket("ecs.service-modify").reserve()
    d, p = await pass_once(w, d)  # RegisterTaskDefinition went out: CreateService waits for its token in place
    assert len(_sent(p, s.Deploy)) == 1 and w.create_service_calls == 1
    assert w.budget_sleeps == pytest.approx([10.0]) and KEY not in w.rt.queue._timers
