"""The seed routes beyond the instance view: list sorting, filters and the seed's names (004_),
status history (004_), instance status (004_), create (201) and delete (204) as the seed 003_ has
them, notifications marked seen; over the in-memory backend of test_app."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reflex_operator.actions.verbs import NOTIFICATIONS_SEEN
from reflex_operator.restapi.app import create_app
from reflex_operator.restapi.shapes import instance_id
from tests.unit.restapi.test_app import A, B, FakeBackend, db

Obj = dict[str, Any]


@pytest.fixture
def fake() -> FakeBackend:
    f = FakeBackend()
    extra = db("stock", "team-a", "A3")
    extra["spec"]["size"] = "micro"
    extra["status"].update(phase="Paused", plan={"name": "gold"}, placement={"cluster": "east"})
    extra["metadata"]["creationTimestamp"] = "2026-03-01T00:00:00Z"
    f.dbs["A3"] = extra
    f.dbs["A1"]["spec"]["size"] = "large"
    f.dbs["A1"]["status"].update(plan={"name": "gold"}, placement={"cluster": "west"})
    return f


@pytest.fixture
def client(fake: FakeBackend) -> TestClient:
    return TestClient(create_app(fake))


def names(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [d["name"] for d in r.json()["data"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["carts", "orders", "stock"]),
        ("?sort_by=name&sort_dir=desc", ["stock", "orders", "carts"]),
        ("?sort_by=created_at&sort_dir=desc", ["stock", "orders", "carts"]),  # desc reverses ties too
        ("?sort_by=instance_size", ["stock", "carts", "orders"]),  # micro < small (default) < large
        ("?sort_by=phase", ["stock", "carts", "orders"]),  # Paused < Running
        ("?size=large", ["orders"]), ("?instance_type=micro", ["stock"]),
        ("?phase=paused", ["stock"]), ("?phase=Running", ["carts", "orders"]),
        ("?plan=gold", ["orders", "stock"]), ("?cluster=east", ["stock"]), ("?region=west", ["orders"]),
        ("?project=team-a&plan=gold&sort_by=name&sort_dir=desc", ["stock", "orders"]),
    ],
)
def test_list_sorts_and_filters(client: TestClient, query: str, expected: list[str]) -> None:
    assert names(client.get(f"/v1/databases{query}", headers=A)) == expected
    assert names(client.get(f"/v2/instances{query}", headers=A)) == expected


@pytest.mark.parametrize("sort", ["sort_by=name&sort_dir=desc", "sort_by=instance_size", "sort_by=created_at"])
def test_the_seeds_next_cursor_walks_a_sorted_list_once(client: TestClient, sort: str) -> None:
    whole = names(client.get(f"/v1/databases?{sort}", headers=A))
    seen, cursor = [], None
    while True:
        r = client.get(f"/v1/databases?{sort}&limit=1" + (f"&next_cursor={cursor}" if cursor else ""), headers=A)
        seen += names(r)
        cursor = r.json()["next_cursor"]
        assert r.json()["nextCursor"] == cursor  # the earlier name, kept
        if cursor is None:
            break
    assert seen == whole


def test_a_cursor_of_another_sort_is_refused(client: TestClient) -> None:
    cursor = client.get("/v1/databases?limit=1&sort_by=name", headers=A).json()["next_cursor"]
    r = client.get(f"/v1/databases?limit=1&sort_by=created_at&next_cursor={cursor}", headers=A)
    assert r.status_code == 400 and r.json()["error"] == "invalid_cursor"
    assert client.get("/v1/databases?sort_by=colour", headers=A).status_code == 422


def _history(fake: FakeBackend) -> None:
    fake.dbs["A3"]["status"]["history"] = []
    fake.dbs["A2"]["status"]["history"] = [
        {"kind": "phase", "from": "Running", "to": "Paused", "at": "2026-01-01T11:50:00Z", "reason": "Paused"},
        {"kind": "phase", "from": "Deploying", "to": "Running", "at": "2026-01-01T10:30:00Z", "reason": "Running"},
    ]


def test_fleet_history_is_newest_first_across_the_callers_databases(client: TestClient, fake: FakeBackend) -> None:
    _history(fake)
    r = client.get("/v2/instances/status/history", headers=A).json()
    got = [(d["name"], d["at"][11:16], d["kind"]) for d in r["data"]]
    assert got == [("carts", "11:50", "phase"), ("orders", "11:40", "health"), ("orders", "11:30", "health"),
                   ("orders", "11:00", "phase"), ("carts", "10:30", "phase")]
    assert r["next_cursor"] is None and {d["namespace"] for d in r["data"]} == {"team-a"}
    paused = next(d for d in r["data"] if d["to"] == "Paused")
    assert paused["status"] == "STATUS_PAUSED" and paused["from"] == "Running" and paused["instance_fid"] == instance_id("A2")


def test_history_time_range_limit_and_cursor(client: TestClient, fake: FakeBackend) -> None:
    _history(fake)
    q = "/v2/instances/status/history?start_time=2026-01-01T10:30:00Z&end_time=2026-01-01T11:50:00Z"
    whole = [d["at"] for d in client.get(q, headers=A).json()["data"]]
    assert whole == ["2026-01-01T11:40:00Z", "2026-01-01T11:30:00Z", "2026-01-01T11:00:00Z", "2026-01-01T10:30:00Z"]
    seen, cursor = [], None
    while True:
        r = client.get(q + "&limit=3" + (f"&next_cursor={cursor}" if cursor else ""), headers=A).json()
        seen += [d["at"] for d in r["data"]]
        if (cursor := r["next_cursor"]) is None:
            break
    assert seen == whole
    assert client.get(q.replace("10:30", "12:30"), headers=A).status_code == 400  # end before start


def test_one_instances_history_by_either_id_and_never_anothers(client: TestClient, fake: FakeBackend) -> None:
    _history(fake)
    one = client.get("/v1/databases/A2/history", headers=A).json()["data"]
    assert [d["to"] for d in one] == ["Paused", "Running"]
    assert client.get(f"/v2/instances/status/history?instance_fid={instance_id('A2')}", headers=A).json()["data"] == one
    assert client.get("/v1/databases/B1/history", headers=A).status_code == 404
    assert client.get("/v2/instances/status/history?project=team-b", headers=A).status_code == 403


def test_instance_status_in_the_seeds_words(client: TestClient, fake: FakeBackend) -> None:
    fake.dbs["A2"]["status"].update(phase="Terminated", history=[{"kind": "phase", "from": "Terminating", "to": "Terminated", "at": "2026-01-02T00:00:00Z"}])
    r = client.get(f"/v2/instances/{instance_id('A2')}/status", headers=A).json()
    assert r == {"fid": instance_id("A2"), "name": "carts", "status": "STATUS_TERMINATED", "bid": None, "reservation": None, "end_time": "2026-01-02T00:00:00Z"}
    assert client.get("/v2/instances/A1/status", headers=A).json()["status"] == "STATUS_RUNNING"


CREATE = {"name": "fresh", "namespace": "team-a", "source": {"secretRef": {"name": "fresh-src"}}, "instanceSize": "micro", "syncInterval": 120}


def test_create_is_201_with_the_list_items_shape(client: TestClient, fake: FakeBackend) -> None:
    r = client.post("/v1/databases", headers=A, json=CREATE)
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "new-fresh" and r.json()["instanceSize"] == "micro" and r.json()["lifecycle"]["phase"] == "Pending"
    (who, obj), = fake.created
    assert who == "alice" and obj["kind"] == "ReflexDatabase" and obj["metadata"] == {"name": "fresh", "namespace": "team-a"}
    assert obj["spec"] == {"source": {"secretRef": {"name": "fresh-src"}}, "size": "micro", "sync": {"intervalSeconds": 120}}


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [(B, {**CREATE, "namespace": "team-b"}, 403), (A, {**CREATE, "namespace": "team-b"}, 403),
     (A, {**CREATE, "safetyNet": 3}, 422), (A, {"name": "x", "namespace": "team-a"}, 422)],
)
def test_create_refused_writes_nothing(client: TestClient, fake: FakeBackend, headers: dict[str, str], body: Obj, status: int) -> None:
    r = client.post("/v1/databases", headers=headers, json=body)
    assert r.status_code == status and set(r.json()) == {"error", "message"} and fake.created == []


def test_delete_is_204_for_a_writer_and_refused_otherwise(client: TestClient, fake: FakeBackend) -> None:
    assert client.delete("/v1/databases/B1", headers=B).status_code == 403
    assert client.delete("/v1/databases/B1", headers=A).status_code == 404
    fake.dbs["A3"]["status"]["allowedActions"]["delete"] = {"allowed": False, "reason": "not now"}
    assert client.delete("/v1/databases/A3", headers=A).status_code == 409
    r = client.delete("/v1/databases/A2", headers=A)
    assert r.status_code == 204 and r.content == b"" and fake.deleted == ["A2"]


def test_notifications_marked_seen_write_the_annotation(client: TestClient, fake: FakeBackend) -> None:
    r = client.post("/v1/databases/A1/notifications/seen", headers=A, json={"until": "2026-01-01T11:45:00Z"})
    assert r.status_code == 200
    assert fake.patches == [("alice", "A1", {"metadata": {"annotations": {NOTIFICATIONS_SEEN: "2026-01-01T11:45:00Z"}}})]
    assert client.post("/v1/databases/A1/notifications/seen", headers=A).status_code == 200  # no body: up to now
    assert client.post("/v1/databases/B1/notifications/seen", headers=B).status_code == 403
