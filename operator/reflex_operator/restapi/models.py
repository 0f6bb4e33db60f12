"""The REST API's response and request bodies, shaped as the seeds (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator
from pydantic.alias_generators import to_camel

from reflex_operator.api.models import ActionMode, BuildState, HealthStatus, LogLevel, Severity, Size, SyncMode, action_fields

__all__ = [
    "Model",
    "ErrorBody",
    "DeployedInstanceConfig",
    "DatabaseSubset",
    "Instance",
    "Build",
    "ActionAvailability",
    "AllowedActions",
    "NotificationOut",
    "ConditionOut",
    "Placement",
    "Ownership",
    "Lifecycle",
    "InstanceResponse",
    "BuildEntry",
    "BuildsResponse",
    "DatabaseSummary",
    "DatabaseList",
    "SortBy",
    "SortDir",
    "HistoryItem",
    "HistoryPage",
    "InstanceStatusResponse",
    "SourceIn",
    "CreateRequest",
    "SeenRequest",
    "RedeployRequest",
    "ReconfigureRequest",
    "ActionResponse",
    "TargetStatus",
    "BatchRequest",
    "BatchEntry",
    "BatchResponse",
]


class Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class ErrorBody(Model):
    """The seeds' error: a machine-readable code and a human message."""

    error: str
    message: str | None = None


class DeployedInstanceConfig(Model):
    instance_size: str
    task_cpu: float
    task_memory_mb: float
    sync_mode: str
    sync_interval: float
    log_level: str
    safety_net: float


class DatabaseSubset(Model):
    """Subset of database fields relevant to instance management (seed 000_); extra keys allowed."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    namespace: str
    connection: dict[str, Any]
    min_sync_interval: float = Field(description="Smallest syncInterval (seconds) in the database's sync mode on its plan")
    min_sync_intervals: dict[str, float] = Field(description="Smallest syncInterval (seconds) of each allowed sync mode")
    allowed_sync_modes: list[str] = Field(description="The sync modes the database's plan allows (no plan: every mode)")
    available_schemas: list[str]
    deployed_instance_config: DeployedInstanceConfig | None
    has_pending_changes: bool


class CostOut(Model):
    """The running cost of one instance now: zero an hour while paused or terminated."""

    hourly_usd: float = Field(description="US dollars an hour now")
    month: str = Field(description="The calendar month (UTC) of monthUsd, YYYY-MM")
    month_usd: float = Field(description="Cost this month so far")
    total_usd: float = Field(description="Cost since metering began (since)")
    since: datetime
    tasks: int = Field(description="Tasks running")
    prices_source: str = Field(description="Where the Fargate prices come from (overridable: REFLEX_FARGATE_PRICES)")


class Instance(Model):
    id: str
    database_id: str
    build_id: str | None = None
    ecs_service_arn: str | None = None
    endpoint_url: str | None = None
    health_status: HealthStatus | None = None
    snapshot_age_ms: int | None = Field(None, description="Age of the in-memory snapshot in milliseconds")
    swap_count: int | None = Field(None, description="Number of atomic snapshot swaps since start")
    row_counts: dict[str, int] | None = None
    last_health_check: datetime | None = None
    health_check_started: datetime | None = Field(None, description="When the last on-demand health check started (seed 002_ health_check_started)")
    health_check_pending: bool = Field(False, description="An on-demand health check is asked for and not yet done (seed 002_ health_check_pending)")
    cost: CostOut | None = Field(None, description="The running cost now (Fargate on-demand prices)")
    created_at: datetime
    updated_at: datetime


class Build(Model):
    id: str
    database_id: str
    codebuild_id: str | None = None
    image_uri: str | None = None
    status: BuildState
    logs_url: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    build_duration_seconds: int | None = None
    compute_type_used: str | None = None
    cost_estimate_cents: int | None = None
    created_at: datetime


class ActionAvailability(Model):
    allowed: bool
    mode: ActionMode | None = None
    reason: str | None = None


class _AllowedActions(BaseModel):
    """The thirteen actions, under their seed names (hyphenated)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


AllowedActions = create_model(
    "AllowedActions", __base__=_AllowedActions, __module__=__name__, __doc__=_AllowedActions.__doc__, **action_fields(ActionAvailability)
)


class NotificationOut(Model):
    id: str
    event_type: str
    message: str
    detail: str | None = None
    severity: Severity
    sticky: bool
    created_at: datetime


class ConditionOut(Model):
    """A status condition (Ready, Reconciling, Stalled, Degraded), as kstatus reads them."""

    type: str
    status: str
    reason: str
    message: str = ""
    last_transition_time: datetime | None = None


class Placement(Model):
    """Where the instance runs: its ECS cluster (chosen once by the operator, never moved)."""

    cluster: str
    in_settings: bool = True


class Ownership(Model):
    """The AWS resources the database owns, by name, and how it came to own them (issue 22)."""

    cluster_identity: str = Field(description="The owner's cluster identity (REFLEX_CLUSTER_IDENTITY); the tags in AWS say the same")
    service_name: str
    task_family: str
    secret_name: str
    origin: str = Field(description="Created, TakenBack, Adopted or Legacy")
    since: datetime | None = None
    tagged: bool = Field(description="Whether the ownership tags are written on its resources")
    deletion_policy: str = Field(description="What deleting the database does to them: Delete, Retain or Release")


class Lifecycle(Model):
    """Where the database is in its life, and why: what a dashboard shows as Building, Failed or
    Terminated without paging the list."""

    phase: str = Field(description="Pending, Building, Deploying, Running, Paused, Terminating, Terminated, Failed or Deleting")
    status: str = Field(description="The phase in the seed's (004_) status words, e.g. STATUS_RUNNING")
    message: str | None = None
    conditions: list[ConditionOut]
    uptime_seconds: int | None = Field(None, description="Seconds since the server started (null: no instance)")
    plan: str | None = Field(None, description="The ReflexPlan the database is on")
    placement: Placement | None = None
    ownership: Ownership | None = Field(None, description="null until the operator's first pass")


class InstanceResponse(Model):
    """GET /v1/databases/{id}/instance (seed 000_)."""

    database: DatabaseSubset
    instance: Instance
    latest_build: Build | None = Field(description="null only before the first build")
    allowed_actions: AllowedActions
    notifications: list[NotificationOut]
    unseen_count: int
    skipped_count: int
    compute_units_limit: float | None
    max_instance_size: str | None
    poll_mode_min_sync_interval: float | None
    data_transfer_gb_per_month: float | None = Field(alias="dataTransferGBPerMonth")
    lifecycle: Lifecycle


class BuildEntry(Model):
    id: str
    status: str
    deployable: bool
    codebuild_id: str | None = None
    logs_url: str | None = None
    created_at: datetime
    finished_at: datetime | None = None
    build_duration_seconds: int | None = None
    compute_type_used: str | None = None
    cost_estimate_cents: int | None = None


class BuildsResponse(Model):
    """GET /v1/databases/{id}/builds (seed 001_), newest first."""

    builds: list[BuildEntry]
    active_build_id: str | None


class DatabaseSummary(Model):
    """A list item (and the created database, seed 003_: the same shape)."""

    id: str
    name: str
    namespace: str
    status: str
    phase: str | None
    health_status: HealthStatus | None
    instance_size: str
    created_at: datetime
    lifecycle: Lifecycle


class DatabaseList(Model):
    """GET /v1/databases, GET /v2/instances (seed 004_ pagination: a cursor, limit ≤ 100).
    ``nextCursor`` repeats ``next_cursor`` (this API's earlier name, deprecated)."""

    data: list[DatabaseSummary]
    next_cursor: str | None = Field(alias="next_cursor")
    next_cursor_camel: str | None = Field(None, alias="nextCursor", description="Deprecated: next_cursor")


class SortBy(StrEnum):
    """GET /v1/databases ``sort_by`` (seed 004_); ties are broken by namespace, then name (``desc``
    reverses the whole order, ties included)."""

    NAME = "name"
    NAMESPACE = "namespace"
    CREATED_AT = "created_at"
    PHASE = "phase"
    INSTANCE_SIZE = "instance_size"
    PLAN = "plan"
    CLUSTER = "cluster"


class SortDir(StrEnum):
    ASC = "asc"
    DESC = "desc"


class HistoryItem(Model):
    """One transition of a database's phase or health (status.history)."""

    database_id: str
    instance_fid: str = Field(alias="instance_fid", description="The instance's id (/instance's instance.id)")
    name: str
    namespace: str
    kind: str = Field(description="phase or health")
    from_: str | None = Field(None, alias="from")
    to: str | None = None
    status: str | None = Field(None, description="For a phase entry: the phase reached, in the seed's status words")
    at: datetime
    reason: str | None = None


class HistoryPage(Model):
    """GET /v2/instances/status/history, GET /v1/databases/{id}/history (seed 004_): newest first."""

    data: list[HistoryItem]
    next_cursor: str | None = Field(alias="next_cursor")


class InstanceStatusResponse(Model):
    """GET /v2/instances/{instance_fid}/status (seed 004_)."""

    fid: str = Field(description="The instance's id")
    name: str
    status: str = Field(description="The seed's status word, e.g. STATUS_RUNNING")
    bid: str | None = Field(None, description="Always null: there are no bids")
    reservation: str | None = Field(None, description="Always null: there are no reservations")
    end_time: datetime | None = Field(None, alias="end_time", description="When the instance was terminated (null: it was not)")


class SourceIn(Model):
    secret_ref: dict[str, str] = Field(description='{"name": Secret in the namespace, "key": its key (default url)}')
    schemas: list[str] | None = None


class CreateRequest(Model):
    """POST /v1/databases (seed 003_ create: name, and what a ReflexDatabase needs besides)."""

    name: str
    namespace: str
    source: SourceIn
    instance_size: Size | None = None
    sync_mode: SyncMode | None = None
    sync_interval: int | None = None
    log_level: LogLevel | None = None
    safety_net: float | None = None
    server_version: str | None = None
    labels: dict[str, str] | None = None


class SeenRequest(Model):
    """POST /v1/databases/{id}/notifications/seen: everything up to ``until`` (default now) is seen."""

    until: datetime | None = None


class RedeployRequest(Model):
    build_id: str


class ReconfigureRequest(Model):
    """The reconfigure action's new configuration (seed 000_ deployedInstanceConfig's names): the
    fields given are written to the spec; the spec's own validation and the plan's limits apply."""

    instance_size: Size | None = None
    sync_mode: SyncMode | None = None
    sync_interval: int | None = Field(None, description="Seconds (spec.sync.intervalSeconds)")
    log_level: LogLevel | None = None
    safety_net: float | None = Field(None, description="Largest fraction of rows a new snapshot may lose (spec.safetyNet)")

    @model_validator(mode="after")
    def _something(self) -> "ReconfigureRequest":
        if not self.model_fields_set:
            raise ValueError("name at least one of instanceSize, syncMode, syncInterval, logLevel, safetyNet")
        return self


class ActionResponse(Model):
    """What an accepted action changed: the merge patch applied (empty: nothing to change)."""

    id: str
    action: str
    patch: dict[str, Any]
    queued: str | None = None


class TargetStatus(StrEnum):
    """The batch PATCH's target: the seed's words (004_), and this API's earlier ones as aliases."""

    STATUS_RUNNING = "STATUS_RUNNING"
    STATUS_PAUSED = "STATUS_PAUSED"
    RUNNING = "running"
    PAUSED = "paused"

    @property
    def pause(self) -> bool:
        return self in (TargetStatus.STATUS_PAUSED, TargetStatus.PAUSED)


class BatchRequest(Model):
    """PATCH /v2/instances (seed 004_): ``instances`` (database or instance ids) and a target;
    ``ids`` is this API's earlier name for ``instances``, still accepted."""

    instances: list[str] | None = Field(None, min_length=1, max_length=100, description="Ids to start or pause (the seed's name).")
    ids: list[str] | None = Field(None, min_length=1, max_length=100, description="Alias of instances (deprecated).")
    status: TargetStatus

    @model_validator(mode="after")
    def _one_list(self) -> "BatchRequest":
        if (self.instances is None) == (self.ids is None):
            raise ValueError("give exactly one of instances (the seed's name) or ids")
        return self

    @property
    def targets(self) -> list[str]:
        return list(dict.fromkeys(self.instances or self.ids or []))


class BatchEntry(Model):
    """One instance's status after processing; ``error``/``message`` say why it did not change."""

    status: str
    error: str | None = None
    message: str | None = None


class BatchResponse(Model):
    """An entry for every requested id, keyed by the id as sent (seed 004_): ``STATUS_CONFIRMED``
    (starting), ``STATUS_STOPPING`` (pausing) or the instance's prior status unchanged.
    ``databases`` answers a request made with ``ids`` in this API's earlier words."""

    instances: dict[str, BatchEntry]
    databases: dict[str, BatchEntry] | None = None


class CostResponse(Model):
    """GET /v1/databases/{id}/cost."""

    database_id: str
    instance_fid: str = Field(alias="instance_fid")
    name: str
    namespace: str
    plan: str | None = None
    cost: CostOut | None = Field(description="null before the operator's first pass")


class PricingItem(Model):
    """A stretch of time at one rate (seed 004_ pricing history): newest first."""

    database_id: str
    instance_fid: str = Field(alias="instance_fid")
    name: str
    namespace: str
    start_time: datetime = Field(alias="start_time")
    end_time: datetime | None = Field(None, alias="end_time", description="null: the rate holds now")
    hourly_usd: float
    tasks: int
    task_cpu: int | None = None
    task_memory_mb: int | None = None
    cost_usd: float = Field(description="Cost of the stretch within the requested time range (up to now)")


class PricingPage(Model):
    """GET /v2/instances/pricing/history (seed 004_)."""

    data: list[PricingItem]
    next_cursor: str | None = Field(alias="next_cursor")


class CostTotal(Model):
    key: str = Field(description="The namespace, the plan's name, or 'all'")
    databases: int
    hourly_usd: float
    month_usd: float
    total_usd: float


class CostTotals(Model):
    """GET /v1/costs: the running cost now per namespace and per plan, of the databases you may list."""

    month: str
    namespaces: list[CostTotal]
    plans: list[CostTotal]
    total: CostTotal


class LogLineOut(Model):
    timestamp: datetime
    message: str = Field(description="The line, with any password or connection string masked")
    stream: str


class LogsResponse(Model):
    """GET /v1/databases/{id}/logs: oldest first."""

    database_id: str
    source: str = Field(description="server, or build <id>")
    group: str
    lines: list[LogLineOut]
