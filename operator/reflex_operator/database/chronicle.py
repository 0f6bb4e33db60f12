"""What a pass tells about itself: the Kubernetes Events to post, and the notifications and status
history written with the status. Both come from the same transitions (``events.transitions``, plus
the Events the pass's steps carried out), so what a user reads in ``kubectl describe`` and in
``status.notifications`` cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from reflex_operator.api.models import ReflexDatabaseStatus
from reflex_operator.database.events import Transition, transitions
from reflex_operator.database.history import record
from reflex_operator.database.notify import notify
from reflex_operator.database.inputs import Config
from reflex_operator.database.steps import Event

__all__ = ["Chronicle", "chronicle"]


@dataclass(frozen=True)
class Chronicle:
    """The status to write (with notifications and history) and the Events to post."""

    status: ReflexDatabaseStatus
    events: tuple[Event, ...]


def chronicle(
    before: ReflexDatabaseStatus,
    after: ReflexDatabaseStatus,
    done: Sequence[Event],
    *,
    uid: str,
    now: datetime,
    seen: datetime | None,
    config: Config,
) -> Chronicle:
    """``after`` (the status a pass decided, going from ``before``, the one stored) with the
    notifications and history of what changed; ``done`` are the Events of the steps carried out."""
    generation = f"generation {after.observed_generation}"
    found = [Transition(e, f"{generation} {e.message}") for e in done] + transitions(before, after)
    notified = notify(before, after, found, uid=uid, now=now, seen=seen, limit=config.notification_limit)
    status = after.model_copy(
        update={
            "notifications": notified.notifications,
            "unseen_count": notified.unseen_count,
            "skipped_count": notified.skipped_count,
            "history": record(before, after, now, config.history_limit),
        }
    )
    return Chronicle(status=status, events=tuple(t.event for t in found))
