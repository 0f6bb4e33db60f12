"""The AWS emulator as AWS clients see it: boto3 over HTTP against the emulator process. One test (or
a few) per moto extension, plus the control API (faults, call counting, config, reset)."""

from __future__ import annotations

import json
import time
import urllib.error
from typing import Any

import pytest
from botocore.exceptions import ClientError

from reflex_dev._proc import wait_until
from reflex_dev.emulator import bootstrap

pytestmark = pytest.mark.integration

PROJECT = "reflex-server-build"
CLUSTER = "reflex"


def eventually(predicate: Any, timeout: float = 10.0, what: str = "condition") -> Any:
    return wait_until(predicate, timeout, interval=0.05, what=what)


# --- CodeBuild -----------------------------------------------------------------------------------


def get_build(aws: Any, build_id: str) -> dict[str, Any]:
    return aws.codebuild.batch_get_builds(ids=[build_id])["builds"][0]


def start(aws: Any, resource: str = "ns/db", **kwargs: Any) -> dict[str, Any]:
    env = [{"name": "REFLEX_RESOURCE", "value": resource}, {"name": "REFLEX_SERVER_VERSION", "value": "v1.4.0"}]
    return aws.codebuild.start_build(projectName=PROJECT, environmentVariablesOverride=env, **kwargs)["build"]


def test_build_progresses_queued_in_progress_succeeded(aws: Any) -> None:
    build = start(aws)
    assert build["buildStatus"] == "IN_PROGRESS"
    assert build["currentPhase"] == "QUEUED"
    assert build["buildComplete"] is False
    assert "endTime" not in build

    seen_phases: set[str] = set()

    def finished() -> dict[str, Any] | None:
        b = get_build(aws, build["id"])
        seen_phases.add(b["currentPhase"])
        return b if b["buildComplete"] else None

    done = eventually(finished, what="build to finish")
    assert done["buildStatus"] == "SUCCEEDED"
    assert done["currentPhase"] == "COMPLETED"
    assert seen_phases & {"PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD"}
    assert done["endTime"] > done["startTime"]
    kinds = [p["phaseType"] for p in done["phases"]]
    assert kinds[:3] == ["SUBMITTED", "QUEUED", "PROVISIONING"] and kinds[-1] == "COMPLETED"
    assert all(p["phaseStatus"] == "SUCCEEDED" for p in done["phases"][:-1])
    assert done["logs"]["groupName"] == f"/aws/codebuild/{PROJECT}"
    assert done["logs"]["streamName"] == build["id"].split(":", 1)[1]
    assert done["logs"]["deepLink"].startswith("https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#")
    assert done["environment"]["computeType"] == "BUILD_GENERAL1_MEDIUM"


def test_build_keeps_environment_variables_and_compute_override(aws: Any) -> None:
    build = start(aws, "ns/keep", computeTypeOverride="BUILD_GENERAL1_LARGE")
    got = get_build(aws, build["id"])
    env = {v["name"]: v["value"] for v in got["environment"]["environmentVariables"]}
    assert env == {"REFLEX_RESOURCE": "ns/keep", "REFLEX_SERVER_VERSION": "v1.4.0"}
    assert got["environment"]["computeType"] == "BUILD_GENERAL1_LARGE"


def test_idempotency_token_returns_the_same_build_within_the_window(aws: Any) -> None:
    first = start(aws, "ns/idem", idempotencyToken="tok-1")
    again = start(aws, "ns/idem", idempotencyToken="tok-1")
    assert again["id"] == first["id"]
    other = start(aws, "ns/idem", idempotencyToken="tok-2")
    assert other["id"] != first["id"]
    with pytest.raises(ClientError) as err:
        start(aws, "ns/changed", idempotencyToken="tok-1")
    assert err.value.response["Error"]["Code"] == "InvalidInputException"
    ids = aws.codebuild.list_builds_for_project(projectName=PROJECT)["ids"]
    assert sorted(ids) == sorted([first["id"], other["id"]])


def test_idempotency_token_expires(aws: Any) -> None:
    aws.emulator.config(idempotency_window_seconds=0.2)
    first = start(aws, idempotencyToken="tok")
    eventually(lambda: start(aws, idempotencyToken="tok")["id"] != first["id"], what="token to expire")


def test_stop_build_stops_a_running_build(aws: Any) -> None:
    aws.emulator.config(codebuild_in_progress_seconds=30)
    build = start(aws)
    stopped = aws.codebuild.stop_build(id=build["id"])["build"]
    assert stopped["buildStatus"] == "STOPPED"
    assert stopped["buildComplete"] is True
    got = get_build(aws, build["id"])
    assert got["buildStatus"] == "STOPPED" and got["currentPhase"] == "COMPLETED" and "endTime" in got


def test_stop_build_leaves_a_finished_build_alone(aws: Any) -> None:
    build = start(aws)
    eventually(lambda: get_build(aws, build["id"])["buildComplete"], what="build to finish")
    assert aws.codebuild.stop_build(id=build["id"])["build"]["buildStatus"] == "SUCCEEDED"


def test_injected_build_failure_matches_environment(aws: Any) -> None:
    aws.emulator.fault("build_fail", match={"env": {"REFLEX_RESOURCE": "ns/broken"}}, message="compile error")
    bad = start(aws, "ns/broken")
    good = start(aws, "ns/fine")
    bad_done = eventually(lambda: (b := get_build(aws, bad["id"]))["buildComplete"] and b, what="failed build")
    assert bad_done["buildStatus"] == "FAILED"
    failed = [p for p in bad_done["phases"] if p.get("phaseStatus") == "FAILED"]
    assert [p["phaseType"] for p in failed] == ["BUILD"]
    assert failed[0]["contexts"][0]["message"] == "compile error"
    assert eventually(lambda: (b := get_build(aws, good["id"]))["buildComplete"] and b)["buildStatus"] == "SUCCEEDED"
    # The fault was used up: the next build of that resource succeeds.
    again = start(aws, "ns/broken")
    assert eventually(lambda: (b := get_build(aws, again["id"]))["buildComplete"] and b)["buildStatus"] == "SUCCEEDED"


def test_build_failure_by_count(aws: Any) -> None:
    aws.emulator.fault("build_fail", count=2)
    builds = [start(aws, f"ns/b{i}") for i in range(3)]
    ids = [b["id"] for b in builds]

    def statuses() -> list[str] | None:
        got = aws.codebuild.batch_get_builds(ids=ids)["builds"]
        return [b["buildStatus"] for b in got] if all(b["buildComplete"] for b in got) else None

    assert eventually(statuses) == ["FAILED", "FAILED", "SUCCEEDED"]


def test_batch_get_builds_keeps_order_and_reports_missing(aws: Any) -> None:
    a, b = start(aws, "ns/a"), start(aws, "ns/b")
    missing = f"{PROJECT}:00000000-0000-0000-0000-000000000000"
    got = aws.codebuild.batch_get_builds(ids=[b["id"], missing, a["id"]])
    assert [x["id"] for x in got["builds"]] == [b["id"], a["id"]]
    assert got["buildsNotFound"] == [missing]
    with pytest.raises(ClientError):
        aws.codebuild.batch_get_builds(ids=[f"{PROJECT}:{i}" for i in range(101)])


def test_build_lists_are_newest_first(aws: Any) -> None:
    ids = [start(aws, f"ns/{i}")["id"] for i in range(3)]
    assert aws.codebuild.list_builds_for_project(projectName=PROJECT)["ids"] == ids[::-1]
    assert aws.codebuild.list_builds()["ids"] == ids[::-1]
    assert aws.codebuild.list_builds_for_project(projectName=PROJECT, sortOrder="ASCENDING")["ids"] == ids


# --- ECS -----------------------------------------------------------------------------------------


def register(aws: Any, image: str = "reflex-server:1", family: str = "reflex-db") -> str:
    return aws.ecs.register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "reflex-server", "image": image, "essential": True}],
    )["taskDefinition"]["taskDefinitionArn"]


def network(aws: Any, security_groups: bool = True) -> dict[str, Any]:
    conf: dict[str, Any] = {"subnets": json.loads(aws.settings["REFLEX_SUBNETS"])}
    if security_groups:
        conf["securityGroups"] = json.loads(aws.settings["REFLEX_SECURITY_GROUPS"])
    return {"awsvpcConfiguration": conf}


def create(aws: Any, name: str = "svc-a", desired: int = 1, token: str | None = "tok-a", **kw: Any) -> dict[str, Any]:
    args = dict(
        cluster=CLUSTER,
        serviceName=name,
        taskDefinition=kw.pop("task_definition", None) or register(aws),
        desiredCount=desired,
        launchType="FARGATE",
        networkConfiguration=kw.pop("network", None) or network(aws),
        **kw,
    )
    if token:
        args["clientToken"] = token
    return aws.ecs.create_service(**args)["service"]


def describe(aws: Any, name: str = "svc-a") -> dict[str, Any]:
    return aws.ecs.describe_services(cluster=CLUSTER, services=[name])["services"][0]


def test_running_count_follows_desired_count(aws: Any) -> None:
    svc = create(aws, desired=2)
    assert svc["runningCount"] == 0 and svc["pendingCount"] == 2
    eventually(lambda: describe(aws)["runningCount"] == 2, what="2 running")
    aws.ecs.update_service(cluster=CLUSTER, service="svc-a", desiredCount=3)
    assert describe(aws)["runningCount"] == 2  # not at once
    eventually(lambda: describe(aws)["runningCount"] == 3, what="3 running")
    aws.ecs.update_service(cluster=CLUSTER, service="svc-a", desiredCount=0)
    got = eventually(lambda: (s := describe(aws))["runningCount"] == 0 and s, what="scaled to 0")
    assert got["desiredCount"] == 0 and got["pendingCount"] == 0
    assert [d["rolloutState"] for d in got["deployments"]] == ["COMPLETED"]  # scaling is no deployment


def test_new_task_definition_rolls_out_a_new_deployment(aws: Any) -> None:
    create(aws)
    first = eventually(lambda: (s := describe(aws))["deployments"][0]["rolloutState"] == "COMPLETED" and s)
    old_id = first["deployments"][0]["id"]
    td2 = register(aws, image="reflex-server:2")
    updated = aws.ecs.update_service(cluster=CLUSTER, service="svc-a", taskDefinition="reflex-db:2")["service"]
    assert updated["taskDefinition"] == td2  # the ARN, though family:revision was given
    deps = updated["deployments"]
    assert [(d["status"], d["rolloutState"]) for d in deps] == [("PRIMARY", "IN_PROGRESS"), ("ACTIVE", "COMPLETED")]
    assert deps[1]["id"] == old_id and deps[1]["runningCount"] == 1 and deps[0]["taskDefinition"] == td2
    done = eventually(lambda: (s := describe(aws))["deployments"][0]["rolloutState"] == "COMPLETED" and s)
    assert len(done["deployments"]) == 1 and done["deployments"][0]["id"] != old_id
    assert done["runningCount"] == 1


def test_force_new_deployment_starts_a_deployment(aws: Any) -> None:
    create(aws)
    old = eventually(lambda: (s := describe(aws))["deployments"][0]["rolloutState"] == "COMPLETED" and s)
    svc = aws.ecs.update_service(cluster=CLUSTER, service="svc-a", forceNewDeployment=True)["service"]
    assert svc["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert svc["deployments"][0]["id"] != old["deployments"][0]["id"]
    # Same task definition, no force: no new deployment.
    same = aws.ecs.update_service(cluster=CLUSTER, service="svc-a", taskDefinition=old["taskDefinition"])["service"]
    assert same["deployments"][0]["id"] == svc["deployments"][0]["id"]


def test_injected_deployment_failure_trips_the_circuit_breaker(aws: Any) -> None:
    aws.emulator.fault("deployment_fail", match={"service": "svc-bad"})
    create(aws, name="svc-ok", token="t-ok")
    create(aws, name="svc-bad", token="t-bad")
    bad = eventually(lambda: (s := describe(aws, "svc-bad"))["deployments"][0]["rolloutState"] != "IN_PROGRESS" and s)
    dep = bad["deployments"][0]
    assert dep["rolloutState"] == "FAILED"
    assert dep["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert dep["runningCount"] == 0 and dep["failedTasks"] >= 1 and bad["runningCount"] == 0
    assert eventually(lambda: describe(aws, "svc-ok")["deployments"][0]["rolloutState"] != "IN_PROGRESS")
    assert describe(aws, "svc-ok")["deployments"][0]["rolloutState"] == "COMPLETED"
    # A later deployment (the fault is used up) succeeds.
    aws.ecs.update_service(cluster=CLUSTER, service="svc-bad", forceNewDeployment=True)
    fixed = eventually(lambda: (s := describe(aws, "svc-bad"))["deployments"][0]["rolloutState"] != "IN_PROGRESS" and s)
    assert fixed["deployments"][0]["rolloutState"] == "COMPLETED" and fixed["runningCount"] == 1


def test_failed_rollout_keeps_the_previous_deployment_running(aws: Any) -> None:
    create(aws)
    eventually(lambda: describe(aws)["deployments"][0]["rolloutState"] == "COMPLETED")
    aws.emulator.fault("deployment_fail", match={"service": "svc-a"})
    register(aws, image="reflex-server:2")
    aws.ecs.update_service(cluster=CLUSTER, service="svc-a", taskDefinition="reflex-db:2")
    got = eventually(lambda: (s := describe(aws))["deployments"][0]["rolloutState"] != "IN_PROGRESS" and s)
    assert [(d["status"], d["rolloutState"], d["runningCount"]) for d in got["deployments"]] == [
        ("PRIMARY", "FAILED", 0),
        ("ACTIVE", "COMPLETED", 1),
    ]
    assert got["runningCount"] == 1


def test_client_token_makes_create_service_idempotent(aws: Any) -> None:
    td = register(aws)
    first = create(aws, token="tok-1", task_definition=td)
    again = create(aws, token="tok-1", task_definition=td)
    assert again["serviceArn"] == first["serviceArn"]
    assert again["deployments"][0]["id"] == first["deployments"][0]["id"]
    for token in ("tok-2", None):
        with pytest.raises(ClientError) as err:
            create(aws, token=token, task_definition=td)
        assert err.value.response["Error"]["Code"] == "InvalidParameterException"
        assert err.value.response["Error"]["Message"] == "Creation of service was not idempotent."
    with pytest.raises(ClientError):  # same token, other parameters
        create(aws, token="tok-1", task_definition=td, desired=3)
    # Once deleted (INACTIVE) the name can be used again.
    aws.ecs.delete_service(cluster=CLUSTER, service="svc-a", force=True)
    recreated = create(aws, token="tok-3", task_definition=td)
    assert recreated["status"] == "ACTIVE"


def test_delete_service_leaves_it_inactive_with_nothing_running(aws: Any) -> None:
    create(aws)
    eventually(lambda: describe(aws)["runningCount"] == 1)
    deleted = aws.ecs.delete_service(cluster=CLUSTER, service="svc-a", force=True)["service"]
    assert deleted["status"] == "INACTIVE" and deleted["desiredCount"] == 0 and deleted["runningCount"] == 0
    with pytest.raises(ClientError) as err:
        aws.ecs.update_service(cluster=CLUSTER, service="svc-a", desiredCount=1)
    assert err.value.response["Error"]["Code"] == "ServiceNotActiveException"
    assert aws.ecs.list_services(cluster=CLUSTER)["serviceArns"] == []
    assert describe(aws)["status"] == "INACTIVE"
    gone = aws.ecs.describe_services(cluster=CLUSTER, services=["nope"])
    assert gone["failures"][0]["reason"] == "MISSING"


def test_awsvpc_without_security_groups_is_accepted(aws: Any) -> None:
    svc = create(aws, network=network(aws, security_groups=False))
    assert svc["status"] == "ACTIVE"


# --- faults, call counting, config, reset ---------------------------------------------------------


def test_throttling_is_seen_as_throttling_exception_and_retried(aws: Any) -> None:
    create(aws)
    aws.emulator.fault("throttle", service="ecs", operation="DescribeServices", count=1)
    no_retry = aws.emulator.client("ecs", retries={"mode": "standard", "total_max_attempts": 1})
    with pytest.raises(ClientError) as err:
        no_retry.describe_services(cluster=CLUSTER, services=["svc-a"])
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err.value.response["Error"]["Message"] == "Rate exceeded"

    aws.emulator.fault("throttle", service="ecs", operation="DescribeServices", count=2)
    aws.emulator.reset_calls()
    retrying = aws.emulator.client("ecs", retries={"mode": "standard", "total_max_attempts": 5})
    got = retrying.describe_services(cluster=CLUSTER, services=["svc-a"])
    assert got["services"][0]["serviceName"] == "svc-a"
    assert got["ResponseMetadata"]["RetryAttempts"] == 2
    assert aws.emulator.calls() == {"ecs.DescribeServices": 3}
    # Other operations were not affected.
    assert aws.emulator.faults() == []


def test_5xx_errors_are_retried_other_errors_are_not(aws: Any) -> None:
    aws.emulator.fault("error5xx", service="codebuild", status=503, count=1)
    retrying = aws.emulator.client("codebuild", retries={"mode": "standard", "total_max_attempts": 3})
    assert retrying.batch_get_projects(names=[PROJECT])["ResponseMetadata"]["RetryAttempts"] == 1
    aws.emulator.fault("error5xx", service="codebuild", status=500)
    with pytest.raises(ClientError) as err:
        aws.emulator.client("codebuild", retries={"total_max_attempts": 1}).batch_get_projects(names=[PROJECT])
    assert err.value.response["Error"]["Code"] == "InternalFailure"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    aws.emulator.fault("error", service="ecs", code="AccessDeniedException", message="not allowed")
    aws.emulator.reset_calls()
    with pytest.raises(ClientError) as err:
        retrying_ecs = aws.emulator.client("ecs", retries={"mode": "standard", "total_max_attempts": 3})
        retrying_ecs.list_services(cluster=CLUSTER)
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert aws.emulator.calls() == {"ecs.ListServices": 1}


def test_throttling_a_query_protocol_service(aws: Any) -> None:
    aws.emulator.fault("throttle", service="ec2", count=1)
    with pytest.raises(ClientError) as err:
        aws.emulator.client("ec2", retries={"total_max_attempts": 1}).describe_vpcs()
    assert err.value.response["Error"]["Code"] == "RequestLimitExceeded"


def test_calls_are_counted_by_service_and_operation(aws: Any) -> None:
    assert aws.emulator.calls() == {}
    aws.ecs.list_services(cluster=CLUSTER)
    aws.ecs.list_services(cluster=CLUSTER)
    aws.codebuild.batch_get_builds(ids=[f"{PROJECT}:x"])
    aws.ec2.describe_vpcs()
    aws.secretsmanager.list_secrets()
    assert aws.emulator.calls() == {
        "ecs.ListServices": 2,
        "codebuild.BatchGetBuilds": 1,
        "ec2.DescribeVpcs": 1,
        "secretsmanager.ListSecrets": 1,
    }
    aws.emulator.reset_calls()
    assert aws.emulator.calls() == {}


def test_config_rejects_unknown_keys(aws: Any) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        aws.emulator.config(no_such_timing=1)
    assert err.value.code == 400
    assert aws.emulator.config(ecs_scale_seconds=0.1)["ecs_scale_seconds"] == 0.1


def test_reset_clears_resources_faults_counters_and_config(aws: Any) -> None:
    create(aws)
    start(aws)
    aws.secretsmanager.create_secret(Name="reflexdb/ns/db", SecretString="postgres://u:p@h/db")
    aws.emulator.fault("throttle", service="ecs", operation="DescribeServices")
    aws.emulator.config(ecs_scale_seconds=9)
    aws.emulator.reset()
    assert aws.emulator.faults() == []
    assert aws.emulator.config()["ecs_scale_seconds"] != 9
    assert aws.emulator.calls() == {}
    with pytest.raises(ClientError):  # the cluster is gone with everything else
        aws.ecs.describe_services(cluster=CLUSTER, services=["svc-a"])["services"]
    assert aws.secretsmanager.list_secrets()["SecretList"] == []
    settings = bootstrap(aws.emulator.url, "us-east-1")
    assert aws.codebuild.list_builds_for_project(projectName=PROJECT)["ids"] == []
    assert set(settings) == {
        "REFLEX_ECS_CLUSTER",
        "REFLEX_CODEBUILD_PROJECT",
        "REFLEX_ECR_REPOSITORY",
        "REFLEX_SUBNETS",
        "REFLEX_SECURITY_GROUPS",
    }


def test_bootstrap_is_idempotent(aws: Any) -> None:
    again = bootstrap(aws.emulator.url, "us-east-1")
    assert again == aws.settings
    assert len(json.loads(again["REFLEX_SUBNETS"])) == 1
    assert aws.ecr.describe_repositories(repositoryNames=["reflex-server"])["repositories"]
    project = aws.codebuild.batch_get_projects(names=[PROJECT])["projects"][0]
    assert project["serviceRole"] == "arn:aws:iam::123456789012:role/service-role/reflex-codebuild"
    assert aws.ecs.describe_clusters(clusters=[CLUSTER])["clusters"][0]["status"] == "ACTIVE"


def test_timings_apply_to_new_builds(aws: Any) -> None:
    aws.emulator.config(codebuild_queued_seconds=0, codebuild_in_progress_seconds=0)
    t0 = time.monotonic()
    build = start(aws)
    assert get_build(aws, build["id"])["buildStatus"] == "SUCCEEDED"
    assert time.monotonic() - t0 < 5


def test_calls_are_counted_per_client_app_id(aws: Any) -> None:
    tagged = aws.emulator.client("ecs", user_agent_appid="reflex-operator")
    tagged.list_clusters()
    tagged.list_clusters()
    aws.ecs.list_clusters()  # another client: counted in the total only
    assert aws.emulator.control("GET", "calls/by/reflex-operator") == {"ecs.ListClusters": 2}
    assert aws.emulator.calls()["ecs.ListClusters"] == 3


def test_delay_response_holds_the_answer_but_the_call_takes_effect(aws: Any) -> None:
    """How the crash tests find the window between an AWS call and the caller hearing of it."""
    import threading

    aws.emulator.fault("delay_response", service="codebuild", operation="StartBuild", seconds=3)
    project = aws.settings["REFLEX_CODEBUILD_PROJECT"]
    done = threading.Event()
    threading.Thread(target=lambda: (aws.codebuild.start_build(projectName=project), done.set()), daemon=True).start()
    # The build exists while its caller is still waiting for the answer.
    wait_until(lambda: aws.codebuild.list_builds_for_project(projectName=project)["ids"], 10, what="the build")
    assert not done.is_set()
    wait_until(done.is_set, 20, what="the held answer")


def test_build_minutes_compressed_by_a_stated_factor(aws: Any) -> None:
    # 0.05 minutes (3 s) compressed 3 times: about 1 s from StartBuild to SUCCEEDED, a tenth of it QUEUED.
    aws.emulator.config(codebuild_build_minutes=0.05, codebuild_time_compression=3)
    try:
        build = start(aws, resource="ns/minutes")
        done = eventually(lambda: (b := get_build(aws, build["id"]))["buildComplete"] and b, what="build to finish")
        took = (done["endTime"] - done["startTime"]).total_seconds()
        assert 0.9 <= took <= 1.1, took
        queued = next(p for p in done["phases"] if p["phaseType"] == "QUEUED")
        assert 0.05 <= queued["durationInSeconds"] <= 0.2 or queued["durationInSeconds"] == 0
    finally:
        aws.emulator.config(codebuild_build_minutes=0, codebuild_time_compression=1)


def test_batch_delete_builds_removes_them(aws: Any) -> None:
    kept, gone = start(aws, resource="ns/kept"), start(aws, resource="ns/gone")
    answer = aws.codebuild.batch_delete_builds(ids=[gone["id"], f"{PROJECT}:nope"])
    assert answer["buildsDeleted"] == [gone["id"]]
    assert [b["id"] for b in answer["buildsNotDeleted"]] == [f"{PROJECT}:nope"]
    assert aws.codebuild.batch_get_builds(ids=[gone["id"]])["buildsNotFound"] == [gone["id"]]
    ids = aws.codebuild.list_builds_for_project(projectName=PROJECT)["ids"]
    assert gone["id"] not in ids and kept["id"] in ids
