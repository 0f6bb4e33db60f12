"""The decision core: pure functions from desired and observed state to status and next steps.

Nothing in this package does I/O (an import-linter contract in pyproject.toml enforces it);
everything it needs, the time included, is passed in.
"""

from reflex_operator.decide.actions import Facts, allowed_actions
from reflex_operator.decide.events import transition_events
from reflex_operator.decide.observed import (
    BuildOutcome,
    Config,
    Desired,
    HealthSample,
    Observation,
    ObservedBuild,
    ObservedService,
    RolloutState,
    SecretState,
    ServiceState,
)
from reflex_operator.decide.reconcile import Decision, classify_health, decide, desired_config, health_sample_matters

__all__ = [
    "BuildOutcome",
    "Config",
    "Decision",
    "Desired",
    "Facts",
    "HealthSample",
    "Observation",
    "ObservedBuild",
    "ObservedService",
    "RolloutState",
    "SecretState",
    "ServiceState",
    "allowed_actions",
    "classify_health",
    "decide",
    "desired_config",
    "health_sample_matters",
    "transition_events",
]
