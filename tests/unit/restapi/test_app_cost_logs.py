"""The API's cost, pricing history, logs and on-demand health-check routes over the in-memory
backend and a fake log reader: who may read or ask what, the figures at the moment of the request,
the log source chosen, and the errors in the seed's shape."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reflex_operator.database.logs import LogLine, LogSource, NoLogs
from reflex_operator.restapi import app as app_module
from reflex_operator.restapi.app import create_app
from tests.unit.restapi.test_app import A, B, FakeBackend

NOW = datetime(2026, 1, 1, 13, 0, tzinfo=timezone.utc)


def _cost(hourly: float, accrued: float, at: str = "2026-01-01T12:00:00Z", since: str = "2026-01-01T10:00:00Z") -> dict[str, Any]:
    return {"hourlyUsd": hourly, "tasks": 1 if hourly else 0, "accruedUsd": accrued, "month": "2026-01", "monthUsd": accrued,
            "accruedAt": at, "since": since,
            "changes": [{"at": at, "hourlyUsd": hourly, "tasks": 1 if hourly else 0},
                        {"at": since, "hourlyUsd": 0.5, "tasks": 1, "taskCpu": 512, "taskMemoryMb": 1024}]}


class FakeReader:
    def __init__(self, lines: list[LogLine] | None = None, missing: bool = False) -> None:
        self.lines, self.missing, self.reads = lines or [], missing, []

    def read(self, source: LogSource, start_ms: int | None = None, limit: int = 1000) -> list[LogLine]:
        self.reads.append((source, start_ms, limit))
        if self.missing:
            raise NoLogs(f"no log stream yet for the {source.what} in {source.group}")
        return self.lines[-limit:]


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "_now", lambda: NOW)


@pytest.fixture
def fake() -> FakeBackend:
    fake = FakeBackend()
    fake.dbs["A1"]["status"]["cost"] = _cost(1.0, 2.0)  # running: 2 USD by 12:00, then 1 USD an hour
    fake.dbs["A2"]["status"]["cost"] = _cost(0.0, 3.0)  # paused since 12:00
    fake.dbs["A2"]["status"]["plan"] = {"name": "gold"}
    fake.dbs["A1"]["status"]["instance"]["logs"] = {"group": "/reflex/servers", "streamPrefix": "db-a1/reflex-server"}
    fake.dbs["A1"]["status"]["builds"][0].update(logGroup="/aws/codebuild/reflex-server-build", logStream="b2-stream")
    return fake


@pytest.fixture
def reader() -> FakeReader:
    return FakeReader([LogLine(1_767_268_800_000 + i, f"line {i}", "db-a1/reflex-server/t1") for i in range(5)])


@pytest.fixture
def client(fake: FakeBackend, reader: FakeReader) -> TestClient:
    return TestClient(create_app(fake, reader))


def test_cost_is_computed_at_the_request_and_zero_an_hour_while_paused(client: TestClient) -> None:
    r = client.get("/v1/databases/A1/cost", headers=A).json()
    assert r["name"] == "orders" and r["databaseId"] == "A1" and r["instance_fid"]
    assert r["cost"]["hourlyUsd"] == 1.0 and r["cost"]["totalUsd"] == 3.0 and r["cost"]["monthUsd"] == 3.0  # 2 + 1 hour at 1
    assert "fargate/pricing" in r["cost"]["pricesSource"]
    paused = client.get("/v1/databases/A2/cost", headers=A).json()["cost"]
    assert paused["hourlyUsd"] == 0 and paused["totalUsd"] == 3.0 and paused["tasks"] == 0
    shown = client.get("/v1/databases/A1/instance", headers=A).json()["instance"]["cost"]  # at the real clock
    assert shown["hourlyUsd"] == 1.0 and shown["totalUsd"] > 3.0


def test_cost_of_a_database_one_cannot_read_is_404_and_none_yet_is_null(client: TestClient, fake: FakeBackend) -> None:
    assert client.get("/v1/databases/A1/cost", headers=B).status_code == 404
    assert client.get("/v1/databases/B1/cost", headers=B).json()["cost"] is None  # the operator's first pass is to come


def test_totals_per_namespace_and_plan_of_the_callers_databases(client: TestClient, fake: FakeBackend) -> None:
    fake.dbs["B1"]["status"]["cost"] = _cost(9.0, 9.0)
    r = client.get("/v1/costs", headers=A).json()
    assert r["month"] == "2026-01" and [t["key"] for t in r["namespaces"]] == ["team-a"]  # never team-b's
    assert r["total"] == {"key": "all", "databases": 2, "hourlyUsd": 1.0, "monthUsd": 6.0, "totalUsd": 6.0}
    assert {t["key"]: t["totalUsd"] for t in r["plans"]} == {"": 3.0, "gold": 3.0}
    assert client.get("/v1/costs?plan=gold", headers=A).json()["total"]["databases"] == 1
    assert client.get("/v1/costs?namespace=team-b", headers=A).status_code == 403


def test_pricing_history_newest_first_clipped_and_paged(client: TestClient) -> None:
    r = client.get("/v2/instances/pricing/history?instance_fid=A1", headers=A).json()
    assert [(i["start_time"], i["end_time"], i["hourlyUsd"]) for i in r["data"]] == [
        ("2026-01-01T12:00:00Z", None, 1.0), ("2026-01-01T10:00:00Z", "2026-01-01T12:00:00Z", 0.5)]
    assert [i["costUsd"] for i in r["data"]] == [1.0, 1.0]
    clipped = client.get("/v2/instances/pricing/history?instance_fid=A1&start_time=2026-01-01T11:00:00Z", headers=A).json()
    assert [i["costUsd"] for i in clipped["data"]] == [1.0, 0.5]
    first = client.get("/v2/instances/pricing/history?limit=1", headers=A).json()
    assert len(first["data"]) == 1 and first["next_cursor"]
    rest = client.get(f"/v2/instances/pricing/history?limit=10&next_cursor={first['next_cursor']}", headers=A).json()
    assert len(first["data"]) + len(rest["data"]) == 4 and rest["next_cursor"] is None
    bad = client.get("/v2/instances/pricing/history?start_time=2026-01-02T00:00:00Z&end_time=2026-01-01T00:00:00Z", headers=A)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_time_range"
    assert client.get("/v2/instances/pricing/history?bid_fid=x", headers=A).json() == {"data": [], "next_cursor": None}
    assert client.get("/v2/instances/pricing/history?instance_fid=B1", headers=A).status_code == 404


def test_logs_of_the_server_and_of_a_build(client: TestClient, reader: FakeReader) -> None:
    r = client.get("/v1/databases/A1/logs?since=10m&limit=2", headers=A).json()
    assert r["source"] == "server" and r["group"] == "/reflex/servers" and [line["message"] for line in r["lines"]] == ["line 3", "line 4"]
    source, start, limit = reader.reads[-1]
    assert source == LogSource("/reflex/servers", prefix="db-a1/reflex-server") and limit == 2
    assert start == int(NOW.timestamp() * 1000) - 600_000
    for which in ("latest", "b2"):
        r = client.get(f"/v1/databases/A1/logs?build={which}", headers=A).json()
        assert r["source"] == "build b2" and reader.reads[-1][0] == LogSource("/aws/codebuild/reflex-server-build", stream="b2-stream", what="build b2")


@pytest.mark.parametrize(("query", "status", "error"), [
    ("since=forever", 400, "invalid_since"), ("build=nope", 404, "no_logs"), ("build=b1", 404, "no_logs"), ("limit=0", 422, None)])
def test_logs_errors(client: TestClient, query: str, status: int, error: str | None) -> None:
    r = client.get(f"/v1/databases/A1/logs?{query}", headers=A)
    assert r.status_code == status and (error is None or r.json()["error"] == error), r.json()


def test_logs_need_read_access_a_stream_and_a_reader(fake: FakeBackend) -> None:
    assert TestClient(create_app(fake, FakeReader())).get("/v1/databases/A1/logs", headers=B).status_code == 404
    missing = TestClient(create_app(fake, FakeReader(missing=True))).get("/v1/databases/A1/logs", headers=A)
    assert missing.status_code == 404 and missing.json()["error"] == "no_logs"
    none = TestClient(create_app(fake)).get("/v1/databases/A1/logs", headers=A)
    assert none.status_code == 503 and none.json()["error"] == "logs_unavailable"
    no_config = TestClient(create_app(fake, FakeReader())).get("/v1/databases/A2/logs", headers=A)  # no status.instance.logs
    assert no_config.status_code == 404 and "no log configuration" in no_config.json()["message"]


def test_health_check_writes_a_fresh_token_for_a_writer_only(client: TestClient, fake: FakeBackend) -> None:
    r = client.post("/v1/databases/A1/health-check", headers=A)
    assert r.status_code == 200 and r.json()["action"] == "health-check"
    (who, uid, patch), = fake.patches
    assert (who, uid) == ("alice", "A1") and list(patch["spec"]) == ["healthCheckToken"] and patch == r.json()["patch"]
    assert client.post("/v1/databases/B1/health-check", headers=B).status_code == 403  # bob may only read
    assert client.post("/v1/databases/B1/health-check", headers=A).status_code == 404
    assert len(fake.patches) == 1


def test_the_instance_shows_a_check_pending_until_carried_out(client: TestClient, fake: FakeBackend) -> None:
    inst = lambda: client.get("/v1/databases/A1/instance", headers=A).json()["instance"]  # noqa: E731
    assert inst()["healthCheckPending"] is False
    fake.dbs["A1"]["spec"]["healthCheckToken"] = "T2"
    assert inst()["healthCheckPending"] is True
    fake.dbs["A1"]["status"]["appliedTokens"] = {"healthCheck": "T2"}
    fake.dbs["A1"]["status"]["instance"]["healthCheckStarted"] = "2026-01-01T12:59:59Z"
    assert inst()["healthCheckPending"] is False and inst()["healthCheckStarted"] == "2026-01-01T12:59:59Z"
