"""The fleet's shared builds, pure (``database.fleet``, ``build.adopted``, ``identity``): tables of
who shares a build, who uses one, and what becomes of one no database uses."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from reflex_operator.api.models import BuildState, ReflexDatabaseSpec
from reflex_operator.database import fleet, identity
from reflex_operator.database.build import adopted
from reflex_operator.database.inputs import BuildOutcome, ObservedBuild
from reflex_operator.database.steps import StartBuild

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
SPEC = ReflexDatabaseSpec.model_validate({"source": {"secretRef": {"name": "db"}, "schemas": ["public"]}})
INPUTS = identity.build_inputs(SPEC, "v1.4.0")


def build(outcome: BuildOutcome = BuildOutcome.SUCCEEDED, input_hash: str = INPUTS.hash, cid: str = "p:1", **kw) -> ObservedBuild:
    defaults = dict(shared=True, attempt=0, idempotency_token="tok", image_uri=f"repo:{identity.image_tag('default', input_hash, 0)}",
                    started_at=NOW - timedelta(minutes=6), finished_at=NOW - timedelta(minutes=1) if outcome.finished else None,
                    compute_type="BUILD_GENERAL1_MEDIUM", server_version="v1.4.0", schemas=("public",))
    return ObservedBuild(codebuild_id=cid, input_hash=input_hash, outcome=outcome, **(defaults | kw))


# --------------------------------------------------------------------------- what is shared


@pytest.mark.parametrize(
    "what,a,b,same",
    [
        ("same inputs, any database", ("default", INPUTS.hash, 0, None), ("default", INPUTS.hash, 0, None), True),
        ("another attempt", ("default", INPUTS.hash, 0, None), ("default", INPUTS.hash, 1, None), False),
        ("other inputs", ("default", INPUTS.hash, 0, None), ("default", "other", 0, None), False),
        ("another installation never shares", ("default", INPUTS.hash, 0, None), ("prod-eu", INPUTS.hash, 0, None), False),
        ("a rebuildToken's build is its database's", ("default", INPUTS.hash, 0, None), ("default", INPUTS.hash, 0, "team-a/orders"), False),
        ("two databases' rebuildTokens: two builds", ("default", INPUTS.hash, 0, "team-a/x"), ("default", INPUTS.hash, 0, "team-b/x"), False),
    ],
)
def test_tokens_and_tags_are_shared_exactly_when_the_build_is(what, a, b, same):
    assert (identity.shared_build_token(*a) == identity.shared_build_token(*b)) is same
    assert (identity.image_tag(*a) == identity.image_tag(*b)) is same
    tag = identity.image_tag(*a)
    assert len(tag) <= 128 and tag == tag.lower() and tag.startswith(a[1])


def test_the_owner_is_the_one_tenant_specific_input():
    assert identity.build_owner(INPUTS, "team-a", "orders") is None  # a server version and schema names: no tenant data
    mine = identity.build_inputs(SPEC.model_copy(update={"rebuild_token": "r1"}), "v1.4.0")
    assert identity.build_owner(mine, "team-a", "orders") == "team-a/orders"


@pytest.mark.parametrize(
    "what,fleet_build,rebuild_token,adopts",
    [
        ("the fleet's build of the same inputs", build(), None, True),
        ("of other inputs", build(input_hash="other"), None, False),
        ("a private build is no one else's", build(shared=False, owner="team-b/x"), None, False),
        ("a database with a rebuildToken takes none", build(), "r1", False),
    ],
)
def test_a_database_adopts_the_fleets_build_of_its_inputs(what, fleet_build, rebuild_token, adopts):
    inputs = identity.build_inputs(SPEC.model_copy(update={"rebuild_token": rebuild_token}), "v1.4.0")
    if rebuild_token:
        fleet_build = build(input_hash=inputs.hash)
    assert (adopted(inputs, (fleet_build,)) == (fleet_build,)) is adopts


# ----------------------------------------------------------------------------- who uses it


def body(name: str, ns: str = "team-a", spec: dict | None = None, status: dict | None = None, deleting: bool = False) -> dict:
    meta = {"name": name, "namespace": ns, **({"deletionTimestamp": "2026-11-22T12:00:00Z"} if deleting else {})}
    return {"metadata": meta, "spec": {"source": {"secretRef": {"name": "db"}, "schemas": ["public"]}, **(spec or {})}, "status": status or {}}


def test_users_are_the_databases_that_want_its_inputs_run_it_or_pin_it():
    uses = [
        fleet.use_of(body("wants"), "v1.4.0"),
        fleet.use_of(body("other-ns", ns="team-b"), "v1.4.0"),
        fleet.use_of(body("moved-on", spec={"serverVersion": "v1.5.0"}, status={"activeBuildId": "1"}), "v1.4.0"),
        fleet.use_of(body("pins", spec={"serverVersion": "v1.5.0", "buildId": "1"}), "v1.4.0"),
        fleet.use_of(body("elsewhere", spec={"serverVersion": "v1.5.0"}), "v1.4.0"),
        fleet.use_of(body("own-build", spec={"rebuildToken": "r"}), "v1.4.0"),
        fleet.use_of(body("leaving", deleting=True), "v1.4.0"),
        fleet.use_of({"metadata": {"name": "bad"}, "spec": {"size": "huge"}}, "v1.4.0"),
    ]
    index = fleet.index(u for u in uses if u is not None)
    assert fleet.users(build(), index) == ["team-a/moved-on", "team-a/pins", "team-a/wants", "team-b/other-ns"]
    assert fleet.users(build(input_hash="nobody", cid="p:9"), index) == []


# ------------------------------------------------------------------ what becomes of an unused one

DAY = 86400.0


@pytest.mark.parametrize(
    "what,outcome,used,unused_for,since,stop,retire",
    [
        ("used: kept, no unused time", BuildOutcome.SUCCEEDED, True, 10 * DAY, None, False, False),
        ("first seen unused: counted from now", BuildOutcome.SUCCEEDED, False, None, 0, False, False),
        ("unused less than the retention", BuildOutcome.SUCCEEDED, False, DAY, DAY, False, False),
        ("unused for the retention: deleted with its image", BuildOutcome.SUCCEEDED, False, 7 * DAY, 7 * DAY, False, True),
        ("a failed one too", BuildOutcome.FAILED, False, 8 * DAY, 8 * DAY, False, True),
        ("running, unwanted for a moment: left (a database may adopt it)", BuildOutcome.IN_PROGRESS, False, 30, 30, False, False),
        ("running, unwanted past the grace: stopped", BuildOutcome.IN_PROGRESS, False, fleet.STOP_GRACE_SECONDS, fleet.STOP_GRACE_SECONDS, True, False),
        ("running and wanted: left", BuildOutcome.IN_PROGRESS, True, DAY, None, False, False),
    ],
)
def test_verdict(what, outcome, used, unused_for, since, stop, retire):
    before = NOW - timedelta(seconds=unused_for) if unused_for is not None else None
    got = fleet.verdict(build(outcome), ["team-a/x"] if used else [], before, NOW, 7 * DAY)
    assert (got.stop, got.retire) == (stop, retire)
    assert got.unused_since == (None if since is None else NOW - timedelta(seconds=since))


def test_a_record_says_what_the_build_is_who_uses_it_and_its_cost():
    users = [f"ns/db-{i:02d}" for i in range(25)]
    shown = fleet.build_status(build(), users, None)
    assert shown.state is BuildState.SUCCEEDED and shown.databases == 25 and len(shown.used_by) == 20
    assert shown.build_duration_seconds == 300 and shown.cost_estimate_cents == 5 and shown.codebuild_id == "p:1"
    assert fleet.build_status(build(), [], NOW).unused_since == NOW
    failed = fleet.build_status(build(BuildOutcome.STOPPED), [], NOW)
    assert failed.state is BuildState.FAILED and failed.failure_reason == "stopped"
    assert fleet.build_name(build()) == identity.image_tag("default", INPUTS.hash, 0)


# ---------------------------------------------------------------------- a start before a restart


def test_a_start_is_recorded_with_its_token_and_time_and_read_back_by_its_installation_only():
    step = StartBuild(inputs=INPUTS, idempotency_token="tok-1", image_uri="repo:tag-1", resource="", uid="", attempt=2, cluster_identity="c1")
    spec = fleet.start_spec(step, NOW)
    assert (spec.idempotency_token, spec.attempt, spec.recorded_at, spec.cluster_identity) == ("tok-1", 2, NOW, "c1")
    record = {"spec": spec.wire(), "status": {}}
    assert fleet.pending_of(record, "c1") == (spec, None)
    assert fleet.pending_of(record | {"status": {"codebuildId": "p:7"}}, "c1") == (spec, "p:7")
    assert fleet.pending_of(record, "c2") is None  # another installation's: never touched
    assert fleet.pending_of({"spec": {"inputHash": 1}}, "c1") is None


@pytest.mark.parametrize("age,action", [(0, "send"), (239, "send"), (240, "find"), (86400, "find")])
def test_a_recorded_start_is_sent_again_within_the_window_and_looked_up_past_it(age, action):
    pending = fleet.Pending("tag", "tok", NOW - timedelta(seconds=age))
    assert fleet.resolve(pending, NOW, 240.0) == action
