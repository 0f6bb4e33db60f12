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
