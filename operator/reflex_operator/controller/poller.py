"""The one operator-wide poller: every interval it asks CodeBuild about all unfinished builds
(BatchGetBuilds, 100 a call), ECS about all services (DescribeServices, 10 a call, per cluster) and every
running instance about its health (concurrently, bounded), and wakes only the resources whose
observations changed. Between those polls, a short round every ``transition_poll_seconds`` asks
only about what is moving (unfinished builds, services being deployed, scaled or deleted), so a
fleet's provisioning is not paced by the idle poll; when nothing moves it asks nothing."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reflex_operator.api.models import Phase, ReflexDatabaseSpec, ReflexDatabaseStatus, unfinished_builds
from reflex_operator.api.plan import ReflexPlanStatus
from reflex_operator.database.decide import classify_health, health_sample_matters
from reflex_operator.database import fleet
from reflex_operator.database.inputs import Config, Desired
from reflex_operator.database.ownership import names_of
from reflex_operator.database.service import settling
from reflex_operator.controller import triggers
from reflex_operator.controller.runtime import Entry, Key, Runtime
from reflex_operator.controller.rollouts import publish_rollouts

__all__ = ["Polled", "poll_once", "polled", "publish_plans", "run_poller"]

log = logging.getLogger("reflex_operator.poller")

# Phases with no ECS service to ask about (unless status still shows one).
_NO_SERVICE = {Phase.PENDING, Phase.BUILDING, Phase.TERMINATED}


@dataclass(frozen=True)
class Polled:
    """What the poller reads of one database, parsed once per body (not once per poll): whether
    it is paused, the parts of its status a poll looks at (phase, instance, applied tokens, ECS
    cluster; not the builds, history or notifications), the CodeBuild ids of its unfinished builds
    and its service's name. The spec model is not kept (parsing it for a health probe costs a few
    microseconds; keeping it, about 3 KB a database)."""

    paused: bool
    status: ReflexDatabaseStatus
    service: str
    unfinished: tuple[str, ...] = ()


_POLLED_STATUS = ("phase", "instance", "builds", "appliedTokens", "buildIntent", "placement", "identity", "secretArn", "rollout")


def polled(entry: Entry, config: Config) -> Polled | None:
    """The entry's ``Polled`` (None: a body that does not parse), cached on the entry."""

    def parse(body: dict[str, Any]) -> Polled | None:
        meta, status = body["metadata"], body.get("status") or {}
        try:
            spec = ReflexDatabaseSpec.model_validate(body.get("spec") or {})
            shown = ReflexDatabaseStatus.model_validate({k: status[k] for k in _POLLED_STATUS if k in status})
        except ValueError:
            return None
        unfinished = tuple(unfinished_builds(shown.builds))
        desired = Desired(name=meta["name"], namespace=meta["namespace"], uid=str(meta["uid"]), generation=1, spec=spec, status=shown)
        service = names_of(desired, config)[0].service
        return Polled(spec.paused, shown.model_copy(update={"builds": []}), service, unfinished)

    return entry.derived("polled", parse)  # type: ignore[no-any-return]


async def poll_once(rt: Runtime, full: bool = True) -> set[Key]:
    """One round; returns the keys it woke. ``full=False``: the short round (builds, and the
    services that are settling; no health probes, no plan status)."""
    woken: set[Key] = set()
    now = rt.clock()
    parsed: dict[Key, tuple[Entry, Polled]] = {}
    owners: dict[str, list[Key]] = {}  # builds: only unfinished ones are asked about (a shared one: every database on it)
    for key, entry in list(rt.resources.items()):
        if not rt.gate.owns(entry.uid):
            continue  # another replica's (or no one's yet): no AWS call for it here
        view = polled(entry, rt.config)
        if view is not None:
            parsed[key] = (entry, view)
            if full or key not in rt.queue:  # a short round leaves a queued pass's builds to it
                for cid in view.unfinished:
                    owners.setdefault(cid, []).append(key)
    finished = 0
    asked = sorted(set(owners) | set(rt.fleet.unfinished()))
    if asked:
        seen = await rt.codebuild.get(asked)
        rt.fleet.update(seen)
        for cid, build in seen.items():
            if rt.builds.get(cid) != build:
                finished += build.outcome.finished
                rt.builds[cid] = build
                woken.update(owners.get(cid, ()))
    woken |= _queued_to_wake({key: view.status for key, (_, view) in parsed.items()}, finished)

    # Services, asked of each database's own cluster (DescribeServices takes one).
    names: dict[str, Key] = {}
    by_cluster: dict[str, list[str]] = {}
    for key, (_, view) in parsed.items():
        status, name = view.status, view.service
        if status.instance is not None or (status.phase is not None and status.phase not in _NO_SERVICE):
            if not full and (key in rt.queue or _absent(rt, name) or not settling(status.phase, rt.services.get(name))):
                # Settled, or its pass is still to come, or no service yet (only a pass of ours
                # creates it: one that waits for a registration token): nothing a short round would change.
                continue
            names[name] = key
            cluster = status.placement.cluster if status.placement else rt.placements.default
            by_cluster.setdefault(cluster, []).append(name)
    for cluster, in_cluster in sorted(by_cluster.items()):
        for name, service in (await rt.ecs.describe(sorted(in_cluster), cluster)).items():
            if rt.services.get(name) != service or name not in rt.services:
                rt.services[name] = service
                woken.add(names[name])
    if full:
        rt.metrics.observe_clusters(rt.placements.clusters, rt.placements.counts)
        woken |= await _probe_running(rt, parsed, now)
    triggers.observed(rt, woken)
    if full and rt.gate.leads_installation():
        await publish_plans(rt, now)
        await sweep_builds(rt, now)
        await publish_rollouts(rt, now)
    return woken


def _use(rt: Runtime, entry: Entry) -> fleet.Use | None:
    return entry.derived("fleet-use", lambda body: fleet.use_of(body, rt.config.default_server_version))  # type: ignore[no-any-return]


async def sweep_builds(rt: Runtime, now: datetime) -> None:
    """The fleet's shared builds (the replica that leads the installation): who uses each, its
    ReflexBuild written when it changed, an unfinished one no database wants stopped, a finished
    one unused for ``REFLEX_BUILD_RETENTION_SECONDS`` deleted with its image."""
    if rt.registry is not None:
        try:
            await rt.fleet.reread(rt.codebuild, rt.registry)
        except Exception as exc:  # noqa: BLE001 - read again next sweep
            log.warning("could not read the ReflexBuilds: %s", exc)
    if not rt.fleet.builds:
        return
    uses = fleet.index(u for u in (_use(rt, e) for _, e in list(rt.resources.items())) if u is not None)
    retention = rt.settings.build_retention_seconds
    for cid, build in list(rt.fleet.builds.items()):
        used_by = fleet.users(build, uses)
        verdict = fleet.verdict(build, used_by, rt.fleet.unused_since.get(cid), now, retention)
        if verdict.unused_since is None:
            rt.fleet.unused_since.pop(cid, None)
        else:
            rt.fleet.unused_since[cid] = verdict.unused_since
        name = fleet.build_name(build)
        try:
            if verdict.stop:
                await rt.codebuild.stop(cid)
                log.info("shared build %s stopped: no database wants its inputs any longer", cid)
            if verdict.retire:
                await rt.codebuild.retire([cid], [name])
                rt.fleet.forget(cid)
                rt.metrics.fleet_builds_retired.inc()
                log.info("shared build %s and its image deleted: unused for %.0f s", cid, retention)
                if rt.registry is not None:
                    await rt.registry.delete_build(name)
                rt.fleet.shown.pop(name, None)
                rt.fleet.recorded.discard(name)
                continue
            if rt.registry is None:
                continue
            shown = fleet.build_status(build, used_by, verdict.unused_since).wire()
            if rt.fleet.shown.get(name) == shown:
                continue
            if name not in rt.fleet.recorded:  # found in CodeBuild, not started by this installation's records
                await rt.registry.record_build(name, fleet.found_spec(build, rt.fleet.identity).wire())
                rt.fleet.recorded.add(name)
            await rt.registry.put_build_status(name, shown)
            rt.fleet.shown[name] = shown
        except Exception as exc:  # noqa: BLE001 - the next sweep tries again
            log.warning("could not sweep shared build %s: %s", cid, exc)


def _absent(rt: Runtime, name: str) -> bool:
    """ECS answered that the service does not exist (the full poll still asks about it)."""
    return name in rt.services and rt.services[name] is None


async def _probe_running(rt: Runtime, parsed: dict[Key, tuple[Entry, Polled]], now: datetime) -> set[Key]:
    """Probe the health of every running instance; returns the databases whose sample matters.
    A sample that crosses the namespace's cap (or a new month) wakes its database too: the health
    it would show changes (``health_sample_matters`` with ``capped``)."""
    probes = []
    for key, (entry, view) in parsed.items():
        service = rt.services.get(view.service)
        if service is None or not service.exists or service.running_count == 0 or view.paused:
            rt.health.pop(key, None)
            continue
        spec = ReflexDatabaseSpec.model_validate(entry.spec)
        endpoint = rt.config.endpoint(view.service, *key)
        probes.append(_probe(rt, key, spec, view.status, endpoint, now))
    return {key for key in await asyncio.gather(*probes) if key is not None}


def _queued_to_wake(statuses: dict[Key, ReflexDatabaseStatus], slots: int) -> set[Key]:
    """Builds that finished free CodeBuild slots: wake as many databases waiting for one (their
    start was refused at the concurrent-build quota), the longest waiting first; the others keep
    their retry timer (waking them all would only be refused again)."""
    waiting = [(st.build_intent.queued_since, key) for key, st in statuses.items() if st.build_intent and st.build_intent.queued_since]
    return {key for _, key in sorted(waiting)[:slots]}


async def publish_plans(rt: Runtime, now: datetime) -> None:
    """Each ReflexPlan's status (per namespace on it with databases: compute units used, bytes
    this month), written when it changed; and the plan metrics."""
    by_namespace: dict[str, list[Entry]] = {}
    for (namespace, _), entry in list(rt.resources.items()):
        by_namespace.setdefault(namespace, []).append(entry)
    rt.metrics.keep_plans(rt.plans.plans)
    for name, plan in list(rt.plans.plans.items()):
        usages = [
            rt.plans.usage(ns, [e.usage() for e in entries], now, sum(e.waiting() for e in entries))
            for ns, entries in sorted(by_namespace.items())
            if rt.plans.plan_name(ns) == name
        ]
        for u in usages:
            rt.metrics.observe_plan(u.namespace, name, u.compute_units_used, plan.spec.compute_units_limit, u.bytes_transferred_this_month, plan.cap_bytes)
        status = ReflexPlanStatus(namespaces=usages)
        shown = rt.plans.status.get(name)
        if shown is not None and shown.wire() == status.wire():
            continue
        for gone in {u.namespace for u in (shown.namespaces if shown else [])} - {u.namespace for u in usages}:
            rt.metrics.forget_plan(gone, name)
        try:
            await rt.kube.patch_plan_status(name, status.wire())
        except Exception as exc:  # noqa: BLE001 - written again next round
            log.warning("could not write the status of ReflexPlan %s: %s", name, exc)
            continue
        rt.plans.status[name] = status


async def _probe(
    rt: Runtime, key: Key, spec: ReflexDatabaseSpec, status: ReflexDatabaseStatus, endpoint: str, now: datetime
) -> Key | None:
    sample = await rt.dataplane.health(endpoint, now)
    rt.health[key] = sample
    rt.plans.count(key, sample.bytes_transferred, now)
    capped = rt.plans.capped(key[0], now)
    rows = sum(sample.row_counts.values()) if sample.row_counts else None
    rt.metrics.observe_health(key[0], key[1], classify_health(sample, spec, capped), sample.snapshot_age_ms, sample.swap_count, rows)
    rt.metrics.health_checks.labels("ok" if sample.reachable else "unreachable").inc()
    return key if health_sample_matters(spec, status, sample, now, rt.config.status_refresh_seconds, capped) else None


async def run_poller(rt: Runtime) -> None:
    """A full round every ``poll_interval_seconds``, short rounds in between."""
    interval = rt.settings.poll_interval_seconds
    short = min(rt.settings.transition_poll_seconds, interval)
    next_full = time.monotonic()
    while True:
        started = time.monotonic()
        full = started >= next_full
        if full:
            next_full = started + interval
        try:
            await poll_once(rt, full)
        except Exception as exc:  # noqa: BLE001 - the poller must survive AWS outages
            log.warning("poll failed: %s", exc)
        await asyncio.sleep(max(0.0, min(next_full, started + short) - time.monotonic()))
