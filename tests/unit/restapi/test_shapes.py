"""What /instance says of the plan (allowedSyncModes, each mode's minimum interval) and of the
lifecycle (phase, message, conditions, uptime, plan, placement), from a status and the watched plans."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from reflex_operator.restapi import shapes

FIXTURE = Path(__file__).parent.parent / "fixtures" / "plugin_status.json"
Obj = dict[str, Any]
PLAN = {"computeUnitsLimit": 8, "maxInstanceSize": "large", "pollModeMinSyncInterval": 30, "dataTransferGBPerMonth": 100}


def db(plan: str | None = "team", mode: str | None = None) -> Obj:
    obj = json.loads(FIXTURE.read_text())
    obj["metadata"].update(uid="u1", creationTimestamp="2026-01-01T09:00:00Z")
    if plan:
        obj["status"]["plan"] = {"name": plan, **PLAN, "pollModeMinSyncInterval": 20}
    if mode:
        obj["spec"]["sync"] = {"mode": mode}
    return obj


def plan(name: str = "team", **spec: Any) -> dict[str, Obj]:
    return {name: {"metadata": {"name": name}, "spec": {**PLAN, **spec}}}


def database(obj: Obj, plans: dict[str, Obj]) -> Obj:
    return shapes.instance_response(obj, plans).model_dump(mode="json", by_alias=True)["database"]


def test_a_poll_only_plan_allows_poll_only_with_its_minimum() -> None:
    got = database(db(), plan(allowedSyncModes=["poll"]))
    assert got["allowedSyncModes"] == ["poll"]
    assert got["minSyncInterval"] == 30 and got["minSyncIntervals"] == {"poll": 30}


def test_stream_has_the_specs_minimum_not_the_poll_one() -> None:
    got = database(db(mode="stream"), plan())
    assert got["allowedSyncModes"] == ["poll", "stream"]
    assert got["minSyncIntervals"] == {"poll": 30, "stream": shapes.SPEC_MIN_SYNC_INTERVAL} and got["minSyncInterval"] == 1


def test_no_plan_allows_every_mode() -> None:
    got = database(db(plan=None), {})
    assert got["allowedSyncModes"] == ["poll", "stream"] and got["minSyncIntervals"] == {"poll": 1, "stream": 1}


def test_a_plan_not_seen_falls_back_to_the_status_copy_of_its_minimum() -> None:
    got = database(db(), {})
    assert got["allowedSyncModes"] == ["poll", "stream"] and got["minSyncInterval"] == 20


def test_the_plan_limits_follow_the_live_plan() -> None:
    doc = shapes.instance_response(db(), plan(maxInstanceSize="medium")).model_dump(mode="json", by_alias=True)
    assert doc["maxInstanceSize"] == "medium" and doc["pollModeMinSyncInterval"] == 30


def test_lifecycle_says_phase_message_conditions_uptime_plan_and_placement() -> None:
    obj = db()
    obj["status"]["instance"]["uptimeSeconds"] = 3600
    obj["status"]["placement"] = {"cluster": "reflex-b", "inSettings": True}
    got = shapes.instance_response(obj, {}).model_dump(mode="json", by_alias=True)["lifecycle"]
    assert got["phase"] == "Running" and got["status"] == "STATUS_RUNNING" and got["message"] == "serving build b2"
    assert {c["type"]: c["status"] for c in got["conditions"]} == {"Ready": "True", "Reconciling": "False", "Stalled": "False", "Degraded": "False"}
    assert got["conditions"][0]["reason"] == "Running"
    assert got["uptimeSeconds"] == 3600 and got["plan"] == "team" and got["placement"] == {"cluster": "reflex-b", "inSettings": True}
    assert shapes.summary(obj).model_dump(mode="json", by_alias=True)["lifecycle"] == got


@pytest.mark.parametrize(("phase", "word"), [("Failed", "STATUS_ERROR"), ("Terminated", "STATUS_TERMINATED"), ("Building", "STATUS_INITIALIZING")])
def test_lifecycle_shows_building_failed_terminated_and_why(phase: str, word: str) -> None:
    obj = copy.deepcopy(db())
    obj["status"].update(phase=phase, message=f"why {phase}")
    got = shapes.lifecycle(obj)
    assert (got.phase, got.status, got.message) == (phase, word, f"why {phase}")


def test_before_the_first_pass_the_lifecycle_is_pending_and_empty() -> None:
    obj = db()
    obj["status"] = {}
    got = shapes.lifecycle(obj)
    assert (got.phase, got.status, got.conditions, got.plan, got.placement) == ("Pending", "STATUS_NEW", [], None, None)


def test_lifecycle_shows_who_owns_the_aws_resources() -> None:
    obj = copy.deepcopy(db())
    obj["spec"]["deletionPolicy"] = "Release"
    obj["status"]["identity"] = {
        "clusterIdentity": "prod-eu", "serviceName": "hosted-orders", "taskFamily": "hosted-orders",
        "secretName": "hosted/orders", "origin": "Adopted", "since": "2026-01-01T10:00:00Z", "tagged": True,
    }
    got = shapes.lifecycle(obj).model_dump(mode="json", by_alias=True)["ownership"]
    assert got == {
        "clusterIdentity": "prod-eu", "serviceName": "hosted-orders", "taskFamily": "hosted-orders", "secretName": "hosted/orders",
        "origin": "Adopted", "since": "2026-01-01T10:00:00Z", "tagged": True, "deletionPolicy": "Release",
    }
    unrecorded = db()
    del unrecorded["status"]["identity"]
    assert shapes.lifecycle(unrecorded).ownership is None  # before the first pass records it
