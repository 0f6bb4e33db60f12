"""The four conditions (Ready, Reconciling, Stalled as kstatus reads them, and Degraded), each with
a reason a user can act on.

Ready means "the desired state is reached": a serving instance, or the steady state the user asked
for (paused, terminated). Argo CD tells those apart by phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reflex_operator.api.models import Condition, ConditionType, HealthStatus, InstanceStatus, Phase, ReflexDatabaseSpec
from reflex_operator.api import reasons
from reflex_operator.database.inputs import Desired
from reflex_operator.database.outcome import Note, Outcome

__all__ = ["Readiness", "conditions", "degraded_note", "readiness"]

_READY: dict[Phase, Note] = {
    Phase.RUNNING: (reasons.RUNNING, "the instance is serving"),
    Phase.PAUSED: (reasons.PAUSED, "the instance is paused (spec.paused)"),
    Phase.TERMINATED: (reasons.TERMINATED, "the instance is terminated (spec.terminated)"),
    Phase.DELETING: (reasons.DELETING, "the database is being deleted"),
}

_DEGRADED = (HealthStatus.DEGRADED, HealthStatus.UNREACHABLE, HealthStatus.CAP_EXCEEDED)


@dataclass(frozen=True)
class Readiness:
    """The Ready condition's value, reason and message."""

    ready: bool
    reason: str
    message: str


def readiness(phase: Phase, health: HealthStatus | None, stall: Note | None) -> Readiness:
    """Ready when running and answering, or paused or terminated as asked, and nothing blocks; if
    not, the blocker (or why a running instance is not ready) is the reason."""
    steady = phase is Phase.RUNNING and health is not HealthStatus.UNREACHABLE
    ready = (steady or phase in (Phase.PAUSED, Phase.TERMINATED)) and stall is None
    reason, message = _READY.get(phase, (phase.value, "the instance is not serving the desired state yet"))
    if phase is Phase.RUNNING and not ready:
        reason, message = stall if stall else (reasons.UNREACHABLE, "the instance does not answer")
    elif stall is not None and not ready:
        reason, message = stall
    return Readiness(ready, reason, message)


def degraded_note(instance: InstanceStatus, spec: ReflexDatabaseSpec) -> Note:
    """The Degraded condition's reason and message for this instance's health."""
    health = instance.health_status
    if health is None or health not in _DEGRADED:
        return (reasons.HEALTHY, "health ok" if health else "no instance to check")
    if health is HealthStatus.UNREACHABLE:
        return (reasons.DEGRADED_REASON[health], f"{instance.endpoint_url} did not answer its health check")
    age, limit = instance.snapshot_age_ms, 3 * spec.sync.interval_seconds * 1000
    if age is not None and age > limit:
        return (reasons.DEGRADED_REASON[health], f"snapshot is {age} ms old, more than 3 sync intervals ({limit} ms)")
    return (reasons.DEGRADED_REASON[health], f"the server reports {health.value}")


def conditions(
    desired: Desired, now: datetime, phase: Phase, work: Outcome, instance: InstanceStatus, cap: Note | None = None
) -> list[Condition]:
    """Ready, Reconciling, Stalled and Degraded; each keeps its transition time while its value stays.
    ``cap``: the Degraded note while the namespace is past its monthly data transfer."""
    health = instance.health_status
    ready = readiness(phase, health, work.stall)
    reconciling = work.progress is not None and work.stall is None
    values: list[tuple[ConditionType, bool, Note]] = [
        (ConditionType.READY, ready.ready, (ready.reason, ready.message)),
        (ConditionType.RECONCILING, reconciling, work.progress if reconciling and work.progress else (reasons.RECONCILED, "nothing to do")),
        (ConditionType.STALLED, work.stall is not None, work.stall or (reasons.PROGRESSING, "no blocker")),
        (ConditionType.DEGRADED, health in _DEGRADED, cap if cap and health is HealthStatus.CAP_EXCEEDED else degraded_note(instance, desired.spec)),
    ]
    return [_condition(desired, now, kind, value, note) for kind, value, note in values]


def _condition(desired: Desired, now: datetime, kind: ConditionType, status: bool, note: Note) -> Condition:
    value = "True" if status else "False"
    before = next((c for c in desired.status.conditions if c.type == kind.value), None)
    since = before.last_transition_time if before is not None and before.status == value else now
    return Condition(
        type=kind.value,
        status=value,
        reason=note[0],
        message=note[1],
        last_transition_time=since,
        observed_generation=desired.generation,
    )
