"""Every action of SPEC §2 as a spec change (kubectl patch), checked in the resource's status and in
the AWS emulator and the simulated data plane."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import action, apply, manifest, patch, status
from tests.fixtures.operator import condition

pytestmark = pytest.mark.e2e


def _service(aws, obj):
    arn = status(obj)["instance"]["ecsServiceArn"]
    return aws.ecs.describe_services(cluster="reflex", services=[arn])["services"][0]


def _service_name(obj):
    return status(obj)["instance"]["ecsServiceArn"].rsplit("/", 1)[-1]


def _builds(aws):
    return aws.codebuild.list_builds_for_project(projectName=aws.settings["REFLEX_CODEBUILD_PROJECT"])["ids"]


@pytest.fixture
def running(operator, kube, aws, simulator, namespace):
    apply(kube, namespace, manifest("orders"))
    return operator.wait_ready("orders")


def _ready_again(operator, name="orders"):
    return operator.wait(
        name,
        lambda o: condition(o, "Ready") == "True"
        and status(o).get("observedGeneration") == o["metadata"]["generation"]
        and not status(o).get("hasPendingChanges"),
        what="Ready with no pending changes",
    )


def test_pause_and_resume(running, operator, kube, aws, simulator, namespace):
    patch(kube, namespace, "orders", {"paused": True})
    obj = operator.wait_phase("orders", "Paused")
    svc = _service(aws, obj)
    assert svc["desiredCount"] == 0
    # Ready: the desired (paused) state is reached, as kstatus reads it; the phase says Paused.
    assert condition(obj, "Ready") == "True"
    assert condition(obj, "Reconciling") == "False" and condition(obj, "Stalled") == "False"
    assert action(obj, "resume")["allowed"] is True and action(obj, "pause")["allowed"] is False
    assert action(obj, "delete")["allowed"] is True
    assert action(obj, "reload")["allowed"] is False
    assert status(obj)["instance"].get("healthStatus") is None
    assert len(_builds(aws)) == 1  # record and builds kept

    patch(kube, namespace, "orders", {"paused": False})
    obj = _ready_again(operator)
    assert _service(aws, obj)["desiredCount"] == 1
    assert status(obj)["instance"]["healthStatus"] == "ok"
    reasons = operator.event_reasons("orders")
    assert "Paused" in reasons and "Resumed" in reasons


def test_resize_and_reconfigure(running, operator, kube, aws, simulator, namespace):
    before = status(running)["instance"]["taskDefinitionArn"]
    patch(kube, namespace, "orders", {"size": "large", "logLevel": "debug", "sync": {"intervalSeconds": 5}, "safetyNet": 0.5})
    obj = _ready_again(operator)
    st = status(obj)
    assert st["deployedConfig"] == {
        "instanceSize": "large",
        "taskCpu": 2048,
        "taskMemoryMb": 4096,
        "syncMode": "poll",
        "syncInterval": 5,
        "logLevel": "debug",
        "safetyNet": 0.5,
    }
    assert st["instance"]["taskDefinitionArn"] != before
    td = aws.ecs.describe_task_definition(taskDefinition=st["instance"]["taskDefinitionArn"])["taskDefinition"]
    assert (td["cpu"], td["memory"]) == ("2048", "4096")
    env = {e["name"]: e["value"] for e in td["containerDefinitions"][0]["environment"]}
    assert env["REFLEX_LOG_LEVEL"] == "debug" and env["REFLEX_SYNC_INTERVAL_SECONDS"] == "5"
    assert len(_builds(aws)) == 1  # a deploy input, not a build input
    # The simulated server picked up the new interval from the task definition.
    sim = simulator.instance(_service_name(obj))
    assert sim["settings"]["syncIntervalSeconds"] == 5


def test_rebuild_by_token_version_and_schemas_then_redeploy(running, operator, kube, aws, simulator, namespace):
    first = status(running)["activeBuildId"]
    patch(kube, namespace, "orders", {"rebuildToken": "r1"})
    obj = _ready_again(operator)
    second = status(obj)["activeBuildId"]
    assert second != first and len(_builds(aws)) == 2

    patch(kube, namespace, "orders", {"serverVersion": "v1.5.0", "source": {"schemas": ["public", "sales"]}})
    obj = _ready_again(operator)
    st = status(obj)
    third = st["activeBuildId"]
    assert len({first, second, third}) == 3 and len(_builds(aws)) == 3
    assert st["builds"][0]["serverVersion"] == "v1.5.0" and st["builds"][0]["schemas"] == ["public", "sales"]
    assert [b["deployable"] for b in st["builds"]] == [True, True, True]
    assert st["latestBuild"]["costEstimateCents"] >= 1 and st["latestBuild"]["computeTypeUsed"]
    assert action(obj, "redeploy")["allowed"] is True

    # Redeploy: pin the first build; the instance runs its image. Clearing the pin returns.
    patch(kube, namespace, "orders", {"buildId": first})
    obj = operator.wait("orders", lambda o: status(o).get("activeBuildId") == first and condition(o, "Ready") == "True", what="redeployed")
    first_image = next(b["imageUri"] for b in status(obj)["builds"] if b["id"] == first)
    td = aws.ecs.describe_task_definition(taskDefinition=status(obj)["instance"]["taskDefinitionArn"])["taskDefinition"]
    assert td["containerDefinitions"][0]["image"] == first_image
    assert len(_builds(aws)) == 3  # redeploy builds nothing

    kube.kubectl("patch", "rdb", "orders", "-n", namespace, "--type=json", "-p", '[{"op":"remove","path":"/spec/buildId"}]')
    operator.wait("orders", lambda o: status(o).get("activeBuildId") == third and condition(o, "Ready") == "True", what="back on the current build")


def test_redeploy_to_unknown_build_is_blocked(running, operator, kube, aws, namespace):
    patch(kube, namespace, "orders", {"buildId": "no-such-build"})
    obj = operator.wait("orders", lambda o: condition(o, "Stalled") == "True", what="Stalled")
    cond = next(c for c in status(obj)["conditions"] if c["type"] == "Stalled")
    assert cond["reason"] == "BuildNotDeployable" and "no-such-build" in cond["message"]
    # The running instance was left alone.
    assert _service(aws, obj)["desiredCount"] == 1
    operator.wait("orders", lambda o: "ActionBlocked" in operator.event_reasons("orders"), what="ActionBlocked event")


def test_reload_runs_once_per_token(running, operator, kube, aws, simulator, namespace):
    svc = _service_name(running)
    assert simulator.instance(svc)["reloads"] == 0
    patch(kube, namespace, "orders", {"reloadToken": "a"})
    operator.wait("orders", lambda o: (status(o).get("appliedTokens") or {}).get("reload") == "a", what="reload applied")
    assert simulator.instance(svc)["reloads"] == 1
    # Other changes and more passes do not repeat it.
    patch(kube, namespace, "orders", {"logLevel": "warn"})
    _ready_again(operator)
    assert simulator.instance(svc)["reloads"] == 1
    patch(kube, namespace, "orders", {"reloadToken": "b"})
    operator.wait("orders", lambda o: (status(o).get("appliedTokens") or {}).get("reload") == "b", what="second reload")
    assert simulator.instance(svc)["reloads"] == 2
    assert operator.event_reasons("orders").count("Reloaded") == 2


def test_pause_and_resume_replication(running, operator, kube, aws, simulator, namespace):
    svc = _service_name(running)
    patch(kube, namespace, "orders", {"sync": {"paused": True}})
    obj = operator.wait("orders", lambda o: status(o)["instance"].get("replication") == "paused", what="replication paused")
    assert simulator.instance(svc)["pauses"] == 1
    assert action(obj, "resume-replication")["allowed"] is True
    assert action(obj, "pause-replication")["allowed"] is False
    assert condition(obj, "Degraded") == "False"  # a paused replication is not a fault
    patch(kube, namespace, "orders", {"sync": {"paused": False}})
    operator.wait("orders", lambda o: status(o)["instance"].get("replication") == "running", what="replication running")
    assert simulator.instance(svc)["resumes"] == 1


def test_restart_makes_a_new_deployment(running, operator, kube, aws, simulator, namespace):
    svc = _service_name(running)
    restarts = simulator.instance(svc)["restarts"]
    td = status(running)["instance"]["taskDefinitionArn"]
    patch(kube, namespace, "orders", {"restartToken": "now"})
    obj = operator.wait("orders", lambda o: status(o)["instance"]["taskDefinitionArn"] != td and condition(o, "Ready") == "True", what="restarted")
    assert len(_builds(aws)) == 1
    assert status(obj)["deployedConfig"] == status(running)["deployedConfig"]
    operator.wait("orders", lambda o: simulator.instance(svc)["restarts"] > restarts, what="the simulated task restarted")


def test_terminate_and_provision(running, operator, kube, aws, simulator, namespace):
    patch(kube, namespace, "orders", {"terminated": True})
    obj = operator.wait_phase("orders", "Terminated")
    svc = _service(aws, running)
    assert svc["status"] == "INACTIVE"
    st = status(obj)
    assert st.get("instance") is None
    assert len(st["builds"]) == 1 and st["builds"][0]["deployable"]
    assert action(obj, "provision")["allowed"] is True and action(obj, "terminate")["allowed"] is False
    assert condition(obj, "Stalled") == "False" and condition(obj, "Reconciling") == "False"

    patch(kube, namespace, "orders", {"terminated": False})
    obj = _ready_again(operator)
    assert len(_builds(aws)) == 1  # provisioned from the kept build
    assert _service(aws, obj)["status"] == "ACTIVE"


def test_cancel_goal_stops_the_obsolete_build(running, operator, kube, aws, simulator, namespace):
    aws.emulator.config(codebuild_in_progress_seconds=30)
    deployed = status(running)["deployedConfig"]
    patch(kube, namespace, "orders", {"rebuildToken": "slow", "size": "medium"})
    obj = operator.wait_phase("orders", "Building")
    assert action(obj, "cancel-goal")["allowed"] is True
    assert action(obj, "resize")["mode"] == "queued"
    assert any("wait" in g for g in status(obj)["queuedGoals"])
    # Cancel: put the changed fields back.
    kube.kubectl("patch", "rdb", "orders", "-n", namespace, "--type=json", "-p",
                 '[{"op":"remove","path":"/spec/rebuildToken"},{"op":"replace","path":"/spec/size","value":"small"}]')
    obj = _ready_again(operator)
    assert status(obj)["deployedConfig"] == deployed
    ids = _builds(aws)
    assert len(ids) == 2
    states = {b["id"]: b["buildStatus"] for b in aws.codebuild.batch_get_builds(ids=ids)["builds"]}
    assert sorted(states.values()) == ["STOPPED", "SUCCEEDED"]
    assert "BuildStopped" in operator.event_reasons("orders")


@pytest.mark.parametrize("policy", ["Delete", "Retain"])
def test_delete(policy, running, operator, kube, aws, simulator, namespace):
    patch(kube, namespace, "orders", {"deletionPolicy": policy})
    operator.wait("orders", lambda o: status(o).get("observedGeneration") == o["metadata"]["generation"], what="policy seen")
    svc = _service(aws, running)
    secrets_before = aws.secretsmanager.list_secrets()["SecretList"]
    assert len(secrets_before) == 1
    kube.kubectl("delete", "rdb", "orders", "-n", namespace, "--wait=true", "--timeout=60s")
    assert operator.rdb("orders") is None
    after = aws.ecs.describe_services(cluster="reflex", services=[svc["serviceArn"]])["services"]
    secrets_after = aws.secretsmanager.list_secrets()["SecretList"]
    if policy == "Delete":
        assert not after or after[0]["status"] == "INACTIVE"
        assert secrets_after == []
    else:
        assert after[0]["status"] == "ACTIVE" and after[0]["desiredCount"] == 1
        assert len(secrets_after) == 1


def test_delete_while_paused(running, operator, kube, aws, namespace):
    patch(kube, namespace, "orders", {"paused": True})
    operator.wait_phase("orders", "Paused")
    kube.kubectl("delete", "rdb", "orders", "-n", namespace, "--wait=true", "--timeout=60s")
    assert aws.ecs.describe_services(cluster="reflex", services=[status(running)["instance"]["ecsServiceArn"]])["services"][0]["status"] == "INACTIVE"


def test_delete_when_aws_resources_are_already_gone(running, operator, kube, aws, namespace):
    name = _service_name(running)
    aws.ecs.delete_service(cluster="reflex", service=name, force=True)
    for secret in aws.secretsmanager.list_secrets()["SecretList"]:
        aws.secretsmanager.delete_secret(SecretId=secret["ARN"], ForceDeleteWithoutRecovery=True)
    kube.kubectl("delete", "rdb", "orders", "-n", namespace, "--wait=true", "--timeout=60s")
    assert operator.rdb("orders") is None


def test_kubectl_wait_for_ready(operator, kube, aws, simulator, namespace):
    apply(kube, namespace, manifest("wait-me"))
    proc = kube.kubectl("wait", "rdb/wait-me", "-n", namespace, "--for=condition=Ready", "--timeout=90s", timeout=120)
    assert "condition met" in proc.stdout
