"""Health-gated rollout waves against the real stack: a new default server version
(REFLEX_DEFAULT_SERVER_VERSION, the operator restarted with it) moves a fleet in waves; a version
whose canary is unhealthy (the simulator's mode by image) or whose build fails (the emulator's
build_fail fault) halts with every other database Ready on its old build; pause, resume and abort;
and an operator killed in the middle of a rollout resumes it, nothing doubled.

Each test's operator watches its own namespace, so its ReflexRollouts are named
``<namespace>.server-<version>`` and labelled with that scope: tests never share one. The facts
asserted are recorded ones (the waves' start and settle times, each database's builds), never the
time something took."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from reflex_dev._proc import wait_until
from reflex_operator.api.models import ReflexDatabaseSpec
from reflex_operator.api.rollout import rollout_name
from reflex_operator.database import identity
from tests.e2e.helpers import apply, manifest, plugin, status
from tests.fixtures.operator import condition

pytestmark = pytest.mark.e2e

OLD = "v1.4.0"  # the operator's default version in the e2e stack
PACE = {"REFLEX_ROLLOUT_CANARY": "1", "REFLEX_ROLLOUT_GROWTH": "2", "REFLEX_ROLLOUT_MAX_IN_FLIGHT": "3", "REFLEX_ROLLOUT_SOAK_SECONDS": "1"}


def _names(n: int) -> list[str]:
    return [f"db-{i}" for i in range(n)]


def _fleet(operator: Any, kube: Any, namespace: str, n: int) -> list[str]:
    """n databases, Ready on the old version."""
    names = _names(n)
    for i, name in enumerate(names):
        apply(kube, namespace, manifest(name, with_secret=i == 0))
    for name in names:
        operator.wait_ready(name, timeout=120)
    return names


def _version(namespace: str, tag: str) -> str:
    return f"v2.0.0-{tag}-{namespace[-6:]}"


def _rollout(kube: Any, name: str) -> dict[str, Any] | None:
    proc = kube.kubectl("get", "reflexrollout", name, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def _wait_rollout(operator: Any, kube: Any, name: str, predicate, what: str, timeout: float = 180) -> dict[str, Any]:
    last: dict[str, Any] = {}

    def check() -> bool:
        nonlocal last
        last = _rollout(kube, name) or {}
        return bool(last) and bool(predicate(last))

    try:
        wait_until(check, timeout, interval=0.3, what=what)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\nrollout: {json.dumps(last.get('status'), indent=1)[:4000]}\n{operator.log()[-4000:]}") from None
    return last


def _builds_of(obj: dict[str, Any], version: str) -> list[dict[str, Any]]:
    return [b for b in status(obj).get("builds", []) if b.get("serverVersion") == version]


def _running_version(obj: dict[str, Any]) -> str | None:
    st = status(obj)
    return next((b.get("serverVersion") for b in st.get("builds", []) if b["id"] == st.get("activeBuildId")), None)


def _image_hash(version: str) -> str:
    """The input hash in the image URI of a build of ``version`` (the e2e manifests' schemas)."""
    spec = ReflexDatabaseSpec.model_validate({"source": {"secretRef": {"name": "src"}}})
    return identity.build_inputs(spec, version).hash


def _moved_into(obj: dict[str, Any], version: str) -> bool:
    member = status(obj).get("rollout") or {}
    return member.get("serverVersion") == version and member.get("state") == "Healthy" and condition(obj, "Ready") == "True"


def _restart_with(operator: Any, version: str, **pace: str) -> None:
    operator.stop()
    operator.start(REFLEX_DEFAULT_SERVER_VERSION=version, **{**PACE, **pace})


def _ts(text: str | None) -> datetime:
    assert text, "no time recorded"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_new_default_version_moves_the_fleet_in_waves(operator, kube, aws, simulator, namespace):
    names = _fleet(operator, kube, namespace, 6)
    new = _version(namespace, "good")
    name = rollout_name(new, namespace)
    _restart_with(operator, new)
    done = _wait_rollout(operator, kube, name, lambda r: (r.get("status") or {}).get("phase") == "Complete", "the rollout to complete")

    st = done["status"]
    waves = [w["databases"] for w in st["waves"]]
    assert waves == [[f"{namespace}/db-0"], [f"{namespace}/db-1", f"{namespace}/db-2"], [f"{namespace}/db-3", f"{namespace}/db-4", f"{namespace}/db-5"]]
    assert st["moved"] == st["total"] == 6 and st["waiting"] == 0
    for before, after in zip(st["waves"], st["waves"][1:]):
        assert _ts(after["startedAt"]) >= _ts(before["settledAt"])  # a wave starts only once the one before settled
    canary_started = _ts(st["waves"][0]["startedAt"]).replace(microsecond=0)
    shared = set()
    for db in names:
        obj = operator.wait(db, lambda o: _moved_into(o, new), what=f"{db} on {new}")
        [build] = _builds_of(obj, new)  # the fleet's one build of the new version, none before the canary's wave
        assert _ts(build["startedAt"]) >= canary_started
        shared.add(build["codebuildId"])
        assert _running_version(obj) == new and status(obj)["phase"] == "Running"
    assert len(shared) == 1  # one build per input set, shared by every wave
    out = kube.kubectl("get", "reflexrollouts", name).stdout
    assert "Complete" in out and new in out
    listed = plugin(kube, namespace, "rollout", "list")
    assert listed.returncode == 0 and name in listed.stdout and "Complete" in listed.stdout
    shown = plugin(kube, namespace, "rollout", "status", name)
    assert shown.returncode == 0 and "Waves:" in shown.stdout and f"{namespace}/db-5" in shown.stdout
    assert f'reflexdb_rollout_databases{{rollout="{name}",state="moved"}} 6.0' in operator.metrics()


def _task_definition(aws: Any, obj: dict[str, Any]) -> dict[str, Any]:
    return aws.ecs.describe_task_definition(taskDefinition=status(obj)["instance"]["taskDefinitionArn"])["taskDefinition"]


def test_an_operator_upgrade_that_changes_every_task_definition_moves_the_fleet_in_waves(operator, kube, aws, simulator, namespace):
    """An operator upgrade or settings change that changes what every task definition holds (here
    the task role) is a fleet change of its own, on the version the fleet runs: its ReflexRollout
    (``...-template-<mark>``) moves the databases in waves, and nothing is rebuilt."""
    names = _fleet(operator, kube, namespace, 4)
    role = f"arn:aws:iam::123456789012:role/reflex-task-{namespace[-6:]}"
    operator.stop()
    operator.start(REFLEX_TASK_ROLE_ARN=role, **PACE)
    held = operator.wait("db-3", lambda o: "-template-" in ((status(o).get("rollout") or {}).get("name") or ""), what="db-3 held for the new template")
    name = status(held)["rollout"]["name"]
    assert name.startswith(rollout_name(OLD, namespace) + "-template-")
    if status(held)["rollout"]["state"] == "Held":  # not admitted yet: it still runs its old task definition, Ready
        assert _task_definition(aws, held).get("taskRoleArn") != role and condition(held, "Ready") == "True"
    done = _wait_rollout(operator, kube, name, lambda r: (r.get("status") or {}).get("phase") == "Complete", "the template rollout to complete")
    assert done["spec"]["serverVersion"] == OLD and done["spec"]["template"]
    assert [w["databases"] for w in done["status"]["waves"]] == [[f"{namespace}/db-0"], [f"{namespace}/db-1", f"{namespace}/db-2"], [f"{namespace}/db-3"]]
    for db in names:
        obj = operator.wait(db, lambda o: _moved_into(o, OLD), what=f"{db} on the new template")
        td = _task_definition(aws, obj)
        env = {e["name"]: e["value"] for e in td["containerDefinitions"][0]["environment"]}
        assert td.get("taskRoleArn") == role and env["REFLEX_TEMPLATE"] == done["spec"]["template"]
        assert len(_builds_of(obj, OLD)) == 1 and _running_version(obj) == OLD  # nothing rebuilt
    assert _rollout(kube, rollout_name(OLD, namespace)) is None  # no version moved


def _halted_with_the_rest_ready(operator, kube, namespace, names, bad, reason) -> dict[str, Any]:
    name = rollout_name(bad, namespace)
    halted = _wait_rollout(operator, kube, name, lambda r: (r.get("status") or {}).get("phase") == "Halted", "the rollout to halt")
    st = halted["status"]
    assert st["reason"] == reason and f"{namespace}/db-0" in st["message"]
    assert [w["databases"] for w in st["waves"]] == [[f"{namespace}/db-0"]]  # the canary only
    assert next(c for c in st["conditions"] if c["type"] == "Halted")["status"] == "True"
    for db in names[1:]:
        obj = operator.wait(db, lambda o: (status(o).get("rollout") or {}).get("state") == "Held" and "halted" in (status(o).get("rollout") or {}).get("message", ""),
                            what=f"{db} held by the halt")
        assert condition(obj, "Ready") == "True" and status(obj)["phase"] == "Running"
        assert _running_version(obj) == OLD and _builds_of(obj, bad) == []  # its service was not updated, nothing built
    events = kube.kubectl("get", "events", "-n", "default", "--field-selector", f"involvedObject.name={name}", "-o", "json").stdout
    assert reason in [e["reason"] for e in json.loads(events)["items"]]
    assert f'reflexdb_rollout_halted{{reason="{reason}",rollout="{name}"}} 1.0' in operator.metrics()
    return halted


def test_an_unhealthy_canary_halts_with_every_other_database_ready_on_its_build(operator, kube, aws, simulator, namespace):
    names = _fleet(operator, kube, namespace, 6)
    bad = _version(namespace, "sick")
    simulator.set_image_mode(_image_hash(bad), "degraded")  # a server of this version reports itself degraded
    try:
        _restart_with(operator, bad)
        _halted_with_the_rest_ready(operator, kube, namespace, names, bad, "RolloutUnhealthy")
        canary = operator.wait("db-0", lambda o: (status(o).get("rollout") or {}).get("state") == "Unhealthy", what="the canary unhealthy")
        assert _running_version(canary) == bad  # the canary alone moved
        # Abort: the others keep their build for good (a resume would halt again: the canary is still sick).
        assert plugin(kube, namespace, "rollout", "abort", rollout_name(bad, namespace)).returncode == 0
        _wait_rollout(operator, kube, rollout_name(bad, namespace), lambda r: r["status"]["phase"] == "Aborted", "the abort")
    finally:
        simulator.set_image_mode(_image_hash(bad), "ok")


def test_a_failed_build_halts_with_every_database_ready_on_its_build(operator, kube, aws, simulator, namespace):
    names = _fleet(operator, kube, namespace, 6)
    bad = _version(namespace, "broken")
    aws.emulator.fault("build_fail", match={"env": {"REFLEX_SERVER_VERSION": bad}}, count=20, message="error[E0308]: mismatched types")
    _restart_with(operator, bad)
    halted = _halted_with_the_rest_ready(operator, kube, namespace, names, bad, "RolloutBuildFailed")
    assert "E0308" in halted["status"]["message"]
    # The canary's build failed: it keeps serving its old build too, held by the halt.
    canary = operator.wait("db-0", lambda o: (status(o).get("rollout") or {}).get("state") == "Held", what="the canary held again")
    assert condition(canary, "Ready") == "True" and _running_version(canary) == OLD
    assert [b["status"] for b in _builds_of(canary, bad)] == ["failed"]


def test_pause_resume_and_abort(operator, kube, aws, simulator, namespace):
    """A platform team supervises the change: it makes the ReflexRollout itself, paused, before the
    new default version is set; nothing moves until it resumes; it aborts after wave 2."""
    names = _fleet(operator, kube, namespace, 5)
    new = _version(namespace, "paced")
    name = rollout_name(new, namespace)
    supervised = {
        "apiVersion": "reflexdb.cloud/v1alpha1", "kind": "ReflexRollout",
        "metadata": {"name": name, "labels": {"reflexdb.cloud/scope": namespace}},
        "spec": {"serverVersion": new, "paused": True, "soakSeconds": 15},
    }
    kube.kubectl("apply", "-f", "-", input=json.dumps(supervised))
    _restart_with(operator, new)
    paused = _wait_rollout(operator, kube, name, lambda r: r.get("status", {}).get("phase") == "Paused" and r["status"].get("waiting") == 5,
                           "every database held by the paused rollout")
    assert paused["status"]["waves"] == []
    for db in names:
        obj = operator.wait(db, lambda o: "paused" in ((status(o).get("rollout") or {}).get("message") or ""), what=f"{db} held")
        assert condition(obj, "Ready") == "True" and _running_version(obj) == OLD and _builds_of(obj, new) == []
    resumed_at = datetime.now(timezone.utc)
    assert plugin(kube, namespace, "rollout", "resume", name).returncode == 0
    two = _wait_rollout(operator, kube, name, lambda r: len(r["status"]["waves"]) >= 2, "wave 2", timeout=240)
    assert _ts(two["status"]["waves"][0]["startedAt"]) >= resumed_at.replace(microsecond=0)  # nothing moved while paused
    assert two["spec"]["resumeToken"]
    # Abort while wave 2 moves (its soak is 15 s): wave 3 never starts; its databases keep their build.
    assert plugin(kube, namespace, "rollout", "abort", name).returncode == 0
    aborted = _wait_rollout(operator, kube, name, lambda r: r["status"]["phase"] == "Aborted", "the abort")
    assert len(aborted["status"]["waves"]) == 2
    for db in ("db-3", "db-4"):
        obj = operator.wait(db, lambda o: "aborted" in ((status(o).get("rollout") or {}).get("message") or ""), what=f"{db} told")
        assert condition(obj, "Ready") == "True" and condition(obj, "Reconciling") == "False"
        assert _running_version(obj) == OLD and _builds_of(obj, new) == []
    refused = plugin(kube, namespace, "rollout", "resume", name)
    assert refused.returncode == 1 and "aborted" in refused.stdout


def test_an_operator_killed_mid_rollout_resumes_it_with_nothing_doubled(operator, kube, aws, simulator, namespace):
    names = _fleet(operator, kube, namespace, 6)
    new = _version(namespace, "crash")
    name = rollout_name(new, namespace)
    _restart_with(operator, new)
    _wait_rollout(operator, kube, name, lambda r: len(r.get("status", {}).get("waves") or []) >= 2, "wave 2")
    operator.kill()
    mid = _rollout(kube, name)
    assert mid is not None and mid["status"]["phase"] in ("Progressing", "Complete")
    operator.start()
    done = _wait_rollout(operator, kube, name, lambda r: r["status"]["phase"] == "Complete", "the rollout to complete after the restart")
    admitted = [db for w in done["status"]["waves"] for db in w["databases"]]
    assert sorted(admitted) == sorted(f"{namespace}/{db}" for db in names)  # each once
    assert [w["databases"] for w in done["status"]["waves"][: len(mid["status"]["waves"])]] == [w["databases"] for w in mid["status"]["waves"]]
    assert [w["number"] for w in done["status"]["waves"]] == [1, 2, 3]
    for db in names:
        obj = operator.wait(db, lambda o: _moved_into(o, new), what=f"{db} on {new}")
        assert len(_builds_of(obj, new)) == 1  # no build started twice
        assert _running_version(obj) == new


def test_the_standby_takes_over_a_rollout_when_the_leader_dies(replicas, kube, aws, simulator, namespace):
    """Two replicas: only the installation's leader writes the rollout; killed after wave 2, the
    standby takes the Lease and finishes the rollout from its recorded waves."""
    first = replicas(2)
    names = _fleet(first[0], kube, namespace, 4)
    new = _version(namespace, "handover")
    name = rollout_name(new, namespace)
    for op in first:
        op.stop()
    for op in first:
        op.start(REFLEX_DEFAULT_SERVER_VERSION=new, **PACE)
    _wait_rollout(first[0], kube, name, lambda r: len(r.get("status", {}).get("waves") or []) >= 2, "wave 2")
    wait_until(lambda: any(op.leadership()["leading"] for op in first), 30, what="a leader")
    leader = next(op for op in first if op.leadership()["leading"])
    standby = next(op for op in first if op is not leader)
    assert standby.metrics().count("reflexdb_rollout_wave{") == 0  # a standby neither plans nor exports the rollout
    leader.kill()
    done = _wait_rollout(standby, kube, name, lambda r: r["status"]["phase"] == "Complete", "the standby to complete the rollout")
    admitted = [db for w in done["status"]["waves"] for db in w["databases"]]
    assert sorted(admitted) == sorted(f"{namespace}/{db}" for db in names)
    for db in names:
        obj = standby.wait(db, lambda o: _moved_into(o, new), what=f"{db} on {new}")
        assert len(_builds_of(obj, new)) == 1
