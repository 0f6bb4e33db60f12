"""Joining the concerns' outcomes: steps and goals in order, the first blocker and progress win."""

from __future__ import annotations

from reflex_operator.api.models import Action
from reflex_operator.api import reasons
from reflex_operator.database.outcome import Outcome, blocked, combine
from reflex_operator.database.steps import Event, ReleaseFinalizer


def test_combine_keeps_order_and_the_first_blocker_and_progress():
    a = Outcome(steps=(ReleaseFinalizer(),), queued=("a",), progress=("Building", "first"))
    b = Outcome(steps=(Event("X", "x"),), queued=("b",), stall=("BuildFailed", "first"), progress=("Deploying", "second"))
    c = Outcome(stall=("AWSError", "second"))
    joined = combine(a, b, c)
    assert joined.steps == (ReleaseFinalizer(), Event("X", "x"))
    assert joined.queued == ("a", "b")
    assert joined.stall == ("BuildFailed", "first") and joined.progress == ("Building", "first")
    assert combine() == Outcome()


def test_blocked_warns_once():
    first = blocked(Action.RELOAD, "waits for a serving instance", [])
    assert first.queued == ("reload: waits for a serving instance",)
    assert first.steps == (Event(reasons.ACTION_BLOCKED, "reload: waits for a serving instance", warning=True),)
    again = blocked(Action.RELOAD, "waits for a serving instance", list(first.queued))
    assert again.queued == first.queued and again.steps == ()
