"""kubectl reflex: which patch each verb makes, when allowedActions refuses it, what --wait waits
for; and the command itself over a fake cluster (a refused database gets no write)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from reflex_operator.api.models import Action
from reflex_operator.plugin import cli as plugin_main
from reflex_operator.actions import verbs
from reflex_operator.plugin.cluster import Changed

ALLOWED = {a.value: {"allowed": True, "mode": "immediate"} for a in Action}


def db(name: str = "orders", spec: dict | None = None, status: dict | None = None, refuse: dict[str, str] | None = None) -> dict[str, Any]:
    allowed = {**ALLOWED, **{a: {"allowed": False, "reason": r} for a, r in (refuse or {}).items()}}
    st = {"observedGeneration": 1, "phase": "Running", "allowedActions": allowed,
          "conditions": [{"type": "Ready", "status": "True", "reason": "Running", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
          "builds": [{"id": "b1", "status": "succeeded", "deployable": True}, {"id": "b0", "status": "failed", "deployable": False}],
          "activeBuildId": "b1", **(status or {})}
    return {"metadata": {"name": name, "namespace": "team-a", "generation": 1, "resourceVersion": "7"},
            "spec": {"source": {"secretRef": {"name": "s"}, "schemas": ["public"]}, **(spec or {})}, "status": st}


@pytest.mark.parametrize(
    ("verb", "arg", "patch"),
    [
        ("pause", None, {"spec": {"paused": True}}),
        ("resume", None, {"spec": {"paused": False}}),
        ("rebuild", None, {"spec": {"rebuildToken": "T1"}}),
        ("reload", None, {"spec": {"reloadToken": "T1"}}),
        ("restart", None, {"spec": {"restartToken": "T1"}}),
        ("redeploy", "b1", {"spec": {"buildId": "b1"}}),
        ("resize", "large", {"spec": {"size": "large"}}),
        ("terminate", None, {"spec": {"terminated": True}}),
        ("provision", None, {"spec": {"terminated": False}}),
        ("pause-replication", None, {"spec": {"sync": {"paused": True}}}),
        ("resume-replication", None, {"spec": {"sync": {"paused": False}}}),
    ],
)
def test_each_verb_is_the_cookbook_patch(verb: str, arg: str | None, patch: dict) -> None:
    p = verbs.change(verb, db(), arg, token="T1")
    assert p.refused is None and p.patch == patch


def test_cancel_puts_the_spec_back_to_what_is_deployed() -> None:
    deployed = {"instanceSize": "small", "taskCpu": 512, "taskMemoryMb": 1024, "syncMode": "poll", "syncInterval": 60,
                "logLevel": "info", "safetyNet": 0.25}
    obj = db(spec={"size": "large", "logLevel": "info", "safetyNet": 0.25, "sync": {"mode": "poll", "intervalSeconds": 60}, "rebuildToken": "new"},
             status={"deployedConfig": deployed, "appliedTokens": {"rebuild": "old"}})
    assert verbs.change("cancel", obj).patch == {"spec": {"size": "small", "rebuildToken": "old"}}


@pytest.mark.parametrize(
    ("verb", "arg", "obj", "why"),
    [
        ("pause", None, db(refuse={"pause": "the instance is already paused"}), "the instance is already paused"),
        ("terminate", None, db(refuse={"terminate": "already terminated"}), "already terminated"),
        ("redeploy", "nope", db(), "build nope is not in status.builds"),
        ("redeploy", "b0", db(), "build b0 is not deployable"),
        ("restart", None, db(refuse={"reconfigure": "being deleted"}), "being deleted"),
        ("resume", None, {**db(), "metadata": {**db()["metadata"], "deletionTimestamp": "x"}}, "the database is being deleted"),
    ],
)
def test_refusals(verb: str, arg: str | None, obj: dict, why: str) -> None:
    p = verbs.change(verb, obj, arg, token="T")
    assert p.refused == why and p.patch == {}


def test_nothing_to_change_is_an_empty_patch_and_queued_is_said() -> None:
    assert verbs.change("resize", db(spec={"size": "large"}), "large").patch == {}
    queued = db(status={"allowedActions": {**ALLOWED, "resize": {"allowed": True, "mode": "queued", "reason": "waits for the build"}}})
    assert verbs.change("resize", queued, "large").queued == "waits for the build"


def _at(obj: dict, **status: Any) -> dict:
    return {**obj, "status": {**obj["status"], **status}}


@pytest.mark.parametrize(
    ("verb", "arg", "status", "done"),
    [
        ("pause", None, {"observedGeneration": 2, "phase": "Paused"}, True),
        ("pause", None, {"observedGeneration": 1, "phase": "Paused"}, False),  # not yet seen by the operator
        ("pause", None, {"observedGeneration": 2, "phase": "Running"}, False),
        ("resume", None, {"observedGeneration": 2, "phase": "Running"}, True),
        ("terminate", None, {"observedGeneration": 2, "phase": "Terminated", "conditions": []}, True),
        ("rebuild", None, {"observedGeneration": 2, "appliedTokens": {"rebuild": "T"}}, True),
        ("rebuild", None, {"observedGeneration": 2, "appliedTokens": {"rebuild": "old"}}, False),
        ("reload", None, {"observedGeneration": 2, "appliedTokens": {"reload": "T"}}, True),
        ("redeploy", "b1", {"observedGeneration": 2, "activeBuildId": "b1"}, True),
        ("pause-replication", None, {"observedGeneration": 2, "instance": {"replication": "paused"}}, True),
        ("resume-replication", None, {"observedGeneration": 2, "instance": {"replication": "paused"}}, False),
    ],
)
def test_what_wait_waits_for(verb: str, arg: str | None, status: dict, done: bool) -> None:
    p = verbs.change(verb, db(), arg, token="T")
    assert verbs.progress(_at(db(), **status), 2, p).done is done


def test_a_stall_ends_the_wait() -> None:
    p = verbs.change("rebuild", db(), token="T")
    stalled = _at(db(), observedGeneration=2, conditions=[{"type": "Stalled", "status": "True", "reason": "BuildFailed", "message": "boom"}])
    assert verbs.progress(stalled, 2, p).stalled == "BuildFailed: boom"


class FakeCluster:
    def __init__(self, objs: list[dict], conflicts: int = 0) -> None:
        self.objs = {o["metadata"]["name"]: o for o in objs}
        self.namespace = "team-a"
        self.patches: list[tuple[str, dict, bool]] = []
        self.conflicts = conflicts

    def get(self, name: str, namespace: str | None = None) -> dict:
        return self.objs[name]

    def list(self, selector: str | None, all_namespaces: bool) -> list[dict]:
        return list(self.objs.values())

    def patch(self, obj: dict, body: dict, dry_run: bool = False, precondition: bool = True) -> dict:
        if self.conflicts:
            self.conflicts -= 1
            raise Changed("changed")
        self.patches.append((obj["metadata"]["name"], body, dry_run))
        return {**obj, "metadata": {**obj["metadata"], "generation": 2}}


def run(cluster: FakeCluster, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    args = plugin_main.build_parser().parse_args(list(argv))
    code = args.func(args, cluster, plugin_main._Io(out, io.StringIO(), plugin_main.render.Paint()))
    return code, out.getvalue()


def test_a_fleet_refused_ones_get_no_write_and_the_exit_status_says_so() -> None:
    cluster = FakeCluster([db("a"), db("b", refuse={"pause": "already paused"}), db("c")])
    code, out = run(cluster, "pause", "--all")
    assert code == 1
    assert out.splitlines() == [
        'a: patched: {"spec":{"paused":true}}',
        "b: refused: already paused",
        'c: patched: {"spec":{"paused":true}}',
        "3 databases: 2 patched, 1 refused",
    ]
    assert [name for name, _, _ in cluster.patches] == ["a", "c"]


def test_dry_run_json_and_conflict_retry() -> None:
    cluster = FakeCluster([db("a")], conflicts=1)
    code, out = run(cluster, "resize", "a", "large", "--dry-run", "-o", "json")
    assert code == 0 and json.loads(out) == [{"namespace": "team-a", "name": "a", "result": "would patch", "detail": '{"spec":{"size":"large"}}'}]
    assert cluster.patches == [("a", {"spec": {"size": "large"}}, True)]


def test_a_name_or_a_selection_not_both() -> None:
    with pytest.raises(plugin_main.PluginError):
        run(FakeCluster([db("a")]), "pause", "a", "--all")
