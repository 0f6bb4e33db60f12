"""transition_events: which status changes become Kubernetes Events."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from reflex_operator.api.models import (
    AppliedTokens,
    BuildRecord,
    BuildState,
    Condition,
    HealthStatus,
    InstanceStatus,
    Phase,
    ReflexDatabaseStatus,
    Replication,
)
from reflex_operator.api.reasons import CAP_EXCEEDED_EVENT, CAP_LIFTED_EVENT
from reflex_operator.api import reasons
from reflex_operator.database.events import transition_events

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def build(state: BuildState, bid: str = "b1", failure: str | None = None) -> BuildRecord:
    return BuildRecord(id=bid, codebuild_id=f"proj:{bid}", status=state, image_uri="img" if state is BuildState.SUCCEEDED else None, failure_reason=failure)


def st(**kw) -> ReflexDatabaseStatus:
    return ReflexDatabaseStatus(**kw)


def health(h: HealthStatus | None, replication: Replication | None = None) -> InstanceStatus:
    return InstanceStatus(health_status=h, replication=replication)


def reconciling(reason: str) -> list[Condition]:
    return [Condition(type="Reconciling", status="True", reason=reason, last_transition_time=T)]


CASES = [
    ("nothing changed", st(phase=Phase.RUNNING), st(phase=Phase.RUNNING), []),
    ("build started", st(), st(builds=[build(BuildState.QUEUED)]), [reasons.BUILD_STARTED]),
    ("build progressing", st(builds=[build(BuildState.QUEUED)]), st(builds=[build(BuildState.IN_PROGRESS)]), []),
    ("build succeeded", st(builds=[build(BuildState.IN_PROGRESS)]), st(builds=[build(BuildState.SUCCEEDED)]), [reasons.BUILD_SUCCEEDED]),
    ("build seen finished", st(), st(builds=[build(BuildState.SUCCEEDED)]), [reasons.BUILD_STARTED, reasons.BUILD_SUCCEEDED]),
    ("build failed", st(builds=[build(BuildState.IN_PROGRESS)]), st(builds=[build(BuildState.FAILED, failure="exit 1")]), [reasons.BUILD_FAILED]),
    ("build stopped is no failure", st(builds=[build(BuildState.IN_PROGRESS)]), st(builds=[build(BuildState.FAILED, failure="stopped")]), []),
    ("unchanged build", st(builds=[build(BuildState.SUCCEEDED)]), st(builds=[build(BuildState.SUCCEEDED)]), []),
    ("deployed", st(phase=Phase.DEPLOYING), st(phase=Phase.RUNNING, active_build_id="b1"), [reasons.DEPLOYED]),
    ("resumed from paused", st(phase=Phase.PAUSED), st(phase=Phase.RUNNING), [reasons.RESUMED]),
    ("resumed after starting tasks", st(phase=Phase.DEPLOYING, conditions=reconciling(reasons.RESUMING)), st(phase=Phase.RUNNING), [reasons.RESUMED]),
    ("deployed after a rollout", st(phase=Phase.DEPLOYING, conditions=reconciling(reasons.DEPLOYING)), st(phase=Phase.RUNNING), [reasons.DEPLOYED]),
    ("paused", st(phase=Phase.DEPLOYING), st(phase=Phase.PAUSED), [reasons.PAUSED]),
    ("terminated", st(phase=Phase.TERMINATING), st(phase=Phase.TERMINATED), [reasons.TERMINATED]),
    ("failed", st(phase=Phase.DEPLOYING), st(phase=Phase.FAILED, message="deployment failed"), [reasons.FAILED]),
    ("building is no event", st(phase=Phase.RUNNING), st(phase=Phase.BUILDING), []),
    ("reloaded", st(applied_tokens=AppliedTokens(reload="a")), st(applied_tokens=AppliedTokens(reload="b")), [reasons.RELOADED]),
    ("first reload", st(), st(applied_tokens=AppliedTokens(reload="a")), [reasons.RELOADED]),
    ("same reload", st(applied_tokens=AppliedTokens(reload="a")), st(applied_tokens=AppliedTokens(reload="a")), []),
    ("degraded", st(instance=health(HealthStatus.OK)), st(instance=health(HealthStatus.DEGRADED)), [reasons.HEALTH_DEGRADED]),
    ("unreachable", st(instance=health(HealthStatus.DEGRADED)), st(instance=health(HealthStatus.UNREACHABLE)), [reasons.HEALTH_DEGRADED]),
    ("cap exceeded from nothing", st(), st(instance=health(HealthStatus.CAP_EXCEEDED)), [CAP_EXCEEDED_EVENT]),
    ("cap exceeded while ok", st(instance=health(HealthStatus.OK)), st(instance=health(HealthStatus.CAP_EXCEEDED)), [CAP_EXCEEDED_EVENT]),
    ("cap lifted", st(instance=health(HealthStatus.CAP_EXCEEDED)), st(instance=health(HealthStatus.OK)), [CAP_LIFTED_EVENT]),
    ("cap lifted onto a degraded server", st(instance=health(HealthStatus.CAP_EXCEEDED)), st(instance=health(HealthStatus.DEGRADED)), [CAP_LIFTED_EVENT, reasons.HEALTH_DEGRADED]),
    ("still degraded", st(instance=health(HealthStatus.DEGRADED)), st(instance=health(HealthStatus.DEGRADED)), []),
    ("recovered", st(instance=health(HealthStatus.UNREACHABLE)), st(instance=health(HealthStatus.OK)), [reasons.HEALTH_RECOVERED]),
    ("first ok is no recovery", st(), st(instance=health(HealthStatus.OK)), []),
    ("replication paused", st(instance=health(HealthStatus.OK, Replication.RUNNING)), st(instance=health(HealthStatus.OK, Replication.PAUSED)), [reasons.REPLICATION_PAUSED]),
    ("replication resumed", st(instance=health(HealthStatus.OK, Replication.PAUSED)), st(instance=health(HealthStatus.OK, Replication.RUNNING)), [reasons.REPLICATION_RESUMED]),
    ("replication first seen", st(instance=health(HealthStatus.OK)), st(instance=health(HealthStatus.OK, Replication.PAUSED)), []),
]


@pytest.mark.parametrize(("before", "after", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_transition_events(before, after, expected):
    assert [e.reason for e in transition_events(before, after)] == expected


def test_warnings_and_messages():
    failed = transition_events(st(builds=[build(BuildState.IN_PROGRESS)]), st(builds=[build(BuildState.FAILED)]))
    assert failed[0].warning and "see its logs" in failed[0].message
    degraded = transition_events(st(), st(instance=health(HealthStatus.DEGRADED)))
    assert degraded[0].warning and "degraded" in degraded[0].message
    assert not transition_events(st(phase=Phase.DEPLOYING), st(phase=Phase.RUNNING))[0].warning
    assert transition_events(st(phase=Phase.RUNNING), st(phase=Phase.FAILED))[0].message == "failed"


def test_builds_reported_oldest_first():
    after = st(builds=[build(BuildState.QUEUED, "b2"), build(BuildState.QUEUED, "b1")])
    assert [e.message.split()[1] for e in transition_events(st(), after)] == ["b1", "b2"]
