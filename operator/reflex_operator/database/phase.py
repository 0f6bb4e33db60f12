"""The phase, for display: one value read from what the other concerns found.

``PhaseFacts`` holds exactly what the phase depends on, so the rule reads (and is tested) as a table.
"""

from __future__ import annotations

from dataclasses import dataclass

from reflex_operator.api.models import Phase
from reflex_operator.api import reasons

__all__ = ["PhaseFacts", "phase_of"]

_FAILED = (reasons.BUILD_FAILED, reasons.BUILD_NOT_DEPLOYABLE)


@dataclass(frozen=True)
class PhaseFacts:
    """What the phase depends on."""

    terminated: bool = False  # spec.terminated
    paused: bool = False  # spec.paused
    service: bool = False  # a live ECS service exists
    draining: bool = False  # a deleted ECS service still stops its tasks
    scaled_to_zero: bool = False  # the service's desired count is 0
    stall: str | None = None  # the reason of the first blocker, if any
    rollout_failed: bool = False  # the service's deployment failed
    image: bool = False  # there is an image to deploy
    building: bool = False  # a build of the desired inputs exists or starts now
    deploying: bool = False  # the first progress is a deployment, pause or resume


def phase_of(f: PhaseFacts) -> Phase:
    """The phase: terminated, failed, pending, building, paused, deploying or running, in that order."""
    if f.terminated:
        return Phase.TERMINATING if f.service or f.draining else Phase.TERMINATED
    if f.stall in _FAILED or f.rollout_failed:
        return Phase.FAILED
    if f.stall is not None and not f.service:
        return Phase.PENDING
    if not f.image:
        return Phase.BUILDING if f.building else Phase.PENDING
    if f.paused and f.service and f.scaled_to_zero and not f.deploying:
        return Phase.PAUSED
    if f.deploying or not f.service:
        return Phase.DEPLOYING
    return Phase.RUNNING
