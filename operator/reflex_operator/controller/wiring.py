"""The one place where the operator is put together: the concrete adapters (AWS, the data plane,
Kubernetes), the settings, the metrics, and the tasks that run beside kopf's watches (the
workers, the poller, the resync), started and stopped together."""

from __future__ import annotations

import asyncio
import json
import itertools
import logging
import os
import re
import secrets
import signal
import socket
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from reflex_operator.aws import ecr
from reflex_operator.aws.budget import Budgets, parse_rate
from reflex_operator.aws.clients import AwsCallError, AwsClients
from reflex_operator.aws.codebuild import CodeBuild
from reflex_operator.aws.ecs import Ecs
from reflex_operator.tenancy.slots import Placements
from reflex_operator.aws.secrets import Secrets
from reflex_operator.dataplane.client import HttpDataPlane
from reflex_operator.database import cost
from reflex_operator.ha.elector import Elector
from reflex_operator.ha.gate import Gate
from reflex_operator.kube.client import Kube
from reflex_operator.ha.lease_client import Leases
from reflex_operator.tenancy.plan_cache import PlanCache
from reflex_operator.fleet.cache import RolloutCache
from reflex_operator.controller.poller import run_poller
from reflex_operator.controller import triggers
from reflex_operator.controller.queue import Backoff, WorkQueue
from reflex_operator.controller.runtime import Runtime, Stop
from reflex_operator.controller.workers import worker
from reflex_operator.metrics import Metrics
from reflex_operator.controller.fleet import FleetBuilds
from reflex_operator.ports import BuildRegistry, Builds, Kubernetes, SecretStore, Services
from reflex_operator.ports import DataPlane
from reflex_operator.settings import Settings

__all__ = [
    "Adapters", "assemble", "build_runtime", "prime", "queue_of", "serve", "start", "stop", "replica_identity", "acquired", "lost",
    "StartupError", "describe", "watch_backoffs", "stop_on_signals",
]

log = logging.getLogger("reflex_operator.wiring")


def queue_of(settings: Settings) -> WorkQueue:
    return WorkQueue(Backoff(settings.retry_base_seconds, settings.retry_max_seconds, settings.retry_jitter))


async def build_runtime(settings: Settings) -> Runtime:
    """The runtime with the real adapters."""
    metrics = Metrics()
    region = settings.aws_region()
    priced = cost.priced_as(region, cost.parse_prices(json.dumps(settings.fargate_prices)))
    if priced != region:
        log.warning("no verified Fargate price for %s: the running cost uses %s's; set REFLEX_FARGATE_PRICES for %s", region, priced, region)
    aws = AwsClients(
        region=region,
        max_attempts=settings.aws_max_attempts,
        hook=metrics.aws_call,
        budgets=Budgets(
            settings.aws_rate_budget_fraction, {f: parse_rate(t) for f, t in settings.aws_rate_budgets.items()}
        ),
        waited=metrics.aws_budget_waited,
    )
    try:
        repository = await ecr.repository_uri(aws, settings.ecr_repository)
    except AwsCallError as exc:
        log.warning("ECR repository %s not found (%s); deriving its URI", settings.ecr_repository, exc.code)
        repository = f"000000000000.dkr.ecr.{region}.amazonaws.com/{settings.ecr_repository}"
    kube = Kube()
    adapters = Adapters(
        codebuild=CodeBuild(
            aws,
            settings.codebuild_project,
            settings.build_compute_type,
            find_max_builds=settings.build_find_max_builds,
            clock_skew_seconds=settings.build_idempotency_margin_seconds,
            repository=settings.ecr_repository,
        ),
        ecs=Ecs(
            aws,
            cluster=settings.ecs_cluster,
            subnets=settings.subnets,
            security_groups=settings.security_groups,
            execution_role_arn=settings.execution_role_arn,
            task_role_arn=settings.task_role_arn,
            container_port=settings.container_port,
            assign_public_ip=settings.assign_public_ip,
            region=region,
        ),
        secrets=Secrets(aws),
        dataplane=HttpDataPlane(settings.health_timeout_seconds, settings.health_concurrency),
        kube=kube,
        registry=kube,
    )
    return assemble(settings, adapters, metrics=metrics, repository=repository)


@dataclass(frozen=True)
class Adapters:
    """What the operator talks to, behind the ports the core owns (the unit tests' world passes
    its fakes here, production the AWS, data-plane and Kubernetes adapters)."""

    codebuild: Builds
    ecs: Services
    secrets: SecretStore
    dataplane: DataPlane
    kube: Kubernetes
    registry: BuildRegistry | None = None  # the ReflexBuild resources (None: not written)


def assemble(
    settings: Settings,
    adapters: Adapters,
    *,
    metrics: Metrics,
    repository: str,
    clock: Callable[[], datetime] | None = None,
) -> Runtime:
    """Settings and adapters → the runtime: the one place each setting becomes the part that
    uses it (the decisions' config, the queue's backoff, the gate, the plans, the clusters).
    Production (``build_runtime``) and the unit tests' world both come through here."""
    return Runtime(
        settings=settings,
        config=settings.decision_config(repository, settings.aws_region()),
        **vars(adapters),  # codebuild, ecs, secrets, dataplane, kube
        metrics=metrics,
        queue=queue_of(settings),
        gate=Gate(settings.shards, elected=settings.leader_election, renew_deadline=settings.renew_deadline_seconds),
        plans=PlanCache(default=settings.default_plan),
        placements=Placements(settings.clusters(), settings.ecs_cluster, settings.ecs_services_per_cluster),
        fleet=FleetBuilds(settings.cluster_identity, settings.build_idempotency_window_seconds - settings.build_idempotency_margin_seconds),
        rollouts=RolloutCache(scope=settings.namespace),
        **({"clock": clock} if clock is not None else {}),
    )


def replica_identity() -> str:
    """The pod's name (downward API POD_NAME, else HOSTNAME) and a random suffix: a restarted
    process is a new candidate, never mistaken for the one before it."""
    base = os.environ.get("POD_NAME") or os.environ.get("HOSTNAME") or "reflex-operator"
    base = re.sub(r"[^a-z0-9-]+", "-", base.lower()).strip("-")[:40] or "reflex-operator"
    return f"{base}-{secrets.token_hex(4)}"


def acquired(rt: Runtime, shard: int) -> None:
    """A shard was taken: forget what this replica observed of its resources before (another
    replica acted meanwhile) and give each of them a full pass now."""
    taken = [(key, entry) for key, entry in list(rt.resources.items()) if rt.gate.shard(entry.uid) == shard]
    for key, entry in taken:
        rt.health.pop(key, None)
        known = entry.names(rt.config)
        if known is not None:
            rt.services.pop(known.service, None)
        for build in entry.status.get("builds") or []:
            rt.builds.pop(build.get("codebuildId") or "", None)
    triggers.shard_taken(rt, [key for key, _ in taken])


def lost(rt: Runtime, shard: int) -> None:
    """A shard was lost or given up: its per-resource series are the new holder's to show."""
    for key, entry in list(rt.resources.items()):
        if rt.gate.shard(entry.uid) == shard:
            rt.metrics.forget(*key)


def _elector(rt: Runtime, identity: str) -> Elector:
    settings = rt.settings
    timings = settings.timings()
    leases = Leases(settings.leases_namespace(), settings.lease_name, timeout=timings.renew_deadline / 2, count=rt.metrics.lease_request)
    return Elector(
        rt.gate,
        leases,
        identity,
        settings.lease_name,
        timings,
        on_acquired=lambda shard: acquired(rt, shard),
        on_lost=lambda shard: lost(rt, shard),
        report=lambda held: rt.metrics.leadership(held, settings.shards),
    )


async def prime(rt: Runtime) -> None:
    """One listing of the plans, the namespaces and the rollouts before the first pass, so that no
    database is judged before its plan and its rollout's waves are known (the watches keep them
    current afterwards); the fleet's builds."""
    try:
        for body in await rt.kube.list_plans():
            rt.plans.plan_seen(body)
        for body in await rt.kube.list_namespaces():
            rt.plans.namespace_seen(body)
    except Exception as exc:  # noqa: BLE001 - the watches fill them in anyway
        log.warning("could not list the plans and namespaces: %s", exc)
    try:
        # The fleet's builds (ReflexBuilds, else one look over the CodeBuild project), before any
        # database is judged: a restart, or a control plane rebuilt from nothing, starts none twice.
        await rt.fleet.prime(rt.codebuild, rt.registry, rt.clock())
    except Exception as exc:  # noqa: BLE001 - the first pass primes it instead
        log.warning("could not read the fleet's builds: %s", exc)
    try:
        # The rollouts too: a restarted operator knows whom the waves admitted before any pass.
        for body in await rt.kube.list_rollouts():
            rt.rollouts.seen(body, listing=True)
    except Exception as exc:  # noqa: BLE001 - the watch fills them in anyway
        log.warning("could not list the rollouts: %s", exc)


class StartupError(RuntimeError):
    """The operator cannot start; the message names the cause (and the setting to change)."""


def describe(exc: BaseException) -> str:
    """One line for a failed start (never a secret: settings values are not quoted)."""
    if isinstance(exc, StartupError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _Steady:
    """Retry pauses without end: 0.5 s, then 1 s each time (a fresh iterator per request; not
    ``Sized``, so kopf never gives up)."""

    def __iter__(self) -> Iterator[float]:
        return itertools.chain((0.5,), itertools.repeat(1.0))


def watch_backoffs(settings: Settings) -> Iterable[float]:
    """kopf's pauses between retries of a failed request: never longer than one second, and
    without end. kopf's default (1 s growing to 21 s, then it gives up) let a watch lag 21 s
    behind an API server's return, and a restarted API server answers 403 for a few seconds
    while its RBAC caches fill: kopf gave up on those and its watchers died for good."""
    return _Steady()


def _bindable(port: int) -> OSError | None:
    """Can the probe server (kopf's, bound after the startup) listen on this port?"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as exc:
            return exc
    return None


def serve(rt: Runtime) -> None:
    """Serve the metrics, and make sure the probe port is free: a port in use fails the start
    with a message naming it (never a replica that campaigns without its endpoints)."""
    settings = rt.settings
    try:
        rt.metrics.serve(settings.metrics_port)
    except OSError as exc:
        raise StartupError(
            f"metrics port {settings.metrics_port} (REFLEX_METRICS_PORT) cannot be served: {exc.strerror or exc}"
        ) from exc
    problem = _bindable(settings.probe_port)
    if problem is not None:
        raise StartupError(
            f"probe port {settings.probe_port} (REFLEX_PROBE_PORT) cannot be served: {problem.strerror or problem}"
        )


def start(rt: Runtime, identity: str | None = None) -> None:
    """The workers, the poller and the resync, as tasks of the running loop; with leader election,
    the elector too (the workers and the poller act only on what the gate lets through).

    boto3 and the Kubernetes client block, so their calls run in the loop's default executor: it
    is sized for every worker plus the poller, the events being posted and the plan writes (the
    default, cores + 4, would make the workers queue for threads on a small node)."""
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=rt.settings.workers + 4, thread_name_prefix="reflex-io")
    )
    rt.tasks = [asyncio.create_task(worker(rt)) for _ in range(rt.settings.workers)]
    rt.tasks.append(asyncio.create_task(run_poller(rt)))
    rt.tasks.append(asyncio.create_task(triggers.resync(rt.queue, rt.resources.keys, rt.settings.resync_seconds)))
    if rt.settings.leader_election:
        # Last, once everything else is up: a replica campaigns only when it is ready to act.
        rt.elector = _elector(rt, identity or replica_identity())
        rt.elector.start()
    else:
        rt.metrics.leadership(rt.gate.held(), rt.settings.shards)


def stop_on_signals(rt: Runtime, stop: Stop) -> None:
    """SIGTERM and SIGINT (once started; kopf's own handling covers the startup): stop acting and
    campaigning at once, then let kopf stop through the stop flag (its cleanup runs ``stop``).
    Without this, the elector would go on campaigning (and could take a Lease it would have to
    give back) while kopf winds its watches down."""

    def stopping(sig: signal.Signals) -> None:
        log.info("%s received: stopping (no more passes, no new lease)", sig.name)
        rt.gate.close()
        if rt.elector is not None:
            rt.elector.stopping = True
        stop.stopping()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stopping, sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread: kopf's remain
            return


async def stop(rt: Runtime, grace: float = 5.0) -> None:
    """Stop acting, then hand over, within about ``2 × grace`` seconds whatever the state: let
    nothing new through and take no lease, give the running passes ``grace`` seconds (the elector
    keeps renewing meanwhile), cancel the tasks, end the elector at a round boundary and release
    its Leases (only then: the next holder never overlaps with this one), then give the events
    being posted what is left of the time, and close the data plane."""
    deadline = asyncio.get_running_loop().time() + 2 * grace
    rt.gate.close()
    if rt.elector is not None:
        rt.elector.stopping = True  # a standby stopping takes no lease now
    await rt.gate.drain(grace)
    for task in rt.tasks:
        task.cancel()
    await asyncio.gather(*rt.tasks, return_exceptions=True)
    rt.tasks = []
    if rt.elector is not None:
        try:
            await asyncio.wait_for(rt.elector.close(timeout=grace / 2), timeout=grace)
        except asyncio.TimeoutError:
            log.warning("could not release the leases in time: they expire on their own")
        rt.elector.leases.close()
    left = max(deadline - asyncio.get_running_loop().time(), 0.5)
    try:
        await asyncio.wait_for(rt.flush_events(), timeout=left)
    except asyncio.TimeoutError:
        await rt.flush_events(cancel=True)
    await rt.dataplane.close()
