"""The build: what is built (the history merged with what CodeBuild reports), which image to run,
which build to start, and which running builds to stop because they no longer match the spec.
"""

from __future__ import annotations

from dataclasses import dataclass

from reflex_operator.api.models import Action, BuildIntent, BuildRecord, BuildState
from reflex_operator.database import identity
from reflex_operator.api import reasons
from reflex_operator.database.intent import StartFacts, start_build
from reflex_operator.database.identity import BuildInputs
from reflex_operator.database.inputs import BuildOutcome, Config, Desired, ObservedBuild, ObservedService
from reflex_operator.database.outcome import Outcome, blocked
from reflex_operator.database.steps import Event, FindBuild, StartBuild, StopBuild

__all__ = ["BuildChoice", "KnownBuilds", "adopted", "build_history", "choose_build", "known_builds"]


_BUILD_STATE = {
    BuildOutcome.QUEUED: BuildState.QUEUED,
    BuildOutcome.IN_PROGRESS: BuildState.IN_PROGRESS,
    BuildOutcome.SUCCEEDED: BuildState.SUCCEEDED,
    BuildOutcome.FAILED: BuildState.FAILED,
    BuildOutcome.STOPPED: BuildState.FAILED,
}


def _record(build: ObservedBuild) -> BuildRecord:
    duration = None
    if build.started_at and build.finished_at:
        duration = max(0, int((build.finished_at - build.started_at).total_seconds()))
    failure = build.failure_reason
    if build.outcome is BuildOutcome.STOPPED:
        failure = failure or "stopped"
    return BuildRecord(
        id=build.id,
        codebuild_id=build.codebuild_id,
        image_uri=build.image_uri if build.outcome is BuildOutcome.SUCCEEDED else None,
        status=_BUILD_STATE[build.outcome],
        logs_url=build.logs_url,
        log_group=build.log_group,
        log_stream=build.log_stream,
        started_at=build.started_at,
        finished_at=build.finished_at,
        build_duration_seconds=duration,
        compute_type_used=build.compute_type,
        cost_estimate_cents=identity.estimate_cost_cents(build.compute_type, duration),
        server_version=build.server_version,
        schemas=list(build.schemas) or None,
        input_hash=build.input_hash,
        failure_reason=failure,
        deployable=build.outcome is BuildOutcome.SUCCEEDED and bool(build.image_uri),
        shared=True if build.shared else None,
    )


def build_history(
    previous: list[BuildRecord], observed: tuple[ObservedBuild, ...], limit: int, keep: set[str]
) -> list[BuildRecord]:
    """Merge what CodeBuild reports into the recorded history: newest first, at most ``limit``
    entries, never dropping a build in ``keep`` (the active and the pinned one)."""
    by_id: dict[str, BuildRecord] = {b.id: b for b in previous}
    for build in observed:
        by_id[build.id] = _record(build)
    ordered = sorted(
        by_id.values(),
        key=lambda b: (b.started_at.timestamp() if b.started_at else float("inf"), b.id),
        reverse=True,
    )
    kept = ordered[:limit]
    kept += [b for b in ordered[limit:] if b.id in keep]
    return kept


@dataclass(frozen=True)
class KnownBuilds:
    """What is built, and the builds this pass cares about."""

    inputs: BuildInputs  # what the spec asks to build
    history: list[BuildRecord]  # newest first, as status.builds shows it
    current: BuildRecord | None  # the latest build of the desired inputs
    pinned: BuildRecord | None  # the build spec.buildId names
    active: BuildRecord | None  # the build the running service serves

    @property
    def current_running(self) -> bool:
        return self.current is not None and not self.current.status.finished


def adopted(inputs: BuildInputs, fleet: tuple[ObservedBuild, ...]) -> tuple[ObservedBuild, ...]:
    """The fleet's shared builds this database takes as its own: those of its inputs made by this
    installation (the fleet holds no other). A database with ``spec.rebuildToken`` takes none (it asked for a build of its own)."""
    if inputs.rebuild_token:
        return ()
    return tuple(b for b in fleet if b.shared and b.owner is None and b.input_hash == inputs.hash)


def known_builds(
    desired: Desired,
    observed: tuple[ObservedBuild, ...],
    service: ObservedService | None,
    config: Config,
    fleet: tuple[ObservedBuild, ...] = (),
) -> KnownBuilds:
    """The build history and the builds in it that matter: current, pinned and active. The fleet's
    shared builds of the same inputs (``fleet``) join the history: the first database that needs an
    image starts its build, every other one uses it."""
    spec, previous = desired.spec, desired.status
    inputs = identity.build_inputs(spec, config.default_server_version)
    keep = {b for b in (previous.active_build_id, spec.build_id) if b}
    # What this pass observed of a build, or a finished record of it, is newer than the fleet's copy.
    seen = {b.codebuild_id for b in observed} | {b.codebuild_id for b in previous.builds if b.status.finished}
    observed = observed + tuple(b for b in adopted(inputs, fleet) if b.codebuild_id not in seen)
    history = build_history(list(previous.builds), observed, config.build_history_limit, keep)
    current = next((b for b in history if b.input_hash == inputs.hash), None)
    pinned = next((b for b in history if b.id == spec.build_id), None) if spec.build_id else None
    active = None
    if service is not None and service.image_uri:
        active = next((b for b in history if b.image_uri == service.image_uri), None)
    return KnownBuilds(inputs, history, current, pinned, active)


@dataclass(frozen=True)
class BuildChoice:
    """The build's part of a pass."""

    outcome: Outcome
    image: str | None  # the image to deploy, once there is one
    intent: BuildIntent | None = None  # the build being started, until CodeBuild has it
    waiting: bool = False  # a start is due but waits for its rate-budget token

    @property
    def starts(self) -> bool:
        return self.intent is not None or self.waiting or any(isinstance(s, (StartBuild, FindBuild)) for s in self.outcome.steps)


def choose_build(desired: Desired, builds: KnownBuilds, config: Config, facts: StartFacts) -> BuildChoice:
    """The image to run (pinned or built from the desired inputs), the build to start if none is
    usable (``database.intent``), and the builds to stop that the spec no longer wants."""
    spec, current, pinned = desired.spec, builds.current, builds.pinned
    stops = _stop_superseded(builds)
    if spec.build_id:
        if pinned is None or not pinned.deployable:
            why = "is not in status.builds" if pinned is None else f"is not deployable (status {pinned.status.value})"
            stall = Outcome(stall=(reasons.BUILD_NOT_DEPLOYABLE, f"spec.buildId {spec.build_id!r} {why}"))
            block = blocked(Action.REDEPLOY, f"build {spec.build_id} {why}", desired.status.queued_goals)
            return BuildChoice(stall.then(block).then(stops), None)
        return BuildChoice(stops, pinned.image_uri)
    if current is None or (current.status is BuildState.FAILED and current.failure_reason == "stopped"):
        if spec.terminated:
            return BuildChoice(stops, None)
        attempt = sum(1 for b in builds.history if b.input_hash == builds.inputs.hash)
        start = start_build(desired, builds.inputs, attempt, config, facts)
        return BuildChoice(start.outcome.then(stops), None, start.intent, start.waiting)
    if not current.status.finished:
        return BuildChoice(Outcome(progress=(reasons.BUILDING, f"build {current.id} is {current.status.value}")).then(stops), None)
    if current.status is BuildState.FAILED:
        message = (
            f"build {current.id} failed: {current.failure_reason or 'see logsUrl'}; "
            "change the build inputs or set a new spec.rebuildToken"
        )
        return BuildChoice(Outcome(stall=(reasons.BUILD_FAILED, message)).then(stops), None)
    return BuildChoice(stops, current.image_uri)


def _stop_superseded(builds: KnownBuilds) -> Outcome:
    """KnownBuilds that no longer match the desired state are stopped (cancel-goal, superseded inputs)."""
    wanted = {b.id for b in (builds.current, builds.pinned) if b is not None}
    steps: list[StopBuild | Event] = []
    for build in builds.history:
        if build.shared:
            continue  # the fleet's: other databases may wait for it (the fleet's sweep stops it when none does)
        if not build.status.finished and build.id not in wanted and build.codebuild_id:
            steps.append(StopBuild(build.codebuild_id, "its inputs no longer match the spec"))
            steps.append(Event(reasons.BUILD_STOPPED, f"stopping build {build.id}: its inputs no longer match the spec"))
    return Outcome(steps=tuple(steps))
