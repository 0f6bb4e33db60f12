"""kubectl reflex rollout: the list and the status screen (pure renderers), and the parser."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from reflex_operator.plugin import render
from reflex_operator.plugin.cli import build_parser

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


def rollout(phase: str = "Halted") -> dict:
    started = (NOW - timedelta(minutes=3)).isoformat()
    return {
        "metadata": {"name": "server-v2", "creationTimestamp": (NOW - timedelta(minutes=5)).isoformat()},
        "spec": {"serverVersion": "v2", "paused": False},
        "status": {
            "phase": phase, "wave": 1, "total": 6, "moved": 0, "waiting": 5, "reason": "RolloutUnhealthy",
            "message": "canary ns/db-0 is unhealthy on v2: health degraded on v2",
            "waves": [{"number": 1, "databases": ["ns/db-0"], "startedAt": started}],
            "conditions": [{"type": "Halted", "status": "True", "reason": "RolloutUnhealthy", "message": "canary", "lastTransitionTime": started}],
        },
    }


def test_the_list_has_one_line_per_rollout():
    text = render.rollouts_table([rollout()], NOW)
    header, line = text.splitlines()
    assert header.split() == ["NAME", "VERSION", "PHASE", "WAVE", "MOVED", "WAITING", "PAUSED", "AGE", "MESSAGE"]
    assert line.split()[:8] == ["server-v2", "v2", "Halted", "1", "0/6", "5", "no", "5m"]
    assert render.rollouts_table([], NOW) == "No rollouts.\n"


def test_the_status_screen_shows_why_and_the_waves():
    text = render.rollout_screen(rollout(), NOW)
    assert "Phase:   Halted" in text and "canary ns/db-0 is unhealthy" in text
    assert "Moved:   0 of 6 (5 waiting)" in text
    assert "Waves:" in text and "ns/db-0" in text.split("Waves:")[1]


def test_the_database_screen_names_its_rollout():
    obj = {"metadata": {"name": "db-1", "namespace": "ns"}, "status": {"phase": "Running", "rollout": {
        "name": "server-v2", "serverVersion": "v2", "state": "Held", "since": NOW.isoformat(), "message": "rollout server-v2 is paused"}}}
    assert "Rollout:" in render.status_screen(obj, NOW) and "server-v2: Held (rollout server-v2 is paused)" in render.status_screen(obj, NOW)


def test_the_parser():
    args = build_parser().parse_args(["rollout", "pause", "server-v2"])
    assert (args.command, args.action, args.name) == ("rollout", "pause", "server-v2")
    assert build_parser().parse_args(["rollout"]).action is None


def test_the_status_screen_of_a_template_rollout_names_the_template():
    obj = rollout("Progressing")
    obj["spec"]["template"] = "b4da712f71d1"
    text = render.rollout_screen(obj, NOW)
    assert "Template: b4da712f71d1 (the operator's task definition template)" in text
    assert "Template" not in render.rollout_screen(rollout(), NOW)
