"""The running server's health: its class, what ``status.instance`` shows of it, and when a new
health sample is worth a reconcile pass.

A sample changes what a user reads in two ways: at once, when the health class or the replication
the server reports differs from what status shows; and by the slow refresh of the ever-changing
figures (snapshot age, swap count, row counts, uptime; ``Config.status_refresh_seconds``, 30 min
by default, so that an idle database costs about two status writes an hour). ``health_due`` is
that rule, used both by the pass (``instance_status``) and by the poller
(``health_sample_matters``), so that whatever the pass would write at once also wakes a pass.

The figures in status are as of ``lastHealthCheck``; the live ones are metrics. ``kubectl get``
shows the snapshot's age from ``snapshotTime`` (a ``date`` column, counted on the client): exact
while the snapshot stands still — a stale one, and staleness is a health change, written at once —
and at most one refresh behind while snapshots keep swapping (the health then says they are fresh).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from reflex_operator.api.models import HealthStatus, InstanceStatus, ReflexDatabaseSpec, ReflexDatabaseStatus, Replication
from reflex_operator.api.rollout import MemberState
from reflex_operator.database.inputs import Config, Desired, HealthSample, ObservedService

__all__ = ["classify_health", "health_due", "health_sample_matters", "instance_status", "snapshot_time"]

_HEALTH_FIELDS = (
    "health_status",
    "snapshot_age_ms",
    "snapshot_time",
    "swap_count",
    "row_counts",
    "replication",
    "uptime_seconds",
    "last_health_check",
    "last_swap_time",
)


def classify_health(sample: HealthSample, spec: ReflexDatabaseSpec, capped: bool = False) -> HealthStatus:
    """A server that does not answer is unreachable; one that says so, or whose snapshot is older
    than three sync intervals while replication should be running, is degraded. An answering
    server of a namespace past its monthly data transfer (``capped``) is cap_exceeded."""
    if capped and sample.reachable:
        return HealthStatus.CAP_EXCEEDED
    if sample.status is not HealthStatus.OK:
        return sample.status
    stale_after_ms = 3 * spec.sync.interval_seconds * 1000
    replication_paused = spec.sync.paused or sample.replication is Replication.PAUSED
    if sample.snapshot_age_ms is not None and sample.snapshot_age_ms > stale_after_ms and not replication_paused:
        return HealthStatus.DEGRADED
    return HealthStatus.OK


def snapshot_time(sample: HealthSample) -> datetime | None:
    """When the served snapshot was taken: the check's time less the age the server reports (to
    the millisecond), else the time of its last swap."""
    if sample.snapshot_age_ms is None:
        return sample.last_swap_time
    at = sample.checked_at - timedelta(milliseconds=sample.snapshot_age_ms)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def health_due(
    shown: InstanceStatus | None, sample: HealthSample, spec: ReflexDatabaseSpec, now: datetime, refresh_seconds: float,
    capped: bool = False,
) -> bool:
    """Whether ``sample`` goes into status now, given what status ``shown``: at once when it changes
    the health class or the replication the server reports, else when the bounded refresh is due."""
    if shown is None or shown.last_health_check is None or sample.on_demand:
        return True
    if shown.health_status != classify_health(sample, spec, capped):
        return True
    if sample.reachable and shown.replication != sample.replication:
        return True
    return (now - shown.last_health_check).total_seconds() >= refresh_seconds


def health_sample_matters(
    spec: ReflexDatabaseSpec, status: ReflexDatabaseStatus, sample: HealthSample, now: datetime, refresh_seconds: float,
    capped: bool = False,
) -> bool:
    """Whether a new health sample is worth a reconcile pass: when the pass would write it into
    status (``health_due``), or when the server has to be told something (replication not as
    desired, a reload waiting). The live figures go to metrics either way."""
    if health_due(status.instance, sample, spec, now, refresh_seconds, capped):
        return True
    verifying = status.rollout
    if verifying is not None and verifying.state is MemberState.VERIFYING and sample.checked_at > verifying.since:
        return True  # the first sample of a database's new version: its rollout waits for it
    if sample.replication is not None and (sample.replication is Replication.PAUSED) != (spec.sync.paused or capped):
        return True
    tokens = status.applied_tokens
    if spec.health_check_token and (tokens.health_check if tokens else None) != spec.health_check_token:
        return True  # an on-demand check waits for a running task
    applied = tokens.reload if tokens is not None else None
    return bool(spec.reload_token) and applied != spec.reload_token


def instance_status(
    desired: Desired, service: ObservedService | None, sample: HealthSample | None, config: Config, now: datetime,
    capped: bool = False,
) -> InstanceStatus:
    """``status.instance``: the service, and the health figures when a sample is due (else as before)."""
    if service is None:
        return InstanceStatus()
    endpoint = config.endpoint(service.name, desired.namespace, desired.name)
    base = InstanceStatus(
        ecs_service_arn=service.arn,
        task_definition_arn=service.task_definition_arn,
        endpoint_url=endpoint,
        desired_count=service.desired_count,
        running_count=service.running_count,
        logs=service.logs,
    )
    if desired.spec.paused or service.running_count == 0:
        return base  # no task: no health figures
    shown = desired.status.instance
    if sample is None or not health_due(shown, sample, desired.spec, now, config.status_refresh_seconds, capped):
        # Not sampled this pass, or nothing to write yet: keep what status says.
        previous = shown or InstanceStatus()
        return base.model_copy(update={f: getattr(previous, f) for f in _HEALTH_FIELDS})
    health = classify_health(sample, desired.spec, capped)
    if not sample.reachable:
        return base.model_copy(update={"health_status": health, "last_health_check": sample.checked_at})
    return base.model_copy(
        update={
            "health_status": health,
            "snapshot_age_ms": sample.snapshot_age_ms,
            "snapshot_time": snapshot_time(sample),
            "swap_count": sample.swap_count,
            "row_counts": sample.row_counts,
            "replication": sample.replication,
            "uptime_seconds": sample.uptime_seconds,
            "last_health_check": sample.checked_at,
            "last_swap_time": sample.last_swap_time,
        }
    )
