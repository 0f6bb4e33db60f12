"""The product's contract with reflex-server (SPEC §3): its environment and its ``/healthz`` document.

- ``ServerEnvironment``: the variables of the server's container in the ECS task definition. The
  operator writes them (``reflex_operator.aws.ecs``) and reads them back from the task definition;
  the local simulator reads them as the server would. The connection string is never a variable:
  it is the container secret ``REFLEX_SOURCE_URL`` (its Secrets Manager ARN is all this holds).
- ``HealthDocument``: the answer of ``GET /healthz``. The simulator serves it; the data plane
  client (``reflex_operator.dataplane``) parses it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_serializer, field_validator
from pydantic.alias_generators import to_camel

from reflex_operator.api.models import LogLevel, Replication, SyncMode

__all__ = ["CONTAINER", "SOURCE_URL", "ServerEnvironment", "HealthDocument", "server_container", "server_logs"]

CONTAINER = "reflex-server"  # the container's name in the task definition
SOURCE_URL = "REFLEX_SOURCE_URL"  # the container secret with the connection string


def server_container(task_definition: dict[str, Any]) -> dict[str, Any]:
    """The server's container of a task definition (by name, else the first one)."""
    containers = task_definition.get("containerDefinitions") or []
    return next((c for c in containers if c.get("name") == CONTAINER), containers[0] if containers else {})


def server_logs(task_definition: dict[str, Any]) -> tuple[str, str] | None:
    """(log group, stream prefix) of the server container's ``awslogs`` configuration: its streams
    are named ``<awslogs-stream-prefix>/<container name>/<task id>``. None: not awslogs."""
    container = server_container(task_definition)
    config = container.get("logConfiguration") or {}
    options = config.get("options") or {}
    if config.get("logDriver") != "awslogs" or not options.get("awslogs-group"):
        return None
    prefix = options.get("awslogs-stream-prefix")
    return options["awslogs-group"], f"{prefix}/{container.get('name', CONTAINER)}/" if prefix else ""


def _number(value: float) -> str:
    """A number as a variable: whole numbers without a fraction (``60``, not ``60.0``)."""
    return str(int(value)) if float(value).is_integer() else str(value)


class ServerEnvironment(BaseModel):
    """The server's settings as container variables. A variable that is absent (or invalid) takes
    the server's default; ``model_fields_set`` says which ones the task definition states."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    sync_mode: SyncMode = Field(SyncMode.POLL, alias="REFLEX_SYNC_MODE")
    sync_interval_seconds: float = Field(60.0, gt=0, alias="REFLEX_SYNC_INTERVAL_SECONDS")
    log_level: LogLevel = Field(LogLevel.INFO, alias="REFLEX_LOG_LEVEL")
    safety_net: float = Field(0.25, alias="REFLEX_SAFETY_NET")
    schemas: tuple[str, ...] = Field(("public",), alias="REFLEX_SCHEMAS")
    resource: str | None = Field(None, alias="REFLEX_RESOURCE")
    deploy_hash: str | None = Field(None, alias="REFLEX_DEPLOY_HASH")
    build_id: str | None = Field(None, alias="REFLEX_BUILD_ID")
    """The CodeBuild build of the image (found again by a rebuilt cluster)."""
    secret_version: str | None = Field(None, alias="REFLEX_SECRET_VERSION")
    """The version of the Kubernetes Secret whose value the deployment reads (a number, not the value)."""
    template: str | None = Field(None, alias="REFLEX_TEMPLATE")
    """The mark of the operator's part of the task definition (its code's revision and settings)."""
    source_secret_arn: str | None = Field(None, alias=SOURCE_URL, exclude=True)
    """``valueFrom`` of the container secret: never a variable, never the value."""

    @field_validator("schemas", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        schemas = tuple(s.strip() for s in value.split(",") if s.strip())
        if not schemas:
            raise ValueError("no schema")
        return schemas

    @field_serializer("sync_interval_seconds")
    def _interval(self, value: float) -> str:
        return _number(value)

    @field_serializer("safety_net")
    def _safety_net(self, value: float) -> str:
        return str(value)

    @field_serializer("schemas")
    def _schemas(self, value: tuple[str, ...]) -> str:
        return ",".join(value)

    def to_environment(self) -> list[dict[str, str]]:
        """The container's ``environment`` (no secret in it)."""
        wire = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return [{"name": name, "value": str(value)} for name, value in wire.items()]

    def to_secrets(self) -> list[dict[str, str]]:
        """The container's ``secrets``: the connection string by reference."""
        return [{"name": SOURCE_URL, "valueFrom": self.source_secret_arn}] if self.source_secret_arn else []

    @classmethod
    def from_environment(
        cls, environment: list[dict[str, Any]], secrets: list[dict[str, Any]] | None = None
    ) -> ServerEnvironment:
        """Read the variables as the server does: each absent or invalid one takes its default. A
        ``REFLEX_SOURCE_URL`` variable is not the secret (and is ignored)."""
        values: dict[str, Any] = {e["name"]: e.get("value", "") for e in environment if e.get("name") != SOURCE_URL}
        for secret in secrets or []:
            if secret.get("name") == SOURCE_URL:
                values[SOURCE_URL] = secret.get("valueFrom")
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            invalid = {error["loc"][0] for error in exc.errors() if error["loc"]}
            return cls.model_validate({k: v for k, v in values.items() if k not in invalid})

    @classmethod
    def from_container(cls, container: dict[str, Any]) -> ServerEnvironment:
        return cls.from_environment(container.get("environment") or [], container.get("secrets") or [])

    def states(self, *fields: str) -> bool:
        """Whether the variables of all these fields were given (and valid), not defaulted."""
        return set(fields) <= self.model_fields_set


def _whole(value: Any) -> Any:
    """A count: numbers are truncated to whole ones (``int()``), as the operator always read them."""
    return int(value) if isinstance(value, float) else value


def _known_replication(value: Any) -> Any:
    return value if value in tuple(Replication) else None


def _status(value: Any) -> Any:
    return "ok" if value == "ok" else "degraded"


Count = Annotated[int, BeforeValidator(_whole)]


class HealthDocument(BaseModel):
    """``GET /healthz`` (SPEC §3). Any status other than ``ok`` is ``degraded``; an unknown
    replication state is no replication state; fields a newer server adds are ignored."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True, extra="ignore")

    status: Annotated[Literal["ok", "degraded"], BeforeValidator(_status)]
    snapshot_age_ms: Count | None = None
    swap_count: Count | None = None
    row_counts: dict[str, Count] | None = None
    replication: Annotated[Replication | None, BeforeValidator(_known_replication)] = None
    uptime_seconds: Count | None = None
    last_swap_time: datetime | None = None
    bytes_transferred_this_month: Count | None = None
    """Bytes the instance transferred this calendar month (UTC), as it counts them (from 0 when it starts)."""

    @field_serializer("last_swap_time")
    def _time(self, value: datetime | None) -> str | None:
        """ISO 8601 to the millisecond, ``Z`` for UTC."""
        if value is None:
            return None
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def wire(self) -> dict[str, Any]:
        """The document as the server sends it (camelCase)."""
        return self.model_dump(mode="json", by_alias=True)
