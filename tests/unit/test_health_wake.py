"""When a health sample is worth a reconcile pass (the poller asks this for every sample)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reflex_operator.api.models import AppliedTokens, HealthStatus, InstanceStatus, ReflexDatabaseSpec, ReflexDatabaseStatus, Replication
from reflex_operator.decide import HealthSample, health_sample_matters
from tests.unit.world import T0

REFRESH = 60.0


def _spec(**extra):
    return ReflexDatabaseSpec.model_validate({"source": {"secretRef": {"name": "db"}}, **extra})


def _status(health="ok", last=T0, reload=None):
    return ReflexDatabaseStatus(
        instance=InstanceStatus(health_status=health, last_health_check=last),
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
    ("old snapshot, replication paused on purpose", _spec(sync={"paused": True}), _status(), _sample(age_ms=181_000, replication=Replication.PAUSED), 10, False),
    ("replication should be paused", _spec(sync={"paused": True}), _status(), _sample(), 10, True),
    ("replication should run", _spec(), _status(), _sample(replication=Replication.PAUSED), 10, True),
    ("reload waiting", _spec(reloadToken="a"), _status(), _sample(), 10, True),
    ("reload done", _spec(reloadToken="a"), _status(reload="a"), _sample(), 10, False),
    ("recovered from degraded", _spec(), _status(health="degraded"), _sample(), 10, True),
]


@pytest.mark.parametrize("what,spec,status,sample,offset,expected", CASES, ids=[c[0] for c in CASES])
def test_health_sample_matters(what, spec, status, sample, offset, expected):
    assert health_sample_matters(spec, status, sample, T0 + timedelta(seconds=offset), REFRESH) is expected
