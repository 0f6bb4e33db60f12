"""Failure paths against the real stack: failed builds and deployments (injected in the AWS
emulator), a missing Secret, an unhealthy instance, AWS throttling; and secrets kept secret."""

from __future__ import annotations

import json
import re

import pytest

from tests.e2e.helpers import SECRET_URL, apply, manifest, patch, status
from tests.fixtures.operator import condition

pytestmark = pytest.mark.e2e


def _cond(obj, kind):
    return next(c for c in status(obj)["conditions"] if c["type"] == kind)


def test_failed_build_is_reported_and_a_rebuild_recovers(operator, kube, aws, simulator, namespace):
    # The emulator fails the build of this resource the way CodeBuild does: buildStatus FAILED
    # with a failed BUILD phase and its message (the operator is not touched).
    aws.emulator.fault("build_fail", match={"env": {"REFLEX_CLUSTER_IDENTITY": namespace}}, count=1,
                       message="cargo build: error[E0425]: cannot find value `x`")
    apply(kube, namespace, manifest("orders"))
    obj = operator.wait_phase("orders", "Failed")
    stalled = _cond(obj, "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "BuildFailed"
    assert "E0425" in stalled["message"] and "rebuildToken" in stalled["message"]
    assert condition(obj, "Ready") == "False" and condition(obj, "Reconciling") == "False"
    assert status(obj)["latestBuild"]["status"] == "failed"
    assert status(obj)["builds"][0]["deployable"] is False
    assert aws.ecs.list_services(cluster="reflex")["serviceArns"] == []
    allowed = status(obj)["allowedActions"]
    for remediation in ("rebuild", "resize", "terminate", "delete"):
        assert allowed[remediation]["allowed"], remediation
    operator.wait("orders", lambda o: "BuildFailed" in operator.event_reasons("orders"), what="BuildFailed event")

    patch(kube, namespace, "orders", {"rebuildToken": "retry-1"})
    obj = operator.wait_ready("orders")
    assert [b["status"] for b in status(obj)["builds"]] == ["succeeded", "failed"]


def test_failed_deployment_is_reported_and_a_restart_recovers(operator, kube, aws, simulator, namespace):
    apply(kube, namespace, manifest("orders"))
    obj = operator.wait_ready("orders")
    svc = status(obj)["instance"]["ecsServiceArn"].rsplit("/", 1)[-1]
    aws.emulator.fault("deployment_fail", match={"service": svc}, count=1)
    patch(kube, namespace, "orders", {"size": "medium"})
    obj = operator.wait_phase("orders", "Failed")
    stalled = _cond(obj, "Stalled")
    assert stalled["reason"] == "DeploymentFailed"
    patch(kube, namespace, "orders", {"restartToken": "retry"})
    obj = operator.wait_ready("orders")
    assert status(obj)["deployedConfig"]["instanceSize"] == "medium"


def test_missing_secret_stalls_then_recovers(operator, kube, aws, simulator, namespace):
    apply(kube, namespace, manifest("orders", secret="late", with_secret=False))
    obj = operator.wait("orders", lambda o: condition(o, "Stalled") == "True", what="Stalled")
    stalled = _cond(obj, "Stalled")
    assert stalled["reason"] == "SecretNotFound"
    assert "'late'" in stalled["message"] and namespace in stalled["message"]
    assert status(obj)["phase"] == "Pending"
    assert aws.ecs.list_services(cluster="reflex")["serviceArns"] == []
    assert aws.secretsmanager.list_secrets()["SecretList"] == []

    apply(kube, namespace, json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "late"}, "stringData": {"url": SECRET_URL}}))
    obj = operator.wait_ready("orders")
    assert condition(obj, "Stalled") == "False"
    [secret] = aws.secretsmanager.list_secrets()["SecretList"]
    assert aws.secretsmanager.get_secret_value(SecretId=secret["ARN"])["SecretString"] == SECRET_URL


def test_secret_change_is_copied_and_rolled_out(operator, kube, aws, simulator, namespace):
    apply(kube, namespace, manifest("orders"))
    obj = operator.wait_ready("orders")
    td = status(obj)["instance"]["taskDefinitionArn"]
    new_url = "postgres://reflex:rotated-Pa55@db.internal:5432/orders"
    apply(kube, namespace, json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "src"}, "stringData": {"url": new_url}}))
    operator.wait("orders", lambda o: status(o)["instance"]["taskDefinitionArn"] != td and condition(o, "Ready") == "True", what="rolled out")
    [secret] = aws.secretsmanager.list_secrets()["SecretList"]
    assert aws.secretsmanager.get_secret_value(SecretId=secret["ARN"])["SecretString"] == new_url


@pytest.mark.parametrize("mode,health,reason", [("degraded", "degraded", "HealthDegraded"), ("unreachable", "unreachable", "Unreachable")])
def test_unhealthy_instance_is_degraded_then_recovers(mode, health, reason, operator, kube, aws, simulator, namespace):
    apply(kube, namespace, manifest("orders"))
    obj = operator.wait_ready("orders")
    svc = status(obj)["instance"]["ecsServiceArn"].rsplit("/", 1)[-1]
    simulator.set_mode(svc, mode)
    obj = operator.wait("orders", lambda o: condition(o, "Degraded") == "True", what="Degraded")
    assert _cond(obj, "Degraded")["reason"] == reason
    assert status(obj)["instance"]["healthStatus"] == health
    if mode == "unreachable":
        assert condition(obj, "Ready") == "False"
    allowed = status(obj)["allowedActions"]
    for remediation in ("rebuild", "resize", "redeploy", "pause", "terminate", "delete"):
        if remediation == "redeploy":
            continue  # needs another deployable build
        assert allowed[remediation]["allowed"], remediation
    operator.wait("orders", lambda o: "HealthDegraded" in operator.event_reasons("orders"), what="HealthDegraded event")

    simulator.set_mode(svc, "ok")
    obj = operator.wait("orders", lambda o: condition(o, "Degraded") == "False" and condition(o, "Ready") == "True", what="recovered")
    assert status(obj)["instance"]["healthStatus"] == "ok"
    operator.wait("orders", lambda o: "HealthRecovered" in operator.event_reasons("orders"), what="HealthRecovered event")


def test_throttling_is_retried_and_surfaced_when_it_persists(operator, kube, aws, simulator, namespace):
    # Brief throttling: absorbed by retries with backoff, the resource still gets Ready.
    aws.emulator.fault("throttle", service="codebuild", operation="StartBuild", count=2)
    apply(kube, namespace, manifest("orders"))
    operator.wait_ready("orders")
    assert 'reflex_operator_aws_throttles_total{operation="StartBuild",service="codebuild"}' in operator.metrics()

    # Persistent throttling: shown as a condition and an event, no crash loop; then it recovers.
    aws.emulator.fault("throttle", service="ecs", operation="RegisterTaskDefinition", count=1000)
    patch(kube, namespace, "orders", {"size": "large"})
    obj = operator.wait("orders", lambda o: condition(o, "Stalled") == "True", timeout=90, what="AWSError surfaced")
    stalled = _cond(obj, "Stalled")
    assert stalled["reason"] == "AWSError" and "Throttl" in stalled["message"]
    assert operator.alive()
    operator.wait("orders", lambda o: "AWSError" in operator.event_reasons("orders"), what="AWSError event")
    aws.emulator.control("DELETE", "faults")
    obj = operator.wait("orders", lambda o: condition(o, "Ready") == "True" and status(o)["deployedConfig"]["instanceSize"] == "large", timeout=120, what="recovered")
    assert condition(obj, "Stalled") == "False"


def test_connection_string_never_leaks(operator, kube, aws, simulator, namespace):
    apply(kube, namespace, manifest("orders"))
    operator.wait_ready("orders")
    patch(kube, namespace, "orders", {"reloadToken": "x", "size": "medium"})
    operator.wait("orders", lambda o: status(o)["deployedConfig"]["instanceSize"] == "medium" and condition(o, "Ready") == "True")
    password = re.search(r":([^:@/]+)@", SECRET_URL).group(1)
    assert password not in json.dumps(operator.rdb("orders"))
    assert password not in json.dumps(operator.events("orders"))
    assert password not in operator.log()
    assert password not in operator.metrics()
    for arn in aws.ecs.list_task_definitions()["taskDefinitionArns"]:
        td = aws.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        assert password not in json.dumps(td, default=str)
    builds = aws.codebuild.batch_get_builds(ids=aws.codebuild.list_builds()["ids"])["builds"]
    assert password not in json.dumps(builds, default=str)


def test_metrics_agree_with_status(operator, kube, aws, simulator, namespace):
    apply(kube, namespace, manifest("orders"))
    obj = operator.wait_ready("orders")
    text = operator.metrics()
    labels = f'name="orders",namespace="{namespace}"'

    def value(metric: str) -> float:
        m = re.search(rf"^{metric}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
        assert m, f"{metric} missing"
        return float(m.group(1))

    st = status(obj)
    assert value("reflexdb_health") == 1.0
    assert value("reflexdb_rows") == sum(st["instance"]["rowCounts"].values())
    assert value("reflexdb_swap_count") >= st["instance"]["swapCount"]
    assert value("reflexdb_build_duration_seconds") == st["latestBuild"]["buildDurationSeconds"]
    assert value("reflexdb_build_cost_cents") == st["latestBuild"]["costEstimateCents"]
    assert f'reflexdb_phase{{name="orders",namespace="{namespace}",phase="Running"}} 1.0' in text
    assert "reflex_operator_reconcile_duration_seconds_count" in text
    assert re.search(r'reflex_operator_aws_calls_total\{operation="DescribeServices",outcome="ok",service="ecs"\} [1-9]', text)


def test_json_logs_without_the_connection_string(operator, kube, aws, simulator, namespace):
    operator.stop()
    operator.start(REFLEX_LOG_FORMAT="json")
    apply(kube, namespace, manifest("orders"))
    operator.wait_ready("orders")
    lines = [line for line in operator.log().split("----- start 2 -----", 1)[1].splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"asctime", "level", "name", "message"} <= set(records[0])
    assert any("build" in r["message"] and r["name"].startswith("reflex_operator") for r in records)
    password = re.search(r":([^:@/]+)@", SECRET_URL).group(1)
    assert all(password not in line for line in lines)
