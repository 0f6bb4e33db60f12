"""The API's routes over an in-memory backend: who sees what, what each action writes, the batch
answer per id, the error shape."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reflex_operator.restapi.app import ApiError, User, create_app, selector
from reflex_operator.restapi.shapes import instance_id
from reflex_operator.restapi.shapes import page

FIXTURE = Path(__file__).parent.parent / "fixtures" / "plugin_status.json"
Obj = dict[str, Any]


def db(name: str, ns: str, uid: str, **labels: str) -> Obj:
    obj = json.loads(FIXTURE.read_text())
    obj["metadata"].update(name=name, namespace=ns, uid=uid, labels=labels, creationTimestamp="2026-01-01T09:00:00Z")
    return obj


class FakeBackend:
    """Tokens a/b; alice may do everything in team-a, bob only read team-b."""

    def __init__(self) -> None:
        self.dbs = {o["metadata"]["uid"]: o for o in (db("orders", "team-a", "A1", tier="gold"), db("carts", "team-a", "A2"), db("ledger", "team-b", "B1"))}
        self.patches: list[tuple[str, str, Obj]] = []
        self.deleted: list[str] = []
        self.failing: dict[str, ApiError] = {}  # uid -> what the API server answers its write
        self.plan_bodies: dict[str, Obj] = {}
        self.created: list[tuple[str, Obj]] = []

    def authenticate(self, token: str) -> User | None:
        return {"a": User("alice"), "b": User("bob")}.get(token)

    def allowed(self, user: User, verb: str, namespace: str | None) -> bool:
        if user.name == "alice":
            return namespace == "team-a"
        return namespace == "team-b" and verb in ("get", "list")

    def objects(self) -> list[Obj]:
        return list(self.dbs.values())

    def by_uid(self, uid: str) -> Obj | None:
        return self.dbs.get(uid)

    def plans(self) -> dict[str, Obj]:
        return self.plan_bodies

    def patch(self, user: User, obj: Obj, patch: Obj) -> Obj:
        if (e := self.failing.get(obj["metadata"]["uid"])) is not None:
            raise e
        self.patches.append((user.name, obj["metadata"]["uid"], patch))
        return obj

    def create(self, user: User, obj: Obj) -> Obj:
        made = copy.deepcopy(obj)
        made["metadata"].update(uid=f"new-{made['metadata']['name']}", creationTimestamp="2026-02-01T00:00:00Z")
        self.created.append((user.name, obj))
        return made

    def delete(self, user: User, obj: Obj) -> None:
        self.deleted.append(obj["metadata"]["uid"])


@pytest.fixture
def fake() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def client(fake: FakeBackend) -> TestClient:
    return TestClient(create_app(fake))


A, B = {"Authorization": "Bearer a"}, {"Authorization": "Bearer b"}


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [({}, 401, "unauthenticated"), ({"Authorization": "Bearer nope"}, 401, "unauthenticated"), ({"Authorization": "Basic x"}, 401, "unauthenticated")],
)
def test_no_or_bad_token_is_401_in_the_seed_error_shape(client: TestClient, headers: dict[str, str], status: int, error: str) -> None:
    r = client.get("/v1/databases/A1/instance", headers=headers)
    assert (r.status_code, r.json()["error"]) == (status, error) and r.json()["message"]


@pytest.mark.parametrize(("headers", "uid", "status"), [(A, "A1", 200), (A, "B1", 404), (A, "nope", 404), (B, "B1", 200), (B, "A1", 404)])
def test_a_database_the_caller_cannot_read_is_404_like_an_unknown_id(client: TestClient, headers: dict[str, str], uid: str, status: int) -> None:
    r = client.get(f"/v1/databases/{uid}/instance", headers=headers)
    assert r.status_code == status
    if status == 404:
        assert r.json() == {"error": "not_found", "message": f"no database {uid}"}


def test_list_shows_only_the_callers_databases_with_filters(client: TestClient) -> None:
    ids = lambda r: [d["id"] for d in r.json()["data"]]  # noqa: E731
    assert ids(client.get("/v1/databases", headers=A)) == ["A2", "A1"]  # namespace/name order
    assert ids(client.get("/v1/databases", headers=B)) == ["B1"]
    assert ids(client.get("/v1/databases?labelSelector=tier%3Dgold", headers=A)) == ["A1"]
    assert client.get("/v1/databases?namespace=team-b", headers=A).status_code == 403
    assert client.get("/v1/databases?limit=101", headers=A).json()["error"] == "invalid_request"


def test_pagination_walks_every_database_once(client: TestClient) -> None:
    first = client.get("/v1/databases?limit=1", headers=A).json()
    second = client.get(f"/v1/databases?limit=1&next_cursor={first['nextCursor']}", headers=A).json()
    assert [d["id"] for d in first["data"] + second["data"]] == ["A2", "A1"] and second["nextCursor"] is None
    assert client.get("/v1/databases?next_cursor=%%%", headers=A).status_code == 400


def test_builds_newest_first_with_the_active_build(client: TestClient) -> None:
    r = client.get("/v1/databases/A1/builds", headers=A).json()
    assert [b["id"] for b in r["builds"]] == ["b2", "b1", "b0"] and r["activeBuildId"] == "b2"


@pytest.mark.parametrize(
    ("path", "body", "status", "patch"),
    [
        ("/v1/databases/A1/actions/pause", None, 200, {"spec": {"paused": True}}),
        ("/v1/databases/A1/actions/resume", None, 409, None),  # allowedActions: not paused
        ("/v1/databases/A1/actions/provision", None, 409, None),
        ("/v1/databases/A1/actions/pause-replication", None, 200, {"spec": {"sync": {"paused": True}}}),
        ("/v1/databases/A1/actions/resize?size=large", None, 200, {"spec": {"size": "large"}}),
        ("/v1/databases/A1/actions/resize", None, 400, None),
        ("/v1/databases/A1/redeploy", {"buildId": "b0"}, 200, {"spec": {"buildId": "b0"}}),
        ("/v1/databases/A1/redeploy", {"buildId": "b1"}, 409, None),  # not deployable
        ("/v1/databases/A1/actions/explode", None, 404, None),
        ("/v1/databases/B1/actions/pause", None, 404, None),
    ],
)
def test_actions_write_the_plugins_patch_or_refuse_writing_nothing(
    client: TestClient, fake: FakeBackend, path: str, body: Obj | None, status: int, patch: Obj | None
) -> None:
    r = client.post(path, headers=A, json=body)
    assert r.status_code == status, r.text
    assert fake.patches == ([("alice", "A1", patch)] if patch else [])
    if status != 200:
        assert set(r.json()) == {"error", "message"}


@pytest.mark.parametrize(
    ("path", "body", "status", "patch"),
    [
        ("/v1/databases/A1/actions/reconfigure", None, 200, "restart"),  # no body: a rolling restart, as before
        ("/v1/databases/A1/actions/reconfigure", {"logLevel": "debug", "syncInterval": 90}, 200,
         {"spec": {"logLevel": "debug", "sync": {"intervalSeconds": 90}}}),
        ("/v1/databases/A1/reconfigure", {"syncMode": "stream", "safetyNet": 0.1}, 200, {"spec": {"safetyNet": 0.1, "sync": {"mode": "stream"}}}),
        ("/v1/databases/A1/reconfigure", {"instanceSize": "large"}, 200, {"spec": {"size": "large"}}),
        ("/v1/databases/A1/reconfigure", {"safetyNet": 2}, 422, None),  # the spec's bound
        ("/v1/databases/A1/reconfigure", {"syncInterval": 0}, 422, None),
        ("/v1/databases/A1/reconfigure", {"logLevel": "loud"}, 422, None),
        ("/v1/databases/A1/reconfigure", {}, 422, None),
        ("/v1/databases/A1/actions/pause", {"logLevel": "debug"}, 400, None),
    ],
)
def test_reconfigure_with_a_body_writes_the_new_configuration(
    client: TestClient, fake: FakeBackend, path: str, body: Obj | None, status: int, patch: Obj | str | None
) -> None:
    r = client.post(path, headers=A, json=body)
    assert r.status_code == status, r.text
    if patch == "restart":
        assert list(fake.patches[0][2]["spec"]) == ["restartToken"]
    else:
        assert fake.patches == ([("alice", "A1", patch)] if patch else [])


@pytest.mark.parametrize(
    ("refuse", "body", "reason"),
    [("reconfigure", {"logLevel": "debug"}, "no reconfigure now"), ("resize", {"instanceSize": "large"}, "no resize now"),
     ("resize", {"logLevel": "debug"}, None)],
)
def test_reconfigure_is_refused_as_allowed_actions_say(client: TestClient, fake: FakeBackend, refuse: str, body: Obj, reason: str | None) -> None:
    fake.dbs["A1"] = copy.deepcopy(fake.dbs["A1"])
    fake.dbs["A1"]["status"]["allowedActions"][refuse] = {"allowed": False, "reason": f"no {refuse} now"}
    r = client.post("/v1/databases/A1/reconfigure", headers=A, json=body)
    if reason is None:
        assert r.status_code == 200 and fake.patches
    else:
        assert r.status_code == 409 and r.json() == {"error": "action_not_allowed", "message": reason} and fake.patches == []


def test_a_reader_may_not_write(client: TestClient, fake: FakeBackend) -> None:
    r = client.post("/v1/databases/B1/actions/pause", headers=B)
    assert r.status_code == 403 and fake.patches == []


def test_delete_deletes(client: TestClient, fake: FakeBackend) -> None:
    assert client.post("/v1/databases/A2/actions/delete", headers=A).status_code == 200 and fake.deleted == ["A2"]


def test_one_shot_actions_write_a_fresh_token(client: TestClient, fake: FakeBackend) -> None:
    client.post("/v1/databases/A1/actions/rebuild", headers=A)
    client.post("/v1/databases/A1/actions/rebuild", headers=A)
    tokens = [p["spec"]["rebuildToken"] for _, _, p in fake.patches]
    assert len(set(tokens)) == 2 and all(tokens)


def _paused(fake: FakeBackend, uid: str) -> None:
    fake.dbs[uid] = copy.deepcopy(fake.dbs[uid])
    fake.dbs[uid]["status"]["phase"] = "Paused"
    fake.dbs[uid]["status"]["allowedActions"]["pause"] = {"allowed": False, "reason": "the instance is already paused"}


def test_batch_answers_for_every_id_in_the_seeds_words(client: TestClient, fake: FakeBackend) -> None:
    _paused(fake, "A2")
    r = client.patch("/v2/instances", headers=A, json={"instances": ["A1", "A2", "B1", "zzz"], "status": "STATUS_PAUSED"})
    assert r.status_code == 200, r.text
    got = r.json()["instances"]
    assert got["A1"] == {"status": "STATUS_STOPPING", "error": None, "message": None}
    assert got["A2"]["status"] == "STATUS_PAUSED" and got["A2"]["error"] == "action_not_allowed"
    assert got["B1"]["error"] == got["zzz"]["error"] == "not_found"
    assert r.json()["databases"] is None
    assert fake.patches == [("alice", "A1", {"spec": {"paused": True}})]


def test_batch_start_is_confirmed_and_the_instance_id_works_too(client: TestClient, fake: FakeBackend) -> None:
    _paused(fake, "A2")
    fake.dbs["A2"]["status"]["allowedActions"]["resume"] = {"allowed": True, "mode": "immediate"}
    fake.dbs["A2"]["spec"]["paused"] = True
    iid = instance_id("A2")
    r = client.patch("/v2/instances", headers=A, json={"instances": [iid, "A1"], "status": "STATUS_RUNNING"})
    got = r.json()["instances"]
    assert got[iid]["status"] == "STATUS_CONFIRMED"
    assert got["A1"]["status"] == "STATUS_RUNNING" and got["A1"]["error"] == "action_not_allowed"  # prior, unchanged
    assert fake.patches == [("alice", "A2", {"spec": {"paused": False}})]


def test_one_failed_write_answers_that_id_and_the_others_still_happen(client: TestClient, fake: FakeBackend) -> None:
    fake.dbs["A3"] = db("stock", "team-a", "A3")
    fake.failing["A1"] = ApiError(422, "invalid", "admission webhook denied the request")
    r = client.patch("/v2/instances", headers=A, json={"instances": ["A2", "A1", "A3"], "status": "STATUS_PAUSED"})
    assert r.status_code == 200
    got = r.json()["instances"]
    assert got["A1"] == {"status": "STATUS_RUNNING", "error": "invalid", "message": "admission webhook denied the request"}
    assert got["A2"]["status"] == got["A3"]["status"] == "STATUS_STOPPING"
    assert [uid for _, uid, _ in fake.patches] == ["A2", "A3"]


def test_the_earlier_ids_form_is_an_alias_answered_in_both_vocabularies(client: TestClient, fake: FakeBackend) -> None:
    r = client.patch("/v1/databases", headers=A, json={"ids": ["A1", "nope"], "status": "paused"})
    body = r.json()
    assert body["databases"]["A1"]["status"] == "stopping" and body["instances"]["A1"]["status"] == "STATUS_STOPPING"
    assert body["databases"]["nope"]["status"] == "unknown" and body["instances"]["nope"]["status"] == "STATUS_UNKNOWN"


@pytest.mark.parametrize(
    "body",
    [{"status": "STATUS_PAUSED"}, {"instances": ["A1"], "ids": ["A1"], "status": "STATUS_PAUSED"},
     {"instances": [], "status": "STATUS_PAUSED"}, {"instances": ["A1"], "status": "STATUS_GONE"}],
)
def test_a_malformed_batch_is_422_and_writes_nothing(client: TestClient, fake: FakeBackend, body: Obj) -> None:
    r = client.patch("/v2/instances", headers=A, json=body)
    assert r.status_code == 422 and r.json()["error"] == "invalid_request" and fake.patches == []


def test_openapi_is_served_from_the_models(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert {"/v1/databases", "/v1/databases/{id}/instance", "/v1/databases/{id}/builds", "/v1/databases/{id}/redeploy"} <= set(doc["paths"])
    assert "InstanceResponse" in doc["components"]["schemas"]


@pytest.mark.parametrize(
    ("text", "labels", "match"),
    [("", {}, True), ("a=b", {"a": "b"}, True), ("a=b", {"a": "c"}, False), ("a!=b", {}, True), ("a", {}, False), ("!a", {}, True), ("a==b,c", {"a": "b", "c": ""}, True)],
)
def test_label_selector(text: str, labels: dict[str, str], match: bool) -> None:
    assert selector(text)({"metadata": {"labels": labels}}) is match


def test_label_selector_rejects_an_empty_key() -> None:
    with pytest.raises(ValueError, match="malformed"):
        selector("=b")


@pytest.mark.parametrize("limit", [0, 101])
def test_page_limit_is_1_to_100(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        page([], limit, None)
