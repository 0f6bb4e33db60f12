"""One pure function from desired and observed state to status and next steps.

``decide(desired, observed, config, now)`` classifies the resource (phase and conditions, with
named reasons), computes what is deployed and what is pending, the allowed-actions matrix, and the
ordered steps that move the world one pass closer to the spec. It does no I/O; the kopf handlers
observe, call it, carry out the steps and write the status it returns.

It reads as a pipeline, one concern per module: the namespace's plan (``plan``: a database with no
room stays where it is, one past the data transfer cap has replication paused), the fleet rollout
(``rollout``: a new default server version waits for the database's wave), the connection secret (``secret``), the build
(``build``), the ECS service (``service``), the running server (``health``, ``server``), then the
phase (``phase``), the conditions (``conditions``) and the status (``status``); deletion has its
own module (``deleting``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from reflex_operator.api.models import (
    Action,
    AppliedTokens,
    Condition,
    ConditionType,
    InstanceStatus,
    Origin,
    PlacementStatus,
    Phase,
    ReflexDatabaseSpec,
    ReflexDatabaseStatus,
)
from reflex_operator.api import reasons
from reflex_operator.database.build import BuildChoice, KnownBuilds, build_history, choose_build, known_builds
from reflex_operator.database.deleting import deleting
from reflex_operator.database.intent import StartFacts
from reflex_operator.database.health import classify_health, health_sample_matters, instance_status
from reflex_operator.database.inputs import Config, Desired, Observation, ObservedService
from reflex_operator.database.outcome import Outcome, blocked, combine
from reflex_operator.tenancy.plans import PlanVerdict, held_back, verdict
from reflex_operator.database.phase import PhaseFacts, phase_of
from reflex_operator.api.reasons import CLUSTER_NOT_IN_SETTINGS
from reflex_operator.tenancy.placement import Placed, place
from reflex_operator.database.secret import SecretResult, connection_secret, secret_arn
from reflex_operator.database.admin import ServerResult, server_actions, with_check
from reflex_operator.database.ownership import CREATED_BY, Claim, Owner, Ownership, ownership, released
from reflex_operator.database.service import (
    Target,
    ServiceResult,
    desired_config,
    live_service,
    pending_changes,
    decide_service,
    waits_for_build,
)
from reflex_operator.database.status import Judgement, compose_status
from reflex_operator.database import rollout as waves
from reflex_operator.database.steps import Deploy, Event, RecordPlacement, Step

__all__ = ["Decision", "decide", "desired_config", "build_history", "classify_health", "health_sample_matters"]

_DEPLOYING = (reasons.DEPLOYING, reasons.PAUSING, reasons.RESUMING, reasons.NAME_DRAINING)


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


def decide(desired: Desired, observed: Observation, config: Config, now: datetime) -> Decision:
    """The whole judgement for one resource in one pass: plan → rollout → secret → build → service → server → phase → status."""
    service = live_service(observed)
    builds = known_builds(desired, observed.builds, service, config, observed.fleet)
    own = ownership(desired, observed, config, now)
    if desired.deleting:
        return _deleting(desired, observed, config, now, builds, own)
    if own.blocked:
        return _not_ours(desired, observed, now, builds, own, config)
    plan = _plan(desired, observed)
    if plan is not None and not plan.admitted and service is None:
        return _waiting(desired, observed, now, builds, plan, config, own)
    wanted = desired
    if plan is not None and not plan.admitted:
        wanted = replace(desired, spec=_held_back(desired, service))
    gate = waves.gate(wanted, service, builds, observed.health, observed.rollout, config, observed.template_rollout)
    if gate.held_spec is not None:
        # A fleet change waits for its wave: the database works to its spec at the version it runs.
        wanted = replace(wanted, spec=gate.held_spec)
        builds = known_builds(wanted, observed.builds, service, config)
    capped = plan is not None and plan.capped
    owner = _owner(desired, own)
    may_take = _may_take(own)
    secret = connection_secret(wanted, observed, config, own.names, owner, may_take, taking=own.taking)
    choice = choose_build(wanted, builds, config, _start_facts(observed, now))
    target = Target(own.names, owner, _build_of(builds, choice.image), config.deploy_template, template_held=gate.held)
    svc = decide_service(wanted, observed, choice.image, secret, stalled=(secret.outcome.stall or choice.outcome.stall) is not None, target=target)
    placed, svc = _placed(desired, observed, svc)
    instance = instance_status(wanted, service, observed.health, config, now, capped)
    server = server_actions(wanted, service, instance, observed.health, capped)
    instance = with_check(instance, wanted, server, now)
    work = _with_budget_wait(
        combine(own.outcome, secret.outcome, choice.outcome, svc.outcome, server.outcome, _plan_outcome(desired, plan), gate.outcome()), observed
    )
    member = waves.member(
        desired, gate, service, builds, choice.image, svc.deploy_hash, choice.outcome.stall, observed.health, gate.admission, now
    )
    phase = phase_of(_phase_facts(wanted, builds, choice, svc, work))
    work = work.then(waits_for_build(wanted, svc, phase))
    judgement = Judgement(
        phase=phase,
        work=_with_aws_error(work, observed),
        instance=instance,
        service=service,
        builds=builds,
        tokens=_tokens(wanted, builds, secret, svc, server, own),
        secret_arn=secret.arn,
        identity=own.identity,
        pending=pending_changes(wanted, svc, choice.image) or wanted is not desired,
        build_running=builds.current_running,
        plan=plan,
        build_intent=choice.intent,
        placement=placed.placement,
        price=config.fargate_price,
        cost_limit=config.history_limit,
        rollout=member,
    )
    return Decision(status=compose_status(desired, now, judgement), steps=work.steps)


def _placed(desired: Desired, observed: Observation, svc: ServiceResult) -> tuple[Placed, ServiceResult]:
    """The ECS cluster (``tenancy.placement``): a new one is recorded before the service is created
    on it; with no room anywhere, nothing is created and the database waits."""
    if observed.clusters is None:
        return Placed(desired.status.placement), svc
    creates = any(isinstance(step, Deploy) and step.create for step in svc.outcome.steps)
    found_on = observed.found_on or _found_elsewhere(desired, observed)
    if desired.status.placement is None and found_on is not None:
        # Found on another of the operator's clusters (taken back or adopted): it lives there.
        chosen = PlacementStatus(cluster=found_on, in_settings=found_on in observed.clusters.clusters)
        return Placed(chosen, chosen=True), replace(svc, outcome=replace(svc.outcome, steps=(RecordPlacement(found_on), *svc.outcome.steps)))
    adoption = desired.spec.adoption
    if desired.status.placement is None and adoption is not None and adoption.cluster:
        chosen = PlacementStatus(cluster=adoption.cluster, in_settings=adoption.cluster in observed.clusters.clusters)
        return Placed(chosen, chosen=True), replace(svc, outcome=replace(svc.outcome, steps=(RecordPlacement(adoption.cluster), *svc.outcome.steps)))
    placed = place(desired.status, observed.clusters, creates, exists=observed.service is not None)
    if placed.stall is not None:
        return placed, replace(svc, outcome=Outcome(stall=placed.stall))
    extra: tuple[Step, ...] = ()
    if placed.chosen and placed.cluster is not None:
        extra = (RecordPlacement(placed.cluster),)
    before = desired.status.placement
    if placed.placement is not None and not placed.placement.in_settings and (before is None or before.in_settings):
        message = f"ECS cluster {placed.cluster} is no longer in the settings (REFLEX_ECS_CLUSTERS); the database stays there"
        extra = (Event(CLUSTER_NOT_IN_SETTINGS, message, warning=True), *extra)
    if not extra:
        return placed, svc
    return placed, replace(svc, outcome=replace(svc.outcome, steps=extra + svc.outcome.steps))


def _found_elsewhere(desired: Desired, observed: Observation) -> str | None:
    """The cluster an unplaced database's service was seen on, when it is not the default one
    (whichever look saw it: the service says where it lives)."""
    service, load = observed.service, observed.clusters
    if desired.status.placement is not None or service is None or load is None or not service.cluster:
        return None
    return service.cluster if service.cluster != load.default else None


def _plan(desired: Desired, observed: Observation) -> PlanVerdict | None:
    if observed.plan is None:
        return None
    return verdict(desired.uid, desired.spec, desired.status, observed.plan, desired.deleting)


def _held_back(desired: Desired, service: ObservedService) -> ReflexDatabaseSpec:
    deployed = service.config.instance_size if service.config is not None else None
    return held_back(desired.spec, deployed, live=True, scaled_to_zero=service.desired_count == 0)


def _plan_outcome(desired: Desired, plan: PlanVerdict | None) -> Outcome:
    """A database that may not grow: the blocker, and the change that waits (once an event)."""
    if plan is None or plan.hold is None:
        return Outcome()
    return Outcome(stall=plan.hold).then(blocked(_grown(desired), plan.hold[1], desired.status.queued_goals))


def _grown(desired: Desired) -> Action:
    deployed = desired.status.deployed_config
    if deployed is None or desired.status.phase in (Phase.TERMINATED, Phase.PENDING, None):
        return Action.PROVISION
    return Action.RESUME if not desired.spec.paused and desired.status.phase is Phase.PAUSED else Action.RESIZE


def _owner(desired: Desired, own: Ownership) -> tuple[tuple[str, str], ...]:
    """The ownership tags this database writes on what it creates (``database.ownership``)."""
    me = Owner(own.identity.cluster_identity, desired.namespace, desired.name, desired.uid)
    return tuple(sorted(me.tags().items()))


def _may_take(own: Ownership) -> frozenset[str]:
    """Which secrets found under the database's name it may take (``database.ownership.Claim``):
    its identity's; unmarked or released ones too when adopting, or when it made them before the
    ownership tags existed."""
    claims = {Claim.MINE, Claim.OURS}
    if own.identity.origin in (Origin.ADOPTED, Origin.LEGACY):
        claims |= {Claim.UNMARKED, Claim.RELEASED} if own.identity.origin is Origin.ADOPTED else {Claim.UNMARKED}
    return frozenset(c.value for c in claims)


def _build_of(builds: KnownBuilds, image: str | None) -> str | None:
    """The CodeBuild id of the build that made the image (written into the task definition)."""
    if image is None:
        return None
    record = next((b for b in builds.history if b.image_uri == image), None)
    return record.codebuild_id if record is not None else None


def _not_ours(desired: Desired, observed: Observation, now: datetime, builds: KnownBuilds, own: Ownership, config: Config) -> Decision:
    """Resources under the database's names belong to someone else, or spec.adoption found nothing
    to take: nothing is created or changed in AWS; the database waits, Stalled, saying whose."""
    phase = Phase.TERMINATED if desired.spec.terminated else Phase.PENDING
    return _runs_nothing(desired, observed, now, builds, config, own.outcome, _plan(desired, observed), phase, desired.status.secret_arn)


def _waiting(
    desired: Desired, observed: Observation, now: datetime, builds: KnownBuilds, plan: PlanVerdict, config: Config, own: Ownership
) -> Decision:
    """No room (or no plan) for a database that runs nothing: nothing is started or created in AWS."""
    phase = Phase.TERMINATED if desired.status.phase is Phase.TERMINATED else Phase.PENDING
    return _runs_nothing(desired, observed, now, builds, config, _plan_outcome(desired, plan), plan, phase, secret_arn(desired, observed))


def _runs_nothing(
    desired: Desired, observed: Observation, now: datetime, builds: KnownBuilds, config: Config,
    work: Outcome, plan: PlanVerdict | None, phase: Phase, arn: str | None,
) -> Decision:
    """The status of a database that runs nothing and may start nothing this pass."""
    work = _with_aws_error(work, observed)
    judgement = Judgement(
        phase=phase,
        work=work,
        instance=InstanceStatus(),
        service=None,
        builds=builds,
        tokens=(desired.status.applied_tokens or AppliedTokens()).model_copy(),
        secret_arn=arn,
        pending=True,
        plan=plan,
        placement=desired.status.placement,
        price=config.fargate_price,
        cost_limit=config.history_limit,
        identity=desired.status.identity,
        rollout=desired.status.rollout,
    )
    return Decision(status=compose_status(desired, now, judgement), steps=work.steps)


def _deleting(desired: Desired, observed: Observation, config: Config, now: datetime, builds: KnownBuilds, own: Ownership) -> Decision:
    service, arn = live_service(observed), secret_arn(desired, observed)
    if own.blocked:
        service = None  # not ours: neither deleted nor released; only the finalizer goes
    me = Owner(own.identity.cluster_identity, desired.namespace, desired.name, desired.uid)
    created_by = (service.tags or {}).get(CREATED_BY) if service is not None else None
    released_tags = tuple(sorted(released(me.tags(created_by), now).items()))
    work = deleting(desired, builds, service, arn if not own.blocked else None, config, own.names, released_tags)
    judgement = Judgement(
        phase=Phase.DELETING,
        work=_with_aws_error(work, observed),
        instance=instance_status(desired, service, observed.health, config, now),
        service=service,
        builds=builds,
        tokens=(desired.status.applied_tokens or AppliedTokens()).model_copy(),
        secret_arn=arn,
        plan=_plan(desired, observed),
        placement=desired.status.placement,
        price=config.fargate_price,
        cost_limit=config.history_limit,
        identity=desired.status.identity,
    )
    return Decision(status=compose_status(desired, now, judgement), steps=work.steps)


def _start_facts(observed: Observation, now: datetime) -> StartFacts:
    deferred = observed.deferred is not None and observed.deferred.operation == "StartBuild"
    return StartFacts(now, observed.build_refused, observed.build_lookup, deferred)


def _with_budget_wait(work: Outcome, observed: Observation) -> Outcome:
    """A call this pass did not send for want of a rate-budget token: the progress says what waits
    and for which budget (the phase is unchanged: the step is still to come)."""
    wait = observed.deferred
    if wait is None or work.progress is None or work.stall is not None:
        return work
    reason, message = work.progress
    return replace(work, progress=(reason, f"{message}; {wait.note}"))


def _with_aws_error(work: Outcome, observed: Observation) -> Outcome:
    """An AWS error blocks the pass, after every other blocker."""
    return work.then(Outcome(stall=(reasons.AWS_ERROR, observed.aws_error))) if observed.aws_error else work


def _phase_facts(desired: Desired, builds: KnownBuilds, choice: BuildChoice, svc: ServiceResult, work: Outcome) -> PhaseFacts:
    spec, service = desired.spec, svc.service
    return PhaseFacts(
        terminated=spec.terminated,
        paused=spec.paused,
        service=service is not None,
        draining=svc.draining,
        scaled_to_zero=service is not None and service.desired_count == 0,
        stall=work.stall[0] if work.stall else None,
        rollout_failed=svc.rollout_failed,
        image=choice.image is not None,
        building=builds.current is not None or choice.starts,
        deploying=work.progress is not None and work.progress[0] in _DEPLOYING,
    )


def _tokens(
    desired: Desired, builds: KnownBuilds, secret: SecretResult, svc: ServiceResult, server: ServerResult, own: Ownership
) -> AppliedTokens:
    """The one-shot tokens carried out once this pass's steps are: restart with a deployment of the
    desired inputs, rebuild once a build of them exists. A database that takes its resources over
    counts the reload and health-check tokens of its spec as carried out (they were, by the earlier
    object whose manifest it is)."""
    spec, before = desired.spec, desired.status.applied_tokens or AppliedTokens()
    deploy_version = secret.deploy_version if secret.deploy_version != secret.version else None
    return before.model_copy(
        update={
            "secret_version": secret.version,
            "secret_deploy_version": deploy_version,
            "reload": spec.reload_token if own.taking else server.reload,
            "health_check": spec.health_check_token if own.taking else server.health_check,
            "restart": spec.restart_token if svc.deploy_hash is not None else before.restart,
            "rebuild": spec.rebuild_token if builds.current is not None else before.rebuild,
        }
    )
