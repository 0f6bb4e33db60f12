"""The rollout planner: one fleet change moved in health-gated waves (pure, table-tested).

The databases that must move to a rollout's target say where they stand in their own status
(``status.rollout``, written by their passes: ``database.rollout``). From those, the rollout's
recorded status and the pace, ``plan_rollout`` computes the rollout's next status: which databases
are admitted in a new wave, whether it halts, pauses, completes. The installation's leader runs it
and writes the result into the ReflexRollout's status *before* any database acts on it, so a
restarted operator resumes from the waves recorded there and admits nobody twice.

The rule, after CloudNativePG's rollout delays and ``primaryUpdateStrategy: supervised`` with a
health gate added:

- wave 1 is the canary (``Pace.canary`` databases); wave n is ``canary × growth^(n-1)``, at most
  ``max_in_flight``; databases are taken in order of namespace/name;
- a wave is admitted only when every database of the one before is Healthy on the target, each
  for ``soak_seconds`` (a database that left the rollout, deleted or pinned, no longer counts);
- a member whose build of the target failed, or that is unhealthy after it moved, halts the
  rollout: no new wave, and those admitted but not yet moved are held again. A halt stays until
  ``spec.resumeToken`` changes (it halts again if the cause is still there);
- ``spec.paused`` admits no new wave; ``spec.abort`` admits nobody any more; a rollout whose target
  is no longer the default server version (or, for a template rollout, whose template is no longer
  the operator's) is superseded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from reflex_operator.api import reasons
from reflex_operator.api.rollout import (
    MemberState,
    ReflexRolloutSpec,
    ReflexRolloutStatus,
    RolloutCondition,
    RolloutMember,
    RolloutPhase,
    Wave,
)

__all__ = ["Pace", "Admission", "RolloutPlan", "admission_of", "control_patch", "plan_rollout", "wave_size", "ADMITTING", "CONTROLS"]

# The phases in which an admitted database may move (in flight ones finish on a pause).
ADMITTING = frozenset({RolloutPhase.PROGRESSING, RolloutPhase.PAUSED, RolloutPhase.COMPLETE})


@dataclass(frozen=True)
class Pace:
    """How fast a rollout goes (the settings; a rollout's spec may override each)."""

    canary: int = 1
    growth: float = 2.0
    max_in_flight: int = 10
    soak_seconds: float = 60.0

    def overridden(self, spec: ReflexRolloutSpec) -> Pace:
        return Pace(
            canary=spec.canary if spec.canary is not None else self.canary,
            growth=spec.growth if spec.growth is not None else self.growth,
            max_in_flight=spec.max_in_flight if spec.max_in_flight is not None else self.max_in_flight,
            soak_seconds=float(spec.soak_seconds) if spec.soak_seconds is not None else self.soak_seconds,
        )


def wave_size(number: int, pace: Pace) -> int:
    """Databases admitted in wave ``number`` (1: the canary)."""
    size = math.ceil(pace.canary * pace.growth ** (number - 1) - 1e-9)
    return max(1, min(pace.max_in_flight, size))


@dataclass(frozen=True)
class Admission:
    """What one database's pass reads of the rollout of its target."""

    name: str
    phase: RolloutPhase | None
    wave: int | None  # the wave it was admitted in (None: not admitted)
    current: int  # the wave in flight
    message: str | None = None

    @property
    def admitted(self) -> bool:
        return self.wave is not None and self.phase in ADMITTING

    def waiting(self) -> str:
        """Why a database of this rollout is held, for its status."""
        match self.phase:
            case RolloutPhase.HALTED:
                return f"rollout {self.name} is halted ({self.message or 'see the ReflexRollout'}); this database keeps its build"
            case RolloutPhase.PAUSED:
                return f"rollout {self.name} is paused (kubectl reflex rollout resume {self.name})"
            case RolloutPhase.ABORTED:
                return f"rollout {self.name} was aborted: this database keeps its build (pin spec.serverVersion to move it)"
            case RolloutPhase.SUPERSEDED:
                return f"rollout {self.name} is superseded"
            case None:
                return f"waiting for rollout {self.name} to start"
            case RolloutPhase.COMPLETE:
                return f"waiting for rollout {self.name} to admit it in a new wave"
        return f"waiting for a later wave of rollout {self.name} (wave {self.current} in progress)"


def admission_of(name: str, status: ReflexRolloutStatus, key: str) -> Admission:
    """The admission of database ``key`` (namespace/name) by the rollout's recorded status."""
    wave = next((w.number for w in status.waves if key in w.databases), None)
    return Admission(name, status.phase, wave, status.wave, status.message)


RolloutEvent = tuple[str, str, bool]  # reason, message, warning


@dataclass(frozen=True)
class RolloutPlan:
    """One round of the planner: the status to write, the databases it admits now, its events,
    and when to look again for a soak to end (seconds; None: on the next change)."""

    status: ReflexRolloutStatus
    admitted: tuple[str, ...] = ()
    events: tuple[RolloutEvent, ...] = ()
    wake_in: float | None = None


@dataclass
class _Round:
    spec: ReflexRolloutSpec
    before: ReflexRolloutStatus
    members: Mapping[str, RolloutMember]
    pace: Pace
    now: datetime
    events: list[RolloutEvent] = field(default_factory=list)


def plan_rollout(
    name: str,
    spec: ReflexRolloutSpec,
    before: ReflexRolloutStatus,
    members: Mapping[str, RolloutMember],
    pace: Pace,
    default_version: str,
    now: datetime,
    generation: int | None = None,
    default_template: str | None = None,
) -> RolloutPlan:
    """The rollout's next status (see the module's rule). ``members``: namespace/name → the
    ``status.rollout`` of each database in this rollout; ``default_template``: the operator's
    template mark now (a rollout to another template is superseded)."""
    r = _Round(spec, before, members, pace.overridden(spec), now)
    status = before.model_copy(deep=True)
    status.observed_generation = generation
    resumed = spec.resume_token is not None and spec.resume_token != before.resumed_token
    if resumed:
        status.resumed_token = spec.resume_token
    admitted: tuple[str, ...] = ()
    wake: float | None = None
    halt = _halt(r)
    if spec.server_version != default_version:
        phase, reason, message = RolloutPhase.SUPERSEDED, reasons.ROLLOUT_SUPERSEDED, f"the default server version is now {default_version}"
    elif spec.template is not None and spec.template != default_template:
        phase, reason, message = RolloutPhase.SUPERSEDED, reasons.ROLLOUT_SUPERSEDED, f"the operator's template is now {default_template}"
    elif spec.abort:
        phase, reason, message = RolloutPhase.ABORTED, reasons.ROLLOUT_ABORTED, "aborted (spec.abort): databases not moved keep their build"
    elif before.phase is RolloutPhase.HALTED and not resumed:
        phase, reason, message = RolloutPhase.HALTED, before.reason or reasons.ROLLOUT_UNHEALTHY, before.message or "halted"
    elif halt is not None:
        phase, (reason, message) = RolloutPhase.HALTED, halt
    elif spec.paused:
        phase, reason, message = RolloutPhase.PAUSED, reasons.ROLLOUT_PAUSED, "paused (spec.paused): no new wave"
    else:
        phase, reason, message, admitted, wake = _advance(r, status)
    if phase is RolloutPhase.HALTED and before.phase is not RolloutPhase.HALTED:
        status.halted_at = now
        r.events.append((reason, f"rollout halted: {message}", True))
    elif phase is not before.phase and phase is not RolloutPhase.PROGRESSING:
        r.events.append((reason, message, False))
    elif resumed and before.phase is RolloutPhase.HALTED:
        r.events.append((reasons.ROLLOUT_RESUMED, "halt lifted (spec.resumeToken)", False))
    if phase is not RolloutPhase.HALTED:
        status.halted_at = None
    status.phase, status.reason, status.message = phase, reason, message
    _count(status, members)
    status.conditions = _conditions(before, phase, reason, message, now)
    return RolloutPlan(status, admitted, tuple(r.events), wake)


def _halt(r: _Round) -> tuple[str, str] | None:
    """A failed build of the target, or a moved database that is unhealthy: the first in order."""
    admitted = {k for w in r.before.waves for k in w.databases}
    for key, member in sorted(r.members.items()):
        if member.state is MemberState.FAILED:
            return reasons.ROLLOUT_BUILD_FAILED if _build_failure(member) else reasons.ROLLOUT_UNHEALTHY, (
                f"{key} could not move to {member.server_version}: {member.message or 'failed'}"
            )
    for key, member in sorted(r.members.items()):
        if member.state is MemberState.UNHEALTHY and key in admitted:
            wave = member.wave or 0
            who = "canary" if wave == 1 else f"wave {wave}"
            return reasons.ROLLOUT_UNHEALTHY, f"{who} {key} is unhealthy on {member.server_version}: {member.message or 'unhealthy'}"
    return None


def _build_failure(member: RolloutMember) -> bool:
    return (member.message or "").startswith("build")


def _settled(r: _Round, wave: Wave) -> tuple[bool, float | None]:
    """Whether every database of the wave is healthy for the soak period; else the seconds until
    the soak ends if all are healthy already."""
    left = 0.0
    for key in wave.databases:
        member = r.members.get(key)
        if member is None:
            continue  # left the rollout (deleted, pinned, its target changed): not waited for
        if member.state is not MemberState.HEALTHY:
            return False, None
        left = max(left, r.pace.soak_seconds - (r.now - member.since).total_seconds())
    return left <= 0, (left if left > 0 else None)


def _advance(r: _Round, status: ReflexRolloutStatus) -> tuple[RolloutPhase, str, str, tuple[str, ...], float | None]:
    """Progressing: the wave in flight settles, then the next one is admitted; complete when
    nobody waits any more."""
    waves = status.waves
    if waves:
        last = waves[-1]
        settled, left = _settled(r, last)
        if not settled:
            healthy = sum(1 for k in last.databases if (m := r.members.get(k)) is not None and m.state is MemberState.HEALTHY)
            note = f"wave {last.number}: {healthy}/{len(last.databases)} healthy"
            if left is not None:
                note += f", soaking {math.ceil(left)} s more"
            return RolloutPhase.PROGRESSING, reasons.ROLLOUT_PROGRESSING, note, (), left
        if last.settled_at is None:
            waves[-1] = last.model_copy(update={"settled_at": r.now})
    taken = {k for w in waves for k in w.databases}
    waiting = sorted(k for k, m in r.members.items() if m.state is MemberState.HELD and k not in taken)
    if not waiting:
        return RolloutPhase.COMPLETE, reasons.ROLLOUT_COMPLETE, f"every database moved to {r.spec.server_version}", (), None
    number = (waves[-1].number if waves else 0) + 1
    chosen = tuple(waiting[: wave_size(number, r.pace)])
    waves.append(Wave(number=number, databases=list(chosen), started_at=r.now))
    status.wave = number
    who = "canary" if number == 1 else f"wave {number}"
    r.events.append((reasons.ROLLOUT_WAVE_STARTED, f"{who} admitted ({len(chosen)}): {', '.join(chosen)}", False))
    return RolloutPhase.PROGRESSING, reasons.ROLLOUT_PROGRESSING, f"wave {number}: 0/{len(chosen)} healthy", chosen, None


def _count(status: ReflexRolloutStatus, members: Mapping[str, RolloutMember]) -> None:
    taken = {k for w in status.waves for k in w.databases}
    status.total = len(members)
    status.moved = sum(1 for m in members.values() if m.state is MemberState.HEALTHY)
    status.waiting = sum(1 for k, m in members.items() if m.state is MemberState.HELD and k not in taken)


def _conditions(before: ReflexRolloutStatus, phase: RolloutPhase, reason: str, message: str, now: datetime) -> list[RolloutCondition]:
    values = (
        ("Halted", phase is RolloutPhase.HALTED, reason if phase is RolloutPhase.HALTED else phase.value, message if phase is RolloutPhase.HALTED else "not halted"),
        ("Complete", phase is RolloutPhase.COMPLETE, phase.value, message),
    )
    out = []
    for kind, value, why, text in values:
        status = "True" if value else "False"
        previous = next((c for c in before.conditions if c.type == kind), None)
        since = previous.last_transition_time if previous is not None and previous.status == status else now
        out.append(RolloutCondition(type=kind, status=status, reason=why, message=text, last_transition_time=since))
    return out



CONTROLS = ("pause", "resume", "abort")


def control_patch(verb: str, spec: ReflexRolloutSpec, status: ReflexRolloutStatus, token: str) -> dict[str, object]:
    """The spec change of ``kubectl reflex rollout pause|resume|abort`` (a merge patch); raises
    ``ValueError`` naming why when the rollout cannot take it."""
    if verb not in CONTROLS:
        raise ValueError(f"unknown rollout action {verb!r}: one of {', '.join(CONTROLS)}")
    if spec.abort or status.phase is RolloutPhase.ABORTED:
        raise ValueError("the rollout was aborted: it cannot be paused or resumed (set a new default server version)")
    if status.phase in (RolloutPhase.COMPLETE, RolloutPhase.SUPERSEDED) and verb != "abort":
        raise ValueError(f"the rollout is {status.phase.value.lower()}: nothing to {verb}")
    if verb == "pause":
        return {"spec": {"paused": True}}
    if verb == "resume":
        return {"spec": {"paused": False, "resumeToken": token}}
    return {"spec": {"abort": True}}
