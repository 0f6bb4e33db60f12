"""CodeBuild: start (idempotently, recoverably), poll in batches of 100, stop."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reflex_operator.aws.clients import AwsClients
from reflex_operator.decide.observed import BuildOutcome, ObservedBuild
from reflex_operator.decide.steps import StartBuild

__all__ = ["CodeBuild", "BATCH", "parse_build"]

BATCH = 100  # BatchGetBuilds takes up to 100 ids.

# Environment variables set on every build: they identify the resource and its inputs, so a
# build started before a crash is found again.
ENV_UID = "REFLEX_RESOURCE_UID"
ENV_RESOURCE = "REFLEX_RESOURCE"
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
        compute_type=(build.get("environment") or {}).get("computeType"),
        server_version=env.get(ENV_VERSION),
        schemas=tuple(s for s in env.get(ENV_SCHEMAS, "").split(",") if s),
        failure_reason=failure,
    )


class CodeBuild:
    def __init__(self, aws: AwsClients, project: str, compute_type: str) -> None:
        self.aws, self.project, self.compute_type = aws, project, compute_type

    async def get(self, ids: list[str]) -> dict[str, ObservedBuild]:
        """All of ``ids``, in ``BatchGetBuilds`` calls of up to 100."""
        found: dict[str, ObservedBuild] = {}
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            reply = await self.aws.call("codebuild", "BatchGetBuilds", ids=chunk)
            for build in reply.get("builds", []):
                parsed = parse_build(build)
                if parsed is not None:
                    found[parsed.codebuild_id] = parsed
        return found

    async def start(self, step: StartBuild) -> ObservedBuild:
        """Start the build, or find the one already started for the same token (an operator killed
        between StartBuild and its status write must not start a second build)."""
        existing = await self._find(step.uid, step.idempotency_token)
        if existing is not None:
            return existing
        env = {
            ENV_UID: step.uid,
            ENV_RESOURCE: step.resource,
            ENV_HASH: step.inputs.hash,
            ENV_TOKEN: step.idempotency_token,
            ENV_IMAGE: step.image_uri,
            ENV_VERSION: step.inputs.server_version,
            ENV_SCHEMAS: ",".join(step.inputs.schemas),
        }
        reply = await self.aws.call(
            "codebuild",
            "StartBuild",
            projectName=self.project,
            idempotencyToken=step.idempotency_token,
            sourceVersion=step.inputs.server_version,
            computeTypeOverride=self.compute_type,
            environmentVariablesOverride=[{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in env.items()],
        )
        parsed = parse_build(reply["build"])
        assert parsed is not None
        return parsed

    async def _find(self, uid: str, token: str) -> ObservedBuild | None:
        """The most recent page of the project's builds, searched for this resource's token."""
        ids = (await self.aws.call("codebuild", "ListBuildsForProject", projectName=self.project, sortOrder="DESCENDING")).get("ids", [])
        if not ids:
            return None
        reply = await self.aws.call("codebuild", "BatchGetBuilds", ids=ids[:BATCH])
        for build in reply.get("builds", []):
            env = _env(build)
            if env.get(ENV_UID) == uid and env.get(ENV_TOKEN) == token:
                return parse_build(build)
        return None

    async def stop(self, codebuild_id: str) -> None:
        await self.aws.call("codebuild", "StopBuild", id=codebuild_id)
