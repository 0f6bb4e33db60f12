"""The pure helpers of `make bench-takeback` (bench/takeback_lib.py) and its arguments
(bench/takeback.py imports and parses without a stack)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import takeback as bench  # noqa: E402
from bench import takeback_lib as lib  # noqa: E402
from reflex_operator.aws.budget import FAMILIES, OPERATIONS  # noqa: E402


def test_arguments_and_defaults() -> None:
    args = bench.parse_args(["--n", "10000", "--rate-scale", "15"])
    assert (args.n, args.rate_scale, args.poll) == (10000, 15.0, 60.0)
    assert args.ready_timeout == 6000.0 and args.takeback_timeout == 5000.0
    assert args.budget_fraction == 0.8  # the operator's default share of AWS's rates
    small = bench.parse_args(["--n", "20", "--budget-fraction", "0.5", "--after", "0"])
    assert small.ready_timeout == 1800.0 and small.takeback_timeout == 900.0 and small.budget_fraction == 0.5
    assert bench.DEV_DIR.name == ".bench-takeback" and bench.scale.DEV_DIR == bench.DEV_DIR  # a stack of its own
    with pytest.raises(SystemExit):
        bench.parse_args(["--n", "0"])


@pytest.mark.parametrize(
    ("n", "kwargs", "expected"),
    [(1000, {}, {"ecs.DescribeServices": 100, "codebuild.BatchGetBuilds": 10, "ecs.DescribeTaskDefinition": 1000,
                 "ecs.TagResource": 2000, "secretsmanager.DescribeSecret": 1000, "secretsmanager.GetSecretValue": 1000,
                 "secretsmanager.TagResource": 1000}),
     (25, {"services": 20}, {"ecs.DescribeServices": 3, "codebuild.BatchGetBuilds": 1, "ecs.DescribeTaskDefinition": 20,
                             "ecs.TagResource": 40, "secretsmanager.DescribeSecret": 25, "secretsmanager.GetSecretValue": 25,
                             "secretsmanager.TagResource": 25})],
)
def test_bound(n: int, kwargs: dict, expected: dict) -> None:
    assert lib.bound(n, **kwargs) == expected


def test_bound_on_several_clusters_asks_the_others_for_those_not_on_the_default_one() -> None:
    assert lib.bound(300, elsewhere=150)["ecs.DescribeServices"] == 30 + 15
    assert lib.bound(10_000, elsewhere=5_000)["codebuild.BatchGetBuilds"] == 100


def test_against_bound_lists_the_bound_then_the_others() -> None:
    rows = lib.against_bound({"ecs.DescribeServices": 120, "ecr.DescribeRepositories": 1, "ecs.UpdateService": 3},
                             {"ecs.DescribeServices": 100, "ecs.TagResource": 200}, 100)
    assert [r["operation"] for r in rows] == ["ecs.DescribeServices", "ecs.TagResource", "ecs.UpdateService", "ecr.DescribeRepositories"]
    assert rows[0] == {"operation": "ecs.DescribeServices", "measured": 120, "bound": 100, "ratio": 1.2, "per_database": 1.2}
    assert rows[1]["measured"] == 0 and rows[1]["ratio"] == 0 and rows[2]["bound"] is None and rows[2]["ratio"] is None


def test_creations_count_a_refused_create_secret_apart() -> None:
    made = lib.inventory_diff({"services": 10, "secrets": 10, "builds": 10}, {"services": 10, "secrets": 10, "builds": 10})
    out = lib.creations({"secretsmanager.CreateSecret": 2, "ecs.DescribeServices": 1}, made)
    assert out["made_total"] == 0 and out["creating_calls_total"] == 0 and out["create_secret_refused"] == 2
    assert out["changes"] == {}
    bad = lib.creations({"ecs.CreateService": 1, "secretsmanager.CreateSecret": 1, "ecs.UpdateService": 4},
                        lib.inventory_diff({"services": 1, "secrets": 1}, {"services": 2, "secrets": 2}))
    assert bad["made_total"] == 2 and bad["creating_calls_total"] == 2 and bad["create_secret_refused"] == 0
    assert bad["changes"] == {"ecs.UpdateService": 4}


def _obj(name: str, endpoint: str, build: str | None, origin: str = "TakenBack") -> dict:
    return {"metadata": {"namespace": "bench-000", "name": name},
            "status": {"instance": {"endpointUrl": endpoint, "ecsServiceArn": f"arn:{name}"}, "activeBuildId": build,
                       "identity": {"serviceName": f"svc-{name}", "origin": origin}}}


def test_compare_shown() -> None:
    before = dict(lib.shown(_obj(n, f"http://e/{n}", f"b:{n}", "Created")) for n in ("a", "b", "c"))
    after = dict(lib.shown(o) for o in (_obj("a", "http://e/a", "b:a"), _obj("b", "http://e/b", None), _obj("c", "http://other", "b:c")))
    out = lib.compare_shown(before, after)
    assert out["same"] == {"endpoint": 2, "service": 3, "serviceArn": 3, "activeBuildId": 2}
    assert out["differ"] == ["bench-000/b", "bench-000/c"] and out["differ_count"] == 2
    assert out["origins"] == {"TakenBack": 3}


def test_default_quota_cost_is_the_slowest_family() -> None:
    calls = {"ecs.TagResource": 20_000, "ecs.DescribeServices": 1_000, "secretsmanager.GetSecretValue": 10_000,
             "secretsmanager.DescribeSecret": 10_000, "ecr.DescribeRepositories": 1, "ecs.Unknown": 5}
    cost = lib.default_quota_cost(calls, FAMILIES, OPERATIONS, 0.8)
    tag = cost["families"]["ecs.tag-modify"]
    assert tag["budget"] == "16/4 per s" and tag["seconds"] == pytest.approx((20_000 - 16) / 4, abs=0.1)
    assert cost["bottleneck"] == "ecs.tag-modify" and cost["seconds"] == tag["seconds"]
    assert cost["families"]["secretsmanager.read"]["calls"] == 20_000
    assert cost["families"]["ecs.service-read"]["seconds"] == pytest.approx((1_000 - 80) / 16, abs=0.1)
    assert "ecs.other" not in cost["families"]  # an operation the operator never calls is not costed
    assert lib.default_quota_cost({}, FAMILIES, OPERATIONS, 0.8) == {"fraction": 0.8, "families": {}, "seconds": 0.0, "bottleneck": None}


def test_table_renders_partial_and_full_results() -> None:
    assert "n/a" in lib.render_table({"n": 10, "rate_scale": 10.0})
    full = {"n": 2, "rate_scale": 10.0, "poll_interval_s": 60.0, "provisioning": {"all_ready_s": 9.0, "ready": 2},
            "takeback": {"ready": 2, "all_ready_s": 3.5, "ready_after_s": {"p50": 2.0, "p90": 3.0, "p99": 3.4},
                         "aws_calls_total": 12, "aws_calls_per_database": 6.0,
                         "against_bound": lib.against_bound({"ecs.DescribeServices": 1}, lib.bound(2), 2),
                         "creations": lib.creations({}, {}),
                         "default_quotas": lib.default_quota_cost({"ecs.TagResource": 4}, FAMILIES, OPERATIONS, 0.8)}}
    table = lib.render_table(full)
    assert "3.5 s (2/2 Ready)" in table and "ecs.tag-modify" in table and "bound 1, ratio 1.00" in table
