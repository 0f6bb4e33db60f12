"""Snapshot tests of kubectl reflex's human output, rendered from a fixed status document at a fixed
time. The expected text is in tests/unit/snapshots/; to accept a deliberate change, run with
REFLEX_UPDATE_SNAPSHOTS=1 and review the diff."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from reflex_operator.plugin import render

HERE = Path(__file__).parent
DOC = json.loads((HERE / "fixtures" / "plugin_status.json").read_text())
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def _check(name: str, text: str) -> None:
    path = HERE / "snapshots" / name
    if os.environ.get("REFLEX_UPDATE_SNAPSHOTS") == "1":
        path.write_text(text)
    assert text == path.read_text()


def test_status_screen() -> None:
    _check("status.txt", render.status_screen(DOC, NOW))


def test_builds_table() -> None:
    _check("builds.txt", render.builds_table(DOC, NOW))


def test_notifications_table() -> None:
    _check("notifications.txt", render.notifications_table(DOC, NOW))


def test_fleet_lines_and_summary() -> None:
    outcomes = [render.Report("a", "db-00", "refused", "the instance is already paused"),
                render.Report("a", "db-01", "done", "Paused"), render.Report("b", "db-02", "done", "Paused")]
    text = "\n".join(render.outcome_line(o, with_namespace=True) for o in outcomes) + "\n" + render.summary(outcomes) + "\n"
    _check("fleet.txt", text)


def test_colour_only_when_asked() -> None:
    assert "\x1b[" not in render.status_screen(DOC, NOW)
    assert "\x1b[32mok\x1b[0m" in render.status_screen(DOC, NOW, render.Paint(on=True))


@pytest.mark.parametrize(
    ("ms", "text"),
    [(850, "850ms"), (4200, "4.2s"), (192_000, "3m12s"), (180_000, "3m"), (7_500_000, "2h5m"), (273_600_000, "3d4h")],
)
def test_human_durations(ms: int, text: str) -> None:
    assert render.duration_ms(ms) == text


def test_snapshot_age_is_counted_from_its_time() -> None:
    """With ``snapshotTime`` the age is counted now, as kubectl get does (not the figure written at
    the last check), and says how old the other figures are."""
    doc = json.loads(json.dumps(DOC))
    doc["status"]["instance"]["snapshotTime"] = "2026-01-01T11:50:00Z"  # the check was at 11:59:58
    screen = render.status_screen(doc, NOW)
    line = next(x for x in screen.splitlines() if "Snapshot age" in x)
    assert "10m" in line and "figures as of 2s ago" in line


def test_fleet_builds_table() -> None:
    def item(name: str, version: str, users: list[str], cents: int | None, state: str | None) -> dict:
        recorded = "2026-01-01T11:00:00Z" if state else "2026-01-01T11:30:00Z"
        spec = {"inputHash": "h", "attempt": 0, "serverVersion": version, "schemas": ["public"], "clusterIdentity": "c",
                "idempotencyToken": "t", "imageUri": f"repo:{name}", "recordedAt": recorded}
        status = {"state": state, "databases": len(users), "usedBy": users, "costEstimateCents": cents,
                  "startedAt": "2026-01-01T11:00:00Z" if state else None, "buildDurationSeconds": 300 if cents else None}
        return {"metadata": {"name": name}, "spec": spec, "status": status}

    text = render.fleet_builds_table([item("old-0-aa", "v1.4.0", ["a/x", "a/y", "b/x", "b/y"], 5, "succeeded"),
                                      item("new-0-aa", "v1.5.0", [], None, None)], NOW)
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["NAME", "VERSION", "SCHEMAS", "STATE"]
    assert lines[1].split()[:4] == ["new-0-aa", "v1.5.0", "public", "starting"]  # newest first
    assert "a/x, a/y, b/x +1" in lines[2] and "$0.05" in lines[2]
    assert lines[-1] == "2 builds for 4 database uses, $0.05 in all"
    assert render.fleet_builds_table([], NOW) == "No shared builds.\n"
