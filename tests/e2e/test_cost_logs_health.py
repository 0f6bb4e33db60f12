"""Issue 24 part B against the local stack (the real API server, an operator, the AWS emulator with
its CloudWatch Logs, the simulator writing each running server's log lines, and the real
``reflex-api`` with the AWS variables it needs to read CloudWatch Logs): the running cost of a
database run, paused and resumed; the logs of a running instance and of a build through
``kubectl reflex logs`` and REST, the connection string's password never shown (the simulator's
server prints it on start, on purpose); an on-demand health check through REST and ``kubectl reflex
check``, pending while paused and carried out after the resume.

No timed assertions: every wait polls with a deadline; "the cost stops while paused" compares
accrued figures (equal while the rate is zero), "it grows" waits for a larger figure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from reflex_dev._proc import free_port, spawn, stop_process_group, wait_for_port, wait_until
from reflex_dev.controlplane import _kubeconfig
from tests.e2e.helpers import SECRET_URL, apply, manifest, status
from tests.e2e.test_api_server import API_RBAC, Api, _role, _token
from tests.fixtures.operator import Operator

pytestmark = pytest.mark.e2e

PASSWORD = SECRET_URL.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


@pytest.fixture
def rest(kube: Any, aws: Any, tmp_path: Path) -> Iterator[Api]:
    """reflex-api as deployed with CloudWatch Logs access: its own ServiceAccount's kubeconfig and
    the AWS variables (the emulator's endpoint, Region and credentials)."""
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(API_RBAC))
    cp = kube.controlplane
    config = tmp_path / "api.kubeconfig"
    config.write_text(_kubeconfig(cp.url, cp.ca_file.read_bytes(), "reflex-api", _token(kube, "reflex-system", "reflex-api")))
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REFLEX_"))}, **aws.env, "PYTHONUNBUFFERED": "1"}
    proc = spawn([sys.executable, "-m", "reflex_operator.restapi.serve", "--kubeconfig", str(config), "--host", "127.0.0.1",
                  "--port", str(port), "--review-ttl", "1"], log_path=tmp_path / "api.log", env=env)
    try:
        wait_for_port(port, timeout=60, proc=proc)
        yield Api(f"http://127.0.0.1:{port}")
    finally:
        stop_process_group(proc.pid, proc=proc)


@pytest.fixture
def quiet_operator(kube: Any, aws: Any, simulator: Any, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    """An operator whose periodic health refresh is far away (10 minutes): a newer lastHealthCheck
    within seconds can only come from the on-demand check."""
    op = Operator(kube=kube, aws=aws, simulator=simulator, namespace=namespace, workdir=tmp_path / "op")
    op.workdir.mkdir()
    try:
        yield op.start(REFLEX_STATUS_REFRESH_SECONDS="600")
    finally:
        op.stop()


def _plugin(kube: Any, aws: Any, namespace: str, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """``kubectl reflex ARGS`` as a user with AWS credentials runs it (``logs`` reads CloudWatch)."""
    bindir = str(Path(sys.executable).parent)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REFLEX_", "KUBECONFIG"))}, **aws.env,
           "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1"}
    cmd = [str(kube.kubectl_path), "reflex", *args, "-n", namespace, "--kubeconfig", str(kube.admin_kubeconfig)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def _ok(proc: subprocess.CompletedProcess[str], rc: int = 0) -> str:
    assert proc.returncode == rc, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc.stdout


def _get(api: Api, token: str, path: str) -> Any:
    code, body = api.call("GET", path, token)
    assert code == 200, (path, code, body)
    return body


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _alice(kube: Any, namespace: str) -> str:
    kube.kubectl("apply", "-f", "-", input=_role(namespace, "alice", ["get", "list", "watch", "patch"]))
    return _token(kube, namespace, "alice")


def _metric(text: str, name: str, namespace: str, db: str) -> float | None:
    want = f'{name}{{name="{db}",namespace="{namespace}"}} '
    return next((float(line.split()[-1]) for line in text.splitlines() if line.startswith(want)), None)


# ------------------------------------------------------------------ (a) cost: run, pause, resume


def test_cost_grows_while_running_and_stops_while_paused(operator, kube, aws, simulator, namespace, rest):
    alice = _alice(kube, namespace)
    apply(kube, namespace, manifest("orders"))
    uid = operator.wait_ready("orders", timeout=120)["metadata"]["uid"]
    running = operator.wait("orders", lambda o: (status(o).get("cost") or {}).get("hourlyUsd", 0) > 0, timeout=60,
                            what="a running cost in status")
    cost = status(running)["cost"]
    assert cost["tasks"] >= 1 and cost["changes"][0]["hourlyUsd"] == cost["hourlyUsd"], cost

    # Running: the figure REST computes grows (read until a larger one; the rate is a few cents an hour).
    path = f"/v1/databases/{uid}/cost"
    wait_until(lambda: _get(rest, alice, path)["cost"] is not None, 15, what="the cache to have the cost")
    first = _get(rest, alice, path)
    assert first["cost"]["hourlyUsd"] == cost["hourlyUsd"] and first["name"] == "orders", first
    wait_until(lambda: _get(rest, alice, path)["cost"]["totalUsd"] > first["cost"]["totalUsd"], 60, interval=0.5,
               what="the running cost to grow")
    assert _get(rest, alice, f"/v1/databases/{uid}/instance")["instance"]["cost"]["hourlyUsd"] == cost["hourlyUsd"]

    # The metrics say the same, live at each scrape.
    wait_until(lambda: (_metric(operator.metrics(), "reflexdb_cost_hourly_usd", namespace, "orders") or 0) > 0, 30,
               what="the cost metric")

    # Totals per namespace (and under no plan), and through the plugin.
    totals = _get(rest, alice, f"/v1/costs?namespace={namespace}")
    assert [t["key"] for t in totals["namespaces"]] == [namespace] and totals["total"]["databases"] == 1, totals
    assert totals["total"]["hourlyUsd"] == cost["hourlyUsd"]
    shown = json.loads(_ok(_plugin(kube, aws, namespace, "cost", "-o", "json")))
    assert [r["name"] for r in shown["databases"]] == ["orders"] and shown["databases"][0]["hourlyUsd"] == cost["hourlyUsd"], shown
    table = _ok(_plugin(kube, aws, namespace, "cost", "orders"))
    assert "orders" in table and "USD/HOUR" in table and "aws.amazon.com/fargate/pricing" in table, table

    # Paused: the rate is zero in status, REST and the metrics; the accrued figure no longer moves.
    code, body = rest.call("POST", f"/v1/databases/{uid}/actions/pause", alice)
    assert code == 200, body
    operator.wait_phase("orders", "Paused", timeout=90)
    paused = operator.wait("orders", lambda o: status(o)["cost"]["hourlyUsd"] == 0 and status(o)["cost"]["tasks"] == 0,
                           timeout=60, what="the cost rate zero while paused")
    accrued = status(paused)["cost"]["accruedUsd"]
    assert accrued > 0 and accrued >= first["cost"]["totalUsd"]
    wait_until(lambda: _get(rest, alice, path)["cost"]["hourlyUsd"] == 0, 15, what="REST to show the pause")
    at_pause = _get(rest, alice, path)["cost"]
    assert at_pause["totalUsd"] == accrued, (at_pause, accrued)

    # While paused, other things happen (a status write, a few passes): the cost does not move.
    operator.wait("orders", lambda o: status(o).get("observedGeneration") == o["metadata"]["generation"], 30)
    code, _ = rest.call("POST", f"/v1/databases/{uid}/health-check", alice)  # a status write while paused
    assert code == 200
    operator.wait("orders", lambda o: (status(o).get("instance") or {}).get("healthCheckPending") is True, 30,
                  what="a write while paused")
    still = _get(rest, alice, path)["cost"]
    assert still["totalUsd"] == at_pause["totalUsd"] == status(operator.rdb("orders"))["cost"]["accruedUsd"], (still, at_pause)
    assert _metric(operator.metrics(), "reflexdb_cost_hourly_usd", namespace, "orders") == 0
    assert _metric(operator.metrics(), "reflexdb_cost_total_usd", namespace, "orders") == pytest.approx(accrued, abs=1e-6)

    # The pricing history (seed 004_): the paused stretch at zero, newest first, after a running one.
    page = _get(rest, alice, f"/v2/instances/pricing/history?instance_fid={uid}&limit=10")
    rates = [item["hourlyUsd"] for item in page["data"]]
    assert rates[0] == 0 and rates[1] > 0 and page["data"][0]["end_time"] is None, page
    assert page["data"][1]["end_time"] == page["data"][0]["start_time"]

    # Resumed: the rate is back and the figure grows again from where it stopped.
    code, body = rest.call("POST", f"/v1/databases/{uid}/actions/resume", alice)
    assert code == 200, body
    operator.wait_phase("orders", "Running", timeout=90)
    operator.wait("orders", lambda o: status(o)["cost"]["hourlyUsd"] > 0, timeout=60, what="the cost rate back")
    wait_until(lambda: _get(rest, alice, path)["cost"]["hourlyUsd"] > 0, 15, what="REST to show the resume")
    resumed = _get(rest, alice, path)["cost"]
    assert resumed["totalUsd"] >= at_pause["totalUsd"]
    wait_until(lambda: _get(rest, alice, path)["cost"]["totalUsd"] > resumed["totalUsd"], 60, interval=0.5,
               what="the running cost to grow again")
    assert len(_get(rest, alice, f"/v2/instances/pricing/history?instance_fid={uid}")["data"]) >= 3


# ------------------------------------------------------------------ (b) logs, never the password


def _assert_masked(text: str) -> None:
    assert PASSWORD not in text, "the connection string's password is shown"
    assert SECRET_URL not in text


def test_logs_of_a_running_instance_and_of_a_build_never_show_the_password(operator, kube, aws, simulator, namespace, rest):
    alice = _alice(kube, namespace)
    apply(kube, namespace, manifest("orders"))
    obj = operator.wait_ready("orders", timeout=120)
    uid, build = obj["metadata"]["uid"], status(obj)["activeBuildId"]

    # The simulated server does print the connection string (in CloudWatch Logs, where it is raw).
    def raw() -> str:
        group = (status(operator.rdb("orders")).get("instance") or {}).get("logs", {}).get("group")
        if not group:
            return ""
        return json.dumps(aws.logs.filter_log_events(logGroupName=group).get("events", []))

    wait_until(lambda: "reflex-server starting" in raw(), 60, interval=0.5, what="the server's start line in CloudWatch Logs")
    assert PASSWORD in raw(), "the simulator no longer prints the password: this test would prove nothing"

    # REST: the server's lines, the start line masked, heartbeats every few seconds.
    def server_lines() -> list[str]:
        code, body = rest.call("GET", f"/v1/databases/{uid}/logs?since=10m", alice)
        _assert_masked(json.dumps(body))
        return [line["message"] for line in body["lines"]] if code == 200 else []

    wait_until(lambda: sum("heartbeat" in m for m in server_lines()) >= 2, 60, interval=0.5, what="two heartbeats through REST")
    lines = server_lines()
    start = next(m for m in lines if "reflex-server starting" in m)
    assert "******" in start and "db.internal" in start, start
    # A limit keeps the newest lines (as a tail does), not the oldest.
    wait_until(lambda: sum("heartbeat" in m for m in server_lines()) >= 4, 60, interval=0.5, what="four heartbeats")
    every = _get(rest, alice, f"/v1/databases/{uid}/logs?since=10m")["lines"]
    body = _get(rest, alice, f"/v1/databases/{uid}/logs?since=10m&limit=2")
    assert len(body["lines"]) == 2 and body["source"] == "server"
    assert all(_at(line["timestamp"]) >= _at(every[-2]["timestamp"]) for line in body["lines"]), (body["lines"], every[-2:])
    assert not any("reflex-server starting" in line["message"] for line in body["lines"]), body["lines"]
    code, body = rest.call("GET", f"/v1/databases/{uid}/logs?since=forever", alice)
    assert code == 400 and body["error"] == "invalid_since", body

    # REST: a build's log, the latest and by id.
    def build_lines(which: str) -> list[str]:
        code, body = rest.call("GET", f"/v1/databases/{uid}/logs?since=1h&build={which}", alice)
        _assert_masked(json.dumps(body))
        return [line["message"] for line in body["lines"]] if code == 200 else []

    wait_until(lambda: any("Phase complete: BUILD" in m for m in build_lines("latest")), 60, interval=0.5,
               what="the build's log through REST")
    assert build_lines(build) == build_lines("latest")
    code, body = rest.call("GET", f"/v1/databases/{uid}/logs?build=no-such-build", alice)
    assert code == 404 and body["error"] == "no_logs", body

    # The plugin: the server's lines, a build's, and -f following new lines (bounded here).
    out = _ok(_plugin(kube, aws, namespace, "logs", "orders", "--since", "10m"))
    _assert_masked(out)
    assert "reflex-server starting" in out and "******" in out and "heartbeat" in out, out
    out = _ok(_plugin(kube, aws, namespace, "logs", "orders", "--build"))
    _assert_masked(out)
    assert "Phase complete: BUILD" in out, out
    assert _ok(_plugin(kube, aws, namespace, "logs", "orders", "--build", build)) == out
    followed = _ok(_plugin(kube, aws, namespace, "logs", "orders", "-f", "--since", "10m", "--follow-for", "6"))
    _assert_masked(followed)
    assert followed.count("heartbeat") >= 2 and len(set(followed.splitlines())) == len(followed.splitlines()), followed
    bad = _plugin(kube, aws, namespace, "logs", "orders", "--build", "no-such-build")
    assert bad.returncode != 0 and "no build no-such-build" in bad.stderr, bad

    # A restart writes a new task's stream, and its start line is masked too.
    _ok(_plugin(kube, aws, namespace, "restart", "orders", "--wait", "--timeout", "90"))
    wait_until(lambda: sum("reflex-server starting" in m for m in server_lines()) >= 2, 60, interval=0.5,
               what="the new task's start line")
    _assert_masked(_ok(_plugin(kube, aws, namespace, "logs", "orders", "--since", "10m")))


# ------------------------------------------------------------------ (c) on-demand health check


def test_on_demand_health_check_through_rest_and_the_plugin_pending_while_paused(quiet_operator, kube, aws, simulator, namespace, rest):
    operator = quiet_operator
    alice = _alice(kube, namespace)
    apply(kube, namespace, manifest("orders"))
    obj = operator.wait_ready("orders", timeout=120)
    uid = obj["metadata"]["uid"]
    before = _at(operator.wait("orders", lambda o: (status(o).get("instance") or {}).get("lastHealthCheck"), 30)
                 ["status"]["instance"]["lastHealthCheck"])

    # REST: the token is written; within seconds status shows the check started and a newer sample.
    code, body = rest.call("POST", f"/v1/databases/{uid}/health-check", alice)
    assert code == 200 and body["action"] == "health-check", body
    token = body["patch"]["spec"]["healthCheckToken"]
    assert operator.rdb("orders")["spec"]["healthCheckToken"] == token

    def checked(o: dict[str, Any], token: str, after: datetime | None) -> bool:
        st, inst = status(o), status(o).get("instance") or {}
        return ((st.get("appliedTokens") or {}).get("healthCheck") == token and inst.get("healthCheckStarted") is not None
                and not inst.get("healthCheckPending") and inst.get("lastHealthCheck") is not None
                and (after is None or _at(inst["lastHealthCheck"]) > after))

    done = operator.wait("orders", lambda o: checked(o, token, before), timeout=15, what="the on-demand check in status")
    inst = status(done)["instance"]
    assert _at(inst["healthCheckStarted"]) > before and inst["healthStatus"] == "ok"
    wait_until(lambda: _get(rest, alice, f"/v1/databases/{uid}/instance")["instance"]["healthCheckStarted"] is not None, 10,
               what="REST to show the check")
    shown = _get(rest, alice, f"/v1/databases/{uid}/instance")["instance"]
    assert shown["healthCheckPending"] is False and _at(shown["lastHealthCheck"]) > before

    # The plugin's verb, waiting for it.
    before = _at(inst["lastHealthCheck"])
    out = _ok(_plugin(kube, aws, namespace, "check", "orders", "--wait", "--timeout", "30"))
    assert out.strip().startswith("orders: done"), out
    after = operator.rdb("orders")
    assert _at(status(after)["instance"]["lastHealthCheck"]) > before
    assert status(after)["appliedTokens"]["healthCheck"] == after["spec"]["healthCheckToken"] != token

    # Paused: asked for, it waits (pending, in status and REST); after the resume it is carried out.
    _ok(_plugin(kube, aws, namespace, "pause", "orders", "--wait", "--timeout", "90"))
    code, body = rest.call("POST", f"/v1/databases/{uid}/health-check", alice)
    assert code == 200, body
    waiting = body["patch"]["spec"]["healthCheckToken"]
    operator.wait("orders", lambda o: (status(o).get("instance") or {}).get("healthCheckPending") is True, 30,
                  what="the check pending while paused")
    wait_until(lambda: _get(rest, alice, f"/v1/databases/{uid}/instance")["instance"]["healthCheckPending"] is True, 10,
               what="REST to show the check pending")
    assert status(operator.rdb("orders"))["appliedTokens"]["healthCheck"] != waiting
    started = _at(status(operator.rdb("orders"))["instance"]["healthCheckStarted"])
    _ok(_plugin(kube, aws, namespace, "resume", "orders", "--wait", "--timeout", "90"))
    done = operator.wait("orders", lambda o: checked(o, waiting, None), timeout=30, what="the pending check carried out after the resume")
    assert _at(status(done)["instance"]["healthCheckStarted"]) > started
    wait_until(lambda: _get(rest, alice, f"/v1/databases/{uid}/instance")["instance"]["healthCheckPending"] is False, 10,
               what="REST to show the check done")
