"""Notifications: ids, dedup across repeated passes, the bound, sticky ones, unseen and skipped counts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from reflex_operator.api.models import (
    BuildRecord,
    BuildState,
    Condition,
    Notification,
    NotificationType,
    Phase,
    ReflexDatabaseStatus,
    Severity,
)
from reflex_operator.api import reasons
from reflex_operator.database.chronicle import chronicle
from reflex_operator.database.events import Transition
from reflex_operator.database.notify import NOTIFIED, notification_id, notify, parse_seen, resolved
from reflex_operator.database.inputs import Config
from reflex_operator.database.steps import Event

T = datetime(2026, 1, 1, tzinfo=timezone.utc)
UID = "0b9c6a1e-uid"


def note(i: int, kind: NotificationType = NotificationType.DEPLOYED, sticky: bool = False, at: datetime | None = None) -> Notification:
    return Notification(
        id=f"n{i}", event_type=kind, message=f"m{i}", severity=NOTIFIED[kind], sticky=sticky, created_at=at or T + timedelta(minutes=i)
    )


def trans(reason: str, key: str = "k", warning: bool = False) -> Transition:
    return Transition(Event(reason, f"{reason} happened", warning=warning), key)


def stalled(reason: str) -> list[Condition]:
    return [Condition(type="Stalled", status="True", reason=reason, last_transition_time=T)]


def test_the_id_is_a_uuid_of_uid_type_and_key() -> None:
    a = notification_id(UID, "Deployed", "generation 2")
    assert a == notification_id(UID, "Deployed", "generation 2")  # restart, repeat: the same
    assert len({a, notification_id(UID, "Deployed", "generation 3"), notification_id("other", "Deployed", "generation 2"),
                notification_id(UID, "Paused", "generation 2")}) == 4
    assert len(a) == 36 and a.count("-") == 4


@pytest.mark.parametrize(
    ("reason", "severity", "sticky"),
    [
        (reasons.BUILD_SUCCEEDED, Severity.SUCCESS, False),
        (reasons.BUILD_FAILED, Severity.ERROR, True),
        (reasons.DEPLOYED, Severity.SUCCESS, False),
        (reasons.PAUSED, Severity.INFO, False),
        (reasons.RESUMED, Severity.SUCCESS, False),
        (reasons.RELOADED, Severity.SUCCESS, False),
        (reasons.HEALTH_DEGRADED, Severity.ERROR, False),
        (reasons.HEALTH_RECOVERED, Severity.SUCCESS, False),
        (reasons.ACTION_BLOCKED, Severity.ERROR, False),
        (reasons.FAILED, Severity.ERROR, True),
        ("PlanLimitReached", Severity.ERROR, False),
    ],
)
def test_each_notified_reason_has_its_severity(reason: str, severity: Severity, sticky: bool) -> None:
    out = notify(ReflexDatabaseStatus(), ReflexDatabaseStatus(phase=Phase.FAILED, conditions=stalled(reasons.BUILD_FAILED)),
                 [trans(reason)], uid=UID, now=T, seen=None, limit=20)
    [n] = out.notifications
    assert (n.event_type.value, n.severity, n.sticky, n.created_at) == (reason, severity, sticky, T)


@pytest.mark.parametrize("reason", [reasons.BUILD_STARTED, "AWSError", reasons.DELETED])
def test_reasons_not_notified(reason: str) -> None:
    assert notify(ReflexDatabaseStatus(), ReflexDatabaseStatus(), [trans(reason)], uid=UID, now=T, seen=None, limit=20).notifications == []


def test_a_repeated_pass_adds_nothing() -> None:
    first = notify(ReflexDatabaseStatus(), ReflexDatabaseStatus(), [trans(reasons.DEPLOYED)], uid=UID, now=T, seen=None, limit=20)
    stored = ReflexDatabaseStatus(notifications=first.notifications)
    again = notify(stored, stored, [trans(reasons.DEPLOYED)], uid=UID, now=T + timedelta(seconds=5), seen=None, limit=20)
    assert again.notifications == first.notifications
    # two transitions of one pass with the same key are one notification
    both = notify(ReflexDatabaseStatus(), ReflexDatabaseStatus(), [trans(reasons.DEPLOYED)] * 2, uid=UID, now=T, seen=None, limit=20)
    assert len(both.notifications) == 1


def test_newest_first() -> None:
    before = ReflexDatabaseStatus(notifications=[note(1)])
    out = notify(before, before, [trans(reasons.PAUSED, "a"), trans(reasons.RESUMED, "b")], uid=UID, now=T + timedelta(hours=1), seen=None, limit=20)
    assert [n.event_type for n in out.notifications] == [NotificationType.RESUMED, NotificationType.PAUSED, NotificationType.DEPLOYED]


@pytest.mark.parametrize(
    ("existing", "limit", "seen_minute", "kept", "skipped"),
    [
        # (notification minutes, newest first), bound, seen mark (minute, None: never), kept ids, skippedCount
        ([3, 2, 1], 5, None, ["new", "n3", "n2", "n1"], 0),
        ([3, 2, 1], 2, None, ["new", "n3"], 2),  # two unseen fell off
        ([3, 2, 1], 2, 1, ["new", "n3"], 1),  # n1 was seen: only n2 counts
        ([3, 2, 1], 2, 3, ["new", "n3"], 0),
    ],
)
def test_the_bound_and_skipped(existing: list[int], limit: int, seen_minute: int | None, kept: list[str], skipped: int) -> None:
    before = ReflexDatabaseStatus(notifications=[note(i) for i in existing])
    seen = T + timedelta(minutes=seen_minute) if seen_minute is not None else None
    out = notify(before, before, [trans(reasons.PAUSED)], uid=UID, now=T + timedelta(hours=1), seen=seen, limit=limit)
    new_id = notification_id(UID, reasons.PAUSED, "k")
    assert [("new" if n.id == new_id else n.id) for n in out.notifications] == kept
    assert out.skipped_count == skipped


def test_skipped_resets_once_marked_seen_past_the_oldest_kept() -> None:
    before = ReflexDatabaseStatus(notifications=[note(3), note(2)], skipped_count=4)
    assert notify(before, before, [], uid=UID, now=T, seen=T, limit=2).skipped_count == 4
    assert notify(before, before, [], uid=UID, now=T, seen=T + timedelta(minutes=2), limit=2).skipped_count == 0


@pytest.mark.parametrize(
    ("seen_minute", "unseen"),
    [(None, 3), (0, 3), (1, 2), (2, 1), (3, 0), (60, 0)],
)
def test_unseen_counts_what_is_newer_than_the_mark(seen_minute: int | None, unseen: int) -> None:
    before = ReflexDatabaseStatus(notifications=[note(3), note(2), note(1)])
    seen = T + timedelta(minutes=seen_minute) if seen_minute is not None else None
    assert notify(before, before, [], uid=UID, now=T, seen=seen, limit=20).unseen_count == unseen


def test_sticky_ones_stay_past_the_bound_until_resolved() -> None:
    failed = note(0, NotificationType.BUILD_FAILED, sticky=True)
    before = ReflexDatabaseStatus(notifications=[note(3), note(2), note(1), failed])
    still = ReflexDatabaseStatus(phase=Phase.FAILED, conditions=stalled(reasons.BUILD_FAILED))
    out = notify(before, still, [], uid=UID, now=T, seen=None, limit=2)
    assert [n.id for n in out.notifications] == ["n3", "n0"]  # room for one besides the sticky one
    fixed = ReflexDatabaseStatus(phase=Phase.RUNNING)
    out = notify(before, fixed, [], uid=UID, now=T, seen=None, limit=2)
    assert [n.id for n in out.notifications] == ["n3", "n2"] and not any(n.sticky for n in out.notifications)


@pytest.mark.parametrize(
    ("kind", "after", "is_resolved"),
    [
        (NotificationType.BUILD_FAILED, ReflexDatabaseStatus(phase=Phase.FAILED, conditions=stalled(reasons.BUILD_FAILED)), False),
        (NotificationType.BUILD_FAILED, ReflexDatabaseStatus(phase=Phase.BUILDING), True),
        (NotificationType.BUILD_FAILED, ReflexDatabaseStatus(phase=Phase.FAILED, conditions=stalled(reasons.SECRET_NOT_FOUND)), True),
        (NotificationType.FAILED, ReflexDatabaseStatus(phase=Phase.FAILED, conditions=stalled(reasons.DEPLOYMENT_FAILED)), False),
        (NotificationType.FAILED, ReflexDatabaseStatus(phase=Phase.DEPLOYING), True),
        (NotificationType.DEPLOYED, ReflexDatabaseStatus(), True),
    ],
)
def test_resolved(kind: NotificationType, after: ReflexDatabaseStatus, is_resolved: bool) -> None:
    assert resolved(note(0, kind, sticky=True), after) is is_resolved


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("yesterday", None),
        ("2026-01-01T00:00:00Z", T),
        ("2026-01-01T01:00:00+01:00", T),
        ("2026-01-01T00:00:00", T),  # no zone: UTC
    ],
)
def test_parse_seen(value: str | None, expected: datetime | None) -> None:
    assert parse_seen(value) == expected


def test_chronicle_makes_events_and_notifications_from_the_same_transitions() -> None:
    before = ReflexDatabaseStatus(phase=Phase.DEPLOYING, observed_generation=2)
    after = ReflexDatabaseStatus(
        phase=Phase.RUNNING, observed_generation=2, active_build_id="b1",
        builds=[BuildRecord(id="b1", codebuild_id="p:b1", status=BuildState.SUCCEEDED, image_uri="img")],
    )
    blocked = Event(reasons.ACTION_BLOCKED, "reload: waits for a serving instance", warning=True)
    told = chronicle(before, after, [blocked], uid=UID, now=T, seen=None, config=Config())
    assert [e.reason for e in told.events] == [reasons.ACTION_BLOCKED, reasons.BUILD_STARTED, reasons.BUILD_SUCCEEDED, reasons.DEPLOYED]
    notified = [n.event_type.value for n in told.status.notifications][::-1]
    assert notified == [e.reason for e in told.events if e.reason in NOTIFIED]
    assert [n.message for n in told.status.notifications][::-1] == [e.message for e in told.events if e.reason in NOTIFIED]
    assert told.status.unseen_count == 3
    assert [(h.kind.value, h.from_, h.to) for h in told.status.history] == [("phase", "Deploying", "Running")]
    # The same pass again (the write did not land, or the operator restarted): same ids, nothing twice.
    again = chronicle(told.status, after, [], uid=UID, now=T + timedelta(seconds=3), seen=None, config=Config())
    assert again.status.notifications == told.status.notifications and again.events == ()
    assert again.status.history == told.status.history
