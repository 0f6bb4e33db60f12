"""One database's part in a fleet rollout (pure): whether its move to a new server version waits
for its wave, and where it stands in the rollout (``status.rollout``).

**What is held.** A fleet change is a new server version that comes to the database from the
operator's default (``REFLEX_DEFAULT_SERVER_VERSION``), not from its own spec. It is held when the
database follows the default (no ``spec.serverVersion``, ``spec.buildId`` or ``spec.rebuildToken``:
those opt out), its ECS service is live and meant to run (desired count 1), its deployment has not
failed, its health is not known to be bad, and it runs a build of another version (its task
definition's image is the image of a build of that version); and its rollout has not admitted it.
A deployment under way does not release it (a change of its own spec deployed on its current
version keeps the new version waiting). A held database works to its spec
*with the version it runs* (``held_spec``), as a database that may not grow works to its deployed
size: no build of the new version starts for it, no deployment, its service is not updated; any
change of its own spec (size, sync, a restart, a new secret, schemas) still goes through at once,
on its current version. New databases (no service), paused or terminated ones, ones whose deployment
failed and ones that are degraded or unreachable are never held: a fix never waits for a wave.

**An operator upgrade that changes every task definition** (the operator's template mark,
``REFLEX_TEMPLATE``: ``identity.template_mark``) is a fleet change of its own: a database on the
target version whose task definition carries an earlier mark is held by the same rules, in the
rollout of that version and template (``rollout_name(version, scope, template)``); held, it keeps
its task definition (``service.Target.template_held``). One registered before marks is taken as
current.

**Where it stands.** ``member`` follows it through the rollout: Held → (admitted) Deploying →
Verifying (its new task runs: waiting for a health sample taken after that) → Healthy or Unhealthy;
Failed when the build of the target or its deployment fails. The leader's planner
(``fleet.rollout``) reads these states from the statuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reflex_operator.api import reasons
from reflex_operator.api.models import HealthStatus, ReflexDatabaseSpec
from reflex_operator.api.rollout import MemberState, RolloutMember, RolloutPhase, rollout_name
from reflex_operator.database.build import KnownBuilds
from reflex_operator.database.health import classify_health
from reflex_operator.database.inputs import Config, Desired, HealthSample, ObservedService, RolloutState
from reflex_operator.database.outcome import Outcome
from reflex_operator.database.service import template_behind
from reflex_operator.fleet.rollout import Admission

__all__ = ["Gate", "follows_default", "gate", "member", "settled"]

_UNHEALTHY = (HealthStatus.DEGRADED, HealthStatus.UNREACHABLE)


def follows_default(spec: ReflexDatabaseSpec) -> bool:
    """Whether the database takes its server version from the operator's default (the waves may
    hold it); a pinned version, a pinned build or a rebuild token opts out."""
    return not (spec.server_version or spec.build_id or spec.rebuild_token)


def settled(service: ObservedService | None) -> bool:
    """A live service running its one task, with no deployment under way or failed."""
    return (
        service is not None
        and service.exists
        and service.desired_count == 1
        and service.running_count == 1
        and service.rollout_state not in (RolloutState.IN_PROGRESS, RolloutState.FAILED)
    )


@dataclass(frozen=True)
class Gate:
    """The rollout's part of a pass: the rollout the database is in (None: none), the spec it works
    to if it is held (None: not held), and the note while held."""

    name: str | None = None
    target: str | None = None
    held_spec: ReflexDatabaseSpec | None = None
    note: str | None = None
    final: bool = False  # its rollout was aborted: nothing is in progress, the version only waits (a queued goal)
    template: str | None = None  # the operator's template mark a database on target carries
    admission: Admission | None = None  # what its rollout (of the version, or of the template) says of it

    @property
    def held(self) -> bool:
        return self.held_spec is not None

    def outcome(self) -> Outcome:
        """A held database's note (Reconciling, reason RolloutWaiting) and queued goal; it stays
        Running and Ready on its build. Once its rollout is aborted only the queued goal stays."""
        if self.note is None:
            return Outcome()
        queued = (f"deploy {self.target}: {self.note}",)
        return Outcome(queued=queued) if self.final else Outcome(progress=(reasons.ROLLOUT_WAITING, self.note), queued=queued)


def _health(desired: Desired, sample: HealthSample | None) -> HealthStatus | None:
    if sample is not None:
        return classify_health(sample, desired.spec)
    instance = desired.status.instance
    return instance.health_status if instance is not None else None


def gate(
    desired: Desired,
    service: ObservedService | None,
    builds: KnownBuilds,
    sample: HealthSample | None,
    admission: Admission | None,
    config: Config,
    template_admission: Admission | None = None,
) -> Gate:
    """Whether this database's move to the default server version, or to the operator's new
    template on it, waits for its wave (``admission``, ``template_admission``: as each rollout
    admits it)."""
    spec = desired.spec
    if not config.rollout_waves or not follows_default(spec):
        return Gate()
    target, template = builds.inputs.server_version, config.deploy_template
    running = builds.active.server_version if builds.active is not None else None
    name = rollout_name(target, config.rollout_scope)
    behind = template_behind(service, template)
    new_version = running is not None and running != target
    if template is not None and not new_version:
        in_template_rollout = desired.status.rollout is not None and desired.status.rollout.name == rollout_name(target, config.rollout_scope, template)
        if behind or in_template_rollout:
            name, admission = rollout_name(target, config.rollout_scope, template), template_admission
    fleet_change = (
        not spec.paused
        and not spec.terminated
        and service is not None
        and service.exists
        and service.desired_count == 1
        and service.rollout_state is not RolloutState.FAILED
        and running is not None
        and (new_version or behind)
        and _health(desired, sample) not in _UNHEALTHY
    )
    if not fleet_change or (admission is not None and admission.admitted):
        return Gate(name, target, template=template, admission=admission)
    waiting = admission.waiting() if admission is not None else f"waiting for rollout {name} to start"
    final = admission is not None and admission.phase is RolloutPhase.ABORTED
    return Gate(name, target, spec.model_copy(update={"server_version": running}), waiting, final, template, admission)


def member(
    desired: Desired,
    held: Gate,
    service: ObservedService | None,
    builds: KnownBuilds,
    image: str | None,
    deploy_hash: str | None,
    stall: tuple[str, str] | None,
    sample: HealthSample | None,
    admission: Admission | None,
    now: datetime,
) -> RolloutMember | None:
    """``status.rollout`` after this pass: where the database stands in the rollout of its target."""
    if held.name is None or held.target is None:
        return None
    before = desired.status.rollout
    if before is not None and (before.name != held.name or before.server_version != held.target):
        before = None
    wave = admission.wave if admission is not None else (before.wave if before else None)

    def at(state: MemberState, message: str | None, since: datetime | None = None) -> RolloutMember:
        keep = before is not None and before.state is state
        when = before.since if keep and before is not None and since is None else (since or now)
        return RolloutMember(name=held.name or "", server_version=held.target or "", state=state, since=when, wave=wave, message=message)

    if held.held:
        return at(MemberState.HELD, held.note)
    if before is None or desired.spec.paused or desired.spec.terminated:
        return before  # not in a rollout (or paused or terminated meanwhile: as it was)
    if stall is not None and stall[0] == reasons.BUILD_FAILED:
        return at(MemberState.FAILED, f"build of {held.target} failed: {stall[1]}")
    if service is not None and service.rollout_state is RolloutState.FAILED and service.deploy_hash == deploy_hash:
        return at(MemberState.FAILED, f"deployment failed: {service.rollout_reason or 'tasks did not start'}")
    on_target = (
        image is not None and deploy_hash is not None and service is not None and service.deploy_hash == deploy_hash
        and not template_behind(service, held.template)
    )
    if not on_target or not settled(service):
        what = "building" if image is None else "deploying"
        return at(MemberState.DEPLOYING, f"{what} {held.target}")
    if before.state in (MemberState.HELD, MemberState.DEPLOYING):
        return at(MemberState.VERIFYING, f"running {held.target}: waiting for its first health sample", since=now)
    if before.state is MemberState.VERIFYING and (sample is None or sample.checked_at <= before.since):
        return at(MemberState.VERIFYING, before.message)
    health = classify_health(sample, desired.spec) if sample is not None else _health(desired, None)
    if health in _UNHEALTHY:
        return at(MemberState.UNHEALTHY, f"health {health.value if health else 'unknown'} on {held.target}")
    if health is None:
        return before
    checked = sample.checked_at if sample is not None and before.state is not MemberState.HEALTHY else None
    return at(MemberState.HEALTHY, None, since=checked)
