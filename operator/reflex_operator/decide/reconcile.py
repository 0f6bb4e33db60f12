"""One pure function from desired and observed state to status and next steps.

``decide(desired, observed, config, now)`` classifies the resource (phase and conditions, with
named reasons), computes what is deployed and what is pending, the allowed-actions matrix, and the
ordered steps that move the world one pass closer to the spec. It does no I/O; the kopf handlers
observe, call it, carry out the steps and write the status it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from reflex_operator.api.models import (
    Action,
    AllowedActions,
    AppliedTokens,
    BuildRecord,
    BuildState,
    BuildStatus,
    Condition,
    ConditionType,
    DeletionPolicy,
    DeployedConfig,
    HealthStatus,
    InstanceStatus,
    Phase,
    ReflexDatabaseSpec,
    ReflexDatabaseStatus,
    Replication,
)
from reflex_operator.decide import identity, reasons
from reflex_operator.decide.actions import Facts, allowed_actions
from reflex_operator.decide.observed import (
    BuildOutcome,
    Config,
    Desired,
    HealthSample,
    Observation,
    ObservedBuild,
    ObservedService,
    RolloutState,
    ServiceState,
)
from reflex_operator.decide.steps import (
    DeleteSecret,
    DeleteService,
    Deploy,
    Event,
    PauseReplication,
    PutSecret,
    ReleaseFinalizer,
    Reload,
    ResumeReplication,
    ScaleService,
    StartBuild,
    Step,
    StopBuild,
)

__all__ = ["Decision", "decide", "desired_config", "build_history", "classify_health", "health_sample_matters"]


@dataclass(frozen=True)
class Decision:
    """The outcome of one pass: the status to write and the steps to carry out, in order."""

    status: ReflexDatabaseStatus
    steps: tuple[Step, ...] = ()

    @property
    def phase(self) -> Phase:
        assert self.status.phase is not None
        return self.status.phase

    def condition(self, kind: ConditionType) -> Condition:
        return next(c for c in self.status.conditions if c.type == kind.value)


# ----------------------------------------------------------------------------------- small pieces


def desired_config(spec: ReflexDatabaseSpec) -> DeployedConfig:
    """The instance configuration the spec asks for, in ``deployedConfig`` terms."""
    resources = spec.resources
    return DeployedConfig(
        instance_size=spec.size,
        task_cpu=resources.cpu,
        task_memory_mb=resources.memory_mb,
        sync_mode=spec.sync.mode,
        sync_interval=spec.sync.interval_seconds,
        log_level=spec.log_level,
        safety_net=spec.safety_net,
    )


_BUILD_STATE = {
    BuildOutcome.QUEUED: BuildState.QUEUED,
    BuildOutcome.IN_PROGRESS: BuildState.IN_PROGRESS,
    BuildOutcome.SUCCEEDED: BuildState.SUCCEEDED,
    BuildOutcome.FAILED: BuildState.FAILED,
    BuildOutcome.STOPPED: BuildState.FAILED,
}


def _record(build: ObservedBuild) -> BuildRecord:
    duration = None
    if build.started_at and build.finished_at:
        duration = max(0, int((build.finished_at - build.started_at).total_seconds()))
    failure = build.failure_reason
    if build.outcome is BuildOutcome.STOPPED:
        failure = failure or "stopped"
    return BuildRecord(
        id=build.id,
        codebuild_id=build.codebuild_id,
        image_uri=build.image_uri if build.outcome is BuildOutcome.SUCCEEDED else None,
        status=_BUILD_STATE[build.outcome],
        logs_url=build.logs_url,
        started_at=build.started_at,
        finished_at=build.finished_at,
        build_duration_seconds=duration,
        compute_type_used=build.compute_type,
        cost_estimate_cents=identity.estimate_cost_cents(build.compute_type, duration),
        server_version=build.server_version,
        schemas=list(build.schemas) or None,
        input_hash=build.input_hash,
        failure_reason=failure,
        deployable=build.outcome is BuildOutcome.SUCCEEDED and bool(build.image_uri),
    )


def build_history(
    previous: list[BuildRecord], observed: tuple[ObservedBuild, ...], limit: int, keep: set[str]
) -> list[BuildRecord]:
    """Merge what CodeBuild reports into the recorded history: newest first, at most ``limit``
    entries, never dropping a build in ``keep`` (the active and the pinned one)."""
    by_id: dict[str, BuildRecord] = {b.id: b for b in previous}
    for build in observed:
        by_id[build.id] = _record(build)
    ordered = sorted(
        by_id.values(),
        key=lambda b: (b.started_at.timestamp() if b.started_at else float("inf"), b.id),
        reverse=True,
    )
    kept = ordered[:limit]
    kept += [b for b in ordered[limit:] if b.id in keep]
    return kept


def classify_health(sample: HealthSample, spec: ReflexDatabaseSpec) -> HealthStatus:
    """A server that does not answer is unreachable; one that says so, or whose snapshot is older
    than three sync intervals while replication should be running, is degraded."""
    if sample.status is not HealthStatus.OK:
        return sample.status
    stale_after_ms = 3 * spec.sync.interval_seconds * 1000
    replication_paused = spec.sync.paused or sample.replication is Replication.PAUSED
    if sample.snapshot_age_ms is not None and sample.snapshot_age_ms > stale_after_ms and not replication_paused:
        return HealthStatus.DEGRADED
    return HealthStatus.OK


def health_sample_matters(
    spec: ReflexDatabaseSpec, status: ReflexDatabaseStatus, sample: HealthSample, now: datetime, refresh_seconds: float
) -> bool:
    """Whether a new health sample is worth a reconcile pass: only when the status would change
    (another health class, replication not as desired, a reload waiting) or the bounded refresh
    of the health figures is due. The live figures go to metrics either way."""
    instance = status.instance
    if instance is None or instance.health_status != classify_health(sample, spec):
        return True
    if sample.replication is not None and (sample.replication is Replication.PAUSED) != spec.sync.paused:
        return True
    if spec.reload_token and (status.applied_tokens is None or status.applied_tokens.reload != spec.reload_token):
        return True
    last = instance.last_health_check
    return last is None or (now - last).total_seconds() >= refresh_seconds


def _condition(
    previous: list[Condition], kind: ConditionType, status: bool, reason: str, message: str, generation: int, now: datetime
) -> Condition:
    value = "True" if status else "False"
    before = next((c for c in previous if c.type == kind.value), None)
    since = before.last_transition_time if before is not None and before.status == value else now
    return Condition(
        type=kind.value,
        status=value,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )


# --------------------------------------------------------------------------------------- the pass


@dataclass
class _Pass:
    """Working state of one decision (internal)."""

    desired: Desired
    observed: Observation
    config: Config
    now: datetime
    steps: list[Step] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)
    stalled: tuple[str, str] | None = None  # (reason, message)
    progress: tuple[str, str] | None = None  # (reason, message) while reconciling

    @property
    def spec(self) -> ReflexDatabaseSpec:
        return self.desired.spec

    @property
    def previous(self) -> ReflexDatabaseStatus:
        return self.desired.status

    @property
    def resource(self) -> str:
        return f"{self.desired.namespace}/{self.desired.name}"

    def stall(self, reason: str, message: str) -> None:
        if self.stalled is None:
            self.stalled = (reason, message)

    def working(self, reason: str, message: str) -> None:
        if self.progress is None:
            self.progress = (reason, message)

    def block(self, action: Action, message: str) -> None:
        """A change the user asked for that cannot run: queued goal plus (once) an event."""
        goal = f"{action.value}: {message}"
        self.queued.append(goal)
        if goal not in self.previous.queued_goals:
            self.steps.append(Event(reasons.ACTION_BLOCKED, goal, warning=True))


def decide(desired: Desired, observed: Observation, config: Config, now: datetime) -> Decision:
    """The whole judgement for one resource in one pass."""
    p = _Pass(desired, observed, config, now)
    spec, previous = desired.spec, desired.status
    uid, ns, name = desired.uid, desired.namespace, desired.name
    service = observed.service if observed.service is not None and observed.service.exists else None
    # A deleted service drains (its tasks stop) before it is gone; its name cannot be reused until then.
    draining = observed.service is not None and observed.service.state is ServiceState.DRAINING
    svc_name = identity.service_name(ns, name, uid)
    secret_name = identity.secret_name(config.secret_prefix, ns, name, uid)
    tokens = (previous.applied_tokens or AppliedTokens()).model_copy()
    secret_arn = observed.aws_secret_arn or previous.secret_arn

    # What to build, and what is already built.
    inputs = identity.build_inputs(spec, config.default_server_version)
    build_hash = inputs.hash
    keep = {b for b in (previous.active_build_id, spec.build_id) if b}
    history = build_history(list(previous.builds), observed.builds, config.build_history_limit, keep)
    current = next((b for b in history if b.input_hash == build_hash), None)
    pinned = next((b for b in history if b.id == spec.build_id), None) if spec.build_id else None
    active = _active_build(history, service)

    if desired.deleting:
        return _finish(p, Phase.DELETING, history, active, service, secret_arn, tokens, _deleting(p, history, service, secret_arn, secret_name))

    # 1. The connection secret.
    secret = observed.secret
    if not secret.usable:
        what = "does not exist" if not secret.exists else f"has no key {spec.source.secret_ref.key!r}"
        message = f"Secret {spec.source.secret_ref.name!r} {what} in namespace {ns!r}"
        if tokens.secret_version is None:
            p.stall(reasons.SECRET_NOT_FOUND, message + "; create it to continue")
        else:
            p.queued.append(f"secret: {message}; the instance keeps the last copied connection string")
    elif secret.resource_version != tokens.secret_version or secret_arn is None:
        p.steps.append(
            PutSecret(secret_name, spec.source.secret_ref.name, spec.source.secret_ref.key, secret.resource_version or "")
        )
        tokens.secret_version = secret.resource_version

    # 2. The build.
    image: str | None = None
    if spec.build_id:
        if pinned is None or not pinned.deployable:
            why = "is not in status.builds" if pinned is None else f"is not deployable (status {pinned.status.value})"
            p.stall(reasons.BUILD_NOT_DEPLOYABLE, f"spec.buildId {spec.build_id!r} {why}")
            p.block(Action.REDEPLOY, f"build {spec.build_id} {why}")
        else:
            image = pinned.image_uri
    elif current is None or (current.status is BuildState.FAILED and current.failure_reason == "stopped"):
        if not spec.terminated:
            attempt = sum(1 for b in history if b.input_hash == build_hash)
            p.steps.append(
                StartBuild(
                    inputs=inputs,
                    idempotency_token=identity.build_token(uid, f"{build_hash}/{attempt}"),
                    image_uri=f"{config.image_repository_uri}:{build_hash}-{attempt}",
                    resource=p.resource,
                    uid=uid,
                )
            )
            p.working(reasons.BUILDING, f"starting a build of reflex-server {inputs.server_version}")
    elif current.status in (BuildState.QUEUED, BuildState.IN_PROGRESS):
        p.working(reasons.BUILDING, f"build {current.id} is {current.status.value}")
    elif current.status is BuildState.FAILED:
        p.stall(
            reasons.BUILD_FAILED,
            f"build {current.id} failed: {current.failure_reason or 'see logsUrl'}; "
            "change the build inputs or set a new spec.rebuildToken",
        )
    else:
        image = current.image_uri

    # Builds that no longer match the desired state are stopped (cancel-goal, superseded inputs).
    wanted = {b.id for b in (current, pinned) if b is not None}
    for build in history:
        if build.status in (BuildState.QUEUED, BuildState.IN_PROGRESS) and build.id not in wanted and build.codebuild_id:
            p.steps.append(StopBuild(build.codebuild_id, "its inputs no longer match the spec"))
            p.steps.append(Event(reasons.BUILD_STOPPED, f"stopping build {build.id}: its inputs no longer match the spec"))

    # 3. The service.
    deploy_hash: str | None = None
    want_count = 0 if spec.paused else 1
    rollout_failed = False
    if spec.terminated:
        if service is not None:
            p.steps.append(DeleteService(service.name))
            p.working(reasons.TERMINATING, f"deleting ECS service {service.name}")
        elif draining:
            p.working(reasons.TERMINATING, f"ECS service {observed.service.name} is draining")
    elif image is not None and service is None and draining:
        p.working(reasons.DEPLOYING, f"waiting for the old ECS service {observed.service.name} to finish draining")
    elif image is not None and secret_arn is not None and tokens.secret_version is not None:
        deploy = identity.deploy_inputs(spec, image, tokens.secret_version)
        deploy_hash = deploy.hash
        if service is None or service.deploy_hash != deploy_hash:
            p.steps.append(
                Deploy(
                    service_name=svc_name,
                    family=identity.task_family(ns, name, uid),
                    client_token=identity.service_token(uid, desired.generation),
                    inputs=deploy,
                    deploy_hash=deploy_hash,
                    secret_arn=secret_arn,
                    desired_count=want_count,
                    create=service is None,
                    resource=p.resource,
                )
            )
            p.working(reasons.DEPLOYING, "creating the ECS service" if service is None else "rolling out a new task definition")
        elif service.rollout_state is RolloutState.FAILED:
            rollout_failed = True
            p.stall(
                reasons.DEPLOYMENT_FAILED,
                f"deployment failed: {service.rollout_reason or 'tasks did not start'}; "
                "change the spec or set a new spec.restartToken to retry",
            )
        elif service.desired_count != want_count:
            p.steps.append(ScaleService(service.name, want_count))
            p.working(reasons.PAUSING if spec.paused else reasons.RESUMING, f"setting desired count to {want_count}")
        elif service.rollout_state is RolloutState.IN_PROGRESS:
            p.working(
                reasons.DEPLOYING,
                f"deployment in progress: {service.running_count}/{want_count} tasks running",
            )
        elif service.running_count != want_count:
            # Scaling only (pause, resume, a replaced task): no new deployment.
            p.working(
                reasons.PAUSING if want_count == 0 else reasons.RESUMING,
                f"{'stopping' if want_count == 0 else 'starting'} tasks: {service.running_count}/{want_count} running",
            )
    elif image is not None and p.stalled is None:
        p.working(reasons.DEPLOYING, "waiting for the connection secret to be stored")

    # 4. The running server: health, reload, replication.
    instance = _instance(p, service)
    serving = (
        service is not None
        and not spec.paused
        and service.running_count > 0
        and instance.health_status is not None
        and instance.health_status is not HealthStatus.UNREACHABLE
    )
    if spec.reload_token and spec.reload_token != tokens.reload:
        if serving and instance.endpoint_url:
            p.steps.append(Reload(instance.endpoint_url, spec.reload_token))
            tokens.reload = spec.reload_token
        else:
            p.block(Action.RELOAD, "waits for a serving instance")
    if serving and instance.endpoint_url and observed.health is not None and observed.health.reachable:
        replication = observed.health.replication
        if spec.sync.paused and replication is not Replication.PAUSED:
            p.steps.append(PauseReplication(instance.endpoint_url))
        elif not spec.sync.paused and replication is Replication.PAUSED:
            p.steps.append(ResumeReplication(instance.endpoint_url))
    if tokens.restart != spec.restart_token and deploy_hash is not None:
        tokens.restart = spec.restart_token
    if tokens.rebuild != spec.rebuild_token and current is not None:
        tokens.rebuild = spec.rebuild_token

    # 5. Phase.
    if spec.terminated:
        phase = Phase.TERMINATING if service is not None or draining else Phase.TERMINATED
    elif p.stalled is not None and p.stalled[0] in (reasons.BUILD_FAILED, reasons.BUILD_NOT_DEPLOYABLE) or rollout_failed:
        phase = Phase.FAILED
    elif p.stalled is not None and service is None:
        phase = Phase.PENDING
    elif image is None:
        phase = Phase.BUILDING if (current is not None or any(isinstance(s, StartBuild) for s in p.steps)) else Phase.PENDING
    elif spec.paused and service is not None and service.desired_count == 0 and not _deploying(p):
        phase = Phase.PAUSED
    elif _deploying(p) or service is None:
        phase = Phase.DEPLOYING
    else:
        phase = Phase.RUNNING

    # Pending changes that wait for something else.
    target = desired_config(spec)
    deployed = service.config if service is not None else None
    if spec.terminated:
        # Nothing is meant to run: pending only if the next provisioning will differ from the last.
        pending = previous.deployed_config is not None and previous.deployed_config != target
    else:
        pending = deployed != target or (service is not None and deploy_hash is not None and service.deploy_hash != deploy_hash)
        pending = pending or image is None
    if phase is Phase.BUILDING and deployed is not None and deployed != target:
        p.queued.append("deploy: the new configuration waits for the running build to finish")

    return _finish(p, phase, history, active, service, secret_arn, tokens, [], instance=instance, pending=pending, current=current)


# ------------------------------------------------------------------------------------------ parts


def _active_build(history: list[BuildRecord], service: ObservedService | None) -> BuildRecord | None:
    if service is None or not service.image_uri:
        return None
    return next((b for b in history if b.image_uri == service.image_uri), None)


def _deploying(p: _Pass) -> bool:
    return p.progress is not None and p.progress[0] in (reasons.DEPLOYING, reasons.PAUSING, reasons.RESUMING)


def _instance(p: _Pass, service: ObservedService | None) -> InstanceStatus:
    previous = p.previous.instance or InstanceStatus()
    if service is None:
        return InstanceStatus()
    endpoint = p.config.endpoint_template.format(
        service=service.name, name=p.desired.name, namespace=p.desired.namespace
    )
    base = InstanceStatus(
        ecs_service_arn=service.arn,
        task_definition_arn=service.task_definition_arn,
        endpoint_url=endpoint,
        desired_count=service.desired_count,
        running_count=service.running_count,
    )
    if p.spec.paused or service.running_count == 0:
        return base  # no task: no health figures
    sample = p.observed.health
    if sample is None:
        # Not sampled this pass: keep what status says.
        return base.model_copy(update=_health_fields(previous))
    health = classify_health(sample, p.spec)
    due = (
        previous.last_health_check is None
        or previous.health_status != health
        or (sample.reachable and previous.replication != sample.replication)
        or (p.now - previous.last_health_check).total_seconds() >= p.config.status_refresh_seconds
    )
    if not due:
        return base.model_copy(update=_health_fields(previous))
    if not sample.reachable:
        return base.model_copy(update={"health_status": health, "last_health_check": sample.checked_at})
    return base.model_copy(
        update={
            "health_status": health,
            "snapshot_age_ms": sample.snapshot_age_ms,
            "swap_count": sample.swap_count,
            "row_counts": sample.row_counts,
            "replication": sample.replication,
            "uptime_seconds": sample.uptime_seconds,
            "last_health_check": sample.checked_at,
            "last_swap_time": sample.last_swap_time,
        }
    )


_HEALTH_FIELDS = (
    "health_status",
    "snapshot_age_ms",
    "swap_count",
    "row_counts",
    "replication",
    "uptime_seconds",
    "last_health_check",
    "last_swap_time",
)


def _health_fields(instance: InstanceStatus) -> dict[str, object]:
    return {f: getattr(instance, f) for f in _HEALTH_FIELDS}


def _degraded_message(instance: InstanceStatus, spec: ReflexDatabaseSpec) -> str:
    if instance.health_status is HealthStatus.UNREACHABLE:
        return f"{instance.endpoint_url} did not answer its health check"
    age = instance.snapshot_age_ms
    limit = 3 * spec.sync.interval_seconds * 1000
    if age is not None and age > limit:
        return f"snapshot is {age} ms old, more than 3 sync intervals ({limit} ms)"
    return f"the server reports {instance.health_status.value if instance.health_status else 'unknown'}"


def _deleting(
    p: _Pass, history: list[BuildRecord], service: ObservedService | None, secret_arn: str | None, secret_name: str
) -> list[Step]:
    if p.spec.deletion_policy is DeletionPolicy.RETAIN:
        return [Event(reasons.DELETED, "deletionPolicy Retain: AWS resources left in place"), ReleaseFinalizer()]
    steps: list[Step] = [
        StopBuild(b.codebuild_id, "the database is being deleted")
        for b in history
        if b.status in (BuildState.QUEUED, BuildState.IN_PROGRESS) and b.codebuild_id
    ]
    if service is not None:
        steps.append(DeleteService(service.name))
        p.working(reasons.DELETING, f"deleting ECS service {service.name}")
        return steps
    if secret_arn is not None or p.desired.status.applied_tokens is not None:
        steps.append(DeleteSecret(secret_name))
    steps.append(Event(reasons.DELETED, "AWS resources deleted"))
    steps.append(ReleaseFinalizer())
    return steps


def _finish(
    p: _Pass,
    phase: Phase,
    history: list[BuildRecord],
    active: BuildRecord | None,
    service: ObservedService | None,
    secret_arn: str | None,
    tokens: AppliedTokens,
    extra_steps: list[Step],
    *,
    instance: InstanceStatus | None = None,
    pending: bool = False,
    current: BuildRecord | None = None,
) -> Decision:
    spec, previous, gen, now = p.spec, p.previous, p.desired.generation, p.now
    if instance is None:
        instance = _instance(p, service)
    steps = [*p.steps, *extra_steps]
    if p.observed.aws_error:
        p.stall(reasons.AWS_ERROR, p.observed.aws_error)
    health = instance.health_status

    # Conditions, each with a reason a user can act on.
    # Ready means "the desired state is reached", as kstatus reads it: a serving instance, or the
    # steady state the user asked for (paused, terminated). Argo CD tells those apart by phase.
    steady = phase is Phase.RUNNING and health is not HealthStatus.UNREACHABLE
    ready = (steady or phase in (Phase.PAUSED, Phase.TERMINATED)) and p.stalled is None
    ready_reason, ready_msg = {
        Phase.RUNNING: (reasons.RUNNING, "the instance is serving"),
        Phase.PAUSED: (reasons.PAUSED, "the instance is paused (spec.paused)"),
        Phase.TERMINATED: (reasons.TERMINATED, "the instance is terminated (spec.terminated)"),
        Phase.DELETING: (reasons.DELETING, "the database is being deleted"),
    }.get(phase, (phase.value, "the instance is not serving the desired state yet"))
    if phase is Phase.RUNNING and not ready:
        ready_reason, ready_msg = (p.stalled if p.stalled else (reasons.UNREACHABLE, "the instance does not answer"))
    elif p.stalled is not None and not ready:
        ready_reason, ready_msg = p.stalled
    reconciling = p.progress is not None and p.stalled is None
    degraded = health in (HealthStatus.DEGRADED, HealthStatus.UNREACHABLE, HealthStatus.CAP_EXCEEDED)
    prev_conditions = previous.conditions
    conditions = [
        _condition(prev_conditions, ConditionType.READY, ready, ready_reason, ready_msg, gen, now),
        _condition(
            prev_conditions,
            ConditionType.RECONCILING,
            reconciling,
            *(p.progress if reconciling and p.progress else (reasons.RECONCILED, "nothing to do")),
            gen,
            now,
        ),
        _condition(
            prev_conditions,
            ConditionType.STALLED,
            p.stalled is not None,
            *(p.stalled or (reasons.PROGRESSING, "no blocker")),
            gen,
            now,
        ),
        _condition(
            prev_conditions,
            ConditionType.DEGRADED,
            degraded,
            *(
                (reasons.DEGRADED_REASON[health], _degraded_message(instance, spec))
                if degraded and health is not None
                else (reasons.HEALTHY, "health ok" if health else "no instance to check")
            ),
            gen,
            now,
        ),
    ]

    deployable_other = any(b.deployable and (active is None or b.id != active.id) for b in history)
    facts = Facts(
        paused=spec.paused,
        terminated=spec.terminated,
        replication_paused=spec.sync.paused,
        instance_serving=service is not None
        and service.running_count > 0
        and health is not None
        and health is not HealthStatus.UNREACHABLE,
        build_running=current is not None and current.status in (BuildState.QUEUED, BuildState.IN_PROGRESS),
        has_other_deployable_build=deployable_other,
        pending_changes=pending,
    )
    latest = history[0] if history else None
    status = ReflexDatabaseStatus(
        observed_generation=gen,
        phase=phase,
        conditions=conditions,
        deployed_config=service.config if service is not None and service.config else previous.deployed_config,
        has_pending_changes=pending,
        instance=instance if service is not None else None,
        latest_build=BuildStatus.model_validate(latest.model_dump(exclude={"deployable"})) if latest else None,
        builds=history,
        active_build_id=active.id if active else None,
        allowed_actions=AllowedActions.from_map(allowed_actions(phase, facts)),
        queued_goals=p.queued,
        applied_tokens=tokens,
        secret_arn=secret_arn,
        message=(p.stalled or p.progress or (ready_reason, ready_msg))[1],
    )
    return Decision(status=status, steps=tuple(steps))
