"""What the decision makes of a call the pass did not send for want of a rate-budget token
(``Observation.deferred``): pure ``decide`` over observations of the in-memory world."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reflex_operator.api.models import ConditionType, Phase
from reflex_operator.api import reasons
from reflex_operator.database import steps as s
from reflex_operator.database.decide import decide
from reflex_operator.database.inputs import BudgetWait, Config
from tests.unit.world import T0, World, observation, one_pass, resource

START = BudgetWait("StartBuild", "codebuild.build-modify", 12.0)
REGISTER = BudgetWait("RegisterTaskDefinition", "ecs.task-definition-modify", 30.0)


def _new():
    return World(), resource()


def _intent_recorded():
    w, d = World(scan_sees=False), resource()  # the fleet's look does not find the build (database.intent's case)
    d, _ = one_pass(w, d, crash=True)  # the intent is written, the build started, then the operator dies
    assert d.status.build_intent is not None
    return w, d


def _built():
    w, d = World(), resource()
    d, _ = one_pass(w, d)
    w.tick(), w.tick()  # the build succeeds
    return w, d


def _reconciling(status):
    return next(c for c in status.conditions if c.type == ConditionType.RECONCILING.value)


@pytest.mark.parametrize(
    "stage,wait,phase,kinds,intent,note",
    [
        # A new database whose StartBuild has no token yet: no intent written, nothing started.
        (_new, START, Phase.BUILDING, set(), "none", True),
        (_new, None, Phase.BUILDING, {s.StartBuild}, "new", False),
        # An intent in status (before a crash): kept as it is, its start waits for the token.
        (_intent_recorded, START, Phase.BUILDING, set(), "kept", True),
        (_intent_recorded, None, Phase.BUILDING, {s.StartBuild}, "kept", False),
        # An image built, the service's registration waits: Deploying, the step still to come.
        (_built, REGISTER, Phase.DEPLOYING, {s.Deploy}, "none", True),
        (_built, None, Phase.DEPLOYING, {s.Deploy}, "none", False),
        # A wait for another family does not stop a build from being started.
        (_new, REGISTER, Phase.BUILDING, {s.StartBuild}, "new", True),
    ],
)
def test_a_deferred_call_is_shown_and_changes_nothing_else(stage, wait, phase, kinds, intent, note):
    w, d = stage()
    decision = decide(d, replace(observation(w, d), deferred=wait), Config(), T0)
    assert decision.phase is phase
    assert {type(x) for x in decision.steps if isinstance(x, (s.StartBuild, s.Deploy))} == kinds
    expected = {"none": None, "kept": d.status.build_intent}.get(intent, decision.status.build_intent)
    assert decision.status.build_intent == expected and (intent != "new" or expected is not None)
    reconciling = _reconciling(decision.status)
    assert reconciling.reason in (reasons.BUILDING, reasons.DEPLOYING)
    assert (wait is not None and wait.note in reconciling.message) is note
    assert "Stalled" not in {c.type for c in decision.status.conditions if c.status == "True"}
