"""Leader election's decisions as tables, on an injected clock: may a replica take a lease, what
record it writes, when a holder must stop acting, which timings are safe."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from reflex_operator.ha.lease import (
    LeaseRecord,
    LeaseView,
    Tenure,
    Timings,
    campaigning,
    claim,
    expired,
    leading,
    may_acquire,
    next_try_in,
    observe,
    release_again,
    released,
    step_down_in,
)

ME, OTHER = "me-1", "other-2"
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def view(holder: str | None, observed_at: float = 100.0, duration: int = 15, renew: datetime | None = T0) -> LeaseView:
    record = None if holder is None else LeaseRecord(holder, duration, T0, renew, 3)
    return LeaseView("l", record, "7", observed_at)


MAY_ACQUIRE = [
    ("no lease yet", view(None), 100.0, True),
    ("released (no holder)", view(""), 100.0, True),
    ("ours", view(ME), 100.0, True),
    ("another's, just seen", view(OTHER), 100.0, False),
    ("another's, seen 14.9 s ago", view(OTHER), 114.9, False),
    ("another's, seen 15 s ago: expired", view(OTHER), 115.0, True),
    ("another's, long expired", view(OTHER), 1000.0, True),
    # The holder's clock says it renewed long ago: never trusted, only the local observation counts.
    ("another's, renewTime an hour old but just seen changing", view(OTHER, renew=T0 - timedelta(hours=1)), 101.0, False),
    ("another's, renewTime in the future but unchanged for 15 s", view(OTHER, renew=T0 + timedelta(hours=1)), 115.0, True),
    ("a released lease's 1 s duration", view("", duration=1), 100.0, True),
]


@pytest.mark.parametrize("what,v,now,expected", MAY_ACQUIRE, ids=[c[0] for c in MAY_ACQUIRE])
def test_may_acquire(what, v, now, expected):
    assert may_acquire(v, ME, now) is expected


def test_observed_time_moves_only_when_the_record_changes():
    first = observe(None, "l", LeaseRecord(OTHER, 15, T0, T0, 0), "1", now=10.0)
    same = observe(first, "l", LeaseRecord(OTHER, 15, T0, T0, 0), "2", now=20.0)
    renewed = observe(same, "l", LeaseRecord(OTHER, 15, T0, T0 + timedelta(seconds=2), 0), "3", now=30.0)
    assert (first.observed_at, same.observed_at, renewed.observed_at) == (10.0, 10.0, 30.0)
    assert same.version == "2", "the resourceVersion is always the latest read"
    assert not expired(same, 24.9) and expired(same, 25.0)
    gone = observe(renewed, "l", None, None, now=40.0)
    assert gone.record is None and expired(gone, 40.0)


CLAIM = [
    ("create", None, LeaseRecord(ME, 15, T0, T0, 0)),
    ("renew keeps the acquire time and transitions", LeaseRecord(ME, 15, T0 - timedelta(minutes=5), T0 - timedelta(seconds=2), 4),
     LeaseRecord(ME, 15, T0 - timedelta(minutes=5), T0, 4)),
    ("take over an expired lease", LeaseRecord(OTHER, 15, T0 - timedelta(hours=1), T0 - timedelta(minutes=1), 4),
     LeaseRecord(ME, 15, T0, T0, 5)),
    ("take a released lease", LeaseRecord("", 1, T0, T0, 5), LeaseRecord(ME, 15, T0, T0, 6)),
]


@pytest.mark.parametrize("what,current,expected", CLAIM, ids=[c[0] for c in CLAIM])
def test_claim(what, current, expected):
    assert claim(LeaseView("l", current, "1", 0.0), ME, 15, T0) == expected


def test_released_lets_anyone_take_it_at_once():
    record = released(view(ME), T0)
    assert record == LeaseRecord("", 1, T0, T0, 3)
    assert may_acquire(LeaseView("l", record, "8", 50.0), OTHER, 50.0)


LEADING = [
    ("never held", None, 100.0, False),
    ("just renewed", Tenure(100.0), 100.0, True),
    ("renewed 9.9 s ago", Tenure(100.0), 109.9, True),
    ("renew deadline reached", Tenure(100.0), 110.0, False),
    ("long past", Tenure(100.0), 500.0, False),
]


@pytest.mark.parametrize("what,tenure,now,expected", LEADING, ids=[c[0] for c in LEADING])
def test_leading_stops_at_the_renew_deadline(what, tenure, now, expected):
    assert leading(tenure, now, renew_deadline=10.0) is expected


def test_a_leader_stops_before_anyone_may_take_over():
    """The renewal is sent at t; others see it no earlier than t, so they may take the lease at
    t + duration at the earliest; the holder stopped at t + deadline, which is before."""
    timings = Timings()
    sent = 100.0
    seen_by_other = observe(None, "l", LeaseRecord(ME, timings.lease_duration, T0, T0, 0), "1", now=sent)
    first_takeover = next(t / 10 for t in range(1000, 3000) if may_acquire(seen_by_other, OTHER, t / 10))
    last_act = max(t / 10 for t in range(1000, 3000) if leading(Tenure(sent), t / 10, timings.renew_deadline))
    assert last_act < first_takeover
    assert (first_takeover - sent, round(last_act - sent, 1)) == (15.0, 9.9)


TIMINGS = [
    ("client-go defaults", Timings(15, 10.0, 2.0), None),
    ("the tests' short ones", Timings(3, 2.0, 0.5), None),
    ("deadline as long as the lease", Timings(10, 10.0, 2.0), "longer than the renew deadline"),
    ("retry too close to the deadline", Timings(15, 2.0, 2.0), "1.2 x the retry period"),
]


@pytest.mark.parametrize("what,timings,problem", TIMINGS, ids=[c[0] for c in TIMINGS])
def test_timings(what, timings, problem):
    found = timings.problem()
    assert (found is None) if problem is None else (problem in (found or ""))


CAMPAIGNING = [
    ("starting (not ready to act)", False, False, False),
    ("ready", True, False, True),
    ("ready, stopping", True, True, False),
    ("not ready, stopping", False, True, False),
]


@pytest.mark.parametrize("what,ready,stopping,expected", CAMPAIGNING, ids=[c[0] for c in CAMPAIGNING])
def test_campaigning(what, ready, stopping, expected):
    assert campaigning(ready, stopping) is expected


RELEASE_AGAIN = [
    ("read again, still ours (a renewal's answer was lost)", view(ME), True),
    ("read again, another's", view(OTHER), False),
    ("read again, already free", view(""), False),
    ("read again, gone", view(None), False),
    ("could not read it", None, False),
]


@pytest.mark.parametrize("what,v,expected", RELEASE_AGAIN, ids=[c[0] for c in RELEASE_AGAIN])
def test_release_again(what, v, expected):
    assert release_again(v, ME) is expected


NEXT_TRY = [
    ("no jitter", 0.0, 2.0),
    ("half", 0.5, 2.2),
    ("full jitter: ×1.2", 1.0, 2.4),
    ("out of range is clamped", 7.0, 2.4),
]


@pytest.mark.parametrize("what,jitter,expected", NEXT_TRY, ids=[c[0] for c in NEXT_TRY])
def test_next_try_in(what, jitter, expected):
    assert next_try_in(Timings(), jitter) == pytest.approx(expected)


STEP_DOWN = [
    ("just renewed: the whole deadline", 100.0, 10.0),
    ("renewed 4 s ago", 104.0, 6.0),
    ("at the deadline", 110.0, 0.0),
    ("past it: at once", 130.0, 0.0),
]


@pytest.mark.parametrize("what,now,expected", STEP_DOWN, ids=[c[0] for c in STEP_DOWN])
def test_step_down_in(what, now, expected):
    assert step_down_in(Tenure(100.0), now, renew_deadline=10.0) == pytest.approx(expected)
