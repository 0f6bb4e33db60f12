"""The ReflexDatabase API (``reflexdb.cloud/v1alpha1``): spec and status as pydantic models.

These models are the one source of truth: the operator parses and writes them, and the CRD's
OpenAPI schema is generated from them (``reflex_operator.api.crd``). Field names are camelCase on
the wire; Python attributes are snake_case.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "GROUP",
    "VERSION",
    "KIND",
    "PLURAL",
    "SINGULAR",
    "SHORT_NAMES",
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

# A DNS-1123 label (Secret names are subdomains, but a label is what users write and what we use in
# AWS names). Schema names follow PostgreSQL identifiers.
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"
SCHEMA_NAME = r"^[A-Za-z_][A-Za-z0-9_$]*$"
SERVER_VERSION = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"
TOKEN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"

class _Wire(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are an error."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=False,
        validate_default=True,
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
        str,
        Field(
            min_length=1,
            max_length=253,
            pattern=DNS1123_SUBDOMAIN,
            description="Name of the Secret (a DNS-1123 subdomain) in the ReflexDatabase's namespace.",
        ),
    ]
    key: Annotated[
        str,
        Field(
            min_length=1,
            max_length=253,
            pattern=SECRET_KEY,
            description="Key in the Secret holding the source database connection string.",
        ),
    ] = "url"

class Source(_Wire):
    """The source database the server snapshots."""

    secret_ref: Annotated[
        SecretRef, Field(description="Secret with the source database connection string.")
    ]
    schemas: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=63, pattern=SCHEMA_NAME)]],
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
        str | None,
        Field(
            min_length=1,
            max_length=128,
            pattern=SERVER_VERSION,
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
        str | None,
        Field(
            min_length=1,
            max_length=128,
            pattern=TOKEN,
            description="Any new value forces a fresh build with the same inputs.",
        ),
    ] = None
    restart_token: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=128,
            pattern=TOKEN,
            description="Any new value forces a rolling restart (new ECS deployment).",
        ),
    ] = None
    reload_token: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=128,
            pattern=TOKEN,
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
    status: Annotated[str, Field(json_schema_extra={"enum": ["True", "False", "Unknown"]})]
    reason: Annotated[str, Field(min_length=1, max_length=1024)]
    message: Annotated[str, Field(max_length=32768)] = ""
    last_transition_time: datetime
    observed_generation: Annotated[int | None, Field(ge=0)] = None

class DeployedConfig(_Observed):
    """The configuration the running instance serves (seed: deployedInstanceConfig)."""

    instance_size: Size
    task_cpu: int
    task_memory_mb: int
    sync_mode: SyncMode
    sync_interval: int
    log_level: LogLevel
    safety_net: float

class InstanceStatus(_Observed):
    """The ECS service and what its health endpoint last said."""

    ecs_service_arn: str | None = None
    task_definition_arn: str | None = None
    endpoint_url: str | None = None
    health_status: HealthStatus | None = None
    snapshot_age_ms: int | None = None
    swap_count: int | None = None
    row_counts: dict[str, int] | None = None
    replication: Replication | None = None
    uptime_seconds: int | None = None
    last_health_check: datetime | None = None
    last_swap_time: datetime | None = None
    desired_count: int | None = None
    running_count: int | None = None

class BuildStatus(_Observed):
    """A CodeBuild job that compiles reflex-server for this database."""

    id: str
    codebuild_id: str | None = None
    image_uri: str | None = None
    status: BuildState
    logs_url: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    build_duration_seconds: int | None = None
    compute_type_used: str | None = None
    cost_estimate_cents: int | None = None
    server_version: str | None = None
    schemas: list[str] | None = None
    input_hash: str | None = None
    failure_reason: str | None = None

class BuildRecord(BuildStatus):
    """An entry of the build history."""

    deployable: bool = False

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
    mode: ActionMode | None = None
    reason: str | None = None

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
    restart: str | None = None
    rebuild: str | None = None

class ReflexDatabaseStatus(_Observed):
    """Observed state of a ReflexDatabase; written only by the operator."""

    observed_generation: int | None = None
    phase: Phase | None = None
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    deployed_config: DeployedConfig | None = None
    has_pending_changes: bool | None = None
    instance: InstanceStatus | None = None
    latest_build: BuildStatus | None = None
    builds: list[BuildRecord] = Field(default_factory=list, max_length=20)
    active_build_id: str | None = None
    allowed_actions: AllowedActions | None = None
    queued_goals: list[str] = Field(default_factory=list)
    applied_tokens: AppliedTokens | None = None
    secret_arn: str | None = None
    message: str | None = None
