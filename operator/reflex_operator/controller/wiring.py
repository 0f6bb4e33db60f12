"""The one place where the operator is put together: the concrete adapters (AWS, the data plane,
Kubernetes), the settings, the metrics, and the tasks that run beside kopf's watches (the
workers, the poller, the resync), started and stopped together."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
from collections.abc import Callable
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
from reflex_operator.database import identity as names
from reflex_operator.ha.elector import Elector
from reflex_operator.ha.gate import Gate
from reflex_operator.kube.client import Kube
from reflex_operator.ha.lease_client import Leases
from reflex_operator.tenancy.plan_cache import PlanCache
from reflex_operator.controller.poller import run_poller
from reflex_operator.controller import triggers
from reflex_operator.controller.queue import Backoff, WorkQueue
from reflex_operator.controller.runtime import Runtime
from reflex_operator.controller.workers import worker
from reflex_operator.metrics import Metrics
from reflex_operator.ports import Builds, Kubernetes, SecretStore, Services
from reflex_operator.ports import DataPlane
from reflex_operator.settings import Settings

__all__ = ["Adapters", "assemble", "build_runtime", "prime", "queue_of", "start", "stop", "replica_identity", "acquired", "lost"]

log = logging.getLogger("reflex_operator.wiring")


def queue_of(settings: Settings) -> WorkQueue:
    return WorkQueue(Backoff(settings.retry_base_seconds, settings.retry_max_seconds, settings.retry_jitter))


async def build_runtime(settings: Settings) -> Runtime:
    """The runtime with the real adapters."""
    metrics = Metrics()
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
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
    adapters = Adapters(
        codebuild=CodeBuild(
            aws,
            settings.codebuild_project,
            settings.build_compute_type,
            find_max_builds=settings.build_find_max_builds,
            clock_skew_seconds=settings.build_idempotency_margin_seconds,
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
        kube=Kube(),
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
        config=settings.decision_config(repository),
        **vars(adapters),  # codebuild, ecs, secrets, dataplane, kube
        metrics=metrics,
        queue=queue_of(settings),
        gate=Gate(settings.shards, elected=settings.leader_election, renew_deadline=settings.renew_deadline_seconds),
        plans=PlanCache(default=settings.default_plan),
        placements=Placements(settings.clusters(), settings.ecs_cluster, settings.ecs_services_per_cluster),
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
        rt.services.pop(names.service_name(key[0], key[1], entry.uid), None)
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
        on_failed=lambda why: rt.stop.request(1, why),
        report=lambda held: rt.metrics.leadership(held, settings.shards),
    )


async def prime(rt: Runtime) -> None:
    """One listing of the plans and the namespaces before the first pass, so that no database is
    judged before its plan is known (the watches keep them current afterwards)."""
    try:
        for body in await rt.kube.list_plans():
            rt.plans.plan_seen(body)
        for body in await rt.kube.list_namespaces():
            rt.plans.namespace_seen(body)
    except Exception as exc:  # noqa: BLE001 - the watches fill them in anyway
        log.warning("could not list the plans and namespaces: %s", exc)


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
        rt.elector = _elector(rt, identity or replica_identity())
        rt.tasks.append(asyncio.create_task(rt.elector.run()))
    else:
        rt.metrics.leadership(rt.gate.held(), rt.settings.shards)


async def stop(rt: Runtime, grace: float = 5.0) -> None:
    """Stop acting, then hand over: let nothing new through, give the running passes and the
    events being posted ``grace`` seconds each, cancel the tasks, and only then release the
    Leases (so the next holder never overlaps with this one), and close the data plane."""
    rt.gate.close()
    await rt.gate.drain(grace)
    for task in rt.tasks:
        task.cancel()
    await asyncio.gather(*rt.tasks, return_exceptions=True)
    rt.tasks = []
    try:
        await asyncio.wait_for(rt.flush_events(), timeout=grace)
    except asyncio.TimeoutError:
        await rt.flush_events(cancel=True)
    if rt.elector is not None:
        await rt.elector.release_all()
        rt.elector.leases.close()
    await rt.dataplane.close()
