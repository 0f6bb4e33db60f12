"""Starting a build, crash-safely and without listing the project's builds.

The intent (token, attempt, inputs hash, image, when) is written to status before StartBuild is
called. What the next pass does with a recorded intent:

- within CodeBuild's idempotency window (less a margin), StartBuild again with the same token: it
  returns the build a crashed operator started, or starts it if it never was (one call);
- past the window, StartBuild could start a second build: look backwards over the project's builds,
  newest first, down to the intent's time (``FindBuild``): found, it joins the history; absent, the
  intent is recorded anew (now) and started; inconclusive (the look hit its limit), the database
  stalls with ``BuildUnknown`` until the user sets a new ``spec.rebuildToken``;
- refused because the account's concurrent-build quota is reached, the database waits in
  ``Building`` with ``BuildQueued`` (no failure, no event) and the start is retried; the refusal
  proves no build of the token exists, so the intent's time moves to now;
- not sent because the operator's own StartBuild rate budget has no token for this pass yet
  (``ports.BudgetDeferred``): nothing changes but the note; the pass comes back when the token
  does. A new intent is not recorded until its token is there (the pass asks the budget before
  the intent's write), so a long wait for a token never ages an intent towards the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reflex_operator.api.models import BuildIntent
from reflex_operator.database import identity
from reflex_operator.api import reasons
from reflex_operator.database.inputs import BuildLookup, Config, Desired
from reflex_operator.database.outcome import Outcome
from reflex_operator.database.steps import FindBuild, StartBuild

__all__ = ["StartFacts", "Start", "start_build", "QUEUED_MESSAGE"]

QUEUED_MESSAGE = "waiting for a CodeBuild slot: the account's concurrent-build quota is reached"


@dataclass(frozen=True)
class StartFacts:
    """What the start depends on beyond the spec: the time, and what this pass's calls revealed."""

    now: datetime
    refused: bool = False  # StartBuild answered AccountLimitExceededException
    lookup: BuildLookup | None = None  # the backwards look found nothing (absent or inconclusive)
    deferred: bool = False  # StartBuild waits for a token of the operator's rate budget


@dataclass(frozen=True)
class Start:
    outcome: Outcome
    intent: BuildIntent | None  # the intent to keep in status
    waiting: bool = False  # a start is due but waits for its rate-budget token


def _wanted(desired: Desired, inputs: identity.BuildInputs, attempt: int, config: Config, now: datetime) -> BuildIntent:
    """The intent of a start: its token and image tag are the installation's and the inputs'
    (plus the owner of a private build), the same for every database that needs the image."""
    owner = identity.build_owner(inputs, desired.namespace, desired.name)
    return BuildIntent(
        idempotency_token=identity.shared_build_token(config.cluster_identity, inputs.hash, attempt, owner),
        attempt=attempt,
        input_hash=inputs.hash,
        image_uri=f"{config.image_repository_uri}:{identity.image_tag(config.cluster_identity, inputs.hash, attempt, owner)}",
        recorded_at=now,
    )


def _same(a: BuildIntent, b: BuildIntent) -> bool:
    return (a.idempotency_token, a.attempt, a.input_hash, a.image_uri) == (b.idempotency_token, b.attempt, b.input_hash, b.image_uri)


def start_build(desired: Desired, inputs: identity.BuildInputs, attempt: int, config: Config, facts: StartFacts) -> Start:
    """The next step of starting attempt ``attempt`` at building ``inputs``, and the intent to record."""
    wanted = _wanted(desired, inputs, attempt, config, facts.now)
    recorded = desired.status.build_intent
    starting = (reasons.BUILDING, f"starting a build of reflex-server {inputs.server_version}")

    def start(intent: BuildIntent, record: bool, note: tuple[str, str] = starting) -> Start:
        step = StartBuild(
            inputs=inputs,
            idempotency_token=intent.idempotency_token,
            image_uri=intent.image_uri,
            resource=f"{desired.namespace}/{desired.name}",
            uid=desired.uid,
            record=record,
            attempt=intent.attempt,
            owner=identity.build_owner(inputs, desired.namespace, desired.name),
            cluster_identity=config.cluster_identity,
        )
        return Start(Outcome(steps=(step,), progress=note), intent)

    if facts.deferred:  # nothing sent, nothing learnt: the recorded intent (if any) stays as it is
        return Start(Outcome(progress=starting), recorded, waiting=True)
    if recorded is None or not _same(recorded, wanted):
        return start(wanted, record=True)
    queued = (reasons.BUILD_QUEUED, QUEUED_MESSAGE)
    if facts.refused:
        moved = recorded.model_copy(update={"recorded_at": facts.now, "queued_since": recorded.queued_since or facts.now})
        return Start(Outcome(progress=queued), moved)
    age = (facts.now - recorded.recorded_at).total_seconds()
    if age < config.build_idempotency_window_seconds - config.build_idempotency_margin_seconds:
        return start(recorded, record=False, note=queued if recorded.queued_since else starting)
    if facts.lookup is BuildLookup.ABSENT:
        return start(recorded.model_copy(update={"recorded_at": facts.now}), record=True)
    if facts.lookup is BuildLookup.INCONCLUSIVE or recorded.unknown:
        message = (
            f"cannot tell whether the build with token {recorded.idempotency_token} started: too many builds "
            "in the project since; set a new spec.rebuildToken to start a new build"
        )
        return Start(Outcome(stall=(reasons.BUILD_UNKNOWN, message)), recorded.model_copy(update={"unknown": True}))
    find = FindBuild(uid=desired.uid, idempotency_token=recorded.idempotency_token, since=recorded.recorded_at)
    note = (reasons.BUILDING, "looking for the build started before the operator restarted")
    return Start(Outcome(steps=(find,), progress=note), recorded)
