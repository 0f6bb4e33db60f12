"""One database's part in a fleet rollout (database.rollout): which moves the waves hold (a table),
where a database stands in its rollout (a table), and the real pass over the in-memory world: a
held database stays Running and Ready on its build, starts no build and deploys nothing, and moves
once the leader's planner admits it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from reflex_operator.api import reasons
from reflex_operator.api.models import BuildRecord, BuildState, ConditionType, HealthStatus, Phase, ReflexDatabaseSpec, ReflexDatabaseStatus
from reflex_operator.api.rollout import MemberState, RolloutMember, RolloutPhase
from reflex_operator.database import identity
from reflex_operator.database import steps as s
from reflex_operator.database.build import KnownBuilds
from reflex_operator.database.inputs import Config, Desired, HealthSample, ObservedService, RolloutState, ServiceState
from reflex_operator.database.rollout import gate, member
from reflex_operator.fleet.rollout import Admission
from tests.unit.world import T0, World, one_pass, resource, settle

OLD, NEW = "v1.4.0", "v1.5.0"
CONFIG = Config(default_server_version=NEW)
NAME = "server-v1.5.0"


def service(**kw) -> ObservedService:
    base = dict(
        name="svc", arn="arn", state=ServiceState.ACTIVE, task_definition_arn="td", deploy_hash="h-old",
        desired_count=1, running_count=1, rollout_state=RolloutState.COMPLETED, image_uri="img-old",
    )
    return ObservedService(**{**base, **kw})


def builds(spec: ReflexDatabaseSpec, running: str | None = OLD, config: Config = CONFIG) -> KnownBuilds:
    active = BuildRecord(id="b-old", status=BuildState.SUCCEEDED, image_uri="img-old", server_version=running, deployable=True) if running else None
    return KnownBuilds(identity.build_inputs(spec, config.default_server_version), [active] if active else [], None, None, active)


def sample(status: HealthStatus = HealthStatus.OK, at=T0) -> HealthSample:
    return HealthSample(status=status, checked_at=at, snapshot_age_ms=10)


def admitted(wave: int = 1, phase: RolloutPhase = RolloutPhase.PROGRESSING) -> Admission:
    return Admission(NAME, phase, wave, wave)


def waiting(phase: RolloutPhase = RolloutPhase.PROGRESSING) -> Admission:
    return Admission(NAME, phase, None, 1)


HELD = "held"


@pytest.mark.parametrize(
    "spec,svc,running,health,admission,config,expect",
    [
        ({}, service(), OLD, sample(), None, CONFIG, HELD),  # no rollout yet: held until it starts
        ({}, service(), OLD, sample(), waiting(), CONFIG, HELD),
        ({}, service(), OLD, sample(), waiting(RolloutPhase.HALTED), CONFIG, HELD),
        ({}, service(), OLD, sample(), admitted(), CONFIG, "moves"),
        ({}, service(), OLD, sample(), admitted(1, RolloutPhase.HALTED), CONFIG, HELD),  # admitted, not moved: halted again
        ({}, service(), NEW, sample(), None, CONFIG, "moves"),  # runs the target already
        ({}, service(), None, sample(), None, CONFIG, "moves"),  # running version unknown: not held
        ({}, None, OLD, None, None, CONFIG, "moves"),  # new database: no service
        ({}, service(desired_count=0, running_count=0), OLD, None, None, CONFIG, "moves"),  # scaled to zero
        ({"paused": True}, service(), OLD, sample(), None, CONFIG, "moves"),
        ({}, service(rollout_state=RolloutState.IN_PROGRESS), OLD, sample(), None, CONFIG, HELD),  # its own change deploying
        ({}, service(running_count=0), OLD, None, None, CONFIG, HELD),
        ({}, service(rollout_state=RolloutState.FAILED), OLD, sample(), None, CONFIG, "moves"),  # a fix never waits
        ({}, service(), OLD, sample(HealthStatus.DEGRADED), None, CONFIG, "moves"),  # a fix never waits
        ({}, service(), OLD, sample(HealthStatus.UNREACHABLE), None, CONFIG, "moves"),
        ({"serverVersion": NEW}, service(), OLD, sample(), None, CONFIG, "out"),  # opt-outs
        ({"buildId": "b-1"}, service(), OLD, sample(), None, CONFIG, "out"),
        ({"rebuildToken": "t"}, service(), OLD, sample(), None, CONFIG, "out"),
        ({}, service(), OLD, sample(), None, replace(CONFIG, rollout_waves=False), "out"),
    ],
)
def test_which_moves_the_waves_hold(spec, svc, running, health, admission, config, expect):
    d = resource(spec)
    g = gate(d, svc, builds(d.spec, running, config), health, admission, config)
    if expect == "out":
        assert g.name is None and not g.held
        return
    assert g.name == NAME and g.target == NEW
    assert g.held is (expect == HELD)
    if g.held:
        assert g.held_spec is not None and g.held_spec.server_version == OLD  # works to its spec at the version it runs
        assert g.outcome().progress[0] == reasons.ROLLOUT_WAITING
        assert g.outcome().queued and "deploy v1.5.0" in g.outcome().queued[0]


def test_once_its_rollout_is_aborted_a_held_database_is_not_reconciling():
    d = resource()
    g = gate(d, service(), builds(d.spec), sample(), waiting(RolloutPhase.ABORTED), CONFIG)
    assert g.held and g.outcome().progress is None and "aborted" in g.outcome().queued[0]


def test_the_health_in_status_counts_when_no_sample_is_at_hand():
    d = resource()
    d = replace(d, status=ReflexDatabaseStatus.model_validate({"instance": {"healthStatus": "degraded"}}))
    assert not gate(d, service(), builds(d.spec), None, None, CONFIG).held
    d = replace(d, status=ReflexDatabaseStatus.model_validate({"instance": {"healthStatus": "ok"}}))
    assert gate(d, service(), builds(d.spec), None, None, CONFIG).held


# ----------------------------------------------------------------------------- member states


def was(state: MemberState, ago: float = 0) -> Desired:
    m = RolloutMember(name=NAME, server_version=NEW, state=state, since=T0 - timedelta(seconds=ago), wave=1)
    return replace(resource(), status=ReflexDatabaseStatus(rollout=m))


NOW = T0 + timedelta(seconds=100)
ON = dict(image="img-new", deploy_hash="h-new")
ON_SVC = service(deploy_hash="h-new", image_uri="img-new")


@pytest.mark.parametrize(
    "before,svc,target,stall,health,state,since",
    [
        (was(MemberState.HELD), service(), dict(image=None, deploy_hash=None), None, None, MemberState.DEPLOYING, NOW),  # building
        (was(MemberState.HELD), service(), ON, None, None, MemberState.DEPLOYING, NOW),  # deploying
        (was(MemberState.DEPLOYING, 50), ON_SVC.__class__(**{**vars(ON_SVC), "rollout_state": RolloutState.IN_PROGRESS}), ON, None, None, MemberState.DEPLOYING, T0 - timedelta(seconds=50)),
        (was(MemberState.DEPLOYING, 50), ON_SVC, ON, None, sample(at=NOW), MemberState.VERIFYING, NOW),  # its task runs: a sample after now is wanted
        (was(MemberState.VERIFYING), ON_SVC, ON, None, sample(at=T0), MemberState.VERIFYING, T0),  # a sample of the old task
        (was(MemberState.VERIFYING), ON_SVC, ON, None, sample(at=T0 + timedelta(seconds=5)), MemberState.HEALTHY, T0 + timedelta(seconds=5)),
        (was(MemberState.VERIFYING), ON_SVC, ON, None, sample(HealthStatus.DEGRADED, T0 + timedelta(seconds=5)), MemberState.UNHEALTHY, NOW),
        (was(MemberState.HEALTHY, 30), ON_SVC, ON, None, sample(at=NOW), MemberState.HEALTHY, T0 - timedelta(seconds=30)),  # keeps its since
        (was(MemberState.HEALTHY, 30), ON_SVC, ON, None, sample(HealthStatus.UNREACHABLE, NOW), MemberState.UNHEALTHY, NOW),
        (was(MemberState.DEPLOYING), service(), dict(image=None, deploy_hash=None), (reasons.BUILD_FAILED, "build b-2 failed: exit 2"), None, MemberState.FAILED, NOW),
        (was(MemberState.DEPLOYING), service(deploy_hash="h-new", rollout_state=RolloutState.FAILED, rollout_reason="tasks stopped"), ON, None, None, MemberState.FAILED, NOW),
    ],
)
def test_where_a_database_stands_in_its_rollout(before, svc, target, stall, health, state, since):
    from reflex_operator.database.rollout import Gate

    m = member(before, Gate(NAME, NEW), svc, builds(before.spec), target["image"], target["deploy_hash"], stall, health, admitted(), NOW)
    assert m is not None and (m.state, m.since) == (state, since)
    assert m.name == NAME and m.server_version == NEW and m.wave == 1
    if state is MemberState.FAILED:
        assert m.message and (m.message.startswith("build") or m.message.startswith("deployment failed"))


def test_a_database_in_no_rollout_has_no_member_status():
    from reflex_operator.database.rollout import Gate

    d = resource()
    assert member(d, Gate(NAME, NEW), service(), builds(d.spec, NEW), "img-old", "h-old", None, sample(), None, NOW) is None
    assert member(d, Gate(), service(), builds(d.spec), None, None, None, None, None, NOW) is None


# ------------------------------------------------------------------- the real pass, in a world


def moved(w: World, d: Desired, config: Config, limit: int = 30) -> tuple[Desired, list]:
    out = []
    for _ in range(limit):
        d, p = one_pass(w, d, config)
        out.append(p)
        if d.status.rollout is not None and d.status.rollout.state is MemberState.HEALTHY and w.rollouts:
            return d, out
        w.tick()
    raise AssertionError(f"never moved: {d.status.rollout} {d.status.message}")


def running_world() -> tuple[World, Desired]:
    w = World()
    d, _ = settle(w, resource(), Config(default_server_version=OLD))
    assert d.status.phase is Phase.RUNNING
    return w, d


def test_a_new_default_version_is_held_with_the_database_running_and_ready():
    w, d = running_world()
    builds_before = w.start_build_calls
    d, p = one_pass(w, d, CONFIG)
    assert not [x for x in p.steps if isinstance(x, (s.StartBuild, s.Deploy))]
    assert w.start_build_calls == builds_before
    assert d.status.phase is Phase.RUNNING
    ready = next(c for c in d.status.conditions if c.type == ConditionType.READY.value)
    reconciling = next(c for c in d.status.conditions if c.type == ConditionType.RECONCILING.value)
    assert ready.status == "True" and reconciling.reason == reasons.ROLLOUT_WAITING
    assert d.status.has_pending_changes is True
    assert d.status.rollout is not None and d.status.rollout.state is MemberState.HELD and d.status.rollout.name == NAME
    assert any("waiting for rollout server-v1.5.0" in g for g in d.status.queued_goals)


def test_the_leader_makes_the_rollout_admits_the_canary_and_it_moves():
    w, d = running_world()
    d, _ = one_pass(w, d, CONFIG)  # held
    d, passes = moved(w, d, CONFIG)
    rollout = w.rollouts[NAME]
    assert rollout["spec"]["serverVersion"] == NEW
    assert rollout["metadata"]["labels"]["reflexdb.cloud/scope"] == "cluster"
    assert rollout["status"]["waves"][0]["databases"] == ["team-a/orders"]
    steps = [x for p in passes for x in p.steps]
    assert sum(isinstance(x, s.StartBuild) for x in steps) == 1 and sum(isinstance(x, s.Deploy) for x in steps) == 1
    assert d.status.builds[0].server_version == NEW and d.status.phase is Phase.RUNNING
    assert d.status.rollout.wave == 1
    for _ in range(8):  # the soak (60 s) passes: the rollout completes
        w.tick()
        d, _ = one_pass(w, d, CONFIG)
    assert w.rollouts[NAME]["status"]["phase"] == "Complete"


def respec(d: Desired, **fields) -> Desired:
    """The database after its user changed ``fields`` of its spec (a new generation)."""
    body = d.spec.model_dump(by_alias=True, exclude_none=True)
    return replace(d, spec=ReflexDatabaseSpec.model_validate({**body, **fields}), generation=d.generation + 1)


def paused_rollout(w: World) -> None:
    """The rollout of v1.5.0 exists and is paused: nobody is admitted."""
    from reflex_operator.controller.rollouts import rollout_body

    body = rollout_body(NAME, NEW, None)
    body["spec"]["paused"] = True
    w.rollouts[NAME] = {**body, "metadata": {**body["metadata"], "uid": "u", "generation": 1, "resourceVersion": "r1"}}
    if w.rt is not None:
        w.rt.rollouts.seen(w.rollouts[NAME])


def test_a_users_own_change_is_not_held():
    w, d = running_world()
    paused_rollout(w)
    d, _ = one_pass(w, d, CONFIG)
    assert d.status.rollout.state is MemberState.HELD
    d = respec(d, size="medium")
    d, p = one_pass(w, d, CONFIG)
    deploys = [x for x in p.steps if isinstance(x, s.Deploy)]
    assert len(deploys) == 1 and deploys[0].inputs.cpu == 1024  # resized at once ...
    assert deploys[0].inputs.image_uri == d.status.builds[0].image_uri  # ... on its current build
    assert not [x for x in p.steps if isinstance(x, s.StartBuild)]
    assert d.status.rollout.state is MemberState.HELD and "is paused" in (d.status.rollout.message or "")  # the version still waits
    assert w.rollouts[NAME]["status"]["phase"] == "Paused"


def test_pinning_the_version_opts_out_of_the_waves():
    w, d = running_world()
    d, _ = one_pass(w, d, CONFIG)
    d = respec(d, serverVersion=NEW)
    d, p = one_pass(w, d, CONFIG)
    assert [x for x in p.steps if isinstance(x, s.StartBuild)]
    assert d.status.rollout is None


def test_only_the_installation_leader_writes_the_rollout():
    import asyncio

    from reflex_operator.controller.poller import poll_once
    from reflex_operator.ha.gate import Gate as Leases

    w, d = running_world()
    d, _ = one_pass(w, d, CONFIG)  # held (the rollout is made by a later round: forget any)
    w.rollouts.clear()
    rt = w.runtime(CONFIG)
    rt.rollouts.rollouts.clear()
    rt.gate = Leases(1, elected=True)  # a standby: it holds no shard
    asyncio.run(poll_once(rt))
    assert w.rollouts == {}
    rt.gate = Leases(1, elected=False)  # the only replica leads the installation
    asyncio.run(poll_once(rt))
    assert w.rollouts[NAME]["status"]["waves"][0]["databases"] == ["team-a/orders"]


def test_a_restarted_operator_resumes_the_rollout_and_starts_nothing_twice():
    import asyncio

    from reflex_operator.controller import wiring

    w, d = running_world()
    d, _ = one_pass(w, d, CONFIG)  # held
    d, p = one_pass(w, d, CONFIG)  # the round admits the canary; its pass starts the build
    assert d.status.rollout.state is MemberState.DEPLOYING
    starts = w.start_build_calls
    assert starts >= 2  # the first version's build, and this one
    w.rt = None  # the operator dies; a new one lists the rollouts before its first pass
    asyncio.run(wiring.prime(w.runtime(CONFIG)))
    assert w.runtime(CONFIG).rollouts.admission(NAME, "team-a/orders").admitted
    d, p = one_pass(w, d, CONFIG)
    assert w.start_build_calls == starts and not [x for x in p.steps if isinstance(x, s.StopBuild)]
    assert d.status.rollout.state is MemberState.DEPLOYING
    d, _ = moved(w, d, CONFIG)
    assert len([b for b in d.status.builds if b.server_version == NEW]) == 1
    assert len(w.rollouts[NAME]["status"]["waves"]) == 1


def test_a_users_pause_in_between_makes_the_leaders_write_conflict_and_it_decides_again():
    import asyncio

    from reflex_operator.controller.poller import poll_once
    from reflex_operator.controller.rollouts import rollout_body
    from tests.unit.world import deliver

    w, d = running_world()
    body = rollout_body(NAME, NEW, None)
    stored = {**body, "metadata": {**body["metadata"], "uid": "u", "generation": 1, "resourceVersion": "r1"}}
    w.rollouts[NAME] = stored
    held = replace(d, status=d.status.model_copy(update={"rollout": RolloutMember(name=NAME, server_version=NEW, state=MemberState.HELD, since=T0)}))
    rt, _ = deliver(w, held, CONFIG)  # a database held for the rollout, as its pass wrote it
    rt.rollouts.seen(stored)
    paused = {**stored, "spec": {**stored["spec"], "paused": True}, "metadata": {**stored["metadata"], "resourceVersion": "user-1", "generation": 2}}
    w.rollouts[NAME] = paused  # the user's pause, not on the watch yet: the leader decides on the old version
    asyncio.run(poll_once(rt))
    assert w.rollouts[NAME] is paused  # its write was refused (409): nobody admitted on a stale spec
    assert rt.rollouts.rollouts[NAME].status.waves == []
    rt.rollouts.seen(paused)  # the watch brings the pause
    asyncio.run(poll_once(rt))
    assert w.rollouts[NAME]["status"]["phase"] == "Paused" and w.rollouts[NAME]["status"]["waves"] == []


# ------------------------------------------------- an operator upgrade that changes the template

T1, T2 = "tmpl-one", "tmpl-two"  # the operator's template mark before and after an upgrade
ON_NEW = replace(CONFIG, deploy_template=T2)
TEMPLATE_NAME = "server-v1.5.0-template-tmpl-two"


def in_template_rollout() -> Desired:
    return replace(resource(), status=ReflexDatabaseStatus.model_validate(
        {"rollout": {"name": TEMPLATE_NAME, "serverVersion": NEW, "state": "Verifying", "since": T0.isoformat()}}))


@pytest.mark.parametrize(
    "d,svc,running,admission,template_admission,expect_name,expect",
    [
        (resource(), service(template=T1), NEW, None, None, TEMPLATE_NAME, HELD),  # the upgrade: held until its rollout starts
        (resource(), service(template=T1), NEW, None, Admission(TEMPLATE_NAME, RolloutPhase.PROGRESSING, None, 1), TEMPLATE_NAME, HELD),
        (resource(), service(template=T1), NEW, None, Admission(TEMPLATE_NAME, RolloutPhase.PROGRESSING, 1, 1), TEMPLATE_NAME, "moves"),
        (resource(), service(template=T1), NEW, admitted(), None, TEMPLATE_NAME, HELD),  # the version's rollout does not admit it
        (resource(), service(template=T2), NEW, None, None, NAME, "moves"),  # on the operator's template
        (resource(), service(template=None), NEW, None, None, NAME, "moves"),  # registered before marks: taken as current
        (resource(), service(template=T1), OLD, None, None, NAME, HELD),  # a new version too: the version's rollout holds it
        (in_template_rollout(), service(template=T2), NEW, None, None, TEMPLATE_NAME, "moves"),  # moved: followed to Healthy
        (resource({"serverVersion": NEW}), service(template=T1), NEW, None, None, None, "out"),  # a pinned version opts out
    ],
)
def test_which_template_moves_the_waves_hold(d, svc, running, admission, template_admission, expect_name, expect):
    g = gate(d, svc, builds(d.spec, running, ON_NEW), sample(), admission, ON_NEW, template_admission)
    assert g.name == expect_name
    assert g.held is (expect == HELD)
    if expect != "out":
        assert g.template == T2


def test_a_template_rollout_is_named_for_its_version_and_mark():
    from reflex_operator.api.rollout import rollout_name

    assert rollout_name(NEW, None, T2) == TEMPLATE_NAME
    assert rollout_name(NEW, "team-a", "AB_12") == "team-a.server-v1.5.0-template-ab-12"
    assert rollout_name(NEW, None, T1) != rollout_name(NEW, None, T2) != rollout_name(NEW)


def test_a_template_rollout_is_superseded_by_another_template():
    from reflex_operator.api.rollout import ReflexRolloutSpec, ReflexRolloutStatus
    from reflex_operator.fleet.rollout import Pace, plan_rollout

    spec = ReflexRolloutSpec(server_version=NEW, template=T1)
    plan = plan_rollout(TEMPLATE_NAME, spec, ReflexRolloutStatus(), {}, Pace(), NEW, T0, 1, T2)
    assert plan.status.phase is RolloutPhase.SUPERSEDED and T2 in (plan.status.message or "")
    version = plan_rollout(NAME, ReflexRolloutSpec(server_version=NEW), ReflexRolloutStatus(), {}, Pace(), NEW, T0, 1, T2)
    assert version.status.phase is not RolloutPhase.SUPERSEDED  # a version's rollout has no template to lose


def template_world() -> tuple[World, Desired]:
    w = World()
    d, _ = settle(w, resource(), replace(CONFIG, deploy_template=T1))
    assert d.status.phase is Phase.RUNNING and w.service["template"] == T1
    return w, d


def test_an_operator_upgrade_that_changes_the_template_moves_the_fleet_in_waves():
    w, d = template_world()
    d, p = one_pass(w, d, ON_NEW)  # the upgraded operator's first pass: held, nothing deployed
    assert not [x for x in p.steps if isinstance(x, (s.StartBuild, s.Deploy))]
    assert d.status.phase is Phase.RUNNING and d.status.rollout.state is MemberState.HELD
    assert d.status.rollout.name == TEMPLATE_NAME and d.status.has_pending_changes is True
    d, passes = moved(w, d, ON_NEW)
    rollout = w.rollouts[TEMPLATE_NAME]
    assert rollout["spec"] == {"serverVersion": NEW, "template": T2, "paused": False, "abort": False}
    steps = [x for p in passes for x in p.steps]
    deploys = [x for x in steps if isinstance(x, s.Deploy)]
    assert len(deploys) == 1 and deploys[0].template == T2 and not [x for x in steps if isinstance(x, s.StartBuild)]
    assert w.service["template"] == T2 and d.status.has_pending_changes is False
    for _ in range(8):  # the soak passes: the rollout completes
        w.tick()
        d, _ = one_pass(w, d, ON_NEW)
    assert w.rollouts[TEMPLATE_NAME]["status"]["phase"] == "Complete"
    assert NAME not in w.rollouts  # nobody waited for a new version


def test_a_users_own_change_while_the_template_waits_goes_out_at_once_on_the_new_template():
    w, d = template_world()
    d, _ = one_pass(w, d, ON_NEW)
    assert d.status.rollout.state is MemberState.HELD
    d = respec(d, size="medium")
    d, p = one_pass(w, d, ON_NEW)
    deploys = [x for x in p.steps if isinstance(x, s.Deploy)]
    assert len(deploys) == 1 and deploys[0].inputs.cpu == 1024 and deploys[0].template == T2


def test_without_waves_or_with_a_pinned_version_the_new_template_goes_out_at_once():
    for config, pin in ((replace(ON_NEW, rollout_waves=False), {}), (ON_NEW, {"serverVersion": NEW})):
        w, d = template_world()
        if pin:
            d = respec(d, **pin)
        d, p = one_pass(w, d, config)
        deploys = [x for x in p.steps if isinstance(x, s.Deploy)]
        assert len(deploys) == 1 and deploys[0].template == T2 and d.status.rollout is None
