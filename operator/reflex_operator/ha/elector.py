"""The leader-election loop: every retry period (client-go's jitter, ×1.0–1.2) it lists the
installation's Leases, lets ``reflex_operator.ha.shards.lease_round`` say what to renew, take and give
up, and writes that (guarded by resourceVersion). What it holds goes into the ``Gate``.

A watchdog per held shard fires at the renew deadline after the last successful renewal was sent:
the shard is dropped at once (its passes cancelled) and the replica *steps down*: it keeps its
caches and watches and campaigns again at its next rounds, so an API server outage of any length
costs no restart, and the replica leads again within a retry period of the API server's return
(unless another replica took the Lease meanwhile).

It campaigns only once ``ready()`` says so (the operator's start has completed). ``close`` is the
graceful stop: no more campaigning, the loop ends at a round boundary (a Lease write is never cut
off halfway, which would leave a Lease that names this replica without its knowing), then every
lease held is released, so another replica takes over at its next try."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timezone

from reflex_operator.ha.lease import (
    LeaseView,
    Timings,
    campaigning,
    claim,
    expired,
    next_try_in,
    observe,
    release_again,
    released,
    step_down_in,
)
from reflex_operator.ports import Conflict
from reflex_operator.ha.shards import MEMBER, live_members, member_lease, lease_round, shard_lease
from reflex_operator.ha.gate import Gate
from reflex_operator.ha.lease_client import Leases

__all__ = ["Elector"]

log = logging.getLogger("reflex_operator.elector")


class Elector:
    def __init__(
        self,
        gate: Gate,
        leases: Leases,
        identity: str,
        base: str,
        timings: Timings,
        on_acquired: Callable[[int], None],
        on_lost: Callable[[int], None],
        report: Callable[[list[int]], None] = lambda held: None,
        ready: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.gate, self.leases, self.identity, self.base, self.timings = gate, leases, identity, base, timings
        self.on_acquired, self.on_lost, self.report, self.ready = on_acquired, on_lost, report, ready
        self.clock, self.wall = clock, wall
        self.stopping = False  # set by close(): renew what is held, take nothing new
        self._ending = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.shards = gate.shards
        self.names = [shard_lease(base, i, self.shards) for i in range(self.shards)]
        self.member = member_lease(base, identity) if self.shards > 1 else None
        self.views: dict[str, LeaseView] = {}
        self._watchdogs: dict[int, asyncio.TimerHandle] = {}

    def start(self) -> asyncio.Task[None]:
        """Run the rounds as a task of the running loop (``close`` ends it)."""
        self._task = asyncio.create_task(self.run(), name="leader election")
        return self._task

    async def run(self) -> None:
        """Rounds until ``close`` (at a round boundary) or cancelled."""
        failing = False
        while not self._ending:
            try:
                await self.round()
                if failing:
                    log.info("leader election: the API server answers again")
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the watchdogs enforce the deadline meanwhile
                if not failing:  # once per outage, not every retry period
                    log.warning("leader election: could not read the leases (retrying every %ss): %s", self.timings.retry_period, exc)
                failing = True
            self.report(self.gate.held())
            if self._ending:
                break
            try:
                await asyncio.wait_for(self._wake.wait(), next_try_in(self.timings, random.random()))
            except asyncio.TimeoutError:
                pass

    async def close(self, timeout: float) -> None:
        """Graceful stop (the caller has stopped acting already): take nothing new, let the round
        in flight end (``timeout`` at most, then it is cancelled), and release every lease held."""
        self.stopping = self._ending = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except asyncio.TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.release_all()

    async def round(self) -> None:
        listed = await self.leases.list()
        # Seen when the answer came (not when it was asked for): a change it shows may have been
        # written at any moment before, so the later time errs on the side of a later expiry.
        now = self.clock()
        seen = {name for name, _, _ in listed}
        self.views = {name: view for name, view in self.views.items() if name in seen}
        for name, record, version in listed:
            self.views[name] = observe(self.views.get(name), name, record, version, now)
        members = [v for n, v in self.views.items() if n.startswith(self.base + MEMBER) and n != self.member]
        shard_views = {i: self.views[n] for i, n in enumerate(self.names) if n in self.views}
        todo = lease_round(
            self.identity, self.shards, shard_views, self.gate.tenures(),
            live_members(self.identity, members, now) if self.member else [self.identity],
            now, self.timings.renew_deadline,
            campaign=campaigning(self.ready(), self.stopping),
        )
        for shard in todo.lost:
            self._lose(shard, "another replica holds its lease now")
        for shard in todo.release:
            await self._release(shard, "to even out the shards")
        for shard in (*todo.renew, *todo.acquire):
            await self._claim(shard)
        if self.member is not None:
            await self._keep_member()
            await self._collect(members, now)

    async def _write(self, name: str, view: LeaseView | None, record_of: Callable[[LeaseView], object]) -> float | None:
        """Create or replace one Lease; returns when the write was sent, None if it failed."""
        view = view or LeaseView(name, None, None, self.clock())
        record = record_of(view)
        sent = self.clock()
        try:
            if view.record is None:
                version = await self.leases.create(name, record)  # type: ignore[arg-type]
            else:
                version = await self.leases.replace(name, record, view.version or "")  # type: ignore[arg-type]
        except Conflict as exc:
            log.debug("lease %s changed meanwhile: %s", name, exc)
            return None
        except Exception as exc:  # noqa: BLE001 - retried next round; the watchdog keeps the deadline
            log.warning("could not write lease %s: %s", name, exc)
            return None
        self.views[name] = LeaseView(name, record, version, self.clock())  # type: ignore[arg-type]
        return sent

    async def _claim(self, shard: int) -> None:
        name = self.names[shard]
        sent = await self._write(name, self.views.get(name), lambda v: claim(v, self.identity, self.timings.lease_duration, self.wall()))
        if sent is None:
            return
        if self.gate.hold(shard, sent):
            log.info("acquired lease %s (shard %d of %d) as %s", name, shard, self.shards, self.identity)
            self.on_acquired(shard)
        self._arm(shard, sent)

    def _arm(self, shard: int, sent: float) -> None:
        old = self._watchdogs.pop(shard, None)
        if old is not None:
            old.cancel()
        tenure = self.gate.tenure(shard)
        assert tenure is not None
        delay = step_down_in(tenure, self.clock(), self.timings.renew_deadline)
        self._watchdogs[shard] = asyncio.get_running_loop().call_later(delay, self._deadline, shard, sent)

    def _deadline(self, shard: int, sent: float) -> None:
        """The renew deadline passed without a successful renewal: step down (stop acting at once,
        cancel the passes in flight) and campaign again at the next rounds."""
        tenure = self.gate.tenure(shard)
        if tenure is None or tenure.renewed_at != sent:
            return  # renewed (or given up) meanwhile
        self._lose(
            shard,
            f"could not renew lease {self.names[shard]}: no renewal succeeded within the renew deadline "
            f"({self.timings.renew_deadline}s); stepped down, campaigning again",
        )
        self.report(self.gate.held())

    def _lose(self, shard: int, why: str) -> None:
        handle = self._watchdogs.pop(shard, None)
        if handle is not None:
            handle.cancel()
        if self.gate.drop(shard):
            log.warning("stopped acting on shard %d (lease %s): %s", shard, self.names[shard], why)
            self.on_lost(shard)

    async def _release(self, shard: int, why: str) -> None:
        """Stop acting on the shard first, then give its lease up."""
        self._lose(shard, why)
        name = self.names[shard]
        view = self.views.get(name)
        if view is None or view.record is None or view.record.holder != self.identity:
            return
        for _ in range(3):
            if await self._write(name, view, lambda v: released(v, self.wall())) is not None:
                log.info("released lease %s", name)
                return
            # Refused: most likely a renewal whose answer was lost landed meanwhile. Read it again.
            try:
                listed = {n: (r, v) for n, r, v in await self.leases.list()}
            except Exception as exc:  # noqa: BLE001 - it expires anyway
                log.warning("could not release lease %s (it expires in %ss): %s", name, self.timings.lease_duration, exc)
                return
            record, version = listed.get(name, (None, None))
            view = LeaseView(name, record, version, self.clock())
            self.views[name] = view
            if not release_again(view, self.identity):
                return
        log.warning("could not release lease %s (it expires in %ss)", name, self.timings.lease_duration)

    async def release_all(self) -> None:
        """Graceful stop: give up every lease held (the caller has stopped acting already), and
        every lease whose record names this replica although it does not hold it (it stepped
        down, or a write's answer was lost): read afresh, so none is left to expire."""
        try:
            for name, record, version in await self.leases.list():
                self.views[name] = observe(self.views.get(name), name, record, version, self.clock())
        except Exception as exc:  # noqa: BLE001 - what was read last will do
            log.debug("could not read the leases before releasing them: %s", exc)
        named = {
            shard for shard, name in enumerate(self.names)
            if (view := self.views.get(name)) is not None and view.record is not None and view.record.holder == self.identity
        }
        for shard in sorted(set(self.gate.tenures()) | named):
            await self._release(shard, "stopping")
        if self.member is not None and (view := self.views.get(self.member)) is not None:
            try:
                await self.leases.delete(self.member, view.version)
            except Exception as exc:  # noqa: BLE001 - it expires anyway
                log.debug("could not delete member lease %s: %s", self.member, exc)
        for handle in self._watchdogs.values():
            handle.cancel()
        self._watchdogs.clear()
        self.report([])

    async def _keep_member(self) -> None:
        assert self.member is not None
        await self._write(self.member, self.views.get(self.member), lambda v: claim(v, self.identity, self.timings.lease_duration, self.wall()))

    async def _collect(self, members: list[LeaseView], now: float) -> None:
        """Delete the member Leases of replicas that are gone (expired on this replica's clock)."""
        for view in members:
            if expired(view, now):
                try:
                    await self.leases.delete(view.name, view.version)
                    self.views.pop(view.name, None)
                    log.info("removed the member lease %s of a replica that is gone", view.name)
                except Exception as exc:  # noqa: BLE001 - another replica may have removed it
                    log.debug("could not delete %s: %s", view.name, exc)
