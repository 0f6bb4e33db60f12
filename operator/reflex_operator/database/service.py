"""The ECS service: deploy the chosen image, scale it for pause and resume, delete it on terminate,
and follow the rollout; and whether the deployed configuration lags behind the spec.
"""

from __future__ import annotations

from dataclasses import dataclass

from reflex_operator.api.models import DeployedConfig, Phase, ReflexDatabaseSpec
from reflex_operator.database import identity
from reflex_operator.database.identity import AwsNames
from reflex_operator.api import reasons
from reflex_operator.database.inputs import Desired, Observation, ObservedService, RolloutState, ServiceState
from reflex_operator.database.outcome import Outcome
from reflex_operator.database.secret import SecretResult
from reflex_operator.database.steps import DeleteService, Deploy, ScaleService

__all__ = ["Target", "ServiceResult", "template_behind", "desired_config", "live_service", "pending_changes", "decide_service", "settling", "waits_for_build"]


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


def live_service(observed: Observation) -> ObservedService | None:
    """The resource's ECS service, if it exists (a draining one does not count)."""
    return observed.service if observed.service is not None and observed.service.exists else None


# Phases whose service is being created, scaled or deleted by this operator.
_MOVING = frozenset({Phase.DEPLOYING, Phase.TERMINATING, Phase.DELETING})


def settling(phase: Phase | None, service: ObservedService | None) -> bool:
    """Whether the database's ECS service is on its way somewhere: its phase says the operator is
    deploying, stopping or deleting it, or ECS shows it draining, rolling out, or with fewer (or
    more) tasks running than desired. Such services are asked about between polls; a settled one
    only at the poll."""
    if phase in _MOVING:
        return True
    if service is None:
        return False
    return (
        service.state is ServiceState.DRAINING
        or service.running_count != service.desired_count
        or service.rollout_state is RolloutState.IN_PROGRESS
    )


@dataclass(frozen=True)
class ServiceResult:
    """The service's part of a pass."""

    outcome: Outcome
    service: ObservedService | None  # the live service
    draining: bool  # a deleted service whose tasks still stop; its name cannot be reused until then
    deploy_hash: str | None = None  # the deploy inputs the service should run, once they are known
    rollout_failed: bool = False
    template_behind: bool = False  # it runs the inputs on an earlier operator template (held or moving)


@dataclass(frozen=True)
class Target:
    """Where the service goes and what it carries: its names, its owner's tags, the image's build."""

    names: AwsNames
    owner_tags: tuple[tuple[str, str], ...] = ()
    build_id: str | None = None
    template: str | None = None  # the operator's template mark new task definitions carry
    template_held: bool = False  # a service on an earlier template keeps it (its move waits for a rollout wave)


def template_behind(service: ObservedService | None, template: str | None) -> bool:
    """Whether the service's task definition carries an earlier operator template than ``template``
    (one registered before marks existed is taken as current: nothing to tell it by)."""
    return service is not None and template is not None and service.template is not None and service.template != template


def decide_service(
    desired: Desired, observed: Observation, image: str | None, secret: SecretResult, stalled: bool, target: Target
) -> ServiceResult:
    """What to do with the service, given the image to run and the stored secret; ``stalled`` says
    whether an earlier concern already blocks the pass."""
    spec, service = desired.spec, live_service(observed)
    draining = observed.service is not None and observed.service.state is ServiceState.DRAINING
    old = observed.service.name if observed.service is not None else ""
    if spec.terminated:
        if service is not None:
            done = Outcome(steps=(DeleteService(service.name),), progress=(reasons.TERMINATING, f"deleting ECS service {service.name}"))
        elif draining:
            done = Outcome(progress=(reasons.TERMINATING, f"ECS service {old} is draining"))
        else:
            done = Outcome()
        return ServiceResult(done, service, draining)
    if image is None:
        return ServiceResult(Outcome(), service, draining)
    if service is None and draining:
        message = (
            f"waiting for ECS service {old} to finish draining (an earlier database of this name was deleted); "
            "it is created fresh once the old one is gone"
        )
        waiting = Outcome(progress=(reasons.NAME_DRAINING, message))
        return ServiceResult(waiting, service, draining)
    if secret.arn is None or secret.version is None:
        waiting = Outcome() if stalled else Outcome(progress=(reasons.DEPLOYING, "waiting for the connection secret to be stored"))
        return ServiceResult(waiting, service, draining)
    deploy = identity.deploy_inputs(spec, image, secret.deploy_version or secret.version)
    behind = template_behind(service, target.template)
    if service is None or service.deploy_hash != deploy.hash or (behind and not target.template_held):
        step = Deploy(
            service_name=target.names.service,
            family=target.names.family,
            client_token=identity.service_token(desired.uid, desired.generation),
            inputs=deploy,
            deploy_hash=deploy.hash,
            secret_arn=secret.arn,
            desired_count=_want(spec),
            create=service is None,
            resource=f"{desired.namespace}/{desired.name}",
            owner_tags=target.owner_tags,
            build_id=target.build_id,
            template=target.template,
        )
        what = "creating the ECS service" if service is None else "rolling out a new task definition"
        return ServiceResult(Outcome(steps=(step,), progress=(reasons.DEPLOYING, what)), service, draining, deploy.hash, template_behind=behind)
    failed = service.rollout_state is RolloutState.FAILED
    return ServiceResult(_follow(spec, service), service, draining, deploy.hash, rollout_failed=failed, template_behind=behind)


def _want(spec: ReflexDatabaseSpec) -> int:
    return 0 if spec.paused else 1


def _follow(spec: ReflexDatabaseSpec, service: ObservedService) -> Outcome:
    """A service that runs the right inputs: report a failed rollout, scale it, or follow its progress."""
    want = _want(spec)
    if service.rollout_state is RolloutState.FAILED:
        message = (
            f"deployment failed: {service.rollout_reason or 'tasks did not start'}; "
            "change the spec or set a new spec.restartToken to retry"
        )
        return Outcome(stall=(reasons.DEPLOYMENT_FAILED, message))
    if service.desired_count != want:
        reason = reasons.PAUSING if spec.paused else reasons.RESUMING
        return Outcome(steps=(ScaleService(service.name, want),), progress=(reason, f"setting desired count to {want}"))
    if service.rollout_state is RolloutState.IN_PROGRESS:
        return Outcome(progress=(reasons.DEPLOYING, f"deployment in progress: {service.running_count}/{want} tasks running"))
    if service.running_count != want:
        # Scaling only (pause, resume, a replaced task): no new deployment.
        reason = reasons.PAUSING if want == 0 else reasons.RESUMING
        verb = "stopping" if want == 0 else "starting"
        return Outcome(progress=(reason, f"{verb} tasks: {service.running_count}/{want} running"))
    return Outcome()


def pending_changes(desired: Desired, result: ServiceResult, image: str | None) -> bool:
    """Whether the desired configuration differs from what is deployed (or, terminated, from what
    was deployed last), or waits for a build."""
    spec, service = desired.spec, result.service
    target = desired_config(spec)
    if spec.terminated:
        # Nothing is meant to run: pending only if the next provisioning will differ from the last.
        previous = desired.status.deployed_config
        return previous is not None and previous != target
    deployed = service.config if service is not None else None
    if deployed != target or image is None or result.template_behind:
        return True
    return service is not None and result.deploy_hash is not None and service.deploy_hash != result.deploy_hash


def waits_for_build(desired: Desired, result: ServiceResult, phase: Phase) -> Outcome:
    """While a build runs, a changed configuration waits for it (it is deployed with the new image)."""
    deployed = result.service.config if result.service is not None else None
    if phase is Phase.BUILDING and deployed is not None and deployed != desired_config(desired.spec):
        return Outcome(queued=("deploy: the new configuration waits for the running build to finish",))
    return Outcome()
