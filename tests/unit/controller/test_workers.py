"""The worker's sorting of a pass's outcome: success forgets the backoff, an AWS error backs off
and is surfaced as Stalled/AWSError after SURFACE_AFTER failures, a 409 Conflict queues the key
again at once without counting a failure."""

from __future__ import annotations

import asyncio
import copy
import time

from botocore.exceptions import ClientError

from reflex_operator.api.models import ConditionType, ReflexDatabaseStatus
from reflex_operator.aws.clients import AwsCallError
from reflex_operator.api import reasons
from reflex_operator.controller.queue import Backoff
from reflex_operator.controller.reconcile import SURFACE_AFTER
from reflex_operator.controller.runtime import Entry
from reflex_operator.controller.workers import process, worker
from tests.unit.world import World, deliver, resource


def throttled() -> AwsCallError:
    cause = ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "StartBuild")
    return AwsCallError("codebuild", "StartBuild", cause)


def errors(rt) -> float:
    return rt.metrics.registry.get_sample_value("reflex_operator_reconcile_errors_total") or 0.0


async def one(rt, key) -> None:
    """What a worker does with one key: take it, process it, mark it done."""
    rt.queue.add(key)
    taken = await rt.queue.get()
    try:
        await process(rt, taken)
    finally:
        rt.queue.done(taken)
    await rt.flush_events()


def status_of(w: World, key) -> ReflexDatabaseStatus:
    return ReflexDatabaseStatus.model_validate(w.kube.objects[key]["status"])


async def test_an_aws_error_backs_off_and_is_surfaced_after_repeated_failures():
    w = World()
    rt, key = deliver(w, resource())
    rt.queue.backoff = Backoff(base=60, max=600, jitter=0)  # the retries stay timers in this test

    async def refuse(step):
        raise throttled()

    w.codebuild.start = refuse  # type: ignore[method-assign]
    for n in range(1, SURFACE_AFTER):
        await one(rt, key)
        assert rt.queue.failures(key) == n and errors(rt) == n
        assert w.kube.status_writes == 1 and not w.events  # only the build intent: not surfaced yet
    await one(rt, key)
    assert rt.queue.failures(key) == SURFACE_AFTER
    stalled = next(c for c in status_of(w, key).conditions if c.type == ConditionType.STALLED.value)
    assert stalled.status == "True" and stalled.reason == reasons.AWS_ERROR and "ThrottlingException" in stalled.message
    assert [e.reason for e in w.events] == ["AWSError"] and w.events[0].warning
    await one(rt, key)  # the same error again: no second event
    assert [e.reason for e in w.events] == ["AWSError"]
    assert rt.resources[key].last_error is not None
    # AWS answers again: the pass succeeds and the backoff is forgotten.
    del w.codebuild.start
    await one(rt, key)
    assert rt.queue.failures(key) == 0 and rt.resources[key].last_error is None
    assert w.start_build_calls == 1


async def test_the_backoff_delays_the_retry():
    w = World()
    rt, key = deliver(w, resource())
    rt.queue.backoff = Backoff(base=0.02, max=0.02, jitter=0)
    w.codebuild.start = lambda step: (_ for _ in ()).throw(throttled())  # type: ignore[method-assign]
    await one(rt, key)
    assert len(rt.queue) == 0  # not at once
    deadline = time.monotonic() + 2
    while len(rt.queue) == 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)


async def test_a_conflict_requeues_at_once_without_a_failure():
    w = World()
    rt, key = deliver(w, resource())
    w.kube.conflicts = 1  # the status write meets a newer object
    await one(rt, key)
    assert len(rt.queue) == 1  # again, at once
    assert rt.queue.failures(key) == 0 and errors(rt) == 0 and not rt.queue._timers
    await one(rt, key)
    assert w.kube.status_writes == 2 and w.start_build_calls == 1  # the intent, then the status


async def test_a_conflict_on_the_finalizer_patch_requeues_at_once():
    w = World()
    rt, key = deliver(w, resource())
    stale = copy.deepcopy(w.kube.objects[key])
    stale["metadata"].update(finalizers=[], resourceVersion="v0")  # an older copy than the server's
    rt.resources[key] = Entry(body=stale)
    await one(rt, key)
    assert len(rt.queue) == 1 and rt.queue.failures(key) == 0 and errors(rt) == 0
    # The object was read again, so the next pass works on the server's copy, whether or not the
    # watch has caught up: no second conflict, no loop.
    assert w.kube.reads == 1
    assert rt.resources[key].body["metadata"]["resourceVersion"] == w.kube.objects[key]["metadata"]["resourceVersion"]
    await one(rt, key)
    assert w.kube.reads == 1 and w.kube.status_writes == 2 and w.start_build_calls == 1


async def test_a_conflict_on_an_object_gone_meanwhile_is_not_requeued():
    w = World()
    rt, key = deliver(w, resource())
    w.kube.conflicts = 1
    del w.kube.objects[key]  # deleted between the pass's read and its write
    await one(rt, key)
    assert len(rt.queue) == 0 and rt.queue.failures(key) == 0 and errors(rt) == 0


async def test_a_failure_to_surface_the_error_still_retries():
    w = World()
    rt, key = deliver(w, resource())
    rt.queue.backoff = Backoff(base=60, max=60, jitter=0)
    w.codebuild.start = lambda step: (_ for _ in ()).throw(throttled())  # type: ignore[method-assign]
    for _ in range(SURFACE_AFTER - 1):
        await one(rt, key)
    w.kube.conflicts = 1  # the Stalled write itself fails
    await one(rt, key)
    assert rt.queue.failures(key) == SURFACE_AFTER and key in rt.queue._timers


async def test_the_worker_loop_processes_queued_keys():
    w = World()
    rt, key = deliver(w, resource())
    task = asyncio.create_task(worker(rt))
    try:
        rt.queue.add(key)
        deadline = time.monotonic() + 2
        while w.kube.status_writes == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.005)
        assert w.start_build_calls == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
