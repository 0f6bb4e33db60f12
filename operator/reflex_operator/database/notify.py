"""Notifications in status (the seed's ``notifications``, ``unseenCount``, ``skippedCount``), made
from the transitions of a pass; pure.

- The id is a UUID derived from the resource's uid, the event type and the transition's key (never
  from the clock): a repeated pass finds the same id and adds nothing, a restarted operator keeps
  the ids it wrote.
- The list is newest first and bounded; sticky notifications (a failed build, a failed phase such as
  a stalled deployment) stay, whatever the bound, until their cause is resolved, then age out as any.
- ``unseenCount`` counts those newer than the user's mark (the ``reflexdb.cloud/notifications-seen``
  annotation); ``skippedCount`` the unseen ones that fell off the bound. Those are older than every
  non-sticky one kept, so a mark at or after the oldest kept one has seen them all: it resets to 0.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from reflex_operator.api.models import (
    Notification,
    NotificationType,
    Phase,
    ReflexDatabaseStatus,
    Severity,
)
from reflex_operator.api import reasons
from reflex_operator.database.events import Transition

__all__ = ["NOTIFIED", "STICKY", "Notified", "notification_id", "notify", "parse_seen", "resolved"]

_NS = uuid.UUID("6f0f3a0e-3c53-5b8e-9a55-0c7e0b1de1a1")

# Which event reasons are notified, and how severe they are. (BuildStarted is left to the Events:
# a build's outcome is what a user wants to hear of.)
NOTIFIED: dict[str, Severity] = {
    NotificationType.BUILD_SUCCEEDED: Severity.SUCCESS,
    NotificationType.BUILD_FAILED: Severity.ERROR,
    NotificationType.BUILD_STOPPED: Severity.INFO,
    NotificationType.DEPLOYED: Severity.SUCCESS,
    NotificationType.PAUSED: Severity.INFO,
    NotificationType.RESUMED: Severity.SUCCESS,
    NotificationType.TERMINATED: Severity.INFO,
    NotificationType.FAILED: Severity.ERROR,
    NotificationType.RELOADED: Severity.SUCCESS,
    NotificationType.REPLICATION_PAUSED: Severity.INFO,
    NotificationType.REPLICATION_RESUMED: Severity.SUCCESS,
    NotificationType.HEALTH_DEGRADED: Severity.ERROR,
    NotificationType.HEALTH_RECOVERED: Severity.SUCCESS,
    NotificationType.ACTION_BLOCKED: Severity.ERROR,
    NotificationType.PLAN_LIMIT_REACHED: Severity.ERROR,
    NotificationType.DATA_TRANSFER_CAP_EXCEEDED: Severity.ERROR,
    NotificationType.DATA_TRANSFER_CAP_LIFTED: Severity.SUCCESS,
}
STICKY = frozenset({NotificationType.BUILD_FAILED, NotificationType.FAILED})


@dataclass(frozen=True)
class Notified:
    """What a pass writes of the notifications."""

    notifications: list[Notification]
    unseen_count: int
    skipped_count: int


def notification_id(uid: str, event_type: str, key: str) -> str:
    """The same transition of the same resource always has the same id."""
    return str(uuid.uuid5(_NS, f"{uid}\x00{event_type}\x00{key}"))


def parse_seen(value: str | None) -> datetime | None:
    """The seen mark from the annotation's value (RFC 3339); None when absent or not a timestamp."""
    if not value:
        return None
    try:
        mark = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return mark if mark.tzinfo else mark.replace(tzinfo=timezone.utc)


def resolved(n: Notification, after: ReflexDatabaseStatus) -> bool:
    """Whether the cause of a sticky notification is gone."""
    if n.event_type is NotificationType.BUILD_FAILED:
        return not reasons.stalled_for(after.conditions, reasons.BUILD_FAILED)
    if n.event_type is NotificationType.FAILED:
        return after.phase is not Phase.FAILED
    return True


def _new(uid: str, found: Sequence[Transition], known: set[str], now: datetime) -> list[Notification]:
    """Notifications of this pass's transitions, newest first, none already known."""
    made: list[Notification] = []
    for t in found:
        if t.event.reason not in NOTIFIED:
            continue
        nid = notification_id(uid, t.event.reason, t.key)
        if nid in known:
            continue
        known.add(nid)
        kind = NotificationType(t.event.reason)
        made.append(
            Notification(
                id=nid, event_type=kind, message=t.event.message, detail=t.detail,
                severity=NOTIFIED[kind], sticky=kind in STICKY, created_at=now,
            )
        )
    return made[::-1]


def notify(
    before: ReflexDatabaseStatus,
    after: ReflexDatabaseStatus,
    found: Sequence[Transition],
    *,
    uid: str,
    now: datetime,
    seen: datetime | None,
    limit: int,
) -> Notified:
    """The notifications to write after a pass that found ``found`` going from ``before`` to ``after``."""
    existing = list(before.notifications)
    merged = _new(uid, found, {n.id for n in existing}, now) + existing
    merged = [n.model_copy(update={"sticky": False}) if n.sticky and resolved(n, after) else n for n in merged]
    room = max(0, limit - sum(n.sticky for n in merged))
    kept: list[Notification] = []
    dropped: list[Notification] = []
    for n in merged:
        if n.sticky or room > 0:
            kept.append(n)
            room -= 0 if n.sticky else 1
        else:
            dropped.append(n)
    unseen = [n for n in kept if seen is None or n.created_at > seen]
    oldest_kept = min((n.created_at for n in kept if not n.sticky), default=None)
    all_seen = seen is not None and oldest_kept is not None and seen >= oldest_kept
    skipped = (0 if all_seen else before.skipped_count) + sum(seen is None or n.created_at > seen for n in dropped)
    return Notified(kept, len(unseen), skipped)
