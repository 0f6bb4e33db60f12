"""bench/fleet.py's arithmetic: the floor AWS sets on a fleet change, build minutes and cost, and
main's projection (one build per database at the concurrent-build quota)."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import fleet  # noqa: E402

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def test_the_floor_is_the_build_then_one_registration_per_database_at_the_operators_share():
    assert fleet.floor_s(300, 30) == 30 + (300 - 16) / 0.8
    assert fleet.floor_s(10, 30) == 30  # within the bucket's burst


def test_build_minutes_are_aws_equivalent_and_billed_per_started_minute():
    builds = [{"startTime": T0, "endTime": T0 + timedelta(seconds=30)}, {"startTime": T0}]  # the second still runs
    assert fleet.build_figures(builds, 10) == {"builds_started": 2, "build_minutes": 5.0, "build_cost_usd": 0.05}


def test_main_builds_one_image_per_database_sixty_at_once():
    main = fleet.main_projection(1000, 5, 1)["provision"]
    assert main["build_minutes"] == 5000 and main["build_cost_usd"] == 50.0
    assert main["all_done_s"] == main["uncompressed_builds_s"] == 17 * 300  # about 83 min: the quota's arithmetic


def test_the_move_sets_the_version_on_every_database_only():
    objects = [{"kind": "Secret", "spec": {}}, {"kind": "ReflexDatabase", "spec": {"size": "micro"}}]
    moved = fleet.with_version(objects, "v1.5.0")
    assert moved[0] == objects[0] and moved[1]["spec"] == {"size": "micro", "serverVersion": "v1.5.0"}
    assert "serverVersion" not in objects[1]["spec"]


def test_at_raised_rates_the_floor_scales_with_the_registration_rate_and_its_bucket():
    assert fleet.floor_s(10000, 30, 15) == 30 + (10000 - 16 * 15) / (0.8 * 15)
    assert fleet.floor_s(10000, 30, 15) < fleet.floor_s(10000, 30) / 14


def test_results_are_named_by_their_rates_and_changes():
    assert fleet.result_name(1000, 1.0, False) == "fleet-1000.json"
    assert fleet.result_name(10000, 15.0, False) == "fleet-10000-x15.json"
    assert fleet.result_name(300, 1.0, True) == "fleet-300-waves.json"


def test_the_table_gives_the_default_quota_projection_and_the_waves():
    change = {"all_done_s": 900.0, "done_after_s": {"p50": 500.0}, "floor_s": 843.3, "ratio_to_floor": 1.067, "builds_started": 1,
              "build_minutes": 5.0, "build_cost_usd": 0.05, "aws_calls_by_operation": {"ecs.RegisterTaskDefinition": 10000}}
    r = {"n": 10000, "rate_scale": 15.0, "build_minutes": 5, "compression": 10, "build_seconds": 30, "poll_interval_s": 60,
         "commit": "abc", "default_quota_floor_s": 12510.0, "provision": change, "waves": change, "move": change,
         "main_projection": fleet.main_projection(10000, 5, 10, 15),
         "rollouts": [{"name": "v1-4-1", "target": "v1.4.1", "phase": "Complete", "moved": 3, "total": 3,
                       "waves": [{"size": 1}, {"size": 2}]}]}
    text = fleet.table(r)
    assert "raised ×15" in text and "| waves | 900.0 s |" in text
    assert "provision 13348 s" in text  # 12510 × 1.067: the projection at the default quotas
    assert "2 waves (1, 2), 3/3 moved" in text
    assert text.count("main (N builds") == 2  # no main row for the waves: main moved everything at once
