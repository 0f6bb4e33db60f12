"""The kopf handlers, and only they: startup and cleanup (kopf's tuning, then the wiring), the
watch events that keep the operator-wide registry current and queue resources for a pass, and the
``queued`` probe. The passes run in ``workers``, the observations in ``poller``.

The event handlers are coroutines although they never await: kopf runs a plain function in a
thread of its executor, and the registry and the work queue belong to the event loop's thread."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import kopf

from reflex_operator.api.models import GROUP, PLURAL, VERSION
from reflex_operator.api.plan import PLAN_PLURAL
from reflex_operator.api.rollout import ROLLOUT_PLURAL
from reflex_operator.controller import triggers, wiring
from reflex_operator.controller.runtime import Entry, Runtime, SecretMeta, Stop
from reflex_operator.settings import Settings

__all__ = ["startup", "cleanup", "on_database", "on_secret", "on_plan", "on_rollout", "on_namespace", "queued", "leadership"]

log = logging.getLogger("reflex_operator.handlers")


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Put the operator together; the elector starts last, so a replica campaigns only once it
    is ready to act. Anything that fails here ends the process (``PermanentError``: kopf would
    otherwise retry the whole startup in 60 s) with a message naming the cause; a half-built
    runtime is stopped first."""
    config = Settings()
    # A watch that stalls silently is cut and restarted.
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 30
    settings.watching.inactivity_timeout = 600
    settings.networking.request_timeout = 60
    # kopf retries its requests (the watches' listings and streams) after these pauses: short and
    # without end, so that after an API server outage of any length the caches are current again
    # within about a second, and a restarted API server's passing 403s never kill a watcher.
    settings.networking.error_backoffs = wiring.watch_backoffs(config)
    # Our events are posted explicitly; log lines never become events.
    settings.posting.level = logging.CRITICAL
    rt: Runtime | None = None
    try:
        rt = await wiring.build_runtime(config)
        if isinstance(memo.get("stop"), Stop):
            rt.stop = memo.stop
        await wiring.prime(rt)
        wiring.serve(rt)
        wiring.start(rt)
    except BaseException as exc:
        failure = f"startup failed: {wiring.describe(exc)}" if isinstance(exc, Exception) else None
        # The stop flag set (with the exit status and cause): kopf's task waiting on it ends now,
        # not after kopf's 5 s for tasks that hang on (a stop during the startup, or a failed
        # one, never reaches ``cleanup``).
        if isinstance(memo.get("stop"), Stop):
            if failure is not None:
                memo.stop.request(1, failure)
            else:
                memo.stop.stopping()
        if rt is not None:
            await wiring.stop(rt, grace=0.5)
        if failure is not None:
            raise kopf.PermanentError(failure) from exc
        raise
    memo.runtime = rt
    if isinstance(memo.get("stop"), Stop):
        wiring.stop_on_signals(rt, memo.stop)
    log.info(
        "reflex-operator started: ECS clusters %s (%s services each), poll every %ss, %s",
        ", ".join(config.clusters()), config.ecs_services_per_cluster, config.poll_interval_seconds,
        f"leader election as {rt.elector.identity} ({config.shards} shard(s))" if rt.elector else "no leader election",
    )


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    rt: Runtime | None = memo.get("runtime")
    if rt is not None:
        await wiring.stop(rt)
    stop = memo.get("stop")
    if isinstance(stop, Stop):
        stop.stopping()


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return (obj["metadata"]["namespace"], obj["metadata"]["name"])


@kopf.on.event(GROUP, VERSION, PLURAL)
async def on_database(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """Keep the latest body (never an older one than the operator's own last write) and queue
    a pass. A listing (type None) is the current state: always taken."""
    rt: Runtime = memo.runtime
    obj = event["object"]
    key = _key(obj)
    if event["type"] == "DELETED":
        gone = rt.resources.pop(key, None)
        names = gone.names(rt.config) if gone is not None else None
        if names is not None:
            # What was seen of its service is forgotten (the cache is keyed by name, not cluster):
            # an object created again under the name looks for it anew, on every cluster.
            rt.services.pop(names.service, None)
        rt.health.pop(key, None)
        rt.plans.forget(key)
        rt.queue.discard(key)
        rt.metrics.forget(*key)
        triggers.database_gone(rt, key, rt.placements.forget(key))
        return
    entry = rt.resources.get(key)
    before = entry.usage() if entry is not None else None
    if entry is None or entry.uid != obj["metadata"]["uid"]:
        rt.resources[key] = Entry(body=obj)
    elif not entry.seen(obj, time.monotonic(), listing=event["type"] is None):
        return  # older than what the operator wrote: nothing new
    rt.placements.note(key, rt.resources[key].status)
    triggers.database_changed(rt, key, listing=event["type"] is None)
    after = rt.resources[key].usage()
    if before is not None and after is not None and (before.want, before.held) != (after.want, after.held):
        triggers.room_changed(rt, key[0])


@kopf.on.event("", "v1", "secrets")
async def on_secret(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """Only the resourceVersion and key names of Secrets are kept, never their data."""
    rt: Runtime = memo.runtime
    obj = event["object"]
    key = _key(obj)
    if event["type"] == "DELETED":
        rt.secret_index[key] = None
    else:
        keys = frozenset((obj.get("data") or {}).keys()) | frozenset((obj.get("stringData") or {}).keys())
        rt.secret_index[key] = SecretMeta(resource_version=obj["metadata"]["resourceVersion"], keys=keys)
    triggers.secret_changed(rt, *key)


@kopf.on.event(GROUP, VERSION, PLAN_PLURAL)
async def on_plan(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """Keep the plan; when its limits change (or it comes or goes), every database of the
    namespaces on it gets a pass (their status shows the limits)."""
    rt: Runtime = memo.runtime
    obj = event["object"]
    if rt.plans.plan_seen(obj, deleted=event["type"] == "DELETED"):
        namespaces = {ns for ns, _ in rt.resources}
        triggers.plan_changed(rt, rt.plans.on_plan(obj["metadata"]["name"], namespaces))


@kopf.on.event(GROUP, VERSION, ROLLOUT_PLURAL)
async def on_rollout(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """Keep the ReflexRollout (a user's pause, resume or abort; the leader's waves): the databases
    it admits now, and on a change of phase its held ones, get a pass."""
    rt: Runtime = memo.runtime
    obj = event["object"]
    admitted, phase_changed = rt.rollouts.seen(obj, deleted=event["type"] == "DELETED", listing=event["type"] is None)
    triggers.wave_advanced(rt, obj["metadata"]["name"], admitted, phase_changed)


@kopf.on.event("", "v1", "namespaces")
async def on_namespace(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """Keep the namespace's plan label; a namespace moved to another plan gets a pass for each database."""
    rt: Runtime = memo.runtime
    obj = event["object"]
    if rt.plans.namespace_seen(obj, deleted=event["type"] == "DELETED"):
        triggers.namespace_moved(rt, obj["metadata"]["name"])


@kopf.on.probe(id="queued")
def queued(memo: kopf.Memo, **_: Any) -> int:
    rt: Runtime | None = memo.get("runtime")
    return len(rt.queue) if rt is not None else 0


@kopf.on.probe(id="leadership")
def leadership(memo: kopf.Memo, **_: Any) -> dict[str, Any]:
    """Leading or standby, and the shards held: a standby is ready (it can take over) but does
    not act."""
    rt: Runtime | None = memo.get("runtime")
    if rt is None:
        return {"leading": False, "shards": []}
    held = rt.gate.held()
    return {
        "identity": rt.elector.identity if rt.elector is not None else None,
        "leading": bool(held),
        "shards": held,
        "of": rt.settings.shards,
        "resources": len(rt.resources),
    }
