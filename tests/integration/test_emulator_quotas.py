"""The AWS quotas the emulator models, as AWS clients see them (boto3 over HTTP against the emulator
process): request-rate token buckets per API family, the CodeBuild concurrent-build quota and its
queue, the ECS services-per-cluster quota; and the control endpoints the simulator and the
benchmarks read (services, stats)."""

from __future__ import annotations

import json
import urllib.error
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

from reflex_dev._proc import wait_until
from reflex_dev.emu_state import RATE_LIMITS

pytestmark = pytest.mark.integration

PROJECT = "reflex-server-build"
CLUSTER = "reflex"
APP = "quota-test"


def eventually(predicate: Any, timeout: float = 15.0, what: str = "condition") -> Any:
    return wait_until(predicate, timeout, interval=0.05, what=what)


def no_retries(aws: Any, name: str) -> Any:
    """A client that shows every throttled answer (one attempt) and names itself in the User-Agent."""
    return aws.emulator.client(name, retries={"mode": "standard", "total_max_attempts": 1}, user_agent_appid=APP)


def describe(ecs: Any) -> dict[str, Any]:
    return ecs.describe_services(cluster=CLUSTER, services=["none"])


# --- request-rate token buckets --------------------------------------------------------------------


def test_defaults_are_aws_figures(aws: Any) -> None:
    config = aws.emulator.control("GET", "config")
    assert config["rate_limits"] == {fam: [cap, refill] for fam, (cap, refill, _) in RATE_LIMITS.items()}
    assert config["rate_limits"]["ecs.service_read"] == [100, 20]
    assert config["codebuild_concurrent_builds"] == 60 and config["codebuild_queue_factor"] == 5


def test_a_request_over_its_bucket_is_throttled_like_aws(aws: Any) -> None:
    aws.emulator.config(rate_limits={"ecs.service_read": [3, 0.001]})
    ecs = no_retries(aws, "ecs")
    for _ in range(3):
        describe(ecs)
    with pytest.raises(ClientError) as err:
        describe(ecs)
    error = err.value.response
    assert error["Error"]["Code"] == "ThrottlingException"
    assert error["Error"]["Message"] == "Rate exceeded"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    # botocore's standard (and adaptive) retry mode sees it as throttling.
    context = RetryContext(attempt_number=1, operation_model=None, parsed_response=error, http_response=None)
    assert ThrottledRetryableChecker().is_retryable(context)
    assert aws.emulator.throttled() == {"ecs.DescribeServices": 1}
    assert aws.emulator.throttled(APP) == {"ecs.DescribeServices": 1}
    assert aws.emulator.calls()["ecs.DescribeServices"] == 4  # throttled requests are calls too


def test_a_family_shares_one_bucket_and_families_are_separate(aws: Any) -> None:
    aws.emulator.config(rate_limits={"ecs.service_read": [2, 0.001], "codebuild.read": [1, 0.001]})
    ecs, codebuild = no_retries(aws, "ecs"), no_retries(aws, "codebuild")
    describe(ecs)
    ecs.list_services(cluster=CLUSTER)
    with pytest.raises(ClientError):
        describe(ecs)
    ecs.describe_clusters(clusters=[CLUSTER])  # another family: its own bucket
    codebuild.batch_get_builds(ids=[f"{PROJECT}:x"])
    with pytest.raises(ClientError):
        codebuild.list_builds_for_project(projectName=PROJECT)
    assert aws.emulator.throttled() == {"ecs.DescribeServices": 1, "codebuild.ListBuildsForProject": 1}


def test_the_bucket_refills(aws: Any) -> None:
    aws.emulator.config(rate_limits={"ecs.service_read": [1, 5]})
    ecs = no_retries(aws, "ecs")
    describe(ecs)
    with pytest.raises(ClientError):
        describe(ecs)

    def admitted() -> bool:
        try:
            describe(ecs)
            return True
        except ClientError:
            return False

    eventually(admitted, what="a token to be refilled")


def test_standard_retries_ride_out_a_short_throttle(aws: Any) -> None:
    aws.emulator.config(rate_limits={"ecs.service_read": [1, 2]})
    ecs = aws.emulator.client("ecs", retries={"mode": "standard", "max_attempts": 10})
    describe(ecs)
    describe(ecs)  # throttled first, then retried after botocore's throttling backoff
    assert aws.emulator.throttled().get("ecs.DescribeServices", 0) >= 1


def test_rate_limits_can_be_turned_off_or_scaled(aws: Any) -> None:
    aws.emulator.config(rate_limits={"ecs.service_read": [1, 0.001]})
    ecs = no_retries(aws, "ecs")
    aws.emulator.config(rate_limits=None)
    assert aws.emulator.control("GET", "config")["rate_limits"] is None
    for _ in range(5):
        describe(ecs)
    aws.emulator.config(rate_limits={"ecs.service_read": [1, 0.001]}, rate_limit_scale=3)
    for _ in range(3):
        describe(ecs)
    with pytest.raises(ClientError):
        describe(ecs)
    aws.emulator.config(rate_limit_scale=0)
    for _ in range(5):
        describe(ecs)
    assert aws.emulator.throttled() == {"ecs.DescribeServices": 1}


def test_throttled_counts_reset_with_the_calls(aws: Any) -> None:
    aws.emulator.config(rate_limits={"ecs.service_read": [1, 0.001]})
    ecs = no_retries(aws, "ecs")
    describe(ecs)
    with pytest.raises(ClientError):
        describe(ecs)
    assert aws.emulator.throttled() == {"ecs.DescribeServices": 1}
    aws.emulator.reset_calls()
    assert aws.emulator.throttled() == {} and aws.emulator.throttled(APP) == {}


def test_config_rejects_unknown_families(aws: Any) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        aws.emulator.config(rate_limits={"ecs.no_such_family": [1, 1]})
    assert err.value.code == 400


def test_control_endpoints_are_neither_counted_nor_throttled(aws: Any) -> None:
    aws.emulator.config(rate_limits={"ecs.service_read": [1, 0.001]})
    for _ in range(5):
        aws.emulator.services()
        aws.emulator.stats()
    assert aws.emulator.calls() == {} and aws.emulator.throttled() == {}


# --- CodeBuild concurrent-build quota ------------------------------------------------------------


def start(aws: Any, resource: str, **kwargs: Any) -> dict[str, Any]:
    env = [{"name": "REFLEX_RESOURCE", "value": resource}]
    return aws.codebuild.start_build(projectName=PROJECT, environmentVariablesOverride=env, **kwargs)["build"]


def build(aws: Any, build_id: str) -> dict[str, Any]:
    return aws.codebuild.batch_get_builds(ids=[build_id])["builds"][0]


def phase(aws: Any, build_id: str) -> str:
    return build(aws, build_id)["currentPhase"]


def test_builds_beyond_the_concurrent_quota_queue_then_start_as_slots_free(aws: Any) -> None:
    # Builds that would run for minutes: slots free only when a build is stopped.
    aws.emulator.config(codebuild_concurrent_builds=2, codebuild_queue_factor=1, codebuild_queued_seconds=0.05,
                        codebuild_in_progress_seconds=600)
    first, second, third, fourth = (start(aws, f"ns/db-{i}")["id"] for i in range(4))
    eventually(lambda: phase(aws, first) != "QUEUED" and phase(aws, second) != "QUEUED", what="two builds to run")
    assert phase(aws, third) == "QUEUED" and phase(aws, fourth) == "QUEUED"
    assert build(aws, third)["buildStatus"] == "IN_PROGRESS" and not build(aws, third)["buildComplete"]

    with pytest.raises(ClientError) as err:
        start(aws, "ns/db-5")
    assert err.value.response["Error"]["Code"] == "AccountLimitExceededException"
    assert err.value.response["Error"]["Message"] == "Cannot have more than 2 builds in queue for the account"

    aws.codebuild.stop_build(id=first)
    eventually(lambda: phase(aws, third) != "QUEUED", what="the oldest queued build to start")
    assert phase(aws, fourth) == "QUEUED"
    queued = next(p for p in build(aws, third)["phases"] if p["phaseType"] == "QUEUED")
    assert queued["endTime"] >= build(aws, first)["endTime"]  # it waited for the slot
    start(aws, "ns/db-6")  # the queue has room again


def test_a_queued_build_can_be_stopped_and_its_place_frees(aws: Any) -> None:
    aws.emulator.config(codebuild_concurrent_builds=1, codebuild_queue_factor=1, codebuild_in_progress_seconds=600)
    running, queued = start(aws, "ns/a")["id"], start(aws, "ns/b")["id"]
    stopped = aws.codebuild.stop_build(id=queued)["build"]
    assert stopped["buildStatus"] == "STOPPED"
    start(aws, "ns/c")  # its place in the queue is free
    assert build(aws, running)["buildStatus"] == "IN_PROGRESS"


def test_a_repeated_token_is_not_refused_when_the_queue_is_full(aws: Any) -> None:
    aws.emulator.config(codebuild_concurrent_builds=1, codebuild_queue_factor=1, codebuild_in_progress_seconds=600)
    start(aws, "ns/a")
    queued = start(aws, "ns/b", idempotencyToken="tok-b")
    assert start(aws, "ns/b", idempotencyToken="tok-b")["id"] == queued["id"]


def test_finished_builds_free_their_slots(aws: Any) -> None:
    aws.emulator.config(codebuild_concurrent_builds=1, codebuild_queue_factor=3)
    ids = [start(aws, f"ns/db-{i}")["id"] for i in range(3)]
    done = eventually(lambda: all(build(aws, i)["buildComplete"] for i in ids) or None, what="every build to end")
    assert done
    assert [build(aws, i)["buildStatus"] for i in ids] == ["SUCCEEDED"] * 3
    starts = [build(aws, i)["phases"][2]["startTime"] for i in ids]  # PROVISIONING: after the slot
    ends = [build(aws, i)["endTime"] for i in ids]
    assert starts[1] >= ends[0] and starts[2] >= ends[1]  # one at a time


# --- control endpoints -----------------------------------------------------------------------------


def service(aws: Any, name: str, desired: int = 1) -> dict[str, Any]:
    td = aws.ecs.register_task_definition(
        family=name, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{
            "name": "reflex-server", "image": "reflex-server:1",
            "environment": [{"name": "REFLEX_SYNC_MODE", "value": "batch"}],
            "secrets": [{"name": "REFLEX_SOURCE_URL", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x"}],
        }],
    )["taskDefinition"]["taskDefinitionArn"]
    subnets = json.loads(aws.settings["REFLEX_SUBNETS"])
    return aws.ecs.create_service(
        cluster=CLUSTER, serviceName=name, taskDefinition=td, desiredCount=desired, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets}},
    )["service"]


def test_services_endpoint_lists_every_service_with_its_environment(aws: Any) -> None:
    created = service(aws, "db-a")
    answer = aws.emulator.services()
    entry = next(s for s in answer["services"] if s["name"] == "db-a")
    assert entry["cluster"] == CLUSTER and entry["status"] == "ACTIVE" and entry["desiredCount"] == 1
    assert entry["taskDefinition"] == created["taskDefinition"]
    assert entry["environment"] == [{"name": "REFLEX_SYNC_MODE", "value": "batch"}]
    assert entry["secrets"][0]["name"] == "REFLEX_SOURCE_URL"
    assert entry["desiredCountChangedAt"] > 0 and isinstance(answer["version"], float)
    eventually(lambda: next(s for s in aws.emulator.services()["services"] if s["name"] == "db-a")["runningCount"] == 1,
               what="running count to follow")


def test_services_endpoint_since_returns_changes_and_when_desired_count_changed(aws: Any) -> None:
    service(aws, "db-a")
    service(aws, "db-b")
    before = next(s for s in aws.emulator.services()["services"] if s["name"] == "db-a")["desiredCountChangedAt"]
    # Once both have settled, an answer since then lists nothing ...
    version = eventually(lambda: (lambda a: a["version"] if all(s["runningCount"] == 1 for s in a["services"]) else None)(aws.emulator.services()),
                         what="both services to run")
    eventually(lambda: aws.emulator.services(since=aws.emulator.services()["version"])["services"] == [] or None,
               what="nothing to move")
    # ... and after a pause (desiredCount 0) only the paused service, with the time of the change.
    aws.ecs.update_service(cluster=CLUSTER, service="db-a", desiredCount=0)
    changed = aws.emulator.services(since=version)["services"]
    assert [s["name"] for s in changed] == ["db-a"]
    assert changed[0]["desiredCount"] == 0 and changed[0]["desiredCountChangedAt"] > before


def test_stats_reports_the_emulator_process(aws: Any) -> None:
    service(aws, "db-a")
    start(aws, "ns/a")
    stats = aws.emulator.stats()
    assert stats["pid"] == aws.emulator.proc.pid or stats["pid"] > 0
    assert stats["cpu_seconds"] > 0 and stats["rss_bytes"] > 10 * 2**20
    assert stats["services"] == 1 and stats["builds"] == 1


# --- ECS services per cluster ----------------------------------------------------------------------


def test_services_per_cluster_defaults_to_aws_figure(aws: Any) -> None:
    assert aws.emulator.control("GET", "config")["services_per_cluster"] == 5000


def test_a_service_beyond_the_cluster_quota_is_refused_and_nothing_is_created(aws: Any) -> None:
    aws.emulator.config(services_per_cluster=2)
    aws.ecs.create_cluster(clusterName="reflex-2")
    first = service(aws, "db-a")
    service(aws, "db-b")
    with pytest.raises(ClientError) as refused:
        service(aws, "db-c")
    assert refused.value.response["Error"]["Code"] == "ClientException"
    assert "services per cluster (2)" in refused.value.response["Error"]["Message"]
    listed = aws.ecs.list_services(cluster=CLUSTER)["serviceArns"]
    assert sorted(arn.rsplit("/", 1)[-1] for arn in listed) == ["db-a", "db-b"]
    assert aws.ecs.describe_services(cluster=CLUSTER, services=["db-c"])["services"] == []
    # The quota is per cluster: another cluster has room.
    other = aws.ecs.create_service(
        cluster="reflex-2", serviceName="db-c", taskDefinition=first["taskDefinition"], desiredCount=1, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": json.loads(aws.settings["REFLEX_SUBNETS"])}},
    )["service"]
    assert other["status"] == "ACTIVE"
    # A deleted service frees its slot, and only one.
    aws.ecs.delete_service(cluster=CLUSTER, service="db-a", force=True)
    assert service(aws, "db-d")["status"] == "ACTIVE"
    with pytest.raises(ClientError, match="services per cluster"):
        service(aws, "db-e")


def test_bootstrap_creates_every_cluster_and_names_them_for_the_operator(aws: Any) -> None:
    from reflex_dev.emulator import bootstrap

    settings = bootstrap(aws.emulator.url, "us-east-1", ("reflex", "reflex-b", "reflex-c"))
    assert settings["REFLEX_ECS_CLUSTER"] == "reflex"
    assert json.loads(settings["REFLEX_ECS_CLUSTERS"]) == ["reflex", "reflex-b", "reflex-c"]
    found = aws.ecs.describe_clusters(clusters=["reflex", "reflex-b", "reflex-c"])["clusters"]
    assert sorted(c["clusterName"] for c in found if c["status"] == "ACTIVE") == ["reflex", "reflex-b", "reflex-c"]
    assert "REFLEX_ECS_CLUSTERS" not in bootstrap(aws.emulator.url, "us-east-1")  # one cluster: the single setting
