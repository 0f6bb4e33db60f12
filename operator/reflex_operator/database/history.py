"""The status history: phase and health transitions with their time and reason, newest first and
bounded; pure.

How long a state lasted is the time from its entry to the next newer entry of the same kind (or to
now, while it lasts): ``spells`` answers "when did this database last go unreachable, and for how
long".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from reflex_operator.api.models import HistoryEntry, HistoryKind, ReflexDatabaseStatus

__all__ = ["Spell", "record", "spells"]


@dataclass(frozen=True)
class Spell:
    """A stretch of time in one state; ``ended`` is None while it lasts."""

    value: str | None
    started: datetime
    ended: datetime | None

    def duration(self, now: datetime) -> timedelta:
        return (self.ended or now) - self.started


def _condition_reason(status: ReflexDatabaseStatus, kind: str) -> str | None:
    return next((c.reason for c in status.conditions if c.type == kind and c.status == "True"), None)


def _why_phase(after: ReflexDatabaseStatus) -> str | None:
    """What explains the new phase: the blocker, else the work under way, else readiness."""
    for kind in ("Stalled", "Reconciling", "Ready"):
        if (reason := _condition_reason(after, kind)) is not None:
            return reason
    return next((c.reason for c in after.conditions if c.type == "Ready"), None)


def _health(status: ReflexDatabaseStatus) -> str | None:
    h = status.instance.health_status if status.instance else None
    return h.value if h is not None else None


def record(before: ReflexDatabaseStatus, after: ReflexDatabaseStatus, now: datetime, limit: int) -> list[HistoryEntry]:
    """``before``'s history with this pass's transitions added, newest first, at most ``limit``."""
    found: list[HistoryEntry] = []
    old_phase = before.phase.value if before.phase else None
    new_phase = after.phase.value if after.phase else None
    if old_phase != new_phase:
        found.append(HistoryEntry(kind=HistoryKind.PHASE, from_=old_phase, to=new_phase, at=now, reason=_why_phase(after)))
    old_health, new_health = _health(before), _health(after)
    if old_health != new_health:
        reason = next((c.reason for c in after.conditions if c.type == "Degraded"), None)
        found.append(HistoryEntry(kind=HistoryKind.HEALTH, from_=old_health, to=new_health, at=now, reason=reason))
    return (found[::-1] + list(before.history))[: max(0, limit)]


def spells(history: Sequence[HistoryEntry], kind: HistoryKind, value: str | None) -> list[Spell]:
    """The stretches spent in ``value`` (of ``kind``), newest first."""
    entries = [e for e in history if e.kind is kind]  # newest first
    found: list[Spell] = []
    for i, entry in enumerate(entries):
        if entry.to == value:
            found.append(Spell(value, entry.at, entries[i - 1].at if i > 0 else None))
    return found
