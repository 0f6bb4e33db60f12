"""The work queue of reconcile passes, as client-go's rate-limited work queue does it.

A key is queued at most once and processed by one worker at a time; a key queued while it is
being processed is queued again when its pass ends. A failing key is retried after a delay that
grows per key (``base·2^(n-1)`` after the n-th failure in a row, at most ``max``, spread by
``±jitter``) and is forgotten once a pass succeeds. ``resync`` queues every key now and then,
changed or not (the level-triggered safety net).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["Key", "Backoff", "WorkQueue", "resync"]

Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Backoff:
    """Per-key retry delays."""

    base: float = 2.0
    max: float = 300.0
    jitter: float = 0.2

    def delay(self, failures: int, rand: Callable[[float, float], float] = random.uniform) -> float:
        """The delay after the ``failures``-th failure in a row (1 for the first)."""
        exponent = min(max(failures - 1, 0), 64)  # 2**64 · base is past any max
        return min(self.base * 2.0**exponent, self.max) * rand(1 - self.jitter, 1 + self.jitter)


class WorkQueue:
    """Keys to reconcile, deduplicated, one worker per key, with per-key retry backoff."""

    def __init__(self, backoff: Backoff | None = None) -> None:
        self.backoff = backoff or Backoff()
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._pending: set[Key] = set()
        self._active: set[Key] = set()
        self._dirty: set[Key] = set()
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._failures: dict[Key, int] = {}

    def add(self, key: Key) -> None:
        """Queue ``key`` (once; if it is being processed, again when its pass ends)."""
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._pending:
            self._pending.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: Key, delay: float) -> None:
        """Queue ``key`` in ``delay`` seconds (replacing an earlier timer of the same key)."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(delay, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def retry(self, key: Key) -> tuple[int, float]:
        """Count a failure of ``key`` and queue it after its backoff; returns (failures, delay)."""
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = self.backoff.delay(failures)
        self.add_after(key, delay)
        return failures, delay

    def failures(self, key: Key) -> int:
        """Failures of ``key`` in a row."""
        return self._failures.get(key, 0)

    def forget(self, key: Key) -> None:
        """A pass succeeded (or the resource is gone): the next failure starts the backoff over."""
        self._failures.pop(key, None)

    def discard(self, key: Key) -> None:
        """The resource is gone: forget its failures and cancel its timer."""
        self.forget(key)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    async def get(self) -> Key:
        """The next key to process; the caller must call ``done`` when its pass ends."""
        key = await self._queue.get()
        self._pending.discard(key)
        self._active.add(key)
        return key

    def done(self, key: Key) -> None:
        self._active.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def __len__(self) -> int:
        return len(self._pending)


async def resync(queue: WorkQueue, keys: Callable[[], Iterable[Key]], period: float) -> None:
    """Every ``period`` seconds, queue every key ``keys()`` returns. Runs until cancelled."""
    while True:
        await asyncio.sleep(period)
        for key in list(keys()):
            queue.add(key)
