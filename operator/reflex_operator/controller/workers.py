"""The reconcile workers: each takes a key from the work queue, runs one pass, and sorts out how
it ended. Success forgets the key's backoff; a ``Conflict`` (a write met a newer object) reads the
object again and queues the key at once, no failure counted; any other error retries after the key's backoff and,
after ``SURFACE_AFTER`` failures in a row, shows as Stalled/AWSError in status."""

from __future__ import annotations

import asyncio
import logging
import time

from reflex_operator.ports import Conflict
from reflex_operator.controller.reconcile import SURFACE_AFTER, reconcile, surface_error
from reflex_operator.controller import triggers
from reflex_operator.controller.runtime import Key, Runtime

__all__ = ["worker", "process"]

log = logging.getLogger("reflex_operator.workers")


async def worker(rt: Runtime) -> None:
    """Process keys until cancelled. Only keys the gate lets through are acted on (this replica
    holds their shard's Lease); the others are dropped here: the replica that takes their shard
    queues all of them then."""
    while True:
        key = await rt.queue.get()
        try:
            entry = rt.resources.get(key)
            if entry is None:
                await process(rt, key)
            else:
                await rt.gate.run(entry.uid, lambda: process(rt, key))
        finally:
            rt.queue.done(key)


async def process(rt: Runtime, key: Key) -> None:
    """One pass of ``key`` and its outcome (the caller marks the key done)."""
    try:
        with rt.metrics.reconcile.time():
            await reconcile(rt, key)
    except Conflict as exc:
        log.debug("%s/%s: %s; again on the newer object", *key, exc)
        await _reread(rt, key)
    except Exception as exc:  # noqa: BLE001 - one resource's failure must not stop the others
        await _failed(rt, key, exc)
    else:
        rt.queue.forget(key)
        entry = rt.resources.get(key)
        if entry is not None:
            entry.last_error = None


async def _reread(rt: Runtime, key: Key) -> None:
    """After a conflict: read the object as stored now and queue the key again at once (the key is
    active: it runs again the moment this pass ends). Reading first means the next pass works on
    the newer object even while the watch lags, so conflicts never loop."""
    try:
        body = await rt.kube.get(*key)
    except Exception as exc:  # noqa: BLE001 - cannot even read: an ordinary failure
        await _failed(rt, key, exc)
        return
    entry = rt.resources.get(key)
    if body is None or entry is None:
        return  # gone: the watch's DELETED event clears it
    if body["metadata"].get("uid") != entry.uid:
        return  # replaced by a new object of the same name: its watch event brings it
    entry.seen(body, time.monotonic(), listing=True)
    triggers.conflict(rt, key)


async def _failed(rt: Runtime, key: Key, exc: Exception) -> None:
    rt.metrics.reconcile_errors.inc()
    failures, delay = rt.queue.retry(key)
    log.warning("%s/%s: pass failed (%d in a row), retrying in %.1fs: %s", *key, failures, delay, exc)
    if failures < SURFACE_AFTER:
        return
    try:
        await surface_error(rt, key, str(exc))
    except Exception as inner:  # noqa: BLE001 - the retry is queued either way
        log.warning("%s/%s: could not record the error: %s", *key, inner)
