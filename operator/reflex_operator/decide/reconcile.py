"""One pure function from desired and observed state to status and next steps.

``decide(desired, observed, config, now)`` classifies the resource (phase and conditions, with
named reasons), computes what is deployed and what is pending, the allowed-actions matrix, and the
ordered steps that move the world one pass closer to the spec. It does no I/O; the kopf handlers
observe, call it, carry out the steps and write the status it returns.

It reads as a pipeline, one concern per module: the connection secret (``secret``), the build
(``build``), the ECS service (``service``), the running server (``health``, ``server``), then the
phase (``phase``), the conditions (``conditions``) and the status (``status``); deletion has its
own module (``deleting``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reflex_operator.api.models import AppliedTokens, Condition, ConditionType, Phase, ReflexDatabaseStatus
from reflex_operator.decide import reasons
from reflex_operator.decide.build import BuildChoice, Builds, build_history, choose_build, known_builds
from reflex_operator.decide.deleting import deleting
from reflex_operator.decide.health import classify_health, health_sample_matters, instance_status
from reflex_operator.decide.observed import Config, Desired, Observation
from reflex_operator.decide.outcome import Outcome, combine
from reflex_operator.decide.phase import PhaseFacts, phase_of
from reflex_operator.decide.secret import SecretResult, connection_secret, secret_arn
from reflex_operator.decide.server import ServerResult, server_actions
from reflex_operator.decide.service import (
    ServiceResult,
    desired_config,
    live_service,
    pending_changes,
    plan_service,
    waits_for_build,
)
from reflex_operator.decide.status import Judgement, write_status
from reflex_operator.decide.steps import Step

__all__ = ["Decision", "decide", "desired_config", "build_history", "classify_health", "health_sample_matters"]

_DEPLOYING = (reasons.DEPLOYING, reasons.PAUSING, reasons.RESUMING)


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
    """The whole judgement for one resource in one pass: secret → build → service → server → phase → status."""
    service = live_service(observed)
    builds = known_builds(desired, observed.builds, service, config)
    if desired.deleting:
        return _deleting(desired, observed, config, now, builds)
    secret = connection_secret(desired, observed, config)
    choice = choose_build(desired, builds, config)
    svc = plan_service(desired, observed, choice.image, secret, stalled=(secret.outcome.stall or choice.outcome.stall) is not None)
    instance = instance_status(desired, service, observed.health, config, now)
    server = server_actions(desired, service, instance, observed.health)
    work = combine(secret.outcome, choice.outcome, svc.outcome, server.outcome)
    phase = phase_of(_phase_facts(desired, builds, choice, svc, work))
    work = work.then(waits_for_build(desired, svc, phase))
    judgement = Judgement(
        phase=phase,
        work=_with_aws_error(work, observed),
        instance=instance,
        service=service,
        builds=builds,
        tokens=_tokens(desired, builds, secret, svc, server),
        secret_arn=secret.arn,
        pending=pending_changes(desired, svc, choice.image),
        build_running=builds.current_running,
    )
    return Decision(status=write_status(desired, now, judgement), steps=work.steps)


def _deleting(desired: Desired, observed: Observation, config: Config, now: datetime, builds: Builds) -> Decision:
    service, arn = live_service(observed), secret_arn(desired, observed)
    work = deleting(desired, builds, service, arn, config)
    judgement = Judgement(
        phase=Phase.DELETING,
        work=_with_aws_error(work, observed),
        instance=instance_status(desired, service, observed.health, config, now),
        service=service,
        builds=builds,
        tokens=(desired.status.applied_tokens or AppliedTokens()).model_copy(),
        secret_arn=arn,
    )
    return Decision(status=write_status(desired, now, judgement), steps=work.steps)


def _with_aws_error(work: Outcome, observed: Observation) -> Outcome:
    """An AWS error blocks the pass, after every other blocker."""
    return work.then(Outcome(stall=(reasons.AWS_ERROR, observed.aws_error))) if observed.aws_error else work


def _phase_facts(desired: Desired, builds: Builds, choice: BuildChoice, svc: ServiceResult, work: Outcome) -> PhaseFacts:
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


def _tokens(desired: Desired, builds: Builds, secret: SecretResult, svc: ServiceResult, server: ServerResult) -> AppliedTokens:
    """The one-shot tokens carried out once this pass's steps are: restart with a deployment of the
    desired inputs, rebuild once a build of them exists."""
    spec, before = desired.spec, desired.status.applied_tokens or AppliedTokens()
    return before.model_copy(
        update={
            "secret_version": secret.version,
            "reload": server.reload,
            "restart": spec.restart_token if svc.deploy_hash is not None else before.restart,
            "rebuild": spec.rebuild_token if builds.current is not None else before.rebuild,
        }
    )
