"""ECS: task definitions per deploy-input hash, one service per resource, polled in batches of 10."""

from __future__ import annotations

import asyncio
from typing import Any

from reflex_operator.api.models import DeployedConfig, LogsLocation, size_of_cpu
from reflex_operator.api.server_contract import CONTAINER, ServerEnvironment, server_container, server_logs
from reflex_operator.aws.clients import AwsCallError, AwsClients
from reflex_operator.database.inputs import ObservedService, RolloutState, ServiceState
from reflex_operator.ports import ClusterFull
from reflex_operator.database.steps import Deploy

__all__ = ["Ecs", "BATCH", "container_environment", "is_quota_error", "parse_task_definition"]

BATCH = 10  # DescribeServices takes up to 10 services.

# The variables a task definition must state for its configuration to be known.
_CONFIG_VARIABLES = ("sync_mode", "sync_interval_seconds", "log_level", "safety_net")


def is_quota_error(exc: AwsCallError) -> bool:
    """CreateService refused at the services-per-cluster quota: a LimitExceededException, or a
    ClientException that says so (the emulator's; the exact AWS wording is not documented)."""
    message = str(exc).lower()
    return exc.code == "LimitExceededException" or (exc.code == "ClientException" and "limit" in message and "service" in message)


def container_environment(step: Deploy) -> ServerEnvironment:
    """The server's settings. The connection string is never a variable: it is a container secret."""
    i = step.inputs
    return ServerEnvironment(
        sync_mode=i.sync_mode,
        sync_interval_seconds=i.sync_interval,
        log_level=i.log_level,
        safety_net=i.safety_net,
        schemas=i.schemas,
        resource=step.resource,
        deploy_hash=step.deploy_hash,
        build_id=step.build_id,
        secret_version=i.secret_version,
        template=step.template,
        source_secret_arn=step.secret_arn,
    )


def parse_task_definition(td: dict[str, Any]) -> tuple[str | None, str | None, DeployedConfig | None]:
    """(deploy hash, image, deployed config) of a task definition this operator registered. The
    config is None (unknown) unless the size and every setting are stated."""
    container = server_container(td)
    server = ServerEnvironment.from_container(container)
    return server.deploy_hash, container.get("image"), _deployed_config(td, server)


def _marks(td: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(build id, Secret version, template mark) a task definition names (REFLEX_BUILD_ID,
    REFLEX_SECRET_VERSION, REFLEX_TEMPLATE)."""
    server = ServerEnvironment.from_container(server_container(td))
    return server.build_id, server.secret_version, server.template


def _deployed_config(td: dict[str, Any], server: ServerEnvironment) -> DeployedConfig | None:
    config = None
    if server.states(*_CONFIG_VARIABLES):
        try:
            cpu = int(td.get("cpu") or 0)
            config = DeployedConfig(
                instance_size=size_of_cpu(cpu),
                task_cpu=cpu,
                task_memory_mb=int(td.get("memory") or 0),
                sync_mode=server.sync_mode,
                sync_interval=server.sync_interval_seconds,  # a fractional one: not ours, invalid
                log_level=server.log_level,
                safety_net=server.safety_net,
            )
        except (StopIteration, ValueError):  # an unknown size; pydantic's errors are ValueErrors
            config = None
    return config


def _ecs_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


class Ecs:
    def __init__(
        self,
        aws: AwsClients,
        cluster: str,
        subnets: list[str],
        security_groups: list[str],
        execution_role_arn: str,
        task_role_arn: str | None,
        container_port: int,
        assign_public_ip: bool = False,
        log_group: str = "/reflexdb/instances",
        region: str = "us-east-1",
    ) -> None:
        self.aws, self.cluster = aws, cluster
        self.subnets, self.security_groups = subnets, security_groups
        self.execution_role_arn, self.task_role_arn = execution_role_arn, task_role_arn
        self.container_port, self.assign_public_ip = container_port, assign_public_ip
        self.log_group, self.region = log_group, region
        # Task definitions are immutable: describe each ARN once.
        self._task_defs: dict[str, tuple[str | None, str | None, DeployedConfig | None]] = {}
        self._td_logs: dict[str, LogsLocation | None] = {}  # the awslogs location of each ARN
        self._td_marks: dict[str, tuple[str | None, str | None, str | None]] = {}  # build id, Secret version and template mark of each ARN
        self._describing: dict[str, asyncio.Future[dict[str, Any]]] = {}

    # ----------------------------------------------------------------------------------- observe

    async def describe(self, names: list[str], cluster: str | None = None) -> dict[str, ObservedService | None]:
        """Every named service of one cluster (None: missing), in DescribeServices calls of up to 10."""
        found: dict[str, ObservedService | None] = {n: None for n in names}
        for start in range(0, len(names), BATCH):
            chunk = names[start : start + BATCH]
            reply = await self.aws.call("ecs", "DescribeServices", cluster=cluster or self.cluster, services=chunk, include=["TAGS"])
            services = reply.get("services", [])
            # Each service's task definition is described (once per ARN): together, not one after another.
            for svc, parsed in zip(services, await asyncio.gather(*(self._parse(svc) for svc in services))):
                found[svc["serviceName"]] = parsed
        return found

    async def _task_definition_of(self, arn: str) -> tuple[str | None, str | None, DeployedConfig | None]:
        """Described once per ARN, however many callers ask at the same time."""
        if arn in self._task_defs:
            return self._task_defs[arn]
        pending = self._describing.get(arn)
        if pending is None:
            pending = self._describing[arn] = asyncio.ensure_future(
                self.aws.call("ecs", "DescribeTaskDefinition", taskDefinition=arn)
            )
        try:
            reply = await asyncio.shield(pending)
        finally:
            self._describing.pop(arn, None)
        self._remember(arn, reply["taskDefinition"])
        return self._task_defs[arn]

    def _remember(self, arn: str, td: dict[str, Any]) -> None:
        self._task_defs[arn] = parse_task_definition(td)
        self._td_marks[arn] = _marks(td)
        logs = server_logs(td)
        self._td_logs[arn] = LogsLocation(group=logs[0], stream_prefix=logs[1]) if logs else None

    async def _parse(self, svc: dict[str, Any]) -> ObservedService:
        td_arn = svc.get("taskDefinition")
        deploy_hash = image = config = None
        if td_arn:
            deploy_hash, image, config = await self._task_definition_of(td_arn)
        marks = self._td_marks.get(td_arn, (None, None, None)) if td_arn else (None, None, None)
        primary = next((d for d in svc.get("deployments", []) if d.get("status") == "PRIMARY"), None)
        rollout = None
        if primary is not None and primary.get("rolloutState"):
            rollout = RolloutState(primary["rolloutState"])
        return ObservedService(
            name=svc["serviceName"],
            arn=svc["serviceArn"],
            state=ServiceState(svc.get("status", "ACTIVE")),
            task_definition_arn=td_arn,
            deploy_hash=deploy_hash,
            desired_count=int(svc.get("desiredCount", 0)),
            running_count=int(svc.get("runningCount", 0)),
            rollout_state=rollout,
            rollout_reason=primary.get("rolloutStateReason") if primary else None,
            image_uri=image,
            config=config,
            logs=self._td_logs.get(td_arn) if td_arn else None,
            tags={t["key"]: t.get("value", "") for t in svc["tags"]} if "tags" in svc else None,
            secret_version=marks[1],
            build_id=marks[0],
            template=marks[2],
            cluster=str(svc["clusterArn"]).rsplit("/", 1)[-1] if svc.get("clusterArn") else None,
        )

    # --------------------------------------------------------------------------------------- act

    async def deploy(self, step: Deploy, cluster: str | None = None) -> ObservedService:
        """Register the task definition revision for this deploy hash (unless the family's latest
        revision already is it), then create or update the service on its cluster; the service as
        the call answered it (no DescribeServices after)."""
        cluster = cluster or self.cluster
        td_arn = await self._task_definition(step)
        if step.create:
            try:
                reply = await self.aws.call(
                    "ecs",
                    "CreateService",
                    cluster=cluster,
                    serviceName=step.service_name,
                    taskDefinition=td_arn,
                    desiredCount=step.desired_count,
                    launchType="FARGATE",
                    clientToken=step.client_token,
                    networkConfiguration={
                        "awsvpcConfiguration": {
                            "subnets": self.subnets,
                            "securityGroups": self.security_groups,
                            "assignPublicIp": "ENABLED" if self.assign_public_ip else "DISABLED",
                        }
                    },
                    deploymentConfiguration={
                        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                        "maximumPercent": 200,
                        "minimumHealthyPercent": 100,
                    },
                    propagateTags="SERVICE",
                    tags=_ecs_tags(dict(step.owner_tags) or {"reflexdb.cloud/resource": step.resource}),
                )
            except AwsCallError as exc:
                if is_quota_error(exc):
                    raise ClusterFull(cluster, str(exc)) from exc
                # An active service of that name exists (created before a crash): update it.
                if exc.code not in ("InvalidParameterException",):
                    raise
                reply = await self._update(step, td_arn, cluster)
        else:
            reply = await self._update(step, td_arn, cluster)
        return await self._answered(step.service_name, reply, cluster)  # type: ignore[return-value]

    async def _answered(self, name: str, reply: dict[str, Any], cluster: str | None = None) -> ObservedService | None:
        """The service a Create/UpdateService answered with (described only if the answer lacks it)."""
        svc = reply.get("service") or {}
        if svc.get("serviceName") == name:
            return await self._parse(svc)
        return (await self.describe([name], cluster))[name]

    async def _update(self, step: Deploy, td_arn: str, cluster: str) -> dict[str, Any]:
        return await self.aws.call(
            "ecs",
            "UpdateService",
            cluster=cluster,
            service=step.service_name,
            taskDefinition=td_arn,
            desiredCount=step.desired_count,
        )

    async def _task_definition(self, step: Deploy) -> str:
        """The revision to run. A new service's family has none yet: it is registered at once (after
        a crash between the two calls that makes one spare revision, harmless); an update first
        asks for the family's latest, which a pass that died before UpdateService registered."""
        if step.create:
            return await self._register(step)
        try:
            latest = (await self.aws.call("ecs", "DescribeTaskDefinition", taskDefinition=step.family))["taskDefinition"]
        except AwsCallError as exc:
            if exc.code not in ("ClientException", "InvalidParameterException", "ResourceNotFoundException"):
                raise
            latest = None
        if latest is not None and latest.get("status", "ACTIVE") == "ACTIVE":
            parsed = parse_task_definition(latest)
            if parsed[0] == step.deploy_hash and _marks(latest)[2] == step.template:
                self._remember(str(latest["taskDefinitionArn"]), latest)
                return str(latest["taskDefinitionArn"])
        return await self._register(step)

    async def _register(self, step: Deploy) -> str:
        i, server = step.inputs, container_environment(step)
        container: dict[str, Any] = {
            "name": CONTAINER,
            "image": i.image_uri,
            "essential": True,
            "portMappings": [{"containerPort": self.container_port, "protocol": "tcp"}],
            "environment": server.to_environment(),
            "secrets": server.to_secrets(),
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": self.log_group,
                    "awslogs-region": self.region,
                    "awslogs-stream-prefix": step.service_name,
                },
            },
        }
        params: dict[str, Any] = {
            "family": step.family,
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": str(i.cpu),
            "memory": str(i.memory_mb),
            "executionRoleArn": self.execution_role_arn,
            "containerDefinitions": [container],
            "tags": _ecs_tags({**dict(step.owner_tags), "reflexdb.cloud/deploy-hash": step.deploy_hash}),
        }
        if self.task_role_arn:
            params["taskRoleArn"] = self.task_role_arn
        reply = await self.aws.call("ecs", "RegisterTaskDefinition", **params)
        td = reply["taskDefinition"]
        self._remember(str(td["taskDefinitionArn"]), td)
        return str(td["taskDefinitionArn"])

    async def tag(self, arn: str, tags: dict[str, str]) -> None:
        """Write tags on a service or a task definition revision."""
        await self.aws.call("ecs", "TagResource", resourceArn=arn, tags=_ecs_tags(tags))

    async def scale(self, name: str, desired_count: int, cluster: str | None = None) -> ObservedService | None:
        reply = await self.aws.call("ecs", "UpdateService", cluster=cluster or self.cluster, service=name, desiredCount=desired_count)
        return await self._answered(name, reply, cluster)

    async def delete(self, name: str, cluster: str | None = None) -> ObservedService | None:
        try:
            await self.aws.call("ecs", "DeleteService", cluster=cluster or self.cluster, service=name, force=True)
        except AwsCallError as exc:
            if exc.code not in ("ServiceNotFoundException", "ServiceNotActiveException"):
                raise
        return (await self.describe([name], cluster))[name]
