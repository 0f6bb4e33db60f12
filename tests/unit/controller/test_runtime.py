"""What the runtime keeps of each database: the body without what the operator never reads, and
what is derived from it parsed once per body (the poller does not parse every body every round)."""

from __future__ import annotations

import asyncio
import copy
import json

from reflex_operator.controller import poller
from reflex_operator.controller.poller import poll_once, polled
from reflex_operator.controller.runtime import Entry, slim
from tests.unit.world import World, deliver, resource, settle

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _body(version: str = "1", **meta) -> dict:
    return {
        "metadata": {
            "name": "orders", "namespace": "team-a", "uid": "u-1", "resourceVersion": version,
            "annotations": {LAST_APPLIED: '{"spec": {}}', "team": "payments"},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
            **meta,
        },
        "spec": {"source": {"secretRef": {"name": "db"}}},
        "status": {"phase": "Running"},
    }


def test_slim_drops_only_what_is_never_read_and_leaves_the_given_body_alone():
    body = _body()
    before = copy.deepcopy(body)
    kept = slim(body)
    assert "managedFields" not in kept["metadata"]
    assert kept["metadata"]["annotations"] == {"team": "payments"}
    assert kept["spec"] == body["spec"] and kept["status"] == body["status"]
    assert body == before  # kopf's event object is not changed


def test_slim_of_a_lean_body_is_the_body():
    body = {"metadata": {"name": "orders", "annotations": {"team": "payments"}}, "spec": {}}
    assert slim(body) is body


def test_an_entry_keeps_lean_bodies_from_the_watch_and_from_writes():
    entry = Entry(body=_body("1"))
    assert "managedFields" not in entry.body["metadata"]
    entry.wrote(_body("2"), now=0.0)
    assert "managedFields" not in entry.body["metadata"] and entry.written == "2"
    assert entry.seen(_body("2"), now=1.0)
    assert "managedFields" not in entry.body["metadata"] and entry.written is None
    assert list(entry.delivered) == ["1", "2"]


def test_what_is_derived_is_made_once_per_body():
    entry = Entry(body=_body("1"))
    made = []

    def make(body):
        made.append(body["metadata"]["resourceVersion"])
        return len(made)

    assert entry.derived("x", make) == entry.derived("x", make) == 1
    entry.seen(_body("2"), now=0.0)
    assert entry.derived("x", make) == 2
    entry.body = {**entry.body, "status": {"phase": "Paused"}}  # a new body of the same version
    assert entry.derived("x", make) == 3
    assert made == ["1", "2", "2"]


def test_the_poller_parses_a_body_once_and_sees_a_new_one():
    w = World()
    d, _ = settle(w, resource())
    rt, key = deliver(w, d)
    calls = []
    real = poller.ReflexDatabaseStatus.model_validate

    def counting(value, *a, **kw):
        calls.append(value)
        return real(value, *a, **kw)

    poller.ReflexDatabaseStatus.model_validate = counting  # type: ignore[method-assign]
    try:
        assert asyncio.run(poll_once(rt)) == set()
        assert asyncio.run(poll_once(rt)) == set()
        # Parsed once for both rounds: the parts a poll reads (not the history, notifications or
        # conditions), and the whole status once for the plan's usage.
        assert len(calls) == 2
        assert set(calls[0]) <= {"phase", "instance", "builds", "appliedTokens", "buildIntent", "placement", "identity", "secretArn", "rollout"} and "history" in calls[1]
        assert polled(rt.resources[key], rt.config).status.builds == []  # not kept: only the unfinished ids
        # The watch brings a status the poller must act on (it shows degraded; the server is ok).
        body = copy.deepcopy(w.kube.objects[key])
        body["metadata"]["resourceVersion"] = "v-new"
        body["status"]["instance"]["healthStatus"] = "degraded"
        assert rt.resources[key].seen(body, now=0.0, listing=True)
        assert asyncio.run(poll_once(rt)) == {key}
        assert len(calls) == 4
    finally:
        poller.ReflexDatabaseStatus.model_validate = real  # type: ignore[method-assign]
    assert polled(rt.resources[key], rt.config).status.instance.health_status == "degraded"


def test_the_registry_knows_each_namespace_s_keys_whatever_changes_it():
    from reflex_operator.controller.runtime import Registry

    reg = Registry()
    a, b, c = ("team-a", "orders"), ("team-a", "billing"), ("team-b", "orders")
    reg[a] = Entry(body=_body("1"))
    reg.update({b: Entry(body=_body("2"))})
    reg.setdefault(c, Entry(body=_body("3")))
    assert reg.keys_in("team-a") == [a, b] and reg.keys_in("team-b") == [c]
    reg[a] = Entry(body=_body("4"))  # replaced: still once
    assert reg.keys_in("team-a") == [a, b]
    reg.pop(a)
    assert reg.pop(a, None) is None
    del reg[c]
    assert reg.keys_in("team-a") == [b] and reg.keys_in("team-b") == [] and reg.keys_in("nobody") == []
    reg.clear()
    assert reg.keys_in("team-a") == [] and not reg


def test_an_entry_packs_its_status_and_gives_a_fresh_copy_on_each_read():
    history = [{"at": f"2026-12-01T12:{i:02d}:00Z", "kind": "health", "reason": "Healthy", "to": "ok"} for i in range(50)]
    body = {**_body("1"), "status": {"phase": "Running", "history": history}}
    entry = Entry(body=body)
    assert entry.body == slim(body) and entry.status == body["status"] and entry.meta["resourceVersion"] == "1"
    entry.status["phase"] = "Changed"  # a copy: what is held does not change
    assert entry.status["phase"] == "Running"
    packed = entry._status  # noqa: SLF001 - what is held, against the JSON of the status
    assert packed is not None and len(packed) < len(json.dumps(body["status"])) / 4
    assert Entry(body={"metadata": {"uid": "u"}}).body == {"metadata": {"uid": "u"}}


def test_an_entry_waits_for_its_plan_when_its_status_says_so():
    stalled = {"type": "Stalled", "status": "True", "reason": "PlanLimitExceeded"}
    assert not Entry(body=_body("1")).waiting()
    assert Entry(body={**_body("1"), "status": {"conditions": [stalled]}}).waiting()
