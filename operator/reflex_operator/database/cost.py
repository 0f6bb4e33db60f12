"""The running cost of an instance: Fargate on-demand prices by task size and time running; pure.

A task is billed per vCPU-hour and per GB-hour of memory while it runs (AWS Fargate, Linux/x86,
on-demand); a paused or terminated database runs no task and costs nothing. ``status.cost`` holds
the figures accrued up to ``accruedAt`` and the rate since then; it is rewritten only when the rate
changes (a phase, size or task-count change, which writes status anyway), so metering adds no status
write. ``figures`` gives the figures for any later moment (what the metrics, the REST API and
``kubectl reflex cost`` show); ``spells`` the pricing history.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from reflex_operator.api.models import CostChange, CostStatus, DeployedConfig

__all__ = [
    "PRICES_SOURCE", "PRICES_AS_OF", "FargatePrice", "FARGATE_PRICES", "DEFAULT_REGION", "price_for", "priced_as", "parse_prices",
    "task_hourly", "rate", "accrue", "Figures", "figures", "Spell", "spells", "month_of", "month_start",
]

PRICES_SOURCE = "https://aws.amazon.com/fargate/pricing/"
PRICES_AS_OF = "2026-03"
"""The table's date. Only us-east-1 is listed, because only its figures could be checked:
$0.04048 per vCPU-hour and $0.004445 per GB-hour (Linux/x86, on-demand) is the per-second example
AWS's ECS pricing page quotes for US East (N. Virginia), $0.000011244 per vCPU-second (x 3600 =
$0.04048), and the figure the third-party guides of 2025 and March 2026 give for that Region. The
stored copy of the Fargate pricing page renders its per-Region figures dynamically and shows none
in its text, so no other Region's price could be verified, and unverified numbers are not kept
here. Every other Region is costed at us-east-1's price (``price_for``; the operator logs a warning
at start) unless REFLEX_FARGATE_PRICES gives its price: set it for your Region, from the pricing
page or the Price List API (service code AmazonECS), and when AWS changes a price."""


@dataclass(frozen=True)
class FargatePrice:
    """US dollars per vCPU-hour and per GB-hour of memory (Linux/x86, on-demand)."""

    vcpu_hour: float
    gb_hour: float


FARGATE_PRICES: dict[str, FargatePrice] = {
    "us-east-1": FargatePrice(0.04048, 0.004445),  # verified as PRICES_AS_OF says; no other Region is
}
DEFAULT_REGION = "us-east-1"


def parse_prices(text: str | None) -> dict[str, FargatePrice]:
    """REFLEX_FARGATE_PRICES: ``{"<region>": {"vcpuHour": .., "gbHour": ..}, ...}``; ValueError if malformed."""
    if not text:
        return {}
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError("REFLEX_FARGATE_PRICES must be a JSON object of regions")
    out = {}
    for region, p in raw.items():
        try:
            out[region] = FargatePrice(float(p["vcpuHour"]), float(p["gbHour"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"REFLEX_FARGATE_PRICES[{region!r}]: needs vcpuHour and gbHour numbers") from exc
        if out[region].vcpu_hour < 0 or out[region].gb_hour < 0:
            raise ValueError(f"REFLEX_FARGATE_PRICES[{region!r}]: prices cannot be negative")
    return out


def price_for(region: str, overrides: Mapping[str, FargatePrice] | None = None) -> FargatePrice:
    """The region's price: the override, else the table, else us-east-1's (the table has no entry:
    ``priced_as`` says so)."""
    table = {**FARGATE_PRICES, **(overrides or {})}
    return table.get(region) or table[DEFAULT_REGION]


def priced_as(region: str, overrides: Mapping[str, FargatePrice] | None = None) -> str:
    """The Region whose price ``price_for`` uses for ``region`` (us-east-1's for one not known)."""
    return region if region in {**FARGATE_PRICES, **(overrides or {})} else DEFAULT_REGION


def task_hourly(price: FargatePrice, cpu_units: int, memory_mb: int) -> float:
    """One task's cost an hour: CPU units are 1/1024 vCPU, memory in MiB (GB as Fargate bills it)."""
    return price.vcpu_hour * cpu_units / 1024 + price.gb_hour * memory_mb / 1024


def rate(price: FargatePrice, config: DeployedConfig | None, running: int) -> CostChange:
    """The rate of ``running`` tasks of the deployed size (at a placeholder time: ``accrue`` sets it)."""
    if config is None or running <= 0:
        return CostChange(at=_EPOCH, hourly_usd=0.0, tasks=0)
    hourly = round(running * task_hourly(price, config.task_cpu, config.task_memory_mb), 6)
    return CostChange(at=_EPOCH, hourly_usd=hourly, tasks=running, task_cpu=config.task_cpu, task_memory_mb=config.task_memory_mb)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def month_of(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m")


def month_start(t: datetime) -> datetime:
    u = t.astimezone(timezone.utc)
    return u.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _hours(a: datetime, b: datetime) -> float:
    return max(0.0, (b - a).total_seconds()) / 3600


def _same(a: CostChange, b: CostChange) -> bool:
    return (a.hourly_usd, a.tasks, a.task_cpu, a.task_memory_mb) == (b.hourly_usd, b.tasks, b.task_cpu, b.task_memory_mb)


def accrue(before: CostStatus | None, now_rate: CostChange, now: datetime, limit: int) -> CostStatus:
    """``before`` (None: metering starts now) carried on to ``now_rate``: unchanged while the rate
    is the same (no status write for cost alone), else brought up to ``now`` with the new rate."""
    change = now_rate.model_copy(update={"at": now})
    if before is None:
        return CostStatus(hourly_usd=change.hourly_usd, tasks=change.tasks, month=month_of(now), accrued_at=now, since=now, changes=[change])
    last = before.changes[0] if before.changes else CostChange(at=before.accrued_at, hourly_usd=before.hourly_usd, tasks=before.tasks)
    if _same(last, change) and before.hourly_usd == change.hourly_usd:
        return before
    now_figures = figures(before, now)
    return before.model_copy(update={
        "hourly_usd": change.hourly_usd, "tasks": change.tasks, "accrued_usd": now_figures.total_usd,
        "month": now_figures.month, "month_usd": now_figures.month_usd, "accrued_at": now,
        "changes": [change, *before.changes][: max(1, limit)],
    })


@dataclass(frozen=True)
class Figures:
    """The cost figures at a moment: the rate now, this month's and the total since metering began."""

    hourly_usd: float
    month: str
    month_usd: float
    total_usd: float


def figures(cost: CostStatus, now: datetime) -> Figures:
    """The figures at ``now`` (not before ``accruedAt``): the rate has held since ``accruedAt``."""
    now = max(now, cost.accrued_at)
    total = cost.accrued_usd + cost.hourly_usd * _hours(cost.accrued_at, now)
    month = month_of(now)
    if month == cost.month:
        month_usd = cost.month_usd + cost.hourly_usd * _hours(cost.accrued_at, now)
    else:
        month_usd = cost.hourly_usd * _hours(max(cost.accrued_at, month_start(now)), now)
    return Figures(cost.hourly_usd, month, round(month_usd, 6), round(total, 6))


@dataclass(frozen=True)
class Spell:
    """A stretch at one rate: ``end`` None while it lasts; ``cost_usd`` up to ``end`` (or now)."""

    start: datetime
    end: datetime | None
    hourly_usd: float
    tasks: int
    task_cpu: int | None
    task_memory_mb: int | None
    cost_usd: float


def spells(cost: CostStatus, now: datetime, start: datetime | None = None, end: datetime | None = None) -> list[Spell]:
    """The pricing history, newest first, clipped to [start, end) (the cost within the window)."""
    out: list[Spell] = []
    later: datetime | None = None
    for c in cost.changes:  # newest first
        lo, hi = max(c.at, start) if start else c.at, min(later or now, end) if end else (later or now)
        if (end is None or c.at < end) and (start is None or (later or now) > start):
            out.append(Spell(c.at, later, c.hourly_usd, c.tasks, c.task_cpu, c.task_memory_mb, round(c.hourly_usd * _hours(lo, hi), 6)))
        later = c.at
    return out
