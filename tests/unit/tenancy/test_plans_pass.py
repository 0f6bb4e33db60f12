"""Plans through the operator's real pass (the in-memory world): a database with no room waits and
creates nothing in AWS, proceeds once room is made; a resize up waits at the deployed size; a
missing plan is named; past the data transfer cap replication pauses, and resumes next month; the
ReflexPlan's status and the plan metrics show the namespace's usage."""

from __future__ import annotations

from datetime import timedelta

from reflex_operator.api.models import HealthStatus, Phase, Replication, Size
from reflex_operator.api.plan import GB, ReflexPlanSpec
from reflex_operator.database import steps as s
from reflex_operator.api.reasons import CAP_EXCEEDED_EVENT, CAP_LIFTED_EVENT, PLAN_LIMIT_EXCEEDED, PLAN_NOT_FOUND
from tests.unit.world import World, one_pass, resource, settle


def _plan(limit: float = 1.0, gb: float = 1.0) -> ReflexPlanSpec:
    return ReflexPlanSpec(compute_units_limit=limit, max_instance_size="xlarge", poll_mode_min_sync_interval=1, data_transfer_gb_per_month=gb)


def _other(name: str, units: float, size: str = "medium", created: str = "2026-01-01T00:00:00Z") -> dict:
    """Another database of the namespace, holding ``units``."""
    return {
        "metadata": {"name": name, "namespace": "team-a", "uid": f"uid-{name}", "creationTimestamp": created},
        "spec": {"size": size, "source": {"secretRef": {"name": "db"}}},
        "status": {"plan": {"name": "default", "computeUnits": units}},
    }


def _stalled(status) -> tuple[str, str]:
    c = next(c for c in status.conditions if c.type == "Stalled")
    assert c.status == "True", status.conditions
    return c.reason, c.message


def _aws(steps) -> list:
    return [x for x in steps if isinstance(x, (s.PutSecret, s.StartBuild, s.Deploy, s.ScaleService))]


def test_no_room_waits_creates_nothing_then_proceeds_when_room_is_made() -> None:
    w = World(plan=_plan(1.0), others=[_other("big", 1.0)])
    d = resource({"size": "small"})
    for _ in range(3):
        d, p = one_pass(w, d)
        w.tick()
        assert _aws(p.steps) == [], p.steps
    assert d.status.phase is Phase.PENDING
    reason, message = _stalled(d.status)
    assert reason == PLAN_LIMIT_EXCEEDED
    assert "uses 1 of 1 compute units" in message and "needs 0.5 more" in message
    provision = d.status.allowed_actions.provision
    assert provision.allowed is False and "uses 1 of 1 compute units" in provision.reason
    assert d.status.plan.name == "default" and d.status.plan.compute_units == 0 and d.status.plan.compute_units_limit == 1
    assert [e.reason for e in w.events].count("ActionBlocked") == 1  # once, not every pass
    assert w.start_build_calls == 0 and w.secret_arn is None

    w.others = []  # the other database is deleted
    w.rt.resources.pop(("team-a", "big"), None)
    d, _ = settle(w, d)
    assert d.status.phase is Phase.RUNNING
    assert d.status.plan.compute_units == 0.5
    assert next(c for c in d.status.conditions if c.type == "Stalled").status == "False"


def test_missing_plan_is_named_and_nothing_is_created() -> None:
    """A label names the plan: a platform put the namespace on it, and a typo or a plan not yet
    created must not give the tenant unlimited room."""
    w = World(plan=None, label="starter")
    d, p = one_pass(w, resource())
    assert _aws(p.steps) == [] and w.secret_arn is None
    reason, message = _stalled(d.status)
    assert reason == PLAN_NOT_FOUND and "'starter'" in message
    assert d.status.plan.found is False and d.status.plan.name == "starter" and d.status.phase is Phase.PENDING


def test_without_a_plan_nothing_is_limited() -> None:
    """No label and no default plan (what a cluster gets out of the box): no compute units limit,
    no data transfer cap, no plan in status."""
    bigs = [_other(f"big-{i}", 4.0, size="xlarge") for i in range(4)]  # 16 units held
    w = World(plan=None, others=bigs)
    d, _ = settle(w, resource({"size": "xlarge"}))
    assert d.status.phase is Phase.RUNNING and d.status.plan is None
    assert next(c for c in d.status.conditions if c.type == "Stalled").status == "False"
    w.bytes_transferred = 5_000 * GB  # far past any plan's allowance
    d, p = one_pass(w, d)
    assert not any(isinstance(x, s.PauseReplication) for x in p.steps)
    assert d.status.instance.health_status is HealthStatus.OK
    assert w.plan_status == {}
    assert w.rt.metrics.registry.get_sample_value("reflexdb_plan_compute_units_used", {"namespace": "team-a", "plan": "default"}) is None


def test_deleting_the_default_plan_lets_the_waiting_databases_proceed() -> None:
    """An upgrade from a release that shipped a limiting default plan: once that plan is deleted,
    what waited for room proceeds, and the plan's series go."""
    w = World(plan=_plan(1.0), others=[_other("big", 1.0)])
    d, _ = one_pass(w, resource({"size": "small"}))
    assert _stalled(d.status)[0] == PLAN_LIMIT_EXCEEDED
    assert w.rt.metrics.registry.get_sample_value("reflexdb_plan_compute_units_used", {"namespace": "team-a", "plan": "default"}) == 1
    w.plan = None
    d, _ = settle(w, d)
    assert d.status.phase is Phase.RUNNING and d.status.plan is None
    assert w.rt.metrics.registry.get_sample_value("reflexdb_plan_compute_units_used", {"namespace": "team-a", "plan": "default"}) is None
    assert w.rt.metrics.registry.get_sample_value("reflexdb_plan_compute_units_limit", {"namespace": "team-a", "plan": "default"}) is None


def test_resize_up_waits_at_the_deployed_size_until_the_plan_is_raised() -> None:
    w = World(plan=_plan(1.0))
    d, _ = settle(w, resource({"size": "small"}))
    assert d.status.plan.compute_units == 0.5
    w.others = [_other("neighbour", 0.5, size="small")]
    d = d.__class__(**{**d.__dict__, "spec": d.spec.model_copy(update={"size": Size.MEDIUM}), "generation": 2})
    for _ in range(2):
        d, p = one_pass(w, d)
        w.tick()
        assert not any(isinstance(x, s.Deploy) for x in p.steps)
    assert d.status.deployed_config.instance_size.value == "small"
    assert d.status.phase is Phase.RUNNING and d.status.has_pending_changes is True
    assert _stalled(d.status)[0] == PLAN_LIMIT_EXCEEDED
    resize = d.status.allowed_actions.resize
    assert resize.allowed and resize.mode.value == "queued" and "compute units" in resize.reason

    w.plan = _plan(2.0)  # the plan is raised
    d, _ = settle(w, d)
    assert d.status.deployed_config.instance_size.value == "medium" and d.status.plan.compute_units == 1


def test_cap_pauses_replication_and_next_month_resumes_it() -> None:
    w = World(plan=_plan(4.0, gb=0.001))
    d, _ = settle(w, resource())
    w.bytes_transferred = 2_000_000  # 2 MB: over 0.001 GB
    d, p = one_pass(w, d)
    assert any(isinstance(x, s.PauseReplication) for x in p.steps)
    assert d.status.instance.health_status is HealthStatus.CAP_EXCEEDED
    assert d.status.instance.replication is Replication.PAUSED
    degraded = next(c for c in d.status.conditions if c.type == "Degraded")
    assert degraded.status == "True" and degraded.reason == "CapExceeded" and "0.001 GB" in degraded.message
    assert any(e.reason == CAP_EXCEEDED_EVENT and e.warning for e in w.events)
    rr = d.status.allowed_actions.resume_replication
    assert rr.allowed is False and "0.001 GB" in rr.reason
    w.tick()
    d, p = one_pass(w, d)
    assert not any(isinstance(x, (s.PauseReplication, s.ResumeReplication)) for x in p.steps)

    w.now = w.now.replace(day=1) + timedelta(days=40)  # a new month (UTC)
    d, p = one_pass(w, d)
    d, p2 = one_pass(w, d)
    assert any(isinstance(x, s.ResumeReplication) for x in p.steps + p2.steps)
    assert d.status.instance.health_status is HealthStatus.OK
    assert any(e.reason == CAP_LIFTED_EVENT for e in w.events)


def test_a_raised_plan_lifts_the_cap() -> None:
    w = World(plan=_plan(4.0, gb=0.001))
    d, _ = settle(w, resource())
    w.bytes_transferred = 2_000_000
    d, _ = one_pass(w, d)
    assert d.status.instance.health_status is HealthStatus.CAP_EXCEEDED
    w.plan = _plan(4.0, gb=1.0)
    d, p = one_pass(w, d)
    d, p2 = one_pass(w, d)
    assert any(isinstance(x, s.ResumeReplication) for x in p.steps + p2.steps)
    assert d.status.instance.health_status is HealthStatus.OK


def test_plan_status_and_metrics_show_the_namespace() -> None:
    w = World(plan=_plan(2.0, gb=1.0), others=[_other("big", 1.0)])
    d, _ = settle(w, resource({"size": "small"}))
    w.bytes_transferred = 5 * GB // 1000
    d, _ = one_pass(w, d)
    (usage,) = w.plan_status["default"]["namespaces"]
    assert usage["namespace"] == "team-a" and usage["computeUnitsUsed"] == 1.5
    assert usage["bytesTransferredThisMonth"] == 5 * GB // 1000 and usage["month"] == w.now.strftime("%Y-%m")
    metrics = w.rt.metrics.registry
    assert metrics.get_sample_value("reflexdb_plan_compute_units_used", {"namespace": "team-a", "plan": "default"}) == 1.5
    assert metrics.get_sample_value("reflexdb_plan_compute_units_limit", {"namespace": "team-a", "plan": "default"}) == 2
    assert metrics.get_sample_value("reflexdb_plan_data_transfer_cap_bytes", {"namespace": "team-a", "plan": "default"}) == GB
