"""The fleet's shared builds, operator-wide (``controller.fleet``): one StartBuild per token
however many ask at once, the start recorded before it is sent, and a restart that finds what
was started (from the records, else from one look over the project) instead of starting it again."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

from reflex_operator.api.models import ReflexDatabaseSpec
from reflex_operator.controller.fleet import FleetBuilds
from reflex_operator.database import fleet as rules
from reflex_operator.database import identity
from reflex_operator.database.inputs import BuildOutcome, ObservedBuild
from reflex_operator.database.steps import FindBuild, StartBuild

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
INPUTS = identity.build_inputs(ReflexDatabaseSpec.model_validate({"source": {"secretRef": {"name": "db"}}}), "v1.4.0")
TOKEN = identity.shared_build_token("c1", INPUTS.hash, 0)
STEP = StartBuild(inputs=INPUTS, idempotency_token=TOKEN, image_uri=f"repo:{identity.image_tag('c1', INPUTS.hash, 0)}",
                  resource="team-a/orders", uid="u1", record=True, attempt=0, cluster_identity="c1")


class FakeCodeBuild:
    """CodeBuild's part the fleet uses: builds by token (a repeated token within 300 s: the same)."""

    def __init__(self) -> None:
        self.builds: list[ObservedBuild] = []
        self.calls: list[str] = []
        self.log: list[str] | None = None

    def made(self, token: str, identity_: str = "c1", at: datetime = NOW) -> ObservedBuild:
        b = ObservedBuild(codebuild_id=f"p:{len(self.builds)}", input_hash=INPUTS.hash, outcome=BuildOutcome.IN_PROGRESS,
                          started_at=at, shared=identity_ == "c1", attempt=0, idempotency_token=token, image_uri=STEP.image_uri)
        self.builds.append(b)
        return b

    async def start(self, step: StartBuild) -> ObservedBuild:
        self.calls.append("StartBuild")
        if self.log is not None:
            self.log.append("start")
        await asyncio.sleep(0)  # other passes run meanwhile
        same = [b for b in self.builds if b.idempotency_token == step.idempotency_token]
        return same[0] if same else self.made(step.idempotency_token)

    async def get(self, ids: list[str]) -> dict[str, ObservedBuild]:
        self.calls.append("BatchGetBuilds")
        return {b.codebuild_id: b for b in self.builds if b.codebuild_id in ids}

    async def find(self, step: FindBuild) -> tuple[ObservedBuild | None, bool]:
        self.calls.append("Find")
        return next((b for b in self.builds if b.idempotency_token == step.idempotency_token), None), True

    async def scan(self, cluster_identity: str, since: datetime | None) -> tuple[list[ObservedBuild], bool]:
        self.calls.append("Scan")
        return [b for b in self.builds if b.shared and cluster_identity == "c1"], True


class FakeRegistry:
    def __init__(self, log: list[str]) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.log = log

    async def list_builds(self) -> list[dict[str, Any]]:
        return list(self.records.values())

    async def get_build(self, name: str) -> dict[str, Any] | None:
        self.log.append("get")
        return self.records.get(name)

    async def record_build(self, name: str, spec: dict[str, Any]) -> None:
        self.log.append("record")
        self.records[name] = {"metadata": {"name": name}, "spec": spec, "status": {}}

    async def put_build_status(self, name: str, status: dict[str, Any]) -> None:
        self.records[name]["status"] = status

    async def delete_build(self, name: str) -> None:
        self.records.pop(name, None)


def _world() -> tuple[FakeCodeBuild, FakeRegistry, list[str]]:
    log: list[str] = []
    cb = FakeCodeBuild()
    cb.log = log
    return cb, FakeRegistry(log), log


def test_many_databases_at_once_one_start_recorded_before_it_is_sent():
    cb, registry, log = _world()
    fleet = FleetBuilds("c1", 240)

    async def go() -> list[ObservedBuild]:
        await fleet.prime(cb, registry, NOW)
        return await asyncio.gather(*(fleet.start(cb, registry, STEP, NOW) for _ in range(50)))

    got = asyncio.run(go())
    assert len({b.codebuild_id for b in got}) == 1 and cb.calls.count("StartBuild") == 1 and fleet.starts == 1
    assert log == ["get", "record", "start"]  # the ReflexBuild (token, time) is written before StartBuild is sent
    (record,) = registry.records.values()
    assert record["spec"]["idempotencyToken"] == TOKEN and fleet.of(INPUTS.hash) == (got[0],) and fleet.knows(TOKEN)


def test_a_private_build_is_started_as_asked():
    cb, registry, _ = _world()
    fleet = FleetBuilds("c1", 240)
    private = StartBuild(inputs=INPUTS, idempotency_token="own", image_uri="repo:own", resource="", uid="", owner="team-a/x", cluster_identity="c1")
    asyncio.run(fleet.start(cb, registry, private, NOW))
    assert cb.calls == ["StartBuild"] and not registry.records and not fleet.builds


def _restart(cb: FakeCodeBuild, registry: FakeRegistry | None, now: datetime) -> tuple[FleetBuilds, ObservedBuild]:
    fleet = FleetBuilds("c1", 240)

    async def go() -> ObservedBuild:
        await fleet.prime(cb, registry, now)
        return await fleet.start(cb, registry, STEP, now)

    return fleet, asyncio.run(go())


def test_a_restart_within_the_window_sends_the_recorded_start_again():
    cb, registry, _ = _world()
    asyncio.run(registry.record_build(rules.image_name(STEP.image_uri), rules.start_spec(STEP, NOW).wire()))
    started = cb.made(TOKEN)  # StartBuild took effect; the operator died before hearing of it
    cb.calls.clear()
    _, got = _restart(cb, registry, NOW + timedelta(seconds=60))
    assert got == started and "Scan" not in cb.calls and cb.calls.count("StartBuild") == 1 and "Find" not in cb.calls


def test_a_restart_past_the_window_looks_the_recorded_start_up_and_sends_nothing():
    cb, registry, _ = _world()
    asyncio.run(registry.record_build(rules.image_name(STEP.image_uri), rules.start_spec(STEP, NOW).wire()))
    started = cb.made(TOKEN)
    cb.calls.clear()
    _, got = _restart(cb, registry, NOW + timedelta(hours=1))
    assert got == started and cb.calls == ["BatchGetBuilds", "Find"]


def test_a_recorded_start_that_never_reached_codebuild_is_started_after_the_look():
    cb, registry, _ = _world()
    asyncio.run(registry.record_build(rules.image_name(STEP.image_uri), rules.start_spec(STEP, NOW).wire()))
    _, got = _restart(cb, registry, NOW + timedelta(hours=1))
    assert cb.calls == ["BatchGetBuilds", "Find", "StartBuild"] and got.idempotency_token == TOKEN
    record = next(iter(registry.records.values()))  # recorded anew: a later look goes back to this start
    assert datetime.fromisoformat(record["spec"]["recordedAt"].replace("Z", "+00:00")) == NOW + timedelta(hours=1)


def test_no_record_of_the_installation_one_look_over_the_project_finds_its_builds():
    """A Kubernetes control plane rebuilt from nothing (AWS kept): the build is found, none started."""
    cb, registry, _ = _world()
    started = cb.made(TOKEN, at=NOW - timedelta(days=3))
    cb.made("theirs", identity_="c2")  # another installation's build of the same inputs: never used
    cb.calls.clear()
    fleet, got = _restart(cb, registry, NOW)
    assert got == started and cb.calls == ["Scan"] and fleet.scanned == 1 and fleet.of(INPUTS.hash) == (started,)


def test_a_retired_build_is_never_adopted_again():
    cb, registry, _ = _world()
    fleet, got = _restart(cb, registry, NOW)
    fleet.forget(got.codebuild_id)
    assert fleet.of(INPUTS.hash) == () and not fleet.knows(TOKEN) and not fleet.note(got)


def test_a_start_another_replica_recorded_is_taken_from_its_record():
    cb, registry, log = _world()
    ours, theirs = FleetBuilds("c1", 240), FleetBuilds("c1", 240)

    async def go() -> tuple[ObservedBuild, ObservedBuild]:
        await ours.prime(cb, registry, NOW)
        await theirs.prime(cb, registry, NOW)  # both read the (empty) records at their start
        first = await theirs.start(cb, registry, STEP, NOW)
        return first, await ours.start(cb, registry, STEP, NOW + timedelta(hours=1))  # past the window: StartBuild would start another

    first, second = asyncio.run(go())
    assert first == second and cb.calls.count("StartBuild") == 1
    assert registry.records[rules.image_name(STEP.image_uri)]["status"] == {"codebuildId": first.codebuild_id}


def test_the_leader_learns_the_builds_other_replicas_started_from_their_records():
    cb, registry, _ = _world()
    leader, other = FleetBuilds("c1", 240), FleetBuilds("c1", 240)

    async def go() -> ObservedBuild:
        await leader.prime(cb, registry, NOW)
        await other.prime(cb, registry, NOW)
        started = await other.start(cb, registry, STEP, NOW)
        await leader.reread(cb, registry)
        return started

    started = asyncio.run(go())
    assert leader.of(INPUTS.hash) == (started,) and rules.image_name(STEP.image_uri) in leader.recorded
