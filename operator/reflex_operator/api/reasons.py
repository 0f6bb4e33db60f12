"""Every reason of a condition or an event, named once (tests, docs and every package refer to these),
and the one reader of "is this condition True" over status, as a model or as its wire dict."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reflex_operator.api.models import HealthStatus

Note = tuple[str, str]
"""A condition reason and its message."""

# Conditions.
RUNNING = "Running"
PAUSED = "Paused"
TERMINATED = "Terminated"
DELETING = "Deleting"
RECONCILED = "Reconciled"
PROGRESSING = "Progressing"
HEALTHY = "Healthy"
UNREACHABLE = "Unreachable"
BUILDING = "Building"
BUILD_QUEUED = "BuildQueued"
DEPLOYING = "Deploying"
PAUSING = "Pausing"
RESUMING = "Resuming"
TERMINATING = "Terminating"

# Blockers (Stalled).
SECRET_NOT_FOUND = "SecretNotFound"
BUILD_FAILED = "BuildFailed"
BUILD_NOT_DEPLOYABLE = "BuildNotDeployable"
DEPLOYMENT_FAILED = "DeploymentFailed"
AWS_ERROR = "AWSError"
BUILD_UNKNOWN = "BuildUnknown"
PLAN_LIMIT_EXCEEDED = "PlanLimitExceeded"  # waits for room in its namespace's plan
PLAN_NOT_FOUND = "PlanNotFound"  # its namespace's plan does not exist
NO_CLUSTER_CAPACITY = "NoClusterCapacity"  # every ECS cluster is at its services-per-cluster quota
OWNED_ELSEWHERE = "OwnedElsewhere"  # an AWS resource under its name belongs to another owner: nothing is changed
ADOPTION_FAILED = "AdoptionFailed"  # spec.adoption names resources that do not exist, or exist more than once
NAME_DRAINING = "NameDraining"  # progress: the ECS service of an earlier object of the same name still drains

# Events.
ACTION_BLOCKED = "ActionBlocked"
BUILD_STARTED = "BuildStarted"
BUILD_SUCCEEDED = "BuildSucceeded"
BUILD_STOPPED = "BuildStopped"
DEPLOYED = "Deployed"
RESUMED = "Resumed"
RELOADED = "Reloaded"
REPLICATION_PAUSED = "ReplicationPaused"
REPLICATION_RESUMED = "ReplicationResumed"
HEALTH_DEGRADED = "HealthDegraded"
HEALTH_RECOVERED = "HealthRecovered"
FAILED = "Failed"
DELETED = "Deleted"
CAP_EXCEEDED_EVENT = "DataTransferCapExceeded"
CAP_LIFTED_EVENT = "DataTransferCapLifted"
PLAN_LIMIT_REACHED = "PlanLimitReached"  # the event (and notification) when a database starts to wait
CLUSTER_NOT_IN_SETTINGS = "ClusterNotInSettings"  # its ECS cluster left the settings (it keeps serving there)
TAKEN_BACK = "TakenBack"  # the AWS resources of its identity, made by an earlier object, are its own again
ADOPTED = "Adopted"  # spec.adoption took resources made elsewhere
RELEASED = "Released"  # deletionPolicy Release: the resources are left for another owner to adopt

# Fleet rollouts (ReflexRollout): a database's note while its move waits for its wave, and the
# rollout's halt reasons, conditions and events.
ROLLOUT_WAITING = "RolloutWaiting"
ROLLOUT_BUILD_FAILED = "RolloutBuildFailed"  # a build of the target failed: halted
ROLLOUT_UNHEALTHY = "RolloutUnhealthy"  # a database moved to the target is unhealthy: halted
ROLLOUT_WAVE_STARTED = "RolloutWaveStarted"
ROLLOUT_PAUSED = "RolloutPaused"
ROLLOUT_RESUMED = "RolloutResumed"
ROLLOUT_ABORTED = "RolloutAborted"
ROLLOUT_COMPLETE = "RolloutComplete"
ROLLOUT_SUPERSEDED = "RolloutSuperseded"
ROLLOUT_PROGRESSING = "RolloutProgressing"

# Degraded condition reasons by health status.
DEGRADED_REASON = {
    HealthStatus.DEGRADED: HEALTH_DEGRADED,
    HealthStatus.UNREACHABLE: UNREACHABLE,
    HealthStatus.CAP_EXCEEDED: "CapExceeded",
}


def _field(condition: Any, name: str) -> Any:
    return condition.get(name) if isinstance(condition, Mapping) else getattr(condition, name, None)


def true_condition(conditions: Iterable[Any] | None, kind: str) -> Any | None:
    """The condition of type ``kind`` if it is True, else None; ``conditions`` are models
    (``api.status.Condition``) or their wire dicts, as read from a body."""
    for condition in conditions or ():
        if _field(condition, "type") == kind and _field(condition, "status") == "True":
            return condition
    return None


def stalled(conditions: Iterable[Any] | None) -> Any | None:
    """The Stalled condition if it is True (the blocker a user has to see to), else None."""
    return true_condition(conditions, "Stalled")


def stalled_for(conditions: Iterable[Any] | None, *reasons: str) -> bool:
    """Whether Stalled is True for one of ``reasons``."""
    blocker = stalled(conditions)
    return blocker is not None and _field(blocker, "reason") in reasons
