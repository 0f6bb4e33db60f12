"""The running server: carry out a waiting reload, make replication match ``spec.sync.paused``, and
probe the health now for a new ``spec.healthCheckToken``.

A reload needs a serving instance (a running, answering task); one asked for before there is one
waits as a queued goal. An on-demand health check needs a running task only (probing an unreachable
server is the point); without one it waits, and status says so (``healthCheckPending``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reflex_operator.api.models import Action, HealthStatus, InstanceStatus, ReflexDatabaseSpec, Replication
from reflex_operator.database.inputs import Desired, HealthSample, ObservedService
from reflex_operator.database.outcome import Outcome, blocked
from reflex_operator.database.steps import CheckHealth, PauseReplication, Reload, ResumeReplication, Step

__all__ = ["ServerResult", "server_actions", "serving", "with_check"]


@dataclass(frozen=True)
class ServerResult:
    """The server's part of a pass."""

    outcome: Outcome
    reload: str | None  # the reloadToken carried out (or being carried out now)
    health_check: str | None = None  # the healthCheckToken carried out (or being carried out now)
    checking: bool = False  # an on-demand health check is a step of this pass
    check_pending: bool = False  # one is asked for and waits for a running task


def serving(spec: ReflexDatabaseSpec, service: ObservedService | None, instance: InstanceStatus) -> bool:
    """A task runs (and is meant to) and answers its health endpoint."""
    return (
        service is not None
        and not spec.paused
        and service.running_count > 0
        and instance.health_status is not None
        and instance.health_status is not HealthStatus.UNREACHABLE
    )


def server_actions(
    desired: Desired, service: ObservedService | None, instance: InstanceStatus, sample: HealthSample | None,
    capped: bool = False,
) -> ServerResult:
    """Reload once per new ``spec.reloadToken``; pause or resume replication to match the spec
    (paused too while the namespace is past its monthly data transfer, ``capped``)."""
    spec = desired.spec
    applied = desired.status.applied_tokens.reload if desired.status.applied_tokens else None
    up = serving(spec, service, instance)
    reload = Outcome()
    if spec.reload_token and spec.reload_token != applied:
        if up and instance.endpoint_url:
            reload, applied = Outcome(steps=(Reload(instance.endpoint_url, spec.reload_token),)), spec.reload_token
        else:
            reload = blocked(Action.RELOAD, "waits for a serving instance", desired.status.queued_goals)
    steps: tuple[Step, ...] = ()
    if up and instance.endpoint_url and sample is not None and sample.reachable:
        paused = spec.sync.paused or capped
        if paused and sample.replication is not Replication.PAUSED:
            steps = (PauseReplication(instance.endpoint_url),)
        elif not paused and sample.replication is Replication.PAUSED:
            steps = (ResumeReplication(instance.endpoint_url),)
    check = _health_check(desired, service)
    return ServerResult(reload.then(Outcome(steps=steps)).then(check.outcome), applied, check.health_check, check.checking, check.check_pending)


def _health_check(desired: Desired, service: ObservedService | None) -> ServerResult:
    """A new ``spec.healthCheckToken``: probe now when a task runs, else wait for one."""
    spec, tokens = desired.spec, desired.status.applied_tokens
    applied = tokens.health_check if tokens else None
    if not spec.health_check_token or spec.health_check_token == applied:
        return ServerResult(Outcome(), None, applied)
    if service is None or spec.paused or service.running_count == 0:
        return ServerResult(Outcome(), None, applied, check_pending=True)
    return ServerResult(Outcome(steps=(CheckHealth(spec.health_check_token),)), None, spec.health_check_token, checking=True)


def with_check(instance: InstanceStatus, desired: Desired, server: ServerResult, now: datetime) -> InstanceStatus:
    """``status.instance`` with the on-demand check's state: started now, still pending, or as before."""
    if instance.ecs_service_arn is None:
        return instance
    shown = desired.status.instance
    started = now if server.checking else (shown.health_check_started if shown else None)
    return instance.model_copy(update={"health_check_started": started, "health_check_pending": True if server.check_pending else None})
