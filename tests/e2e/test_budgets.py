"""Inside AWS's quotas, against the real stack: what one database's provisioning costs in AWS calls,
a build refused at the concurrent-build quota (queued, not failed), and crash-safe build starts in a
project with more than 100 builds, within and past CodeBuild's idempotency window."""

from __future__ import annotations

import time
from typing import Any

import pytest

from reflex_dev._proc import wait_until
from reflex_dev.emulator import PROJECT
from tests.e2e.helpers import apply, installation_builds, manifest, status

pytestmark = pytest.mark.e2e

APP = "reflex-operator"
# Fleet-wide polls, shared by every database (one call covers up to 10 services / 100 builds).
SHARED = {"ecs.DescribeServices", "codebuild.BatchGetBuilds"}


def _operator_calls(aws: Any) -> dict[str, int]:
    return aws.emulator.control("GET", f"calls/by/{APP}")


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status(obj).get("conditions", []) if c["type"] == kind), {})


def _builds_of(aws: Any, resource: str) -> list[dict[str, Any]]:
    """The project's builds of ``resource``'s installation (each test's operator is one: its
    namespace is its REFLEX_CLUSTER_IDENTITY)."""
    return installation_builds(aws, resource.split("/")[0])


def _other_builds(aws: Any, n: int) -> None:
    """``n`` builds of the project started by another program (not the operator)."""
    for i in range(n):
        aws.codebuild.start_build(projectName=PROJECT, idempotencyToken=f"other-{time.time_ns()}-{i}")


def test_provisioning_one_database_costs_at_most_six_calls_and_no_listing(operator, kube, aws, simulator, namespace):
    aws.emulator.reset_calls()
    apply(kube, namespace, manifest("orders"))
    operator.wait_ready("orders", timeout=90)
    calls = _operator_calls(aws)
    own = {op: n for op, n in calls.items() if op not in SHARED}
    print(f"\nAWS calls of one database's provisioning: {dict(sorted(calls.items()))}")
    assert not [op for op in calls if ".List" in op], calls
    assert sum(own.values()) <= 6, own
    assert all(n == 1 for n in own.values()), own  # nothing asked twice, no Describe/Get before a Create


def test_a_build_refused_at_the_quota_waits_queued_then_goes_ready(operator, kube, aws, simulator, namespace):
    operator.stop()
    operator.start(REFLEX_BUILD_QUEUE_RETRY_SECONDS="1")
    aws.emulator.fault(
        "error", service="codebuild", operation="StartBuild", status=400, count=10_000,
        code="AccountLimitExceededException", message="Cannot have more than 1 builds in queue for the account",
    )
    apply(kube, namespace, manifest("orders"))
    obj = operator.wait(
        "orders", lambda o: _condition(o, "Reconciling").get("reason") == "BuildQueued", timeout=60, what="BuildQueued"
    )
    assert status(obj)["phase"] == "Building" and "concurrent-build quota" in _condition(obj, "Reconciling")["message"]
    assert _condition(obj, "Stalled").get("status") == "False"
    wait_until(lambda: _operator_calls(aws).get("codebuild.StartBuild", 0) >= 3, 30, what="the start to be retried")
    obj = operator.rdb("orders")
    assert status(obj)["phase"] == "Building" and not status(obj).get("builds")
    assert "AWSError" not in operator.event_reasons("orders")
    aws.emulator.control("DELETE", "faults")  # slots free up
    obj = operator.wait_ready("orders", timeout=90)
    assert len(_builds_of(aws, f"{namespace}/orders")) == 1 and status(obj).get("buildIntent") is None
    assert "Failed" not in {h.get("to") for h in status(obj).get("history", [])}
    assert "AWSError" not in operator.event_reasons("orders")


def _crash_during_start(operator, kube, aws, namespace: str) -> None:
    """Kill the operator after its StartBuild took effect, before it heard the answer."""
    aws.emulator.fault("delay_response", service="codebuild", operation="StartBuild", seconds=60)
    apply(kube, namespace, manifest("orders"))
    wait_until(lambda: _operator_calls(aws).get("codebuild.StartBuild", 0) >= 1, 60, what="StartBuild to be called")
    operator.kill()
    obj = operator.rdb("orders")
    assert status(obj).get("buildIntent") and not status(obj).get("builds")  # only the intent is in status
    assert len(_builds_of(aws, f"{namespace}/orders")) == 1


def test_a_crash_between_start_build_and_its_status_write_recovers_with_one_call(operator, kube, aws, simulator, namespace):
    _other_builds(aws, 105)  # more than a page of someone else's builds
    _crash_during_start(operator, kube, aws, namespace)
    aws.emulator.reset_calls()
    operator.start()
    obj = operator.wait_ready("orders", timeout=90)
    assert len(_builds_of(aws, f"{namespace}/orders")) == 1, "a second build was started"
    calls = _operator_calls(aws)
    assert calls.get("codebuild.StartBuild") == 1  # the same token again: the same build
    assert not [op for op in calls if ".List" in op], calls
    assert len(status(obj)["builds"]) == 1 and status(obj).get("buildIntent") is None


def test_a_restart_after_the_idempotency_window_finds_the_build_instead_of_starting_another(operator, kube, aws, simulator, namespace):
    window = {"REFLEX_BUILD_IDEMPOTENCY_WINDOW_SECONDS": "6", "REFLEX_BUILD_IDEMPOTENCY_MARGIN_SECONDS": "2"}
    aws.emulator.config(idempotency_window_seconds=6)
    operator.stop()
    operator.start(**window)
    _other_builds(aws, 5)
    _crash_during_start(operator, kube, aws, namespace)
    _other_builds(aws, 120)  # started while the operator is down: its build is not among the newest 100
    recorded = time.time()
    wait_until(lambda: time.time() - recorded > 8, 30, what="the idempotency window to pass")
    aws.emulator.reset_calls()
    operator.start(**window)
    obj = operator.wait_ready("orders", timeout=120)
    assert len(_builds_of(aws, f"{namespace}/orders")) == 1, "a second build was started"
    calls = _operator_calls(aws)
    assert "codebuild.StartBuild" not in calls, calls  # past the window StartBuild could start another
    assert calls.get("codebuild.ListBuildsForProject", 0) >= 1  # the bounded look, only here
    assert len(status(obj)["builds"]) == 1 and status(obj).get("buildIntent") is None


def _metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` with these labels (0 when there are none)."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items())
    )


def test_a_burst_beyond_the_budget_waits_for_it_and_is_never_throttled(operator, kube, aws, simulator, namespace):
    operator.stop()
    operator.start(REFLEX_AWS_RATE_BUDGETS='{"codebuild.build-modify": "1/0.2"}')  # one start per 5 s
    for name in ("a", "b", "c"):  # three input sets: three builds (the same inputs would share one)
        apply(kube, namespace, manifest(name, secret=f"src-{name}", spec={"serverVersion": f"v1.4.0-{name}"}))
    for name in ("a", "b", "c"):
        operator.wait_ready(name, timeout=120)
    metrics = operator.metrics()
    family = {"service": "codebuild", "family": "codebuild.build-modify"}
    assert _metric(metrics, "reflex_operator_aws_budget_wait_seconds_count", **family) >= 3
    # Some starts waited for their token, with the worker given back (not asleep in the pass).
    assert _metric(metrics, "reflex_operator_aws_budget_deferred_total", **family) >= 1
    assert _metric(metrics, "reflex_operator_aws_budget_wait_seconds_sum", **family) < 1
    assert _metric(metrics, "reflex_operator_aws_throttles_total", service="codebuild") == 0
    assert _operator_calls(aws).get("codebuild.StartBuild") == 3


WAITS_FOR_REGISTRATION = "RegisterTaskDefinition token"


def _ready_and_held(operator) -> tuple[str, str] | None:
    """(the database that is Ready, the one whose registration waits for its token), once so."""
    objs = {name: operator.rdb(name) for name in ("a", "b")}
    ready = [n for n, o in objs.items() if o and _condition(o, "Ready").get("status") == "True"]
    held = [n for n, o in objs.items() if o and WAITS_FOR_REGISTRATION in _condition(o, "Reconciling").get("message", "")]
    return (ready[0], held[0]) if len(ready) == 1 and len(held) == 1 and ready != held else None


def test_a_pass_waiting_for_a_registration_token_does_not_keep_another_databases_ready_from_being_written(
    operator, kube, aws, simulator, namespace
):
    operator.stop()
    # One registration, then one a minute; one worker: a pass asleep on the budget would hold it,
    # and the first database's Ready would wait a minute behind the second one's registration.
    operator.start(REFLEX_AWS_RATE_BUDGETS='{"ecs.task-definition-modify": "1/0.0167"}', REFLEX_WORKERS="1")
    aws.emulator.reset_calls()
    started = time.monotonic()
    for name in ("a", "b"):
        apply(kube, namespace, manifest(name, secret=f"src-{name}"))
    first, second = wait_until(lambda: _ready_and_held(operator), 40, what="one Ready while the other waits for its token")  # type: ignore[misc]
    assert time.monotonic() - started < 45  # well before the second token (60 s)
    held = operator.rdb(second)
    assert status(held)["phase"] == "Deploying" and _condition(held, "Stalled").get("status") == "False"
    metrics = operator.metrics()
    family = {"service": "ecs", "family": "ecs.task-definition-modify"}
    assert _metric(metrics, "reflex_operator_aws_budget_deferred_total", **family) >= 1
    assert _metric(metrics, "reflex_operator_aws_budget_wait_seconds_sum", **family) < 1  # nobody slept on it
    operator.wait_ready(second, timeout=120)  # at its token's time, without failing or backing off
    assert _operator_calls(aws).get("ecs.RegisterTaskDefinition") == 2
    assert "AWSError" not in operator.event_reasons(second)
    assert _metric(operator.metrics(), "reflex_operator_aws_throttles_total", service="ecs") == 0
