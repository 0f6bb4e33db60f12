"""The operator stays up when its world wobbles (issue 21, points 1 and 2), against the real stack.

- An API server outage longer than the renew deadline (15 s and 60 s: kube-apiserver is stopped
  and started again on the same port with the same etcd): the leader steps down, stays alive with
  its caches and watches, and acts again soon after the API server's return; changes made before,
  right after the return, and after are all carried out. The tests run on the session's control
  plane (they run one at a time, and it is started again in a ``finally``).
- A replica whose start fails (its metrics or probe port in use) exits non-zero within seconds,
  naming the port, and never holds the Lease.
- SIGTERM ends a replica promptly in every state: during its start (AWS not answering), as a
  standby, as the leader (which releases the Lease).

The figures (time to act again, time to exit) are printed (``-s``)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from reflex_dev._proc import wait_until
from tests.e2e.helpers import apply, manifest, patch
from tests.e2e.test_ha import LEASE_NS, leader_of, leading
from tests.e2e.test_ha_handover import desired_count
from tests.fixtures.operator import SHORT_LEASES, Operator, lease_name_of

pytestmark = pytest.mark.e2e

RENEW = float(SHORT_LEASES["REFLEX_RENEW_DEADLINE_SECONDS"])
RETRY = float(SHORT_LEASES["REFLEX_RETRY_PERIOD_SECONDS"])
# A process ending: kopf winding down, the elector's last round, the release (README: < 10 s).
EXIT_BOUND = 10.0
# A failed start: the interpreter and the imports (a few seconds on a loaded 2-core machine),
# then the failure at once.
FAILED_START_BOUND = 30.0
# After the API server is back: the elector's next try (retry × 1.2), its requests, kopf's watch
# listing again (its retries pause 1 s at most), then one pass; with a generous margin.
BACK_TO_LEADING = 2 * RETRY * 1.2 + 5.0
BACK_TO_ACTING = BACK_TO_LEADING + 10.0


def lease_holder(kube: Any, name: str) -> str | None:
    proc = kube.kubectl("get", "lease", name, "-n", LEASE_NS, "-o", "json", check=False)
    if proc.returncode != 0:
        assert "NotFound" in proc.stderr, proc.stderr
        return None
    return json.loads(proc.stdout)["spec"].get("holderIdentity")


def patched(kube: Any, namespace: str, spec: dict[str, Any], timeout: float = 30) -> None:
    """``kubectl patch`` as a user retries it: a freshly started API server may refuse requests
    for a moment (429 while its flow control starts up)."""
    last: list[str] = []

    def accepted() -> bool:
        proc = kube.kubectl("patch", "rdb", "orders", "-n", namespace, "--type=merge", "-p", json.dumps({"spec": spec}), check=False)
        last[:] = [proc.stderr]
        return proc.returncode == 0

    wait_until(accepted, timeout, interval=0.2, what=f"the API server to accept the patch (last: {last})")


def paused_to(op: Operator, kube: Any, aws: Any, namespace: str, paused: bool, timeout: float, what: str) -> float:
    """Patch ``spec.paused`` and wait until ECS has the desired count; returns the seconds taken
    since the patch was accepted."""
    patched(kube, namespace, {"paused": paused})
    sent = time.monotonic()
    want = 0 if paused else 1
    try:
        wait_until(lambda: desired_count(aws, op.rdb("orders") or {}) == want, timeout, interval=0.1, what=what)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\noperator log tail:\n{op.log()[-5000:]}") from None
    return time.monotonic() - sent


@pytest.mark.parametrize("outage", [15, 60])
def test_an_api_server_outage_costs_no_restart(outage, replicas, kube, aws, namespace):
    (op,) = replicas(1)
    apply(kube, namespace, manifest("orders"))
    op.wait_ready("orders", timeout=90)
    paused_to(op, kube, aws, namespace, True, 60, "before the outage: paused")

    cp = kube.controlplane
    cp.stop_apiserver()
    try:
        down = time.monotonic()
        wait_until(lambda: "stepped down" in op.log(), RENEW + 5, interval=0.2, what="the leader to step down", alive=op.alive)
        assert not leading(op)
        # The outage itself: the process must stay up all along (polled, not slept through).
        wait_until(lambda: time.monotonic() - down >= outage, outage + 5, interval=0.5, what=f"{outage} s of outage", alive=op.alive)
    finally:
        cp.start_apiserver()
    back = time.monotonic()
    assert op.alive(), op.log()[-3000:]
    # Leading again within about a retry period of the return (the Lease still names it).
    wait_until(lambda: leading(op), BACK_TO_LEADING, interval=0.1, what="leading again")
    lead_again = time.monotonic() - back
    # A change right after the return (retried while the restarted API server's admission
    # policy cannot resolve its ReflexPlan params yet), carried out by the same process.
    acted = paused_to(op, kube, aws, namespace, False, BACK_TO_ACTING, "right after the return: resumed")
    accepted = time.monotonic() - back - acted
    led = op.log().count("acquired lease")
    assert led >= 2, f"it took the lease back (acquired {led} times)"
    # And after.
    paused_to(op, kube, aws, namespace, True, 60, "after the outage: paused again")
    assert op.alive()
    log = op.log()
    assert "exiting with" not in log and log.count("----- start") == 1
    print(f"\nFIGURE API server outage of {outage} s: alive throughout; leading again {lead_again:.2f} s after the "
          f"API server was ready; a change made right after the return (accepted by the API server {accepted:.1f} s after "
          f"it was ready) acted on {acted:.2f} s after it was accepted (timings 3 s / 2 s / 0.5 s)")


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("setting,label", [("REFLEX_METRICS_PORT", "metrics port"), ("REFLEX_PROBE_PORT", "probe port")])
def test_a_failed_start_exits_non_zero_naming_the_port_and_never_campaigns(setting, label, busy_port, replicas, kube, namespace):
    launched = time.monotonic()
    (op,) = replicas(1, wait=False, **{setting: str(busy_port)})
    assert op.proc is not None
    code = op.proc.wait(timeout=FAILED_START_BOUND)
    took = time.monotonic() - launched
    log = op.log()
    assert code != 0, log[-3000:]
    assert f"{label} {busy_port}" in log and "exiting with 1: startup failed" in log, log[-3000:]
    assert "acquired lease" not in log and "will try again" not in log
    assert lease_holder(kube, lease_name_of(namespace)) is None, "it never created nor held the Lease"
    print(f"\nFIGURE failed start ({label} in use): exit {code} after {took:.1f} s from launch")


class BlackHole:
    """An endpoint that accepts connections and never answers (AWS out of reach)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            self.accepted.set()

    def close(self) -> None:
        for conn in self.conns:
            conn.close()
        self.sock.close()


def stop_timed(op: Operator) -> tuple[int, float]:
    assert op.proc is not None
    sent = time.monotonic()
    op.terminate()
    code = op.proc.wait(timeout=EXIT_BOUND + 20)
    took = time.monotonic() - sent
    op.proc = None
    return code, took


def test_sigterm_during_the_start_exits_promptly(replicas, kube, namespace):
    hole = BlackHole()
    try:
        (op,) = replicas(1, wait=False, AWS_ENDPOINT_URL=f"http://127.0.0.1:{hole.port}")
        wait_until(hole.accepted.is_set, FAILED_START_BOUND, what="the start to call AWS", alive=op.alive)
        code, took = stop_timed(op)
    finally:
        hole.close()
    assert took < EXIT_BOUND, f"{took:.1f} s\n{op.log()[-3000:]}"
    assert code == 0 and "acquired lease" not in op.log()
    assert lease_holder(kube, lease_name_of(namespace)) is None
    print(f"\nFIGURE SIGTERM during the start (AWS not answering): exit {code} in {took:.1f} s")


def test_sigterm_stops_a_standby_and_a_leader_promptly(replicas, kube, aws, namespace):
    ops = replicas(3)
    leader = leader_of(ops)
    standby, third = [op for op in ops if op is not leader]
    apply(kube, namespace, manifest("orders"))
    leader.wait_ready("orders", timeout=90)
    code, standby_took = stop_timed(standby)
    assert code == 0 and standby_took < EXIT_BOUND, f"{standby_took:.1f} s\n{standby.log()[-3000:]}"
    # The leader, with a change in flight.
    patch(kube, namespace, "orders", {"paused": True})
    code, leader_took = stop_timed(leader)
    assert code == 0 and leader_took < EXIT_BOUND, f"{leader_took:.1f} s\n{leader.log()[-3000:]}"
    assert "released lease" in leader.log()
    wait_until(lambda: leading(third), 2 * RETRY * 1.2 + 5, interval=0.1, what="the last replica to lead")
    wait_until(lambda: desired_count(aws, third.rdb("orders") or {}) == 0, 60, interval=0.2, what="the change carried out")
    print(f"\nFIGURE SIGTERM → exit: standby {standby_took:.2f} s, leader {leader_took:.2f} s (Lease released)")
