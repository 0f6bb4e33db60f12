"""Every field, query parameter, endpoint and status value of the five seeds (../shared/seeds/),
transcribed, each with where reflex-api answers it or why it is out of scope. test_seed_table.py
checks each answer against the served OpenAPI document (or the code that produces the value) and
fails on an item without an entry.

An item is ``(seed, kind, name)``: kind is ``endpoint``, ``param`` (query, path or body), ``field``
(of a response, dotted, ``[]`` for an array's items) or ``value`` (an allowed value, as
``field=value``)."""

from __future__ import annotations

from dataclasses import dataclass

from tests.unit.restapi.seed_contract import ACTIONS


@dataclass(frozen=True)
class Route:
    """The endpoint exists (and, with ``code``, documents that response)."""

    method: str
    path: str
    code: str | None = None


@dataclass(frozen=True)
class Param:
    """A query or path parameter of the route."""

    method: str
    path: str
    name: str


@dataclass(frozen=True)
class Body:
    """A field of the route's request body (its values, when given, all allowed)."""

    method: str
    path: str
    name: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Field:
    """A field of the route's response (dotted; ``[]`` items, ``*`` any key of a map)."""

    method: str
    path: str
    name: str
    code: str = "200"


@dataclass(frozen=True)
class Enum:
    """A value the response field's schema lists as allowed."""

    method: str
    path: str
    name: str
    value: str


@dataclass(frozen=True)
class Produced:
    """A value only the code produces (no enum in the schema): see test_seed_table's PRODUCERS."""

    producer: str
    value: str


@dataclass(frozen=True)
class Out:
    reason: str


PART_B = "out of scope of this change, issue 24 part B"
INSTANCE = ("get", "/v1/databases/{id}/instance")
BUILDS = ("get", "/v1/databases/{id}/builds")
PRICING = ("get", "/v2/instances/pricing/history")
LIST = ("get", "/v1/databases")
V2_LIST = ("get", "/v2/instances")
BATCH = ("patch", "/v2/instances")
STATUS = ("get", "/v2/instances/{instance_fid}/status")
HISTORY = ("get", "/v2/instances/status/history")
CREATE = ("post", "/v1/databases")
DELETE = ("delete", "/v1/databases/{id}")
ACTION = ("post", "/v1/databases/{id}/actions/{action}")

_NO_MARKET = "there are no bids or reservations: a ReflexDatabase is not bought on a market"
_AWX_LINKS = "AWX's hypermedia (type, url, related, summary_fields): this API names resources by id"
_AWX_JOBS = "AWX job capacity: a reflex instance runs no jobs"
_AWX_MESH = "AWX's receptor mesh: a reflex instance is one Fargate task, reached at instance.endpointUrl"
_NO_USAGE = "the server's health endpoint reports no CPU, memory or disk use (the task's are in CloudWatch)"

_CONFIG = ["instanceSize", "taskCpu", "taskMemoryMb", "syncMode", "syncInterval", "logLevel", "safetyNet"]
_INSTANCE = ["id", "databaseId", "buildId", "ecsServiceArn", "endpointUrl", "healthStatus", "snapshotAgeMs", "swapCount",
             "rowCounts", "lastHealthCheck", "createdAt", "updatedAt"]
_BUILD = ["id", "databaseId", "codebuildId", "imageUri", "status", "logsUrl", "startedAt", "finishedAt",
          "buildDurationSeconds", "computeTypeUsed", "costEstimateCents", "createdAt"]
_NOTIFICATION = ["id", "eventType", "message", "detail", "severity", "sticky", "createdAt"]
_TOP = ["database", "instance", "latestBuild", "allowedActions", "notifications", "unseenCount", "skippedCount",
        "computeUnitsLimit", "maxInstanceSize", "pollModeMinSyncInterval", "dataTransferGBPerMonth"]
_DATABASE = ["connection", "minSyncInterval", "allowedSyncModes", "availableSchemas", "deployedInstanceConfig", "hasPendingChanges"]
_BUILD_ENTRY = ["id", "status", "deployable", "codebuildId", "logsUrl", "createdAt", "finishedAt", "buildDurationSeconds",
                "computeTypeUsed", "costEstimateCents"]

TABLE: dict[tuple[str, str, str], object] = {
    # ------------------------------------------------------------------ 000_ Get instance status
    ("000", "endpoint", "GET /databases/{id}/instance"): Route(*INSTANCE),
    ("000", "param", "id"): Param(*INSTANCE, "id"),
    **{("000", "field", f): Field(*INSTANCE, f) for f in _TOP},
    **{("000", "field", f"database.{f}"): Field(*INSTANCE, f"database.{f}") for f in _DATABASE},
    **{("000", "field", f"database.deployedInstanceConfig.{f}"): Field(*INSTANCE, f"database.deployedInstanceConfig.{f}") for f in _CONFIG},
    **{("000", "field", f"instance.{f}"): Field(*INSTANCE, f"instance.{f}") for f in _INSTANCE},
    **{("000", "field", f"latestBuild.{f}"): Field(*INSTANCE, f"latestBuild.{f}") for f in _BUILD},
    **{("000", "field", f"allowedActions.{a}.{k}"): Field(*INSTANCE, f"allowedActions.{a}.{k}") for a in ACTIONS for k in ("allowed", "mode", "reason")},
    **{("000", "field", f"notifications[].{f}"): Field(*INSTANCE, f"notifications[].{f}") for f in _NOTIFICATION},
    **{("000", "value", f"instance.healthStatus={v}"): Enum(*INSTANCE, "instance.healthStatus", v) for v in ("ok", "degraded", "unreachable", "cap_exceeded")},
    **{("000", "value", f"latestBuild.status={v}"): Enum(*INSTANCE, "latestBuild.status", v) for v in ("queued", "in_progress", "succeeded", "failed")},
    **{("000", "value", f"allowedActions.*.mode={v}"): Enum(*INSTANCE, "allowedActions.pause.mode", v) for v in ("immediate", "queued")},
    **{("000", "value", f"notifications[].severity={v}"): Enum(*INSTANCE, "notifications[].severity", v) for v in ("success", "error", "info")},
    ("000", "field", "Error.error"): Field(*INSTANCE, "error", code="404"),
    ("000", "field", "Error.message"): Field(*INSTANCE, "message", code="404"),
    # ------------------------------------------------------------------ 001_ List build history
    ("001", "endpoint", "GET /databases/{id}/builds"): Route(*BUILDS),
    ("001", "param", "id"): Param(*BUILDS, "id"),
    ("001", "field", "builds"): Field(*BUILDS, "builds"),
    **{("001", "field", f"builds[].{f}"): Field(*BUILDS, f"builds[].{f}") for f in _BUILD_ENTRY},
    ("001", "field", "activeBuildId"): Field(*BUILDS, "activeBuildId"),
    ("001", "endpoint", "POST /redeploy"): Route("post", "/v1/databases/{id}/redeploy"),
    # ------------------------------------------------------------------ 002_ Retrieve an Instance (AWX)
    ("002", "endpoint", "GET /api/v2/instances/{id}/"): Route(*INSTANCE),
    ("002", "field", "id"): Field(*INSTANCE, "database.id"),
    ("002", "field", "hostname"): Field(*INSTANCE, "instance.endpointUrl"),
    ("002", "field", "type"): Out(_AWX_LINKS),
    ("002", "field", "url"): Out(_AWX_LINKS),
    ("002", "field", "related"): Out(_AWX_LINKS),
    ("002", "field", "summary_fields"): Out(_AWX_LINKS),
    ("002", "field", "uuid"): Field(*INSTANCE, "instance.id"),
    ("002", "field", "created"): Field(*INSTANCE, "instance.createdAt"),
    ("002", "field", "modified"): Field(*INSTANCE, "instance.updatedAt"),
    ("002", "field", "last_seen"): Field(*INSTANCE, "instance.lastHealthCheck"),
    ("002", "field", "health_check_started"): Field(*INSTANCE, "instance.healthCheckStarted"),
    ("002", "field", "health_check_pending"): Field(*INSTANCE, "instance.healthCheckPending"),
    ("002", "field", "last_health_check"): Field(*INSTANCE, "instance.lastHealthCheck"),
    ("002", "field", "errors"): Field(*INSTANCE, "lifecycle.conditions[].message"),
    ("002", "field", "capacity_adjustment"): Out(_AWX_JOBS),
    ("002", "field", "version"): Out("the reflex-server revision is a build input (status.builds[].serverVersion); the seed 000_ Build has no field for it"),
    ("002", "field", "capacity"): Out(_AWX_JOBS),
    ("002", "field", "consumed_capacity"): Out(_AWX_JOBS),
    ("002", "field", "percent_capacity_remaining"): Out(_AWX_JOBS),
    ("002", "field", "jobs_running"): Out(_AWX_JOBS),
    ("002", "field", "jobs_total"): Out(_AWX_JOBS),
    ("002", "field", "cpu"): Field(*INSTANCE, "database.deployedInstanceConfig.taskCpu"),
    ("002", "field", "memory"): Field(*INSTANCE, "database.deployedInstanceConfig.taskMemoryMb"),
    ("002", "field", "cpu_capacity"): Out(_AWX_JOBS),
    ("002", "field", "mem_capacity"): Out(_AWX_JOBS),
    ("002", "field", "enabled"): Field(*INSTANCE, "allowedActions.pause.allowed"),
    ("002", "field", "managed_by_policy"): Out(_AWX_JOBS),
    ("002", "field", "node_type"): Out(_AWX_MESH),
    **{("002", "value", f"node_type={v}"): Out(_AWX_MESH) for v in ("control", "execution", "hybrid", "hop")},
    ("002", "field", "node_state"): Field(*INSTANCE, "lifecycle.phase"),
    ("002", "value", "node_state=provisioning"): Produced("phase", "Building"),
    ("002", "value", "node_state=provision-fail"): Produced("phase", "Failed"),
    ("002", "value", "node_state=installed"): Produced("phase", "Deploying"),
    ("002", "value", "node_state=ready"): Produced("phase", "Running"),
    ("002", "value", "node_state=unavailable"): Produced("phase", "Paused"),
    ("002", "value", "node_state=deprovisioning"): Produced("phase", "Terminating"),
    ("002", "value", "node_state=deprovision-fail"): Out("a failed teardown is retried by the operator (Stalled condition), not a state of its own"),
    ("002", "field", "ip_address"): Out(_AWX_MESH),
    ("002", "field", "listener_port"): Field(*INSTANCE, "instance.endpointUrl"),
    ("002", "field", "peers"): Out(_AWX_MESH),
    ("002", "field", "peers_from_control_nodes"): Out(_AWX_MESH),
    # ------------------------------------------------------------------ 003_ Instances (list, create, delete, ...)
    ("003", "endpoint", "GET /api/instances"): Route(*LIST),
    ("003", "field", "id"): Field(*LIST, "data[].id"),
    ("003", "field", "name"): Field(*LIST, "data[].name"),
    ("003", "field", "status"): Field(*LIST, "data[].status"),
    ("003", "field", "region"): Field(*LIST, "data[].lifecycle.placement.cluster"),
    ("003", "field", "created_at"): Field(*LIST, "data[].createdAt"),
    ("003", "field", "updated_at"): Field(*INSTANCE, "instance.updatedAt"),
    ("003", "field", "health.cpu_percent"): Out(_NO_USAGE),
    ("003", "field", "health.memory_mb"): Out(_NO_USAGE),
    ("003", "field", "health.disk_mb"): Out(_NO_USAGE),
    ("003", "field", "health.last_heartbeat"): Field(*INSTANCE, "instance.lastHealthCheck"),
    ("003", "field", "health.uptime_secs"): Field(*INSTANCE, "lifecycle.uptimeSeconds"),
    ("003", "endpoint", "POST /api/instances"): Route(*CREATE, code="201"),
    ("003", "param", "name"): Body(*CREATE, "name"),
    ("003", "param", "region"): Out("placement is the operator's choice (REFLEX_ECS_CLUSTERS), made once; the list filters by it (cluster, region)"),
    ("003", "endpoint", "GET /api/instances/:id"): Route(*INSTANCE, code="404"),
    ("003", "endpoint", "DELETE /api/instances/:id"): Route(*DELETE, code="204"),
    ("003", "endpoint", "POST /api/instances/:id/pause"): Param(*ACTION, "action"),
    ("003", "endpoint", "POST /api/instances/:id/restart"): Param(*ACTION, "action"),
    ("003", "endpoint", "GET /api/instances/:id/health"): Field(*INSTANCE, "instance.healthStatus"),
    ("003", "value", "status=creating"): Produced("list_status", "building"),
    ("003", "value", "status=running"): Produced("list_status", "running"),
    ("003", "value", "status=paused"): Produced("list_status", "paused"),
    ("003", "value", "status=stopped"): Produced("list_status", "terminated"),
    ("003", "value", "status=error"): Produced("list_status", "failed"),
    ("003", "endpoint", "GET /instances/:id/logs"): Route("get", "/v1/databases/{id}/logs"),
    ("003", "endpoint", "GET /instances/:id/ssh"): Out("no shell into a Fargate task: by design, nothing to connect to"),
    # ------------------------------------------------------------------ 004_ Instances (v2)
    ("004", "endpoint", "GET /v2/instances"): Route(*V2_LIST),
    **{("004", "param", f"GET /v2/instances {p}"): Param(*V2_LIST, p) for p in ("next_cursor", "sort_by", "sort_dir", "project", "instance_type", "region", "limit")},
    ("004", "param", "GET /v2/instances bid_fid_in"): Out(_NO_MARKET),
    ("004", "param", "GET /v2/instances reservation_fid_in"): Out(_NO_MARKET),
    ("004", "field", "GET /v2/instances next_cursor"): Field(*V2_LIST, "next_cursor"),
    ("004", "endpoint", "PATCH /v2/instances"): Route(*BATCH),
    ("004", "param", "PATCH /v2/instances instances"): Body(*BATCH, "instances"),
    ("004", "param", "PATCH /v2/instances status"): Body(*BATCH, "status", ("STATUS_RUNNING", "STATUS_PAUSED")),
    ("004", "field", "PATCH /v2/instances entry per instance"): Field(*BATCH, "instances.*.status"),
    ("004", "value", "STATUS_CONFIRMED"): Produced("batch", "STATUS_CONFIRMED"),
    ("004", "value", "STATUS_STOPPING"): Produced("batch", "STATUS_STOPPING"),
    ("004", "value", "prior status unchanged"): Produced("batch", "STATUS_RUNNING"),
    ("004", "endpoint", "GET /v2/instances/{instance_fid}/status"): Route(*STATUS),
    ("004", "param", "instance_fid"): Param(*STATUS, "instance_fid"),
    **{("004", "field", f"status {f}"): Field(*STATUS, f) for f in ("fid", "name", "status", "bid", "reservation", "end_time")},
    ("004", "value", "STATUS_NEW"): Produced("seed_status", "STATUS_NEW"),
    ("004", "endpoint", "GET /v2/instances/status/history"): Route(*HISTORY),
    **{("004", "param", f"history {p}"): Param(*HISTORY, p) for p in ("project", "instance_fid", "limit", "start_time", "end_time", "next_cursor")},
    ("004", "param", "history bid_fid"): Out(_NO_MARKET),
    ("004", "param", "history reservation_fid"): Out(_NO_MARKET),
    ("004", "field", "history next_cursor"): Field(*HISTORY, "next_cursor"),
    ("004", "endpoint", "GET /v2/instances/pricing/history"): Route("get", PRICING[1]),
    **{("004", "param", f"pricing {p}"): Param(*PRICING, p) for p in ("project", "instance_fid", "bid_fid", "reservation_fid", "limit", "start_time", "end_time", "next_cursor")},
    ("004", "field", "pricing next_cursor"): Field(*PRICING, "next_cursor"),
}

# The seeds' items, transcribed (what TABLE must cover): the same keys, listed apart so that an
# item dropped from TABLE (or added here) is a failure, not a silent omission.
ITEMS: list[tuple[str, str, str]] = [
    ("000", "endpoint", "GET /databases/{id}/instance"), ("000", "param", "id"),
    *[("000", "field", f) for f in _TOP],
    *[("000", "field", f"database.{f}") for f in _DATABASE],
    *[("000", "field", f"database.deployedInstanceConfig.{f}") for f in _CONFIG],
    *[("000", "field", f"instance.{f}") for f in _INSTANCE],
    *[("000", "field", f"latestBuild.{f}") for f in _BUILD],
    *[("000", "field", f"allowedActions.{a}.{k}") for a in ACTIONS for k in ("allowed", "mode", "reason")],
    *[("000", "field", f"notifications[].{f}") for f in _NOTIFICATION],
    *[("000", "value", f"instance.healthStatus={v}") for v in ("ok", "degraded", "unreachable", "cap_exceeded")],
    *[("000", "value", f"latestBuild.status={v}") for v in ("queued", "in_progress", "succeeded", "failed")],
    *[("000", "value", f"allowedActions.*.mode={v}") for v in ("immediate", "queued")],
    *[("000", "value", f"notifications[].severity={v}") for v in ("success", "error", "info")],
    ("000", "field", "Error.error"), ("000", "field", "Error.message"),
    ("001", "endpoint", "GET /databases/{id}/builds"), ("001", "param", "id"), ("001", "field", "builds"),
    *[("001", "field", f"builds[].{f}") for f in _BUILD_ENTRY],
    ("001", "field", "activeBuildId"), ("001", "endpoint", "POST /redeploy"),
    ("002", "endpoint", "GET /api/v2/instances/{id}/"),
    *[("002", "field", f) for f in (
        "id", "hostname", "type", "url", "related", "summary_fields", "uuid", "created", "modified", "last_seen",
        "health_check_started", "health_check_pending", "last_health_check", "errors", "capacity_adjustment", "version",
        "capacity", "consumed_capacity", "percent_capacity_remaining", "jobs_running", "jobs_total", "cpu", "memory",
        "cpu_capacity", "mem_capacity", "enabled", "managed_by_policy", "node_type", "node_state", "ip_address",
        "listener_port", "peers", "peers_from_control_nodes")],
    *[("002", "value", f"node_type={v}") for v in ("control", "execution", "hybrid", "hop")],
    *[("002", "value", f"node_state={v}") for v in (
        "provisioning", "provision-fail", "installed", "ready", "unavailable", "deprovisioning", "deprovision-fail")],
    ("003", "endpoint", "GET /api/instances"),
    *[("003", "field", f) for f in ("id", "name", "status", "region", "created_at", "updated_at", "health.cpu_percent",
                                   "health.memory_mb", "health.disk_mb", "health.last_heartbeat", "health.uptime_secs")],
    ("003", "endpoint", "POST /api/instances"), ("003", "param", "name"), ("003", "param", "region"),
    ("003", "endpoint", "GET /api/instances/:id"), ("003", "endpoint", "DELETE /api/instances/:id"),
    ("003", "endpoint", "POST /api/instances/:id/pause"), ("003", "endpoint", "POST /api/instances/:id/restart"),
    ("003", "endpoint", "GET /api/instances/:id/health"),
    *[("003", "value", f"status={v}") for v in ("creating", "running", "paused", "stopped", "error")],
    ("003", "endpoint", "GET /instances/:id/logs"), ("003", "endpoint", "GET /instances/:id/ssh"),
    ("004", "endpoint", "GET /v2/instances"),
    *[("004", "param", f"GET /v2/instances {p}") for p in (
        "next_cursor", "sort_by", "sort_dir", "project", "instance_type", "region", "bid_fid_in", "reservation_fid_in", "limit")],
    ("004", "field", "GET /v2/instances next_cursor"),
    ("004", "endpoint", "PATCH /v2/instances"), ("004", "param", "PATCH /v2/instances instances"),
    ("004", "param", "PATCH /v2/instances status"), ("004", "field", "PATCH /v2/instances entry per instance"),
    ("004", "value", "STATUS_CONFIRMED"), ("004", "value", "STATUS_STOPPING"), ("004", "value", "prior status unchanged"),
    ("004", "endpoint", "GET /v2/instances/{instance_fid}/status"), ("004", "param", "instance_fid"),
    *[("004", "field", f"status {f}") for f in ("fid", "name", "status", "bid", "reservation", "end_time")],
    ("004", "value", "STATUS_NEW"),
    ("004", "endpoint", "GET /v2/instances/status/history"),
    *[("004", "param", f"history {p}") for p in (
        "project", "instance_fid", "bid_fid", "reservation_fid", "limit", "start_time", "end_time", "next_cursor")],
    ("004", "field", "history next_cursor"),
    ("004", "endpoint", "GET /v2/instances/pricing/history"),
    *[("004", "param", f"pricing {p}") for p in (
        "project", "instance_fid", "bid_fid", "reservation_fid", "limit", "start_time", "end_time", "next_cursor")],
    ("004", "field", "pricing next_cursor"),
]
