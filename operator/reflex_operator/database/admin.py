"""The running server: carry out a waiting reload, and make replication match ``spec.sync.paused``.

Both need a serving instance (a running, answering task); a reload asked for before there is one
waits as a queued goal.
"""

from __future__ import annotations

from dataclasses import dataclass

from reflex_operator.api.models import Action, HealthStatus, InstanceStatus, ReflexDatabaseSpec, Replication
from reflex_operator.database.inputs import Desired, HealthSample, ObservedService
from reflex_operator.database.outcome import Outcome, blocked
from reflex_operator.database.steps import PauseReplication, Reload, ResumeReplication, Step

__all__ = ["ServerResult", "server_actions", "serving"]


@dataclass(frozen=True)
class ServerResult:
    """The server's part of a pass."""

    outcome: Outcome
    reload: str | None  # the reloadToken carried out (or being carried out now)


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
    return ServerResult(reload.then(Outcome(steps=steps)), applied)
