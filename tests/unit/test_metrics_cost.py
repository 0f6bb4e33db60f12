"""The cost metrics are live at each scrape, per database and totalled per namespace and plan."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from prometheus_client import generate_latest

from reflex_operator.api.models import CostChange, CostStatus, ReflexDatabaseStatus
from reflex_operator.metrics import Metrics

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def _status(hourly: float, plan: str) -> ReflexDatabaseStatus:
    c = CostStatus(hourly_usd=hourly, tasks=1 if hourly else 0, month="2026-12", accrued_at=T0, since=T0,
                   changes=[CostChange(at=T0, hourly_usd=hourly)])
    return ReflexDatabaseStatus.model_validate({"plan": {"name": plan}, "cost": c.model_dump(mode="json", by_alias=True)})


def test_cost_series_per_database_namespace_and_plan() -> None:
    m = Metrics()
    m.costs.clock = lambda: T0 + timedelta(hours=2)
    m.observe_cost("a", "x", _status(0.5, "gold"))
    m.observe_cost("a", "y", _status(0.0, "gold"))
    m.observe_cost("b", "z", _status(1.0, "free"))
    text = generate_latest(m.registry).decode()
    assert 'reflexdb_cost_total_usd{name="x",namespace="a"} 1.0' in text
    assert 'reflexdb_cost_hourly_usd{name="y",namespace="a"} 0.0' in text
    assert 'reflexdb_namespace_cost_month_usd{namespace="a"} 1.0' in text
    assert 'reflexdb_plan_cost_hourly_usd{plan="free"} 1.0' in text
    m.forget("b", "z")
    assert 'plan="free"' not in generate_latest(m.registry).decode()


def test_a_database_on_no_plan_counts_in_its_namespace_not_in_a_plan_series() -> None:
    m = Metrics()
    m.costs.clock = lambda: T0 + timedelta(hours=1)
    m.observe_cost("c", "w", ReflexDatabaseStatus.model_validate({"cost": _status(2.0, "x").cost.model_dump(mode="json", by_alias=True)}))
    text = generate_latest(m.registry).decode()
    assert 'reflexdb_namespace_cost_hourly_usd{namespace="c"} 2.0' in text
    assert not [line for line in text.splitlines() if line.startswith("reflexdb_plan_cost_") and "{" in line]
