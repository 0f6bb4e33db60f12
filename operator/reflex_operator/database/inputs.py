"""What the operator saw of the world, as plain values: the decision core's input.

The adapters (``reflex_operator.aws``, ``reflex_operator.dataplane``, ``reflex_operator.kube``)
build these from AWS, the data plane and the Kubernetes API; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from reflex_operator.tenancy.plans import PlanFacts
from reflex_operator.tenancy.placement import ClusterLoad
from reflex_operator.fleet.rollout import Admission
from reflex_operator.database.cost import DEFAULT_REGION, FARGATE_PRICES, FargatePrice
from reflex_operator.api.models import (
    DeployedConfig,
    HealthStatus,
    LogsLocation,
    ReflexDatabaseSpec,
    ReflexDatabaseStatus,
    Replication,
)

__all__ = [
    "BudgetWait",
    "BuildOutcome",
    "ObservedBuild",
    "ServiceState",
    "RolloutState",
    "ObservedService",
    "HealthSample",
    "SecretState",
    "BuildLookup",
    "Observation",
    "Desired",
    "Config",
]


class BuildOutcome(StrEnum):
    """A CodeBuild build's status, reduced to what matters here."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"

    @property
    def finished(self) -> bool:
        return self in (BuildOutcome.SUCCEEDED, BuildOutcome.FAILED, BuildOutcome.STOPPED)


@dataclass(frozen=True)
class ObservedBuild:
    """One CodeBuild build of this resource, as BatchGetBuilds reports it."""

    codebuild_id: str
    input_hash: str
    outcome: BuildOutcome
    image_uri: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    logs_url: str | None = None
    log_group: str | None = None
    log_stream: str | None = None
    compute_type: str | None = None
    server_version: str | None = None
    schemas: tuple[str, ...] = ()
    failure_reason: str | None = None
    shared: bool = False  # a build of the fleet, shared by every database with these inputs (no owner)
    owner: str | None = None  # the database (namespace/name) a private build (spec.rebuildToken) is for
    attempt: int | None = None  # which attempt at these inputs (the idempotency token and image tag carry it)
    idempotency_token: str | None = None

    @property
    def id(self) -> str:
        """The build's id in status: the CodeBuild id without its project prefix."""
        return self.codebuild_id.rsplit(":", 1)[-1]


class ServiceState(StrEnum):
    ACTIVE = "ACTIVE"
    DRAINING = "DRAINING"
    INACTIVE = "INACTIVE"


class RolloutState(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class ObservedService:
    """The resource's ECS service (looked up by its deterministic name)."""

    name: str
    arn: str
    state: ServiceState
    task_definition_arn: str | None
    deploy_hash: str | None
    desired_count: int
    running_count: int
    rollout_state: RolloutState | None = None
    rollout_reason: str | None = None
    image_uri: str | None = None
    config: DeployedConfig | None = None
    logs: LogsLocation | None = None  # the server's awslogs group and stream prefix
    tags: dict[str, str] | None = None  # the service's tags (None: the answer did not include them)
    secret_version: str | None = None  # the Secret version its task definition names (REFLEX_SECRET_VERSION)
    build_id: str | None = None  # the CodeBuild build of its image (REFLEX_BUILD_ID)
    cluster: str | None = None  # the ECS cluster it was found on (None: not said)
    template: str | None = None  # the operator's template mark its task definition carries (REFLEX_TEMPLATE; None: from before marks)

    @property
    def exists(self) -> bool:
        return self.state is ServiceState.ACTIVE


@dataclass(frozen=True)
class HealthSample:
    """What the instance's ``GET /healthz`` said (or that it did not answer)."""

    status: HealthStatus
    checked_at: datetime
    snapshot_age_ms: int | None = None
    swap_count: int | None = None
    row_counts: dict[str, int] | None = None
    replication: Replication | None = None
    uptime_seconds: int | None = None
    last_swap_time: datetime | None = None
    bytes_transferred: int | None = None  # this month, as the server counts it
    on_demand: bool = False  # taken for spec.healthCheckToken: goes into status at once

    @property
    def reachable(self) -> bool:
        return self.status is not HealthStatus.UNREACHABLE


@dataclass(frozen=True)
class SecretState:
    """The Kubernetes Secret named by ``spec.source.secretRef`` — never its value."""

    exists: bool
    has_key: bool = False
    resource_version: str | None = None

    @property
    def usable(self) -> bool:
        return self.exists and self.has_key


class BuildLookup(StrEnum):
    """What the backwards look for an expired build intent found, when it found no build."""

    ABSENT = "absent"  # no build of the intent: it was never started
    INCONCLUSIVE = "inconclusive"  # the look reached its page limit before the intent's time


@dataclass(frozen=True)
class BudgetWait:
    """An AWS call this pass did not send: its API family's client-side rate budget had no token
    for it yet (``ports.BudgetDeferred``). The token is held for the database ``ready_in`` s on."""

    operation: str  # e.g. "RegisterTaskDefinition", "StartBuild"
    family: str  # e.g. "ecs.task-definition-modify"
    ready_in: float

    @property
    def note(self) -> str:
        return f"waiting for a {self.operation} token of the operator's AWS rate budget ({self.family})"


@dataclass(frozen=True)
class Observation:
    """Everything observed for one resource in one pass."""

    secret: SecretState
    builds: tuple[ObservedBuild, ...] = ()
    service: ObservedService | None = None
    health: HealthSample | None = None
    aws_secret_arn: str | None = None
    aws_error: str | None = None
    plan: PlanFacts | None = None  # the namespace's plan; None: plans are not enforced
    build_refused: bool = False  # StartBuild was refused this pass: the concurrent-build quota is reached
    build_lookup: BuildLookup | None = None  # the backwards look for an expired build intent found nothing
    clusters: ClusterLoad | None = None  # the ECS clusters and their load; None: placement is left as it is
    deferred: BudgetWait | None = None  # a call this pass did not send: no rate-budget token for it yet
    refused_by_owner: str | None = None  # a resource under its name belongs to someone else (what and whose)
    adoption_matches: int = 0  # an unplaced database's service looked for on every ECS cluster: on how many other ones it was found
    found_on: str | None = None  # ... and the one it was found on (its placement, recorded)
    secret_kept: bool = False  # the stored secret found under its name already held the Secret's value
    # The fleet's shared builds of this database's build inputs (any namespace), as the operator
    # knows them (``controller.fleet``): a database with no build of its own adopts one of these.
    fleet: tuple[ObservedBuild, ...] = ()
    rollout: Admission | None = None  # the rollout of the default server version, as it admits this database (None: none yet)
    template_rollout: Admission | None = None  # the rollout of the operator's template mark on that version, likewise


@dataclass(frozen=True)
class Desired:
    """The resource as the user declared it."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: ReflexDatabaseSpec
    status: ReflexDatabaseStatus = field(default_factory=ReflexDatabaseStatus)
    deleting: bool = False


@dataclass(frozen=True)
class Config:
    """Operator settings the decisions depend on. These defaults are the operator's defaults:
    ``reflex_operator.settings.Settings`` takes its own from here and maps itself onto this."""

    default_server_version: str = "v1.4.0"
    image_repository_uri: str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/reflex-server"
    endpoint_template: str = "http://{service}.reflex.local:8080"
    build_history_limit: int = 10
    compute_type: str = "BUILD_GENERAL1_MEDIUM"
    secret_prefix: str = "reflexdb/"
    # Names every AWS resource with the namespace and name (database.identity), and owns the shared
    # builds (their token, image tag and REFLEX_CLUSTER_IDENTITY variable): a rebuilt cluster with the
    # same identity takes its databases and builds back; two clusters sharing an AWS account must differ.
    cluster_identity: str = "default"
    status_refresh_seconds: float = 1800.0  # health figures rewritten at least this often (slow refresh)
    notification_limit: int = 20  # notifications kept in status (sticky ones beyond it)
    history_limit: int = 50  # phase and health transitions kept in status
    # CodeBuild's idempotency window (StartBuild with the same token within it returns the same
    # build; AWS documents 5 minutes) and the margin kept from its end (clock skew, slow answers).
    build_idempotency_window_seconds: float = 300.0
    build_idempotency_margin_seconds: float = 60.0
    fargate_price: FargatePrice = FARGATE_PRICES[DEFAULT_REGION]  # the running cost (database.cost)
    rollout_waves: bool = True  # a new default server version moves the fleet in health-gated waves (database.rollout)
    deploy_template: str | None = None  # the mark of the operator's part of every task definition (identity.template_mark; None: not followed)
    rollout_scope: str | None = None  # the installation's scope in ReflexRollout names (the watched namespace; None: cluster)

    def endpoint(self, service: str, namespace: str, name: str) -> str:
        """How a database's instance is reached: ``endpoint_template`` filled in (the one formatter)."""
        return self.endpoint_template.format(service=service, name=name, namespace=namespace)
