"""The fleet's shared builds, pure: who uses each build, what its ReflexBuild says, and when a
build no database uses any longer is stopped or deleted.

One build per distinct set of build inputs across the whole fleet: a database's pass adopts the
fleet's build of its inputs (``build.adopted``) and starts one only when none exists; the start's
idempotency token and image tag are the installation's and the inputs' (``identity``), so starts
of the same inputs by many databases, replicas, or an operator restarted after a crash are one
build. The operator-wide part (``controller.fleet``) keeps the builds, finds them again in
CodeBuild, and carries out what is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from reflex_operator.api.build import USED_BY_LIMIT, ReflexBuildSpec, ReflexBuildStatus
from reflex_operator.api.models import BuildState, ReflexDatabaseSpec
from reflex_operator.database import identity
from reflex_operator.database.build import _BUILD_STATE
from reflex_operator.database.inputs import ObservedBuild
from reflex_operator.database.steps import StartBuild

__all__ = ["Use", "Uses", "index", "use_of", "users", "build_name", "image_name", "start_spec", "found_spec", "Pending", "pending_of", "resolve", "build_status", "Verdict", "verdict", "STOP_GRACE_SECONDS"]

# An unfinished shared build no database wants is stopped only after this long unused (a database
# may be about to adopt it: the sweep's view of the fleet is a poll old).
STOP_GRACE_SECONDS = 120.0


@dataclass(frozen=True)
class Use:
    """What one database says of the fleet's builds: the inputs it wants (None: a build of its own,
    ``spec.rebuildToken``), the builds it keeps (the one it runs, the one it pins)."""

    resource: str  # namespace/name
    input_hash: str | None
    keep: frozenset[str]  # build ids (status.activeBuildId, spec.buildId)


def use_of(body: dict[str, Any], default_server_version: str) -> Use | None:
    """The database's ``Use`` from its body (None: a body that does not parse)."""
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    if meta.get("deletionTimestamp"):
        return None  # going away: it needs no build
    try:
        spec = ReflexDatabaseSpec.model_validate(body.get("spec") or {})
    except ValueError:
        return None
    inputs = identity.build_inputs(spec, default_server_version)
    keep = frozenset(b for b in (status.get("activeBuildId"), spec.build_id) if b)
    return Use(f"{meta.get('namespace')}/{meta.get('name')}", None if inputs.rebuild_token else inputs.hash, keep)


@dataclass(frozen=True)
class Uses:
    """The fleet's ``Use``s, indexed: databases by the inputs they want and by the builds they keep."""

    by_hash: dict[str, list[str]]
    by_build: dict[str, list[str]]


def index(uses: Iterable[Use]) -> Uses:
    by_hash: dict[str, list[str]] = {}
    by_build: dict[str, list[str]] = {}
    for u in uses:
        if u.input_hash is not None:
            by_hash.setdefault(u.input_hash, []).append(u.resource)
        for build_id in u.keep:
            by_build.setdefault(build_id, []).append(u.resource)
    return Uses(by_hash, by_build)


def users(build: ObservedBuild, uses: Uses) -> list[str]:
    """The databases that use a shared build, sorted: they want its inputs, run it or pin it."""
    return sorted(set(uses.by_hash.get(build.input_hash, ())) | set(uses.by_build.get(build.id, ())))


def build_name(build: ObservedBuild) -> str:
    """The ReflexBuild's name: the image's tag (unique per installation, inputs and attempt)."""
    if build.image_uri and ":" in build.image_uri.rsplit("/", 1)[-1]:
        return image_name(build.image_uri)
    return f"{build.input_hash}-{build.attempt or 0}"


def start_spec(step: StartBuild, now: datetime) -> ReflexBuildSpec:
    """The ReflexBuild of a shared start, written before StartBuild is sent (its intent)."""
    return ReflexBuildSpec(
        input_hash=step.inputs.hash,
        attempt=step.attempt,
        server_version=step.inputs.server_version,
        schemas=list(step.inputs.schemas),
        cluster_identity=step.cluster_identity,
        idempotency_token=step.idempotency_token,
        image_uri=step.image_uri,
        recorded_at=now,
    )


def found_spec(build: ObservedBuild, cluster_identity: str) -> ReflexBuildSpec:
    """The ReflexBuild of a build found in CodeBuild (after a restart with no record of it)."""
    return ReflexBuildSpec(
        input_hash=build.input_hash,
        attempt=build.attempt or 0,
        server_version=build.server_version or "",
        schemas=list(build.schemas),
        cluster_identity=cluster_identity,
        idempotency_token=build.idempotency_token or "",
        image_uri=build.image_uri or "",
        recorded_at=build.started_at or datetime.fromtimestamp(0, tz=timezone.utc),
    )


def image_name(image_uri: str) -> str:
    """A ReflexBuild's name: its image's tag."""
    return image_uri.rsplit(":", 1)[-1].lower()


@dataclass(frozen=True)
class Pending:
    """A shared start recorded in a ReflexBuild whose build CodeBuild has not been heard of."""

    name: str
    token: str
    recorded_at: datetime


def pending_of(body: dict[str, Any], cluster_identity: str) -> tuple[ReflexBuildSpec, str | None] | None:
    """A ReflexBuild of this installation: (its spec, its CodeBuild id if known); None: another
    installation's, or a body that does not parse."""
    try:
        spec = ReflexBuildSpec.model_validate(body.get("spec") or {})
    except ValueError:
        return None
    if spec.cluster_identity != cluster_identity:
        return None
    return spec, ((body.get("status") or {}).get("codebuildId") or None)


def resolve(pending: Pending, now: datetime, fresh_seconds: float) -> str:
    """What to do with a start recorded before a restart: "send" (within CodeBuild's idempotency
    window less its margin: StartBuild with the token returns the build if it was started) or
    "find" (past it: look for the build back to the record's time before anything is sent)."""
    return "send" if (now - pending.recorded_at).total_seconds() < fresh_seconds else "find"


def build_status(build: ObservedBuild, used_by: list[str], unused_since: datetime | None) -> ReflexBuildStatus:
    duration = None
    if build.started_at and build.finished_at:
        duration = max(0, int((build.finished_at - build.started_at).total_seconds()))
    failure = build.failure_reason or ("stopped" if build.outcome.value == "stopped" else None)
    return ReflexBuildStatus(
        codebuild_id=build.codebuild_id,
        state=_BUILD_STATE[build.outcome],
        started_at=build.started_at,
        finished_at=build.finished_at,
        build_duration_seconds=duration,
        cost_estimate_cents=identity.estimate_cost_cents(build.compute_type, duration),
        failure_reason=failure,
        logs_url=build.logs_url,
        databases=len(used_by),
        used_by=used_by[:USED_BY_LIMIT],
        unused_since=None if used_by else unused_since,
    )


@dataclass(frozen=True)
class Verdict:
    """What becomes of one shared build this sweep."""

    unused_since: datetime | None  # since when no database uses it (None: used)
    stop: bool = False  # unfinished and wanted by none for STOP_GRACE_SECONDS: stop it
    retire: bool = False  # finished and unused for the retention period: delete it and its image


def verdict(build: ObservedBuild, used_by: list[str], unused_since: datetime | None, now: datetime, retention_seconds: float) -> Verdict:
    """Used: kept. Unused: since when, and whether it is stopped (still running) or retired."""
    if used_by:
        return Verdict(None)
    since = unused_since or now
    idle = (now - since).total_seconds()
    if not build.outcome.finished:
        return Verdict(since, stop=idle >= STOP_GRACE_SECONDS)
    return Verdict(since, retire=idle >= retention_seconds)


def state(build: ObservedBuild) -> BuildState:
    return _BUILD_STATE[build.outcome]
