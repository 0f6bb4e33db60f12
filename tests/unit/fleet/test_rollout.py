"""The rollout planner (fleet.rollout), as tables: canary, growth, the in-flight bound, the soak,
halts on a failed build or an unhealthy canary, pause, resume, abort, supersession, completion."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from reflex_operator.api import reasons
from reflex_operator.api.rollout import MemberState, ReflexRolloutSpec, ReflexRolloutStatus, RolloutMember, RolloutPhase, Wave
from reflex_operator.fleet.rollout import Admission, Pace, admission_of, plan_rollout, wave_size

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)
NAME, V = "server-v2", "v2"
PACE = Pace(canary=1, growth=2.0, max_in_flight=4, soak_seconds=60)

H, D, V_, OK, BAD, F = MemberState.HELD, MemberState.DEPLOYING, MemberState.VERIFYING, MemberState.HEALTHY, MemberState.UNHEALTHY, MemberState.FAILED


def member(state: MemberState, ago: float = 0, wave: int | None = None, message: str | None = None) -> RolloutMember:
    return RolloutMember(name=NAME, server_version=V, state=state, since=NOW - timedelta(seconds=ago), wave=wave, message=message)


def fleet(n: int, state: MemberState = H) -> dict[str, RolloutMember]:
    return {f"ns/db-{i:02d}": member(state) for i in range(n)}


def waves(*groups: list[str], settled: bool = True) -> ReflexRolloutStatus:
    out = [Wave(number=i + 1, databases=g, started_at=NOW - timedelta(minutes=10), settled_at=NOW if settled and i < len(groups) - 1 else None)
           for i, g in enumerate(groups)]
    return ReflexRolloutStatus(phase=RolloutPhase.PROGRESSING, wave=len(out), waves=out)


def plan(members, before=None, spec=None, pace=PACE, default=V):
    return plan_rollout(NAME, spec or ReflexRolloutSpec(server_version=V), before or ReflexRolloutStatus(), members, pace, default, NOW)


@pytest.mark.parametrize(
    "number,pace,size",
    [
        (1, Pace(canary=1), 1),
        (2, Pace(canary=1, growth=2), 2),
        (3, Pace(canary=1, growth=2), 4),
        (5, Pace(canary=1, growth=2, max_in_flight=10), 10),  # 16, bounded
        (2, Pace(canary=3, growth=1.5), 5),  # 4.5 rounds up
        (4, Pace(canary=2, growth=1), 2),  # no growth
    ],
)
def test_wave_size(number, pace, size):
    assert wave_size(number, pace) == size


def test_the_first_wave_is_the_canary_first_in_name_order():
    p = plan(fleet(6))
    assert p.admitted == ("ns/db-00",)
    assert p.status.phase is RolloutPhase.PROGRESSING and p.status.wave == 1
    assert p.status.waves[0].databases == ["ns/db-00"] and p.status.waves[0].started_at == NOW
    assert p.status.total == 6 and p.status.waiting == 5 and p.status.moved == 0
    assert [e[0] for e in p.events] == [reasons.ROLLOUT_WAVE_STARTED]
    assert "canary" in p.events[0][1]


@pytest.mark.parametrize(
    "canary_state,ago,admits,wake",
    [
        (H, 0, (), None),  # admitted, its pass has not run yet
        (D, 30, (), None),  # building or deploying
        (V_, 5, (), None),  # waiting for its first sample on the new version
        (OK, 20, (), 40.0),  # healthy, soaking: 40 s more
        (OK, 60, ("ns/db-01", "ns/db-02"), None),  # soaked: wave 2 is twice the canary
    ],
)
def test_a_wave_goes_on_only_once_the_one_before_is_healthy_for_the_soak(canary_state, ago, admits, wake):
    members = fleet(6)
    members["ns/db-00"] = member(canary_state, ago, wave=1)
    p = plan(members, waves(["ns/db-00"]))
    assert p.admitted == admits
    assert p.wake_in == (pytest.approx(wake) if wake else None)
    assert p.status.phase is RolloutPhase.PROGRESSING
    if admits:
        assert p.status.waves[0].settled_at == NOW and p.status.wave == 2


def test_every_database_of_a_wave_must_be_healthy():
    members = fleet(6)
    members["ns/db-00"] = member(OK, 600, wave=1)
    members["ns/db-01"] = member(OK, 600, wave=2)
    members["ns/db-02"] = member(D, 10, wave=2)
    p = plan(members, waves(["ns/db-00"], ["ns/db-01", "ns/db-02"]))
    assert p.admitted == () and "wave 2: 1/2 healthy" in (p.status.message or "")


def test_waves_grow_up_to_the_in_flight_bound():
    members = fleet(20)
    done = [f"ns/db-{i:02d}" for i in range(7)]  # waves 1, 2, 3: 1 + 2 + 4
    for key in done:
        members[key] = member(OK, 600, wave=1)
    p = plan(members, waves(done[:1], done[1:3], done[3:7]))
    assert len(p.admitted) == 4  # wave 4 would be 8: bounded by max_in_flight
    assert p.admitted == tuple(f"ns/db-{i:02d}" for i in range(7, 11))


def test_a_database_that_left_the_rollout_is_not_waited_for():
    members = fleet(3)
    del members["ns/db-00"]  # deleted, or pinned spec.serverVersion: no status.rollout any more
    p = plan(members, waves(["ns/db-00"]))
    assert p.admitted == ("ns/db-01", "ns/db-02")


def test_the_spec_overrides_the_pace():
    spec = ReflexRolloutSpec(server_version=V, canary=3)
    assert plan(fleet(6), spec=spec).admitted == ("ns/db-00", "ns/db-01", "ns/db-02")


# ------------------------------------------------------------------------------------- halts


def test_an_unhealthy_canary_halts_the_rollout():
    members = fleet(6)
    members["ns/db-00"] = member(BAD, 5, wave=1, message="health degraded on v2")
    p = plan(members, waves(["ns/db-00"]))
    assert p.status.phase is RolloutPhase.HALTED and p.admitted == ()
    assert p.status.reason == reasons.ROLLOUT_UNHEALTHY
    assert "canary ns/db-00 is unhealthy on v2" in (p.status.message or "")
    assert p.status.halted_at == NOW
    halted = next(c for c in p.status.conditions if c.type == "Halted")
    assert halted.status == "True" and halted.reason == reasons.ROLLOUT_UNHEALTHY
    assert p.events == ((reasons.ROLLOUT_UNHEALTHY, f"rollout halted: {p.status.message}", True),)


def test_a_failed_build_of_the_target_halts_the_rollout():
    members = fleet(6)
    members["ns/db-00"] = member(F, 5, wave=1, message="build of v2 failed: exit status 2")
    p = plan(members, waves(["ns/db-00"]))
    assert p.status.phase is RolloutPhase.HALTED and p.status.reason == reasons.ROLLOUT_BUILD_FAILED
    assert "ns/db-00 could not move to v2: build of v2 failed" in (p.status.message or "")


def test_an_unhealthy_database_not_moved_by_the_waves_does_not_halt():
    members = fleet(6)
    members["ns/db-00"] = member(OK, 600, wave=1)
    members["ns/db-05"] = member(BAD, 5)  # it moved on its own (unhealthy before: not held)
    assert plan(members, waves(["ns/db-00"])).status.phase is RolloutPhase.PROGRESSING


def test_a_halt_stays_until_resumed_then_goes_on_if_the_cause_is_gone():
    members = fleet(6)
    members["ns/db-00"] = member(OK, 600, wave=1)  # recovered
    halted = waves(["ns/db-00"]).model_copy(update={"phase": RolloutPhase.HALTED, "reason": reasons.ROLLOUT_UNHEALTHY, "message": "canary"})
    p = plan(members, halted)
    assert p.status.phase is RolloutPhase.HALTED and p.admitted == () and p.events == ()
    resumed = plan(members, halted, spec=ReflexRolloutSpec(server_version=V, resume_token="r1"))
    assert resumed.status.phase is RolloutPhase.PROGRESSING and resumed.admitted == ("ns/db-01", "ns/db-02")
    assert resumed.status.resumed_token == "r1" and resumed.status.halted_at is None
    again = plan(members, resumed.status, spec=ReflexRolloutSpec(server_version=V, resume_token="r1"))
    assert again.status.resumed_token == "r1"  # the same token lifts nothing twice


def test_a_resume_while_the_cause_remains_halts_again():
    members = fleet(6)
    members["ns/db-00"] = member(BAD, 600, wave=1)
    halted = waves(["ns/db-00"]).model_copy(update={"phase": RolloutPhase.HALTED, "reason": reasons.ROLLOUT_UNHEALTHY})
    p = plan(members, halted, spec=ReflexRolloutSpec(server_version=V, resume_token="r1"))
    assert p.status.phase is RolloutPhase.HALTED and p.admitted == ()


# --------------------------------------------------------------------- the user's controls


@pytest.mark.parametrize(
    "spec,default,phase,reason",
    [
        (ReflexRolloutSpec(server_version=V, paused=True), V, RolloutPhase.PAUSED, reasons.ROLLOUT_PAUSED),
        (ReflexRolloutSpec(server_version=V, abort=True), V, RolloutPhase.ABORTED, reasons.ROLLOUT_ABORTED),
        (ReflexRolloutSpec(server_version=V, abort=True, paused=True), V, RolloutPhase.ABORTED, reasons.ROLLOUT_ABORTED),
        (ReflexRolloutSpec(server_version=V), "v3", RolloutPhase.SUPERSEDED, reasons.ROLLOUT_SUPERSEDED),
    ],
)
def test_pause_abort_and_supersession_admit_no_new_wave(spec, default, phase, reason):
    members = fleet(6)
    members["ns/db-00"] = member(OK, 600, wave=1)
    p = plan(members, waves(["ns/db-00"]), spec=spec, default=default)
    assert p.status.phase is phase and p.status.reason == reason and p.admitted == ()
    assert [e[0] for e in p.events] == [reason]


def test_a_rollout_completes_once_nobody_waits_and_the_last_wave_soaked():
    members = {k: member(OK, 600, wave=1) for k in fleet(3)}
    p = plan(members, waves(["ns/db-00"], ["ns/db-01", "ns/db-02"]))
    assert p.status.phase is RolloutPhase.COMPLETE and p.status.moved == 3 and p.status.waiting == 0
    assert next(c for c in p.status.conditions if c.type == "Complete").status == "True"
    assert p.events == ((reasons.ROLLOUT_COMPLETE, "every database moved to v2", False),)
    assert plan(members, p.status).events == ()  # once


def test_a_database_held_after_completion_is_admitted_in_a_new_wave():
    members = {k: member(OK, 600, wave=1) for k in fleet(2)}
    done = waves(["ns/db-00"], ["ns/db-01"]).model_copy(update={"phase": RolloutPhase.COMPLETE})
    members["ns/db-09"] = member(H)
    p = plan(members, done)
    assert p.admitted == ("ns/db-09",) and p.status.phase is RolloutPhase.PROGRESSING and p.status.wave == 3


def test_the_same_inputs_decide_the_same_status():
    members = fleet(6)
    first = plan(members)
    again = plan(members, first.status)
    assert again.admitted == () and again.status.waves == first.status.waves  # nothing admitted twice


# -------------------------------------------------------------------------------- admission


@pytest.mark.parametrize(
    "phase,admitted",
    [
        (RolloutPhase.PROGRESSING, True),
        (RolloutPhase.PAUSED, True),  # the wave in flight finishes
        (RolloutPhase.COMPLETE, True),
        (RolloutPhase.HALTED, False),  # those not moved yet are held again
        (RolloutPhase.ABORTED, False),
        (RolloutPhase.SUPERSEDED, False),
    ],
)
def test_admission_by_phase(phase, admitted):
    status = waves(["ns/db-00"]).model_copy(update={"phase": phase})
    assert admission_of(NAME, status, "ns/db-00").admitted is admitted
    assert admission_of(NAME, status, "ns/db-01").admitted is False


@pytest.mark.parametrize(
    "phase,words",
    [
        (None, "waiting for rollout server-v2 to start"),
        (RolloutPhase.PROGRESSING, "waiting for a later wave of rollout server-v2 (wave 3 in progress)"),
        (RolloutPhase.PAUSED, "is paused"),
        (RolloutPhase.HALTED, "is halted (canary ns/db-00 is unhealthy); this database keeps its build"),
        (RolloutPhase.ABORTED, "pin spec.serverVersion"),
        (RolloutPhase.COMPLETE, "to admit it in a new wave"),
    ],
)
def test_what_a_held_database_is_told(phase, words):
    assert words in Admission(NAME, phase, None, 3, "canary ns/db-00 is unhealthy").waiting()


# ------------------------------------------------------------- kubectl reflex rollout pause|resume|abort


@pytest.mark.parametrize(
    "verb,spec,phase,patch",
    [
        ("pause", {}, RolloutPhase.PROGRESSING, {"spec": {"paused": True}}),
        ("resume", {"paused": True}, RolloutPhase.PAUSED, {"spec": {"paused": False, "resumeToken": "t1"}}),
        ("resume", {}, RolloutPhase.HALTED, {"spec": {"paused": False, "resumeToken": "t1"}}),  # lifts a halt
        ("abort", {}, RolloutPhase.HALTED, {"spec": {"abort": True}}),
        ("abort", {}, RolloutPhase.COMPLETE, {"spec": {"abort": True}}),
        ("pause", {"abort": True}, RolloutPhase.ABORTED, "aborted"),
        ("resume", {}, RolloutPhase.ABORTED, "aborted"),
        ("pause", {}, RolloutPhase.COMPLETE, "complete"),
        ("resume", {}, RolloutPhase.SUPERSEDED, "superseded"),
        ("restart", {}, RolloutPhase.PROGRESSING, "unknown rollout action"),
    ],
)
def test_the_users_controls(verb, spec, phase, patch):
    from reflex_operator.fleet.rollout import control_patch

    s = ReflexRolloutSpec.model_validate({"serverVersion": V, **spec})
    st = ReflexRolloutStatus(phase=phase)
    if isinstance(patch, str):
        with pytest.raises(ValueError, match=patch):
            control_patch(verb, s, st, "t1")
    else:
        assert control_patch(verb, s, st, "t1") == patch


def test_rollout_names_are_dns_subdomains_and_never_shared():
    from reflex_operator.api.rollout import rollout_name

    assert rollout_name("v1.5.0") == "server-v1.5.0"
    assert rollout_name("v1.5.0", "team-a") == "team-a.server-v1.5.0"
    odd = rollout_name("Feature/X_1")
    assert odd.startswith("server-feature-x-1-") and odd != rollout_name("feature/x-1")
    assert len(rollout_name("v" + "1" * 127)) <= 253
