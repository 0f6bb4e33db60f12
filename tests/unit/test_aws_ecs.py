"""ECS adapter: the task definition's writer and parser (through ``ServerEnvironment``), describe
in batches of 10 with each task definition described once, deploy, scale and delete."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reflex_operator.api.models import DeployedConfig, LogLevel, Size, SyncMode
from reflex_operator.api.server_contract import ServerEnvironment
from reflex_operator.aws.ecs import BATCH, Ecs, container_environment, parse_task_definition
from reflex_operator.database.identity import DeployInputs
from reflex_operator.database.inputs import RolloutState, ServiceState
from reflex_operator.database.steps import Deploy
from tests.unit.fake_aws import FakeAws, aws_error, raises

INPUTS = DeployInputs(
    image_uri="repo:abc",
    cpu=512,
    memory_mb=1024,
    sync_mode="stream",
    sync_interval=30,
    log_level="debug",
    safety_net=0.1,
    schemas=("public", "sales"),
    restart_token=None,
    secret_version="7",
)
STEP = Deploy(
    service_name="rdb-db-1234",
    family="rdb-db-1234",
    client_token="ctok",
    inputs=INPUTS,
    deploy_hash="dh1",
    secret_arn="arn:aws:secretsmanager:us-east-1:1:secret:reflexdb/ns/db",
    desired_count=1,
    create=True,
    resource="ns/db",
)
CONFIG = DeployedConfig(
    instance_size=Size.SMALL,
    task_cpu=512,
    task_memory_mb=1024,
    sync_mode=SyncMode.STREAM,
    sync_interval=30,
    log_level=LogLevel.DEBUG,
    safety_net=0.1,
)


def ecs(aws: FakeAws, **kw: Any) -> Ecs:
    return Ecs(aws, "reflex", ["subnet-1"], ["sg-1"], "arn:exec", kw.pop("task_role_arn", None), 8080, **kw)  # type: ignore[arg-type]


def task_definition(step: Deploy = STEP, arn: str = "arn:td/rdb-db-1234:1", **container: Any) -> dict[str, Any]:
    server = container_environment(step)
    return {
        "taskDefinitionArn": arn,
        "status": "ACTIVE",
        "cpu": str(step.inputs.cpu),
        "memory": str(step.inputs.memory_mb),
        "containerDefinitions": [
            {"name": "sidecar", "image": "other"},
            {"name": "reflex-server", "image": step.inputs.image_uri, "environment": server.to_environment(), "secrets": server.to_secrets(), **container},
        ],
    }


def service(name: str, td: str | None = "arn:td/rdb-db-1234:1", **extra: Any) -> dict[str, Any]:
    return {
        "serviceName": name,
        "serviceArn": f"arn:svc/{name}",
        "status": "ACTIVE",
        "taskDefinition": td,
        "desiredCount": 1,
        "runningCount": 1,
        "deployments": [
            {"status": "ACTIVE", "rolloutState": "COMPLETED"},
            {"status": "PRIMARY", "rolloutState": "IN_PROGRESS", "rolloutStateReason": "starting"},
        ],
        **extra,
    }


# ------------------------------------------------------------------------- writer and parser


def test_the_environment_holds_the_settings_and_never_the_connection_string() -> None:
    server = container_environment(STEP)
    assert server.to_environment() == [
        {"name": "REFLEX_SYNC_MODE", "value": "stream"},
        {"name": "REFLEX_SYNC_INTERVAL_SECONDS", "value": "30"},
        {"name": "REFLEX_LOG_LEVEL", "value": "debug"},
        {"name": "REFLEX_SAFETY_NET", "value": "0.1"},
        {"name": "REFLEX_SCHEMAS", "value": "public,sales"},
        {"name": "REFLEX_RESOURCE", "value": "ns/db"},
        {"name": "REFLEX_DEPLOY_HASH", "value": "dh1"},
        {"name": "REFLEX_SECRET_VERSION", "value": "7"},
    ]
    assert server.to_secrets() == [{"name": "REFLEX_SOURCE_URL", "valueFrom": STEP.secret_arn}]


def test_written_task_definition_reads_back() -> None:
    assert parse_task_definition(task_definition()) == ("dh1", "repo:abc", CONFIG)


def test_unknown_size_or_missing_setting_is_an_unknown_config() -> None:
    td = task_definition()
    assert parse_task_definition({**td, "cpu": "384"}) == ("dh1", "repo:abc", None)
    assert parse_task_definition({**td, "cpu": "lots"})[2] is None
    for name in ("REFLEX_SYNC_MODE", "REFLEX_SYNC_INTERVAL_SECONDS", "REFLEX_LOG_LEVEL", "REFLEX_SAFETY_NET"):
        env = [e for e in container_environment(STEP).to_environment() if e["name"] != name]
        assert parse_task_definition(task_definition(environment=env)) == ("dh1", "repo:abc", None), name


def test_invalid_setting_is_an_unknown_config_but_the_hash_still_reads() -> None:
    for name, value in [("REFLEX_SYNC_MODE", "sometimes"), ("REFLEX_SYNC_INTERVAL_SECONDS", "0.5"), ("REFLEX_LOG_LEVEL", "loud")]:
        env = [{**e, "value": value} if e["name"] == name else e for e in container_environment(STEP).to_environment()]
        assert parse_task_definition(task_definition(environment=env)) == ("dh1", "repo:abc", None), name


def test_a_task_definition_of_someone_else() -> None:
    assert parse_task_definition({"cpu": "256", "containerDefinitions": [{"name": "web", "image": "nginx"}]}) == (None, "nginx", None)
    assert parse_task_definition({}) == (None, None, None)


# ----------------------------------------------------------------------------------- observe


async def test_describe_batches_by_10_and_describes_each_task_definition_once() -> None:
    def describe_services(cluster: str, services: list[str], include: list[str]) -> dict[str, Any]:
        assert cluster == "reflex" and len(services) <= BATCH and include == ["TAGS"]  # the owner, in the same call
        return {"services": [service(n) for n in services if n != "svc-missing"], "failures": []}

    aws = FakeAws(DescribeServices=describe_services, DescribeTaskDefinition=lambda taskDefinition: {"taskDefinition": task_definition(arn=taskDefinition)})
    names = [f"svc-{n}" for n in range(23)] + ["svc-missing"]
    found = await ecs(aws).describe(names)
    assert [len(p["services"]) for p in aws.params("DescribeServices")] == [10, 10, 4]
    assert aws.params("DescribeTaskDefinition") == [{"taskDefinition": "arn:td/rdb-db-1234:1"}]
    assert found["svc-missing"] is None
    svc = found["svc-3"]
    assert svc is not None and svc.exists and svc.state is ServiceState.ACTIVE
    assert svc.deploy_hash == "dh1" and svc.image_uri == "repo:abc" and svc.config == CONFIG
    assert svc.rollout_state is RolloutState.IN_PROGRESS and svc.rollout_reason == "starting"
    assert (svc.desired_count, svc.running_count, svc.arn) == (1, 1, "arn:svc/svc-3")


async def test_concurrent_callers_share_one_task_definition_describe() -> None:
    release = asyncio.Event()
    described: list[str] = []

    class Slow(FakeAws):
        async def call(self, service: str, operation: str, /, **params: Any) -> dict[str, Any]:
            if operation == "DescribeTaskDefinition":
                described.append(params["taskDefinition"])
                await release.wait()
            return await super().call(service, operation, **params)

    aws = Slow(
        DescribeServices=lambda cluster, services, include: {"services": [service(n) for n in services]},
        DescribeTaskDefinition=lambda taskDefinition: {"taskDefinition": task_definition(arn=taskDefinition)},
    )
    adapter = ecs(aws)
    first = asyncio.gather(*(adapter.describe([f"svc-{n}"]) for n in range(5)))
    while len(aws.params("DescribeServices")) < 5:
        await asyncio.sleep(0)
    release.set()
    results = await first
    assert described == ["arn:td/rdb-db-1234:1"]
    assert all(r[f"svc-{n}"].deploy_hash == "dh1" for n, r in enumerate(results))  # type: ignore[union-attr]


async def test_service_without_task_definition_or_primary_deployment() -> None:
    aws = FakeAws(DescribeServices=lambda **_: {"services": [service("s", td=None, deployments=[], status="DRAINING")]})
    svc = (await ecs(aws).describe(["s"]))["s"]
    assert svc is not None and svc.state is ServiceState.DRAINING and not svc.exists
    assert svc.deploy_hash is None and svc.config is None and svc.rollout_state is None and svc.rollout_reason is None
    assert "DescribeTaskDefinition" not in aws.ops()


# --------------------------------------------------------------------------------------- act


def _describe_after(aws: FakeAws) -> None:
    """DescribeServices shows the revision the last CreateService or UpdateService set."""

    def describe(cluster: str, services: list[str], include: list[str]) -> dict[str, Any]:
        td = [p["taskDefinition"] for _, op, p in aws.calls if op in ("CreateService", "UpdateService")][-1]
        return {"services": [service(n, td=td) for n in services]}

    aws.on("DescribeServices", describe)


async def test_deploy_registers_a_revision_and_creates_the_service() -> None:
    aws = FakeAws(
        DescribeTaskDefinition=raises(aws_error("ecs", "DescribeTaskDefinition", "ClientException", "Unable to describe")),
        RegisterTaskDefinition=lambda **p: {"taskDefinition": {**p, "taskDefinitionArn": "arn:td/rdb-db-1234:1", "status": "ACTIVE"}},
        CreateService=lambda **_: {"service": {}},
    )
    _describe_after(aws)
    svc = await ecs(aws, task_role_arn="arn:task", region="eu-west-1").deploy(STEP)
    assert svc.deploy_hash == "dh1" and svc.config == CONFIG
    # A new service: no DescribeTaskDefinition first (its family has no revision yet).
    assert aws.ops() == ["RegisterTaskDefinition", "CreateService", "DescribeServices"]
    (reg,) = aws.params("RegisterTaskDefinition")
    (container,) = reg["containerDefinitions"]
    assert reg["family"] == "rdb-db-1234" and reg["cpu"] == "512" and reg["memory"] == "1024" and reg["taskRoleArn"] == "arn:task"
    assert container["environment"] == container_environment(STEP).to_environment()
    assert container["secrets"] == [{"name": "REFLEX_SOURCE_URL", "valueFrom": STEP.secret_arn}]
    assert "postgres" not in str(reg)
    assert container["logConfiguration"]["options"]["awslogs-region"] == "eu-west-1"
    (create,) = aws.params("CreateService")
    assert create["clientToken"] == "ctok" and create["taskDefinition"] == "arn:td/rdb-db-1234:1"
    assert create["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"


async def test_deploy_reuses_the_latest_revision_of_the_same_hash_and_updates() -> None:
    aws = FakeAws(
        DescribeTaskDefinition=lambda taskDefinition: {"taskDefinition": task_definition(arn="arn:td/rdb-db-1234:4")},
        UpdateService=lambda **_: {},
    )
    _describe_after(aws)
    await ecs(aws).deploy(Deploy(**{**STEP.__dict__, "create": False}))
    assert aws.ops() == ["DescribeTaskDefinition", "UpdateService", "DescribeServices"]
    assert aws.params("UpdateService") == [{"cluster": "reflex", "service": "rdb-db-1234", "taskDefinition": "arn:td/rdb-db-1234:4", "desiredCount": 1}]


async def test_deploy_registers_when_the_latest_revision_is_another_hash() -> None:
    other = Deploy(**{**STEP.__dict__, "deploy_hash": "dh0"})
    aws = FakeAws(
        DescribeTaskDefinition=lambda taskDefinition: {"taskDefinition": task_definition(other)},
        RegisterTaskDefinition=lambda **p: {"taskDefinition": {**p, "taskDefinitionArn": "arn:td/rdb-db-1234:2"}},
        CreateService=raises(aws_error("ecs", "CreateService", "InvalidParameterException", "Creation of service was not idempotent")),
        UpdateService=lambda **_: {},
    )
    _describe_after(aws)
    await ecs(aws).deploy(Deploy(**{**STEP.__dict__, "create": False}))
    assert aws.ops() == ["DescribeTaskDefinition", "RegisterTaskDefinition", "UpdateService", "DescribeServices"]


@pytest.mark.parametrize("latest_template,registers", [("t2", False), ("t1", True), (None, True)])
async def test_a_revision_of_the_same_hash_is_reused_only_on_the_operators_template(latest_template, registers) -> None:
    latest = Deploy(**{**STEP.__dict__, "template": latest_template})
    aws = FakeAws(
        DescribeTaskDefinition=lambda taskDefinition: {"taskDefinition": task_definition(latest, arn="arn:td/rdb-db-1234:4")},
        RegisterTaskDefinition=lambda **p: {"taskDefinition": {**p, "taskDefinitionArn": "arn:td/rdb-db-1234:5"}},
        UpdateService=lambda **_: {},
    )
    _describe_after(aws)
    svc = await ecs(aws).deploy(Deploy(**{**STEP.__dict__, "create": False, "template": "t2"}))
    assert ("RegisterTaskDefinition" in aws.ops()) is registers
    assert svc.template == "t2"  # read back from the revision it runs (REFLEX_TEMPLATE)


async def test_create_of_a_service_made_before_a_crash_updates_it() -> None:
    aws = FakeAws(
        RegisterTaskDefinition=lambda **p: {"taskDefinition": {**p, "taskDefinitionArn": "arn:td/rdb-db-1234:2"}},
        CreateService=raises(aws_error("ecs", "CreateService", "InvalidParameterException", "Creation of service was not idempotent")),
        UpdateService=lambda **_: {},
    )
    _describe_after(aws)
    await ecs(aws).deploy(STEP)
    assert aws.ops() == ["RegisterTaskDefinition", "CreateService", "UpdateService", "DescribeServices"]


async def test_the_service_the_call_answered_is_not_described_again() -> None:
    aws = FakeAws(
        RegisterTaskDefinition=lambda **p: {"taskDefinition": {**p, "taskDefinitionArn": "arn:td/rdb-db-1234:1", "status": "ACTIVE"}},
        CreateService=lambda **_: {"service": service("rdb-db-1234")},
        UpdateService=lambda **p: {"service": service(p["service"], td=None, desiredCount=p["desiredCount"])},
    )
    svc = await ecs(aws).deploy(STEP)
    assert svc.name == "rdb-db-1234" and svc.deploy_hash == "dh1"
    scaled = await ecs(aws).scale("rdb-db-1234", 0)
    assert scaled is not None and scaled.desired_count == 0
    assert aws.ops() == ["RegisterTaskDefinition", "CreateService", "UpdateService"]


async def test_deploy_raises_what_it_cannot_handle() -> None:
    aws = FakeAws(DescribeTaskDefinition=raises(aws_error("ecs", "DescribeTaskDefinition", "AccessDeniedException")))
    with pytest.raises(Exception, match="AccessDeniedException"):
        await ecs(aws).deploy(Deploy(**{**STEP.__dict__, "create": False}))
    aws = FakeAws(
        RegisterTaskDefinition=lambda **p: {"taskDefinition": {**p, "taskDefinitionArn": "arn:td/rdb-db-1234:1"}},
        CreateService=raises(aws_error("ecs", "CreateService", "ClusterNotFoundException")),
    )
    with pytest.raises(Exception, match="ClusterNotFoundException"):
        await ecs(aws).deploy(STEP)


async def test_scale_and_delete() -> None:
    aws = FakeAws(UpdateService=lambda **_: {}, DeleteService=lambda **_: {})
    aws.on("DescribeServices", lambda cluster, services, include: {"services": [service(n, td=None, desiredCount=0) for n in services]})
    scaled = await ecs(aws).scale("s", 0)
    assert scaled is not None and scaled.desired_count == 0
    assert aws.params("UpdateService") == [{"cluster": "reflex", "service": "s", "desiredCount": 0}]
    await ecs(aws).delete("s")
    assert aws.params("DeleteService") == [{"cluster": "reflex", "service": "s", "force": True}]


async def test_delete_of_a_missing_service_is_done_and_other_errors_raise() -> None:
    for code in ("ServiceNotFoundException", "ServiceNotActiveException"):
        aws = FakeAws(DeleteService=raises(aws_error("ecs", "DeleteService", code)), DescribeServices=lambda **_: {"services": []})
        assert await ecs(aws).delete("s") is None
    aws = FakeAws(DeleteService=raises(aws_error("ecs", "DeleteService", "AccessDeniedException")))
    with pytest.raises(Exception, match="AccessDenied"):
        await ecs(aws).delete("s")


def test_server_environment_is_what_the_writer_wrote() -> None:
    server = ServerEnvironment.from_container(task_definition()["containerDefinitions"][1])
    assert server == container_environment(STEP)


async def test_the_task_definitions_of_one_answer_are_described_together() -> None:
    """A first look after a restart describes each service's task definition (one family each):
    the ten of one DescribeServices answer are asked at once, not one after another."""
    waiting: list[str] = []
    release = asyncio.Event()

    class Slow(FakeAws):
        async def call(self, service: str, operation: str, /, **params: Any) -> dict[str, Any]:
            if operation == "DescribeTaskDefinition":
                waiting.append(params["taskDefinition"])
                await release.wait()
            return await super().call(service, operation, **params)

    aws = Slow(
        DescribeServices=lambda cluster, services, include: {"services": [service(n, td=f"arn:td/{n}:1") for n in services]},
        DescribeTaskDefinition=lambda taskDefinition: {"taskDefinition": task_definition(arn=taskDefinition)},
    )
    pending = asyncio.ensure_future(ecs(aws).describe([f"svc-{n}" for n in range(10)]))
    for _ in range(100):
        if len(waiting) == 10:
            break
        await asyncio.sleep(0)
    assert sorted(waiting) == sorted(f"arn:td/svc-{n}:1" for n in range(10))  # all ten in flight at once
    release.set()
    found = await pending
    assert [found[f"svc-{n}"].task_definition_arn for n in range(10)] == [f"arn:td/svc-{n}:1" for n in range(10)]  # type: ignore[union-attr]
