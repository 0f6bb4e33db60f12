"""Property-based tests of the decision core: it never raises, converges, and then stays put."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reflex_operator.api.models import ConditionType, HealthStatus, Phase, Replication
from reflex_operator.database.inputs import BuildOutcome, Config, HealthSample, Observation, ObservedBuild, ObservedService, RolloutState, SecretState, ServiceState
from reflex_operator.database.decide import decide
from reflex_operator.database.identity import service_name
from tests.unit.world import T0, UID, World, one_pass, resource

tokens = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,12}", fullmatch=True))

specs = st.fixed_dictionaries(
    {
        "size": st.sampled_from(["micro", "small", "medium", "large", "xlarge"]),
        "source": st.fixed_dictionaries(
            {
                "secretRef": st.fixed_dictionaries({"name": st.just("db"), "key": st.sampled_from(["url", "dsn"])}),
                "schemas": st.lists(st.sampled_from(["public", "sales", "_x", "A$1"]), min_size=1, max_size=3, unique=True),
            }
        ),
        "sync": st.fixed_dictionaries(
            {
                "mode": st.sampled_from(["poll", "stream"]),
                "intervalSeconds": st.integers(1, 86400),
                "paused": st.booleans(),
            }
        ),
        "logLevel": st.sampled_from(["error", "warn", "info", "debug"]),
        "safetyNet": st.floats(0, 1, allow_nan=False),
        "serverVersion": st.one_of(st.none(), st.sampled_from(["v1.4.0", "main", "feature/x-1"])),
        "paused": st.booleans(),
        "terminated": st.booleans(),
        "buildId": st.one_of(st.none(), st.none(), st.none(), st.none(), st.just("no-such-build")),
        "rebuildToken": tokens,
        "restartToken": tokens,
        "reloadToken": tokens,
        "deletionPolicy": st.sampled_from(["Delete", "Retain"]),
    }
)

times = st.integers(0, 10_000).map(lambda s: T0 + timedelta(seconds=s))
hashes = st.sampled_from(["h1", "h2", "cc3c0f83e61f3366"])

observed_builds = st.builds(
    ObservedBuild,
    codebuild_id=st.sampled_from(["p:b1", "p:b2", "p:b3", "b4"]),
    input_hash=hashes,
    outcome=st.sampled_from(list(BuildOutcome)),
    image_uri=st.one_of(st.none(), st.just("repo:img")),
    started_at=st.one_of(st.none(), times),
    finished_at=st.one_of(st.none(), times),
    compute_type=st.one_of(st.none(), st.just("BUILD_GENERAL1_SMALL")),
    failure_reason=st.one_of(st.none(), st.just("exit 1")),
)

observed_services = st.builds(
    ObservedService,
    name=st.just(service_name("team-a", "orders", UID)),
    arn=st.just("arn:svc"),
    state=st.sampled_from(list(ServiceState)),
    task_definition_arn=st.one_of(st.none(), st.just("arn:td:1")),
    deploy_hash=st.one_of(st.none(), hashes),
    desired_count=st.integers(0, 2),
    running_count=st.integers(0, 2),
    rollout_state=st.one_of(st.none(), st.sampled_from(list(RolloutState))),
    image_uri=st.one_of(st.none(), st.just("repo:img")),
)

samples = st.builds(
    HealthSample,
    status=st.sampled_from(list(HealthStatus)),
    checked_at=times,
    snapshot_age_ms=st.one_of(st.none(), st.integers(0, 10**9)),
    swap_count=st.one_of(st.none(), st.integers(0, 100)),
    replication=st.one_of(st.none(), st.sampled_from(list(Replication))),
)

observations = st.builds(
    Observation,
    secret=st.builds(SecretState, exists=st.booleans(), has_key=st.booleans(), resource_version=st.one_of(st.none(), st.just("1"))),
    builds=st.lists(observed_builds, max_size=4, unique_by=lambda b: b.id).map(tuple),
    service=st.one_of(st.none(), observed_services),
    health=st.one_of(st.none(), samples),
    aws_secret_arn=st.one_of(st.none(), st.just("arn:secret")),
    aws_error=st.one_of(st.none(), st.just("Throttling")),
)

FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(spec=specs, observed=observations, now=times, deleting=st.booleans(), generation=st.integers(1, 50))
def test_decide_never_raises(spec, observed, now, deleting, generation):
    desired = resource(spec, generation=generation, deleting=deleting)
    decision = decide(desired, observed, Config(), now)
    assert decision.status.phase is not None
    assert {c.type for c in decision.status.conditions} == {c.value for c in ConditionType}
    assert all(c.observed_generation == generation for c in decision.status.conditions)
    assert decision.status.allowed_actions is not None
    # And again, on its own output (what the next pass sees).
    again = decide(desired.__class__(**{**desired.__dict__, "status": decision.status}), observed, Config(), now)
    assert again.status.phase is not None


def _expected(spec: dict) -> Phase:
    if spec["terminated"]:
        return Phase.TERMINATED
    if spec["buildId"]:
        return Phase.FAILED
    if spec["paused"]:
        return Phase.PAUSED
    return Phase.RUNNING


CALM = Config(status_refresh_seconds=3600)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs, build_ticks=st.integers(1, 3), deploy_ticks=st.integers(1, 3))
def test_converges_then_is_idempotent(spec, build_ticks, deploy_ticks):
    w = World(build_ticks=build_ticks, deploy_ticks=deploy_ticks)
    if spec["source"]["secretRef"]["key"] != "url":
        spec["source"]["secretRef"]["key"] = "url"  # the world's Secret has the key (see test_decide for a missing one)
    d = resource(spec)
    target = _expected(spec)
    for _ in range(15):
        d, _ = one_pass(w, d, CALM)
        w.tick()
        if d.status.phase is target and not d.status.conditions[1].status == "True":
            break
    else:
        raise AssertionError(f"no convergence to {target}: {d.status.phase} {d.status.message}")
    ready = next(c for c in d.status.conditions if c.type == "Ready")
    stalled = next(c for c in d.status.conditions if c.type == "Stalled")
    # Ready: the desired state is reached (serving, or paused/terminated as asked), no blocker.
    steady = target in (Phase.RUNNING, Phase.PAUSED, Phase.TERMINATED)
    assert (ready.status == "True") is (steady and not spec["buildId"])
    # A pin to a build that does not exist stays a blocker, terminated or not.
    assert (stalled.status == "True") is bool(spec["buildId"])
    assert w.start_build_calls <= 1 and w.create_service_calls <= 1
    # Settled: further passes take no step and write nothing new.
    d, _ = one_pass(w, d, CALM)  # absorbs a one-time event (e.g. ActionBlocked) emitted on arrival
    settled = d.status
    for _ in range(3):
        w.tick()
        d, decision = one_pass(w, d, CALM)
        assert decision.steps == (), decision.steps
        assert d.status == settled
    if spec["reloadToken"] and target is Phase.RUNNING:
        assert w.reloads == 1
    else:
        assert w.reloads == 0
    if target is Phase.RUNNING:
        assert w.replication is (Replication.PAUSED if spec["sync"]["paused"] else Replication.RUNNING)
