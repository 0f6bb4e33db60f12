"""The pure helpers of `make bench-scale` (bench/scale_lib.py): metric parsing, the writes diff,
/proc parsing, percentiles, the fleet's manifests and the table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import scale_lib as lib  # noqa: E402

METRICS = """\
# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="reflexdb.cloud",resource="reflexdatabases",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 40
apiserver_request_total{code="409",component="apiserver",dry_run="",group="reflexdb.cloud",resource="reflexdatabases",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 2
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="events",scope="resource",subresource="",verb="POST",version="v1"} 7
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="events",scope="resource",subresource="",verb="LIST",version="v1"} 100
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 1.5e+01
reflex_operator_aws_throttles_total{service="ecs",operation="DescribeServices"} 3.0
reflex_operator_aws_throttles_total{service="codebuild",operation="StartBuild"} 2.0
process_start_time_seconds 1.7e9
"""


def test_parse_prometheus_reads_labels_and_values() -> None:
    samples = lib.parse_prometheus(METRICS, ["reflex_operator_aws_throttles_total"])
    assert samples == [
        ("reflex_operator_aws_throttles_total", {"service": "ecs", "operation": "DescribeServices"}, 3.0),
        ("reflex_operator_aws_throttles_total", {"service": "codebuild", "operation": "StartBuild"}, 2.0),
    ]
    assert lib.parse_prometheus("process_start_time_seconds 1.7e9\n") == [("process_start_time_seconds", {}, 1.7e9)]


@pytest.mark.parametrize(
    ("name", "total"),
    [("reflex_operator_aws_throttles_total", 5.0), ("process_start_time_seconds", 1.7e9), ("absent_total", 0.0)],
)
def test_sum_metric(name: str, total: float) -> None:
    assert lib.sum_metric(METRICS, name) == total


def test_request_counts_sum_over_codes() -> None:
    counts = lib.request_counts(METRICS)
    assert counts[("PATCH", "reflexdatabases", "status")] == 42
    assert counts[("LIST", "events", "")] == 100
    assert counts[("PUT", "leases", "")] == 15


def test_writes_diff_counts_only_writes_that_grew() -> None:
    before = {("PATCH", "reflexdatabases", "status"): 42.0, ("POST", "events", ""): 7.0, ("LIST", "events", ""): 100.0,
              ("PUT", "leases", ""): 15.0}
    after = {("PATCH", "reflexdatabases", "status"): 142.0, ("POST", "events", ""): 9.0, ("LIST", "events", ""): 900.0,
             ("PUT", "leases", ""): 15.0, ("APPLY", "reflexdatabases", ""): 10.0}
    assert lib.writes_diff(before, after) == {
        "total": 112,
        "by_verb": {"PATCH": 100, "APPLY": 10, "POST": 2},
        "by_resource": {"reflexdatabases/status": 100, "reflexdatabases": 10, "events": 2},
    }


def test_proc_parsing() -> None:
    stat = "4242 (python3 -m x) S 1 4242 4242 0 -1 4194560 5000 0 0 0 250 50 0 0 20 0 9 0 100 0 0"
    assert lib.proc_cpu_seconds(stat, 100) == 3.0
    status = "Name:\tpython3\nVmHWM:\t  300000 kB\nVmRSS:\t  204800 kB\n"
    assert lib.proc_rss_kib(status) == 204800
    assert lib.proc_rss_kib(status, "VmHWM") == 300000
    assert lib.proc_rss_kib("Name:\tzombie\n") == 0


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [([], 50, None), ([3.0], 99, 3.0), ([1, 2, 3, 4], 50, 2.5), ([1, 2, 3, 4, 5], 0, 1), ([1, 2, 3, 4, 5], 100, 5),
     (list(range(1, 101)), 99, 99.01), ([5, 1, 3], 50, 3)],
)
def test_percentile(values: list[float], p: float, expected: float | None) -> None:
    result = lib.percentile(values, p)
    assert result == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [(None, None, None), ({"ecs.DescribeServices": 1}, {"ecs.DescribeServices": 4, "codebuild.StartBuild": 2}, 5.0),
     (3, 7, 4.0), ({"by": {"ecs": [1, 2]}}, {"by": {"ecs": [2, 5]}, "total": 1}, 5.0)],
)
def test_count_delta(before: object, after: object, expected: float | None) -> None:
    assert lib.count_delta(before, after) == expected


@pytest.mark.parametrize(
    ("operation", "scan"),
    [("codebuild.ListBuildsForProject", True), ("ecs.ListServices", True), ("ecs.DescribeServices", False),
     ("codebuild.BatchGetBuilds", False), ("StartBuild", False)],
)
def test_is_scan(operation: str, scan: bool) -> None:
    assert lib.is_scan(operation) is scan


def test_fleet_is_one_secret_per_namespace_and_n_databases() -> None:
    objects = lib.fleet_objects(250, 100)
    kinds = [o["kind"] for o in objects]
    assert kinds.count("Secret") == 3 and kinds.count("ReflexDatabase") == 250
    dbs = [o for o in objects if o["kind"] == "ReflexDatabase"]
    assert len({o["metadata"]["name"] for o in dbs}) == 250
    assert all(o["spec"]["source"]["secretRef"]["name"] == "bench-source" for o in dbs)
    assert sum(o["metadata"]["namespace"] == "bench-002" for o in dbs) == 50
    plan, *nss = lib.setup_objects(250, 100)
    assert plan["kind"] == "ReflexPlan" and plan["spec"]["computeUnitsLimit"] >= 100 * 0.25
    assert [ns["metadata"]["labels"]["reflexdb.cloud/plan"] for ns in nss] == [lib.PLAN] * 3


def test_table_rows_render_partial_results() -> None:
    results = {"n": 10, "describe_services_bound": 1, "provisioning": {"ready": 4, "all_ready_s": None}}
    rows = dict((a, b) for a, b, _ in lib.table_rows(results))
    assert rows["all Ready from one apply"] == "n/a (4/10 Ready)"
    assert "n/a" in rows["pause latency"]
    assert lib.render_table(results).count("\n") >= len(rows) + 1


@pytest.mark.parametrize(
    ("pause", "shown"),
    [({"sample": 20, "done": 20, "p50_s": 0.5, "p99_s": 1.25}, "p50 0.50 s, p99 1.25 s (20/20)"),
     ({"sample": 20, "done": 17, "timeout_s": 120.0, "p50_s": 72.1, "p99_s": 120.0},
      "p50 72.10 s, p99 ≥ 120.00 s (3 of 20 not at 0 in 120.0 s)"),
     ({"sample": 4, "done": 1, "timeout_s": 60.0, "p50_s": 60.0, "p99_s": 60.0},
      "p50 ≥ 60.00 s, p99 ≥ 60.00 s (3 of 4 not at 0 in 60.0 s)")],
)
def test_pause_row_says_when_the_sample_did_not_finish(pause: dict, shown: str) -> None:
    rows = {a: b for a, b, _ in lib.table_rows({"n": 20, "pause": pause})}
    assert rows["pause latency"] == shown


def test_readers_of_a_running_process() -> None:
    spent = lib.cpu_seconds()
    sum(i * i for i in range(200_000))  # some CPU, so the second reading is later
    assert lib.cpu_seconds() >= spent > 0
    assert 0 < lib.rss_mib() <= lib.rss_mib(field="VmHWM")


def test_poll_profile_runs_against_the_operators_ports(tmp_path) -> None:
    """bench/poll_profile.py fakes the operator's ports: a port's signature change breaks it here,
    not on the next `make bench`."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "profile.json"
    script = Path(__file__).resolve().parents[2] / "bench" / "poll_profile.py"
    subprocess.run([sys.executable, str(script), "--resources", "20", "--polls", "2", "--passes", "5", "--out", str(out)], check=True, capture_output=True, timeout=120)
    figures = json.loads(out.read_text())
    assert figures["resources"] == 20 and figures["woken_first_poll"] == 20 and set(figures["woken_per_idle_poll"]) == {0} and figures["idle_pass_writes"] == 0


BUDGETS_BEFORE = """
reflex_operator_aws_budget_wait_seconds_sum{service="ecs",family="ecs.task-definition-modify"} 10.0
reflex_operator_aws_budget_wait_seconds_count{service="ecs",family="ecs.task-definition-modify"} 4.0
"""
BUDGETS_AFTER = """
reflex_operator_aws_budget_wait_seconds_sum{service="ecs",family="ecs.task-definition-modify"} 25.5
reflex_operator_aws_budget_wait_seconds_count{service="ecs",family="ecs.task-definition-modify"} 9.0
reflex_operator_aws_budget_wait_seconds_sum{service="codebuild",family="codebuild.build-modify"} 2.0
reflex_operator_aws_budget_deferred_total{service="ecs",family="ecs.task-definition-modify"} 3.0
"""


def test_budget_delta_gives_seconds_waited_and_passes_deferred_by_family():
    delta = lib.budget_delta(lib.budget_figures(BUDGETS_BEFORE), lib.budget_figures(BUDGETS_AFTER))
    assert delta["waited_s"] == {"codebuild.build-modify": 2.0, "ecs.task-definition-modify": 15.5}
    assert delta["waits"] == {"ecs.task-definition-modify": 5.0}
    assert delta["deferred"] == {"ecs.task-definition-modify": 3.0}
    assert delta["waited_total_s"] == 17.5
