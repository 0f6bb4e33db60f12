"""database.cost: the running cost by size and time running, zero while no task runs; accrued only
when the rate changes; figures for now computed when read; the pricing history."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from reflex_operator.api.models import SIZE_RESOURCES, DeployedConfig, LogLevel, Size, SyncMode
from reflex_operator.database import cost

T0 = datetime(2026, 11, 30, 22, 0, tzinfo=timezone.utc)
US = cost.FARGATE_PRICES["us-east-1"]


def _config(size: Size) -> DeployedConfig:
    r = SIZE_RESOURCES[size]
    return DeployedConfig(instance_size=size, task_cpu=r.cpu, task_memory_mb=r.memory_mb, sync_mode=SyncMode.POLL,
                          sync_interval=60, log_level=LogLevel.INFO, safety_net=0.25)


@pytest.mark.parametrize(("size", "running", "hourly"), [
    (Size.MICRO, 1, 0.25 * 0.04048 + 0.5 * 0.004445),
    (Size.SMALL, 1, 0.5 * 0.04048 + 1 * 0.004445),
    (Size.MEDIUM, 1, 1 * 0.04048 + 2 * 0.004445),
    (Size.LARGE, 1, 2 * 0.04048 + 4 * 0.004445),
    (Size.XLARGE, 1, 4 * 0.04048 + 8 * 0.004445),
    (Size.MEDIUM, 2, 2 * (0.04048 + 2 * 0.004445)),  # a rolling deployment runs two tasks
    (Size.MEDIUM, 0, 0.0),  # paused: no task
])
def test_the_rate_is_the_tasks_vcpu_and_memory_at_fargate_prices(size: Size, running: int, hourly: float) -> None:
    assert cost.rate(US, _config(size), running).hourly_usd == pytest.approx(hourly, abs=1e-6)


def test_no_deployed_config_costs_nothing() -> None:
    assert cost.rate(US, None, 1).hourly_usd == 0.0


@pytest.mark.parametrize(("region", "overrides", "vcpu"), [
    ("us-east-1", None, 0.04048),
    ("eu-central-1", None, 0.04048),  # no verified price for it: us-east-1's (documented), unless overridden
    ("xx-nowhere-1", None, 0.04048),  # not in the table: us-east-1's
    ("us-east-1", {"us-east-1": cost.FargatePrice(1.0, 0.1)}, 1.0),
    ("xx-nowhere-1", {"xx-nowhere-1": cost.FargatePrice(2.0, 0.2)}, 2.0),
])
def test_prices_by_region_with_overrides(region: str, overrides: dict | None, vcpu: float) -> None:
    assert cost.price_for(region, overrides).vcpu_hour == vcpu


def test_only_verified_prices_are_in_the_table_and_the_fallback_is_said() -> None:
    assert set(cost.FARGATE_PRICES) == {"us-east-1"}
    assert cost.priced_as("eu-central-1") == "us-east-1" and cost.priced_as("us-east-1") == "us-east-1"
    assert cost.priced_as("eu-central-1", {"eu-central-1": cost.FargatePrice(1.0, 0.1)}) == "eu-central-1"


@pytest.mark.parametrize("text", ['[1]', '{"us-east-1": {"vcpuHour": 1}}', '{"us-east-1": {"vcpuHour": -1, "gbHour": 0}}'])
def test_malformed_price_overrides_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        cost.parse_prices(text)


def test_the_prices_name_their_source_and_date() -> None:
    assert cost.PRICES_SOURCE.startswith("https://aws.amazon.com/fargate/pricing")
    assert cost.PRICES_AS_OF


def _run(schedule: list[tuple[timedelta, Size | None]]):
    """Accrue through (offset from T0, size running or None for paused); returns each status."""
    out, c = [], None
    for offset, size in schedule:
        c = cost.accrue(c, cost.rate(US, _config(size or Size.MEDIUM), 1 if size else 0), T0 + offset, limit=50)
        out.append(c)
    return out


def test_a_run_a_pause_and_a_resume_cost_only_the_running_time() -> None:
    medium = cost.task_hourly(US, 1024, 2048)
    statuses = _run([(timedelta(0), Size.MEDIUM), (timedelta(hours=1), None), (timedelta(hours=3), Size.MEDIUM)])
    last = statuses[-1]
    f = cost.figures(last, T0 + timedelta(hours=4))  # 1 h running, 2 h paused, 1 h running
    assert f.total_usd == pytest.approx(2 * medium, abs=1e-5)
    assert f.hourly_usd == pytest.approx(medium, abs=1e-6)
    paused = cost.figures(statuses[1], T0 + timedelta(hours=2, minutes=59))
    assert paused.hourly_usd == 0 and paused.total_usd == pytest.approx(medium, abs=1e-5)  # nothing while paused


def test_the_same_rate_writes_nothing_new() -> None:
    first, second = _run([(timedelta(0), Size.SMALL), (timedelta(hours=5), Size.SMALL)])
    assert second is first  # unchanged status: no status write for cost alone


def test_the_month_figure_starts_again_at_the_month_boundary() -> None:
    (c,) = _run([(timedelta(0), Size.LARGE)])  # from 22:00 on 30 November
    hourly = cost.task_hourly(US, 2048, 4096)
    f = cost.figures(c, T0 + timedelta(hours=5))  # 03:00 on 1 December
    assert f.month == "2026-12"
    assert f.month_usd == pytest.approx(3 * hourly, abs=1e-5)
    assert f.total_usd == pytest.approx(5 * hourly, abs=1e-5)
    resized = cost.accrue(c, cost.rate(US, _config(Size.SMALL), 1), T0 + timedelta(hours=5), 50)
    assert resized.month == "2026-12" and resized.month_usd == pytest.approx(3 * hourly, abs=1e-5)


def test_the_pricing_history_is_newest_first_and_clipped_to_the_window() -> None:
    medium = cost.task_hourly(US, 1024, 2048)
    *_, c = _run([(timedelta(0), Size.MEDIUM), (timedelta(hours=1), None), (timedelta(hours=3), Size.LARGE)])
    now = T0 + timedelta(hours=4)
    spells = cost.spells(c, now)
    assert [s.start for s in spells] == [T0 + timedelta(hours=3), T0 + timedelta(hours=1), T0]
    assert spells[0].end is None and spells[1].end == T0 + timedelta(hours=3)
    assert spells[1].hourly_usd == 0 and spells[1].cost_usd == 0
    assert spells[2].cost_usd == pytest.approx(medium, abs=1e-5)
    window = cost.spells(c, now, start=T0 + timedelta(minutes=30), end=T0 + timedelta(hours=2))
    assert [s.start for s in window] == [T0 + timedelta(hours=1), T0]
    assert window[1].cost_usd == pytest.approx(medium / 2, abs=1e-5)


def test_the_history_is_bounded() -> None:
    c = None
    for i in range(10):
        c = cost.accrue(c, cost.rate(US, _config(Size.SMALL), i % 2), T0 + timedelta(minutes=i), limit=4)
    assert c is not None and len(c.changes) == 4
