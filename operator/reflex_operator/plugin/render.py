"""The human output of ``kubectl reflex``, pure: a database's status screen, its builds, its
notifications, and one line per database acted on plus a summary. Colour only when asked (the
command asks on a terminal)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reflex_operator.api.build import ReflexBuildSpec, ReflexBuildStatus
from reflex_operator.api.models import Action, HistoryKind, ReflexDatabaseStatus
from reflex_operator.api.rollout import ReflexRolloutSpec, ReflexRolloutStatus
from reflex_operator.database.history import spells

__all__ = [
    "Paint", "Report", "age", "duration_ms", "status_screen", "builds_table", "notifications_table", "outcome_line", "summary",
    "rollouts_table", "rollout_screen",
]

Obj = dict[str, Any]

_GOOD = {"ok", "True", "success", "succeeded", "yes", "Running", "Ready", "acted", "done"}
_BAD = {"unreachable", "degraded", "cap_exceeded", "error", "failed", "Failed", "no", "refused", "stalled"}


@dataclass(frozen=True)
class Paint:
    """ANSI colours for words that carry a verdict, or none."""

    on: bool = False

    def __call__(self, text: str, word: str | None = None) -> str:
        key = word if word is not None else text
        if not self.on:
            return text
        if key in _GOOD:
            return f"\x1b[32m{text}\x1b[0m"
        if key in _BAD:
            return f"\x1b[31m{text}\x1b[0m"
        return text


def duration_ms(ms: int | float) -> str:
    """A duration in human units: 850ms, 4.2s, 3m12s, 2h5m, 3d4h."""
    if ms < 1000:
        return f"{int(ms)}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    s = int(seconds)
    for unit, size, sub, subsize in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if s >= size:
            rest = (s % size) // subsize
            return f"{s // size}{unit}{rest}{sub}" if rest else f"{s // size}{unit}"
    return f"{s}s"


def age(at: datetime | None, now: datetime) -> str:
    """How long ago, kubectl style (5s, 3m, 2h, 4d)."""
    if at is None:
        return "-"
    s = max(0, int((now - at).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], paint: Paint, colour_cols: Sequence[int] = (), indent: str = "  ") -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    out = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for row in rows:
        cells = [paint(c.ljust(w), c) if i in colour_cols else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        out.append(indent + "  ".join(cells).rstrip())
    return out


def _instance_lines(st: ReflexDatabaseStatus, now: datetime, paint: Paint) -> list[tuple[str, str]]:
    i = st.instance
    health = i.health_status.value if i and i.health_status else "-"
    lines = [("Health", paint(health))]
    if i is not None and i.snapshot_time is not None:
        # Counted from the snapshot's time, as kubectl get does; the other figures are as of the check.
        checked = f" (figures as of {age(i.last_health_check, now)} ago)" if i.last_health_check else ""
        lines.append(("Snapshot age", f"{age(i.snapshot_time, now)}{checked}"))
    elif i is not None and i.snapshot_age_ms is not None:
        lines.append(("Snapshot age", duration_ms(i.snapshot_age_ms)))
    if i is not None and i.swap_count is not None:
        lines.append(("Swaps", f"{i.swap_count} (last {age(i.last_swap_time, now)} ago)" if i.last_swap_time else str(i.swap_count)))
    if i is not None and i.row_counts is not None:
        tables = ", ".join(f"{t} {n:,}" for t, n in sorted(i.row_counts.items()))
        lines.append(("Rows", f"{sum(i.row_counts.values()):,} ({tables})" if tables else "0"))
    if i is not None and i.replication is not None:
        lines.append(("Replication", i.replication.value))
    lines.append(("Endpoint", (i.endpoint_url if i else None) or "-"))
    last = next(iter(spells(st.history, HistoryKind.HEALTH, "unreachable")), None)
    if last is not None:
        lasted = "ongoing" if last.ended is None else f"for {duration_ms(last.duration(now).total_seconds() * 1000)}"
        lines.append(("Last unreachable", f"{age(last.started, now)} ago, {lasted}"))
    return lines


def _config_lines(st: ReflexDatabaseStatus) -> list[tuple[str, str]]:
    active = next((b for b in st.builds if b.id == st.active_build_id), None)
    build = "-" if active is None else f"{active.id} ({active.status.value}, {active.server_version or '?'})"
    lines = [("Active build", build)]
    c = st.deployed_config
    if c is not None:
        lines.append(("Deployed", f"{c.instance_size.value} ({c.task_cpu} CPU units, {c.task_memory_mb} MiB), "
                      f"{c.sync_mode.value} every {c.sync_interval}s, log {c.log_level.value}, safety net {c.safety_net:g}"))
    lines.append(("Pending changes", "yes" if st.has_pending_changes else "no"))
    lines.extend(("Queued", goal) for goal in st.queued_goals)
    return lines


def _ownership_lines(obj: Obj, st: ReflexDatabaseStatus, now: datetime) -> list[tuple[str, str]]:
    """Who owns the AWS resources: the identity, the names, how they were taken, the deletion policy."""
    ident = st.identity
    if ident is None:
        return [("Owner", "-")]
    since = f", {age(ident.since, now)} ago" if ident.since else ""
    tagged = "" if ident.tagged else ", ownership tags not written yet"
    policy = ((obj.get("spec") or {}).get("deletionPolicy")) or "Delete"
    return [
        ("Owner", f"cluster identity {ident.cluster_identity} ({ident.origin.value}{since}{tagged})"),
        ("AWS", f"service {ident.service_name}, task family {ident.task_family}, secret {ident.secret_name}"),
        ("On delete", policy),
    ]


def status_screen(obj: Obj, now: datetime, paint: Paint = Paint()) -> str:
    """``kubectl reflex status NAME``: one screen."""
    meta, st = obj.get("metadata", {}), ReflexDatabaseStatus.model_validate(obj.get("status") or {})
    head = [("Name", meta.get("name", "")), ("Namespace", meta.get("namespace", "")),
            ("Phase", paint(st.phase.value if st.phase else "-")), ("Message", st.message or "-")]
    if st.rollout is not None:
        r = st.rollout
        wave = f", wave {r.wave}" if r.wave else ""
        head.append(("Rollout", f"{r.name}: {paint(r.state.value)}{wave} ({r.message or r.server_version})"))
    fields = head + _instance_lines(st, now, paint) + _config_lines(st) + _ownership_lines(obj, st, now)
    width = max(len(k) for k, _ in fields) + 2
    out = [f"{(k + ':').ljust(width)}{v}" for k, v in fields]
    out += ["", "Conditions:"]
    rows = [[c.type, c.status, c.reason, age(c.last_transition_time, now), c.message] for c in st.conditions]
    out += _table(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], rows, paint, (1,))
    if st.allowed_actions is not None:
        out += ["", "Actions:"]
        acts = [st.allowed_actions.get(a) for a in Action]
        rows = [[a.value, "yes" if e.allowed else "no", e.mode.value if e.mode else "-", e.reason or ""] for a, e in zip(Action, acts)]
        out += _table(["ACTION", "ALLOWED", "MODE", "REASON"], rows, paint, (1,))
    out += ["", f"Notifications: {st.unseen_count} unseen, {st.skipped_count} skipped"]
    out += _notification_rows(st, now, paint, unseen_only=True)
    return "\n".join(out) + "\n"


def _notification_rows(st: ReflexDatabaseStatus, now: datetime, paint: Paint, unseen_only: bool) -> list[str]:
    shown = st.notifications[: st.unseen_count] if unseen_only else st.notifications
    if unseen_only:  # newest first: the unseen ones are the newest, sticky ones aside
        shown = [n for n in st.notifications if n in shown or n.sticky]
    rows = [[age(n.created_at, now), n.severity.value, n.event_type.value, "yes" if n.sticky else "", n.message] for n in shown]
    return _table(["AGE", "SEVERITY", "TYPE", "STICKY", "MESSAGE"], rows, paint, (1,)) if rows else []


def notifications_table(obj: Obj, now: datetime, paint: Paint = Paint()) -> str:
    """``kubectl reflex notifications NAME``: every notification kept, newest first."""
    st = ReflexDatabaseStatus.model_validate(obj.get("status") or {})
    out = [f"{st.unseen_count} unseen, {st.skipped_count} skipped"]
    out += _notification_rows(st, now, paint, unseen_only=False) or ["No notifications."]
    return "\n".join(out) + "\n"


def builds_table(obj: Obj, now: datetime, paint: Paint = Paint()) -> str:
    """``kubectl reflex builds NAME``: the build history, newest first, the active build marked."""
    st = ReflexDatabaseStatus.model_validate(obj.get("status") or {})
    if not st.builds:
        return "No builds.\n"
    rows = []
    for b in st.builds:
        took = duration_ms(b.build_duration_seconds * 1000) if b.build_duration_seconds is not None else "-"
        cost = f"${b.cost_estimate_cents / 100:.2f}" if b.cost_estimate_cents is not None else "-"
        rows.append(["*" if b.id == st.active_build_id else "", b.id, b.status.value, age(b.started_at, now), took, cost,
                     b.server_version or "-", ",".join(b.schemas or []) or "-", "yes" if b.deployable else "no"])
    headers = ["", "ID", "STATUS", "STARTED", "DURATION", "COST", "VERSION", "SCHEMAS", "DEPLOYABLE"]
    return "\n".join(_table(headers, rows, paint, (2,), indent="")) + "\n"


def fleet_builds_table(items: Sequence[Obj], now: datetime, paint: Paint = Paint()) -> str:
    """``kubectl reflex builds``: the fleet's shared builds (ReflexBuilds), newest first, with the
    databases that use each and its cost; the total cost and the builds a build per database would
    have taken (one per user)."""
    if not items:
        return "No shared builds.\n"
    builds = sorted(
        ((ReflexBuildSpec.model_validate(i.get("spec") or {}), ReflexBuildStatus.model_validate(i.get("status") or {}), i) for i in items),
        key=lambda b: (b[1].started_at or b[0].recorded_at),
        reverse=True,
    )
    rows, cents, users = [], 0, 0
    for spec, st, item in builds:
        took = duration_ms(st.build_duration_seconds * 1000) if st.build_duration_seconds is not None else "-"
        cost = f"${st.cost_estimate_cents / 100:.2f}" if st.cost_estimate_cents is not None else "-"
        cents += st.cost_estimate_cents or 0
        users += st.databases
        who = ", ".join(st.used_by[:3]) + (f" +{st.databases - 3}" if st.databases > 3 else "")
        rows.append([item["metadata"]["name"], spec.server_version, ",".join(spec.schemas) or "-", st.state.value if st.state else "starting",
                     age(st.started_at or spec.recorded_at, now), took, cost, str(st.databases), who or "-"])
    headers = ["NAME", "VERSION", "SCHEMAS", "STATE", "STARTED", "DURATION", "COST", "DATABASES", "USED BY"]
    total = f"{len(builds)} builds for {users} database uses, ${cents / 100:.2f} in all"
    return "\n".join(_table(headers, rows, paint, (3,), indent="")) + f"\n{total}\n"


@dataclass(frozen=True)
class Report:
    """What a verb did to one database: acted, unchanged, refused, would (dry run), done, stalled, timeout."""

    namespace: str
    name: str
    result: str
    detail: str = ""


def outcome_line(o: Report, paint: Paint = Paint(), with_namespace: bool = False) -> str:
    who = f"{o.namespace}/{o.name}" if with_namespace else o.name
    return f"{who}: {paint(o.result)}" + (f": {o.detail}" if o.detail else "")


def summary(outcomes: Sequence[Report]) -> str:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.result] = counts.get(o.result, 0) + 1
    parts = ", ".join(f"{n} {r}" for r, n in sorted(counts.items()))
    noun = "database" if len(outcomes) == 1 else "databases"
    return f"{len(outcomes)} {noun}: {parts}" if outcomes else "no databases matched"


def rollouts_table(items: Sequence[Obj], now: datetime, paint: Paint = Paint()) -> str:
    """``kubectl reflex rollout list``: one line per rollout."""
    rows = []
    for obj in items:
        spec = ReflexRolloutSpec.model_validate(obj.get("spec") or {})
        st = ReflexRolloutStatus.model_validate(obj.get("status") or {})
        phase = st.phase.value if st.phase else "-"
        rows.append([obj["metadata"]["name"], spec.server_version, phase, str(st.wave), f"{st.moved}/{st.total}", str(st.waiting),
                     "yes" if spec.paused else "no", age(_created(obj), now), st.message or ""])
    if not rows:
        return "No rollouts.\n"
    return "\n".join(_table(["NAME", "VERSION", "PHASE", "WAVE", "MOVED", "WAITING", "PAUSED", "AGE", "MESSAGE"], rows, paint, (2,), indent="")) + "\n"


def _created(obj: Obj) -> datetime | None:
    raw = (obj.get("metadata") or {}).get("creationTimestamp")
    return datetime.fromisoformat(raw.replace("Z", "+00:00")) if isinstance(raw, str) else None


def rollout_screen(obj: Obj, now: datetime, paint: Paint = Paint()) -> str:
    """``kubectl reflex rollout status NAME``: the rollout, its conditions and its waves."""
    spec = ReflexRolloutSpec.model_validate(obj.get("spec") or {})
    st = ReflexRolloutStatus.model_validate(obj.get("status") or {})
    fields = [
        ("Name", obj["metadata"]["name"]),
        ("Version", spec.server_version),
        *([("Template", f"{spec.template} (the operator's task definition template)")] if spec.template else []),
        ("Phase", paint(st.phase.value if st.phase else "-")),
        ("Message", st.message or "-"),
        ("Moved", f"{st.moved} of {st.total} ({st.waiting} waiting)"),
        ("Paused", "yes" if spec.paused else "no"),
    ]
    width = max(len(k) for k, _ in fields) + 2
    out = [f"{(k + ':').ljust(width)}{v}" for k, v in fields]
    out += ["", "Conditions:"]
    rows = [[c.type, c.status, c.reason, age(c.last_transition_time, now), c.message] for c in st.conditions]
    out += _table(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], rows, paint)
    out += ["", "Waves:"]
    waves = [[str(w.number), str(len(w.databases)), age(w.started_at, now), age(w.settled_at, now) if w.settled_at else "-", ", ".join(w.databases)]
             for w in st.waves]
    out += _table(["WAVE", "SIZE", "STARTED", "SETTLED", "DATABASES"], waves, paint)
    return "\n".join(out) + "\n"
