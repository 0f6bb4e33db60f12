"""kopf handlers. Thin: they keep the operator-wide registry current and queue resources for a
reconcile pass; the workers, the poller and the decision core do the rest."""

from __future__ import annotations

import asyncio
import logging
import os
import random
from typing import Any

import kopf

from reflex_operator.api.models import GROUP, PLURAL, VERSION
from reflex_operator.aws import ecr
from reflex_operator.aws.clients import AwsCallError, AwsClients
from reflex_operator.aws.codebuild import CodeBuild
from reflex_operator.aws.ecs import Ecs
from reflex_operator.aws.secrets import Secrets
from reflex_operator.dataplane.client import DataPlane
from reflex_operator.k8s.kube import Kube
from reflex_operator.k8s.poller import run_poller
from reflex_operator.k8s.reconciler import SURFACE_AFTER, reconcile, surface_error
from reflex_operator.k8s.runtime import Entry, Runtime, SecretMeta
from reflex_operator.metrics import Metrics
from reflex_operator.settings import Settings

log = logging.getLogger("reflex_operator.handlers")

WORKERS = 8
RESYNC_SECONDS = 300.0


async def build_runtime(settings: Settings) -> Runtime:
    metrics = Metrics()
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    aws = AwsClients(region=region, max_attempts=settings.aws_max_attempts, hook=metrics.aws_call)
    try:
        repository = await ecr.repository_uri(aws, settings.ecr_repository)
    except AwsCallError as exc:
        log.warning("ECR repository %s not found (%s); deriving its URI", settings.ecr_repository, exc.code)
        repository = f"000000000000.dkr.ecr.{region}.amazonaws.com/{settings.ecr_repository}"
    config = settings.decision_config(repository)
    return Runtime(
        settings=settings,
        config=config,
        aws=aws,
        codebuild=CodeBuild(aws, settings.codebuild_project, settings.build_compute_type),
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
        dataplane=DataPlane(settings.health_timeout_seconds, settings.health_concurrency),
        kube=Kube(),
        metrics=metrics,
    )


async def _worker(rt: Runtime) -> None:
    while True:
        key = await rt.queue.get()
        try:
            with rt.metrics.reconcile.time():
                await reconcile(rt, key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one resource's failure must not stop the others
            rt.metrics.reconcile_errors.inc()
            entry = rt.resources.get(key)
            failures = 1
            if entry is not None:
                entry.failures += 1
                failures = entry.failures
            delay = min(2.0**failures, 300.0) * random.uniform(0.8, 1.2)
            log.warning("%s/%s: pass failed (%d in a row), retrying in %.1fs: %s", *key, failures, delay, exc)
            if failures >= SURFACE_AFTER:
                try:
                    await surface_error(rt, key, str(exc))
                except Exception as inner:  # noqa: BLE001
                    log.warning("%s/%s: could not record the error: %s", *key, inner)
            rt.queue.add_after(key, delay)
        finally:
            rt.queue.done(key)


async def _resync(rt: Runtime) -> None:
    """Level-triggered safety net: every resource gets a pass now and then, changed or not."""
    while True:
        await asyncio.sleep(RESYNC_SECONDS)
        for key in list(rt.resources):
            rt.queue.add(key)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config = Settings()
    # A watch that stalls silently is cut and restarted.
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 30
    settings.watching.inactivity_timeout = 600
    settings.networking.request_timeout = 60
    # Our events are posted explicitly; log lines never become events.
    settings.posting.level = logging.CRITICAL
    rt = await build_runtime(config)
    rt.metrics.serve(config.metrics_port)
    rt.tasks = [asyncio.create_task(_worker(rt)) for _ in range(WORKERS)]
    rt.tasks.append(asyncio.create_task(run_poller(rt)))
    rt.tasks.append(asyncio.create_task(_resync(rt)))
    memo.runtime = rt
    log.info("reflex-operator started: cluster %s, poll every %ss", config.ecs_cluster, config.poll_interval_seconds)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    rt: Runtime | None = memo.get("runtime")
    if rt is None:
        return
    for task in rt.tasks:
        task.cancel()
    await asyncio.gather(*rt.tasks, return_exceptions=True)
    await rt.dataplane.close()


def _newer(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether ``new`` is at least as recent as ``old`` (etcd revisions are integers)."""
    a, b = old["metadata"].get("resourceVersion", ""), new["metadata"].get("resourceVersion", "")
    return not (a.isdigit() and b.isdigit()) or int(b) >= int(a)


@kopf.on.event(GROUP, VERSION, PLURAL)
def on_database(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    rt: Runtime = memo.runtime
    obj = event["object"]
    key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
    if event["type"] == "DELETED":
        rt.resources.pop(key, None)
        rt.health.pop(key, None)
        rt.metrics.forget(*key)
        return
    entry = rt.resources.get(key)
    if entry is None or entry.uid != obj["metadata"]["uid"]:
        rt.resources[key] = Entry(body=obj)
    elif _newer(entry.body, obj):
        entry.body = obj
    rt.queue.add(key)


@kopf.on.event("", "v1", "secrets")
def on_secret(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """Only the resourceVersion and key names of Secrets are kept, never their data."""
    rt: Runtime = memo.runtime
    obj = event["object"]
    key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
    if event["type"] == "DELETED":
        rt.secret_index[key] = None
    else:
        keys = frozenset((obj.get("data") or {}).keys()) | frozenset((obj.get("stringData") or {}).keys())
        rt.secret_index[key] = SecretMeta(resource_version=obj["metadata"]["resourceVersion"], keys=keys)
    for ref in rt.referencing(*key):
        rt.queue.add(ref)


@kopf.on.probe(id="queued")
def queued(memo: kopf.Memo, **_: Any) -> int:
    rt: Runtime | None = memo.get("runtime")
    return len(rt.queue) if rt is not None else 0
