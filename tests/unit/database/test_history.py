"""The status history: which transitions are recorded, the bound, and how long a state lasted."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from reflex_operator.api.models import (
    Condition,
    HealthStatus,
    HistoryEntry,
    HistoryKind,
    InstanceStatus,
    Phase,
    ReflexDatabaseStatus,
)
from reflex_operator.database.history import Spell, record, spells

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def cond(kind: str, reason: str, status: str = "True") -> Condition:
    return Condition(type=kind, status=status, reason=reason, last_transition_time=T)


def st(phase: Phase | None = None, health: HealthStatus | None = None, conditions: list[Condition] | None = None) -> ReflexDatabaseStatus:
    return ReflexDatabaseStatus(
        phase=phase, instance=InstanceStatus(health_status=health) if health else None, conditions=conditions or []
    )


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (st(), st(Phase.PENDING, conditions=[cond("Reconciling", "Building")]), [("phase", None, "Pending", "Building")]),
        (st(Phase.BUILDING), st(Phase.BUILDING), []),
        (
            st(Phase.DEPLOYING, conditions=[cond("Reconciling", "Deploying")]),
            st(Phase.RUNNING, HealthStatus.OK, [cond("Ready", "Running"), cond("Degraded", "Healthy", "False")]),
            [("health", None, "ok", "Healthy"), ("phase", "Deploying", "Running", "Running")],
        ),
        (
            st(Phase.RUNNING, HealthStatus.OK),
            st(Phase.RUNNING, HealthStatus.UNREACHABLE, [cond("Degraded", "Unreachable"), cond("Ready", "Unreachable", "False")]),
            [("health", "ok", "unreachable", "Unreachable")],
        ),
        (
            st(Phase.RUNNING, HealthStatus.OK),
            st(Phase.FAILED, HealthStatus.OK, [cond("Stalled", "DeploymentFailed"), cond("Reconciling", "Deploying")]),
            [("phase", "Running", "Failed", "DeploymentFailed")],  # the blocker explains it first
        ),
        (st(Phase.RUNNING, HealthStatus.OK), st(Phase.PAUSED, None, [cond("Ready", "Paused")]),
         [("health", "ok", None, None), ("phase", "Running", "Paused", "Paused")]),
    ],
)
def test_record(before: ReflexDatabaseStatus, after: ReflexDatabaseStatus, expected: list[tuple]) -> None:
    entries = record(before, after, T, limit=50)
    assert [(e.kind.value, e.from_, e.to, e.reason) for e in entries] == expected
    assert all(e.at == T for e in entries)


def test_newest_first_and_bounded() -> None:
    old = [HistoryEntry(kind=HistoryKind.PHASE, from_=None, to="Pending", at=T - timedelta(minutes=i)) for i in range(5)]
    before = st(Phase.PENDING).model_copy(update={"history": old})
    entries = record(before, st(Phase.BUILDING), T + timedelta(minutes=1), limit=3)
    assert len(entries) == 3 and entries[0].to == "Building" and entries[1:] == old[:2]


def test_spells_answer_when_and_for_how_long() -> None:
    h = lambda minute, f, t: HistoryEntry(kind=HistoryKind.HEALTH, from_=f, to=t, at=T + timedelta(minutes=minute))  # noqa: E731
    p = HistoryEntry(kind=HistoryKind.PHASE, from_="Deploying", to="Running", at=T + timedelta(minutes=11))
    history = [h(30, "unreachable", "ok"), h(20, "ok", "unreachable"), p, h(10, "unreachable", "ok"), h(4, "ok", "unreachable"), h(0, None, "ok")]
    found = spells(history, HistoryKind.HEALTH, "unreachable")
    assert found == [Spell("unreachable", T + timedelta(minutes=20), T + timedelta(minutes=30)),
                     Spell("unreachable", T + timedelta(minutes=4), T + timedelta(minutes=10))]
    assert found[0].duration(T + timedelta(hours=5)) == timedelta(minutes=10)
    ongoing = spells(history, HistoryKind.HEALTH, "ok")[0]
    assert ongoing.ended is None and ongoing.duration(T + timedelta(minutes=35)) == timedelta(minutes=5)
    assert spells(history, HistoryKind.PHASE, "Failed") == []
