"""Pure helpers of `make bench-scale` (bench/scale.py): no I/O, unit-tested in
tests/unit/test_bench_scale.py.

- the fleet's manifests (plan, namespaces, one Secret per namespace, the databases);
- Prometheus text parsing and the diff of kube-apiserver's ``apiserver_request_total`` by verb;
- /proc parsing (CPU seconds, RSS) and rates;
- percentiles and the results table against the issue's targets.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "PLAN",
    "WRITE_VERBS",
    "fleet_objects",
    "parse_prometheus",
    "sum_metric",
    "request_counts",
    "writes_diff",
    "proc_cpu_seconds",
    "proc_rss_kib",
    "percentile",
    "count_delta",
    "is_scan",
    "per_database",
    "table_rows",
    "render_table",
]

PLAN = "bench-scale"
GROUP_VERSION = "reflexdb.cloud/v1alpha1"
SOURCE_URL = "postgres://bench:bench-Pa55@db.internal:5432/bench"
# kube-apiserver's cleaned verbs that change state (APPLY: server-side apply).
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION", "APPLY"})
_SCAN_PREFIXES = ("List", "Scan", "Search")


# --- the fleet ---------------------------------------------------------------------------------


def namespaces(n: int, per_namespace: int) -> list[str]:
    return [f"bench-{i:03d}" for i in range(math.ceil(n / per_namespace))]


def setup_objects(n: int, per_namespace: int) -> list[dict[str, Any]]:
    """The bench's ReflexPlan (room for every database of a namespace) and the labelled namespaces."""
    plan = {"apiVersion": GROUP_VERSION, "kind": "ReflexPlan", "metadata": {"name": PLAN},
            "spec": {"computeUnitsLimit": max(16, per_namespace * 4), "maxInstanceSize": "xlarge",
                     "pollModeMinSyncInterval": 1, "dataTransferGBPerMonth": 1000, "allowedSyncModes": ["poll", "stream"]}}
    nss = [{"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"reflexdb.cloud/plan": PLAN}}} for ns in namespaces(n, per_namespace)]
    return [plan, *nss]


def fleet_objects(n: int, per_namespace: int) -> list[dict[str, Any]]:
    """One Secret per namespace and N micro ReflexDatabases referencing it: the one apply."""
    out: list[dict[str, Any]] = []
    for k, ns in enumerate(namespaces(n, per_namespace)):
        out.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bench-source", "namespace": ns},
                    "stringData": {"url": SOURCE_URL}})
        for i in range(k * per_namespace, min(n, (k + 1) * per_namespace)):
            out.append({"apiVersion": GROUP_VERSION, "kind": "ReflexDatabase",
                        "metadata": {"name": f"db-{i:05d}", "namespace": ns},
                        "spec": {"source": {"secretRef": {"name": "bench-source"}}, "size": "micro"}})
    return out


# --- Prometheus text ---------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Sample = tuple[str, dict[str, str], float]


def parse_prometheus(text: str, names: Iterable[str] | None = None) -> list[Sample]:
    """(name, labels, value) of every sample in Prometheus text format; only ``names`` if given."""
    wanted = set(names) if names is not None else None
    out: list[Sample] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m or (wanted is not None and m.group(1) not in wanted):
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        out.append((m.group(1), dict(_LABEL.findall(m.group(2) or "")), value))
    return out


def sum_metric(text: str, name: str) -> float:
    """The sum of every series of ``name`` (0 when absent)."""
    return sum(v for _, _, v in parse_prometheus(text, [name]))


def by_label(text: str, name: str, label: str) -> dict[str, float]:
    """The samples of ``name`` summed by the value of ``label`` (empty when absent)."""
    out: dict[str, float] = {}
    for _, labels, value in parse_prometheus(text, [name]):
        out[labels.get(label, "")] = out.get(labels.get(label, ""), 0.0) + value
    return out


BUDGET_SERIES = {
    "waited_s": "reflex_operator_aws_budget_wait_seconds_sum",
    "waits": "reflex_operator_aws_budget_wait_seconds_count",
    "deferred": "reflex_operator_aws_budget_deferred_total",
}


def budget_figures(text: str) -> dict[str, dict[str, float]]:
    """Per API family: seconds AWS calls waited in a pass for their rate budget, how many calls
    asked, and how many passes gave their worker back instead (deferred)."""
    return {key: by_label(text, name, "family") for key, name in BUDGET_SERIES.items()}


def budget_delta(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, Any]:
    """What the budgets did between two scrapes, by family, and the total seconds waited."""
    out: dict[str, Any] = {}
    for key, now in after.items():
        was = before.get(key, {})
        out[key] = {f: round(v - was.get(f, 0.0), 1) for f, v in sorted(now.items()) if v - was.get(f, 0.0)}
    out["waited_total_s"] = round(sum(out["waited_s"].values()), 1)
    return out


def request_counts(text: str) -> Counter[tuple[str, str, str]]:
    """kube-apiserver's ``apiserver_request_total`` summed by (verb, resource, subresource)."""
    out: Counter[tuple[str, str, str]] = Counter()
    for _, labels, value in parse_prometheus(text, ["apiserver_request_total"]):
        out[(labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))] += value
    return out


def writes_diff(before: Mapping[tuple[str, str, str], float], after: Mapping[tuple[str, str, str], float]) -> dict[str, Any]:
    """Writes between two scrapes: the total, by verb, and by resource[/subresource] (largest first)."""
    by_verb: Counter[str] = Counter()
    by_resource: Counter[str] = Counter()
    for key, value in after.items():
        verb, resource, sub = key
        delta = value - before.get(key, 0.0)
        if verb not in WRITE_VERBS or delta <= 0:
            continue
        by_verb[verb] += delta
        by_resource[f"{resource}/{sub}" if sub else resource] += delta
    return {"total": int(sum(by_verb.values())), "by_verb": {k: int(v) for k, v in by_verb.most_common()},
            "by_resource": {k: int(v) for k, v in by_resource.most_common()}}


# --- /proc -------------------------------------------------------------------------------------


def proc_cpu_seconds(stat: str, clock_ticks: int) -> float:
    """utime + stime of a /proc/<pid>/stat line, in seconds (the command may contain spaces)."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / clock_ticks


def proc_rss_kib(status: str, field: str = "VmRSS") -> int:
    """VmRSS (or VmHWM, the peak) of a /proc/<pid>/status text, in KiB (0 when absent)."""
    m = re.search(rf"^{field}:\s+(\d+)\s+kB", status, re.M)
    return int(m.group(1)) if m else 0


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU of a running process, read from /proc (OSError once it is gone)."""
    with open(f"/proc/{pid}/stat") as f:
        return proc_cpu_seconds(f.read(), os.sysconf("SC_CLK_TCK"))


def rss_mib(pid: int | str = "self", field: str = "VmRSS") -> float:
    """RSS (``VmHWM``: its peak) of a running process in MiB, read from /proc."""
    with open(f"/proc/{pid}/status") as f:
        return round(proc_rss_kib(f.read(), field) / 1024, 1)


# --- figures -----------------------------------------------------------------------------------


def percentile(values: Iterable[float], p: float) -> float | None:
    """The ``p``-th percentile (0..100), linear between closest ranks; None for no values."""
    xs = sorted(values)
    if not xs:
        return None
    rank = (len(xs) - 1) * p / 100.0
    lo, hi = math.floor(rank), math.ceil(rank)
    return xs[lo] + (xs[hi] - xs[lo]) * (rank - lo)


def _total(obj: Any) -> float:
    if isinstance(obj, bool) or obj is None:
        return 0.0
    if isinstance(obj, (int, float)):
        return float(obj)
    if isinstance(obj, Mapping):
        return sum(_total(v) for v in obj.values())
    if isinstance(obj, list):
        return sum(_total(v) for v in obj)
    return 0.0


def count_delta(before: Any, after: Any) -> float | None:
    """The growth of a counter answered as a number or a (nested) dict of numbers; None when the
    endpoint does not exist (``after`` None)."""
    return None if after is None else _total(after) - _total(before)


def is_scan(operation: str) -> bool:
    """A list or scan call (``ecs.ListServices``, ``codebuild.ListBuildsForProject``...)."""
    return operation.split(".", 1)[-1].startswith(_SCAN_PREFIXES)


def per_database(calls: Mapping[str, float], n: int) -> dict[str, float]:
    return {op: round(v / n, 3) for op, v in sorted(calls.items(), key=lambda kv: -kv[1])} if n else {}


def _fmt(x: float | None, unit: str = "", digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}{unit}"


def _top(writes: Mapping[str, Any], k: int = 3) -> str:
    return ", ".join(f"{res} {v}" for res, v in list((writes.get("by_resource") or {}).items())[:k]) or "none"


def _pause(pause: Mapping[str, Any]) -> str:
    done, sample = pause.get("done", 0), pause.get("sample", 0)
    if done < sample:  # the rest count as the timeout: p99 (and maybe p50) are lower bounds
        return (f"p50 {'≥ ' if done < (sample + 1) // 2 else ''}{_fmt(pause.get('p50_s'), ' s')}, "
                f"p99 ≥ {_fmt(pause.get('p99_s'), ' s')} ({sample - done} of {sample} not at 0 in {pause.get('timeout_s')} s)")
    return f"p50 {_fmt(pause.get('p50_s'), ' s')}, p99 {_fmt(pause.get('p99_s'), ' s')} ({done}/{sample})"


def table_rows(r: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, measured, target) rows of the issue's table from a results dict (bench/scale.py)."""
    prov, idle, pause = r.get("provisioning", {}), r.get("idle", {}), r.get("pause", {})
    ready = f"{_fmt(prov.get('all_ready_s'), ' s', 0)} ({prov.get('ready', 0)}/{r['n']} Ready)"
    aws_idle = idle.get("aws_calls_per_poll", {})
    scans = ", ".join(prov.get("scan_operations", [])) or "none"
    k8s_idle = idle.get("k8s_writes", {})
    op_idle, op_prov = idle.get("cpu", {}).get("operator", {}), prov.get("cpu", {}).get("operator", {})
    budgets = prov.get("aws_budgets", {})
    median = prov.get("ready_after_s", {}).get("p50")
    return [
        ("all Ready from one apply", ready, "≤ 20 min"),
        ("median apply → Ready", _fmt(median, ' s', 0), "(none set)"),
        ("passes asleep on a rate budget, provisioning", f"{_fmt(budgets.get('waited_total_s'), ' s', 0)} waited; "
         f"deferred {dict(budgets.get('deferred', {}))}", "(none set)"),
        ("idle AWS calls per poll", f"{_fmt(idle.get('aws_calls_per_poll_total'), '', 1)} vs ⌈N/10⌉ = "
         f"{r.get('describe_services_bound')} (ratio {_fmt(idle.get('ratio'))}); {dict(aws_idle)}", "ratio 1.00, DescribeServices only"),
        ("AWS calls per database to provision", f"{_fmt(prov.get('aws_calls_per_database'))}; list/scan: {scans}", "≤ 6, no list or scan"),
        ("throttled AWS calls, steady state", f"operator {idle.get('operator_throttles')}, emulator {idle.get('emulator_throttled')}", "0"),
        ("throttled AWS calls, provisioning", f"operator {prov.get('operator_throttles')}, emulator {prov.get('emulator_throttled')}", "(none set)"),
        ("Kubernetes writes, idle", f"{_fmt(k8s_idle.get('per_database_per_hour'), '/db/h', 1)} "
         f"({_fmt(k8s_idle.get('per_second'), '/s', 1)}; {_top(k8s_idle)})", "≤ 3/db/h (≤ 10/s)"),
        ("Kubernetes writes, provisioning", f"{_fmt(prov.get('k8s_writes', {}).get('per_second'), '/s', 1)}, "
         f"{_fmt(prov.get('k8s_writes', {}).get('per_database'), '/db', 1)}", "(none set)"),
        ("operator RSS", f"idle {_fmt(idle.get('operator_rss_mib'), ' MiB', 0)}, peak {_fmt(r.get('operator_peak_rss_mib'), ' MiB', 0)}", "≤ 500 MiB"),
        ("operator CPU, idle", f"{_fmt(op_idle.get('cores'), ' core')} ({_fmt(op_idle.get('cpu_s_per_min'), ' s/min', 1)})", "≤ 0.25 core"),
        ("operator CPU, provisioning", f"{_fmt(op_prov.get('cores'), ' core')} ({_fmt(op_prov.get('cpu_s_per_min'), ' s/min', 1)})", "(none set)"),
        ("pause latency", _pause(pause), "p99 ≤ 2 s"),
    ]


def render_table(r: Mapping[str, Any]) -> str:
    rows = table_rows(r)
    w0, w1 = max(len(a) for a, _, _ in rows), max(len(b) for _, b, _ in rows)
    lines = [f"{'figure':<{w0}} | {'measured':<{w1}} | target", f"{'-' * w0}-|-{'-' * w1}-|-------"]
    lines += [f"{a:<{w0}} | {b:<{w1}} | {c}" for a, b, c in rows]
    for phase in ("provisioning", "idle"):
        cpu = r.get(phase, {}).get("cpu", {})
        if cpu:
            lines.append(f"{phase} CPU s/min: " + ", ".join(f"{k} {v.get('cpu_s_per_min', 0):.1f}" for k, v in cpu.items()))
    return "\n".join(lines)
