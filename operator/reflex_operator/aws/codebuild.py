"""CodeBuild: start (idempotently), poll in batches of 100, stop, and find the build of an intent
whose idempotency window has passed (a backwards look bounded by the intent's time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reflex_operator.aws.clients import AwsCallError, AwsClients
from reflex_operator.database.inputs import BuildOutcome, ObservedBuild
from reflex_operator.ports import BuildQuotaReached
from reflex_operator.database.steps import FindBuild, StartBuild

__all__ = ["CodeBuild", "BATCH", "QUOTA_REACHED", "build_environment", "parse_build"]

BATCH = 100  # BatchGetBuilds takes up to 100 ids.
QUOTA_REACHED = "AccountLimitExceededException"  # StartBuild past the concurrent-build quota and its queue

# Environment variables set on every build: they identify the resource and its inputs, so a
# build started before a crash is found again.
ENV_UID = "REFLEX_RESOURCE_UID"  # builds made before they were shared (read, no longer written)
ENV_RESOURCE = "REFLEX_RESOURCE"
ENV_IDENTITY = "REFLEX_CLUSTER_IDENTITY"  # the installation that owns the build (settings.cluster_identity)
ENV_ATTEMPT = "REFLEX_BUILD_ATTEMPT"
ENV_OWNER = "REFLEX_BUILD_OWNER"  # a private build's database (spec.rebuildToken); absent: the fleet's
ENV_HASH = "REFLEX_BUILD_HASH"
ENV_TOKEN = "REFLEX_BUILD_TOKEN"
ENV_IMAGE = "IMAGE_URI"
ENV_VERSION = "REFLEX_SERVER_VERSION"
ENV_SCHEMAS = "REFLEX_SCHEMAS"

_OUTCOME = {
    "SUCCEEDED": BuildOutcome.SUCCEEDED,
    "FAILED": BuildOutcome.FAILED,
    "FAULT": BuildOutcome.FAILED,
    "TIMED_OUT": BuildOutcome.FAILED,
    "STOPPED": BuildOutcome.STOPPED,
}


def _env(build: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in build.get("environment", {}).get("environmentVariables", [])}


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def parse_build(build: dict[str, Any]) -> ObservedBuild | None:
    """A BatchGetBuilds entry as an observation; None for builds this operator did not start."""
    env = _env(build)
    if ENV_HASH not in env:
        return None
    status = build.get("buildStatus", "IN_PROGRESS")
    outcome = _OUTCOME.get(status)
    if outcome is None:
        outcome = BuildOutcome.QUEUED if build.get("currentPhase") in ("SUBMITTED", "QUEUED", None) else BuildOutcome.IN_PROGRESS
    failure = None
    if outcome is BuildOutcome.FAILED:
        failed = [p for p in build.get("phases", []) if p.get("phaseStatus") in ("FAILED", "FAULT", "TIMED_OUT")]
        contexts = [c.get("message", "") for p in failed for c in p.get("contexts", []) if c.get("message")]
        phase = failed[0].get("phaseType") if failed else None
        failure = "; ".join(contexts) or (f"phase {phase} failed" if phase else status.lower())
    return ObservedBuild(
        codebuild_id=build["id"],
        input_hash=env[ENV_HASH],
        outcome=outcome,
        image_uri=env.get(ENV_IMAGE),
        started_at=_time(build.get("startTime")),
        finished_at=_time(build.get("endTime")) if outcome.finished else None,
        logs_url=(build.get("logs") or {}).get("deepLink"),
        log_group=(build.get("logs") or {}).get("groupName"),
        log_stream=(build.get("logs") or {}).get("streamName"),
        compute_type=(build.get("environment") or {}).get("computeType"),
        server_version=env.get(ENV_VERSION),
        schemas=tuple(s for s in env.get(ENV_SCHEMAS, "").split(",") if s),
        failure_reason=failure,
        shared=ENV_IDENTITY in env and not env.get(ENV_OWNER),
        owner=env.get(ENV_OWNER) or None,
        attempt=int(env[ENV_ATTEMPT]) if env.get(ENV_ATTEMPT, "").isdigit() else None,
        idempotency_token=env.get(ENV_TOKEN),
    )


def build_environment(step: StartBuild) -> dict[str, str]:
    """The variables set on a build: the same for every database that starts it (CodeBuild answers
    a repeated token with different parameters with an error), so nothing of any one database but
    a private build's owner. They identify the installation and the inputs, so a build is found
    again from AWS alone (``CodeBuild.scan``)."""
    env = {
        ENV_IDENTITY: step.cluster_identity,
        ENV_HASH: step.inputs.hash,
        ENV_ATTEMPT: str(step.attempt),
        ENV_TOKEN: step.idempotency_token,
        ENV_IMAGE: step.image_uri,
        ENV_VERSION: step.inputs.server_version,
        ENV_SCHEMAS: ",".join(step.inputs.schemas),
    }
    if step.owner:
        env[ENV_OWNER] = step.owner
    return env


@dataclass
class _Look:
    """Whether a backwards look over the project's builds got to its end (the floor, or the last build)."""

    complete: bool = False


class CodeBuild:
    def __init__(
        self,
        aws: AwsClients,
        project: str,
        compute_type: str,
        find_max_builds: int = 2000,
        clock_skew_seconds: float = 60.0,
        repository: str | None = None,
    ) -> None:
        self.aws, self.project, self.compute_type, self.repository = aws, project, compute_type, repository
        self.find_max_builds, self.clock_skew = find_max_builds, timedelta(seconds=clock_skew_seconds)

    async def get(self, ids: list[str]) -> dict[str, ObservedBuild]:
        """All of ``ids``, in ``BatchGetBuilds`` calls of up to 100."""
        found: dict[str, ObservedBuild] = {}
        for start in range(0, len(ids), BATCH):
            for build in await self._batch(ids[start : start + BATCH]):
                parsed = parse_build(build)
                if parsed is not None:
                    found[parsed.codebuild_id] = parsed
        return found

    async def _batch(self, ids: list[str]) -> list[dict[str, Any]]:
        """One ``BatchGetBuilds`` of up to ``BATCH`` ids: the builds as CodeBuild answers them."""
        return (await self.aws.call("codebuild", "BatchGetBuilds", ids=ids)).get("builds", [])  # type: ignore[no-any-return]

    async def hold_start(self) -> None:
        """The StartBuild token, held for the calling pass until its ``start`` (or ``BudgetDeferred``)."""
        await self.aws.hold("codebuild", "StartBuild")

    async def start(self, step: StartBuild) -> ObservedBuild:
        """Start the build. The same token within CodeBuild's idempotency window returns the build
        already started (how a restarted operator recovers one: ``database.intent``)."""
        env = build_environment(step)
        try:
            reply = await self.aws.call(
                "codebuild",
                "StartBuild",
                projectName=self.project,
                idempotencyToken=step.idempotency_token,
                sourceVersion=step.inputs.server_version,
                computeTypeOverride=self.compute_type,
                environmentVariablesOverride=[{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in env.items()],
            )
        except AwsCallError as exc:
            if exc.code == QUOTA_REACHED:
                raise BuildQuotaReached(str(exc)) from exc
            raise
        parsed = parse_build(reply["build"])
        assert parsed is not None
        return parsed

    async def _newest_first(self, floor: datetime | None, look: _Look) -> AsyncIterator[list[dict[str, Any]]]:
        """The project's builds in batches of up to 100, newest first (ListBuildsForProject, then
        BatchGetBuilds), down to the first batch with a build started before ``floor`` (None: no
        floor) or ``find_max_builds`` builds; ``look.complete`` says whether it got to the end."""
        seen, token = 0, None
        while seen < self.find_max_builds:
            params: dict[str, Any] = {"projectName": self.project, "sortOrder": "DESCENDING"}
            if token:
                params["nextToken"] = token
            reply = await self.aws.call("codebuild", "ListBuildsForProject", **params)
            ids = reply.get("ids", [])
            for start in range(0, len(ids), BATCH):
                if seen >= self.find_max_builds:
                    return
                builds = await self._batch(ids[start : start + BATCH])
                seen += len(builds)
                yield builds
                started = [t for t in (_time(b.get("startTime")) for b in builds) if t is not None]
                if floor is not None and started and min(started) < floor:
                    look.complete = True  # newest first: everything further is older than the floor
                    return
            token = reply.get("nextToken")
            if not token:
                look.complete = True
                return

    async def find(self, step: FindBuild) -> tuple[ObservedBuild | None, bool]:
        """The build of ``step``'s token, looking backwards from the newest build and stopping at the
        first one started before the intent (less the clock skew): (the build or None, whether the
        look was complete). Its cost is bounded by the builds started since the intent, and by
        ``find_max_builds``; past that it gives up (None, False) rather than guess."""
        look = _Look()
        async with aclosing(self._newest_first(step.since - self.clock_skew, look)) as batches:
            async for builds in batches:
                for build in builds:
                    if _env(build).get(ENV_TOKEN) == step.idempotency_token:  # a token names one build of one installation
                        return parse_build(build), True
        return None, look.complete

    async def scan(self, cluster_identity: str, since: datetime | None) -> tuple[list[ObservedBuild], bool]:
        """The builds of this installation (``REFLEX_CLUSTER_IDENTITY``) in the project, newest
        first, back to ``since`` (less the clock skew; None: as far as ``find_max_builds``): (the
        builds, whether the look was complete). One ListBuildsForProject and one BatchGetBuilds per
        100 builds: after a crash, or a control plane rebuilt from nothing, the fleet finds every
        build it made (and starts none twice) in a bounded number of calls."""
        look, found = _Look(), []
        floor = since - self.clock_skew if since is not None else None
        async with aclosing(self._newest_first(floor, look)) as batches:
            async for builds in batches:
                for build in builds:
                    if _env(build).get(ENV_IDENTITY) == cluster_identity:
                        parsed = parse_build(build)
                        if parsed is not None:
                            found.append(parsed)
        return found, look.complete

    async def retire(self, codebuild_ids: list[str], image_tags: list[str]) -> None:
        """Delete builds no database uses any longer: their images in ECR first (BatchDeleteImage,
        100 tags a call; a tag already gone is no error), then the builds' records
        (BatchDeleteBuilds, 100 ids a call)."""
        if self.repository:
            for start in range(0, len(image_tags), BATCH):
                ids = [{"imageTag": tag} for tag in image_tags[start : start + BATCH]]
                await self.aws.call("ecr", "BatchDeleteImage", repositoryName=self.repository, imageIds=ids)
        for start in range(0, len(codebuild_ids), BATCH):
            await self.aws.call("codebuild", "BatchDeleteBuilds", ids=codebuild_ids[start : start + BATCH])

    async def stop(self, codebuild_id: str) -> None:
        await self.aws.call("codebuild", "StopBuild", id=codebuild_id)
