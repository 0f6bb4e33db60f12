"""Transitions of the operator, driven through the in-memory world (tests/unit/world.py): every
pass is the real one (the poller's round, then ``reconcile``), and what a pass did is what the
fake adapters were asked to do."""

from __future__ import annotations

import asyncio

from dataclasses import replace

import pytest

from reflex_operator.api.models import (
    Action,
    ActionMode,
    BuildState,
    ConditionType,
    HealthStatus,
    Phase,
    ReflexDatabaseSpec,
    Replication,
    Size,
)
from reflex_operator.database.inputs import Config, Desired, Observation, SecretState
from reflex_operator.database.decide import decide
from reflex_operator.api import reasons
from reflex_operator.database import steps as s
from tests.unit.world import T0, Pass, World, observation, one_pass, resource, run, settle
from reflex_operator.controller.poller import poll_once
from reflex_operator.database.fleet import STOP_GRACE_SECONDS


def upd(d: Desired, **spec) -> Desired:
    """A spec change (a new generation), as kubectl patch would make it."""
    body = d.spec.model_dump()
    body["sync"].update(spec.pop("sync", {}))
    body.update(spec)
    return replace(d, spec=ReflexDatabaseSpec.model_validate(body), generation=d.generation + 1)


def cond(d: Desired, kind: ConditionType):
    return next(c for c in d.status.conditions if c.type == kind.value)


def kinds(p: Pass) -> list[type]:
    """What the adapters were asked to do, in order (events aside)."""
    return [type(x) for x in p.steps if not isinstance(x, s.Event)]


def of(p: Pass, kind: type) -> list:
    return [x for x in p.steps if isinstance(x, kind)]


def passes(w: World, d: Desired, n: int, config: Config | None = None) -> tuple[Desired, list[Pass]]:
    out = []
    for _ in range(n):
        d, dec = one_pass(w, d, config)
        out.append(dec)
        w.tick()
    return d, out


def until(w: World, d: Desired, phase: Phase, limit: int = 12) -> Desired:
    for _ in range(limit):
        d, _ = one_pass(w, d)
        if d.status.phase is phase:
            return d
        w.tick()
    raise AssertionError(f"never reached {phase}: {d.status.phase} {d.status.message}")


def running() -> tuple[World, Desired]:
    w = World()
    d, _ = settle(w, resource())
    assert d.status.phase is Phase.RUNNING
    return w, d


def assert_ready(d: Desired) -> None:
    assert d.status.phase is Phase.RUNNING
    assert cond(d, ConditionType.READY).status == "True"
    assert cond(d, ConditionType.RECONCILING).status == "False"
    assert cond(d, ConditionType.STALLED).status == "False"


# --------------------------------------------------------------------------------- happy path


def test_happy_path_reaches_running_with_one_build_and_one_service():
    w, d = World(), resource({"size": "medium"})
    phases = []
    for _ in range(8):
        d, dec = one_pass(w, d)
        phases.append(d.status.phase)
        w.tick()
    assert phases[0] is Phase.BUILDING
    assert Phase.DEPLOYING in phases
    assert phases[-1] is Phase.RUNNING
    assert phases.index(Phase.BUILDING) < phases.index(Phase.DEPLOYING) < phases.index(Phase.RUNNING)
    assert w.start_build_calls == 1 and w.create_service_calls == 1
    assert_ready(d)
    st = d.status
    assert st.deployed_config.instance_size is Size.MEDIUM and st.deployed_config.task_cpu == 1024
    assert st.has_pending_changes is False
    assert st.active_build_id == st.builds[0].id == st.latest_build.id
    assert st.builds[0].deployable and st.latest_build.status is BuildState.SUCCEEDED
    assert st.latest_build.cost_estimate_cents is not None
    assert st.instance.health_status is HealthStatus.OK and st.instance.endpoint_url
    assert st.allowed_actions.get(Action.RESIZE).mode is ActionMode.IMMEDIATE
    assert st.observed_generation == 1 and st.queued_goals == []
    assert all(c.observed_generation == 1 for c in st.conditions)
    assert cond(d, ConditionType.DEGRADED).status == "False"


def test_reconciling_while_building_and_deploying():
    w, d = World(), resource()
    d, dec = one_pass(w, d)
    assert kinds(dec) == [s.PutSecret, s.StartBuild]
    assert d.status.phase is Phase.BUILDING
    assert cond(d, ConditionType.RECONCILING).status == "True"
    assert cond(d, ConditionType.RECONCILING).reason == reasons.BUILDING
    assert cond(d, ConditionType.READY).status == "False"
    d = until(w, d, Phase.DEPLOYING)
    assert cond(d, ConditionType.RECONCILING).reason == reasons.DEPLOYING


# ------------------------------------------------------------------------------------- failures


def test_build_failed_then_rebuild_token_recovers():
    w = World(fail_builds=True)
    d = until(w, resource(), Phase.FAILED)
    stalled = cond(d, ConditionType.STALLED)
    assert stalled.status == "True" and stalled.reason == reasons.BUILD_FAILED
    assert "rebuildToken" in stalled.message
    assert cond(d, ConditionType.READY).status == "False"
    assert cond(d, ConditionType.READY).reason == reasons.BUILD_FAILED
    assert cond(d, ConditionType.RECONCILING).status == "False"
    assert d.status.allowed_actions.get(Action.REBUILD).allowed
    d, decs = passes(w, d, 3)  # stays failed, retries nothing by itself
    assert w.start_build_calls == 1 and d.status.phase is Phase.FAILED
    w.fail_builds = False
    d, _ = settle(w, upd(d, rebuild_token="retry-1"))
    assert_ready(d)
    assert w.start_build_calls == 2
    assert d.status.applied_tokens.rebuild == "retry-1"


def test_deployment_failed_then_restart_token_retries():
    w = World(fail_deployments=True)
    d = until(w, resource(), Phase.FAILED)
    stalled = cond(d, ConditionType.STALLED)
    assert stalled.status == "True" and stalled.reason == reasons.DEPLOYMENT_FAILED
    assert "circuit breaker" in stalled.message and "restartToken" in stalled.message
    assert cond(d, ConditionType.READY).status == "False"
    for action in (Action.RESIZE, Action.REBUILD, Action.PAUSE, Action.TERMINATE, Action.DELETE):
        assert d.status.allowed_actions.get(action).allowed, action
    d, decs = passes(w, d, 2)
    assert not any(of(x, s.Deploy) for x in decs)
    w.fail_deployments = False
    d, _ = passes(w, upd(d, restart_token="r1"), 1)
    assert d.status.applied_tokens.restart == "r1"
    d, _ = settle(w, d)
    assert_ready(d)
    assert w.create_service_calls == 1 and w.service["revision"] == 2


@pytest.mark.parametrize(
    "health, reason, ready",
    [
        (HealthStatus.DEGRADED, reasons.HEALTH_DEGRADED, "True"),
        (HealthStatus.CAP_EXCEEDED, "CapExceeded", "True"),
        (HealthStatus.UNREACHABLE, reasons.UNREACHABLE, "False"),
    ],
)
def test_health_degraded_or_unreachable_then_recovers(health, reason, ready):
    w, d = running()
    w.health_mode = health
    d, dec = one_pass(w, d)
    degraded = cond(d, ConditionType.DEGRADED)
    assert degraded.status == "True" and degraded.reason == reason and degraded.message
    assert cond(d, ConditionType.READY).status == ready
    assert d.status.phase is Phase.RUNNING and d.status.instance.health_status is health
    assert not [x for x in dec.steps if not isinstance(x, s.Event)]
    if health is HealthStatus.UNREACHABLE:
        assert cond(d, ConditionType.READY).reason == reasons.UNREACHABLE
        assert "did not answer" in degraded.message
        assert not d.status.allowed_actions.get(Action.RELOAD).allowed
    for action in (Action.RESIZE, Action.REBUILD, Action.PAUSE, Action.TERMINATE, Action.DELETE):
        assert d.status.allowed_actions.get(action).allowed, action
    w.health_mode = HealthStatus.OK
    w.tick()
    d, _ = one_pass(w, d)
    assert cond(d, ConditionType.DEGRADED).status == "False"
    assert_ready(d)


def test_stale_snapshot_is_degraded():
    w, d = running()
    decision = decide(d, replace(observation(w, d), health=replace(observation(w, d).health, snapshot_age_ms=999_999)), Config(), w.now)
    assert decision.condition(ConditionType.DEGRADED).status == "True"
    assert "more than 3 sync intervals" in decision.condition(ConditionType.DEGRADED).message
    # Not degraded while replication is meant to be paused.
    paused = upd(d, sync={"paused": True})
    obs = observation(w, d)
    decision = decide(paused, replace(obs, health=replace(obs.health, snapshot_age_ms=999_999)), Config(), w.now)
    assert decision.condition(ConditionType.DEGRADED).status == "False"


# ------------------------------------------------------------------------------- pause, resume


def test_pause_then_resume():
    w, d = running()
    d, dec = one_pass(w, upd(d, paused=True))
    assert of(dec, s.ScaleService) == [s.ScaleService(w.service["name"], 0)]
    d, _ = settle(w, d)
    assert d.status.phase is Phase.PAUSED and w.service["desired"] == 0
    assert cond(d, ConditionType.READY).status == "True" and cond(d, ConditionType.READY).reason == reasons.PAUSED
    assert cond(d, ConditionType.RECONCILING).status == "False" and cond(d, ConditionType.STALLED).status == "False"
    assert d.status.allowed_actions.get(Action.RESUME).allowed
    assert d.status.allowed_actions.get(Action.DELETE).allowed
    assert d.status.instance.health_status is None
    d, dec = one_pass(w, upd(d, paused=False))
    assert of(dec, s.ScaleService) == [s.ScaleService(w.service["name"], 1)]
    assert cond(d, ConditionType.RECONCILING).reason == reasons.RESUMING
    d, _ = settle(w, d)
    assert_ready(d)
    assert w.create_service_calls == 1 and w.start_build_calls == 1


def test_created_paused():
    w = World()
    d, _ = settle(w, resource({"paused": True}))
    assert d.status.phase is Phase.PAUSED and w.service["desired"] == 0 and w.service["running"] == 0


# ------------------------------------------------------------------------ terminate, provision


def test_terminate_then_provision_again():
    w, d = running()
    builds = list(d.status.builds)
    d, dec = one_pass(w, upd(d, terminated=True))
    assert kinds(dec) == [s.DeleteService]
    assert d.status.phase is Phase.TERMINATING  # the service drains
    assert cond(d, ConditionType.RECONCILING).status == "True"
    w.tick()
    d, dec = one_pass(w, d)
    assert d.status.phase is Phase.TERMINATED and not kinds(dec)
    assert [e.reason for e in of(dec, s.Event)] == [reasons.TERMINATED]
    assert cond(d, ConditionType.READY).reason == reasons.TERMINATED
    assert cond(d, ConditionType.RECONCILING).status == "False" and cond(d, ConditionType.STALLED).status == "False"
    assert d.status.builds == builds and d.status.instance is None
    assert d.status.has_pending_changes is False
    assert d.status.allowed_actions.get(Action.PROVISION).mode is ActionMode.IMMEDIATE
    assert not d.status.allowed_actions.get(Action.CANCEL_GOAL).allowed
    d, _ = passes(w, d, 2)
    assert d.status.phase is Phase.TERMINATED
    # A resize while terminated is pending, queued for the next provisioning.
    resized = upd(d, size="large")
    d2, _ = one_pass(w, resized)
    assert d2.status.has_pending_changes is True
    assert d2.status.allowed_actions.get(Action.RESIZE).mode is ActionMode.QUEUED
    d, dec = one_pass(w, upd(d, terminated=False))
    deploys = of(dec, s.Deploy)
    assert len(deploys) == 1 and deploys[0].create
    d, _ = settle(w, d)
    assert_ready(d)
    assert w.start_build_calls == 1 and w.create_service_calls == 2


def test_provision_waits_while_the_old_service_drains():
    w, d = running()
    d, _ = one_pass(w, upd(d, terminated=True))
    assert w.service["state"] == "DRAINING"
    d, dec = one_pass(w, upd(d, terminated=False))  # world raises if the name is reused while draining
    assert not of(dec, s.Deploy) and d.status.phase is Phase.DEPLOYING
    assert "draining" in d.status.message
    w.tick()
    d, _ = settle(w, d)
    assert_ready(d)


def test_service_client_token_differs_per_provisioning():
    w, d = running()
    first = d.generation
    d, _ = settle(w, upd(d, terminated=True))
    d, dec = one_pass(w, upd(d, terminated=False))
    from reflex_operator.database import identity

    assert of(dec, s.Deploy)[0].client_token == identity.service_token(d.uid, d.generation)
    assert identity.service_token(d.uid, d.generation) != identity.service_token(d.uid, first)


# ------------------------------------------------------------------------------------ deletion


def _in_phase(phase: Phase) -> tuple[World, Desired]:
    if phase is Phase.PENDING:
        w = World(secret=SecretState(exists=False))
        d, _ = one_pass(w, resource())
    elif phase is Phase.FAILED:
        w = World(fail_builds=True)
        d = until(w, resource(), Phase.FAILED)
    else:
        w = World(build_ticks=3, deploy_ticks=3)
        spec = {"paused": True} if phase is Phase.PAUSED else {"terminated": True} if phase is Phase.TERMINATED else {}
        d = until(w, resource(spec), phase)
    assert d.status.phase is phase
    return w, d


DELETABLE = [Phase.PENDING, Phase.BUILDING, Phase.DEPLOYING, Phase.RUNNING, Phase.PAUSED, Phase.TERMINATED, Phase.FAILED]


@pytest.mark.parametrize("phase", DELETABLE)
def test_delete_policy_delete_in_each_phase(phase):
    w, d = _in_phase(phase)
    w.tick()
    d = replace(d, deleting=True)
    released = False
    for _ in range(6):
        service_was_active = w.service is not None and w.service["state"] == "ACTIVE"
        d, dec = one_pass(w, d)
        if s.ReleaseFinalizer in kinds(dec):  # the object goes away: no status is written
            assert not service_was_active, "finalizer released while the service still exists"
            assert s.DeleteService not in kinds(dec)
            assert s.DeleteSecret in kinds(dec)
            released = True
            break
        assert d.status.phase is Phase.DELETING
        assert d.status.allowed_actions.get(Action.DELETE).allowed
        w.tick()
    assert released and w.released
    assert w.service is None or w.service["state"] != "ACTIVE"
    assert w.secret_arn is None
    # A shared build goes on for the databases that may wait for it; the fleet's sweep stops it
    # once none has wanted it for STOP_GRACE_SECONDS (here: none ever will).
    for _ in range(2):
        w.tick(STOP_GRACE_SECONDS)
        asyncio.run(poll_once(w.rt))
    assert all(b["outcome"].finished for b in w.builds.values())


@pytest.mark.parametrize("phase", DELETABLE)
def test_delete_policy_retain_in_each_phase(phase):
    w, d = _in_phase(phase)
    service, secret = (dict(w.service) if w.service else None), w.secret_arn
    d = replace(upd(d, deletion_policy="Retain"), deleting=True)
    d, dec = one_pass(w, d)
    assert kinds(dec) == [s.ReleaseFinalizer] and len(of(dec, s.Event)) == 1
    assert w.released and w.secret_arn == secret
    assert (dict(w.service) if w.service else None) == service


# -------------------------------------------------------------------- spec changes mid-flight


def test_resize_during_a_build_is_queued_until_the_build_succeeds():
    w, d = running()
    w.build_ticks = 3
    d, _ = passes(w, upd(d, rebuild_token="r1"), 1)
    assert d.status.phase is Phase.BUILDING
    d = upd(d, size="large")
    d, dec = one_pass(w, d)
    assert not of(dec, s.Deploy)
    assert any("waits for the running build" in g for g in d.status.queued_goals)
    assert d.status.allowed_actions.get(Action.RESIZE).mode is ActionMode.QUEUED
    assert d.status.has_pending_changes is True
    deploys = []
    for _ in range(10):
        w.tick()
        building = d.status.phase is Phase.BUILDING
        d, dec = one_pass(w, d)
        if building and d.status.phase is Phase.BUILDING:
            assert not of(dec, s.Deploy)
        deploys += of(dec, s.Deploy)
    assert len(deploys) == 1
    assert deploys[0].inputs.cpu == 2048 and deploys[0].inputs.image_uri == d.status.builds[0].image_uri
    assert_ready(d)
    assert d.status.deployed_config.instance_size is Size.LARGE and d.status.queued_goals == []
    assert w.start_build_calls == 2


def test_change_during_a_deployment_supersedes_it():
    w, d = running()
    w.deploy_ticks = 3
    d, dec = one_pass(w, upd(d, size="large"))
    first = of(dec, s.Deploy)[0]
    w.tick()
    assert d.status.phase is Phase.DEPLOYING
    d, dec = one_pass(w, upd(d, log_level="debug"))
    second = of(dec, s.Deploy)[0]
    assert second.deploy_hash != first.deploy_hash and not second.create
    assert second.inputs.cpu == 2048 and second.inputs.log_level == "debug"
    d, _ = settle(w, d)
    assert_ready(d)
    assert w.service["deploy_hash"] == second.deploy_hash and w.create_service_calls == 1


def test_cancel_goal_during_a_deployment_goes_back():
    w, d = running()
    original = w.service["deploy_hash"]
    w.deploy_ticks = 3
    d, _ = one_pass(w, upd(d, size="large"))
    assert d.status.allowed_actions.get(Action.CANCEL_GOAL).allowed
    d, dec = one_pass(w, upd(d, size="small"))
    assert of(dec, s.Deploy)[0].deploy_hash == original
    d, _ = settle(w, d)
    assert_ready(d)


def test_cancel_goal_stops_the_obsolete_build_and_deploys_nothing():
    w, d = running()
    w.build_ticks = 4
    deploy_hash = w.service["deploy_hash"]
    d, dec = one_pass(w, upd(d, rebuild_token="r1"))
    assert d.status.phase is Phase.BUILDING
    assert d.status.allowed_actions.get(Action.CANCEL_GOAL).allowed
    new_build = of(dec, s.StartBuild)[0]
    w.tick()
    d, dec = one_pass(w, upd(d, rebuild_token=None))
    stops = of(dec, s.StopBuild)
    assert len(stops) == 1 and not of(dec, s.Deploy) and not of(dec, s.StartBuild)
    assert any(e.reason == reasons.BUILD_STOPPED for e in of(dec, s.Event))
    stopped = next(c for c, b in w.builds.items() if b["token"] == new_build.idempotency_token)
    assert stops[0].codebuild_id == stopped and w.builds[stopped]["outcome"] == "stopped"
    d, decs = passes(w, d, 3)
    assert not any(of(x, s.Deploy) or of(x, s.StopBuild) or of(x, s.StartBuild) for x in decs)
    assert_ready(d)
    assert w.service["deploy_hash"] == deploy_hash
    record = next(b for b in d.status.builds if b.codebuild_id == stopped)
    assert record.status is BuildState.FAILED and record.failure_reason == "stopped" and not record.deployable
    # The same change again starts a fresh build (the stopped one does not count).
    d, dec = one_pass(w, upd(d, rebuild_token="r1"))
    again = of(dec, s.StartBuild)
    assert len(again) == 1 and again[0].idempotency_token != new_build.idempotency_token


# ------------------------------------------------------------------------------------- redeploy


def test_redeploy_to_an_earlier_build_and_back():
    w, d = running()
    first = d.status.active_build_id
    d, _ = settle(w, upd(d, rebuild_token="r1"))
    second = d.status.active_build_id
    assert second != first
    assert d.status.allowed_actions.get(Action.REDEPLOY).allowed
    d, dec = one_pass(w, upd(d, build_id=first))
    assert of(dec, s.Deploy)[0].inputs.image_uri == w.builds[f"reflex-server-build:{first}"]["image"]
    assert not of(dec, s.StartBuild)
    d, _ = settle(w, d)
    assert_ready(d)
    assert d.status.active_build_id == first
    d, _ = settle(w, upd(d, build_id=None))
    assert_ready(d)
    assert d.status.active_build_id == second
    assert w.start_build_calls == 2


@pytest.mark.parametrize("which", ["unknown", "failed"])
def test_redeploy_to_a_non_deployable_build_stalls_and_warns_once(which):
    w = World(fail_builds=True)
    d = until(w, resource(), Phase.FAILED)
    w.fail_builds = False
    d, _ = settle(w, upd(d, rebuild_token="ok"))
    failed = next(b.id for b in d.status.builds if b.status is BuildState.FAILED)
    target = "no-such-build" if which == "unknown" else failed
    d, dec = one_pass(w, upd(d, build_id=target))
    stalled = cond(d, ConditionType.STALLED)
    assert stalled.status == "True" and stalled.reason == reasons.BUILD_NOT_DEPLOYABLE and target in stalled.message
    assert d.status.phase is Phase.FAILED and cond(d, ConditionType.READY).status == "False"
    blocked = [e for e in of(dec, s.Event) if e.reason == reasons.ACTION_BLOCKED]
    assert len(blocked) == 1 and blocked[0].warning
    assert any(g.startswith("redeploy:") for g in d.status.queued_goals)
    d, decs = passes(w, d, 3)
    assert not any(e.reason == reasons.ACTION_BLOCKED for x in decs for e in of(x, s.Event))
    assert not any(of(x, s.Deploy) for x in decs)
    d, _ = settle(w, upd(d, build_id=None))
    assert_ready(d)
    assert d.status.queued_goals == []


# ------------------------------------------------------------------------- reload, replication


def test_reload_runs_once_per_token_and_waits_while_paused():
    w = World()
    d, _ = settle(w, resource({"reloadToken": "a"}))
    assert w.reloads == 1 and d.status.applied_tokens.reload == "a"
    d, _ = passes(w, d, 3)
    assert w.reloads == 1
    d, dec = one_pass(w, upd(d, reload_token="b"))
    assert [r.endpoint_url for r in of(dec, s.Reload)] == [d.status.instance.endpoint_url]
    assert w.reloads == 2 and d.status.applied_tokens.reload == "b"
    d, _ = passes(w, d, 3)
    assert w.reloads == 2
    d, _ = settle(w, upd(d, paused=True))
    d, dec = one_pass(w, upd(d, reload_token="c"))
    assert not of(dec, s.Reload)
    assert sum(e.reason == reasons.ACTION_BLOCKED for e in of(dec, s.Event)) == 1
    assert any(g.startswith("reload:") for g in d.status.queued_goals)
    d, decs = passes(w, d, 3)
    assert w.reloads == 2
    assert not any(e.reason == reasons.ACTION_BLOCKED for x in decs for e in of(x, s.Event))
    d, _ = settle(w, upd(d, paused=False))
    d, _ = passes(w, d, 2)
    assert w.reloads == 3 and d.status.applied_tokens.reload == "c"


def test_replication_follows_spec_sync_paused():
    w, d = running()
    d, dec = one_pass(w, upd(d, sync={"paused": True}))
    assert kinds(dec) == [s.PauseReplication]
    assert w.replication is Replication.PAUSED
    assert d.status.instance.replication is Replication.PAUSED  # a state change: written at once
    d, decs = passes(w, d, 2)
    assert not any(x.steps for x in decs)
    assert d.status.allowed_actions.get(Action.RESUME_REPLICATION).allowed
    # Someone resumed it behind the operator's back: paused again.
    w.replication = Replication.RUNNING
    d, dec = one_pass(w, d)
    assert kinds(dec) == [s.PauseReplication]
    d, dec = one_pass(w, upd(d, sync={"paused": False}))
    assert kinds(dec) == [s.ResumeReplication]
    assert w.replication is Replication.RUNNING
    d, decs = passes(w, d, 2)
    assert not any(x.steps for x in decs)
    assert_ready(d)


def test_replication_steps_wait_for_a_reachable_instance():
    w, d = running()
    w.health_mode = HealthStatus.UNREACHABLE
    d, dec = one_pass(w, upd(d, sync={"paused": True}))
    assert not of(dec, s.PauseReplication)


# ------------------------------------------------------------------------------------- secrets


def test_missing_secret_then_it_appears():
    w = World(secret=SecretState(exists=False))
    d, dec = one_pass(w, resource())
    assert d.status.phase is Phase.PENDING
    stalled = cond(d, ConditionType.STALLED)
    assert stalled.status == "True" and stalled.reason == reasons.SECRET_NOT_FOUND and "'db'" in stalled.message
    assert cond(d, ConditionType.READY).reason == reasons.SECRET_NOT_FOUND
    assert not of(dec, s.PutSecret) and not of(dec, s.Deploy)
    d, decs = passes(w, d, 4)
    assert d.status.phase is Phase.PENDING and not any(of(x, s.Deploy) for x in decs)
    w.secret = SecretState(exists=True, has_key=False, resource_version="2")
    d, _ = one_pass(w, d)
    assert cond(d, ConditionType.STALLED).reason == reasons.SECRET_NOT_FOUND and "no key 'url'" in d.status.message
    w.secret = SecretState(exists=True, has_key=True, resource_version="3")
    d, _ = settle(w, d)
    assert_ready(d)
    assert d.status.applied_tokens.secret_version == "3" and d.status.secret_arn


def test_secret_change_rolls_out_and_a_later_loss_is_only_queued():
    w, d = running()
    hash_before = w.service["deploy_hash"]
    w.secret = SecretState(exists=True, has_key=True, resource_version="9")
    d, dec = one_pass(w, d)
    assert kinds(dec)[0] is s.PutSecret
    d, _ = settle(w, d)
    assert w.service["deploy_hash"] != hash_before
    w.secret = SecretState(exists=False)
    d, dec = one_pass(w, d)
    assert_ready(d)
    assert any(g.startswith("secret:") for g in d.status.queued_goals)


# -------------------------------------------------------------------------------- crash safety


def test_crash_right_after_start_build():
    w, d = World(), resource()
    _, dec = one_pass(w, d, crash=True)
    assert of(dec, s.StartBuild) and w.start_build_calls == 1
    d, _ = settle(w, d)  # the status was never written: start over from the old one
    assert_ready(d)
    assert w.start_build_calls == 1 and w.create_service_calls == 1 and len(w.builds) == 1


def test_crash_right_after_create_service():
    w, d = World(), resource()
    d = until(w, d, Phase.BUILDING)
    while True:
        w.tick()
        nd, dec = one_pass(w, d, crash=True)
        if of(dec, s.Deploy):
            break
        d, _ = one_pass(w, d)
    assert w.create_service_calls == 1
    d, _ = settle(w, d)
    assert_ready(d)
    assert w.start_build_calls == 1 and w.create_service_calls == 1


# ------------------------------------------------------------------------- status bookkeeping


def test_conditions_keep_last_transition_time_while_unchanged():
    w, d = running()
    times = {c.type: c.last_transition_time for c in d.status.conditions}
    d, _ = passes(w, d, 3)
    assert {c.type: c.last_transition_time for c in d.status.conditions} == times
    w.health_mode = HealthStatus.UNREACHABLE
    d, _ = one_pass(w, d)
    ready = cond(d, ConditionType.READY)
    assert ready.status == "False" and ready.last_transition_time == w.now != times["Ready"]
    assert cond(d, ConditionType.STALLED).last_transition_time == times["Stalled"]


def test_observed_generation_on_status_and_conditions():
    w, d = running()
    d, _ = one_pass(w, replace(upd(d, log_level="debug"), generation=7))
    assert d.status.observed_generation == 7
    assert {c.observed_generation for c in d.status.conditions} == {7}


def test_health_refresh_is_bounded():
    w, d = running()
    config = Config(status_refresh_seconds=60)
    d, _ = one_pass(w, d, config)
    before = d.status
    w.tick(20)  # a new sample (swap count moved), same health class
    d, dec = one_pass(w, d, config)
    assert d.status == before and not dec.steps  # nothing to write
    w.tick(20)
    d, _ = one_pass(w, d, config)
    assert d.status == before
    w.tick(30)  # 70 s after the last written sample
    d, _ = one_pass(w, d, config)
    assert d.status != before
    assert d.status.instance.last_health_check == w.now and d.status.instance.swap_count == w.tick_no
    assert d.status.model_copy(update={"instance": before.instance}) == before


def test_no_health_sample_keeps_what_status_says():
    w, d = running()
    obs = replace(observation(w, d), health=None)
    decision = decide(d, obs, Config(), w.now)
    assert decision.status.instance == d.status.instance


def test_build_history_is_bounded_and_keeps_the_active_build():
    config = Config(build_history_limit=3)
    w = World()
    d, _ = settle(w, resource(), config)
    active = d.status.active_build_id
    w.fail_builds = True
    for i in range(5):
        d = upd(d, rebuild_token=f"r{i}")
        for _ in range(4):
            d, _ = one_pass(w, d, config)
            w.tick()
    ids = [b.id for b in d.status.builds]
    assert len(ids) == 4 and ids[-1] == active and d.status.active_build_id == active
    assert ids[:3] == sorted(ids[:3], reverse=True) and d.status.latest_build.id == ids[0]
    assert w.start_build_calls == 6


def test_aws_error_is_surfaced_as_stalled():
    w, d = running()
    decision = decide(d, replace(observation(w, d), aws_error="ThrottlingException: rate exceeded"), Config(), w.now)
    stalled = decision.condition(ConditionType.STALLED)
    assert stalled.status == "True" and stalled.reason == reasons.AWS_ERROR
    assert decision.condition(ConditionType.READY).status == "False"


def test_run_helper_returns_every_decision():
    decisions = run(World(), resource(), passes=6)
    assert len(decisions) == 6 and decisions[-1].phase is Phase.RUNNING
    assert decisions[0].status.instance is None and T0 <= decisions[-1].status.conditions[0].last_transition_time


def test_an_on_demand_health_check_probes_now_once_per_token_and_waits_while_paused():
    w, d = running()
    shown = d.status.instance.last_health_check
    w.tick(60)  # well inside the slow refresh: a poll alone would write nothing
    d, dec = one_pass(w, upd(d, health_check_token="a"))
    assert d.status.applied_tokens.health_check == "a"
    assert d.status.instance.health_check_started == w.now
    assert d.status.instance.last_health_check > shown and not d.status.instance.health_check_pending
    started = d.status.instance.health_check_started
    d, decs = passes(w, d, 3)
    assert d.status.instance.health_check_started == started  # once per token
    d, _ = settle(w, upd(d, paused=True))
    d, dec = one_pass(w, upd(d, health_check_token="b"))
    assert d.status.instance.health_check_pending
    assert d.status.applied_tokens.health_check == "a"
    d, _ = settle(w, upd(d, paused=False))
    d, _ = passes(w, d, 2)
    assert d.status.applied_tokens.health_check == "b" and not d.status.instance.health_check_pending


def test_the_running_cost_stops_while_paused_and_starts_again():
    w, d = running()
    assert d.status.cost is not None and d.status.cost.hourly_usd > 0
    running_rate = d.status.cost.hourly_usd
    d, _ = settle(w, upd(d, paused=True))
    assert d.status.cost.hourly_usd == 0 and d.status.cost.accrued_usd > 0
    d, _ = settle(w, upd(d, paused=False))
    assert d.status.cost.hourly_usd == running_rate
    assert [c.hourly_usd for c in d.status.cost.changes][:2] == [running_rate, 0.0]
