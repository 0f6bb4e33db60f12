"""Events a user wants to see, derived from how the status changed between two passes."""

from __future__ import annotations

from reflex_operator.api.models import BuildState, HealthStatus, Phase, ReflexDatabaseStatus
from reflex_operator.decide import reasons
from reflex_operator.decide.plan import CAP_EXCEEDED_EVENT, CAP_LIFTED_EVENT
from reflex_operator.decide.steps import Event

__all__ = ["transition_events"]


def transition_events(before: ReflexDatabaseStatus, after: ReflexDatabaseStatus) -> list[Event]:
    """Build started/succeeded/failed, deployed, paused, resumed, terminated, failed, reloaded,
    replication paused/resumed, health degraded and recovered."""
    events: list[Event] = []
    old_builds = {b.id: b for b in before.builds}
    for build in reversed(after.builds):
        old = old_builds.get(build.id)
        if old is None:
            events.append(Event(reasons.BUILD_STARTED, f"build {build.id} started ({build.codebuild_id})"))
        if old is not None and old.status == build.status:
            continue
        if build.status is BuildState.SUCCEEDED:
            events.append(Event(reasons.BUILD_SUCCEEDED, f"build {build.id} succeeded: {build.image_uri}"))
        elif build.status is BuildState.FAILED and build.failure_reason != "stopped":
            events.append(
                Event(reasons.BUILD_FAILED, f"build {build.id} failed: {build.failure_reason or 'see its logs'}", warning=True)
            )

    if before.phase != after.phase:
        if after.phase is Phase.RUNNING:
            resuming = next((c.reason == reasons.RESUMING for c in before.conditions if c.type == "Reconciling"), False)
            reason = reasons.RESUMED if before.phase is Phase.PAUSED or resuming else reasons.DEPLOYED
            events.append(Event(reason, f"instance running build {after.active_build_id}"))
        elif after.phase is Phase.PAUSED:
            events.append(Event(reasons.PAUSED, "instance paused: desired count 0"))
        elif after.phase is Phase.TERMINATED:
            events.append(Event(reasons.TERMINATED, "instance terminated: ECS service deleted"))
        elif after.phase is Phase.FAILED:
            events.append(Event(reasons.FAILED, after.message or "failed", warning=True))

    old_tokens, new_tokens = before.applied_tokens, after.applied_tokens
    if new_tokens and new_tokens.reload and (old_tokens is None or old_tokens.reload != new_tokens.reload):
        events.append(Event(reasons.RELOADED, f"snapshot reload requested (reloadToken {new_tokens.reload})"))

    old_i, new_i = before.instance, after.instance
    old_health = old_i.health_status if old_i else None
    new_health = new_i.health_status if new_i else None
    bad = (HealthStatus.DEGRADED, HealthStatus.UNREACHABLE)
    cap = HealthStatus.CAP_EXCEEDED
    if new_health is cap and old_health is not cap:
        degraded = next((c.message for c in after.conditions if c.type == "Degraded"), "over the plan's data transfer")
        events.append(Event(CAP_EXCEEDED_EVENT, degraded, warning=True))
    elif old_health is cap and new_health is not cap and new_health is not None:
        events.append(Event(CAP_LIFTED_EVENT, "the namespace is within its plan's data transfer again; replication resumes"))
    if new_health in bad and old_health != new_health:
        events.append(Event(reasons.HEALTH_DEGRADED, f"health is {new_health.value}", warning=True))
    elif new_health is HealthStatus.OK and old_health in bad:
        events.append(Event(reasons.HEALTH_RECOVERED, "health is ok again"))
    old_r = old_i.replication if old_i else None
    new_r = new_i.replication if new_i else None
    if old_r is not None and new_r is not None and old_r != new_r:
        reason = reasons.REPLICATION_PAUSED if new_r.value == "paused" else reasons.REPLICATION_RESUMED
        events.append(Event(reason, f"replication {new_r.value}"))
    return events
