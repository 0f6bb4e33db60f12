"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go's ``leaderelection`` does
it, reduced to its decisions (no I/O; both clocks are passed in).

- A replica never trusts another node's clock. It remembers *when it saw* a lease's record change
  (``LeaseView.observed_at``, its own monotonic clock) and holds the lease expired once
  ``leaseDurationSeconds`` have passed on that clock without a change. ``renewTime`` and
  ``acquireTime`` are written for people and tools, never read for a decision.
- A lease may be taken when it does not exist, has no holder (it was released) or has expired.
- The holder renews every retry period. It is *leading* only while its last successful write was
  sent less than the renew deadline ago (``Tenure``): the write may have landed at any moment after
  it was sent, so that is the earliest time another replica can have seen it, and the renew
  deadline is shorter than the lease duration. A leader that cannot renew thus stops acting before
  anyone else may take the lease. It then *steps down* and campaigns again like any standby (it
  never exits): a lease whose record still names it is its to take back at once (``may_acquire``),
  since a write guarded by the resourceVersion it read can only land if nobody took it meanwhile.
- A replica campaigns (takes a lease it does not hold) only while it is ready to act and not
  stopping (``campaigning``); a stopping replica keeps renewing what it holds until its passes
  have ended, then releases it.
- Releasing writes an empty holder with a 1 s duration, so others take the lease at their next try
  (client-go's ``ReleaseOnCancel``). A release refused as stale (a renewal whose answer was lost
  landed meanwhile) is read again and sent again while the record still names this replica
  (``release_again``): a Lease left behind by a stopped replica makes every other wait for it to
  expire.
- Writes carry the ``resourceVersion`` read (optimistic concurrency): of two replicas that try to
  take a lease at once, one wins, the other gets a conflict and sees the winner next round.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

__all__ = [
    "LeaseRecord",
    "LeaseView",
    "Tenure",
    "Timings",
    "observe",
    "expired",
    "may_acquire",
    "claim",
    "released",
    "leading",
    "campaigning",
    "release_again",
    "next_try_in",
    "step_down_in",
]


@dataclass(frozen=True)
class Timings:
    """client-go's defaults: 15 s, 10 s, 2 s."""

    lease_duration: int = 15
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def problem(self) -> str | None:
        """Why these timings are unsafe, or None (client-go's own checks)."""
        if self.lease_duration <= self.renew_deadline:
            return "the lease duration must be longer than the renew deadline"
        if self.renew_deadline <= 1.2 * self.retry_period:
            return "the renew deadline must be longer than 1.2 x the retry period"
        if self.retry_period <= 0:
            return "the retry period must be positive"
        return None


@dataclass(frozen=True)
class LeaseRecord:
    """The spec of a Lease."""

    holder: str = ""
    duration_seconds: int = 0
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0


@dataclass(frozen=True)
class LeaseView:
    """One Lease as this replica knows it: the record (None: it does not exist), its
    resourceVersion, and when (on the local monotonic clock) the record was last seen to change."""

    name: str
    record: LeaseRecord | None
    version: str | None
    observed_at: float


@dataclass(frozen=True)
class Tenure:
    """A lease this replica holds: when its last successful acquire or renew was *sent*."""

    renewed_at: float


def observe(previous: LeaseView | None, name: str, record: LeaseRecord | None, version: str | None, now: float) -> LeaseView:
    """The view after reading the lease at ``now``: the observed time moves only when the record
    changed (a holder that renews changes ``renewTime``, so a live holder keeps moving it)."""
    if previous is not None and previous.record == record:
        return replace(previous, version=version)
    return LeaseView(name=name, record=record, version=version, observed_at=now)


def expired(view: LeaseView, now: float) -> bool:
    """No change seen for ``leaseDurationSeconds`` on the local clock (or no lease at all)."""
    if view.record is None:
        return True
    return view.observed_at + view.record.duration_seconds <= now


def may_acquire(view: LeaseView, me: str, now: float) -> bool:
    """The lease does not exist, has no holder, is ours, or has expired."""
    record = view.record
    return record is None or record.holder in ("", me) or expired(view, now)


def claim(view: LeaseView, me: str, duration: int, wall_now: datetime) -> LeaseRecord:
    """The record that acquires or renews the lease for ``me``: a renewal keeps the acquire time
    and the transition count; a takeover counts one more transition."""
    record = view.record
    if record is not None and record.holder == me:
        return LeaseRecord(me, duration, record.acquire_time or wall_now, wall_now, record.transitions)
    transitions = 0 if record is None else record.transitions + 1
    return LeaseRecord(me, duration, wall_now, wall_now, transitions)


def released(view: LeaseView, wall_now: datetime) -> LeaseRecord:
    """The record that gives the lease up: no holder, so anyone may take it at once."""
    transitions = view.record.transitions if view.record is not None else 0
    return LeaseRecord("", 1, wall_now, wall_now, transitions)


def leading(tenure: Tenure | None, now: float, renew_deadline: float) -> bool:
    """Still allowed to act: the last successful renewal was sent less than the renew deadline
    ago."""
    return tenure is not None and now < tenure.renewed_at + renew_deadline


def campaigning(ready: bool, stopping: bool) -> bool:
    """May this replica take leases it does not hold? Only once it is ready to act (its start
    completed) and while it is not stopping."""
    return ready and not stopping


def release_again(view: LeaseView | None, me: str) -> bool:
    """After a release was refused as stale and the lease read again: send it again only while the
    record still names this replica (else someone else holds it, or it is already free)."""
    return view is not None and view.record is not None and view.record.holder == me


def next_try_in(timings: Timings, jitter: float) -> float:
    """The wait before the next round: the retry period stretched by client-go's jitter factor
    (``jitter`` in [0, 1] → ×1.0–1.2)."""
    return timings.retry_period * (1.0 + 0.2 * min(max(jitter, 0.0), 1.0))


def step_down_in(tenure: Tenure, now: float, renew_deadline: float) -> float:
    """Seconds until a holder must stop acting (0: at once), from its last successful renewal."""
    return max(tenure.renewed_at + renew_deadline - now, 0.0)
