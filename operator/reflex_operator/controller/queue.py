"""The work queue of reconcile passes, as client-go's rate-limited work queue does it.

A key is queued at most once and processed by one worker at a time; a key queued while it is
being processed is queued again when its pass ends. A failing key is retried after a delay that
grows per key (``base·2^(n-1)`` after the n-th failure in a row, at most ``max``, spread by
``±jitter``) and is forgotten once a pass succeeds. ``resync`` queues every key now and then,
changed or not (the level-triggered safety net), spread over its period.

Keys are queued at one of two priorities, as controller-runtime's priority queue does it: a key
that something changed for (a watch event, the poller, a retry) goes before the low-priority
passes that only confirm nothing changed (the resync, the initial listing, a shard taken over), so
a user's pause never waits behind ten thousand resyncs. A low key added again at the normal
priority moves up.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from reflex_operator.api.common import Key

__all__ = ["Key", "Backoff", "WorkQueue"]



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
    """Keys to reconcile, deduplicated, one worker per key, with per-key retry backoff, in two
    priorities (normal first, FIFO within each)."""

    def __init__(self, backoff: Backoff | None = None) -> None:
        self.backoff = backoff or Backoff()
        self._queues: tuple[deque[Key], deque[Key]] = (deque(), deque())  # normal, low
        self._pending: dict[Key, bool] = {}  # queued key -> low?
        self._active: set[Key] = set()
        self._dirty: dict[Key, bool] = {}  # added while active -> low?
        self._ready = asyncio.Event()
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._failures: dict[Key, int] = {}

    def add(self, key: Key, low: bool = False) -> None:
        """Queue ``key`` (once; if it is being processed, again when its pass ends). ``low``: a
        pass that only confirms nothing changed; it waits for every normal one."""
        if key in self._active:
            self._dirty[key] = self._dirty.get(key, True) and low
            return
        queued = self._pending.get(key)
        if queued is None or (queued and not low):  # new, or a low one moving up
            self._pending[key] = low
            self._queues[low].append(key)  # a moved key's low entry is skipped when reached
            self._ready.set()

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
        while (key := self._pop()) is None:
            self._ready.clear()
            await self._ready.wait()
        self._active.add(key)
        return key

    def _pop(self) -> Key | None:
        for low, queue in enumerate(self._queues):
            while queue:
                key = queue.popleft()
                if self._pending.get(key) is bool(low):  # not taken already, not moved up
                    del self._pending[key]
                    return key
        return None

    def done(self, key: Key) -> None:
        self._active.discard(key)
        low = self._dirty.pop(key, None)
        if low is not None:
            self.add(key, low)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is queued or being processed (a pass of it is still to come or running)."""
        return key in self._pending or key in self._active

    def __len__(self) -> int:
        return len(self._pending)
