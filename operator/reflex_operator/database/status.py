"""The status one pass writes, assembled from what the concerns found: conditions, the
allowed-actions matrix, the build history, the instance and the applied tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reflex_operator.api.models import (
    Action,
    AwsIdentity,
    ActionAvailability,
    ActionMode,
    AllowedActions,
    AppliedTokens,
    BuildIntent,
    BuildStatus,
    CostStatus,
    HealthStatus,
    InstanceStatus,
    Phase,
    PlacementStatus,
    ReflexDatabaseStatus,
)
from reflex_operator.actions.allowed import Facts, allowed_actions
from reflex_operator.api.rollout import RolloutMember
from reflex_operator.database import cost
from reflex_operator.database.build import KnownBuilds
from reflex_operator.database.conditions import conditions, readiness
from reflex_operator.database.inputs import Desired, ObservedService
from reflex_operator.database.outcome import Outcome
from reflex_operator.tenancy.plans import PlanVerdict

__all__ = ["Judgement", "compose_status"]


@dataclass(frozen=True)
class Judgement:
    """Everything the status of one pass is written from."""

    phase: Phase
    work: Outcome  # all concerns joined, the AWS error included
    instance: InstanceStatus
    service: ObservedService | None
    builds: KnownBuilds
    tokens: AppliedTokens
    secret_arn: str | None
    pending: bool = False
    build_running: bool = False  # a build of the desired inputs is queued or in progress
    plan: PlanVerdict | None = None  # the namespace's plan (None: plans not enforced)
    build_intent: BuildIntent | None = None  # the build being started, until CodeBuild has it
    placement: PlacementStatus | None = None  # the ECS cluster (tenancy.placement)
    price: cost.FargatePrice = cost.FARGATE_PRICES[cost.DEFAULT_REGION]  # the running cost's prices
    cost_limit: int = 50  # rate changes kept in status.cost.changes
    identity: AwsIdentity | None = None  # the AWS resources the database owns (database.ownership)
    rollout: RolloutMember | None = None  # the fleet rollout it moves in (database.rollout)


def compose_status(desired: Desired, now: datetime, j: Judgement) -> ReflexDatabaseStatus:
    """The status to write for this pass."""
    service, history, active = j.service, j.builds.history, j.builds.active
    ready = readiness(j.phase, j.instance.health_status, j.work.stall)
    latest = history[0] if history else None
    return ReflexDatabaseStatus(
        observed_generation=desired.generation,
        phase=j.phase,
        conditions=conditions(desired, now, j.phase, j.work, j.instance, j.plan.cap if j.plan else None),
        deployed_config=service.config if service is not None and service.config else desired.status.deployed_config,
        has_pending_changes=j.pending,
        instance=j.instance if service is not None else None,
        placement=j.placement,
        latest_build=BuildStatus.model_validate(latest.model_dump(exclude={"deployable"})) if latest else None,
        builds=history,
        active_build_id=active.id if active else None,
        build_intent=j.build_intent,
        allowed_actions=AllowedActions.from_map(_plan_blocks(allowed_actions(j.phase, _facts(desired, j)), j)),
        queued_goals=list(j.work.queued),
        applied_tokens=j.tokens,
        secret_arn=j.secret_arn,
        identity=j.identity or desired.status.identity,
        message=(j.work.stall or j.work.progress or (ready.reason, ready.message))[1],
        plan=j.plan.status if j.plan else None,
        rollout=j.rollout,
        # Carried over; database.chronicle adds what this pass changed.
        notifications=desired.status.notifications,
        unseen_count=desired.status.unseen_count,
        skipped_count=desired.status.skipped_count,
        history=desired.status.history,
        cost=_cost(desired, now, j),
    )


def _cost(desired: Desired, now: datetime, j: Judgement) -> CostStatus:
    """The running cost: the tasks the service runs, of its deployed size (none: nothing)."""
    service = j.service
    running = service.running_count if service is not None and service.exists else 0
    config = service.config if service is not None and service.config else desired.status.deployed_config
    return cost.accrue(desired.status.cost, cost.rate(j.price, config, running), now, j.cost_limit)


def _plan_blocks(matrix: dict[Action, ActionAvailability], j: Judgement) -> dict[Action, ActionAvailability]:
    """What the plan changes in the matrix, with its reason: with no room, provisioning (of a
    database that runs nothing) and resuming are refused and a resize waits; past the data transfer
    cap, resuming replication is refused."""
    if j.plan is None:
        return matrix
    out = dict(matrix)
    for action, why in j.plan.blocks.items():
        if action is Action.RESIZE and matrix[action].allowed:
            out[action] = ActionAvailability(allowed=True, mode=ActionMode.QUEUED, reason=why)
        elif action is Action.RESUME_REPLICATION or matrix[action].allowed or (action is Action.PROVISION and j.service is None):
            out[action] = ActionAvailability(allowed=False, reason=why)
    return out


def _facts(desired: Desired, j: Judgement) -> Facts:
    """What the allowed-actions matrix depends on, beyond the phase."""
    spec, service, health, active = desired.spec, j.service, j.instance.health_status, j.builds.active
    return Facts(
        paused=spec.paused,
        terminated=spec.terminated,
        replication_paused=spec.sync.paused,
        instance_serving=service is not None
        and service.running_count > 0
        and health is not None
        and health is not HealthStatus.UNREACHABLE,
        build_running=j.build_running,
        has_other_deployable_build=any(b.deployable and (active is None or b.id != active.id) for b in j.builds.history),
        pending_changes=j.pending,
    )
