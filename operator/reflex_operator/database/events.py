"""What happened between two passes, derived from how the status changed: the one source of the
Kubernetes Events and of the notifications in status (``database.chronicle`` makes both from it)."""

from __future__ import annotations

from dataclasses import dataclass

from reflex_operator.api.models import BuildState, HealthStatus, Phase, ReflexDatabaseStatus
from reflex_operator.api import reasons
from reflex_operator.database.steps import Event

__all__ = ["Transition", "transitions", "transition_events"]

_BAD = (HealthStatus.DEGRADED, HealthStatus.UNREACHABLE)  # cap_exceeded has events of its own


@dataclass(frozen=True)
class Transition:
    """One change a user wants to hear of: its Event, and what tells this occurrence apart from
    another of the same reason (the notification id is derived from it, never from the clock, so
    a repeated pass finds the same transition again)."""

    event: Event
    key: str
    detail: str | None = None


def transition_events(before: ReflexDatabaseStatus, after: ReflexDatabaseStatus) -> list[Event]:
    """The Events of ``transitions``."""
    return [t.event for t in transitions(before, after)]


def transitions(before: ReflexDatabaseStatus, after: ReflexDatabaseStatus) -> list[Transition]:
    """Build started/succeeded/failed, deployed, paused, resumed, terminated, failed, reloaded,
    replication paused/resumed, health degraded and recovered, the data-transfer cap exceeded and
    lifted, the plan's compute-unit limit reached."""
    return [*_builds(before, after), *_phase(before, after), *_server(before, after), *_plan(before, after)]


def _builds(before: ReflexDatabaseStatus, after: ReflexDatabaseStatus) -> list[Transition]:
    found: list[Transition] = []
    old_builds = {b.id: b for b in before.builds}
    for build in reversed(after.builds):
        old = old_builds.get(build.id)
        if old is None:
            found.append(Transition(Event(reasons.BUILD_STARTED, f"build {build.id} started ({build.codebuild_id})"), build.id))
        if old is not None and old.status == build.status:
            continue
        if build.status is BuildState.SUCCEEDED:
            found.append(Transition(Event(reasons.BUILD_SUCCEEDED, f"build {build.id} succeeded: {build.image_uri}"), build.id))
        elif build.status is BuildState.FAILED and build.failure_reason != "stopped":
            message = f"build {build.id} failed: {build.failure_reason or 'see its logs'}"
            detail = f"logs: {build.logs_url}" if build.logs_url else None
            found.append(Transition(Event(reasons.BUILD_FAILED, message, warning=True), build.id, detail))
    return found


def _phase(before: ReflexDatabaseStatus, after: ReflexDatabaseStatus) -> list[Transition]:
    if before.phase == after.phase:
        return []
    generation = f"generation {after.observed_generation}"
    if after.phase is Phase.RUNNING:
        resuming = next((c.reason == reasons.RESUMING for c in before.conditions if c.type == "Reconciling"), False)
        reason = reasons.RESUMED if before.phase is Phase.PAUSED or resuming else reasons.DEPLOYED
        event = Event(reason, f"instance running build {after.active_build_id}")
        return [Transition(event, f"{generation} build {after.active_build_id}")]
    if after.phase is Phase.PAUSED:
        return [Transition(Event(reasons.PAUSED, "instance paused: desired count 0"), generation)]
    if after.phase is Phase.TERMINATED:
        return [Transition(Event(reasons.TERMINATED, "instance terminated: ECS service deleted"), generation)]
    if after.phase is Phase.FAILED:
        message = after.message or "failed"
        return [Transition(Event(reasons.FAILED, message, warning=True), f"{generation} {message}")]
    return []


def _server(before: ReflexDatabaseStatus, after: ReflexDatabaseStatus) -> list[Transition]:
    found: list[Transition] = []
    old_tokens, new_tokens = before.applied_tokens, after.applied_tokens
    if new_tokens and new_tokens.reload and (old_tokens is None or old_tokens.reload != new_tokens.reload):
        event = Event(reasons.RELOADED, f"snapshot reload requested (reloadToken {new_tokens.reload})")
        found.append(Transition(event, f"token {new_tokens.reload}"))

    old_i, new_i = before.instance, after.instance
    old_health = old_i.health_status if old_i else None
    new_health = new_i.health_status if new_i else None
    checked = f"checked {new_i.last_health_check.isoformat() if new_i and new_i.last_health_check else '-'}"
    cap = HealthStatus.CAP_EXCEEDED
    if new_health is cap and old_health is not cap:
        degraded = next((c.message for c in after.conditions if c.type == "Degraded"), "over the plan's data transfer")
        found.append(Transition(Event(reasons.CAP_EXCEEDED_EVENT, degraded, warning=True), checked))
    elif old_health is cap and new_health is not cap and new_health is not None:
        lifted = "the namespace is within its plan's data transfer again; replication resumes"
        found.append(Transition(Event(reasons.CAP_LIFTED_EVENT, lifted), checked))
    if new_health in _BAD and old_health != new_health:
        assert new_health is not None
        found.append(Transition(Event(reasons.HEALTH_DEGRADED, f"health is {new_health.value}", warning=True), checked))
    elif new_health is HealthStatus.OK and old_health in _BAD:
        found.append(Transition(Event(reasons.HEALTH_RECOVERED, "health is ok again"), checked))
    old_r = old_i.replication if old_i else None
    new_r = new_i.replication if new_i else None
    if old_r is not None and new_r is not None and old_r != new_r:
        reason = reasons.REPLICATION_PAUSED if new_r.value == "paused" else reasons.REPLICATION_RESUMED
        found.append(Transition(Event(reason, f"replication {new_r.value}"), f"generation {after.observed_generation} {checked}"))
    return found


def _plan(before: ReflexDatabaseStatus, after: ReflexDatabaseStatus) -> list[Transition]:
    """The database started waiting for room in its namespace's plan."""
    def waiting(status: ReflexDatabaseStatus) -> str | None:
        blocker = reasons.stalled(status.conditions)
        return blocker.message if blocker is not None and blocker.reason == reasons.PLAN_LIMIT_EXCEEDED else None

    message = waiting(after)
    if message is None or waiting(before) is not None:
        return []
    return [Transition(Event(reasons.PLAN_LIMIT_REACHED, message, warning=True), f"generation {after.observed_generation}")]
