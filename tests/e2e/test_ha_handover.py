"""Handover under churn (issue 21, point 3), against the real stack: three replicas of one
installation; the leader is SIGKILLed at a random moment of its tenure (a new replica is started
for each), then two of the three are stopped with SIGTERM (the leader among them) and a database
is patched at once. The change must be acted on (the ECS service's desired count follows
``spec.paused``) within a bound derived from the lease timings: a graceful stop must never leave a
Lease behind that has to expire.

The timings are chosen so that an expiry-based takeover (≥ the lease duration, 6 s) and a graceful
one (a retry period, 0.5 s, after the stop) are far apart. The figures are printed (``-s``)."""

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

LEASE, RENEW, RETRY = 6, 4.0, 0.5
TIMINGS = {
    "REFLEX_LEASE_DURATION_SECONDS": str(LEASE),
    "REFLEX_RENEW_DEADLINE_SECONDS": str(RENEW),
    "REFLEX_RETRY_PERIOD_SECONDS": str(RETRY),
}
# A SIGTERMed replica stops within this (passes drained, the Lease released; README: "SIGTERM").
STOP_BUDGET = 10.0
# After the release, the survivor takes the Lease at its next try (retry × 1.2 jitter) and then
# runs the pass: one status read, one ECS UpdateService, one status write (a few seconds at most
# on a loaded 2-core machine). The bound stays below an expiry-based takeover plus that pass.
ACT_BOUND = 2 * RETRY * 1.2 + 4.0
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
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    print(f"\nseed {seed}")
    ops = replicas(3, **TIMINGS)
    apply(kube, namespace, manifest("orders"))
    leader_of(ops, timeout=LEASE * 3).wait_ready("orders", timeout=120)
    obj = ops[0].rdb("orders")
    paused = False
    takeovers: list[float] = []
    handovers: list[float] = []
    name = lease_name_of(namespace)

    for run in range(RUNS):
        for _ in range(KILLS_PER_RUN):
            leader = leader_of(ops, timeout=LEASE * 3)
            # At a random moment of its renew cycle (chaos, not synchronisation).
            time.sleep(rng.uniform(0, 2 * RETRY))
            killed = time.monotonic()
            leader.kill()
            ops.remove(leader)
            ops += replicas(1, **TIMINGS)
            leader_of(ops, timeout=LEASE + 3 * RETRY * 1.2 + 10)
            takeovers.append(time.monotonic() - killed)

        leader = leader_of(ops, timeout=LEASE * 3)
        standbys = [op for op in ops if op is not leader]
        stopped = [leader, rng.choice(standbys)]
        (survivor,) = [op for op in ops if op not in stopped]
        sent = time.monotonic()
        for op in stopped:
            op.terminate()
        paused = not paused
        patch(kube, namespace, "orders", {"paused": paused})
        want = 0 if paused else 1
        try:
            wait_until(
                lambda: desired_count(aws, ops[0].rdb("orders") or obj) == want, STOP_BUDGET + ACT_BOUND,
                interval=0.1, what=f"run {run}: the change acted on",
            )
        except TimeoutError as exc:
            raise AssertionError(
                f"{exc}\nlease: {lease(kube, name)['spec']}\n"
                + "\n".join(f"--- {op.log_path}\n{op.log()[-4000:]}" for op in [*stopped, survivor])
            ) from None
        acted = time.monotonic() - sent
        for op in stopped:
            assert op.proc is not None and op.proc.wait(timeout=STOP_BUDGET) == 0, op.log()[-3000:]
            op.proc = None
        # The survivor took over through the release, not through an expiry.
        assert lease(kube, name)["spec"]["holderIdentity"] == identity(survivor)
        assert "released lease" in stopped[0].log()
        handovers.append(acted)
        assert acted < STOP_BUDGET + ACT_BOUND, f"run {run}: acted on after {acted:.1f} s"
        ops = [survivor, *replicas(2, **TIMINGS)]

    print(
        f"\nFIGURE handover under churn ({LEASE} s / {RENEW} s / {RETRY} s, {RUNS} runs): "
        f"SIGKILL takeovers {', '.join(f'{t:.1f}' for t in takeovers)} s (median {statistics.median(takeovers):.1f}); "
        f"SIGTERM of leader+standby → change acted on {', '.join(f'{t:.1f}' for t in handovers)} s"
    )
