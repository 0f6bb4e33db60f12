"""Crash safety: the operator is SIGKILLed after an AWS call took effect but before it wrote the
result into status. A restarted operator must find what it made and create nothing twice.

The emulator's ``delay_response`` fault makes the window deterministic: the call is carried out
at once but its answer is held back, and the test kills the operator while it waits for it."""

from __future__ import annotations

import pytest

from reflex_dev._proc import wait_until
from tests.e2e.helpers import apply, manifest, status

pytestmark = pytest.mark.e2e


def _called(aws, key: str) -> bool:
    return aws.emulator.calls().get(key, 0) >= 1


@pytest.mark.parametrize(
    "service,operation",
    [("codebuild", "StartBuild"), ("ecs", "CreateService")],
)
def test_kill_after_call_before_status_write(service, operation, operator, kube, aws, simulator, namespace):
    aws.emulator.fault("delay_response", service=service, operation=operation, seconds=60)
    apply(kube, namespace, manifest("orders"))
    wait_until(lambda: _called(aws, f"{service}.{operation}"), 60, what=f"{operation} to be called")
    operator.kill()

    obj = operator.rdb("orders")
    if operation == "StartBuild":
        # The build exists in CodeBuild; status has only the intent (written before StartBuild).
        assert not status(obj).get("builds") and status(obj)["buildIntent"]["idempotencyToken"]
        assert len(aws.codebuild.list_builds()["ids"]) == 1
    else:
        assert (status(obj).get("instance") or {}).get("ecsServiceArn") is None
        assert len(aws.ecs.list_services(cluster="reflex")["serviceArns"]) == 1

    # The first start of a new installation looked once over the project for its builds (it has
    # no ReflexBuild yet: it cannot tell a fresh install from a control plane rebuilt from nothing);
    # the restart reads its records (the start was recorded before StartBuild) and lists nothing.
    listed = aws.emulator.calls().get("codebuild.ListBuildsForProject", 0)
    assert listed <= 1
    operator.start()
    obj = operator.wait_ready("orders", timeout=90)
    assert len(aws.codebuild.list_builds()["ids"]) == 1, "a second build was started"
    assert len(aws.ecs.list_services(cluster="reflex")["serviceArns"]) == 1, "a second service was created"
    calls = aws.emulator.calls()
    # After a kill during StartBuild the restart sends it again with the recorded token (CodeBuild
    # returns the same build); nothing lists the project's builds.
    assert calls.get("codebuild.StartBuild") == (2 if operation == "StartBuild" else 1)
    assert calls.get("ecs.CreateService") == 1 and calls.get("codebuild.ListBuildsForProject", 0) == listed
    assert len(status(obj)["builds"]) == 1
