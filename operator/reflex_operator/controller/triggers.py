"""Who wakes whom: every rule that puts a database into the work queue, declared in this one module,
as controller-runtime declares its watches in ``SetupWithManager``. The handlers, the poller, the
pass, the workers and HA say *what happened* by calling one of these; none of them touches the
queue's ``add`` (``tests/unit/controller/test_triggers.py`` fails when one does).

| what happened (who says so)                                   | who gets a pass                                        | when                        |
|---------------------------------------------------------------|--------------------------------------------------------|-----------------------------|
| a ReflexDatabase changed (``handlers.on_database``)           | that database                                          | now; the first listing: low |
| a ReflexDatabase took or freed room in its plan (handlers, pass) | the databases of its namespace waiting for room     | now                         |
| a ReflexDatabase is gone (``handlers.on_database``)           | its namespace's waiting databases; those waiting for a service slot on its cluster | now |
| a service was deleted or a placement freed (the pass)         | the databases waiting for a slot on that cluster       | now                         |
| a Secret changed (``handlers.on_secret``)                     | the databases whose ``secretRef`` names it             | now                         |
| a ReflexPlan's limits changed (``handlers.on_plan``)          | every database of the namespaces on it                 | now                         |
| a Namespace moved to another plan (``handlers.on_namespace``) | every database of that namespace                       | now                         |
| a build, a service or a health sample changed (``poller``)    | that database                                          | now                         |
| a rollout admitted a wave, or its phase changed (``rollouts``, ``handlers.on_rollout``) | the databases admitted; on a phase change, its held ones too | now |
| a build start was refused at CodeBuild's quota (the pass)     | that database                                          | after ``build_queue_retry_seconds`` |
| the pass left a build start or a placement due (the pass)     | that database                                          | now                         |
| a call of the pass met an empty rate budget (the pass)        | that database (its token is held for it)               | when the token comes        |
| a status write met a 409 Conflict (``workers``)               | that database, on the object re-read                   | now, no backoff             |
| a pass failed (``workers``, through ``queue.retry``)          | that database                                          | after its backoff           |
| this replica took a shard (HA, ``wiring.acquired``)           | every database of the shard                            | low                         |
| the resync period went by (``resync``)                        | every database, spread over the period                 | low                         |
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from reflex_operator.api.common import Key
from reflex_operator.controller.queue import WorkQueue
from reflex_operator.api.rollout import MemberState
from reflex_operator.controller.runtime import Runtime

__all__ = [
    "database_changed",
    "room_changed",
    "database_gone",
    "slot_freed",
    "secret_changed",
    "plan_changed",
    "namespace_moved",
    "observed",
    "wave_advanced",
    "build_queue_full",
    "step_due",
    "budget_ready",
    "conflict",
    "shard_taken",
    "resync",
]


def database_changed(rt: Runtime, key: Key, *, listing: bool = False) -> None:
    """A ReflexDatabase's body changed; the initial listing waits behind real changes."""
    rt.queue.add(key, low=listing)


def room_changed(rt: Runtime, namespace: str) -> None:
    """A database of ``namespace`` took or freed room in its plan: those waiting for room may fit now."""
    for key, entry in rt.in_namespace(namespace):
        if entry.waiting():
            rt.queue.add(key)


def database_gone(rt: Runtime, key: Key, freed_cluster: str | None) -> None:
    """A ReflexDatabase is gone: its room in the plan is free, and its service slot if it held one."""
    room_changed(rt, key[0])
    if freed_cluster is not None:
        slot_freed(rt, freed_cluster)


def slot_freed(rt: Runtime, cluster: str | None) -> None:
    """A service slot was freed on ``cluster`` (None: anywhere): the databases waiting for room there."""
    for key in rt.placements.freed(cluster) if cluster else sorted(rt.placements.waiting):
        rt.queue.add(key)


def secret_changed(rt: Runtime, namespace: str, name: str) -> None:
    """A Secret changed: the databases that read it."""
    for key in rt.referencing(namespace, name):
        rt.queue.add(key)


def _everyone_in(rt: Runtime, namespace: str) -> None:
    for key, _ in rt.in_namespace(namespace):
        rt.queue.add(key)


def plan_changed(rt: Runtime, namespaces: Iterable[str]) -> None:
    """A ReflexPlan came, went or changed its limits: every database of the namespaces on it (their status shows the limits)."""
    for namespace in namespaces:
        _everyone_in(rt, namespace)


def namespace_moved(rt: Runtime, namespace: str) -> None:
    """A Namespace's plan label changed: every database of it."""
    _everyone_in(rt, namespace)


def observed(rt: Runtime, keys: Iterable[Key]) -> None:
    """The poller saw a build, a service or a health sample change."""
    for key in keys:
        rt.queue.add(key)


def wave_advanced(rt: Runtime, rollout: str, admitted: Iterable[str], phase_changed: bool) -> None:
    """A ReflexRollout admitted databases (namespace/name) in a new wave: they move now. When its
    phase changed (paused, halted, resumed, aborted), its held databases show another note."""
    keys = {tuple(k.split("/", 1)) for k in admitted}
    if phase_changed:
        for key, entry in list(rt.resources.items()):
            member = entry.rollout()
            if member is not None and member.name == rollout and member.state is MemberState.HELD:
                keys.add(key)
    for key in sorted(keys):
        if key in rt.resources:
            rt.queue.add(key)  # type: ignore[arg-type]


def build_queue_full(rt: Runtime, key: Key) -> None:
    """CodeBuild refused the start at its concurrent-build quota: try again later (not a failure)."""
    rt.queue.add_after(key, rt.settings.build_queue_retry_seconds)


def budget_ready(rt: Runtime, key: Key, ready_in: float) -> None:
    """A call of the pass had no rate-budget token yet: the pass gave its worker back and runs
    again when the token held for it comes (not a failure: no backoff)."""
    rt.queue.add_after(key, ready_in)


def step_due(rt: Runtime, key: Key) -> None:
    """The pass left a step due at once (a build start recorded anew, a placement after a quota refusal)."""
    rt.queue.add(key)


def conflict(rt: Runtime, key: Key) -> None:
    """A write met a newer object: again at once, on the object re-read (no backoff)."""
    rt.queue.add(key)


def shard_taken(rt: Runtime, keys: Iterable[Key]) -> None:
    """This replica took a shard: a full pass of each of its databases, behind real changes."""
    for key in keys:
        rt.queue.forget(key)
        rt.queue.add(key, low=True)


async def resync(queue: WorkQueue, keys: Callable[[], Iterable[Key]], period: float) -> None:
    """Every ``period`` seconds, queue every key ``keys()`` returns, at low priority and spread
    over the period (not all at once: no burst of passes). Runs until cancelled."""
    await asyncio.sleep(period)
    while True:
        started, round_keys = time.monotonic(), list(keys())
        step = period / max(1, len(round_keys))
        for i, key in enumerate(round_keys):
            await asyncio.sleep(max(0.0, started + i * step - time.monotonic()))
            queue.add(key, low=True)
