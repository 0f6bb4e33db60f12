"""Build starts through the real pass (the in-memory world): queued at the concurrent-build quota,
crash-safe without listing the project's builds, within and past CodeBuild's idempotency window."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from reflex_operator.api.models import ConditionType, Phase
from reflex_operator.api import reasons
from reflex_operator.database import steps as s
from tests.unit.world import World, one_pass, resource, settle


def cond(d, kind: ConditionType):
    return next(c for c in d.status.conditions if c.type == kind.value)


def test_a_start_refused_at_the_quota_waits_queued_then_starts():
    w, d = World(build_quota_full=True), resource()
    for _ in range(3):
        d, _ = one_pass(w, d)
        w.tick(30)
    assert d.status.phase is Phase.BUILDING
    reconciling, stalled = cond(d, ConditionType.RECONCILING), cond(d, ConditionType.STALLED)
    assert reconciling.status == "True" and reconciling.reason == reasons.BUILD_QUEUED
    assert "concurrent-build quota" in reconciling.message and stalled.status == "False"
    assert d.status.build_intent is not None and d.status.build_intent.queued_since is not None
    assert w.start_build_calls == 0 and not [e for e in w.events if e.warning]
    assert w.rt is not None and w.rt.queue.failures(("team-a", "orders")) == 0
    w.build_quota_full = False
    d, _ = settle(w, d)
    assert d.status.phase is Phase.RUNNING and d.status.build_intent is None
    assert w.start_build_calls == 1 and len(w.builds) == 1


def test_a_crash_after_start_build_is_recovered_by_the_fleets_look_without_a_call():
    """The restarted operator's first look over the project (``controller.fleet``) finds the build:
    the database adopts it, with no StartBuild and no look of its own, however long it was down."""
    for down in (60, 600):
        w, d = World(), resource()
        d, _ = one_pass(w, d, crash=True)
        w.tick(down)
        d, p = one_pass(w, d)
        assert not [x for x in p.steps if isinstance(x, (s.StartBuild, s.FindBuild))] and w.scans == [None, None]
        assert len(d.status.builds) == 1 and d.status.build_intent is None and d.status.builds[0].shared
        d, _ = settle(w, d)
        assert d.status.phase is Phase.RUNNING and w.start_build_calls == 1 and len(w.builds) == 1 and w.find_build_calls == 0


# The tests below are of the database's own intent (``database.intent``), the second line of
# defence: the fleet's look does not see the build (a project with more builds since than it reads).


def test_a_crash_after_start_build_recovers_with_the_same_token_within_the_window():
    w, d = World(scan_sees=False), resource()
    d, p = one_pass(w, d, crash=True)  # StartBuild took effect; the status after it was never written
    assert [type(x) for x in p.steps if isinstance(x, s.StartBuild)] and w.start_build_calls == 1
    assert d.status.build_intent is not None and not d.status.builds  # only the intent is in status
    w.tick(60)
    d, p = one_pass(w, d)
    starts = [x for x in p.steps if isinstance(x, s.StartBuild)]
    assert len(starts) == 1 and not starts[0].record and w.find_build_calls == 0
    assert len(d.status.builds) == 1 and d.status.build_intent is None
    d, _ = settle(w, d)
    assert d.status.phase is Phase.RUNNING and w.start_build_calls == 1 and len(w.builds) == 1


def test_a_crash_after_start_build_past_the_window_is_looked_up_not_started_again():
    w, d = World(scan_sees=False), resource()
    d, _ = one_pass(w, d, crash=True)
    w.tick(600)  # the operator was down for longer than CodeBuild's idempotency window
    d, p = one_pass(w, d)
    assert [type(x) for x in p.steps if isinstance(x, (s.StartBuild, s.FindBuild))] == [s.FindBuild]
    assert len(d.status.builds) == 1 and d.status.build_intent is None
    d, _ = settle(w, d)
    assert d.status.phase is Phase.RUNNING and w.start_build_calls == 1 and len(w.builds) == 1 and w.find_build_calls == 1


def test_an_expired_intent_that_never_reached_codebuild_is_started_after_the_lookup():
    w, d = World(), resource()
    d, _ = one_pass(w, d, crash=True)
    w.builds.clear()  # as if the operator died before its StartBuild reached CodeBuild
    w.start_build_calls = 0
    w.tick(600)
    d, p = one_pass(w, d)
    assert [type(x) for x in p.steps if isinstance(x, (s.StartBuild, s.FindBuild))] == [s.FindBuild]
    assert d.status.build_intent is not None and d.status.phase is Phase.BUILDING
    d, _ = settle(w, d)
    assert d.status.phase is Phase.RUNNING and w.start_build_calls == 1 and w.find_build_calls == 1


def test_an_inconclusive_lookup_stalls_and_a_new_rebuild_token_starts_over():
    w, d = World(find_inconclusive=True), resource()
    d, _ = one_pass(w, d, crash=True)
    w.builds.clear()
    w.tick(600)
    d, _ = one_pass(w, d)
    stalled = cond(d, ConditionType.STALLED)
    assert stalled.status == "True" and stalled.reason == reasons.BUILD_UNKNOWN and "rebuildToken" in stalled.message
    d, _ = one_pass(w, d)  # the next pass does not look again
    assert w.find_build_calls == 1 and cond(d, ConditionType.STALLED).reason == reasons.BUILD_UNKNOWN
    d = replace(d, spec=d.spec.model_copy(update={"rebuild_token": "again"}), generation=2)
    d, _ = settle(w, d)
    assert d.status.phase is Phase.RUNNING and len(w.builds) == 1
