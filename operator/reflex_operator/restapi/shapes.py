"""A ReflexDatabase (as the API server returns it) mapped to the seeds' shapes, without I/O."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from reflex_operator.api.models import HistoryKind, ReflexDatabaseSpec, ReflexDatabaseStatus, Size, Sync, SyncMode
from reflex_operator.api.plan import PlanStatus, ReflexPlanSpec
from reflex_operator.database import cost as costs
from reflex_operator.restapi.actions import BatchResult
from reflex_operator.restapi.models import (
    AllowedActions,
    BatchEntry,
    TargetStatus,
    Build,
    BuildEntry,
    BuildsResponse,
    ConditionOut,
    CostOut,
    CostResponse,
    CostTotal,
    CostTotals,
    PricingItem,
    PricingPage,
    DatabaseList,
    DatabaseSubset,
    DeployedInstanceConfig,
    HistoryItem,
    HistoryPage,
    Instance,
    InstanceStatusResponse,
    InstanceResponse,
    Lifecycle,
    NotificationOut,
    Placement,
    Ownership,
    SortBy,
    SortDir,
    DatabaseSummary,
)

__all__ = [
    "MAX_LIMIT", "SEED_STATUS", "instance_id", "seed_status", "batch_entry", "instance_response", "builds_response",
    "summary", "page", "phase_of", "decode_cursor", "SPEC_MIN_SYNC_INTERVAL", "SyncLimits", "plan_of", "sync_limits",
    "lifecycle", "size_of", "Filters", "history_page", "instance_status",
]

Obj = dict[str, Any]
MAX_LIMIT = 100
_INSTANCE_NS = uuid.UUID("0d6c3f7e-5f0b-5d1e-9a0e-7a3b2c1d4e5f")
_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


def _status(obj: Obj) -> ReflexDatabaseStatus:
    return ReflexDatabaseStatus.model_validate(obj.get("status") or {})


def _created(obj: Obj) -> datetime:
    ts = (obj.get("metadata") or {}).get("creationTimestamp")
    return datetime.fromisoformat(ts.replace("Z", "+00:00")) if isinstance(ts, str) else _EPOCH


# The seed's (004_) instance status words for each phase: the seed names STATUS_NEW, STATUS_RUNNING,
# STATUS_PAUSED, STATUS_CONFIRMED and STATUS_STOPPING; the others are the same family's words.
SEED_STATUS: dict[str, str] = {
    "Pending": "STATUS_NEW",
    "Building": "STATUS_INITIALIZING",
    "Deploying": "STATUS_STARTING",
    "Running": "STATUS_RUNNING",
    "Paused": "STATUS_PAUSED",
    "Terminating": "STATUS_TERMINATING",
    "Terminated": "STATUS_TERMINATED",
    "Failed": "STATUS_ERROR",
    "Deleting": "STATUS_TERMINATING",
}
STATUS_UNKNOWN = "STATUS_UNKNOWN"  # an id the caller cannot read (or that does not exist)


def instance_id(uid: str) -> str:
    """The instance's id (``/instance``'s ``instance.id``): derived from the database's uid."""
    return str(uuid.uuid5(_INSTANCE_NS, uid))


def seed_status(phase: str | None) -> str:
    return SEED_STATUS.get(phase or "Pending", STATUS_UNKNOWN) if phase is not None else STATUS_UNKNOWN


def batch_entry(outcome: BatchResult, target: TargetStatus, legacy: bool = False) -> BatchEntry:
    """One id's answer: the accepted target's word, else its prior status unchanged (seed words,
    or with ``legacy`` this API's earlier ones: starting/stopping, the phase lowercased)."""
    if outcome.changed:
        words = ("stopping", "STATUS_STOPPING") if target.pause else ("starting", "STATUS_CONFIRMED")
        return BatchEntry(status=words[0] if legacy else words[1])
    if legacy:
        word = "unknown" if outcome.prior is None else outcome.prior.lower()
    else:
        word = seed_status(outcome.prior)
    return BatchEntry(status=word, error=outcome.error, message=outcome.message)


def phase_of(obj: Obj) -> str:
    """The database's phase ("Pending" before the operator's first pass)."""
    return str((obj.get("status") or {}).get("phase") or "Pending")


def _spec_min_interval() -> int:
    """The smallest spec.sync.intervalSeconds the spec (and so the CRD) accepts in any mode."""
    return next(m.ge for m in Sync.model_fields["interval_seconds"].metadata if getattr(m, "ge", None) is not None)


SPEC_MIN_SYNC_INTERVAL = _spec_min_interval()


@dataclass(frozen=True)
class SyncLimits:
    """What the database's plan allows of spec.sync: the modes, and each mode's smallest interval."""

    modes: list[str]
    min_interval: dict[str, int]


def plan_of(st: ReflexDatabaseStatus, plans: dict[str, Obj]) -> ReflexPlanSpec | None:
    """The ReflexPlan the operator put the database on (status.plan.name), as watched; None: no
    plan (none recorded yet, or none of that name, or one that does not parse)."""
    body = plans.get(st.plan.name) if st.plan else None
    try:
        return ReflexPlanSpec.model_validate(body.get("spec") or {}) if body else None
    except ValidationError:
        return None


def sync_limits(st: ReflexDatabaseStatus, plan: ReflexPlanSpec | None) -> SyncLimits:
    """Poll: the plan's pollModeMinSyncInterval (the status's copy when the plan itself is not
    seen); stream: the spec's minimum (plans do not bound it). No plan: every mode."""
    modes = [m.value for m in (plan.allowed_sync_modes if plan else list(SyncMode))]
    poll = plan.poll_mode_min_sync_interval if plan else (st.plan.poll_mode_min_sync_interval if st.plan else None)
    each = {SyncMode.POLL.value: max(poll or SPEC_MIN_SYNC_INTERVAL, SPEC_MIN_SYNC_INTERVAL), SyncMode.STREAM.value: SPEC_MIN_SYNC_INTERVAL}
    return SyncLimits(modes=modes, min_interval=each)


def _database(obj: Obj, st: ReflexDatabaseStatus, limits: SyncLimits) -> DatabaseSubset:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    source = spec.get("source") or {}
    mode = str((spec.get("sync") or {}).get("mode") or SyncMode.POLL.value)
    min_interval = limits.min_interval.get(mode, SPEC_MIN_SYNC_INTERVAL)
    ref = source.get("secretRef") or {}
    dc = st.deployed_config
    return DatabaseSubset(
        id=meta.get("uid", ""),
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        connection={"secretRef": {"name": ref.get("name"), "key": ref.get("key", "url")}, "secretArn": st.secret_arn},
        min_sync_interval=min_interval,
        min_sync_intervals={m: limits.min_interval[m] for m in limits.modes},
        allowed_sync_modes=limits.modes,
        available_schemas=list(source.get("schemas") or ["public"]),
        deployed_instance_config=None if dc is None else DeployedInstanceConfig(
            instance_size=dc.instance_size.value, task_cpu=dc.task_cpu, task_memory_mb=dc.task_memory_mb,
            sync_mode=dc.sync_mode.value, sync_interval=dc.sync_interval, log_level=dc.log_level.value,
            safety_net=dc.safety_net,
        ),
        has_pending_changes=bool(st.has_pending_changes),
    )


def _instance(obj: Obj, st: ReflexDatabaseStatus) -> Instance:
    uid = (obj.get("metadata") or {}).get("uid", "")
    inst = st.instance
    created = _created(obj)
    return Instance(
        id=instance_id(uid),
        database_id=uid,
        build_id=st.active_build_id,
        ecs_service_arn=inst.ecs_service_arn if inst else None,
        endpoint_url=inst.endpoint_url if inst else None,
        health_status=inst.health_status if inst else None,
        snapshot_age_ms=inst.snapshot_age_ms if inst else None,
        swap_count=inst.swap_count if inst else None,
        row_counts=inst.row_counts if inst else None,
        last_health_check=inst.last_health_check if inst else None,
        health_check_started=inst.health_check_started if inst else None,
        health_check_pending=check_pending(obj, st),
        cost=cost_out(st, datetime.now(timezone.utc)),
        created_at=created,
        updated_at=(inst.last_health_check if inst and inst.last_health_check else created),
    )


def _build(uid: str, b: Any, created: datetime) -> Build:
    return Build(
        id=b.id, database_id=uid, codebuild_id=b.codebuild_id, image_uri=b.image_uri, status=b.status,
        logs_url=b.logs_url, started_at=b.started_at, finished_at=b.finished_at,
        build_duration_seconds=b.build_duration_seconds, compute_type_used=b.compute_type_used,
        cost_estimate_cents=b.cost_estimate_cents, created_at=b.started_at or created,
    )


def _allowed(st: ReflexDatabaseStatus) -> AllowedActions:
    if st.allowed_actions is None:  # before the operator's first pass: nothing is allowed yet
        entry = {"allowed": False, "reason": "the operator has not reconciled the database yet"}
        return AllowedActions.model_validate({k: entry for k in AllowedActions.model_json_schema()["required"]})
    return AllowedActions.model_validate(st.allowed_actions.model_dump(mode="json", by_alias=True))


def lifecycle(obj: Obj, st: ReflexDatabaseStatus | None = None) -> Lifecycle:
    """Phase, message, conditions, uptime, plan and placement of ``obj``."""
    st = st or _status(obj)
    phase = phase_of(obj)
    return Lifecycle(
        phase=phase,
        status=seed_status(phase),
        message=st.message,
        conditions=[ConditionOut.model_validate(c.model_dump(mode="json", by_alias=True)) for c in st.conditions],
        uptime_seconds=st.instance.uptime_seconds if st.instance else None,
        plan=st.plan.name if st.plan else None,
        placement=Placement(cluster=st.placement.cluster, in_settings=st.placement.in_settings) if st.placement else None,
        ownership=_ownership(obj, st),
    )


def _ownership(obj: Obj, st: ReflexDatabaseStatus) -> Ownership | None:
    ident = st.identity
    if ident is None:
        return None
    policy = ((obj.get("spec") or {}).get("deletionPolicy")) or "Delete"
    return Ownership(
        cluster_identity=ident.cluster_identity, service_name=ident.service_name, task_family=ident.task_family,
        secret_name=ident.secret_name, origin=ident.origin.value, since=ident.since, tagged=ident.tagged, deletion_policy=policy,
    )


def instance_response(obj: Obj, plans: dict[str, Obj] | None = None) -> InstanceResponse:
    """GET /v1/databases/{id}/instance for ``obj``; ``plans``: the ReflexPlans by name, as watched."""
    st = _status(obj)
    uid = (obj.get("metadata") or {}).get("uid", "")
    latest = st.latest_build or (st.builds[0] if st.builds else None)
    live = plan_of(st, plans or {})
    recorded = st.plan
    return InstanceResponse(
        database=_database(obj, st, sync_limits(st, live)),
        instance=_instance(obj, st),
        latest_build=None if latest is None else _build(uid, latest, _created(obj)),
        allowed_actions=_allowed(st),
        notifications=[NotificationOut.model_validate(n.model_dump(mode="json", by_alias=True)) for n in st.notifications],
        unseen_count=st.unseen_count,
        skipped_count=st.skipped_count,
        compute_units_limit=live.compute_units_limit if live else (recorded.compute_units_limit if recorded else None),
        max_instance_size=_max_size(live, recorded),
        poll_mode_min_sync_interval=live.poll_mode_min_sync_interval if live else (recorded.poll_mode_min_sync_interval if recorded else None),
        data_transfer_gb_per_month=live.data_transfer_gb_per_month if live else (recorded.data_transfer_gb_per_month if recorded else None),
        lifecycle=lifecycle(obj, st),
    )


def _max_size(live: ReflexPlanSpec | None, recorded: PlanStatus | None) -> str | None:
    if live is not None:
        return live.max_instance_size.value
    return recorded.max_instance_size.value if recorded and recorded.max_instance_size else None


def builds_response(obj: Obj) -> BuildsResponse:
    """GET /v1/databases/{id}/builds: the build history, newest first (as the status keeps it)."""
    st = _status(obj)
    created = _created(obj)
    entries = [
        BuildEntry(
            id=b.id, status=b.status.value, deployable=b.deployable, codebuild_id=b.codebuild_id,
            logs_url=b.logs_url, created_at=b.started_at or created, finished_at=b.finished_at,
            build_duration_seconds=b.build_duration_seconds, compute_type_used=b.compute_type_used,
            cost_estimate_cents=b.cost_estimate_cents,
        )
        for b in st.builds
    ]
    return BuildsResponse(builds=entries, active_build_id=st.active_build_id)


def summary(obj: Obj) -> DatabaseSummary:
    meta, st = obj.get("metadata") or {}, _status(obj)
    return DatabaseSummary(
        id=meta.get("uid", ""), name=meta.get("name", ""), namespace=meta.get("namespace", ""),
        status=phase_of(obj).lower(), phase=st.phase.value if st.phase else None,
        health_status=st.instance.health_status if st.instance else None,
        instance_size=size_of(obj), created_at=_created(obj), lifecycle=lifecycle(obj, st),
    )


def size_of(obj: Obj) -> str:
    """The size asked for (spec.size, the spec's default when unset)."""
    return str((obj.get("spec") or {}).get("size") or ReflexDatabaseSpec.model_fields["size"].default.value)


@dataclass(frozen=True)
class Filters:
    """The list's filters (None: any): spec.size, status.phase, status.plan.name, status.placement.cluster."""

    size: str | None = None
    phase: str | None = None
    plan: str | None = None
    cluster: str | None = None

    def match(self, obj: Obj) -> bool:
        st = obj.get("status") or {}
        have = {
            "size": size_of(obj),
            "phase": phase_of(obj).lower(),
            "plan": (st.get("plan") or {}).get("name"),
            "cluster": (st.get("placement") or {}).get("cluster"),
        }
        want = {"size": self.size, "phase": (self.phase or "").lower() or None, "plan": self.plan, "cluster": self.cluster}
        return all(v is None or have[k] == v for k, v in want.items())


_SIZES = [s.value for s in Size]


def _sort_value(obj: Obj, by: SortBy) -> Any:
    meta, st = obj.get("metadata") or {}, obj.get("status") or {}
    match by:
        case SortBy.NAME:
            return meta.get("name", "")
        case SortBy.NAMESPACE:
            return meta.get("namespace", "")
        case SortBy.CREATED_AT:
            return _created(obj).isoformat()
        case SortBy.PHASE:
            return phase_of(obj)
        case SortBy.INSTANCE_SIZE:
            size = size_of(obj)
            return _SIZES.index(size) if size in _SIZES else len(_SIZES)
        case SortBy.PLAN:
            return (st.get("plan") or {}).get("name") or ""
        case SortBy.CLUSTER:
            return (st.get("placement") or {}).get("cluster") or ""
    raise ValueError(by)


def _key(obj: Obj, by: SortBy) -> list[Any]:
    meta = obj.get("metadata") or {}
    return [_sort_value(obj, by), meta.get("namespace", ""), meta.get("name", "")]


def _encode(doc: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str | None) -> Any:
    """What a cursor stands for (None for none); raises ValueError on a cursor we did not make."""
    if not cursor:
        return None
    try:
        return json.loads(base64.b64decode(cursor.encode(), altchars=b"-_", validate=True).decode())
    except ValueError as e:  # binascii.Error, UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError("the cursor is not one this API returned") from e


def _after(cursor: str | None, by: SortBy, direction: SortDir) -> list[Any] | None:
    doc = decode_cursor(cursor)
    if doc is None:
        return None
    if not isinstance(doc, dict) or doc.get("by") != by.value or doc.get("dir") != direction.value or not isinstance(doc.get("key"), list):
        raise ValueError("the cursor is not one this API returned for this sort_by and sort_dir")
    return doc["key"]


def page(
    objs: Iterable[Obj], limit: int, cursor: str | None,
    by: SortBy = SortBy.NAMESPACE, direction: SortDir = SortDir.ASC, filters: Filters = Filters(),
) -> DatabaseList:
    """The databases matching ``filters`` after ``cursor``, sorted by ``by`` (then namespace/name)
    in ``direction``, at most ``limit`` (1..100)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    after = _after(cursor, by, direction)
    desc = direction is SortDir.DESC
    keyed = [(_key(o, by), o) for o in objs if filters.match(o)]
    if after is not None:
        keyed = [(k, o) for k, o in keyed if (k < after if desc else k > after)]
    keyed.sort(key=lambda ko: ko[0], reverse=desc)
    chunk = keyed[:limit]
    nxt = _encode({"by": by.value, "dir": direction.value, "key": chunk[-1][0]}) if len(keyed) > limit and chunk else None
    return DatabaseList(data=[summary(o) for _, o in chunk], next_cursor=nxt, next_cursor_camel=nxt)


# ------------------------------------------------------------------------------------- history


def _history_items(obj: Obj) -> list[HistoryItem]:
    meta = obj.get("metadata") or {}
    uid = meta.get("uid", "")
    return [
        HistoryItem(
            database_id=uid, instance_fid=instance_id(uid), name=meta.get("name", ""), namespace=meta.get("namespace", ""),
            kind=e.kind.value, from_=e.from_, to=e.to, at=e.at, reason=e.reason,
            status=seed_status(e.to) if e.kind is HistoryKind.PHASE and e.to else None,
        )
        for e in _status(obj).history
    ]


def _history_key(item: HistoryItem) -> list[Any]:
    """Where an entry sorts, stable while newer entries are added: its time, its database, its kind
    (one pass records at most one of each, health listed before phase, as the status does)."""
    return [item.at.isoformat(), item.database_id, item.kind]


def history_page(
    objs: Iterable[Obj], limit: int, cursor: str | None, start: datetime | None = None, end: datetime | None = None
) -> HistoryPage:
    """The status history of ``objs``, newest first, within [start, end), after ``cursor``, at most ``limit``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    after = decode_cursor(cursor)
    if after is not None and not (isinstance(after, dict) and isinstance(after.get("history"), list)):
        raise ValueError("the cursor is not one this API returned for the history")
    keyed = [
        (_history_key(item), item) for o in objs for item in _history_items(o)
        if (start is None or item.at >= start) and (end is None or item.at < end)
    ]
    # newest first; the same instant: by database id, then kind
    keyed.sort(key=lambda ki: (_neg_time(ki[1].at), ki[0][1], ki[0][2]))
    if after is not None:
        mark = (_neg_time(datetime.fromisoformat(after["history"][0])), after["history"][1], after["history"][2])
        keyed = [(k, it) for k, it in keyed if (_neg_time(it.at), k[1], k[2]) > mark]
    chunk = keyed[:limit]
    nxt = _encode({"history": chunk[-1][0]}) if len(keyed) > limit and chunk else None
    return HistoryPage(data=[it for _, it in chunk], next_cursor=nxt)


def _neg_time(at: datetime) -> float:
    return -(at if at.tzinfo else at.replace(tzinfo=timezone.utc)).timestamp()


def instance_status(obj: Obj) -> InstanceStatusResponse:
    """GET /v2/instances/{instance_fid}/status: the seed's status word, and when it was terminated."""
    meta, st = obj.get("metadata") or {}, _status(obj)
    phase = phase_of(obj)
    ended = next((e.at for e in st.history if e.kind is HistoryKind.PHASE and e.to == "Terminated"), None) if phase == "Terminated" else None
    return InstanceStatusResponse(fid=instance_id(meta.get("uid", "")), name=meta.get("name", ""), status=seed_status(phase), end_time=ended)


# ------------------------------------------------------------------ on-demand checks and cost


def check_pending(obj: Obj, st: ReflexDatabaseStatus) -> bool:
    """An on-demand health check asked for (spec.healthCheckToken) and not yet carried out."""
    token = (obj.get("spec") or {}).get("healthCheckToken")
    applied = st.applied_tokens.health_check if st.applied_tokens else None
    return bool(token and token != applied) or bool(st.instance and st.instance.health_check_pending)


def cost_out(st: ReflexDatabaseStatus, now: datetime) -> CostOut | None:
    """The running cost figures at ``now`` (status holds them as of its last rate change)."""
    if st.cost is None:
        return None
    f = costs.figures(st.cost, now)
    return CostOut(hourly_usd=f.hourly_usd, month=f.month, month_usd=f.month_usd, total_usd=f.total_usd,
                   since=st.cost.since, tasks=st.cost.tasks, prices_source=costs.PRICES_SOURCE)


def cost_response(obj: Obj, now: datetime) -> CostResponse:
    meta, st = obj.get("metadata") or {}, _status(obj)
    uid = meta.get("uid", "")
    return CostResponse(database_id=uid, instance_fid=instance_id(uid), name=meta.get("name", ""), namespace=meta.get("namespace", ""),
                        plan=st.plan.name if st.plan else None, cost=cost_out(st, now))


def _total(key: str, rows: list[CostOut]) -> CostTotal:
    return CostTotal(key=key, databases=len(rows), hourly_usd=round(sum(r.hourly_usd for r in rows), 6),
                     month_usd=round(sum(r.month_usd for r in rows), 6), total_usd=round(sum(r.total_usd for r in rows), 6))


def cost_totals(objs: Iterable[Obj], now: datetime) -> CostTotals:
    """The running cost now, per namespace and per plan (databases on no plan: under "")."""
    by_ns: dict[str, list[CostOut]] = {}
    by_plan: dict[str, list[CostOut]] = {}
    for o in objs:
        st = _status(o)
        out = cost_out(st, now)
        if out is None:
            continue
        by_ns.setdefault((o.get("metadata") or {}).get("namespace", ""), []).append(out)
        by_plan.setdefault(st.plan.name if st.plan else "", []).append(out)
    return CostTotals(month=costs.month_of(now), namespaces=[_total(k, v) for k, v in sorted(by_ns.items())],
                      plans=[_total(k, v) for k, v in sorted(by_plan.items())], total=_total("all", [r for v in by_ns.values() for r in v]))


def pricing_page(objs: Iterable[Obj], now: datetime, limit: int, cursor: str | None,
                 start: datetime | None = None, end: datetime | None = None) -> PricingPage:
    """The pricing history of ``objs``: stretches at one rate, newest first, within [start, end)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    after = decode_cursor(cursor)
    if after is not None and not (isinstance(after, dict) and isinstance(after.get("pricing"), int)):
        raise ValueError("the cursor is not one this API returned for the pricing history")
    items = []
    for o in objs:
        meta, st = o.get("metadata") or {}, _status(o)
        uid = meta.get("uid", "")
        for sp in costs.spells(st.cost, now, start, end) if st.cost else []:
            items.append(PricingItem(database_id=uid, instance_fid=instance_id(uid), name=meta.get("name", ""), namespace=meta.get("namespace", ""),
                                     start_time=sp.start, end_time=sp.end, hourly_usd=sp.hourly_usd, tasks=sp.tasks,
                                     task_cpu=sp.task_cpu, task_memory_mb=sp.task_memory_mb, cost_usd=sp.cost_usd))
    items.sort(key=lambda it: (_neg_time(it.start_time), it.database_id))
    offset = after["pricing"] if after else 0
    chunk = items[offset: offset + limit]
    nxt = _encode({"pricing": offset + limit}) if len(items) > offset + limit else None
    return PricingPage(data=chunk, next_cursor=nxt)
