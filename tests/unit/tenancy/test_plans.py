"""The plan's decisions as tables: who gets room (oldest first), what a database wants and holds,
the verdict (its reservation, why it waits, the cap, the actions refused), the held-back spec, and
the monthly data transfer count."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from reflex_operator.api.models import Action, ReflexDatabaseSpec, ReflexDatabaseStatus, Size
from reflex_operator.api.plan import GB, PlanStatus, ReflexPlanSpec, compute_units
from reflex_operator.api.spec import SIZE_RESOURCES
from reflex_operator.tenancy.plans import (
    PLAN_LIMIT_EXCEEDED,
    PLAN_NOT_FOUND,
    Grant,
    Plan,
    PlanFacts,
    Transfer,
    Usage,
    allocate,
    count_transfer,
    held_back,
    holds,
    month_of,
    verdict,
    wants,
)


def _spec(**kw) -> ReflexDatabaseSpec:
    return ReflexDatabaseSpec.model_validate({"source": {"secretRef": {"name": "db"}}, **kw})


def _plan(limit: float = 2, gb: float = 1.0) -> Plan:
    return Plan("starter", ReflexPlanSpec(compute_units_limit=limit, max_instance_size="large", poll_mode_min_sync_interval=10, data_transfer_gb_per_month=gb))


def test_compute_units_table_is_the_sizes() -> None:
    assert {s.value: compute_units(s) for s in Size} == {"micro": 0.25, "small": 0.5, "medium": 1, "large": 2, "xlarge": 4}
    assert all(SIZE_RESOURCES[s].compute_units == SIZE_RESOURCES[s].cpu / 1024 for s in Size)


WANTS = [
    ("running small", {"size": "small"}, False, 0.5),
    ("running xlarge", {"size": "xlarge"}, False, 4),
    ("paused", {"size": "large", "paused": True}, False, 0),
    ("terminated", {"size": "large", "terminated": True}, False, 0),
    ("being deleted", {"size": "large"}, True, 0),
]


@pytest.mark.parametrize(("spec", "deleting", "expected"), [c[1:] for c in WANTS], ids=[c[0] for c in WANTS])
def test_wants(spec, deleting, expected) -> None:
    assert wants(_spec(**spec), deleting) == expected


_DC = {"instanceSize": "medium", "taskCpu": 1024, "taskMemoryMb": 2048, "syncMode": "poll", "syncInterval": 60, "logLevel": "info", "safetyNet": 0.25}
HOLDS = [
    ("nothing yet", {}, 0),
    ("its reservation", {"plan": {"name": "p", "computeUnits": 1.5}}, 1.5),
    ("no reservation recorded, running medium (before plans)", {"deployedConfig": _DC, "instance": {"desiredCount": 1}}, 1),
    ("no reservation recorded, paused (before plans)", {"deployedConfig": _DC, "instance": {"desiredCount": 0}}, 0),
    ("reservation wins over the deployed size", {"deployedConfig": _DC, "instance": {"desiredCount": 1}, "plan": {"name": "p", "computeUnits": 0}}, 0),
]


@pytest.mark.parametrize(("status", "expected"), [c[1:] for c in HOLDS], ids=[c[0] for c in HOLDS])
def test_holds(status, expected) -> None:
    assert holds(ReflexDatabaseStatus.model_validate(status)) == expected


def U(uid: str, created: str, want: float, held: float = 0) -> Usage:
    return Usage(uid, created, want, held)


ALLOCATIONS = [
    ("fits", 2, [U("a", "t1", 1)], {"a": Grant(True, 0, 1)}),
    ("oldest first: the younger waits", 1.5, [U("b", "t2", 1), U("a", "t1", 1)], {"a": Grant(True, 0, 1), "b": Grant(False, 1, 1)}),
    ("same creation time: by uid", 1, [U("b", "t1", 1), U("a", "t1", 1)], {"a": Grant(True, 0, 1), "b": Grant(False, 1, 1)}),
    ("a younger one that fits still gets room", 1.5, [U("a", "t1", 1), U("b", "t2", 1), U("c", "t3", 0.5)], {"a": Grant(True, 0, 1), "b": Grant(False, 1, 1), "c": Grant(True, 1, 0.5)}),
    ("a held reservation is never taken away, even of a younger one", 2, [U("a", "t1", 1), U("b", "t2", 2, held=2)], {"a": Grant(False, 2, 1), "b": Grant(True, 2, 0)}),
    ("a lowered limit only stops growth", 1, [U("a", "t1", 2, held=2), U("b", "t2", 0.5)], {"a": Grant(True, 2, 0), "b": Grant(False, 2, 0.5)}),
    ("pausing frees room at once", 1, [U("a", "t1", 0, held=1), U("b", "t2", 1)], {"a": Grant(True, 0, 0), "b": Grant(True, 0, 1)}),
    ("a resize up needs only the difference", 2, [U("a", "t1", 2, held=1), U("b", "t2", 1, held=1)], {"a": Grant(False, 2, 1), "b": Grant(True, 2, 0)}),
    ("exactly at the limit fits", 1, [U("a", "t1", 0.25), U("b", "t2", 0.25), U("c", "t3", 0.5)], {"a": Grant(True, 0, 0.25), "b": Grant(True, 0.25, 0.25), "c": Grant(True, 0.5, 0.5)}),
    ("no plan: no room for anyone", None, [U("a", "t1", 1), U("b", "t2", 1, held=1)], {"a": Grant(False, 1, 1), "b": Grant(True, 1, 0)}),
]


@pytest.mark.parametrize(("limit", "databases", "expected"), [c[1:] for c in ALLOCATIONS], ids=[c[0] for c in ALLOCATIONS])
def test_allocate(limit, databases, expected) -> None:
    assert allocate(limit, tuple(databases)) == expected
    # The same answer whatever order the registry lists them in.
    assert allocate(limit, tuple(reversed(databases))) == expected


def _facts(plan: Plan | None, *dbs: Usage, transferred: int = 0) -> PlanFacts:
    return PlanFacts(name="starter", plan=plan, databases=dbs, bytes_this_month=transferred)


def test_verdict_admitted_shows_the_plan_and_the_reservation() -> None:
    v = verdict("a", _spec(size="medium"), ReflexDatabaseStatus(), _facts(_plan(2), U("a", "t1", 1)))
    assert v.admitted and v.hold is None and not v.capped and v.blocks == {}
    assert v.status == PlanStatus(
        name="starter", compute_units_limit=2, max_instance_size="large", poll_mode_min_sync_interval=10,
        data_transfer_gb_per_month=1.0, compute_units=1,
    )


def test_verdict_waiting_names_used_limit_and_needed() -> None:
    v = verdict("b", _spec(size="medium"), ReflexDatabaseStatus(), _facts(_plan(1.5), U("a", "t1", 1, 1), U("b", "t2", 1)))
    assert not v.admitted
    assert v.hold is not None and v.hold[0] == PLAN_LIMIT_EXCEEDED
    assert "plan starter" in v.hold[1] and "uses 1 of 1.5 compute units" in v.hold[1] and "needs 1 more (medium)" in v.hold[1]
    assert v.status.compute_units == 0
    assert set(v.blocks) == {Action.PROVISION, Action.RESUME, Action.RESIZE}


def test_verdict_resize_waiting_keeps_what_it_holds() -> None:
    v = verdict("a", _spec(size="large"), ReflexDatabaseStatus(), _facts(_plan(1.5), U("a", "t1", 2, 1)))
    assert not v.admitted and v.status.compute_units == 1


def test_verdict_missing_plan_names_it() -> None:
    v = verdict("a", _spec(), ReflexDatabaseStatus(), _facts(None, U("a", "t1", 0.5)))
    assert not v.admitted and v.hold is not None and v.hold[0] == PLAN_NOT_FOUND and "'starter'" in v.hold[1]
    assert v.status.found is False and v.status.name == "starter"


def test_verdict_missing_plan_nothing_to_grow_does_not_hold() -> None:
    v = verdict("a", _spec(terminated=True), ReflexDatabaseStatus(), _facts(None, U("a", "t1", 0)))
    assert v.admitted and v.hold is None


CAPS = [
    ("under", 0.5 * GB, False),
    ("at the cap exactly", 1 * GB, False),
    ("over", 1 * GB + 1, True),
]


@pytest.mark.parametrize(("transferred", "capped"), [c[1:] for c in CAPS], ids=[c[0] for c in CAPS])
def test_verdict_cap(transferred, capped) -> None:
    v = verdict("a", _spec(), ReflexDatabaseStatus(), _facts(_plan(gb=1.0), U("a", "t1", 0.5), transferred=int(transferred)))
    assert v.capped is capped
    assert (Action.RESUME_REPLICATION in v.blocks) is capped
    if capped:
        assert v.cap is not None and v.cap[0] == "CapExceeded" and "plan starter" in v.cap[1] and "1 GB" in v.cap[1]


HELD_BACK = [
    ("a resize up stays at the deployed size", {"size": "large"}, Size.SMALL, False, {"size": Size.SMALL}),
    ("a resize down is not held back", {"size": "micro"}, Size.SMALL, False, {"size": Size.MICRO}),
    ("a resume stays paused", {"size": "small"}, Size.SMALL, True, {"paused": True}),
    ("both", {"size": "large"}, Size.SMALL, True, {"paused": True, "size": Size.SMALL}),
]


@pytest.mark.parametrize(("spec", "deployed", "scaled_to_zero", "expected"), [c[1:] for c in HELD_BACK], ids=[c[0] for c in HELD_BACK])
def test_held_back(spec, deployed, scaled_to_zero, expected) -> None:
    out = held_back(_spec(**spec), deployed, live=True, scaled_to_zero=scaled_to_zero)
    for field, value in expected.items():
        assert getattr(out, field) == value


NOV = datetime(2026, 11, 30, 23, 59, tzinfo=timezone.utc)
DEC = datetime(2026, 12, 1, 0, 0, 1, tzinfo=timezone.utc)

TRANSFERS = [
    ("first report counts whole", None, None, 100, NOV, Transfer("2026-11", 100)),
    ("a later report adds the difference", Transfer("2026-11", 100), 100, 250, NOV, Transfer("2026-11", 250)),
    ("a counter that went down restarted: all of it counts", Transfer("2026-11", 250), 250, 40, NOV, Transfer("2026-11", 290)),
    ("a new month starts from 0, counting what came since", Transfer("2026-11", 290), 40, 60, DEC, Transfer("2026-12", 20)),
    ("a new month with a server that reset its counter", Transfer("2026-11", 290), 40, 5, DEC, Transfer("2026-12", 5)),
]


@pytest.mark.parametrize(("total", "last", "reported", "now", "expected"), [c[1:] for c in TRANSFERS], ids=[c[0] for c in TRANSFERS])
def test_count_transfer(total, last, reported, now, expected) -> None:
    assert count_transfer(total, last, reported, now) == expected


def test_month_is_utc() -> None:
    from datetime import timedelta

    assert month_of(datetime(2026, 12, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))) == "2026-11"
