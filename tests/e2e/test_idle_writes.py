"""Kubernetes writes that scale, against the real API server, emulator and simulator: an idle
database is not rewritten at every poll (its snapshot age in ``kubectl get`` is counted from a
timestamp), and a change of health is written at once. The writes are counted by the API server
itself (``apiserver_request_total``) and by the operator."""

from __future__ import annotations

import re

import pytest

from reflex_dev._proc import wait_until
from tests.e2e.helpers import apply, manifest, status
from tests.fixtures.operator import condition

pytestmark = pytest.mark.e2e

_SAMPLE = re.compile(r"^(\w+)(\{[^}]*\})? (\S+)$")


def _samples(text: str, name: str) -> list[tuple[str, float]]:
    out = []
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and m.group(1) == name:
            out.append((m.group(2) or "", float(m.group(3))))
    return out


def _status_patches(kube) -> float:
    """PATCHes of ReflexDatabase status the API server answered (every client, every code)."""
    text = kube.kubectl("get", "--raw", "/metrics", timeout=30).stdout
    return sum(
        v for labels, v in _samples(text, "apiserver_request_total")
        if 'resource="reflexdatabases"' in labels and 'subresource="status"' in labels and 'verb="PATCH"' in labels
    )


def _counter(operator, name: str) -> float:
    return sum(v for _, v in _samples(operator.metrics(), name))


def test_an_idle_database_is_not_rewritten_and_kubectl_shows_its_snapshot_age(operator, kube, simulator, namespace):
    operator.stop()
    operator.start(REFLEX_STATUS_REFRESH_SECONDS="1800")  # the default (the fixture's is 3 s)
    apply(kube, namespace, manifest("orders"))
    operator.wait_ready("orders")
    obj = operator.wait("orders", lambda o: (status(o).get("instance") or {}).get("snapshotTime"), what="snapshotTime")
    # Let the pass that follows Ready settle, then count.
    wait_until(lambda: _counter(operator, "reflex_operator_health_checks_total") >= 5, 60, what="health checks")
    version = operator.rdb("orders")["metadata"]["resourceVersion"]
    writes, patches = _counter(operator, "reflex_operator_status_writes_total"), _status_patches(kube)
    checks = _counter(operator, "reflex_operator_health_checks_total")

    # Twenty more polls, each with a health check whose figures (snapshot age, swaps) moved.
    wait_until(lambda: _counter(operator, "reflex_operator_health_checks_total") >= checks + 20, 60, what="20 more health checks")
    assert _counter(operator, "reflex_operator_status_writes_total") == writes
    assert _status_patches(kube) == patches
    assert operator.rdb("orders")["metadata"]["resourceVersion"] == version

    # kubectl counts the snapshot's age from snapshotTime: an age, not a number of milliseconds.
    table = kube.kubectl("get", "rdb", "orders", "-n", namespace, "-o", "wide").stdout.splitlines()
    header = re.split(r"\s{2,}", table[0].strip())
    row = re.split(r"\s{2,}", table[1].strip())
    cells = dict(zip(header, row))
    assert re.fullmatch(r"\d+(s|m\d*s?|h\d*m?)", cells["SNAPSHOT AGE"]), cells
    assert re.fullmatch(r"\d+(s|m\d*s?|h\d*m?)", cells["CHECKED"]), cells

    # A change of health is written at once, not at the next slow refresh.
    svc = status(obj)["instance"]["ecsServiceArn"].rsplit("/", 1)[-1]
    simulator.set_mode(svc, "degraded")
    obj = operator.wait("orders", lambda o: condition(o, "Degraded") == "True", timeout=30, what="Degraded")
    assert status(obj)["instance"]["healthStatus"] == "degraded"
    assert _status_patches(kube) > patches
