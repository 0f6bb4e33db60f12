"""Handover under churn (issue 21, point 3), against the real stack: three replicas of one
installation; the leader is SIGKILLed at a random moment of its renew cycle (a new replica is
started for each), then two of the three are stopped with SIGTERM and a database is patched at
once. The change must be acted on (the ECS service's desired count follows ``spec.paused``) within
a bound derived from the lease timings: a replica that stops never takes a Lease on its way out
nor leaves one behind that the others must wait out (that would cost a whole lease duration more
than the bound allows).

The timings (8 s / 5 s / 0.5 s) keep an expiry-based takeover (≥ 8 s) and a graceful one (a
retry period after the release) far apart. The figures are printed (``-s``)."""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

import pytest

from reflex_dev._proc import wait_until
from tests.e2e.helpers import apply, manifest, patch, status
from tests.e2e.test_ha import leader_of, lease
from tests.fixtures.operator import Operator, lease_name_of

pytestmark = pytest.mark.e2e

LEASE, RENEW, RETRY = 8, 5.0, 0.5
TIMINGS = {
    "REFLEX_LEASE_DURATION_SECONDS": str(LEASE),
    "REFLEX_RENEW_DEADLINE_SECONDS": str(RENEW),
    "REFLEX_RETRY_PERIOD_SECONDS": str(RETRY),
}
# A round sees a change at its next try (retry × 1.2 jitter), twice (once to see the Lease
# free, once more if a write conflicted).
NEXT_TRIES = 2 * RETRY * 1.2
# The pass that carries the change out: one status read, one ECS UpdateService, one status
# write, and this test's own polling (kubectl, the emulator), on a loaded 2-core machine. It is
# kept below the lease duration, so a Lease left behind by a stopped replica (which costs a whole
# lease duration more) fails the bound.
PASS = 5.0
STOP_BUDGET = 10.0
RUNS = 3
KILLS_PER_RUN = 2


def desired_count(aws: Any, obj: dict[str, Any]) -> int | None:
    arn = status(obj).get("instance", {}).get("ecsServiceArn")
    if not arn:
        return None
    services = aws.ecs.describe_services(cluster="reflex", services=[arn])["services"]
    return services[0]["desiredCount"] if services else None


def identity(op: Operator) -> str:
    return op.leadership()["identity"]


def test_handover_under_sigkill_churn_then_sigterm_of_two(replicas, kube, aws, namespace):
    """Runs alternate between two endings: the SIGTERMs come right after the last SIGKILL (nobody
    leads; the survivor must take the dead leader's Lease once it expired on its own clock, and
    the two stopping must not take it on their way out), or once a new leader leads (the leader
    is among the two stopped: it releases the Lease and the survivor takes it at its next try)."""
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    print(f"\nseed {seed}")
    ops = replicas(3, **TIMINGS)
    started = {id(op): time.monotonic() for op in ops}
    apply(kube, namespace, manifest("orders"))
    leader_of(ops, timeout=LEASE * 3).wait_ready("orders", timeout=120)
    obj = ops[0].rdb("orders")
    paused = False
    takeovers: list[float] = []
    after_kill: list[float] = []
    graceful: list[float] = []
    name = lease_name_of(namespace)

    def start_one() -> Operator:
        (op,) = replicas(1, **TIMINGS)
        started[id(op)] = time.monotonic()
        return op

    for run in range(RUNS):
        right_after_kill = run % 2 == 0
        killed = 0.0
        for k in range(KILLS_PER_RUN):
            leader = leader_of(ops, timeout=LEASE * 3)
            # At a random moment of its renew cycle (chaos, not synchronisation).
            time.sleep(rng.uniform(0, 2 * RETRY))
            killed = time.monotonic()
            leader.kill()
            ops.remove(leader)
            ops.append(start_one())
            if right_after_kill and k == KILLS_PER_RUN - 1:
                break
            leader_of(ops, timeout=LEASE + NEXT_TRIES + 10)
            takeovers.append(time.monotonic() - killed)

        if right_after_kill:
            stopped = rng.sample(ops, 2)
            (survivor,) = [op for op in ops if op not in stopped]
            # It may take the dead leader's Lease once it has seen no change for a lease
            # duration: from the kill, or from its own first look if it started after it.
            bound = max(killed, started[id(survivor)]) + LEASE + NEXT_TRIES + PASS
        else:
            leader = leader_of(ops, timeout=LEASE * 3)
            stopped = [leader, rng.choice([op for op in ops if op is not leader])]
            (survivor,) = [op for op in ops if op not in stopped]
            bound = time.monotonic() + STOP_BUDGET + NEXT_TRIES + PASS
        sent = time.monotonic()
        for op in stopped:
            op.terminate()
        paused = not paused
        patch(kube, namespace, "orders", {"paused": paused})
        want = 0 if paused else 1
        try:
            wait_until(
                lambda: desired_count(aws, ops[0].rdb("orders") or obj) == want, bound - time.monotonic(),
                interval=0.1, what=f"run {run} ({'right after a SIGKILL' if right_after_kill else 'leader stopped'}): the change acted on",
            )
        except TimeoutError as exc:
            raise AssertionError(
                f"{exc}\nlease: {lease(kube, name)['spec']}\n"
                + "\n".join(f"--- {op.log_path}\n{op.log()[-4000:]}" for op in [*stopped, survivor])
            ) from None
        (after_kill if right_after_kill else graceful).append(time.monotonic() - (killed if right_after_kill else sent))
        for op in stopped:
            assert op.proc is not None and op.proc.wait(timeout=STOP_BUDGET) == 0, op.log()[-3000:]
            op.proc = None
        assert lease(kube, name)["spec"]["holderIdentity"] == identity(survivor)
        if not right_after_kill:
            assert "released lease" in stopped[0].log()
        ops = [survivor, start_one(), start_one()]

    print(
        f"\nFIGURE handover under churn ({LEASE} s / {RENEW} s / {RETRY} s, {RUNS} runs): "
        f"SIGKILL takeovers {', '.join(f'{t:.1f}' for t in takeovers)} s (median {statistics.median(takeovers):.1f}); "
        f"SIGTERM of two right after a SIGKILL → acted on {', '.join(f'{t:.1f}' for t in after_kill)} s after the kill; "
        f"SIGTERM of the leader and one more → acted on {', '.join(f'{t:.1f}' for t in graceful)} s after the signal"
    )
