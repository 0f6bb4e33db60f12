"""When a health sample is worth a reconcile pass (the poller asks this for every sample)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reflex_operator.api.models import AppliedTokens, HealthStatus, InstanceStatus, ReflexDatabaseSpec, ReflexDatabaseStatus, Replication
from reflex_operator.database.inputs import Config, Desired, HealthSample, ObservedService, ServiceState
from reflex_operator.database.decide import health_sample_matters
from reflex_operator.database.health import instance_status, snapshot_time
from tests.unit.world import T0

REFRESH = 60.0


def _spec(**extra):
    return ReflexDatabaseSpec.model_validate({"source": {"secretRef": {"name": "db"}}, **extra})


def _status(health="ok", last=T0, reload=None, replication=Replication.RUNNING):
    """A status as a pass writes it from a sample (replication as the server reported it)."""
    return ReflexDatabaseStatus(
        instance=InstanceStatus(health_status=health, last_health_check=last, replication=replication),
        applied_tokens=AppliedTokens(reload=reload),
    )


def _sample(status=HealthStatus.OK, age_ms=1000, replication=Replication.RUNNING, at=T0 + timedelta(seconds=10)):
    return HealthSample(status=status, checked_at=at, snapshot_age_ms=age_ms, replication=replication)


CASES = [
    # (what, spec, status, sample, now offset s, expected)
    ("same class, refresh not due", _spec(), _status(), _sample(), 10, False),
    ("same class, refresh due", _spec(), _status(), _sample(), 61, True),
    ("never checked", _spec(), _status(last=None), _sample(), 10, True),
    ("no instance in status yet", _spec(), ReflexDatabaseStatus(), _sample(), 10, True),
    ("server says degraded", _spec(), _status(), _sample(HealthStatus.DEGRADED), 10, True),
    ("unreachable", _spec(), _status(), _sample(HealthStatus.UNREACHABLE), 10, True),
    ("snapshot older than 3 intervals", _spec(), _status(), _sample(age_ms=181_000), 10, True),
    ("old snapshot, replication paused on purpose", _spec(sync={"paused": True}), _status(replication=Replication.PAUSED), _sample(age_ms=181_000, replication=Replication.PAUSED), 10, False),
    ("replication should be paused", _spec(sync={"paused": True}), _status(), _sample(), 10, True),
    ("replication should run", _spec(), _status(), _sample(replication=Replication.PAUSED), 10, True),
    ("reload waiting", _spec(reloadToken="a"), _status(), _sample(), 10, True),
    ("reload done", _spec(reloadToken="a"), _status(reload="a"), _sample(), 10, False),
    ("recovered from degraded", _spec(), _status(health="degraded"), _sample(), 10, True),
    # The server did what the spec asks, but status still shows the old replication: a user who
    # acted and then looks must see the new state without waiting for the bounded refresh.
    ("paused as asked, status still shows running", _spec(sync={"paused": True}), _status(), _sample(replication=Replication.PAUSED), 10, True),
    ("resumed as asked, status still shows paused", _spec(), _status(replication=Replication.PAUSED), _sample(), 10, True),
    ("replication not shown yet", _spec(), _status(replication=None), _sample(), 10, True),
    ("paused as asked and shown", _spec(sync={"paused": True}), _status(replication=Replication.PAUSED), _sample(replication=Replication.PAUSED), 10, False),
    # Only the ever-changing figures differ: they wait for the bounded refresh.
    ("only the figures changed", _spec(), _status(), HealthSample(status=HealthStatus.OK, checked_at=T0 + timedelta(seconds=10), snapshot_age_ms=5, swap_count=9, row_counts={"t": 3}, replication=Replication.RUNNING, uptime_seconds=99), 10, False),
    ("unreachable again, refresh not due", _spec(), _status(health="unreachable", replication=None), _sample(HealthStatus.UNREACHABLE, replication=None), 10, False),
]


@pytest.mark.parametrize("what,spec,status,sample,offset,expected", CASES, ids=[c[0] for c in CASES])
def test_health_sample_matters(what, spec, status, sample, offset, expected):
    assert health_sample_matters(spec, status, sample, T0 + timedelta(seconds=offset), REFRESH) is expected


# The poller and the pass agree: whatever a pass would write from the sample wakes a pass.

_SERVICE = ObservedService(
    name="svc", arn="arn:svc", state=ServiceState.ACTIVE, task_definition_arn="arn:td:1", deploy_hash="h", desired_count=1, running_count=1
)
_FIELDS = ("health_status", "snapshot_age_ms", "snapshot_time", "swap_count", "row_counts", "replication", "uptime_seconds", "last_health_check", "last_swap_time")

_samples = st.builds(
    HealthSample,
    status=st.sampled_from(list(HealthStatus)),
    checked_at=st.integers(0, 120).map(lambda s: T0 + timedelta(seconds=s)),
    snapshot_age_ms=st.one_of(st.none(), st.integers(0, 400_000)),
    swap_count=st.one_of(st.none(), st.integers(0, 3)),
    replication=st.one_of(st.none(), st.sampled_from(list(Replication))),
)
_shown = st.one_of(
    st.none(),
    st.builds(
        InstanceStatus,
        health_status=st.one_of(st.none(), st.sampled_from(list(HealthStatus))),
        replication=st.one_of(st.none(), st.sampled_from(list(Replication))),
        last_health_check=st.one_of(st.none(), st.just(T0)),
        snapshot_age_ms=st.one_of(st.none(), st.integers(0, 400_000)),
        swap_count=st.one_of(st.none(), st.integers(0, 3)),
    ),
)


@settings(max_examples=300, deadline=None)
@given(shown=_shown, sample=_samples, paused=st.booleans(), offset=st.integers(0, 120))
def test_a_sample_the_pass_would_write_wakes_a_pass(shown, sample, paused, offset):
    spec = _spec(sync={"paused": paused})
    status = ReflexDatabaseStatus(instance=shown)
    desired = Desired(name="orders", namespace="team-a", uid="u", generation=1, spec=spec, status=status)
    now = T0 + timedelta(seconds=offset)
    written = instance_status(desired, _SERVICE, sample, Config(status_refresh_seconds=REFRESH), now)
    before = shown or InstanceStatus()
    if any(getattr(written, f) != getattr(before, f) for f in _FIELDS):
        assert health_sample_matters(spec, status, sample, now, REFRESH)


# The slow refresh (the default) and the snapshot's time.

DEFAULT_REFRESH = Config().status_refresh_seconds

REFRESH_CASES = [
    # (what, status, sample, now offset s, expected)
    ("idle a minute later", _status(), _sample(at=T0 + timedelta(seconds=60)), 60, False),
    ("idle 29 minutes later", _status(), _sample(at=T0 + timedelta(minutes=29)), 29 * 60, False),
    ("idle 30 minutes later: the slow refresh", _status(), _sample(at=T0 + timedelta(minutes=30)), 30 * 60, True),
    ("the snapshot went stale: written at once", _status(), _sample(age_ms=181_000, at=T0 + timedelta(seconds=60)), 60, True),
    ("it stopped answering: written at once", _status(), _sample(HealthStatus.UNREACHABLE, at=T0 + timedelta(seconds=60)), 60, True),
]


@pytest.mark.parametrize("what,status,sample,offset,expected", REFRESH_CASES, ids=[c[0] for c in REFRESH_CASES])
def test_an_idle_database_is_written_only_on_change_or_the_slow_refresh(what, status, sample, offset, expected):
    """At most two writes an hour for a database whose health does not change (REFRESH 1800 s)."""
    assert DEFAULT_REFRESH >= 1200
    assert health_sample_matters(_spec(), status, sample, T0 + timedelta(seconds=offset), DEFAULT_REFRESH) is expected


SNAPSHOT_CASES = [
    # (what, sample, snapshot time)
    ("age from the check's time", HealthSample(status=HealthStatus.OK, checked_at=T0, snapshot_age_ms=1500), T0 - timedelta(milliseconds=1500)),
    ("to the millisecond", HealthSample(status=HealthStatus.OK, checked_at=T0 + timedelta(microseconds=1999), snapshot_age_ms=1), T0),
    ("no age: the last swap", HealthSample(status=HealthStatus.OK, checked_at=T0, last_swap_time=T0 - timedelta(minutes=5)), T0 - timedelta(minutes=5)),
    ("neither", HealthSample(status=HealthStatus.OK, checked_at=T0), None),
]


@pytest.mark.parametrize("what,sample,expected", SNAPSHOT_CASES, ids=[c[0] for c in SNAPSHOT_CASES])
def test_snapshot_time(what, sample, expected):
    assert snapshot_time(sample) == expected


def test_a_stale_snapshot_is_written_with_its_time_at_once():
    """A snapshot that stopped swapping degrades the health: the pass writes it now, with the
    snapshot's time, so kubectl get counts its age on the client from then on."""
    spec = _spec(sync={"intervalSeconds": 60})
    status = _status()
    desired = Desired(name="orders", namespace="team-a", uid="u", generation=1, spec=spec, status=status)
    now = T0 + timedelta(seconds=200)
    sample = _sample(age_ms=190_000, at=now)
    written = instance_status(desired, _SERVICE, sample, Config(), now)
    assert written.health_status is HealthStatus.DEGRADED
    assert written.snapshot_time == now - timedelta(seconds=190)
    assert written.last_health_check == now


def test_figures_alone_wait_for_the_slow_refresh():
    """Only the ever-changing figures moved: what status shows stays as it was (no write)."""
    shown = InstanceStatus(
        health_status=HealthStatus.OK, replication=Replication.RUNNING, last_health_check=T0, snapshot_age_ms=1000,
        snapshot_time=T0 - timedelta(seconds=1), swap_count=3,
    )
    desired = Desired(name="orders", namespace="team-a", uid="u", generation=1, spec=_spec(), status=ReflexDatabaseStatus(instance=shown))
    now = T0 + timedelta(minutes=10)
    written = instance_status(desired, _SERVICE, _sample(at=now), Config(), now)
    assert {f: getattr(written, f) for f in _FIELDS} == {f: getattr(shown, f) for f in _FIELDS}
