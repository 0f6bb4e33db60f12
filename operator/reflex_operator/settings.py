"""Operator configuration, read from ``REFLEX_*`` environment variables.

The settings the decisions depend on take their defaults from the decision core's ``Config`` (one
source), and ``Settings.decision_config`` is the one place that maps the settings to a ``Config``.
"""

from __future__ import annotations

import json
import os
import re
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reflex_operator.ha.lease import Timings
from reflex_operator.api.plan import DEFAULT_PLAN
from reflex_operator.database import cost, identity
from reflex_operator.database.inputs import Config
from reflex_operator.fleet.rollout import Pace

__all__ = ["Settings"]

_RATE = re.compile(r"\d+(\.\d+)?/\d+(\.\d+)?")  # an AWS rate budget: "capacity/refill per second"


class Settings(BaseSettings):
    """Everything the operator can be told from outside. AWS credentials and the endpoint come
    from the standard AWS variables (``AWS_REGION``, ``AWS_ENDPOINT_URL``, ...)."""

    model_config = SettingsConfigDict(env_prefix="REFLEX_", frozen=True)

    # What to watch.
    namespace: str | None = Field(None, description="Watch one namespace; unset: all namespaces.")

    # Build and run.
    default_server_version: str = Config.default_server_version
    codebuild_project: str = "reflex-server-build"
    build_compute_type: str = Config.compute_type
    ecr_repository: str = "reflex-server"
    ecs_cluster: str = Field("reflex", description="The ECS cluster; with REFLEX_ECS_CLUSTERS, the default one (databases made before clusters were recorded are adopted on it).")
    ecs_clusters: list[str] = Field(default_factory=list, description="ECS clusters new databases are placed on, in order (JSON list); empty: REFLEX_ECS_CLUSTER alone.")
    ecs_services_per_cluster: int = Field(5000, ge=1, description="Services a cluster holds (AWS's default quota, 5,000).")
    subnets: list[str] = Field(default_factory=list)
    security_groups: list[str] = Field(default_factory=list)
    assign_public_ip: bool = False
    execution_role_arn: str = "arn:aws:iam::123456789012:role/reflex-task-execution"
    task_role_arn: str | None = None
    secret_prefix: str = Config.secret_prefix
    cluster_identity: str = Field(
        Config.cluster_identity,
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description=(
            "Who owns the AWS resources this operator makes: every name and ownership tag carries it, with the "
            "namespace and name (shared builds and images: with the inputs). A cluster rebuilt with the same identity takes its databases back; two "
            "Kubernetes clusters sharing an AWS account must each have their own (lowercase letters, digits, '-')."
        ),
    )
    container_port: int = 8080
    build_history_limit: int = Field(Config.build_history_limit, ge=1, le=20)
    # Build starts (database.intent): CodeBuild's idempotency window and the margin kept from its end,
    # how often a start refused for the concurrent-build quota is retried, and how many of the
    # project's builds the look for an expired intent's build may read.
    build_retention_seconds: float = Field(
        7 * 86400.0,
        ge=0,
        description="How long a shared build (and its ECR image) no database uses any longer is kept before it is deleted.",
    )
    build_idempotency_window_seconds: float = Field(
        Config.build_idempotency_window_seconds, gt=0, description="CodeBuild's idempotency window (AWS: 5 minutes)."
    )
    build_idempotency_margin_seconds: float = Field(
        Config.build_idempotency_margin_seconds, ge=0, description="Kept from the window's end: a start older than window − margin is looked up, not re-sent."
    )
    build_queue_retry_seconds: float = Field(30.0, gt=0, description="A start refused at the concurrent-build quota is retried this often.")
    build_find_max_builds: int = Field(2000, ge=100, description="Builds the look for an expired start's build may read, newest first.")
    fargate_prices: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description='Fargate on-demand prices per region, overriding the table in database/cost.py: {"<region>": {"vcpuHour": 0.04048, "gbHour": 0.004445}} (JSON).',
    )
    notification_limit: int = Field(Config.notification_limit, ge=1, le=100, description="Notifications kept in status.")
    history_limit: int = Field(Config.history_limit, ge=1, le=200, description="Phase and health transitions kept in status.")

    # The data plane: where each instance answers. Placeholders: {service} (the ECS service name),
    # {name}, {namespace}. In production a service-discovery name such as
    # http://{service}.reflex.local:8080.
    endpoint_template: str = Config.endpoint_template
    health_timeout_seconds: float = 2.0
    health_concurrency: int = Field(32, ge=1)

    # Cadence.
    poll_interval_seconds: float = Field(10.0, gt=0)
    transition_poll_seconds: float = Field(
        5.0, gt=0, description="Between polls, unfinished builds and services being deployed, scaled or deleted are asked about this often (nothing is asked when nothing moves)."
    )
    status_refresh_seconds: float = Field(Config.status_refresh_seconds, ge=0, description="Health figures in status are rewritten this often when nothing else changed (a change of health is written at once).")
    aws_max_attempts: int = Field(5, ge=1)
    # Client-side rate budgets per AWS API family (reflex_operator.aws.budget): the operator waits
    # for its own token bucket before each call instead of being throttled by AWS.
    aws_rate_budget_fraction: float = Field(
        0.8, gt=0, le=1, description="Share of AWS's published request rates the operator uses (the rest is left to other tools)."
    )
    aws_rate_budgets: dict[str, str] = Field(
        default_factory=dict,
        description='Per-family overrides, "capacity/refill per second", e.g. {"ecs.service-modify": "50/5"} (not scaled by the fraction).',
    )

    # The work queue: how many passes run at once, how often every resource gets a pass changed
    # or not, and the retry backoff of a failing resource (base·2^(n-1) after the n-th failure in a
    # row, at most max, spread by ±jitter; forgotten after a pass succeeds).
    workers: int = Field(8, ge=1, description="Reconcile passes that run at once.")
    resync_seconds: float = Field(300.0, gt=0, description="Every resource gets a pass this often.")
    retry_base_seconds: float = Field(2.0, gt=0, description="Delay before the first retry.")
    retry_max_seconds: float = Field(300.0, gt=0, description="Longest delay between retries.")
    retry_jitter: float = Field(0.2, ge=0, lt=1, description="Relative spread of retry delays.")

    # High availability: leader election on a coordination.k8s.io/v1 Lease in the operator's own
    # namespace (client-go's defaults), and optional sharding (one Lease per shard).
    leader_election: bool = Field(True, description="Act only while holding the Lease (run several replicas safely).")
    lease_name: str = Field(
        "reflex-operator", max_length=50, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="The Lease (with shards: <name>-shard-<i>).",
    )
    lease_namespace: str | None = Field(None, description="Where the Leases live; unset: POD_NAMESPACE, else reflex-system.")
    lease_duration_seconds: int = Field(Timings.lease_duration, ge=1, description="A standby takes over after this long without a renewal.")
    renew_deadline_seconds: float = Field(Timings.renew_deadline, gt=0, description="A leader that cannot renew for this long stops acting and steps down (it campaigns again).")
    retry_period_seconds: float = Field(Timings.retry_period, gt=0, description="How often the Lease is renewed or tried.")
    shards: int = Field(1, ge=1, le=256, description="Split the resources into this many shards, each with its own Lease.")
    # Fleet rollouts (ReflexRollout): a new default server version moves the databases that follow
    # it in health-gated waves (database.rollout, fleet.rollout).
    rollout_waves: bool = Field(Config.rollout_waves, description="Move a new default server version across the fleet in health-gated waves; false: every database moves at once.")
    rollout_canary: int = Field(Pace.canary, ge=1, description="Databases in a rollout's first wave (the canary).")
    rollout_growth: float = Field(Pace.growth, ge=1, le=100, description="Each wave of a rollout is this many times the one before.")
    rollout_max_in_flight: int = Field(Pace.max_in_flight, ge=1, description="Largest wave: databases a rollout moves at once.")
    rollout_soak_seconds: float = Field(
        Pace.soak_seconds, ge=0, description="How long a wave's databases must be healthy on the new version before the next wave starts."
    )
    # Plans: the ReflexPlan of a namespace without the label reflexdb.cloud/plan.
    default_plan: str = Field(DEFAULT_PLAN, min_length=1, description="The plan of namespaces without the reflexdb.cloud/plan label.")

    # Observability.
    metrics_port: int = 9090
    probe_port: int = 8081
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _valid_budgets(self) -> Settings:
        for family, text in self.aws_rate_budgets.items():
            if not _RATE.fullmatch(text) or float(text.split("/")[0]) < 1 or float(text.split("/")[1]) <= 0:
                raise ValueError(f"REFLEX_AWS_RATE_BUDGETS[{family!r}]: {text!r} is not 'capacity/refill' (capacity ≥ 1, refill > 0)")
        return self

    @model_validator(mode="after")
    def _valid_prices(self) -> Settings:
        cost.parse_prices(json.dumps(self.fargate_prices))  # ValueError names the region
        return self

    @model_validator(mode="after")
    def _safe_timings(self) -> Settings:
        problem = self.timings().problem()
        if problem:
            raise ValueError(f"REFLEX_LEASE_DURATION_SECONDS / RENEW_DEADLINE_SECONDS / RETRY_PERIOD_SECONDS: {problem}")
        return self

    def clusters(self) -> tuple[str, ...]:
        """The clusters new databases are placed on, in order (no repeats)."""
        return tuple(dict.fromkeys(self.ecs_clusters or [self.ecs_cluster]))

    def timings(self) -> Timings:
        return Timings(self.lease_duration_seconds, self.renew_deadline_seconds, self.retry_period_seconds)

    def leases_namespace(self) -> str:
        """The operator's namespace: the setting, else the downward API's POD_NAMESPACE."""
        return self.lease_namespace or os.environ.get("POD_NAMESPACE") or "reflex-system"

    def aws_region(self) -> str:
        """The AWS Region (the standard variables; us-east-1 when unset)."""
        return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or cost.DEFAULT_REGION

    def decision_config(self, image_repository_uri: str, region: str = cost.DEFAULT_REGION) -> Config:
        """The settings the decision core depends on (the image repository is looked up in ECR;
        the region, AWS_REGION, chooses the Fargate prices)."""
        return Config(
            fargate_price=cost.price_for(region, cost.parse_prices(json.dumps(self.fargate_prices))),
            default_server_version=self.default_server_version,
            image_repository_uri=image_repository_uri,
            endpoint_template=self.endpoint_template,
            build_history_limit=self.build_history_limit,
            compute_type=self.build_compute_type,
            secret_prefix=self.secret_prefix,
            cluster_identity=self.cluster_identity,
            status_refresh_seconds=self.status_refresh_seconds,
            notification_limit=self.notification_limit,
            history_limit=self.history_limit,
            build_idempotency_window_seconds=self.build_idempotency_window_seconds,
            build_idempotency_margin_seconds=self.build_idempotency_margin_seconds,
            rollout_waves=self.rollout_waves,
            rollout_scope=self.namespace,
            deploy_template=identity.template_mark(self.execution_role_arn, self.task_role_arn, self.container_port, region),
        )

    def rollout_pace(self) -> Pace:
        """The pace of the rollouts (a ReflexRollout's spec may override each value)."""
        return Pace(self.rollout_canary, self.rollout_growth, self.rollout_max_in_flight, self.rollout_soak_seconds)
