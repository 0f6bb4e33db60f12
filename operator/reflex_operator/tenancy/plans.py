"""Plans: the namespace's compute units (who gets room, oldest first) and its monthly data transfer.

A database that is not terminated, paused or being deleted *wants* the compute units of its size
(``api.plan.compute_units``); what it *holds* is the reservation its status records
(``status.plan.computeUnits``), so the allocation survives an operator restart. Reservations are
never taken away: a lower limit only stops growth. Room is handed out oldest first (creation time,
then uid), the same answer in every pass of every database of the namespace. A database that does
not fit is not provisioned, resized up or resumed: it stays where it is (``PlanLimitExceeded``),
until room is made. A namespace whose plan does not exist gets no room at all (``PlanNotFound``);
a namespace without a plan (no label, and no default plan) is not judged here at all.

The data transfer is counted from what each instance reports (its counter for the month, which
restarts at 0 with the server); past the plan's allowance replication pauses until the next month
(UTC) or a larger plan. Everything here is pure: the time is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from reflex_operator.api.models import Action, ReflexDatabaseSpec, ReflexDatabaseStatus, Size
from reflex_operator.api.plan import GB, PlanStatus, ReflexPlanSpec, compute_units
from reflex_operator.api.reasons import PLAN_LIMIT_EXCEEDED, PLAN_NOT_FOUND, Note

__all__ = [
    "Plan",
    "Usage",
    "Grant",
    "PlanFacts",
    "PlanVerdict",
    "wants",
    "holds",
    "allocate",
    "verdict",
    "held_back",
    "month_of",
    "Transfer",
    "count_transfer",
]

_EPSILON = 1e-9


@dataclass(frozen=True)
class Plan:
    """A ReflexPlan's limits."""

    name: str
    spec: ReflexPlanSpec

    @property
    def cap_bytes(self) -> int:
        return int(self.spec.data_transfer_gb_per_month * GB)


@dataclass(frozen=True)
class Usage:
    """One database of the namespace, as the allocation sees it."""

    uid: str
    created: str  # metadata.creationTimestamp (RFC 3339, UTC: sorts as text)
    want: float
    held: float


@dataclass(frozen=True)
class Grant:
    """The allocation's answer for one database."""

    admitted: bool
    used: float  # the namespace's units in use when the database was considered
    needed: float  # the units it asked for beyond what it holds


@dataclass(frozen=True)
class PlanFacts:
    """What the pass knows of the namespace's plan (gathered from the operator's caches)."""

    name: str
    plan: Plan | None  # None: no ReflexPlan of that name
    databases: tuple[Usage, ...] = ()  # every database of the namespace, this one included
    bytes_this_month: int = 0


def wants(spec: ReflexDatabaseSpec, deleting: bool = False) -> float:
    """The compute units a database asks for: those of its size, unless it is not meant to run."""
    return 0.0 if deleting or spec.terminated or spec.paused else compute_units(spec.size)


def holds(status: ReflexDatabaseStatus) -> float:
    """The compute units a database's status says it holds. A status from before plans existed:
    those of the deployed size while it runs."""
    if status.plan is not None and status.plan.compute_units is not None:
        return status.plan.compute_units
    instance, deployed = status.instance, status.deployed_config
    if instance is not None and deployed is not None and (instance.desired_count or 0) > 0:
        return compute_units(deployed.instance_size)
    return 0.0


def allocate(limit: float | None, databases: tuple[Usage, ...]) -> dict[str, Grant]:
    """Who gets room, oldest first. What a database keeps (the smaller of what it holds and wants)
    is in use; each that wants more gets it if it fits. ``limit`` None: no room for anyone."""
    used = sum(min(d.held, d.want) for d in databases)
    grants: dict[str, Grant] = {}
    for d in sorted(databases, key=lambda d: (d.created, d.uid)):
        extra = d.want - d.held
        if extra <= _EPSILON:
            grants[d.uid] = Grant(True, used, 0.0)
        elif limit is not None and used + extra <= limit + _EPSILON:
            grants[d.uid] = Grant(True, used, extra)
            used += extra
        else:
            grants[d.uid] = Grant(False, used, extra)
    return grants


@dataclass(frozen=True)
class PlanVerdict:
    """What the plan means for one database in this pass."""

    status: PlanStatus  # status.plan
    admitted: bool = True
    hold: Note | None = None  # why it stays where it is (a Stalled reason and message)
    capped: bool = False  # the namespace is past its monthly data transfer
    cap: Note | None = None  # the Degraded note while capped
    blocks: dict[Action, str] = field(default_factory=dict)  # actions refused, and why


def _units(value: float) -> str:
    return f"{value:g}"


def verdict(uid: str, spec: ReflexDatabaseSpec, status: ReflexDatabaseStatus, facts: PlanFacts, deleting: bool = False) -> PlanVerdict:
    """The plan's judgement of one database: its reservation, whether it may grow, the cap."""
    plan, want = facts.plan, wants(spec, deleting)
    own = next((d for d in facts.databases if d.uid == uid), Usage(uid, "", want, holds(status)))
    grant = allocate(plan.spec.compute_units_limit if plan else None, facts.databases or (own,))[uid]
    held = want if grant.admitted else min(own.held, want)
    if plan is None:
        message = f"ReflexPlan {facts.name!r} (the namespace's plan) does not exist; create it or change the namespace's label reflexdb.cloud/plan"
        shown = PlanStatus(name=facts.name, found=False, compute_units=held)
        hold = None if grant.admitted else (PLAN_NOT_FOUND, message)
        return PlanVerdict(shown, grant.admitted, hold, blocks=_growth_blocks(message) if hold else {})
    limits = plan.spec
    shown = PlanStatus(
        name=plan.name,
        compute_units_limit=limits.compute_units_limit,
        max_instance_size=limits.max_instance_size,
        poll_mode_min_sync_interval=limits.poll_mode_min_sync_interval,
        data_transfer_gb_per_month=limits.data_transfer_gb_per_month,
        compute_units=held,
    )
    hold, blocks = None, {}
    if not grant.admitted:
        message = (
            f"plan {plan.name}: the namespace uses {_units(grant.used)} of {_units(limits.compute_units_limit)} compute units; "
            f"this database needs {_units(grant.needed)} more ({spec.size.value}); it proceeds when room is made"
        )
        hold, blocks = (PLAN_LIMIT_EXCEEDED, message), _growth_blocks(message)
    capped = facts.bytes_this_month > plan.cap_bytes
    cap = None
    if capped:
        text = (
            f"plan {plan.name}: the namespace transferred {facts.bytes_this_month} bytes this month, over its "
            f"{_units(limits.data_transfer_gb_per_month)} GB; replication is paused until next month (UTC) or a larger plan"
        )
        cap = ("CapExceeded", text)
        blocks[Action.RESUME_REPLICATION] = text
    return PlanVerdict(shown, grant.admitted, hold, capped, cap, blocks)


def _growth_blocks(message: str) -> dict[Action, str]:
    return {Action.PROVISION: message, Action.RESUME: message, Action.RESIZE: message}


def held_back(spec: ReflexDatabaseSpec, deployed_size: Size | None, live: bool, scaled_to_zero: bool) -> ReflexDatabaseSpec:
    """The spec a database that may not grow works to: where it is now. A running instance keeps
    its deployed size; a paused one stays paused."""
    update: dict[str, object] = {}
    if live and scaled_to_zero and not spec.paused:
        update["paused"] = True
    if live and deployed_size is not None and compute_units(deployed_size) < compute_units(spec.size):
        update["size"] = deployed_size
    return spec.model_copy(update=update) if update else spec


# ----------------------------------------------------------------------------------- data transfer


def month_of(now: datetime) -> str:
    """The calendar month (UTC) of ``now``, as YYYY-MM."""
    return now.astimezone(timezone.utc).strftime("%Y-%m")


@dataclass(frozen=True)
class Transfer:
    """A namespace's data transfer in one month."""

    month: str
    bytes: int = 0


def count_transfer(total: Transfer | None, last: int | None, reported: int, now: datetime) -> Transfer:
    """Add what one instance transferred since its last report. ``last``: the counter it reported
    before (None: never seen, all of it counts); a counter below ``last`` restarted (a new server or
    a new month) and counts from 0. A new month starts the total from 0."""
    month = month_of(now)
    if total is None or total.month != month:
        total = Transfer(month)
        last = None if last is None or last > reported else last
    delta = reported if last is None or reported < last else reported - last
    return Transfer(month, total.bytes + delta)
