"""Plans end to end, through kubectl, the real API server (its ValidatingAdmissionPolicy), the
operator, the AWS emulator and the simulator: invalid plans and per-database limits refused at
apply with messages naming plan, field and limit; a database with no room waits (nothing in AWS)
and proceeds when the plan is raised or another database is deleted; a missing plan is named;
the data transfer cap pauses replication and a raised plan lifts it. Every plan edit takes effect
without restarting anything."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.helpers import action, apply, manifest, status
from reflex_dev._proc import wait_until
from tests.fixtures.operator import condition

pytestmark = pytest.mark.e2e


def _plan_doc(name: str, **spec: Any) -> str:
    body = {"computeUnitsLimit": 1, "maxInstanceSize": "medium", "pollModeMinSyncInterval": 30, "dataTransferGBPerMonth": 10}
    body.update(spec)
    return json.dumps({"apiVersion": "reflexdb.cloud/v1alpha1", "kind": "ReflexPlan", "metadata": {"name": name}, "spec": body})


@pytest.fixture
def plan(kube, namespace):
    """A plan of this test's own (plans are cluster-scoped), with the namespace on it."""
    name = f"p-{namespace}"[:63].rstrip("-")
    kube.kubectl("apply", "-f", "-", input=_plan_doc(name))
    kube.kubectl("label", "namespace", namespace, f"reflexdb.cloud/plan={name}", "--overwrite")
    try:
        yield name
    finally:
        kube.kubectl("delete", "reflexplan", name, "--ignore-not-found", "--wait=false", check=False)


def _edit(kube, name: str, spec: dict[str, Any]) -> None:
    kube.kubectl("patch", "reflexplan", name, "--type=merge", "-p", json.dumps({"spec": spec}))


def _refused(kube, namespace: str, text: str, wanted: str) -> str:
    """Apply until the API server refuses it with ``wanted`` in its message (the policy's view
    of a new or edited plan follows the plan within moments); returns the message."""
    seen: dict[str, str] = {}

    def refused() -> bool:
        proc = kube.kubectl("apply", "-n", namespace, "-f", "-", input=text, check=False)
        seen["stderr"] = proc.stderr.strip()
        return proc.returncode != 0 and wanted in proc.stderr

    try:
        wait_until(refused, 30, interval=0.3, what=f"apply refused with {wanted!r}")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: {seen}") from None
    return seen["stderr"]


def _accepted(kube, namespace: str, text: str) -> None:
    seen: dict[str, str] = {}

    def accepted() -> bool:
        proc = kube.kubectl("apply", "-n", namespace, "-f", "-", input=text, check=False)
        seen["stderr"] = proc.stderr.strip()
        return proc.returncode == 0

    try:
        wait_until(accepted, 30, interval=0.3, what="apply accepted")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: {seen}") from None


def test_invalid_plans_are_refused(kube):
    cases = {
        "zero limit": ({"computeUnitsLimit": 0}, "spec.computeUnitsLimit"),
        "negative transfer": ({"dataTransferGBPerMonth": -1}, "spec.dataTransferGBPerMonth"),
        "zero poll interval": ({"pollModeMinSyncInterval": 0}, "spec.pollModeMinSyncInterval"),
        "unknown size": ({"maxInstanceSize": "huge"}, "spec.maxInstanceSize"),
        "unknown sync mode": ({"allowedSyncModes": ["push"]}, "spec.allowedSyncModes"),
    }
    for what, (spec, field) in cases.items():
        proc = kube.kubectl("apply", "-f", "-", input=_plan_doc("invalid-plan", **spec), check=False)
        assert proc.returncode != 0, what
        assert field in proc.stderr and ("Invalid value" in proc.stderr or "Unsupported value" in proc.stderr), (what, proc.stderr)
        print(f"[{what}] {proc.stderr.strip()}")
    assert kube.kubectl("get", "reflexplan", "invalid-plan", check=False).returncode != 0


def test_per_database_limits_are_refused_at_apply_and_a_plan_edit_applies_at_once(kube, namespace, plan):
    _edit(kube, plan, {"allowedSyncModes": ["poll"]})
    too_big = manifest("orders", spec={"size": "large", "sync": {"mode": "poll", "intervalSeconds": 60}})
    message = _refused(kube, namespace, too_big, "maxInstanceSize")
    assert f"plan {plan}" in message and "spec.size large" in message and "maxInstanceSize medium" in message
    print(f"[size] {message}")

    too_fast = manifest("orders", spec={"size": "small", "sync": {"mode": "poll", "intervalSeconds": 5}})
    message = _refused(kube, namespace, too_fast, "pollModeMinSyncInterval")
    assert f"plan {plan}" in message and "spec.sync.intervalSeconds 5" in message and "pollModeMinSyncInterval 30" in message
    print(f"[interval] {message}")

    stream = manifest("orders", spec={"size": "small", "sync": {"mode": "stream", "intervalSeconds": 60}})
    message = _refused(kube, namespace, stream, "allowedSyncModes")
    assert f"plan {plan}" in message and "spec.sync.mode stream" in message and "[poll]" in message
    print(f"[sync mode] {message}")

    # The plan is edited: the next write is judged by the new limits, nothing restarted.
    _edit(kube, plan, {"maxInstanceSize": "large", "allowedSyncModes": ["poll", "stream"]})
    _accepted(kube, namespace, too_big)
    # A plan lowered afterwards refuses growth, not edits of other fields (the size is as it was).
    _edit(kube, plan, {"maxInstanceSize": "small"})
    _refused(kube, namespace, manifest("other", spec={"size": "medium"}), "maxInstanceSize small")
    kube.kubectl("patch", "rdb", "orders", "-n", namespace, "--type=merge", "-p", '{"spec":{"logLevel":"debug"}}')
    kube.kubectl("delete", "rdb", "orders", "-n", namespace, "--wait=false")


def _services(aws) -> list[str]:
    return [arn.rsplit("/", 1)[-1] for arn in aws.ecs.list_services(cluster="reflex")["serviceArns"]]


def _waiting(obj: dict[str, Any], reason: str) -> bool:
    return any(c["type"] == "Stalled" and c["status"] == "True" and c["reason"] == reason for c in status(obj).get("conditions", []))


def _stalled_message(obj: dict[str, Any]) -> str:
    return next(c["message"] for c in status(obj)["conditions"] if c["type"] == "Stalled")


def test_no_room_waits_then_proceeds_when_the_plan_is_raised_or_a_database_is_deleted(operator, kube, aws, simulator, namespace, plan):
    apply(kube, namespace, manifest("first", spec={"size": "medium", "sync": {"intervalSeconds": 60}}))
    operator.wait_ready("first")
    apply(kube, namespace, manifest("second", spec={"size": "small", "sync": {"intervalSeconds": 60}}))
    obj = operator.wait("second", lambda o: _waiting(o, "PlanLimitExceeded"), what="second waits for room")
    message = _stalled_message(obj)
    assert f"plan {plan}" in message and "uses 1 of 1 compute units" in message and "needs 0.5 more" in message
    assert status(obj)["phase"] == "Pending" and condition(obj, "Ready") == "False"
    assert action(obj, "provision")["allowed"] is False and action(obj, "provision")["reason"] == message
    assert status(obj)["plan"]["name"] == plan and status(obj)["plan"]["computeUnitsLimit"] == 1
    assert len(_services(aws)) == 1  # nothing created for the waiting one
    assert len(aws.codebuild.list_builds_for_project(projectName=aws.settings["REFLEX_CODEBUILD_PROJECT"])["ids"]) == 1
    # The plan's status shows the namespace at its limit.
    wait_until(lambda: _usage(kube, plan).get("computeUnitsUsed") == 1 and _usage(kube, plan).get("databasesWaiting") == 1, 30, what="plan status")
    print(kube.kubectl("get", "rdb,reflexplans", "-n", namespace).stdout)

    # A plan edit makes room: the waiting database proceeds by itself.
    _edit(kube, plan, {"computeUnitsLimit": 1.5})
    obj = operator.wait_ready("second", timeout=90)
    assert status(obj)["plan"]["computeUnits"] == 0.5 and status(obj)["plan"]["computeUnitsLimit"] == 1.5
    assert "ActionBlocked" in operator.event_reasons("second")

    # Full again: a third waits, until another database is deleted.
    apply(kube, namespace, manifest("third", spec={"size": "small", "sync": {"intervalSeconds": 60}}))
    operator.wait("third", lambda o: _waiting(o, "PlanLimitExceeded"), what="third waits")
    kube.kubectl("delete", "rdb", "first", "-n", namespace, "--wait=false")
    obj = operator.wait_ready("third", timeout=90)
    assert condition(obj, "Stalled") == "False"
    wait_until(lambda: _usage(kube, plan).get("computeUnitsUsed") == 1 and _usage(kube, plan).get("databasesWaiting") == 0, 30, what="plan status")
    metrics = operator.metrics()
    assert f'reflexdb_plan_compute_units_used{{namespace="{namespace}",plan="{plan}"}} 1.0' in metrics
    assert f'reflexdb_plan_compute_units_limit{{namespace="{namespace}",plan="{plan}"}} 1.5' in metrics


def _usage(kube, plan: str) -> dict[str, Any]:
    obj = json.loads(kube.kubectl("get", "reflexplan", plan, "-o", "json").stdout)
    namespaces = (obj.get("status") or {}).get("namespaces") or []
    return namespaces[0] if namespaces else {}


def test_a_missing_plan_is_named_and_nothing_is_created(operator, kube, aws, simulator, namespace):
    missing = f"missing-{namespace}"[:63].rstrip("-")
    kube.kubectl("label", "namespace", namespace, f"reflexdb.cloud/plan={missing}", "--overwrite")
    apply(kube, namespace, manifest("orders"))
    obj = operator.wait("orders", lambda o: _waiting(o, "PlanNotFound"), what="waits for its plan")
    assert repr(missing) in _stalled_message(obj)
    assert status(obj)["plan"] == {**status(obj)["plan"], "name": missing, "found": False}
    assert _services(aws) == [] and aws.secretsmanager.list_secrets()["SecretList"] == []
    try:
        kube.kubectl("apply", "-f", "-", input=_plan_doc(missing, maxInstanceSize="small", pollModeMinSyncInterval=1))
        obj = operator.wait_ready("orders", timeout=90)
        assert status(obj)["plan"]["found"] is True
    finally:
        kube.kubectl("delete", "reflexplan", missing, "--ignore-not-found", "--wait=false", check=False)


def test_data_transfer_cap_pauses_replication_and_a_raised_plan_lifts_it(operator, kube, aws, simulator, namespace, plan):
    _edit(kube, plan, {"dataTransferGBPerMonth": 0.001})  # 1 MB
    apply(kube, namespace, manifest("orders", spec={"size": "small", "sync": {"intervalSeconds": 60}}))
    obj = operator.wait_ready("orders")
    svc = status(obj)["instance"]["ecsServiceArn"].rsplit("/", 1)[-1]
    simulator.set_transfer(svc, transferred=2_000_000)

    obj = operator.wait("orders", lambda o: status(o)["instance"].get("healthStatus") == "cap_exceeded", what="cap_exceeded")
    wait_until(lambda: simulator.instance(svc)["health"]["replication"] == "paused", 30, what="replication paused on the instance")
    obj = operator.wait("orders", lambda o: status(o)["instance"].get("replication") == "paused", what="paused in status")
    degraded = next(c for c in status(obj)["conditions"] if c["type"] == "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "CapExceeded"
    assert f"plan {plan}" in degraded["message"] and "0.001 GB" in degraded["message"]
    assert action(obj, "resume-replication")["allowed"] is False and "0.001 GB" in action(obj, "resume-replication")["reason"]
    operator.wait("orders", lambda o: any(e["reason"] == "DataTransferCapExceeded" and e["type"] == "Warning" for e in operator.events("orders")), what="Warning event")
    wait_until(lambda: _usage(kube, plan).get("bytesTransferredThisMonth", 0) >= 2_000_000, 30, what="plan status bytes")
    assert f'reflexdb_plan_data_transfer_cap_bytes{{namespace="{namespace}",plan="{plan}"}} 1e+06' in operator.metrics()

    _edit(kube, plan, {"dataTransferGBPerMonth": 1})  # a larger plan
    obj = operator.wait("orders", lambda o: status(o)["instance"].get("healthStatus") == "ok" and status(o)["instance"].get("replication") == "running", what="resumed")
    assert simulator.instance(svc)["health"]["replication"] == "running"
    operator.wait("orders", lambda o: "DataTransferCapLifted" in operator.event_reasons("orders"), what="lifted event")


def test_an_unlabeled_namespace_without_a_default_plan_is_not_limited(operator, kube, aws, simulator, namespace):
    """Out of the box no plan is installed: an unlabeled namespace runs databases totalling more
    than 16 compute units (what the once-shipped default plan allowed), all Ready, none with a plan
    in status. A platform's own `default` plan then limits growth only (what runs keeps running,
    nothing pauses), and deleting it lets what waited proceed."""
    assert kube.kubectl("get", "reflexplan", "default", check=False).returncode != 0, "something installed a default plan"
    labels = json.loads(kube.kubectl("get", "namespace", namespace, "-o", "json").stdout)["metadata"].get("labels") or {}
    assert "reflexdb.cloud/plan" not in labels
    names = [f"big-{i}" for i in range(5)]  # 5 xlarge: 20 compute units
    docs = [manifest(n, spec={"size": "xlarge", "sync": {"intervalSeconds": 60}}, with_secret=i == 0) for i, n in enumerate(names)]
    apply(kube, namespace, "\n".join(docs))
    for name in names:
        obj = operator.wait_ready(name, timeout=120)
        assert "plan" not in status(obj) and condition(obj, "Stalled") == "False", status(obj).get("conditions")
    assert len(_services(aws)) == len(names)
    assert not [line for line in operator.metrics().splitlines() if line.startswith("reflexdb_plan_")]  # no plan series

    # A platform adds a default plan far below what runs: growth waits, nothing stops.
    kube.kubectl("apply", "-f", "-", input=_plan_doc("default", computeUnitsLimit=1, maxInstanceSize="xlarge", pollModeMinSyncInterval=1))
    try:
        for name in names:
            obj = operator.wait(name, lambda o: (status(o).get("plan") or {}).get("computeUnits") == 4, what=f"{name} holds its units")
            assert condition(obj, "Ready") == "True" and status(obj)["phase"] == "Running"
        apply(kube, namespace, manifest("late", spec={"size": "small", "sync": {"intervalSeconds": 60}}, with_secret=False))
        obj = operator.wait("late", lambda o: _waiting(o, "PlanLimitExceeded"), what="late waits for room")
        assert "uses 20 of 1 compute units" in _stalled_message(obj)
        for name in names:
            assert condition(operator.rdb(name), "Ready") == "True"
        desired = {s["serviceName"]: s["desiredCount"] for s in aws.ecs.describe_services(cluster="reflex", services=_services(aws))["services"]}
        assert len(desired) == len(names) and all(count >= 1 for count in desired.values()), desired  # none paused
    finally:
        kube.kubectl("delete", "reflexplan", "default", "--ignore-not-found", check=False)
    # The plan is deleted: the namespace is on no plan again, what waited proceeds.
    obj = operator.wait_ready("late", timeout=120)
    assert "plan" not in status(obj)
    operator.wait(names[0], lambda o: "plan" not in status(o), what="no plan in status")
