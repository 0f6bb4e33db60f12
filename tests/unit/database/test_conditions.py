"""Reason selection of the four conditions, as tables."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reflex_operator.api.models import Condition, HealthStatus, InstanceStatus, Phase, ReflexDatabaseSpec, ReflexDatabaseStatus
from reflex_operator.database.inputs import Desired
from reflex_operator.api import reasons
from reflex_operator.database.conditions import conditions, degraded_note, readiness
from reflex_operator.database.outcome import Outcome
from tests.unit.world import T0

SPEC = ReflexDatabaseSpec.model_validate({"source": {"secretRef": {"name": "db"}}, "sync": {"intervalSeconds": 60}})
STALL = (reasons.BUILD_FAILED, "build b1 failed")

READY = [
    # (what, phase, health, stall, ready, reason)
    ("running and answering", Phase.RUNNING, HealthStatus.OK, None, True, reasons.RUNNING),
    ("running but degraded is still ready", Phase.RUNNING, HealthStatus.DEGRADED, None, True, reasons.RUNNING),
    ("running, unreachable", Phase.RUNNING, HealthStatus.UNREACHABLE, None, False, reasons.UNREACHABLE),
    ("running, a blocker", Phase.RUNNING, HealthStatus.OK, STALL, False, reasons.BUILD_FAILED),
    ("running, unreachable and a blocker", Phase.RUNNING, HealthStatus.UNREACHABLE, STALL, False, reasons.BUILD_FAILED),
    ("paused as asked", Phase.PAUSED, None, None, True, reasons.PAUSED),
    ("terminated as asked", Phase.TERMINATED, None, None, True, reasons.TERMINATED),
    ("terminated, pinned to a missing build", Phase.TERMINATED, None, STALL, False, reasons.BUILD_FAILED),
    ("deleting", Phase.DELETING, None, None, False, reasons.DELETING),
    ("building", Phase.BUILDING, None, None, False, "Building"),
    ("failed", Phase.FAILED, None, STALL, False, reasons.BUILD_FAILED),
    ("pending", Phase.PENDING, None, None, False, "Pending"),
]


@pytest.mark.parametrize("what,phase,health,stall,ready,reason", READY, ids=[c[0] for c in READY])
def test_ready(what, phase, health, stall, ready, reason):
    got = readiness(phase, health, stall)
    assert (got.ready, got.reason) == (ready, reason)


DEGRADED = [
    # (what, instance, reason, words in the message)
    ("no instance", InstanceStatus(), reasons.HEALTHY, "no instance"),
    ("ok", InstanceStatus(health_status=HealthStatus.OK), reasons.HEALTHY, "health ok"),
    ("unreachable", InstanceStatus(health_status=HealthStatus.UNREACHABLE, endpoint_url="http://x"), reasons.UNREACHABLE, "http://x did not answer"),
    ("stale snapshot", InstanceStatus(health_status=HealthStatus.DEGRADED, snapshot_age_ms=180_001), reasons.HEALTH_DEGRADED, "180001 ms old"),
    ("server says degraded", InstanceStatus(health_status=HealthStatus.DEGRADED, snapshot_age_ms=10), reasons.HEALTH_DEGRADED, "reports degraded"),
    ("cap exceeded", InstanceStatus(health_status=HealthStatus.CAP_EXCEEDED), "CapExceeded", "reports cap_exceeded"),
]


@pytest.mark.parametrize("what,instance,reason,words", DEGRADED, ids=[c[0] for c in DEGRADED])
def test_degraded(what, instance, reason, words):
    got_reason, message = degraded_note(instance, SPEC)
    assert got_reason == reason and words in message


def _desired(previous: list[Condition]) -> Desired:
    return Desired(name="orders", namespace="team-a", uid="u", generation=7, spec=SPEC, status=ReflexDatabaseStatus(conditions=previous))


WORK = [
    # (what, work, Reconciling (status, reason), Stalled (status, reason))
    ("nothing to do", Outcome(), ("False", reasons.RECONCILED), ("False", reasons.PROGRESSING)),
    ("progress", Outcome(progress=(reasons.DEPLOYING, "rolling out")), ("True", reasons.DEPLOYING), ("False", reasons.PROGRESSING)),
    ("a blocker hides progress", Outcome(stall=STALL, progress=(reasons.BUILDING, "b")), ("False", reasons.RECONCILED), ("True", reasons.BUILD_FAILED)),
]


@pytest.mark.parametrize("what,work,reconciling,stalled", WORK, ids=[c[0] for c in WORK])
def test_reconciling_and_stalled(what, work, reconciling, stalled):
    got = {c.type: (c.status, c.reason) for c in conditions(_desired([]), T0, Phase.DEPLOYING, work, InstanceStatus())}
    assert list(got) == ["Ready", "Reconciling", "Stalled", "Degraded"]
    assert got["Reconciling"] == reconciling and got["Stalled"] == stalled


@pytest.mark.parametrize("before,kept", [("True", True), ("False", False)])
def test_transition_time_kept_while_the_value_stays(before, kept):
    earlier = T0 - timedelta(hours=1)
    previous = [Condition(type="Ready", status=before, reason="x", message="x", last_transition_time=earlier, observed_generation=1)]
    ready = conditions(_desired(previous), T0, Phase.RUNNING, Outcome(), InstanceStatus(health_status=HealthStatus.OK))[0]
    assert ready.status == "True" and ready.observed_generation == 7
    assert ready.last_transition_time == (earlier if kept else T0)
