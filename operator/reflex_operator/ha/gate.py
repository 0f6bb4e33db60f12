"""The gate between the work queue and acting: which resources this replica may act on now (those
of the shards whose Lease it holds, while its tenure is valid on the local clock), and the passes
running for each shard, so that losing a shard stops its work at once.

Every replica keeps the watches, the registry and the queue; only the workers ask the gate
(``run``), and the poller observes only what the gate lets it own. Without leader election the
gate lets everything through."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from reflex_operator.ha.lease import Tenure, leading
from reflex_operator.ha.shards import shard_of

__all__ = ["Gate"]


class Gate:
    def __init__(
        self,
        shards: int = 1,
        elected: bool = False,
        renew_deadline: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.shards, self.elected, self.renew_deadline, self.clock = shards, elected, renew_deadline, clock
        self._held: dict[int, Tenure] = {}
        self._running: dict[int, set[asyncio.Task[None]]] = {}
        self._closed = False

    def shard(self, uid: str) -> int:
        return shard_of(uid, self.shards)

    def owns(self, uid: str) -> bool:
        """May this replica act on the resource with this uid now?"""
        if self._closed:
            return False
        if not self.elected:
            return True
        return leading(self._held.get(self.shard(uid)), self.clock(), self.renew_deadline)

    def held(self) -> list[int]:
        """The shards held now (tenure still valid)."""
        if not self.elected:
            return [] if self._closed else list(range(self.shards))
        now = self.clock()
        return sorted(s for s, t in self._held.items() if leading(t, now, self.renew_deadline) and not self._closed)

    def leads_installation(self) -> bool:
        """Whether this replica speaks for what belongs to the whole installation (the ReflexPlans'
        status): the holder of shard 0, or every replica when there is no leader election. A
        standby writing it too would put its stale monthly totals back over the leader's."""
        return 0 in self.held()

    def tenure(self, shard: int) -> Tenure | None:
        return self._held.get(shard)

    def tenures(self) -> dict[int, Tenure]:
        return dict(self._held)

    def hold(self, shard: int, renewed_at: float) -> bool:
        """Record a successful acquire or renewal sent at ``renewed_at``; True if newly held."""
        new = shard not in self._held
        self._held[shard] = Tenure(renewed_at)
        return new

    def drop(self, shard: int) -> bool:
        """Stop acting on a shard: forget it and cancel its running passes. True if it was held."""
        held = self._held.pop(shard, None) is not None
        for task in list(self._running.get(shard, ())):
            task.cancel()
        return held

    def close(self) -> None:
        """Graceful stop: let nothing new through (running passes may end)."""
        self._closed = True

    def running(self) -> int:
        return sum(len(tasks) for tasks in self._running.values())

    async def run(self, uid: str, work: Callable[[], Awaitable[None]]) -> bool:
        """Run ``work`` if the resource is owned, as a task its shard's loss cancels. Returns
        whether it ran to its end (False: not owned, or stopped by the loss of its shard)."""
        if not self.owns(uid):
            return False
        shard = self.shard(uid)

        async def body() -> None:
            await work()

        task = asyncio.create_task(body())
        self._running.setdefault(shard, set()).add(task)
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and current is not None and not current.cancelling():
                return False  # the shard was lost; the worker goes on
            task.cancel()
            raise
        finally:
            self._running[shard].discard(task)
        return True

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the running passes, then cancel what is left."""
        tasks = [t for ts in self._running.values() for t in ts]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
