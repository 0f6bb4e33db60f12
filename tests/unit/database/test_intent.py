"""Starting a build (decide.intent) as a table: record the intent and start, send the same token
again within the window, look the build up past it, wait queued at the concurrent-build quota."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from reflex_operator.api.models import BuildIntent, ReflexDatabaseSpec, ReflexDatabaseStatus
from reflex_operator.database.inputs import Config, Desired
from reflex_operator.database import identity
from reflex_operator.api import reasons
from reflex_operator.database.intent import QUEUED_MESSAGE, StartFacts, start_build
from reflex_operator.database.inputs import BuildLookup
from reflex_operator.database.steps import FindBuild, StartBuild

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
SPEC = ReflexDatabaseSpec.model_validate({"source": {"secretRef": {"name": "db"}}})
CONFIG = Config(build_idempotency_window_seconds=300, build_idempotency_margin_seconds=60)
INPUTS = identity.build_inputs(SPEC, CONFIG.default_server_version)
TOKEN = identity.shared_build_token(CONFIG.cluster_identity, INPUTS.hash, 0)  # the fleet's: no uid in it


def intent(age: float, attempt: int = 0, queued: bool = False, input_hash: str = INPUTS.hash) -> BuildIntent:
    token = identity.shared_build_token(CONFIG.cluster_identity, input_hash, attempt)
    return BuildIntent(
        idempotency_token=token,
        attempt=attempt,
        input_hash=input_hash,
        image_uri=f"{CONFIG.image_repository_uri}:{identity.image_tag(CONFIG.cluster_identity, input_hash, attempt)}",
        recorded_at=NOW - timedelta(seconds=age),
        queued_since=NOW - timedelta(seconds=age + 100) if queued else None,
    )


# (what, recorded intent, refused, lookup, step, record, reason, recorded_at after: "now" | "kept")
CASES = [
    ("no intent: record it, then start", None, False, None, StartBuild, True, reasons.BUILDING, "now"),
    ("an intent for other inputs: a new one", intent(10, input_hash="other"), False, None, StartBuild, True, reasons.BUILDING, "now"),
    ("an intent of an earlier attempt: a new one", intent(10, attempt=1), False, None, StartBuild, True, reasons.BUILDING, "now"),
    ("fresh intent (a restart): the same token again", intent(30), False, None, StartBuild, False, reasons.BUILDING, "kept"),
    ("just inside the window less the margin", intent(239), False, None, StartBuild, False, reasons.BUILDING, "kept"),
    ("past the window less the margin: look it up", intent(240), False, None, FindBuild, False, reasons.BUILDING, "kept"),
    ("long expired: look it up", intent(86400), False, None, FindBuild, False, reasons.BUILDING, "kept"),
    ("expired, never started: recorded anew and started", intent(600), False, BuildLookup.ABSENT, StartBuild, True, reasons.BUILDING, "now"),
    ("expired, unknown: stalled, nothing started", intent(600), False, BuildLookup.INCONCLUSIVE, None, False, reasons.BUILD_UNKNOWN, "kept"),
    ("unknown before: stalled still, no look again", intent(900).model_copy(update={"unknown": True}), False, None, None, False, reasons.BUILD_UNKNOWN, "kept"),
    ("refused at the quota: queued, no step", intent(0), True, None, None, False, reasons.BUILD_QUEUED, "now"),
    ("queued, next try within the window: queued still", intent(30, queued=True), False, None, StartBuild, False, reasons.BUILD_QUEUED, "kept"),
]


@pytest.mark.parametrize("what,recorded,refused,lookup,step,record,reason,at", CASES, ids=[c[0] for c in CASES])
def test_start_build(what, recorded, refused, lookup, step, record, reason, at):
    desired = Desired("orders", "team-a", "u", 1, SPEC, ReflexDatabaseStatus(build_intent=recorded))
    got = start_build(desired, INPUTS, 0, CONFIG, StartFacts(NOW, refused, lookup))
    steps = got.outcome.steps
    assert [type(x) for x in steps] == ([step] if step else [])
    if step is StartBuild:
        assert steps[0].record is record and steps[0].idempotency_token == TOKEN and steps[0].image_uri.endswith(identity.image_tag(CONFIG.cluster_identity, INPUTS.hash, 0))
    if step is FindBuild:
        assert steps[0].since == recorded.recorded_at and steps[0].idempotency_token == TOKEN
    note = got.outcome.stall or got.outcome.progress
    assert note is not None and note[0] == reason
    assert got.intent is not None and got.intent.idempotency_token == TOKEN
    assert got.intent.recorded_at == (NOW if at == "now" else recorded.recorded_at)


def test_queued_keeps_when_it_was_first_refused_and_says_why():
    desired = Desired("orders", "team-a", "u", 1, SPEC, ReflexDatabaseStatus(build_intent=intent(0, queued=True)))
    got = start_build(desired, INPUTS, 0, CONFIG, StartFacts(NOW, refused=True))
    assert got.intent.queued_since == desired.status.build_intent.queued_since
    assert got.outcome.progress == (reasons.BUILD_QUEUED, QUEUED_MESSAGE) and got.outcome.stall is None
    first = start_build(Desired("orders", "team-a", "u", 1, SPEC, ReflexDatabaseStatus(build_intent=intent(0))), INPUTS, 0, CONFIG, StartFacts(NOW, refused=True))
    assert first.intent.queued_since == NOW
