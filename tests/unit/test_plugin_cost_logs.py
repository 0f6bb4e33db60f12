"""kubectl reflex cost, logs and check over a fake cluster (and a fake CloudWatch Logs reader):
the figures at the moment of the command and the totals, the log source chosen, lines never
shown twice while following, the check verb's token patch and what --wait waits for."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from reflex_operator.database.logs import LogLine, LogSource, NoLogs
from reflex_operator.plugin import cli as plugin_main
from reflex_operator.actions import verbs
from reflex_operator.plugin.cluster import PluginError
from tests.unit.test_plugin_verbs import FakeCluster, db, run


def run_quick(cluster: FakeCluster, *argv: str) -> tuple[int, str]:
    """``run`` with the follow loop's pause not waited for."""
    import io

    out = io.StringIO()
    args = plugin_main.build_parser().parse_args(list(argv))
    code = args.func(args, cluster, plugin_main._Io(out, io.StringIO(), plugin_main.render.Paint(), sleep=lambda _: None))
    return code, out.getvalue()

NOW = datetime(2026, 1, 1, 13, 0, tzinfo=timezone.utc)


def _cost(hourly: float, accrued: float) -> dict[str, Any]:
    return {"hourlyUsd": hourly, "tasks": 1 if hourly else 0, "accruedUsd": accrued, "month": "2026-01", "monthUsd": accrued,
            "accruedAt": "2026-01-01T12:00:00Z", "since": "2026-01-01T10:00:00Z", "changes": []}


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin_main, "_now", lambda: NOW)


def test_cost_figures_now_per_database_and_totals() -> None:
    cluster = FakeCluster([db("a", status={"cost": _cost(1.0, 2.0), "plan": {"name": "gold"}}), db("b", status={"cost": _cost(0.0, 3.0)}),
                           db("c")])  # c: no cost yet
    code, out = run(cluster, "cost", "-o", "json")
    doc = json.loads(out)
    assert code == 0 and doc["month"] == "2026-01"
    assert [(r["name"], r["hourlyUsd"], r["totalUsd"], r["plan"]) for r in doc["databases"]] == [
        ("a", 1.0, 3.0, "gold"), ("b", 0.0, 3.0, None), ("c", None, None, None)]
    totals = {(t["by"], t["key"]): (t["databases"], t["hourlyUsd"], t["monthUsd"]) for t in doc["totals"]}
    assert totals == {("namespace", "team-a"): (3, 1.0, 6.0), ("plan", "gold"): (1, 1.0, 3.0), ("plan", "(none)"): (2, 0.0, 3.0)}
    code, table = run(cluster, "cost", "a")
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["NAMESPACE", "NAME", "TASKS", "USD/HOUR"] and lines[1].split() == ["team-a", "a", "1", "1.0000", "3.0000", "3.0000"]
    assert "total namespace team-a: 1 databases" in table and "aws.amazon.com/fargate/pricing" in lines[-1]


class FakeReader:
    """Each read answers the next batch (the lines as CloudWatch has them by then)."""

    def __init__(self, *batches: list[LogLine] | Exception) -> None:
        self.batches, self.reads = list(batches), []

    def read(self, source: LogSource, start_ms: int | None = None, limit: int = 1000) -> list[LogLine]:
        self.reads.append((source, start_ms, limit))
        batch = self.batches.pop(0) if len(self.batches) > 1 else self.batches[0]
        if isinstance(batch, BaseException):
            raise batch
        return batch


def _logged(name: str = "orders") -> dict[str, Any]:
    return db(name, status={"instance": {"logs": {"group": "/reflex/servers", "streamPrefix": "db-o/reflex-server"}},
                            "builds": [{"id": "b1", "status": "succeeded", "deployable": True, "logGroup": "/aws/codebuild/x", "logStream": "s1"},
                                       {"id": "b0", "status": "failed", "deployable": False}]})


def _line(sec: int, text: str) -> LogLine:
    return LogLine(int(NOW.timestamp() * 1000) - 60_000 + sec * 1000, text, "db-o/reflex-server/t1")


def _with(monkeypatch: pytest.MonkeyPatch, reader: FakeReader) -> FakeReader:
    monkeypatch.setattr(plugin_main, "LogReader", lambda: reader)
    return reader


def test_logs_of_the_server_since_and_of_a_build(monkeypatch: pytest.MonkeyPatch) -> None:
    reader = _with(monkeypatch, FakeReader([_line(0, "starting"), _line(2, "heartbeat")]))
    code, out = run(FakeCluster([_logged()]), "logs", "orders", "--since", "10m")
    assert code == 0 and out == "2026-01-01T12:59:00.000Z starting\n2026-01-01T12:59:02.000Z heartbeat\n"
    assert reader.reads[-1] == (LogSource("/reflex/servers", prefix="db-o/reflex-server"), int(NOW.timestamp() * 1000) - 600_000, 1000)
    for argv in (("--build",), ("--build", "b1")):
        run(FakeCluster([_logged()]), "logs", "orders", *argv)
        assert reader.reads[-1][0] == LogSource("/aws/codebuild/x", stream="s1", what="build b1")


@pytest.mark.parametrize(("argv", "why"), [
    (("--build", "b0"), "has no CloudWatch log stream"), (("--build", "zz"), "no build zz"), (("--since", "ever"), "a duration such as")])
def test_logs_refusals(monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...], why: str) -> None:
    _with(monkeypatch, FakeReader([]))
    with pytest.raises(PluginError, match=why):
        run(FakeCluster([_logged()]), "logs", "orders", *argv)


def test_no_stream_yet_is_an_error_unless_following(monkeypatch: pytest.MonkeyPatch) -> None:
    _with(monkeypatch, FakeReader(NoLogs("no log stream yet")))
    with pytest.raises(PluginError, match="no log stream yet"):
        run(FakeCluster([_logged()]), "logs", "orders")


def test_follow_prints_each_line_once_and_ends_quietly_on_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    reader = _with(monkeypatch, FakeReader(NoLogs("none yet"), [_line(0, "starting"), _line(2, "one")],
                                           [_line(2, "one"), _line(4, "two")], KeyboardInterrupt()))
    code, out = run_quick(FakeCluster([_logged()]), "logs", "orders", "-f")
    assert code == 130 and [line.split(" ", 1)[1] for line in out.splitlines()] == ["starting", "one", "two"]
    starts = [start for _, start, _ in reader.reads]
    assert starts[2] == _line(2, "").timestamp_ms and starts[3] == _line(4, "").timestamp_ms  # each read from the last line seen


def test_check_is_a_fresh_token_and_waits_for_it_applied_and_not_pending() -> None:
    p = verbs.change("check", db(), token="T1")
    assert p.refused is None and p.patch == {"spec": {"healthCheckToken": "T1"}}
    wanted = db(spec={"healthCheckToken": "T1"})
    for status, done in (({}, False), ({"appliedTokens": {"healthCheck": "T0"}}, False),
                         ({"appliedTokens": {"healthCheck": "T1"}, "instance": {"healthCheckPending": True}}, False),
                         ({"appliedTokens": {"healthCheck": "T1"}, "instance": {"lastHealthCheck": "2026-01-01T12:00:00Z"}}, True)):
        obj = {**wanted, "metadata": {**wanted["metadata"], "generation": 2},
               "status": {**wanted["status"], "observedGeneration": 2, **status}}
        assert verbs.progress(obj, 2, p).done is done, status


def test_check_verb_writes_the_token() -> None:
    cluster = FakeCluster([db("a"), db("b")])
    code, out = run(cluster, "check", "--all")
    assert code == 0 and [name for name, _, _ in cluster.patches] == ["a", "b"]
    assert all(list(body["spec"]) == ["healthCheckToken"] for _, body, _ in cluster.patches)
    assert out.splitlines()[-1] == "2 databases: 2 patched"
