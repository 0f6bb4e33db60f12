"""The ReflexDatabase API (``reflexdb.cloud/v1alpha1``): spec and status as pydantic models.

These models are the one source of truth: the operator parses and writes them, and the CRD's
OpenAPI schema is generated from them (``reflex_operator.api.crd``). Field names are camelCase on
the wire; Python attributes are snake_case.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

__all__ = [
    "GROUP",
    "VERSION",
    "KIND",
    "PLURAL",
    "SINGULAR",
    "SHORT_NAMES",
    "CATEGORIES",
    "CelFormat",
    "Size",
    "SizeResources",
    "SIZE_RESOURCES",
    "SyncMode",
    "LogLevel",
    "DeletionPolicy",
    "SecretRef",
    "Source",
    "Sync",
    "ReflexDatabaseSpec",
    "Phase",
    "HealthStatus",
    "Replication",
    "BuildState",
    "ConditionType",
    "Condition",
    "DeployedConfig",
    "InstanceStatus",
    "BuildStatus",
    "BuildRecord",
    "ActionMode",
    "Action",
    "ActionAvailability",
    "AllowedActions",
    "AppliedTokens",
    "ReflexDatabaseStatus",
]

GROUP = "reflexdb.cloud"
VERSION = "v1alpha1"
KIND = "ReflexDatabase"
PLURAL = "reflexdatabases"
SINGULAR = "reflexdatabase"
SHORT_NAMES = ("rdb", "reflexdb")
CATEGORIES = ("reflex",)

# Secret names are DNS-1123 subdomains; Secret keys follow the Secret API; schema names are
# unquoted PostgreSQL identifiers. Tokens and server versions are short printable identifiers.
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"
SCHEMA_NAME = r"^[A-Za-z_][A-Za-z0-9_$]*$"
SERVER_VERSION = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"
TOKEN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"


def _cel_string(text: str) -> str:
    """``text`` as a CEL string literal (JSON escapes are valid CEL escapes)."""
    return json.dumps(text)


@dataclass(frozen=True)
class CelFormat:
    """A string format, checked alike by pydantic and by the API server.

    pydantic matches ``pattern`` (anchored, RE2-compatible) and fails with ``message``; the JSON
    schema gets a CEL rule (``x-kubernetes-validations``) doing the same. A CEL rule rather than an
    OpenAPI ``pattern`` because the API server's message then says what the format is (next to the
    field path and the rejected value) instead of printing the regular expression.
    """

    pattern: str
    message: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        regex = re.compile(self.pattern)
        message = self.message

        def check(value: str) -> str:
            if regex.fullmatch(value) is None:
                raise PydanticCustomError("string_format", "{message}", {"message": message})
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("x-kubernetes-validations", []).append(self.rule())
        return json_schema

    def rule(self) -> dict[str, str]:
        """The CEL validation rule for the CRD schema."""
        return {"rule": f"self.matches({_cel_string(self.pattern)})", "message": self.message}


SecretName = Annotated[
    str,
    Field(min_length=1, max_length=253),
    CelFormat(
        DNS1123_SUBDOMAIN,
        "must be a Secret name (a DNS-1123 subdomain): lowercase letters, digits, '-' and '.', "
        "starting and ending with a letter or digit",
    ),
]
SecretKey = Annotated[
    str,
    Field(min_length=1, max_length=253),
    CelFormat(SECRET_KEY, "must be a Secret key: letters, digits, '-', '_' and '.'"),
]
SchemaName = Annotated[
    str,
    Field(min_length=1, max_length=63),
    CelFormat(
        SCHEMA_NAME,
        "must be a schema name (an unquoted PostgreSQL identifier): a letter or '_', then letters, "
        "digits, '_' or '$'",
    ),
]
ServerVersion = Annotated[
    str,
    Field(min_length=1, max_length=128),
    CelFormat(
        SERVER_VERSION,
        "must be a source revision: a letter or digit, then letters, digits, '.', '_', '/' or '-'",
    ),
]
Token = Annotated[
    str,
    Field(min_length=1, max_length=128),
    CelFormat(TOKEN, "must be a token: a letter or digit, then letters, digits, '.', '_', ':' or '-'"),
]


class _Wire(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are an error."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=False,
        validate_default=True,
        use_attribute_docstrings=True,
    )

    def wire(self) -> dict[str, Any]:
        """The object as the API server stores it (camelCase, enums as strings, nulls kept)."""
        return self.model_dump(mode="json", by_alias=True)

class _Observed(_Wire):
    """Status objects tolerate fields written by newer operators."""

    model_config = ConfigDict(extra="ignore")

# --------------------------------------------------------------------------------------------- spec

class Size(StrEnum):
    MICRO = "micro"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"
    XLARGE = "xlarge"

class SizeResources(BaseModel):
    model_config = ConfigDict(frozen=True)
    cpu: int
    memory_mb: int
    compute_units: float

SIZE_RESOURCES: dict[Size, SizeResources] = {
    Size.MICRO: SizeResources(cpu=256, memory_mb=512, compute_units=0.25),
    Size.SMALL: SizeResources(cpu=512, memory_mb=1024, compute_units=0.5),
    Size.MEDIUM: SizeResources(cpu=1024, memory_mb=2048, compute_units=1),
    Size.LARGE: SizeResources(cpu=2048, memory_mb=4096, compute_units=2),
    Size.XLARGE: SizeResources(cpu=4096, memory_mb=8192, compute_units=4),
}

class SyncMode(StrEnum):
    POLL = "poll"
    STREAM = "stream"

class LogLevel(StrEnum):
    ERROR = "error"
    WARN = "warn"
    INFO = "info"
    DEBUG = "debug"

class DeletionPolicy(StrEnum):
    DELETE = "Delete"
    RETAIN = "Retain"

class SecretRef(_Wire):
    """A key of a Secret in the resource's namespace."""

    name: Annotated[
        SecretName,
        Field(description="Name of the Secret (a DNS-1123 subdomain) in the ReflexDatabase's namespace."),
    ]
    key: Annotated[
        SecretKey,
        Field(description="Key in the Secret holding the source database connection string."),
    ] = "url"

class Source(_Wire):
    """The source database the server snapshots."""

    secret_ref: Annotated[
        SecretRef, Field(description="Secret with the source database connection string.")
    ]
    schemas: Annotated[
        list[SchemaName],
        Field(
            min_length=1,
            max_length=64,
            description="Schemas the server is compiled for (a build input).",
            json_schema_extra={
                "x-kubernetes-list-type": "set",
            },
        ),
    ] = ["public"]

class Sync(_Wire):
    """How snapshots are refreshed."""

    mode: Annotated[SyncMode, Field(description="poll: every interval; stream: continuously.")] = (
        SyncMode.POLL
    )
    interval_seconds: Annotated[
        int,
        Field(
            ge=1,
            le=86400,
            description="Snapshot interval (poll) or maximum swap interval (stream), in seconds.",
        ),
    ] = 60
    paused: Annotated[
        bool,
        Field(description="Replication paused: the server keeps serving its last snapshot."),
    ] = False

class ReflexDatabaseSpec(_Wire):
    """Desired state of a ReflexDatabase."""

    size: Annotated[
        Size,
        Field(description="Instance size: task CPU/memory 256/512 (micro) up to 4096/8192 (xlarge)."),
    ] = Size.SMALL
    source: Annotated[Source, Field(description="The source database.")]
    sync: Annotated[Sync, Field(description="Snapshot refresh settings.")] = Sync()
    log_level: Annotated[LogLevel, Field(description="Server log level.")] = LogLevel.INFO
    safety_net: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="Largest fraction of rows a new snapshot may lose before the server refuses to swap it in.",
        ),
    ] = 0.25
    server_version: Annotated[
        ServerVersion | None,
        Field(
            description="reflex-server source revision to build (a build input); empty: the operator's default.",
        ),
    ] = None
    paused: Annotated[
        bool, Field(description="Pause the instance: ECS desired count 0; record and builds kept.")
    ] = False
    terminated: Annotated[
        bool,
        Field(
            description="Terminate the instance: ECS service deleted, record and build history kept; false provisions again."
        ),
    ] = False
    build_id: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=128,
            description="Redeploy: pin the instance to an earlier deployable build from status.builds.",
        ),
    ] = None
    rebuild_token: Annotated[
        Token | None,
        Field(
            description="Any new value forces a fresh build with the same inputs.",
        ),
    ] = None
    restart_token: Annotated[
        Token | None,
        Field(
            description="Any new value forces a rolling restart (new ECS deployment).",
        ),
    ] = None
    reload_token: Annotated[
        Token | None,
        Field(
            description="Any new value makes the running server reload its snapshot now.",
        ),
    ] = None
    deletion_policy: Annotated[
        DeletionPolicy,
        Field(description="On delete: remove the AWS resources (Delete) or leave them (Retain)."),
    ] = DeletionPolicy.DELETE

    @property
    def resources(self) -> SizeResources:
        return SIZE_RESOURCES[self.size]

# ------------------------------------------------------------------------------------------- status

class Phase(StrEnum):
    PENDING = "Pending"
    BUILDING = "Building"
    DEPLOYING = "Deploying"
    RUNNING = "Running"
    PAUSED = "Paused"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"
    FAILED = "Failed"
    DELETING = "Deleting"

class HealthStatus(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    UNREACHABLE = "unreachable"
    CAP_EXCEEDED = "cap_exceeded"

class Replication(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"

class BuildState(StrEnum):
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

class ConditionType(StrEnum):
    READY = "Ready"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"
    DEGRADED = "Degraded"

class Condition(_Observed):
    """A ``metav1.Condition``."""

    type: Annotated[str, Field(min_length=1, max_length=316)]
    """Ready, Reconciling, Stalled or Degraded."""
    status: Annotated[str, Field(json_schema_extra={"enum": ["True", "False", "Unknown"]})]
    """True, False or Unknown."""
    reason: Annotated[str, Field(min_length=1, max_length=1024)]
    """Machine-readable CamelCase reason for the last transition."""
    message: Annotated[str, Field(max_length=32768)] = ""
    """Human-readable details."""
    last_transition_time: datetime
    """When the status last changed."""
    observed_generation: Annotated[int | None, Field(ge=0)] = None
    """The .metadata.generation the condition was set for."""

class DeployedConfig(_Observed):
    """The configuration the running instance serves (seed: deployedInstanceConfig)."""

    instance_size: Size
    """Instance size."""
    task_cpu: int
    """ECS task CPU units."""
    task_memory_mb: int
    """ECS task memory, in MiB."""
    sync_mode: SyncMode
    """Snapshot refresh mode."""
    sync_interval: int
    """Snapshot interval, in seconds."""
    log_level: LogLevel
    """Server log level."""
    safety_net: float
    """Largest fraction of rows a new snapshot may lose."""

class InstanceStatus(_Observed):
    """The ECS service and what its health endpoint last said."""

    ecs_service_arn: str | None = None
    """ARN of the ECS service."""
    task_definition_arn: str | None = None
    """ARN of the task definition revision the service runs."""
    endpoint_url: str | None = None
    """URL of the server's endpoint."""
    health_status: HealthStatus | None = None
    """ok, degraded, unreachable or cap_exceeded; null when there is no instance."""
    snapshot_age_ms: int | None = None
    """Age of the snapshot being served, in milliseconds."""
    swap_count: int | None = None
    """Snapshots swapped in since the server started."""
    row_counts: dict[str, int] | None = None
    """Rows per table in the served snapshot."""
    replication: Replication | None = None
    """running or paused."""
    uptime_seconds: int | None = None
    """Seconds since the server started."""
    last_health_check: datetime | None = None
    """When the health endpoint was last asked."""
    last_swap_time: datetime | None = None
    """When the last snapshot was swapped in."""
    desired_count: int | None = None
    """Desired task count of the ECS service."""
    running_count: int | None = None
    """Running task count of the ECS service."""

class BuildStatus(_Observed):
    """A CodeBuild job that compiles reflex-server for this database."""

    id: str
    """The build's id (what spec.buildId refers to)."""
    codebuild_id: str | None = None
    """The CodeBuild build id."""
    image_uri: str | None = None
    """The container image the build pushes."""
    status: BuildState
    """queued, in_progress, succeeded or failed."""
    logs_url: str | None = None
    """Where the build's logs are."""
    started_at: datetime | None = None
    """When the build started."""
    finished_at: datetime | None = None
    """When the build finished."""
    build_duration_seconds: int | None = None
    """How long the build ran."""
    compute_type_used: str | None = None
    """The CodeBuild compute type."""
    cost_estimate_cents: int | None = None
    """Estimated cost, in US cents."""
    server_version: str | None = None
    """The reflex-server revision built."""
    schemas: list[str] | None = None
    """The schemas the server was compiled for."""
    input_hash: str | None = None
    """Hash of the build inputs."""
    failure_reason: str | None = None
    """Why the build failed."""

class BuildRecord(BuildStatus):
    """An entry of the build history."""

    deployable: bool = False
    """Whether spec.buildId may pin the instance to this build."""

class ActionMode(StrEnum):
    IMMEDIATE = "immediate"
    QUEUED = "queued"

class Action(StrEnum):
    PROVISION = "provision"
    REBUILD = "rebuild"
    RECONFIGURE = "reconfigure"
    REDEPLOY = "redeploy"
    RESIZE = "resize"
    PAUSE = "pause"
    RESUME = "resume"
    TERMINATE = "terminate"
    DELETE = "delete"
    RELOAD = "reload"
    PAUSE_REPLICATION = "pause-replication"
    RESUME_REPLICATION = "resume-replication"
    CANCEL_GOAL = "cancel-goal"

class ActionAvailability(_Observed):
    """Whether a user action is allowed now, and if so whether it runs at once or waits."""

    allowed: bool
    """Whether the action is allowed now."""
    mode: ActionMode | None = None
    """immediate or queued (carried out as soon as it can)."""
    reason: str | None = None
    """Why the action is blocked, or why it would wait."""

class AllowedActions(_Observed):
    """The action availability matrix, one entry per action."""

    model_config = ConfigDict(alias_generator=None)

    provision: ActionAvailability
    rebuild: ActionAvailability
    reconfigure: ActionAvailability
    redeploy: ActionAvailability
    resize: ActionAvailability
    pause: ActionAvailability
    resume: ActionAvailability
    terminate: ActionAvailability
    delete: ActionAvailability
    reload: ActionAvailability
    pause_replication: ActionAvailability = Field(alias="pause-replication")
    resume_replication: ActionAvailability = Field(alias="resume-replication")
    cancel_goal: ActionAvailability = Field(alias="cancel-goal")

    @classmethod
    def from_map(cls, entries: dict[Action, ActionAvailability]) -> AllowedActions:
        return cls.model_validate({a.value: entries[a] for a in Action})

    def get(self, action: Action) -> ActionAvailability:
        return getattr(self, action.value.replace("-", "_"))

class AppliedTokens(_Observed):
    """One-shot tokens the operator has carried out (so each value runs exactly once)."""

    reload: str | None = None
    """The last reloadToken carried out."""
    restart: str | None = None
    """The last restartToken carried out."""
    rebuild: str | None = None
    """The last rebuildToken carried out."""
    secret_version: str | None = Field(
        None, description="resourceVersion of the Kubernetes Secret last copied to Secrets Manager."
    )

class ReflexDatabaseStatus(_Observed):
    """Observed state of a ReflexDatabase; written only by the operator."""

    observed_generation: int | None = None
    """The .metadata.generation last reconciled."""
    phase: Phase | None = None
    """Lifecycle phase, for display."""
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Ready, Reconciling, Stalled (as kstatus reads them) and Degraded."""
    deployed_config: DeployedConfig | None = None
    """The configuration the running instance serves."""
    has_pending_changes: bool | None = None
    """Whether the desired configuration differs from the deployed one."""
    instance: InstanceStatus | None = None
    """The ECS service and its health."""
    latest_build: BuildStatus | None = None
    """The most recent build."""
    builds: list[BuildRecord] = Field(default_factory=list, max_length=20)
    """The most recent builds, newest first."""
    active_build_id: str | None = None
    """The build the running instance serves."""
    allowed_actions: AllowedActions | None = None
    """For each user action: whether it is allowed now, and whether it would run at once or wait."""
    queued_goals: list[str] = Field(default_factory=list)
    """Changes that wait until they can be carried out."""
    applied_tokens: AppliedTokens | None = None
    """One-shot tokens already carried out."""
    secret_arn: str | None = None
    """ARN of the AWS Secrets Manager secret holding the connection string."""
    message: str | None = None
    """A human-readable summary."""
