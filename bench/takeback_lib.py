"""Pure helpers of `make bench-takeback` (bench/takeback.py): no I/O, unit-tested in
tests/unit/test_bench_takeback.py.

- the bound a take-back of N databases should cost, by AWS operation, and the measured calls
  against it;
- the creations a take-back must not make, from the calls and from what exists in AWS;
- what a user relies on (endpoint, service, active build) before and after, compared;
- the time the measured calls would take at AWS's default quotas, by the arithmetic of the
  operator's rate budgets (``aws.budget.FAMILIES`` x ``REFLEX_AWS_RATE_BUDGET_FRACTION``);
- the results table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CREATIONS",
    "bound",
    "against_bound",
    "creations",
    "inventory_diff",
    "shown",
    "compare_shown",
    "default_quota_cost",
    "table_rows",
    "render_table",
]

# Calls that make something in AWS: a take-back sends none (CreateSecret: see ``creations``).
CREATIONS = ("ecs.CreateService", "ecs.RegisterTaskDefinition", "codebuild.StartBuild", "secretsmanager.CreateSecret")
# Calls that change what exists (beyond tags): a take-back of running databases sends none.
CHANGES = ("ecs.UpdateService", "ecs.DeleteService", "secretsmanager.PutSecretValue", "secretsmanager.DeleteSecret",
           "codebuild.StopBuild", "ecs.DeregisterTaskDefinition")


def bound(n: int, *, services: int | None = None, secrets: int | None = None, builds: int | None = None,
          elsewhere: int = 0) -> dict[str, int]:
    """What taking back ``n`` databases should cost, by operation: the services described 10 a
    call (on the default ECS cluster, then the ``elsewhere`` ones not found there on the other
    clusters, 10 a call again), the builds their task definitions name 100 a call, each service's
    task definition described once (one family each), the ownership tags written on the service
    and its task definition, and each secret read (its tags, its value) and tagged. ``services``:
    those with a service (all by default); ``secrets``, ``builds`` likewise. The poller's rounds
    while the take-back runs (⌈N/10⌉ DescribeServices each poll interval) come on top."""
    services = n if services is None else services
    secrets = n if secrets is None else secrets
    builds = services if builds is None else builds
    return {
        "ecs.DescribeServices": math.ceil(n / 10) + math.ceil(elsewhere / 10),
        "codebuild.BatchGetBuilds": math.ceil(builds / 100),
        "ecs.DescribeTaskDefinition": services,
        "ecs.TagResource": 2 * services,
        "secretsmanager.DescribeSecret": secrets,
        "secretsmanager.GetSecretValue": secrets,
        "secretsmanager.TagResource": secrets,
    }


def against_bound(calls: Mapping[str, float], expected: Mapping[str, int], n: int) -> list[dict[str, Any]]:
    """Every operation measured or expected: measured, the bound, their ratio and per database;
    the bound's operations first, then the others (largest first)."""
    rows = []
    others = sorted((op for op in calls if op not in expected), key=lambda op: -calls[op])
    for op in [*expected, *others]:
        got, want = calls.get(op, 0), expected.get(op)
        rows.append({"operation": op, "measured": int(got), "bound": want,
                     "ratio": round(got / want, 3) if want else None,
                     "per_database": round(got / n, 3) if n else None})
    return rows


def inventory_diff(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """What exists in AWS after minus before, by kind (services, task definitions, secrets, builds)."""
    return {k: after.get(k, 0) - before.get(k, 0) for k in sorted(set(before) | set(after))}


def creations(calls: Mapping[str, float], made: Mapping[str, int]) -> dict[str, Any]:
    """The creations a take-back made: the calls sent (a CreateSecret refused as ResourceExists is
    sent, then the existing secret is read and taken: it is counted apart, as ``refused``) and what
    exists in AWS afterwards that did not before (``made``: an inventory_diff). ``made_total`` is
    what must be 0."""
    sent = {op: int(calls.get(op, 0)) for op in CREATIONS}
    secrets_made = max(0, made.get("secrets", 0))
    return {
        "sent": sent,
        "create_secret_refused": max(0, sent["secretsmanager.CreateSecret"] - secrets_made),
        "made": dict(made),
        "made_total": sum(max(0, v) for v in made.values()),
        "creating_calls_total": sum(v for op, v in sent.items() if op != "secretsmanager.CreateSecret") + secrets_made,
        "changes": {op: int(calls[op]) for op in CHANGES if calls.get(op)},
    }


def shown(obj: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """namespace/name and what a user relies on: the endpoint, the service, the active build."""
    meta, st = obj.get("metadata") or {}, obj.get("status") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}", {
        "endpoint": (st.get("instance") or {}).get("endpointUrl"),
        "service": (st.get("identity") or {}).get("serviceName"),
        "serviceArn": (st.get("instance") or {}).get("ecsServiceArn"),
        "activeBuildId": st.get("activeBuildId"),
        "origin": (st.get("identity") or {}).get("origin"),
    }


def compare_shown(before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """How many databases kept their endpoint, service and active build; their origins after."""
    keys = ("endpoint", "service", "serviceArn", "activeBuildId")
    same = {k: sum(1 for db, b in before.items() if db in after and b.get(k) and after[db].get(k) == b.get(k)) for k in keys}
    origins: dict[str, int] = {}
    for a in after.values():
        origins[str(a.get("origin"))] = origins.get(str(a.get("origin")), 0) + 1
    differ = sorted(db for db, b in before.items() if any(after.get(db, {}).get(k) != b.get(k) for k in keys))
    return {"databases": len(before), "same": same, "origins": dict(sorted(origins.items())), "differ": differ[:10],
            "differ_count": len(differ)}


def default_quota_cost(calls: Mapping[str, float], families: Mapping[str, Any], operations: Mapping[tuple[str, str], str],
                       fraction: float) -> dict[str, Any]:
    """The seconds the calls would take through the operator's budgets at AWS's default quotas:
    per family, ``count`` calls from a full bucket of capacity c x fraction refilled at r x
    fraction a second take max(0, count - c·f) / (r·f) s. The families run in parallel, so the
    take-back takes at least the slowest family's time (``seconds``, ``bottleneck``)."""
    by_family: dict[str, dict[str, Any]] = {}
    for op, count in calls.items():
        service, _, name = op.partition(".")
        family = operations.get((service, name))
        if family is None or not count:
            continue
        entry = by_family.setdefault(family, {"calls": 0, "operations": {}})
        entry["calls"] += int(count)
        entry["operations"][op] = int(count)
    for family, entry in by_family.items():
        rate = families[family]
        capacity, refill = max(1.0, rate.capacity * fraction), rate.refill * fraction
        entry["budget"] = f"{capacity:g}/{refill:g} per s"
        entry["seconds"] = round(max(0.0, entry["calls"] - capacity) / refill, 1)
    slowest = max(by_family.items(), key=lambda kv: kv[1]["seconds"], default=(None, {"seconds": 0.0}))
    return {"fraction": fraction, "families": dict(sorted(by_family.items(), key=lambda kv: -kv[1]["seconds"])),
            "seconds": slowest[1]["seconds"], "bottleneck": slowest[0]}


# --- the table -----------------------------------------------------------------------------------


def _fmt(x: float | None, unit: str = "", digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}{unit}"


def table_rows(r: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(figure, measured) rows of the take-back's results (bench/takeback.py)."""
    n = r["n"]
    tb = r.get("takeback") or {}
    made = tb.get("creations") or {}
    shown_ = tb.get("shown") or {}
    same = shown_.get("same") or {}
    cost = tb.get("default_quotas") or {}
    prov = r.get("provisioning") or {}
    ready = f"{_fmt(tb.get('all_ready_s'), ' s')} ({tb.get('ready', 0)}/{n} Ready)"
    rows = [
        ("provisioning (before the rebuild)", f"{_fmt(prov.get('all_ready_s'), ' s', 0)} ({prov.get('ready', 0)}/{n} Ready) at rate scale {r.get('rate_scale')}"),
        ("new control plane + re-apply", f"{_fmt(tb.get('rebuild_s'), ' s')} (apply {_fmt(tb.get('apply_s'), ' s')})"),
        ("operator start → all Ready", ready),
        ("operator start → Ready, p50 / p90 / p99", " / ".join(_fmt((tb.get("ready_after_s") or {}).get(p), " s") for p in ("p50", "p90", "p99"))),
        ("AWS calls, total (per database)", f"{tb.get('aws_calls_total', 0)} ({_fmt(tb.get('aws_calls_per_database'), '', 2)})"),
        ("creations sent (must be 0)", f"{made.get('creating_calls_total', 'n/a')}: {made.get('sent', {})}; CreateSecret refused as existing: {made.get('create_secret_refused', 'n/a')}"),
        ("made in AWS (must be 0)", f"{made.get('made_total', 'n/a')} {made.get('made', {})}"),
        ("same endpoint / service / active build", f"{same.get('endpoint', 0)} / {same.get('service', 0)} / {same.get('activeBuildId', 0)} of {shown_.get('databases', 0)}; origins {shown_.get('origins', {})}"),
        ("list or scan calls", ", ".join(tb.get("scan_operations") or []) or "none"),
        ("poller rounds meanwhile (≤ ⌈N/10⌉ DescribeServices each)", f"{tb.get('poller_rounds', 'n/a')} (≤ {tb.get('poller_rounds', 0) * math.ceil(n / 10)} calls)"),
        ("throttled (operator / emulator)", f"{tb.get('operator_throttles')} / {tb.get('emulator_throttled')}"),
    ]
    for row in tb.get("against_bound") or []:
        want = "—" if row["bound"] is None else f"{row['bound']}"
        rows.append((f"  {row['operation']}", f"{row['measured']} (bound {want}, ratio {_fmt(row['ratio'], '', 2)}, {_fmt(row['per_database'], '/db', 3)})"))
    if cost:
        rows.append(("at AWS default quotas (budget arithmetic)",
                     f"≥ {_fmt(cost.get('seconds'), ' s', 0)} ({_fmt((cost.get('seconds') or 0) / 60, ' min')}), bottleneck {cost.get('bottleneck')} "
                     f"at fraction {cost.get('fraction')}"))
        for family, entry in (cost.get("families") or {}).items():
            rows.append((f"  {family}", f"{entry['calls']} calls at {entry['budget']}: {_fmt(entry['seconds'], ' s', 0)}"))
    return rows


def render_table(r: Mapping[str, Any]) -> str:
    rows = table_rows(r)
    w0 = max(len(a) for a, _ in rows)
    lines = [f"take-back of N={r['n']} (rate scale {r.get('rate_scale')}, poll {r.get('poll_interval_s')} s)",
             f"{'figure':<{w0}} | measured", f"{'-' * w0}-|---------"]
    lines += [f"{a:<{w0}} | {b}" for a, b in rows]
    return "\n".join(lines)
