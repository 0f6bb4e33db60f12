"""The allowed-actions matrix: which of the 13 user actions may run now, at once or queued, and why.

Every action is a change to the spec (SPEC §2, "Actions are spec changes"); this table tells a user
(or a UI) what such a change would do right now. Remediations — resize, rebuild, redeploy, pause,
terminate, delete — stay allowed while the instance is degraded or failed; delete is always allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

from reflex_operator.api.models import Action, ActionAvailability, ActionMode, Phase

__all__ = ["Facts", "allowed_actions"]


@dataclass(frozen=True)
class Facts:
    """What the matrix depends on, beyond the phase."""

    paused: bool = False  # spec.paused
    terminated: bool = False  # spec.terminated
    replication_paused: bool = False  # spec.sync.paused
    instance_serving: bool = False  # a task is running and answers its health endpoint
    build_running: bool = False  # a build for the desired inputs is queued or in progress
    has_other_deployable_build: bool = False  # a deployable build other than the active one
    pending_changes: bool = False  # desired differs from what is deployed or being built


def _now() -> ActionAvailability:
    return ActionAvailability(allowed=True, mode=ActionMode.IMMEDIATE)


def _queued(reason: str) -> ActionAvailability:
    return ActionAvailability(allowed=True, mode=ActionMode.QUEUED, reason=reason)


def _no(reason: str) -> ActionAvailability:
    return ActionAvailability(allowed=False, reason=reason)


def _change(phase: Phase, facts: Facts, what: str) -> ActionAvailability:
    """A change to the deploy inputs (resize, reconfigure): runs now unless a build or a
    termination is in the way."""
    if phase is Phase.DELETING:
        return _no("the database is being deleted")
    if phase is Phase.BUILDING or facts.build_running:
        return _queued(f"{what} waits for the running build to finish, then deploys with it")
    if phase in (Phase.TERMINATED, Phase.TERMINATING) or facts.terminated:
        return _queued(f"{what} is applied when the instance is provisioned again")
    if phase is Phase.PENDING:
        return _queued(f"{what} is applied with the first deployment")
    return _now()


def _rebuild(phase: Phase, facts: Facts) -> ActionAvailability:
    if phase is Phase.DELETING:
        return _no("the database is being deleted")
    if phase in (Phase.TERMINATED, Phase.TERMINATING) or facts.terminated:
        return _queued("the build starts when the instance is provisioned again")
    return _now()


def _redeploy(phase: Phase, facts: Facts) -> ActionAvailability:
    if phase is Phase.DELETING:
        return _no("the database is being deleted")
    if not facts.has_other_deployable_build:
        return _no("no other deployable build in status.builds")
    if phase in (Phase.TERMINATED, Phase.TERMINATING) or facts.terminated:
        return _queued("the pinned build is deployed when the instance is provisioned again")
    return _now()


def _pause(phase: Phase, facts: Facts) -> ActionAvailability:
    if phase is Phase.DELETING:
        return _no("the database is being deleted")
    if facts.terminated or phase in (Phase.TERMINATED, Phase.TERMINATING):
        return _no("the instance is terminated")
    if facts.paused:
        return _no("the instance is already paused")
    if phase in (Phase.PENDING, Phase.BUILDING):
        return _queued("the instance is created with desired count 0 once its build is ready")
    return _now()


def _resume(phase: Phase, facts: Facts) -> ActionAvailability:
    if phase is Phase.DELETING:
        return _no("the database is being deleted")
    if facts.terminated or phase in (Phase.TERMINATED, Phase.TERMINATING):
        return _no("the instance is terminated; provision it instead")
    if not facts.paused:
        return _no("the instance is not paused")
    if phase in (Phase.PENDING, Phase.BUILDING):
        return _queued("the instance starts once its build is ready")
    return _now()


def _provision(phase: Phase, facts: Facts) -> ActionAvailability:
    if phase is Phase.DELETING:
        return _no("the database is being deleted")
    if not facts.terminated and phase not in (Phase.TERMINATED, Phase.TERMINATING):
        return _no("the instance is already provisioned")
    if phase is Phase.TERMINATING:
        return _queued("the instance is provisioned again once termination finishes")
    return _now()


def _terminate(phase: Phase, facts: Facts) -> ActionAvailability:
    if phase is Phase.DELETING:
        return _no("the database is being deleted")
    if facts.terminated or phase in (Phase.TERMINATED, Phase.TERMINATING):
        return _no("the instance is already terminated")
    return _now()


def _instance_action(phase: Phase, facts: Facts, what: str) -> ActionAvailability | None:
    """Shared blockers of actions carried out by the running server; None when it can run."""
    if phase is Phase.DELETING:
        return _no("the database is being deleted")
    if facts.terminated or phase in (Phase.TERMINATED, Phase.TERMINATING):
        return _no("the instance is terminated")
    if facts.paused or phase is Phase.PAUSED:
        return _no("the instance is paused; resume it first")
    if not facts.instance_serving:
        if phase in (Phase.PENDING, Phase.BUILDING, Phase.DEPLOYING):
            return _queued(f"{what} runs once the instance is serving")
        return _no("the instance is not answering its health endpoint")
    return None


def _reload(phase: Phase, facts: Facts) -> ActionAvailability:
    return _instance_action(phase, facts, "the reload") or _now()


def _pause_replication(phase: Phase, facts: Facts) -> ActionAvailability:
    if phase is Phase.DELETING:
        return _no("the database is being deleted")
    if facts.replication_paused:
        return _no("replication is already paused")
    return _instance_action(phase, facts, "pausing replication") or _now()


def _resume_replication(phase: Phase, facts: Facts) -> ActionAvailability:
    if phase is Phase.DELETING:
        return _no("the database is being deleted")
    if not facts.replication_paused:
        return _no("replication is not paused")
    return _instance_action(phase, facts, "resuming replication") or _now()


def _cancel_goal(phase: Phase, facts: Facts) -> ActionAvailability:
    if phase is Phase.DELETING:
        return _no("the database is being deleted")
    if not facts.pending_changes and not facts.build_running and phase not in (
        Phase.BUILDING,
        Phase.DEPLOYING,
    ):
        return _no("nothing to cancel: the deployed state matches the desired state")
    return _now()


def allowed_actions(phase: Phase, facts: Facts) -> dict[Action, ActionAvailability]:
    """The full matrix for one resource."""
    return {
        Action.PROVISION: _provision(phase, facts),
        Action.REBUILD: _rebuild(phase, facts),
        Action.RECONFIGURE: _change(phase, facts, "the new configuration"),
        Action.REDEPLOY: _redeploy(phase, facts),
        Action.RESIZE: _change(phase, facts, "the new size"),
        Action.PAUSE: _pause(phase, facts),
        Action.RESUME: _resume(phase, facts),
        Action.TERMINATE: _terminate(phase, facts),
        Action.DELETE: _now(),
        Action.RELOAD: _reload(phase, facts),
        Action.PAUSE_REPLICATION: _pause_replication(phase, facts),
        Action.RESUME_REPLICATION: _resume_replication(phase, facts),
        Action.CANCEL_GOAL: _cancel_goal(phase, facts),
    }
