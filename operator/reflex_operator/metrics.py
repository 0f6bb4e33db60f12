"""Prometheus metrics: per-resource health figures (live, between status refreshes) and
operator-wide reconcile and AWS call figures. No label or value ever carries a secret."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from datetime import datetime, timezone

from reflex_operator.api.models import CostStatus, HealthStatus, Phase, ReflexDatabaseStatus
from reflex_operator.api.rollout import ReflexRolloutStatus, RolloutPhase
from reflex_operator.database import cost

__all__ = ["Metrics"]

_HEALTH_VALUE = {HealthStatus.OK: 1, HealthStatus.DEGRADED: 0.5, HealthStatus.CAP_EXCEEDED: 0.5, HealthStatus.UNREACHABLE: 0}


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.fleet = _Fleet()
        r.register(self.fleet)
        self.costs = _Costs()
        r.register(self.costs)
        self.reconcile = Histogram(
            "reflex_operator_reconcile_duration_seconds",
            "Time of one reconcile pass",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.reconcile_errors = Counter("reflex_operator_reconcile_errors_total", "Failed reconcile passes", registry=r)
        self.aws_calls = Counter("reflex_operator_aws_calls_total", "AWS calls", ["service", "operation", "outcome"], registry=r)
        self.throttles = Counter("reflex_operator_aws_throttles_total", "AWS calls answered with throttling", ["service", "operation"], registry=r)
        self.aws_budget_wait = Histogram(
            "reflex_operator_aws_budget_wait_seconds",
            "Time an AWS call waited for its API family's client-side rate budget (0: none)",
            ["service", "family"],
            buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.aws_budget_deferred = Counter(
            "reflex_operator_aws_budget_deferred_total",
            "AWS calls a reconcile pass did not wait for: no budget token yet, the pass requeued for when it comes",
            ["service", "family"],
            registry=r,
        )
        self.status_writes = Counter("reflex_operator_status_writes_total", "Status patches written", registry=r)
        self.fleet_builds_retired = Counter(
            "reflex_operator_fleet_builds_retired_total", "Shared builds deleted with their images after the retention period unused", registry=r
        )
        self.leader = Gauge("reflex_operator_leader", "1 while this replica holds a Lease and acts, 0 on a standby", registry=r)
        self.shard_held = Gauge("reflex_operator_shard_held", "1 for each shard whose Lease this replica holds", ["shard"], registry=r)
        self.lease_requests = Counter(
            "reflex_operator_lease_requests_total", "Lease API requests of leader election", ["verb", "outcome"], registry=r
        )
        self.health_checks = Counter("reflex_operator_health_checks_total", "Health endpoint checks", ["outcome"], registry=r)
        plan = ["namespace", "plan"]
        self.plan_units_used = Gauge("reflexdb_plan_compute_units_used", "Compute units the namespace's databases hold", plan, registry=r)
        self.plan_units_limit = Gauge("reflexdb_plan_compute_units_limit", "The plan's compute units limit", plan, registry=r)
        self.plan_bytes = Gauge("reflexdb_plan_data_transfer_bytes", "Bytes the namespace transferred this month (UTC)", plan, registry=r)
        self.plan_bytes_cap = Gauge("reflexdb_plan_data_transfer_cap_bytes", "The plan's monthly data transfer allowance, in bytes", plan, registry=r)

        rollout = ["rollout"]
        self.rollout_phase = Gauge(
            "reflexdb_rollout_phase", "1 for the phase a fleet rollout (ReflexRollout) is in", ["rollout", "phase"], registry=r
        )
        self.rollout_halted = Gauge(
            "reflexdb_rollout_halted", "1 while a fleet rollout is halted, with the reason (RolloutBuildFailed, RolloutUnhealthy)",
            ["rollout", "reason"], registry=r,
        )
        self.rollout_wave = Gauge("reflexdb_rollout_wave", "The wave a fleet rollout is at (1: the canary)", rollout, registry=r)
        self.rollout_databases = Gauge(
            "reflexdb_rollout_databases", "Databases of a fleet rollout: total, moved (healthy on the target), waiting",
            ["rollout", "state"], registry=r,
        )
        self.cluster_services = Gauge(
            "reflex_operator_ecs_cluster_services", "ECS services the operator has placed on each cluster (its quota counts them)", ["cluster"], registry=r
        )

    def observe_clusters(self, clusters: tuple[str, ...], counts: Mapping[str, int]) -> None:
        """Services placed per cluster: every cluster in the settings, and any other still used."""
        for cluster in {*clusters, *counts}:
            self.cluster_services.labels(cluster).set(counts.get(cluster, 0))

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)

    def aws_call(self, service: str, operation: str, outcome: str) -> None:
        self.aws_calls.labels(service, operation, outcome).inc()
        if outcome == "throttled":
            self.throttles.labels(service, operation).inc()

    def aws_budget_waited(self, service: str, family: str, seconds: float) -> None:
        self.aws_budget_wait.labels(service, family).observe(seconds)

    def aws_budget_deferred_call(self, family: str) -> None:
        self.aws_budget_deferred.labels(family.split(".")[0], family).inc()

    def leadership(self, held: list[int], shards: int) -> None:
        self.leader.set(1 if held else 0)
        for shard in range(shards):
            self.shard_held.labels(str(shard)).set(1 if shard in held else 0)

    def lease_request(self, verb: str, outcome: str) -> None:
        self.lease_requests.labels(verb, outcome).inc()

    def observe_health(self, namespace: str, name: str, status: HealthStatus, age_ms: int | None, swaps: int | None, rows: int | None) -> None:
        row = self.fleet.row(namespace, name)
        row[_HEALTH] = status
        if age_ms is not None:
            row[_AGE] = age_ms / 1000
        if swaps is not None:
            row[_SWAPS] = swaps
        if rows is not None:
            row[_ROWS] = rows

    def observe_status(self, namespace: str, name: str, status: ReflexDatabaseStatus) -> None:
        row = self.fleet.row(namespace, name)
        row[_PHASE] = status.phase
        build = next((b for b in status.builds if b.build_duration_seconds is not None), None)
        if build is not None:
            row[_BUILD_DURATION] = build.build_duration_seconds or 0
            row[_BUILD_COST] = build.cost_estimate_cents or 0

    def observe_plan(self, namespace: str, plan: str, used: float, limit: float, transferred: int, cap: int) -> None:
        """One namespace's plan usage."""
        self.plan_units_used.labels(namespace, plan).set(used)
        self.plan_units_limit.labels(namespace, plan).set(limit)
        self.plan_bytes.labels(namespace, plan).set(transferred)
        self.plan_bytes_cap.labels(namespace, plan).set(cap)

    def forget_plan(self, namespace: str, plan: str) -> None:
        """Drop a namespace's plan series (it left the plan)."""
        for gauge in (self.plan_units_used, self.plan_units_limit, self.plan_bytes, self.plan_bytes_cap):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, plan)

    def keep_plans(self, plans: Collection[str]) -> None:
        """Drop the series of plans that no longer exist (a deleted plan's figures would stay)."""
        for family in self.plan_units_used.collect():
            for sample in family.samples:
                if sample.labels["plan"] not in plans:
                    self.forget_plan(sample.labels["namespace"], sample.labels["plan"])

    def observe_rollout(self, name: str, status: ReflexRolloutStatus) -> None:
        """A fleet rollout's phase, wave, counts, and its halt with the reason."""
        for phase in RolloutPhase:
            self.rollout_phase.labels(name, phase.value).set(1 if status.phase is phase else 0)
        self.rollout_wave.labels(name).set(status.wave)
        for state, value in (("total", status.total), ("moved", status.moved), ("waiting", status.waiting)):
            self.rollout_databases.labels(name, state).set(value)
        for family in self.rollout_halted.collect():
            for sample in family.samples:
                if sample.labels["rollout"] == name:
                    with contextlib.suppress(KeyError):
                        self.rollout_halted.remove(name, sample.labels["reason"])
        if status.phase is RolloutPhase.HALTED:
            self.rollout_halted.labels(name, status.reason or "").set(1)

    def observe_cost(self, namespace: str, name: str, status: ReflexDatabaseStatus) -> None:
        """The database's running cost as status holds it (the figures are computed at each scrape)."""
        if status.cost is not None:
            self.costs.rows[(namespace, name)] = (status.plan.name if status.plan else "", status.cost)

    def forget(self, namespace: str, name: str) -> None:
        """Drop a deleted resource's series."""
        self.fleet.rows.pop((namespace, name), None)
        self.costs.rows.pop((namespace, name), None)


class _Costs(Collector):
    """The running cost, live at each scrape (database.cost.figures): per database, and the totals
    per namespace and per plan."""

    def __init__(self, clock: Any = None) -> None:
        self.rows: dict[tuple[str, str], tuple[str, CostStatus]] = {}
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        hourly, month, total, ns_hourly, ns_month, plan_hourly, plan_month = families = self._families()
        now, by_ns, by_plan = self.clock(), {}, {}
        for (namespace, name), (plan, status) in list(self.rows.items()):
            f = cost.figures(status, now)
            hourly.add_metric([namespace, name], f.hourly_usd)
            month.add_metric([namespace, name], f.month_usd)
            total.add_metric([namespace, name], f.total_usd)
            for key, acc in ((namespace, by_ns), (plan, by_plan)):
                h, m = acc.get(key, (0.0, 0.0))
                acc[key] = (h + f.hourly_usd, m + f.month_usd)
        for key, (h, m) in sorted(by_ns.items()):
            ns_hourly.add_metric([key], h)
            ns_month.add_metric([key], m)
        for key, (h, m) in sorted(by_plan.items()):
            if not key:
                continue  # on no plan: the plan series are only for plans (as the other reflexdb_plan_* are)
            plan_hourly.add_metric([key], h)
            plan_month.add_metric([key], m)
        yield from families

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        db = ["namespace", "name"]
        return (
            GaugeMetricFamily("reflexdb_cost_hourly_usd", "Running cost now, US dollars an hour (0 while paused or terminated)", labels=db),
            GaugeMetricFamily("reflexdb_cost_month_usd", "Running cost this month (UTC), US dollars", labels=db),
            GaugeMetricFamily("reflexdb_cost_total_usd", "Running cost since metering began, US dollars", labels=db),
            GaugeMetricFamily("reflexdb_namespace_cost_hourly_usd", "Running cost now of the namespace's databases, US dollars an hour", labels=["namespace"]),
            GaugeMetricFamily("reflexdb_namespace_cost_month_usd", "Running cost this month of the namespace's databases, US dollars", labels=["namespace"]),
            GaugeMetricFamily("reflexdb_plan_cost_hourly_usd", "Running cost now of the databases on the plan, US dollars an hour", labels=["plan"]),
            GaugeMetricFamily("reflexdb_plan_cost_month_usd", "Running cost this month of the databases on the plan, US dollars", labels=["plan"]),
        )


# One list per database, not one prometheus_client child per series: a database has 19 series
# (the one-hot phase and health status among them), which as children were about 7 KB each
# database (70 MB at 10,000). The values are kept here and the families built at each scrape.
_HEALTH, _AGE, _SWAPS, _ROWS, _BUILD_DURATION, _BUILD_COST, _PHASE = range(7)
_NO_STATUS = object()  # no status observed yet (a phase of None is shown: all zero)


class _Fleet(Collector):
    """The per-database series: health, health status, snapshot age, swap count, rows, the latest
    finished build's duration and cost, and the phase (one-hot), labelled namespace and name."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list[Any]] = {}

    def row(self, namespace: str, name: str) -> list[Any]:
        row = self.rows.get((namespace, name))
        if row is None:
            row = self.rows[(namespace, name)] = [None] * 6 + [_NO_STATUS]
        return row

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        health, health_status, age, swaps, rows, duration, cost, phase = families = self._families()
        for (namespace, name), row in list(self.rows.items()):
            labels = [namespace, name]
            status = row[_HEALTH]
            if status is not None:
                health.add_metric(labels, _HEALTH_VALUE[status])
                for s in HealthStatus:
                    health_status.add_metric([*labels, s.value], 1 if s is status else 0)
            for family, i in ((age, _AGE), (swaps, _SWAPS), (rows, _ROWS), (duration, _BUILD_DURATION), (cost, _BUILD_COST)):
                if row[i] is not None:
                    family.add_metric(labels, row[i])
            if row[_PHASE] is not _NO_STATUS:
                for p in Phase:
                    phase.add_metric([*labels, p.value], 1 if p is row[_PHASE] else 0)
        yield from families

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        labels = ["namespace", "name"]
        return (
            GaugeMetricFamily("reflexdb_health", "1 ok, 0.5 degraded, 0 unreachable", labels=labels),
            GaugeMetricFamily("reflexdb_health_status", "1 for the current health status", labels=[*labels, "status"]),
            GaugeMetricFamily("reflexdb_snapshot_age_seconds", "Age of the served snapshot", labels=labels),
            GaugeMetricFamily("reflexdb_swap_count", "Snapshot swaps since the server started", labels=labels),
            GaugeMetricFamily("reflexdb_rows", "Rows in the served snapshot, all tables", labels=labels),
            GaugeMetricFamily("reflexdb_build_duration_seconds", "Duration of the latest finished build", labels=labels),
            GaugeMetricFamily("reflexdb_build_cost_cents", "Estimated cost of the latest finished build", labels=labels),
            GaugeMetricFamily("reflexdb_phase", "1 for the current phase", labels=[*labels, "phase"]),
        )
