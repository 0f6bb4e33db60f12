"""A ReflexDatabase from apply to Running and through its actions, against the real stack:
kube-apiserver + etcd, the AWS emulator, the reflex-server simulator and the operator process."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import action, apply, manifest, status
from tests.fixtures.operator import condition

pytestmark = pytest.mark.e2e


def test_apply_to_running(operator, kube, aws, simulator, namespace):
    apply(kube, namespace, manifest("orders"))
    obj = operator.wait_ready("orders", timeout=60)
    st = status(obj)
    assert st["phase"] == "Running"
    assert condition(obj, "Reconciling") == "False"
    assert condition(obj, "Stalled") == "False"
    assert condition(obj, "Degraded") == "False"
    assert st["instance"]["healthStatus"] == "ok"
    assert st["deployedConfig"]["instanceSize"] == "small"
    assert st["deployedConfig"]["taskCpu"] == 512
    assert st["latestBuild"]["status"] == "succeeded"
    assert st["activeBuildId"] == st["builds"][0]["id"]
    assert st["builds"][0]["deployable"] is True
    assert action(obj, "pause")["allowed"] is True
    assert action(obj, "provision")["allowed"] is False

    # AWS holds exactly one build and one service for it.
    builds = aws.codebuild.list_builds_for_project(projectName=aws.settings["REFLEX_CODEBUILD_PROJECT"])["ids"]
    assert len(builds) == 1
    services = aws.ecs.list_services(cluster="reflex")["serviceArns"]
    assert len(services) == 1
    svc = aws.ecs.describe_services(cluster="reflex", services=services)["services"][0]
    assert svc["desiredCount"] == 1 and svc["runningCount"] == 1
    td = aws.ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    assert td["cpu"] == "512" and td["memory"] == "1024"
    container = td["containerDefinitions"][0]
    assert [s["name"] for s in container["secrets"]] == ["REFLEX_SOURCE_URL"]
    assert "s3cr3t" not in str(container)

    reasons = operator.event_reasons("orders")
    for expected in ("BuildStarted", "BuildSucceeded", "Deployed"):
        assert expected in reasons
