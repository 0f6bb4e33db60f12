"""The election loop and the gate on an injected clock, over an in-memory Lease store with the API
server's optimistic concurrency (a write with a stale resourceVersion is a conflict): one of two
replicas leads; the other takes over after the lease expired on its own clock, or at once after a
release; a leader that cannot renew stops acting at the renew deadline, steps down and takes the
lease back once the API server answers again (no exit); a replica not ready to act, or stopping,
takes no lease; a release refused as stale is read again and sent again; shards
spread over replicas and move when one dies; losing a shard cancels its running passes; the gate
lets a worker act only on owned keys."""

from __future__ import annotations

import asyncio
import copy

import pytest

from reflex_operator.ha.lease import LeaseRecord, Timings
from reflex_operator.ports import Conflict
from reflex_operator.ha.shards import shard_of
from reflex_operator.controller import wiring
from reflex_operator.ha.elector import Elector
from reflex_operator.ha.gate import Gate
from reflex_operator.controller.workers import worker
from tests.unit.world import World, deliver, resource

TIMINGS = Timings(lease_duration=15, renew_deadline=10.0, retry_period=2.0)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Store:
    """Leases as the API server keeps them: every write bumps the resourceVersion."""

    def __init__(self) -> None:
        self.leases: dict[str, tuple[LeaseRecord, int]] = {}
        self.version = 0
        self.down = False
        self.frozen: list | None = None  # what list() returns instead, when set (a stale read)

    def client(self) -> Leases:
        return Leases(self)


class Leases:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _check(self) -> None:
        if self.store.down:
            raise OSError("the API server does not answer")

    async def list(self):
        self._check()
        if self.store.frozen is not None:
            return list(self.store.frozen)
        return [(n, r, str(v)) for n, (r, v) in self.store.leases.items()]

    def _put(self, name: str, record: LeaseRecord) -> str:
        self.store.version += 1
        self.store.leases[name] = (record, self.store.version)
        return str(self.store.version)

    async def create(self, name, record):
        self._check()
        if name in self.store.leases:
            raise Conflict("exists")
        return self._put(name, record)

    async def replace(self, name, record, version):
        self._check()
        if name not in self.store.leases or str(self.store.leases[name][1]) != version:
            raise Conflict("stale")
        return self._put(name, record)

    async def delete(self, name, version):
        self._check()
        self.store.leases.pop(name, None)

    def close(self) -> None:
        pass


class Replica:
    def __init__(self, store: Store, clock: Clock, name: str, shards: int = 1) -> None:
        self.gate = Gate(shards, elected=True, renew_deadline=TIMINGS.renew_deadline, clock=clock)
        self.acquired: list[int] = []
        self.lost: list[int] = []
        self.ready = True
        self.elector = Elector(
            self.gate, store.client(), name, "rdb", TIMINGS,  # type: ignore[arg-type]
            on_acquired=self.acquired.append, on_lost=self.lost.append, clock=clock, ready=lambda: self.ready,
        )

    async def round(self) -> None:
        await self.elector.round()

    def held(self) -> list[int]:
        return self.gate.held()


async def test_one_leads_and_a_standby_takes_over_only_after_the_lease_expired_on_its_own_clock():
    store, clock = Store(), Clock()
    a, b = Replica(store, clock, "a"), Replica(store, clock, "b")
    await a.round()
    await b.round()
    assert (a.held(), b.held(), a.acquired) == ([0], [], [0])
    assert store.leases["rdb"][0].holder == "a" and store.leases["rdb"][0].duration_seconds == 15

    clock.t += 2
    await a.round()  # renews
    renewed = clock.t
    await b.round()  # sees the change: its clock for the lease starts again
    # a dies here (no more rounds).
    clock.t = renewed + 9.9
    assert a.held() == [0]
    clock.t = renewed + 10
    assert a.held() == [] and not a.gate.owns("any-uid"), "no renewal for the renew deadline: it stops acting"
    clock.t = renewed + 14.9
    await b.round()
    assert b.held() == [], "the lease has not expired on b's clock yet"
    clock.t = renewed + 15
    await b.round()
    assert b.held() == [0] and b.acquired == [0]
    assert store.leases["rdb"][0].holder == "b" and store.leases["rdb"][0].transitions == 1


async def test_release_hands_over_at_the_next_round():
    store, clock = Store(), Clock()
    a, b = Replica(store, clock, "a"), Replica(store, clock, "b")
    await a.round()
    await b.round()
    await a.elector.release_all()
    assert a.held() == [] and a.lost == [0]
    assert store.leases["rdb"][0].holder == ""
    await b.round()  # same instant: no waiting for an expiry
    assert b.held() == [0]


async def test_of_two_that_try_at_once_one_wins():
    store, clock = Store(), Clock()
    a, b = Replica(store, clock, "a"), Replica(store, clock, "b")
    store.frozen = []  # both read "no lease yet"
    await a.round()
    await b.round()
    assert a.held() == [0] and b.held() == []  # b's create met a's: a conflict
    store.frozen = None
    await b.round()
    assert b.held() == []


async def test_a_leader_that_cannot_renew_steps_down_at_the_deadline_and_takes_the_lease_back():
    store, clock = Store(), Clock()
    a = Replica(store, clock, "a")
    await a.round()
    sent = a.gate.tenure(0).renewed_at  # type: ignore[union-attr]
    assert a.elector._watchdogs[0] is not None
    store.down = True
    for _ in range(4):
        clock.t += 2
        with pytest.raises(OSError):
            await a.round()
    assert a.held() == [0], "renewals may fail until the deadline"
    clock.t = sent + 10
    a.elector._deadline(0, sent)  # the watchdog, as the loop fires it
    assert a.held() == [] and a.lost == [0] and not a.gate.owns("any-uid")
    clock.t += 50  # a long outage
    with pytest.raises(OSError):
        await a.round()
    assert a.held() == []
    store.down = False  # the API server is back: the lease still names a, untouched
    await a.round()
    assert a.held() == [0] and a.acquired == [0, 0], "taken back at the first round, a full pass queued"
    assert store.leases["rdb"][0].holder == "a"


async def test_after_an_outage_the_old_leader_and_a_standby_race_and_one_wins():
    store, clock = Store(), Clock()
    a, b = Replica(store, clock, "a"), Replica(store, clock, "b")
    await a.round()
    await b.round()
    sent = a.gate.tenure(0).renewed_at  # type: ignore[union-attr]
    store.down = True
    clock.t = sent + 10
    a.elector._deadline(0, sent)
    clock.t = sent + 60
    store.down = False
    await b.round()  # expired on b's clock: b takes it
    await a.round()  # a sees b's record: not its own any more
    assert (a.held(), b.held()) == ([], [0])
    assert store.leases["rdb"][0].holder == "b"


async def test_a_renewal_after_the_watchdog_was_armed_disarms_it():
    store, clock = Store(), Clock()
    a = Replica(store, clock, "a")
    await a.round()
    first = a.gate.tenure(0).renewed_at  # type: ignore[union-attr]
    clock.t += 2
    await a.round()
    a.elector._deadline(0, first)  # an old timer firing late
    assert a.held() == [0] and a.lost == []


async def test_another_holder_seen_means_lost_at_once():
    store, clock = Store(), Clock()
    a = Replica(store, clock, "a")
    await a.round()
    store.leases["rdb"] = (LeaseRecord("intruder", 15, None, None, 9), 99)
    await a.round()
    assert a.held() == [] and a.lost == [0]


async def test_a_replica_not_ready_or_stopping_takes_no_lease_but_renews_what_it_holds():
    store, clock = Store(), Clock()
    a, b = Replica(store, clock, "a"), Replica(store, clock, "b")
    a.ready = False
    await a.round()
    assert a.held() == [] and "rdb" not in store.leases, "not ready: no campaign"
    a.ready = True
    await a.round()
    assert a.held() == [0]
    a.elector.stopping = True
    clock.t += 2
    await a.round()
    assert a.held() == [0] and a.gate.tenure(0).renewed_at == clock.t, "stopping: still renews"  # type: ignore[union-attr]
    await a.elector.release_all()
    b.elector.stopping = True
    await b.round()
    assert b.held() == [] and store.leases["rdb"][0].holder == "", "a stopping standby takes no released lease"


async def test_a_release_refused_as_stale_is_read_again_and_sent():
    store, clock = Store(), Clock()
    a, b = Replica(store, clock, "a"), Replica(store, clock, "b")
    await a.round()
    # A renewal landed but its answer was lost: a's view has the old resourceVersion.
    record, version = store.leases["rdb"]
    store.leases["rdb"] = (record, version + 100)
    await a.elector.release_all()
    assert store.leases["rdb"][0].holder == "", "released all the same"
    await b.round()
    assert b.held() == [0]


async def test_release_all_gives_up_a_lease_that_names_it_without_a_tenure():
    store, clock = Store(), Clock()
    a = Replica(store, clock, "a")
    await a.round()
    a.gate.drop(0)  # stepped down (or a claim's answer was lost): the record still names a
    await a.elector.release_all()
    assert store.leases["rdb"][0].holder == ""


async def test_close_ends_the_loop_at_a_round_boundary_then_releases():
    store, clock = Store(), Clock()
    a = Replica(store, clock, "a")
    entered, leave = asyncio.Event(), asyncio.Event()
    real = store.client().replace

    async def slow_replace(name, record, version):
        entered.set()
        await leave.wait()
        return await real(name, record, version)

    await a.round()
    a.elector.leases.replace = slow_replace  # type: ignore[method-assign]
    task = a.elector.start()
    await entered.wait()  # a renewal in flight
    closing = asyncio.create_task(a.elector.close(timeout=5))
    await asyncio.sleep(0)
    assert not closing.done(), "the renewal in flight is not cut off"
    leave.set()
    await closing
    assert task.done() and store.leases["rdb"][0].holder == "" and a.held() == []


async def test_shards_spread_evenly_and_move_when_a_replica_dies():
    store, clock = Store(), Clock()
    reps = [Replica(store, clock, name, shards=6) for name in ("a", "b", "c")]

    async def rounds(live, n=3):
        for _ in range(n):
            for r in live:
                await r.round()
            clock.t += 2

    await rounds(reps[:1], 1)
    assert reps[0].held() == [0, 1, 2, 3, 4, 5], "alone, it takes every shard"
    await rounds(reps)
    held = [r.held() for r in reps]
    assert sorted(s for h in held for s in h) == list(range(6)) and [len(h) for h in held] == [2, 2, 2]
    assert {"rdb-member-a", "rdb-member-b", "rdb-member-c"} <= set(store.leases)

    dead = reps.pop()
    await rounds(reps, 10)  # 20 s: c's shard and member leases expire on a's and b's clocks
    held = [r.held() for r in reps]
    assert sorted(s for h in held for s in h) == list(range(6)) and [len(h) for h in held] == [3, 3]
    assert set(dead.held()) == set(), "c's tenures lapsed on its own clock too"
    assert "rdb-member-c" not in store.leases, "a gone replica's member lease is removed"


async def test_losing_a_shard_cancels_its_running_pass_and_the_worker_goes_on():
    clock = Clock()
    gate = Gate(2, elected=True, clock=clock)
    uid = next(f"uid-{i}" for i in range(100) if shard_of(f"uid-{i}", 2) == 1)
    gate.hold(1, clock.t)
    started, finished = asyncio.Event(), []

    async def long_pass() -> None:
        started.set()
        await asyncio.sleep(3600)
        finished.append(True)

    run = asyncio.create_task(gate.run(uid, long_pass))
    await started.wait()
    assert gate.running() == 1
    gate.drop(1)
    assert await run is False and not finished and gate.running() == 0
    assert await gate.run(uid, long_pass) is False, "not owned any more: not run"


async def test_the_worker_acts_only_on_owned_keys_and_acquiring_queues_the_shard():
    w = World()
    rt, key = deliver(w, resource())
    clock = Clock()
    rt.gate = Gate(1, elected=True, clock=clock)
    before = copy.deepcopy(w.kube.objects[key])
    rt.queue.add(key)
    task = asyncio.create_task(worker(rt))
    while len(rt.queue):
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert w.kube.status_writes == 0 and not w.events, "a standby does nothing with a queued key"
    assert w.kube.objects[key] == before and w.start_build_calls == 0 and not w.calls, "no write, no AWS call"

    rt.services["stale"] = None
    rt.health[key] = object()  # type: ignore[assignment]
    rt.gate.hold(0, clock.t)
    wiring.acquired(rt, 0)
    assert key not in rt.health and len(rt.queue) == 1, "acquiring: forget what was seen, queue a full pass"
    for _ in range(200):
        if w.kube.status_writes:
            break
        await asyncio.sleep(0.01)
    assert w.kube.status_writes and w.kube.objects[key] != before, "the leader acts"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_graceful_stop_closes_the_gate_before_releasing():
    store, clock = Store(), Clock()
    w = World()
    rt, _ = deliver(w, resource())
    rt.gate = Gate(1, elected=True, clock=clock)
    order: list[str] = []
    rt.elector = Elector(
        rt.gate, store.client(), "a", "rdb", TIMINGS,  # type: ignore[arg-type]
        on_acquired=lambda s: None, on_lost=lambda s: order.append(f"stopped acting, open={rt.gate.owns('u')}"),
        clock=clock,
    )
    await rt.elector.round()
    await wiring.stop(rt, grace=0.1)
    order.append(f"holder={store.leases['rdb'][0].holder!r}")
    assert order == ["stopped acting, open=False", "holder=''"]
