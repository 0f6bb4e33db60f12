"""The ReflexDatabase status: what the operator observed and decided (phase, conditions, instance,
builds, allowed actions, applied tokens); written only by the operator."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, create_model

from reflex_operator.api.common import Observed
from reflex_operator.api.plan import PlanStatus
from reflex_operator.api.rollout import RolloutMember
from reflex_operator.api.spec import LogLevel, Size, SyncMode

__all__ = [
    "Phase",
    "HealthStatus",
    "Replication",
    "BuildState",
    "ConditionType",
    "Condition",
    "DeployedConfig",
    "InstanceStatus",
    "PlacementStatus",
    "BuildStatus",
    "BuildRecord",
    "BuildIntent",
    "action_fields",
    "unfinished_builds",
    "ActionMode",
    "Action",
    "ActionAvailability",
    "AllowedActions",
    "AppliedTokens",
    "Origin",
    "AwsIdentity",
    "ReflexDatabaseStatus",
    "NOTIFICATIONS_SEEN",
    "Severity",
    "NotificationType",
    "Notification",
    "HistoryKind",
    "HistoryEntry",
    "LogsLocation",
    "CostChange",
    "CostStatus",
]


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

    @property
    def finished(self) -> bool:
        """Succeeded or failed: nothing more will happen to the build."""
        return self in (BuildState.SUCCEEDED, BuildState.FAILED)

class ConditionType(StrEnum):
    READY = "Ready"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"
    DEGRADED = "Degraded"

class Condition(Observed):
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

class DeployedConfig(Observed):
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

class LogsLocation(Observed):
    """Where a server's log streams are in CloudWatch Logs (awslogs: <prefix>/<container>/<task id>)."""

    group: str
    """The log group."""
    stream_prefix: str
    """The streams' prefix (awslogs-stream-prefix/container name)."""


class InstanceStatus(Observed):
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
    """Age of the snapshot being served, in milliseconds, as of lastHealthCheck (the live figure is
    the metric reflexdb_snapshot_age_seconds)."""
    snapshot_time: datetime | None = None
    """When the snapshot being served was taken (lastHealthCheck less snapshotAgeMs), as of
    lastHealthCheck: kubectl get shows its age, counted on the client."""
    swap_count: int | None = None
    """Snapshots swapped in since the server started."""
    row_counts: dict[str, int] | None = None
    """Rows per table in the served snapshot."""
    replication: Replication | None = None
    """running or paused."""
    uptime_seconds: int | None = None
    """Seconds since the server started."""
    last_health_check: datetime | None = None
    """When the health figures here were taken: written when the health class or replication
    changes, else every REFLEX_STATUS_REFRESH_SECONDS (the poller asks more often)."""
    last_swap_time: datetime | None = None
    """When the last snapshot was swapped in."""
    desired_count: int | None = None
    """Desired task count of the ECS service."""
    running_count: int | None = None
    """Running task count of the ECS service."""
    logs: LogsLocation | None = None
    """Where the server's logs are in CloudWatch Logs (the task definition's awslogs options)."""
    health_check_started: datetime | None = None
    """When the last on-demand health check (spec.healthCheckToken) was started."""
    health_check_pending: bool | None = None
    """An on-demand health check was asked for and waits for a running task (true), or none waits."""

class PlacementStatus(Observed):
    """Where the database's ECS service lives, chosen once and recorded before the service is
    created; it never moves."""

    cluster: str
    """The ECS cluster."""
    in_settings: bool = True
    """Whether the cluster is still in the operator's settings (REFLEX_ECS_CLUSTERS); false: it
    keeps serving there, but no new database is placed on it."""

class BuildStatus(Observed):
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
    log_group: str | None = None
    """The CloudWatch Logs group of the build's log."""
    log_stream: str | None = None
    """The CloudWatch Logs stream of the build's log."""
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
    shared: bool | None = None
    """Whether the build is the fleet's, shared by every database with the same build inputs in any
    namespace (the ReflexBuild of the same name lists them); unset: this database's own build
    (spec.rebuildToken, or made before builds were shared)."""

class BuildRecord(BuildStatus):
    """An entry of the build history."""

    deployable: bool = False
    """Whether spec.buildId may pin the instance to this build."""

def unfinished_builds(builds: list[BuildRecord]) -> list[str]:
    """The CodeBuild ids of the builds still queued or in progress (the poller follows them, a
    pass asks for them, a deletion stops them)."""
    return [b.codebuild_id for b in builds if b.codebuild_id and not b.status.finished]


class BuildIntent(Observed):
    """A build the operator is starting: recorded before StartBuild is called, so that an operator
    restarted after a crash knows what it asked for without listing the project's builds."""

    idempotency_token: str
    """The CodeBuild idempotency token of the start (the same token within CodeBuild's window
    returns the same build)."""
    attempt: int = Field(ge=0)
    """Which attempt at building these inputs (0 for the first)."""
    input_hash: str
    """Hash of the build inputs."""
    image_uri: str
    """The container image the build pushes."""
    recorded_at: datetime
    """When the intent was recorded: no build with this token was started before then."""
    queued_since: datetime | None = None
    """Since when CodeBuild refuses the start because the account's concurrent-build quota is
    reached (the database waits, queued, and the start is retried as slots free)."""
    unknown: bool = False
    """Past the idempotency window, the look for the build reached its limit without an answer:
    nothing is started or looked up again until a new spec.rebuildToken."""

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

class ActionAvailability(Observed):
    """Whether a user action is allowed now, and if so whether it runs at once or waits."""

    allowed: bool
    """Whether the action is allowed now."""
    mode: ActionMode | None = None
    """immediate or queued (carried out as soon as it can)."""
    reason: str | None = None
    """Why the action is blocked, or why it would wait."""

def action_fields(entry: Any) -> dict[str, Any]:
    """One required field of type ``entry`` per ``Action``, named by its value (hyphenated, as in
    the seeds): the one list of actions that every matrix (status, the REST API) is made from."""
    return {a.value.replace("-", "_"): (entry, Field(alias=a.value)) for a in Action}


class _AllowedActions(Observed):
    """The action availability matrix, one entry per action."""

    model_config = ConfigDict(alias_generator=None)

    @classmethod
    def from_map(cls, entries: dict[Action, ActionAvailability]) -> AllowedActions:
        return cls.model_validate({a.value: entries[a] for a in Action})

    def get(self, action: Action) -> ActionAvailability:
        return getattr(self, action.value.replace("-", "_"))  # type: ignore[no-any-return]


AllowedActions = create_model(
    "AllowedActions", __base__=_AllowedActions, __module__=__name__, __doc__=_AllowedActions.__doc__, **action_fields(ActionAvailability)
)

class AppliedTokens(Observed):
    """One-shot tokens the operator has carried out (so each value runs exactly once)."""

    reload: str | None = None
    """The last reloadToken carried out."""
    restart: str | None = None
    """The last restartToken carried out."""
    rebuild: str | None = None
    """The last rebuildToken carried out."""
    health_check: str | None = None
    """The last healthCheckToken carried out."""
    secret_version: str | None = Field(
        None, description="resourceVersion of the Kubernetes Secret last copied to Secrets Manager."
    )
    secret_deploy_version: str | None = Field(
        None,
        description="The Secret version the deployed task definition names (its deploy hash's input); differs from secretVersion only after a take-back found the stored copy equal to the Secret. Empty: secretVersion.",
    )


class Origin(StrEnum):
    """How the database came to own its AWS resources."""

    CREATED = "Created"
    """Made by this database."""
    TAKEN_BACK = "TakenBack"
    """Found under this database's identity (cluster identity, namespace, name), made by an earlier
    object of the same identity (a rebuilt cluster, a Retain delete and re-apply)."""
    ADOPTED = "Adopted"
    """Taken by spec.adoption: made elsewhere, or released by another owner."""
    LEGACY = "Legacy"
    """Made before names came from the identity (named from the object's uid); kept as they are."""


class AwsIdentity(Observed):
    """The AWS resources this database owns, by name, and how it came to own them. Recorded once;
    the names never change afterwards (an operator upgrade or a new setting renames nothing)."""

    cluster_identity: str
    """The owner's cluster identity (REFLEX_CLUSTER_IDENTITY)."""
    service_name: str
    """The ECS service (and the endpoint's host)."""
    task_family: str
    """The task definition family."""
    secret_name: str
    """The Secrets Manager secret with the connection string."""
    origin: Origin
    """Created, TakenBack, Adopted or Legacy."""
    since: datetime | None = None
    """When this database took ownership."""
    tagged: bool = False
    """Whether the ownership tags are written on the resources that exist."""

class ReflexDatabaseStatus(Observed):
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
    placement: PlacementStatus | None = None
    """The ECS cluster the service lives on (recorded before it is created, never moved)."""
    latest_build: BuildStatus | None = None
    """The most recent build."""
    builds: list[BuildRecord] = Field(default_factory=list, max_length=20)
    """The most recent builds, newest first."""
    active_build_id: str | None = None
    """The build the running instance serves."""
    build_intent: BuildIntent | None = None
    """The build being started, until CodeBuild has it (null: none)."""
    allowed_actions: AllowedActions | None = None
    """For each user action: whether it is allowed now, and whether it would run at once or wait."""
    queued_goals: list[str] = Field(default_factory=list)
    """Changes that wait until they can be carried out."""
    applied_tokens: AppliedTokens | None = None
    """One-shot tokens already carried out."""
    secret_arn: str | None = None
    """ARN of the AWS Secrets Manager secret holding the connection string."""
    identity: AwsIdentity | None = None
    """The AWS resources this database owns (names, origin, whether they carry its ownership tags)."""
    message: str | None = None
    """A human-readable summary."""
    plan: PlanStatus | None = None
    """The ReflexPlan the namespace is on, its limits and the compute units this database holds."""
    rollout: RolloutMember | None = None
    """The fleet rollout (ReflexRollout) this database moves in: held for its wave, moving, or moved."""
    notifications: list[Notification] = Field(default_factory=list)
    """What happened to the database, newest first: the latest notifications (a bounded number,
    REFLEX_NOTIFICATION_LIMIT) and every sticky one whose cause is not resolved."""
    unseen_count: int = 0
    """Notifications newer than the reflexdb.cloud/notifications-seen annotation (all, without it)."""
    skipped_count: int = 0
    """Unseen notifications that fell off the bound of the list."""
    history: list[HistoryEntry] = Field(default_factory=list)
    """Phase and health transitions, newest first (a bounded number, REFLEX_HISTORY_LIMIT); how
    long a state lasted is the time to the next newer entry of the same kind."""
    cost: CostStatus | None = None
    """The running cost of the instance (Fargate on-demand prices), accrued up to accruedAt; the
    figures for now are hourlyUsd times the time since then (kubectl reflex cost, the metrics and
    the REST API compute them when read)."""


# ------------------------------------------------------------------ notifications and history

NOTIFICATIONS_SEEN = "reflexdb.cloud/notifications-seen"
"""The annotation a user sets (an RFC 3339 timestamp) to mark the notifications up to then seen."""


class Severity(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    INFO = "info"


class NotificationType(StrEnum):
    """What a notification tells (the Kubernetes Event reason of the same transition)."""

    BUILD_SUCCEEDED = "BuildSucceeded"
    BUILD_FAILED = "BuildFailed"
    BUILD_STOPPED = "BuildStopped"
    DEPLOYED = "Deployed"
    PAUSED = "Paused"
    RESUMED = "Resumed"
    TERMINATED = "Terminated"
    FAILED = "Failed"
    RELOADED = "Reloaded"
    REPLICATION_PAUSED = "ReplicationPaused"
    REPLICATION_RESUMED = "ReplicationResumed"
    HEALTH_DEGRADED = "HealthDegraded"
    HEALTH_RECOVERED = "HealthRecovered"
    ACTION_BLOCKED = "ActionBlocked"
    PLAN_LIMIT_REACHED = "PlanLimitReached"
    DATA_TRANSFER_CAP_EXCEEDED = "DataTransferCapExceeded"
    DATA_TRANSFER_CAP_LIFTED = "DataTransferCapLifted"


class Notification(Observed):
    """Something that happened to the database that a user should know (seed: notifications)."""

    id: str
    """A UUID derived from the resource and the transition: the same across operator restarts and repeated passes."""
    event_type: NotificationType
    """What happened; the reason of the Kubernetes Event posted with it."""
    message: str
    """One line for a human."""
    detail: str | None = None
    """More about it, when there is more."""
    severity: Severity
    """success, error or info."""
    sticky: bool = False
    """Kept, whatever the bound, until its cause is resolved (a failed build, a stalled deployment)."""
    created_at: datetime
    """When the operator saw it happen."""


class HistoryKind(StrEnum):
    PHASE = "phase"
    HEALTH = "health"


class HistoryEntry(Observed):
    """One transition of the phase or of the health."""

    model_config = ConfigDict(alias_generator=None)

    kind: HistoryKind
    """phase or health."""
    from_: str | None = Field(None, alias="from")
    """The value before (null: none, e.g. no instance)."""
    to: str | None = None
    """The value after (null: none)."""
    at: datetime
    """When the operator saw the transition."""
    reason: str | None = None
    """Why: the condition reason that explains the new value."""


class CostChange(Observed):
    """A change of the running cost rate, from ``at`` until the next newer change."""

    at: datetime
    """When the rate changed."""
    hourly_usd: float
    """US dollars an hour from then on (0: no task running)."""
    tasks: int = 0
    """Tasks running."""
    task_cpu: int | None = None
    """CPU units of each task."""
    task_memory_mb: int | None = None
    """Memory of each task, in MiB."""


class CostStatus(Observed):
    """What the instance has cost, written only when the rate changes (a phase, size or task
    count change: a status write that happens anyway); figures for now are computed when read."""

    hourly_usd: float = 0.0
    """The running cost in US dollars an hour since accruedAt (0 while paused or terminated)."""
    tasks: int = 0
    """Tasks running since accruedAt."""
    accrued_usd: float = 0.0
    """Cost since ``since`` up to accruedAt."""
    month: str
    """The calendar month (UTC, YYYY-MM) of monthUsd."""
    month_usd: float = 0.0
    """Cost in ``month`` up to accruedAt."""
    accrued_at: datetime
    """When the figures were last brought up to date."""
    since: datetime
    """When metering began (the database's first pass)."""
    changes: list[CostChange] = Field(default_factory=list)
    """Rate changes, newest first (a bounded number, REFLEX_HISTORY_LIMIT): the pricing history."""


ReflexDatabaseStatus.model_rebuild()
