"""The work queue: dedup, one worker per key, add_after, per-key backoff, resync."""

from __future__ import annotations

import asyncio
import time

import pytest

from reflex_operator.controller.queue import Backoff, WorkQueue
from reflex_operator.controller.triggers import resync

A, B = ("ns", "a"), ("ns", "b")


async def until(predicate, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_a_key_is_queued_once():
    q = WorkQueue()
    q.add(A)
    q.add(A)
    q.add(B)
    assert len(q) == 2
    assert await q.get() == A
    assert await q.get() == B
    assert len(q) == 0


async def test_a_key_changed_while_active_is_queued_again_when_done():
    q = WorkQueue()
    q.add(A)
    key = await q.get()
    q.add(A)  # while its pass runs: not handed to a second worker
    q.add(A)
    assert len(q) == 0
    q.done(key)
    assert len(q) == 1 and await q.get() == A
    q.done(A)
    assert len(q) == 0


async def test_done_without_changes_does_not_requeue():
    q = WorkQueue()
    q.add(A)
    q.done(await q.get())
    assert len(q) == 0


async def test_add_after_queues_later_and_replaces_an_earlier_timer():
    q = WorkQueue()
    q.add_after(A, 0.03)
    q.add_after(A, 0.01)  # replaces the 0.03 s timer
    assert len(q) == 0
    await until(lambda: len(q) == 1)
    assert await q.get() == A
    await asyncio.sleep(0.05)  # past the replaced timer: had it fired, A would be dirty now
    q.done(A)
    assert len(q) == 0


def test_backoff_grows_and_is_bounded():
    b = Backoff(base=2, max=300, jitter=0)
    assert [b.delay(n) for n in range(1, 6)] == [2, 4, 8, 16, 32]
    assert b.delay(9) == 300 and b.delay(10_000) == 300
    assert b.delay(0) == 2


@pytest.mark.parametrize("failures", [1, 3, 20])
def test_backoff_jitter_stays_in_its_band(failures):
    b = Backoff(base=2, max=300, jitter=0.2)
    exact = min(2 * 2 ** (failures - 1), 300)
    assert b.delay(failures, rand=lambda lo, hi: lo) == pytest.approx(exact * 0.8)
    assert b.delay(failures, rand=lambda lo, hi: hi) == pytest.approx(exact * 1.2)
    assert all(exact * 0.8 <= b.delay(failures) <= exact * 1.2 for _ in range(50))


async def test_retry_counts_per_key_and_forget_resets():
    q = WorkQueue(Backoff(base=10, max=100, jitter=0))
    assert q.retry(A) == (1, 10)
    assert q.retry(A) == (2, 20)
    assert q.retry(B) == (1, 10)
    assert q.failures(A) == 2
    q.forget(A)
    assert q.failures(A) == 0 and q.failures(B) == 1
    assert q.retry(A) == (1, 10)
    q.discard(A)
    q.discard(B)
    assert q.failures(B) == 0


async def test_retry_queues_the_key_after_its_delay():
    q = WorkQueue(Backoff(base=0.01, max=0.01, jitter=0))
    q.retry(A)
    assert len(q) == 0
    await until(lambda: len(q) == 1)


async def test_discard_cancels_the_timer():
    q = WorkQueue(Backoff(base=0.01, max=0.01, jitter=0))
    q.retry(A)
    q.discard(A)
    await asyncio.sleep(0.05)
    assert len(q) == 0


async def test_resync_queues_every_key_each_period():
    q = WorkQueue()
    keys = {A: 1, B: 2}
    task = asyncio.create_task(resync(q, keys.keys, 0.01))
    try:
        await until(lambda: len(q) == 2)
        assert {await q.get(), await q.get()} == {A, B}
        q.done(A)
        q.done(B)
        await until(lambda: len(q) == 2)  # again, changed or not
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def nothing_queued(q) -> bool:
    try:
        await asyncio.wait_for(q.get(), 0.05)
    except asyncio.TimeoutError:
        return True
    return False


async def test_normal_keys_go_before_low_ones():
    q = WorkQueue()
    q.add(A, low=True)
    q.add(B)
    assert len(q) == 2
    assert await q.get() == B
    assert await q.get() == A


async def test_a_low_key_added_again_normally_moves_up_and_is_handed_out_once():
    q = WorkQueue()
    q.add(A, low=True)
    q.add(B, low=True)
    q.add(B)  # moves up
    q.add(B, low=True)  # does not move down
    assert len(q) == 2
    assert await q.get() == B
    assert await q.get() == A
    assert len(q) == 0 and await nothing_queued(q)  # B's low entry is skipped, not handed out


async def test_a_key_added_while_active_keeps_its_highest_priority():
    q = WorkQueue()
    q.add(A)
    await q.get()
    q.add(A, low=True)
    q.add(B, low=True)
    q.done(A)  # requeued low, behind B
    assert [await q.get(), await q.get()] == [B, A]
    q.done(A)
    q.done(B)
    q.add(A)
    await q.get()
    q.add(A, low=True)
    q.add(A)  # a change arrived too: normal
    q.add(B, low=True)
    q.done(A)
    assert await q.get() == A


async def test_workers_waiting_on_an_empty_queue_each_get_a_key():
    q = WorkQueue()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await asyncio.sleep(0)
    q.add(A)
    q.add(B, low=True)
    done, waiting = await asyncio.wait(getters, timeout=1)
    assert sorted(t.result() for t in done) == [A, B] and len(waiting) == 1
    q.add(("ns", "c"))
    assert await asyncio.wait_for(waiting.pop(), 1) == ("ns", "c")


async def test_resync_is_low_priority_and_spread_over_its_period():
    q = WorkQueue()
    keys = [("ns", str(i)) for i in range(4)]
    queued: list[float] = []
    add = q.add

    def recording(key, low=False):
        assert low, "a resync pass is low priority"
        queued.append(time.monotonic())
        add(key, low)

    q.add = recording  # type: ignore[method-assign]
    task = asyncio.create_task(resync(q, lambda: keys, 0.2))
    try:
        await until(lambda: len(queued) >= 4)
        assert queued[3] - queued[0] >= 0.1  # 3 of 4 steps of 0.05 s: not one burst
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_key_is_in_the_queue_while_queued_or_active():
    q = WorkQueue()
    assert A not in q
    q.add(A, low=True)
    assert A in q
    key = await q.get()
    assert A in q and len(q) == 0
    q.done(key)
    assert A not in q
