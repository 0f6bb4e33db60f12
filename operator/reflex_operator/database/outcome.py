"""What one concern of a pass contributes, as a value: steps, queued goals, a blocker, a note of progress.

Each concern (secret, build, service, server, deletion) returns an ``Outcome``; the pass joins them
in order with ``combine``. The first blocker and the first note of progress win, as a reader of the
pipeline expects: the earlier concern is the one the user has to see to first.
"""

from __future__ import annotations

from dataclasses import dataclass

from reflex_operator.api.models import Action
from reflex_operator.api import reasons
from reflex_operator.api.reasons import Note
from reflex_operator.database.steps import Event, Step

__all__ = ["Note", "Outcome", "blocked", "combine"]


@dataclass(frozen=True)
class Outcome:
    """Steps to carry out, goals that wait, the first blocker (Stalled) and the first progress (Reconciling)."""

    steps: tuple[Step, ...] = ()
    queued: tuple[str, ...] = ()
    stall: Note | None = None
    progress: Note | None = None

    def then(self, later: Outcome) -> Outcome:
        """This outcome followed by a later one."""
        return Outcome(
            steps=self.steps + later.steps,
            queued=self.queued + later.queued,
            stall=self.stall or later.stall,
            progress=self.progress or later.progress,
        )


def combine(*outcomes: Outcome) -> Outcome:
    """The outcomes in order, as one."""
    joined = Outcome()
    for outcome in outcomes:
        joined = joined.then(outcome)
    return joined


def blocked(action: Action, message: str, already_queued: list[str]) -> Outcome:
    """A change the user asked for that cannot run yet: a queued goal, and (the first time) a warning event."""
    goal = f"{action.value}: {message}"
    event = () if goal in already_queued else (Event(reasons.ACTION_BLOCKED, goal, warning=True),)
    return Outcome(steps=event, queued=(goal,))
