"""One reconcile pass for one resource: parse → observe → decide → act → write status.

The judgement is all in ``reflex_operator.database``; this module only gathers its inputs from
the operator-wide caches (filled by the poller in batches) and carries out its steps.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any


from reflex_operator.api import reasons
from reflex_operator.api.models import ReflexDatabaseSpec, ReflexDatabaseStatus, Replication, unfinished_builds
from reflex_operator.database.decide import Decision, decide
from reflex_operator.database.inputs import Desired, Observation, SecretState
from reflex_operator.database import identity
from reflex_operator.database.ownership import names_of
from reflex_operator.api.rollout import rollout_name
from reflex_operator.database.chronicle import Chronicle, chronicle
from reflex_operator.database.notify import parse_seen
from reflex_operator.api.models import NOTIFICATIONS_SEEN
from reflex_operator.database import steps as s
from reflex_operator.database.inputs import BudgetWait, BuildLookup, HealthSample, ObservedBuild, ObservedService, ServiceState
from reflex_operator.ports import BudgetDeferred, BuildQuotaReached, ClusterFull, NotOwned
from reflex_operator.aws import budget
from reflex_operator.aws.codebuild import BATCH as codebuild_batch
from reflex_operator.kube.client import FINALIZER
from reflex_operator.controller import triggers
from reflex_operator.controller.runtime import Entry, Key, Runtime, SecretMeta

__all__ = ["reconcile", "observe", "surface_error", "ReconcileError", "SURFACE_AFTER"]

log = logging.getLogger("reflex_operator.reconcile")

# After this many failed passes in a row, the error is shown as Stalled/AWSError in status.
SURFACE_AFTER = 3
# A first look asks for up to this many unknown services (DescribeServices, 10 a call), so that the
# builds they run are fetched in one BatchGetBuilds (100 ids a call): a restart or a rebuilt
# cluster with N databases costs N/10 and N/100 calls.
FIRST_LOOK = codebuild_batch


class ReconcileError(RuntimeError):
    pass


@dataclass
class _Acted:
    """What carrying out the steps revealed, merged into the second decision's observation."""

    builds: list[ObservedBuild] = field(default_factory=list)
    secret_arn: str | None = None
    service: ObservedService | None = None
    service_changed: bool = False
    health: HealthSample | None = None
    released: bool = False
    build_refused: bool = False  # StartBuild: the account's concurrent-build quota is reached
    build_lookup: BuildLookup | None = None  # FindBuild found nothing
    refused: bool = False  # CreateService met the cluster's quota: nothing created, placed again
    refused_by_owner: str | None = None  # a resource under its name is someone else's: nothing written
    secret_kept: bool = False  # the secret taken back already held the Secret's value
    deferred: BudgetWait | None = None  # a call had no rate-budget token yet: nothing sent, the steps stop
    events: list[s.Event] = field(default_factory=list)


def _desired(entry: Entry) -> Desired:
    meta = entry.meta
    return Desired(
        name=meta["name"],
        namespace=meta["namespace"],
        uid=meta["uid"],
        generation=int(meta.get("generation", 1)),
        spec=ReflexDatabaseSpec.model_validate(entry.spec),
        status=ReflexDatabaseStatus.model_validate(entry.status),
        deleting=bool(meta.get("deletionTimestamp")),
    )


async def reconcile(rt: Runtime, key: Key) -> None:
    """One pass. Raises on failure (``Conflict`` when a write met a newer object); the worker
    retries."""
    entry = rt.resources.get(key)
    if entry is None:
        return
    meta = entry.meta
    finalizers = list(meta.get("finalizers") or [])
    deleting = bool(meta.get("deletionTimestamp"))
    if deleting and FINALIZER not in finalizers:
        return  # nothing owed
    if not deleting and FINALIZER not in finalizers:
        await rt.kube.set_finalizers(key[0], key[1], [*finalizers, FINALIZER], meta.get("resourceVersion"))
        return  # the watch brings the updated object back

    desired = _desired(entry)
    observed = await observe(rt, desired)
    first = decide(desired, observed, rt.config, rt.clock())
    first, observed = await _admit(rt, key, desired, observed, first)
    before = desired.status
    if any(isinstance(step, s.RecordPlacement) or (isinstance(step, s.StartBuild) and step.record) for step in first.steps):
        # The build intent, and a new database's ECS cluster, go to status before StartBuild or
        # CreateService is called: a restart knows what was asked for without listing the
        # project's builds (database.intent), and finds the service on its cluster (tenancy.placement).
        _hold_placement(rt, key, first.steps)
        await _write(rt, entry, before, first)
        before = first.status
    placement = first.status.placement
    acted = await _act(rt, desired, first.steps, placement.cluster if placement else rt.placements.default)
    if acted.released:
        await rt.kube.set_finalizers(key[0], key[1], [f for f in finalizers if f != FINALIZER], meta.get("resourceVersion"))
        rt.metrics.forget(*key)
        rt.post(entry.head, acted.events)
        return
    # Decide again on what acting revealed; only the status of this second decision is written
    # (its steps are the next pass's, after the world has moved).
    merged = replace(_merge(observed, acted), clusters=rt.placements.load(time.monotonic()))
    second = decide(replace(desired, status=first.status), merged, rt.config, rt.clock())
    told = _chronicle(rt, entry, desired, second, acted.events)
    _hold_placement(rt, key, second.steps)  # placed again after a quota refusal: recorded now
    await _write(rt, entry, before, replace(second, status=told.status))
    rt.metrics.observe_cost(key[0], key[1], told.status)
    rt.post(entry.head, list(told.events))
    _again(rt, key, acted, second, merged.deferred)


async def _admit(rt: Runtime, key: Key, desired: Desired, observed: Observation, first: Decision) -> tuple[Decision, Observation]:
    """A new build intent is written only once the StartBuild token is this pass's: a pass that
    would wait for it decides again knowing so (no intent, nothing started) and comes back when
    the token does, so no intent ages towards CodeBuild's idempotency window in a budget's queue."""
    starts = [step for step in first.steps if isinstance(step, s.StartBuild) and step.record]
    if not starts or all(rt.fleet.knows(step.idempotency_token) for step in starts):
        return first, observed  # nothing to start, or the fleet has the build already: no StartBuild call
    try:
        with budget.deferring(key):
            await rt.codebuild.hold_start()
    except BudgetDeferred as exc:
        log.debug("%s/%s: %s", *key, exc)
        rt.metrics.aws_budget_deferred_call(exc.wait.family)
        observed = replace(observed, deferred=exc.wait)
        return decide(desired, observed, rt.config, rt.clock()), observed
    return first, observed


def _again(rt: Runtime, key: Key, acted: _Acted, second: Decision, deferred: BudgetWait | None) -> None:
    """A call that had no rate-budget token yet runs when the token held for it comes; a start
    refused for the concurrent-build quota is retried after a while (neither is a failure: no
    backoff, no error); a start the second decision found due (the intent was recorded anew)
    runs in the next pass at once, and so does a create placed on another cluster after a quota
    refusal."""
    if deferred is not None:
        triggers.budget_ready(rt, key, deferred.ready_in)
    elif acted.build_refused:
        triggers.build_queue_full(rt, key)
    elif any(isinstance(step, (s.StartBuild, s.RecordPlacement)) for step in second.steps):
        triggers.step_due(rt, key)


async def surface_error(rt: Runtime, key: Key, error: str) -> None:
    """A failure that persists is shown as a condition (Stalled, reason AWSError) and an event."""
    entry = rt.resources.get(key)
    if entry is None:
        return
    desired = _desired(entry)
    observed = await observe(rt, desired, fetch=False)
    decision = decide(desired, replace(observed, aws_error=error), rt.config, rt.clock())
    told = _chronicle(rt, entry, desired, decision, [])
    if entry.last_error != error:
        rt.post(entry.head, [s.Event(reasons.AWS_ERROR, error, warning=True)])
        entry.last_error = error
    await _write(rt, entry, desired.status, replace(decision, status=told.status))
    rt.post(entry.head, list(told.events))


def _chronicle(rt: Runtime, entry: Entry, desired: Desired, decision: Decision, done: list[s.Event]) -> Chronicle:
    """The notifications, history and Events of what this pass changed (one source for all three)."""
    annotations = entry.meta.get("annotations") or {}
    return chronicle(
        desired.status, decision.status, done,
        uid=desired.uid, now=rt.clock(), seen=parse_seen(annotations.get(NOTIFICATIONS_SEEN)), config=rt.config,
    )


# ------------------------------------------------------------------------------------ observe


async def observe(rt: Runtime, desired: Desired, fetch: bool = True) -> Observation:
    status = desired.status
    default, scope, template = rt.config.default_server_version, rt.config.rollout_scope, rt.config.deploy_template
    key = f"{desired.namespace}/{desired.name}"
    svc_name = names_of(desired, rt.config)[0].service
    cluster = rt.cluster_of((desired.namespace, desired.name))
    if fetch and svc_name not in rt.services:
        # Not polled yet (the operator just started): ask for it together with other resources'
        # unknown services on the same cluster, one pass at a time, so a restart with N
        # resources costs about N/10 calls, not N; and for the builds of the images those
        # services run that their statuses do not know (a rebuilt cluster), 100 a call.
        async with rt.first_look:
            if svc_name not in rt.services:
                names, unplaced = _unknown_services(rt, svc_name, cluster, _may_be_elsewhere(rt, desired, None))
                found = await rt.ecs.describe(names, cluster)
                rt.services.update(found)
                running = [svc for svc in found.values() if svc is not None]
                absent = [n for n in names if found[n] is None and n in unplaced]
                for other in rt.placements.clusters if absent and len(rt.placements.clusters) > 1 else ():
                    if other != cluster:  # looked for in batches now, not one by one in each pass (_look_elsewhere)
                        there = await rt.ecs.describe(absent, other)
                        rt.elsewhere.update({(n, other): svc for n, svc in there.items()})
                        running += [svc for svc in there.values() if svc is not None]
                unknown = sorted({svc.build_id for svc in running if svc.build_id} - set(rt.builds))
                if unknown:
                    rt.builds.update(await rt.codebuild.get(unknown))
    service = rt.services.get(svc_name)
    found_on, matches = None, 0
    if fetch and _may_be_elsewhere(rt, desired, service):
        found_on, matches, other = await _look_elsewhere(rt, svc_name, cluster)
        service = other or service
    running = unfinished_builds(status.builds)
    wanted = list(running)
    if service is not None and service.build_id and all(b.codebuild_id != service.build_id for b in status.builds):
        wanted.append(service.build_id)  # the image it runs, built before this object existed (taken back)
    missing = [i for i in wanted if i not in rt.builds]
    if fetch and missing:
        rt.builds.update(await rt.codebuild.get(missing))
    if fetch:
        await rt.fleet.prime(rt.codebuild, rt.registry, rt.clock())  # once per process (wiring.prime does it first)
    return Observation(
        fleet=rt.fleet.of(identity.build_inputs(desired.spec, rt.config.default_server_version).hash),
        secret=await _secret_state(rt, desired, fetch),
        builds=tuple(rt.builds[i] for i in wanted if i in rt.builds),
        service=service,
        health=rt.health.get((desired.namespace, desired.name)),
        aws_secret_arn=status.secret_arn,
        plan=rt.plans.facts(desired.namespace, (e.usage() for _, e in rt.in_namespace(desired.namespace)), rt.clock()),
        found_on=found_on,
        adoption_matches=matches,
        clusters=rt.placements.load(time.monotonic()),  # after the last await: no pass places in between
        rollout=rt.rollouts.admission(rollout_name(default, scope), key),
        template_rollout=rt.rollouts.admission(rollout_name(default, scope, template), key) if template is not None else None,
    )


def _may_be_elsewhere(rt: Runtime, desired: Desired, service: ObservedService | None) -> bool:
    """A database that owns nothing yet and has no cluster (recorded or named by spec.adoption)
    may find its resources on any of the operator's ECS clusters (a rebuilt cluster, an adoption):
    every one is asked before anything is created."""
    status, adoption = desired.status, desired.spec.adoption
    return (
        service is None
        and status.identity is None
        and status.placement is None
        and not (adoption is not None and adoption.cluster)
        and len(rt.placements.clusters) > 1
    )


async def _look_elsewhere(rt: Runtime, name: str, asked: str) -> tuple[str | None, int, ObservedService | None]:
    """(the cluster it was found on, on how many it was, the service) over the other clusters."""
    hits: list[tuple[str, ObservedService]] = []
    for cluster in rt.placements.clusters:
        if cluster == asked:
            continue
        if (name, cluster) in rt.elsewhere:  # asked in the first look's batch: used once
            found = rt.elsewhere.pop((name, cluster))
        else:
            found = (await rt.ecs.describe([name], cluster)).get(name)
        if found is not None and found.state is not ServiceState.INACTIVE:
            hits.append((cluster, found))
    if len(hits) != 1:
        return None, len(hits), None
    cluster, service = hits[0]
    rt.services[name] = service
    return cluster, 1, service


def _unknown_services(rt: Runtime, first: str, cluster: str, first_unplaced: bool = False) -> tuple[list[str], set[str]]:
    """Up to FIRST_LOOK services not known yet on ``cluster`` (``first`` first), and those of them
    whose databases own nothing yet and have no cluster: they may be on another cluster."""
    names, unplaced = [first], {first} if first_unplaced else set()
    for (namespace, name), entry in list(rt.resources.items()):
        if len(names) == FIRST_LOOK:
            break
        known = entry.names(rt.config)
        if known is None:
            continue
        other = known.service
        if other in rt.services or other in names or not rt.gate.owns(entry.uid):
            continue
        if rt.cluster_of((namespace, name)) == cluster:
            names.append(other)
            if entry.cluster() is None and not entry.status.get("identity"):
                unplaced.add(other)
    return names, unplaced


def _secret_key(desired: Desired) -> Key:
    return (desired.namespace, desired.spec.source.secret_ref.name)


async def _secret_state(rt: Runtime, desired: Desired, fetch: bool = True) -> SecretState:
    key = _secret_key(desired)
    if key not in rt.secret_index and fetch:
        # Not seen on the watch yet (the operator just started): ask once.
        meta = await rt.kube.secret_meta(*key)
        rt.secret_index[key] = SecretMeta(*meta) if meta else None
    known = rt.secret_index.get(key)
    if known is None:
        return SecretState(exists=False)
    return SecretState(
        exists=True,
        has_key=desired.spec.source.secret_ref.key in known.keys,
        resource_version=known.resource_version,
    )


def _merge(observed: Observation, acted: _Acted) -> Observation:
    builds = {b.codebuild_id: b for b in observed.builds}
    builds.update({b.codebuild_id: b for b in acted.builds})
    return replace(
        observed,
        builds=tuple(builds.values()),
        service=acted.service if acted.service_changed else observed.service,
        aws_secret_arn=acted.secret_arn or observed.aws_secret_arn,
        health=acted.health or observed.health,
        build_refused=acted.build_refused,
        build_lookup=acted.build_lookup,
        deferred=acted.deferred or observed.deferred,
        refused_by_owner=acted.refused_by_owner or observed.refused_by_owner,
        secret_kept=acted.secret_kept or observed.secret_kept,
    )


# ---------------------------------------------------------------------------------------- act


async def _act(rt: Runtime, desired: Desired, steps: tuple[s.Step, ...], cluster: str) -> _Acted:
    """Carry out the steps in order; every ECS call goes to the database's cluster. A step whose
    call has no rate-budget token yet stops the steps there (nothing of it was sent): the worker
    is given back, and the pass comes again when the token held for it comes (``aws.budget``)."""
    acted = _Acted()
    key = (desired.namespace, desired.name)
    for step in steps:
        if acted.refused or acted.deferred is not None:
            break
        try:
            with budget.deferring(key):
                await _act_step(rt, desired, step, cluster, acted)
        except BudgetDeferred as exc:
            acted.deferred = exc.wait
            log.debug("%s/%s: %s", *key, exc)
            rt.metrics.aws_budget_deferred_call(exc.wait.family)
    return acted


async def _act_step(rt: Runtime, desired: Desired, step: s.Step, cluster: str, acted: _Acted) -> None:
    resource = f"{desired.namespace}/{desired.name}"
    match step:
        case s.Event():
            acted.events.append(step)
        case s.PutSecret():
            value = await rt.kube.secret_value(desired.namespace, step.k8s_secret, step.k8s_key)
            if value is None:
                raise ReconcileError(f"Secret {step.k8s_secret!r} or its key {step.k8s_key!r} disappeared")
            try:
                stored = await rt.secrets.put(step, value, resource)
            except NotOwned as exc:
                acted.refused_by_owner = str(exc)
                acted.refused = True  # nothing more this pass: the second decision stalls
                log.warning("%s: %s", resource, exc)
                return
            acted.secret_arn, acted.secret_kept = stored.arn, stored.kept
        case s.TagOwnership():
            await _tag(rt, step, cluster, acted)
        case s.DeleteSecret():
            await rt.secrets.delete(step.secret_name)
        case s.StartBuild() | s.FindBuild():
            await _act_build(rt, step, acted, resource)
        case s.StopBuild():
            await rt.codebuild.stop(step.codebuild_id)
            log.info("%s: build %s stopped: %s", resource, step.codebuild_id, step.reason)
        case s.RecordPlacement():
            pass  # written with the first decision's status, before acting (reconcile)
        case s.Deploy():
            await _deploy(rt, desired, step, cluster, acted)
        case s.ScaleService() | s.DeleteService():
            await _act_service(rt, desired, step, cluster, acted)
        case s.Reload():
            await rt.dataplane.reload(step.endpoint_url)
        case s.CheckHealth():
            acted.health = await _check_health(rt, desired)
        case s.PauseReplication():
            await rt.dataplane.pause_replication(step.endpoint_url)
            acted.health = _replication_now(rt, desired, Replication.PAUSED)
        case s.ResumeReplication():
            await rt.dataplane.resume_replication(step.endpoint_url)
            acted.health = _replication_now(rt, desired, Replication.RUNNING)
        case s.ReleaseFinalizer():
            acted.released = True
        case _:
            raise ReconcileError(f"unknown step {step!r}")


async def _tag(rt: Runtime, step: s.TagOwnership, cluster: str, acted: _Acted) -> None:
    """Write the ownership tags; the service we hold is updated so the second decision sees them."""
    tags = dict(step.tags)
    for arn in (step.service_arn, step.task_definition_arn):
        if arn:
            await rt.ecs.tag(arn, tags)
    if step.secret_arn:
        await rt.secrets.tag(step.secret_arn, tags)
    for name, service in list(rt.services.items()):
        if service is not None and service.arn == step.service_arn:
            rt.services[name] = acted.service = replace(service, tags=tags)
            acted.service_changed = True


async def _act_service(rt: Runtime, desired: Desired, step: s.ScaleService | s.DeleteService, cluster: str, acted: _Acted) -> None:
    """Scale or delete the ECS service; a deletion frees its slot on the cluster."""
    if isinstance(step, s.ScaleService):
        acted.service = await rt.ecs.scale(step.service_name, step.desired_count, cluster)
    else:
        acted.service = await rt.ecs.delete(step.service_name, cluster)
        rt.health.pop((desired.namespace, desired.name), None)
        triggers.slot_freed(rt, cluster)
    acted.service_changed = True
    rt.services[step.service_name] = acted.service


async def _act_build(rt: Runtime, step: s.StartBuild | s.FindBuild, acted: _Acted, resource: str) -> None:
    """Start a build (a refusal at the concurrent-build quota is noted, not raised), or look for
    the build of an expired intent."""
    if isinstance(step, s.StartBuild):
        try:
            build: ObservedBuild | None = await rt.fleet.start(rt.codebuild, rt.registry, step, rt.clock())
        except BuildQuotaReached as exc:
            acted.build_refused = True
            log.info("%s: build queued: %s", resource, exc)
            return
        log.info("%s: build %s started for inputs %s", resource, build.codebuild_id if build else "", step.inputs.hash)
    else:
        build, complete = await rt.codebuild.find(step)
        if build is not None:
            rt.fleet.note(build)
        if build is None:
            acted.build_lookup = BuildLookup.ABSENT if complete else BuildLookup.INCONCLUSIVE
        found = build.codebuild_id if build else ("never started" if complete else "unknown")
        log.info("%s: the build of token %s, after the idempotency window: %s", resource, step.idempotency_token, found)
    if build is not None:
        rt.builds[build.codebuild_id] = build
        acted.builds.append(build)


def _hold_placement(rt: Runtime, key: Key, steps: tuple[s.Step, ...]) -> None:
    """A cluster chosen by this pass is counted at once (before its status write returns), so no
    other pass can take its slot."""
    for step in steps:
        if isinstance(step, s.RecordPlacement):
            rt.placements.hold(key, step.cluster)
            log.info("%s: placed on ECS cluster %s", f"{key[0]}/{key[1]}", step.cluster)


async def _deploy(rt: Runtime, desired: Desired, step: s.Deploy, cluster: str, acted: _Acted) -> None:
    resource = f"{desired.namespace}/{desired.name}"
    try:
        acted.service = await rt.ecs.deploy(step, cluster)
    except ClusterFull as exc:
        # Nothing was created: the cluster counts as full, the second decision places it again.
        rt.placements.refuse(cluster, time.monotonic())
        acted.refused = True
        log.warning("%s: %s", resource, exc)
        return
    acted.service_changed = True
    rt.services[step.service_name] = acted.service
    log.info("%s: deployed %s on %s (%s)", resource, step.service_name, cluster, step.deploy_hash)


async def _check_health(rt: Runtime, desired: Desired) -> HealthSample:
    """The on-demand probe (spec.healthCheckToken): kept as the latest sample, and written into
    the status of this pass whatever the refresh period says."""
    key = (desired.namespace, desired.name)
    endpoint = rt.config.endpoint(names_of(desired, rt.config)[0].service, *key)
    sample = await rt.dataplane.health(endpoint, rt.clock())
    rt.health[key] = sample
    rt.metrics.health_checks.labels("ok" if sample.reachable else "unreachable").inc()
    log.info("%s/%s: on-demand health check: %s", *key, sample.status.value)
    return replace(sample, on_demand=True)


def _replication_now(rt: Runtime, desired: Desired, replication: Replication) -> HealthSample | None:
    """The server accepted the pause or resume: the last sample, with its replication as it now is
    (so the status written by this pass shows it, and the next pass does not ask again)."""
    key = (desired.namespace, desired.name)
    sample = rt.health.get(key)
    if sample is None:
        return None
    rt.health[key] = replace(sample, replication=replication)
    return rt.health[key]


# ------------------------------------------------------------------------------------- output


async def _write(rt: Runtime, entry: Entry, before: ReflexDatabaseStatus, decision: Decision) -> None:
    """One status patch, and only when something changed."""
    after = decision.status.wire()
    if after == before.wire():
        return
    meta = entry.meta
    written = await rt.kube.patch_status(meta["namespace"], meta["name"], after)
    rt.metrics.status_writes.inc()
    freed = rt.placements.note((meta["namespace"], meta["name"]), after)
    if freed is not None:
        triggers.slot_freed(rt, freed)
    rt.metrics.observe_status(meta["namespace"], meta["name"], decision.status)
    held = (before.plan.compute_units if before.plan else None, decision.status.plan.compute_units if decision.status.plan else None)
    if held[0] != held[1]:
        triggers.room_changed(rt, meta["namespace"])
    # Keep our copy current (with its new resourceVersion), so a pass that runs before the watch
    # delivers the change does not repeat what this one did.
    if isinstance(written, dict) and "metadata" in written:
        if written["metadata"].get("resourceVersion") == meta.get("resourceVersion"):
            # The server found nothing to change (it normalised the difference away): no watch
            # event will bring this version, so do not wait for one (that would ignore the
            # user's next change for WRITE_WAIT_SECONDS).
            entry.body = written
        else:
            entry.wrote(written, time.monotonic())
    else:
        entry.body = {**entry.head, "status": after}
