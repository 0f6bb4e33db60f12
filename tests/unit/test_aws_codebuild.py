"""CodeBuild adapter: ``parse_build`` and the calls of ``CodeBuild`` (batching, one call to start,
the bounded backwards look for an expired intent's build, stop), against a scripted AWS."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from reflex_operator.aws.codebuild import BATCH, CodeBuild, parse_build
from reflex_operator.database.identity import BuildInputs
from reflex_operator.database.inputs import BuildOutcome
from reflex_operator.database.steps import FindBuild, StartBuild
from reflex_operator.ports import BuildQuotaReached
from tests.unit.fake_aws import FakeAws, aws_error, raises

INPUTS = BuildInputs(server_version="v1.4.0", schemas=("public", "sales"), rebuild_token=None)
STEP = StartBuild(inputs=INPUTS, idempotency_token="tok-1", image_uri="repo:abc", resource="ns/db", uid="uid-1")
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def build(
    id: str = "reflex-server-build:b1",
    status: str = "IN_PROGRESS",
    phase: str | None = "BUILD",
    uid: str = "uid-1",
    token: str = "tok-1",
    **extra: Any,
) -> dict[str, Any]:
    env = {
        "REFLEX_RESOURCE_UID": uid,
        "REFLEX_BUILD_HASH": INPUTS.hash,
        "REFLEX_BUILD_TOKEN": token,
        "IMAGE_URI": "repo:abc",
        "REFLEX_SERVER_VERSION": "v1.4.0",
        "REFLEX_SCHEMAS": "public,sales",
    }
    return {
        "id": id,
        "buildStatus": status,
        "currentPhase": phase,
        "startTime": T0,
        "endTime": T0.replace(minute=5),
        "logs": {"deepLink": "https://logs/b1"},
        "environment": {
            "computeType": "BUILD_GENERAL1_MEDIUM",
            "environmentVariables": [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in env.items()],
        },
        **extra,
    }


def test_a_build_of_another_client_is_not_ours() -> None:
    assert parse_build({"id": "x:1", "buildStatus": "SUCCEEDED", "environment": {"environmentVariables": []}}) is None
    assert parse_build({"id": "x:1"}) is None


def test_queued_until_a_phase_past_queued() -> None:
    for phase in ("SUBMITTED", "QUEUED", None):
        assert parse_build(build(phase=phase)).outcome is BuildOutcome.QUEUED  # type: ignore[union-attr]
    running = parse_build(build(phase="BUILD"))
    assert running is not None and running.outcome is BuildOutcome.IN_PROGRESS
    assert running.finished_at is None and running.failure_reason is None


def test_succeeded_build_carries_its_inputs() -> None:
    b = parse_build(build(status="SUCCEEDED", phase="COMPLETED"))
    assert b is not None
    assert b.outcome is BuildOutcome.SUCCEEDED and b.id == "b1" and b.codebuild_id == "reflex-server-build:b1"
    assert b.input_hash == INPUTS.hash and b.image_uri == "repo:abc"
    assert b.server_version == "v1.4.0" and b.schemas == ("public", "sales")
    assert b.compute_type == "BUILD_GENERAL1_MEDIUM" and b.logs_url == "https://logs/b1"
    assert b.started_at == T0 and b.finished_at == T0.replace(minute=5)


def test_times_as_strings_are_parsed() -> None:
    b = parse_build(build(status="SUCCEEDED", startTime="2026-01-01T12:00:00+00:00", endTime=None))
    assert b is not None and b.started_at == T0 and b.finished_at is None


def test_failed_build_says_why_from_the_phase_contexts() -> None:
    phases = [
        {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED"},
        {"phaseType": "BUILD", "phaseStatus": "FAILED", "contexts": [{"message": "COMMAND_EXECUTION_ERROR: exit 2"}, {"message": ""}]},
        {"phaseType": "POST_BUILD", "phaseStatus": "FAULT", "contexts": [{"message": "push denied"}]},
    ]
    b = parse_build(build(status="FAILED", phases=phases))
    assert b is not None and b.outcome is BuildOutcome.FAILED
    assert b.failure_reason == "COMMAND_EXECUTION_ERROR: exit 2; push denied"
    assert b.finished_at is not None


def test_failed_build_without_messages_names_the_phase_or_the_status() -> None:
    silent = parse_build(build(status="TIMED_OUT", phases=[{"phaseType": "BUILD", "phaseStatus": "TIMED_OUT"}]))
    assert silent is not None and silent.outcome is BuildOutcome.FAILED and silent.failure_reason == "phase BUILD failed"
    bare = parse_build(build(status="FAULT"))
    assert bare is not None and bare.failure_reason == "fault"


def test_stopped_build() -> None:
    b = parse_build(build(status="STOPPED"))
    assert b is not None and b.outcome is BuildOutcome.STOPPED and b.failure_reason is None and b.finished_at is not None


async def test_get_batches_by_100_and_skips_foreign_builds() -> None:
    def batch_get(ids: list[str]) -> dict[str, Any]:
        assert len(ids) <= BATCH
        return {"builds": [build(id=i) for i in ids if not i.endswith(":foreign")] + [{"id": "p:foreign"}]}

    aws = FakeAws(BatchGetBuilds=batch_get)
    ids = [f"p:b{n}" for n in range(250)]
    found = await CodeBuild(aws, "p", "BUILD_GENERAL1_SMALL").get(ids)  # type: ignore[arg-type]
    assert [len(p["ids"]) for p in aws.params("BatchGetBuilds")] == [100, 100, 50]
    assert sorted(found) == sorted(ids)
    assert await CodeBuild(aws, "p", "x").get([]) == {}  # type: ignore[arg-type]
    assert len(aws.calls) == 3


def _find_step(since: datetime = T0) -> FindBuild:
    return FindBuild(uid="uid-1", idempotency_token="tok-1", since=since)


async def test_find_looks_backwards_for_the_token() -> None:
    aws = FakeAws(
        ListBuildsForProject=lambda **_: {"ids": ["p:other", "p:mine"]},
        BatchGetBuilds=lambda ids: {"builds": [build(id="p:other", uid="uid-2", token="tok-2"), build(id="p:mine")]},
    )
    found, complete = await CodeBuild(aws, "p", "BUILD_GENERAL1_SMALL").find(_find_step())  # type: ignore[arg-type]
    assert found is not None and found.codebuild_id == "p:mine" and complete
    assert "StartBuild" not in aws.ops()
    assert aws.params("ListBuildsForProject") == [{"projectName": "p", "sortOrder": "DESCENDING"}]


def _project(n: int, mine: int | None) -> FakeAws:
    """``n`` builds, newest first, one a minute back from T0; ``mine`` is the index of ours."""
    ids = [f"p:{i:04d}" for i in range(n)]

    def at(i: int) -> dict[str, Any]:
        who = {} if i == mine else {"uid": "uid-2", "token": f"t{i}"}
        return build(id=ids[i], startTime=T0 - timedelta(minutes=i), **who)

    pages = {None: ids[:100]} | {ids[k - 1]: ids[k : k + 100] for k in range(100, n, 100)}

    def listing(**params: Any) -> dict[str, Any]:
        page = pages[params.get("nextToken")]
        return {"ids": page, **({"nextToken": page[-1]} if page[-1] != ids[-1] else {})}

    return FakeAws(ListBuildsForProject=listing, BatchGetBuilds=lambda ids: {"builds": [at(int(i[2:])) for i in ids]})


@pytest.mark.parametrize(
    "n,mine,since_minutes_ago,max_builds,found,complete,lists",
    [
        (250, 150, 200, 2000, True, True, 2),  # past the first page: the next pages are read
        (250, None, 30, 2000, False, True, 1),  # stops at the first build older than the intent (less skew)
        (250, None, 300, 2000, False, True, 3),  # the whole project, nothing: never started
        (250, 180, 300, 100, False, False, 1),  # the limit comes first: inconclusive, no guess
    ],
)
async def test_find_is_bounded_by_the_intents_time_and_a_limit(n, mine, since_minutes_ago, max_builds, found, complete, lists):
    aws = _project(n, mine)
    cb = CodeBuild(aws, "p", "x", find_max_builds=max_builds, clock_skew_seconds=60)  # type: ignore[arg-type]
    build_, done = await cb.find(_find_step(T0 - timedelta(minutes=since_minutes_ago)))
    assert (build_ is not None, done) == (found, complete)
    assert len(aws.params("ListBuildsForProject")) == lists
    assert all(len(p["ids"]) <= 100 for p in aws.params("BatchGetBuilds"))


async def test_start_starts_a_build_recognisable_afterwards() -> None:
    started: dict[str, Any] = {}

    def start(**params: Any) -> dict[str, Any]:
        started.update(params)
        env = {e["name"]: e["value"] for e in params["environmentVariablesOverride"]}
        return {"build": build(id="p:new", phase="SUBMITTED", token=env["REFLEX_BUILD_TOKEN"])}

    aws = FakeAws(
        ListBuildsForProject=lambda **_: {"ids": ["p:old"]},
        BatchGetBuilds=lambda ids: {"builds": [build(id="p:old", token="tok-0")]},
        StartBuild=start,
    )
    b = await CodeBuild(aws, "p", "BUILD_GENERAL1_LARGE").start(STEP)  # type: ignore[arg-type]
    assert b.codebuild_id == "p:new" and b.outcome is BuildOutcome.QUEUED
    assert started["projectName"] == "p" and started["idempotencyToken"] == "tok-1"
    assert started["sourceVersion"] == "v1.4.0" and started["computeTypeOverride"] == "BUILD_GENERAL1_LARGE"
    env = {e["name"]: e["value"] for e in started["environmentVariablesOverride"]}
    # The same for every database that starts it (a repeated token with other parameters is an
    # error): the installation and the inputs, nothing of the database that asked.
    assert env == {
        "REFLEX_CLUSTER_IDENTITY": "default",
        "REFLEX_BUILD_ATTEMPT": "0",
        "REFLEX_BUILD_HASH": INPUTS.hash,
        "REFLEX_BUILD_TOKEN": "tok-1",
        "IMAGE_URI": "repo:abc",
        "REFLEX_SERVER_VERSION": "v1.4.0",
        "REFLEX_SCHEMAS": "public,sales",
    }
    assert all(e["type"] == "PLAINTEXT" for e in started["environmentVariablesOverride"])


async def test_start_is_one_call_and_lists_nothing() -> None:
    aws = FakeAws(StartBuild=lambda **_: {"build": build(id="p:new")})
    await CodeBuild(aws, "p", "x").start(STEP)  # type: ignore[arg-type]
    assert aws.ops() == ["StartBuild"]


@pytest.mark.parametrize(
    ("code", "quota"), [("AccountLimitExceededException", True), ("InvalidInputException", False), ("ResourceNotFoundException", False)]
)
async def test_start_refused_at_the_build_quota_is_its_own_outcome(code: str, quota: bool) -> None:
    aws = FakeAws(StartBuild=raises(aws_error("codebuild", "StartBuild", code, "Cannot have more than 300 builds in queue")))
    expected = BuildQuotaReached if quota else Exception
    with pytest.raises(expected) as err:
        await CodeBuild(aws, "p", "x").start(STEP)  # type: ignore[arg-type]
    assert isinstance(err.value, BuildQuotaReached) is quota
    assert "300 builds in queue" in str(err.value)


async def test_stop() -> None:
    aws = FakeAws(StopBuild=lambda **_: {})
    await CodeBuild(aws, "p", "x").stop("p:b1")  # type: ignore[arg-type]
    assert aws.calls == [("codebuild", "StopBuild", {"id": "p:b1"})]


def _installations(n: int, ours: set[int]) -> FakeAws:
    """``n`` builds, newest first, one a minute back from T0; those in ``ours`` are installation c1's."""
    ids = [f"p:{i:04d}" for i in range(n)]

    def at(i: int) -> dict[str, Any]:
        b = build(id=ids[i], token=f"t{i}", startTime=T0 - timedelta(minutes=i))
        b["environment"]["environmentVariables"] += [{"name": "REFLEX_CLUSTER_IDENTITY", "value": "c1" if i in ours else "c2"},
                                                     {"name": "REFLEX_BUILD_ATTEMPT", "value": "0"}]
        return b

    pages = {None: ids[:100]} | {ids[k - 1]: ids[k : k + 100] for k in range(100, n, 100)}

    def listing(**params: Any) -> dict[str, Any]:
        page = pages[params.get("nextToken")]
        return {"ids": page, **({"nextToken": page[-1]} if page[-1] != ids[-1] else {})}

    return FakeAws(ListBuildsForProject=listing, BatchGetBuilds=lambda ids: {"builds": [at(int(i[2:])) for i in ids]})


@pytest.mark.parametrize(
    "since_minutes_ago,max_builds,found,complete,lists",
    [
        (None, 2000, [3, 150], True, 3),  # the whole project: this installation's builds only
        (60, 2000, [3], True, 1),  # back to a time (less the skew): stops at the first older build
        (None, 100, [3], False, 1),  # the limit comes first: what was found, and that the look was cut short
    ],
)
async def test_scan_finds_one_installations_builds_bounded(since_minutes_ago, max_builds, found, complete, lists):
    aws = _installations(250, {3, 150})
    cb = CodeBuild(aws, "p", "x", find_max_builds=max_builds, clock_skew_seconds=60)  # type: ignore[arg-type]
    since = None if since_minutes_ago is None else T0 - timedelta(minutes=since_minutes_ago)
    builds, done = await cb.scan("c1", since)
    assert [int(b.codebuild_id[2:]) for b in builds] == found and done is complete
    assert all(b.shared and b.attempt == 0 for b in builds)
    assert len(aws.params("ListBuildsForProject")) == lists


async def test_retire_deletes_the_images_then_the_builds_100_a_call() -> None:
    aws = FakeAws(BatchDeleteImage=lambda **_: {"imageIds": [], "failures": []}, BatchDeleteBuilds=lambda **_: {"buildsDeleted": []})
    cb = CodeBuild(aws, "p", "x", repository="reflex-server")  # type: ignore[arg-type]
    await cb.retire([f"p:{i}" for i in range(150)], [f"tag-{i}" for i in range(150)])
    assert aws.ops() == ["BatchDeleteImage", "BatchDeleteImage", "BatchDeleteBuilds", "BatchDeleteBuilds"]
    assert aws.params("BatchDeleteImage")[0]["repositoryName"] == "reflex-server"
    assert aws.params("BatchDeleteImage")[1]["imageIds"][-1] == {"imageTag": "tag-149"}
