"""State of the AWS emulator's extensions that is not kept in moto's backends: timings, quotas,
request-rate token buckets, injected faults and call counters. One instance per emulator process
(``STATE``); reset with everything else by ``POST /_emulator/reset``.

``REFLEX_EMULATOR_CONFIG`` (JSON, the body of a ``POST /_emulator/config``) changes the defaults
of the process, e.g. ``{"rate_limits": null}`` or ``{"codebuild_concurrent_builds": 20}``; a reset
goes back to them."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_CONFIG", "RATE_LIMITS", "RATE_LIMIT_SOURCES", "Fault", "TokenBucket", "EmulatorState", "STATE"]

# Durations in seconds. Small by default so that tests and the demo move quickly.
DEFAULT_CONFIG: dict[str, float] = {
    "codebuild_queued_seconds": 0.3,  # QUEUED, measured from StartBuild
    "codebuild_in_progress_seconds": 1.5,  # IN_PROGRESS (all phases), after QUEUED
    # Build times that look like AWS's, for benchmarks: with codebuild_build_minutes > 0 a build's
    # QUEUED + IN_PROGRESS take that many minutes (a server build on AWS: about 5), divided by
    # codebuild_time_compression (e.g. 10: 5 minutes pass in 30 s; the benchmark states the factor).
    # 0 (the default): the short seconds above, for tests and the demo.
    "codebuild_build_minutes": 0.0,
    "codebuild_time_compression": 1.0,
    "ecs_scale_seconds": 0.5,  # runningCount reaches a new desiredCount
    "ecs_deploy_seconds": 1.0,  # a new deployment's rollout reaches COMPLETED (or FAILED)
    "ecs_drain_seconds": 0.0,  # a deleted service stays DRAINING (its tasks stop), then INACTIVE
    "idempotency_window_seconds": 300.0,  # CodeBuild idempotencyToken validity (AWS: 5 minutes)
    # CodeBuild "Concurrently running builds" (Service Quotas; 60 is the long-standing default of an
    # account, per compute type) and the queue beyond it: "The maximum number of builds in a queue
    # is five times the concurrent build limit" (builds-working.html). StartBuild beyond the queue:
    # AccountLimitExceededException. 0 concurrent builds: no quota.
    "codebuild_concurrent_builds": 60.0,
    "codebuild_queue_factor": 5.0,
    "rate_limit_scale": 1.0,  # multiplies every bucket's capacity and refill rate
    "services_per_cluster": 5000.0,  # ECS quota "Services per cluster" (AWS default: 5,000, adjustable)
}

# Request-rate token buckets: family -> (bucket maximum capacity, refill rate per second, actions).
# One bucket per family for the account and Region (the whole emulator, every caller); a request
# takes one token, and a request that finds none gets AWS's throttling answer (HTTP 400
# ``ThrottlingException`` "Rate exceeded"), which botocore's standard and adaptive retry modes
# classify as throttling. Actions not listed are not throttled.
#
# ECS: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html
#   ("Request throttling for the Amazon ECS API": per account and Region, token bucket; the bucket
#   maximum capacity is the burst rate, the refill rate the sustained rate).
# CodeBuild: AWS publishes no per-action request rates (https://docs.aws.amazon.com/codebuild/latest/userguide/limits.html
#   lists resource quotas only; throttled calls answer ``ThrottlingException`` "Rate exceeded",
#   HTTP 400). The figures below are the emulator's assumption, in the same shape as ECS's.
RATE_LIMITS: dict[str, tuple[float, float, tuple[str, ...]]] = {
    "ecs.cluster_read": (50, 20, ("DescribeClusters", "ListClusters")),
    "ecs.cluster_modify": (20, 1, ("CreateCluster", "DeleteCluster", "UpdateCluster", "UpdateClusterSettings", "PutClusterCapacityProviders")),
    "ecs.cluster_resource_read": (100, 20, ("DescribeTasks", "ListTasks", "DescribeContainerInstances", "ListContainerInstances")),
    "ecs.service_read": (100, 20, ("DescribeServices", "ListServices", "ListServicesByNamespace")),
    "ecs.service_modify": (50, 5, ("CreateService", "UpdateService", "DeleteService")),
    "ecs.task_definition_read": (100, 20, ("DescribeTaskDefinition", "ListTaskDefinitions", "ListTaskDefinitionFamilies")),
    "ecs.task_definition_modify": (20, 1, ("RegisterTaskDefinition", "DeregisterTaskDefinition", "DeleteTaskDefinitions")),
    "ecs.task_stop": (100, 40, ("StopTask",)),
    "codebuild.read": (50, 20, ("BatchGetBuilds", "BatchGetProjects", "ListBuilds", "ListBuildsForProject", "ListProjects")),
    "codebuild.modify": (50, 10, ("StartBuild", "StopBuild", "RetryBuild")),
}
RATE_LIMIT_SOURCES = {
    "ecs": "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html",
    "codebuild": "https://docs.aws.amazon.com/codebuild/latest/userguide/limits.html (no per-action rates published: assumed)",
}
_FAMILY_OF = {f"{fam.split('.')[0]}.{op}": fam for fam, (_, _, ops) in RATE_LIMITS.items() for op in ops}


def _env_overrides() -> dict[str, Any]:
    raw = os.environ.get("REFLEX_EMULATOR_CONFIG", "").strip()
    return json.loads(raw) if raw else {}


class TokenBucket:
    """AWS's token bucket: holds at most ``capacity`` tokens, refilled at ``refill`` per second."""

    def __init__(self, capacity: float, refill: float) -> None:
        self.capacity, self.refill = float(capacity), float(refill)
        self.tokens, self.at = float(capacity), time.monotonic()

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.refill)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

FAULT_KINDS = ("throttle", "error5xx", "error", "build_fail", "deployment_fail", "delay_response")


@dataclass
class Fault:
    """One injected fault, consumed by the next ``count`` matching events."""

    kind: str
    count: int = 1
    service: str | None = None  # AWS signing name: ecs, codebuild, secretsmanager, ecr, logs, ec2
    operation: str | None = None  # e.g. DescribeServices; None: every operation of the service
    match: dict[str, Any] = field(default_factory=dict)
    status: int | None = None  # error5xx / error: HTTP status
    code: str | None = None  # error: error code
    message: str | None = None
    seconds: float | None = None  # delay_response: how long the answer is held back
    id: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and v != {}}


class EmulatorState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.config: dict[str, float] = dict(DEFAULT_CONFIG)
        self.faults: list[Fault] = []
        self.calls: Counter[str] = Counter()
        self.calls_by_client: dict[str, Counter[str]] = {}
        self.throttled: Counter[str] = Counter()
        self.throttled_by_client: dict[str, Counter[str]] = {}
        self.rate_limits: dict[str, tuple[float, float]] | None = {}
        self.buckets: dict[str, TokenBucket] = {}
        self.generation = 0  # bumped by every reset (the simulator resynchronises on a change)
        self._next_fault_id = 1
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.config = dict(DEFAULT_CONFIG)
            self.rate_limits = {fam: (cap, refill) for fam, (cap, refill, _) in RATE_LIMITS.items()}
            self.faults = []
            self.reset_counters()
            self.generation += 1
            self.update_config(_env_overrides())

    def reset_counters(self) -> None:
        with self.lock:
            self.calls, self.calls_by_client = Counter(), {}
            self.throttled, self.throttled_by_client = Counter(), {}

    def config_view(self) -> dict[str, Any]:
        with self.lock:
            limits = None if self.rate_limits is None else {k: list(v) for k, v in self.rate_limits.items()}
            return {**self.config, "rate_limits": limits}

    def build_seconds(self) -> tuple[float, float]:
        """A new build's (QUEUED, IN_PROGRESS) seconds: the realistic minutes, compressed, when set
        (a tenth of it queued, provisioning), else the short defaults."""
        minutes = self.config["codebuild_build_minutes"]
        if minutes <= 0:
            return self.config["codebuild_queued_seconds"], self.config["codebuild_in_progress_seconds"]
        total = minutes * 60.0 / max(self.config["codebuild_time_compression"], 1e-9)
        return total * 0.1, total * 0.9

    def update_config(self, values: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            values = dict(values)
            known = set(DEFAULT_CONFIG) | {"rate_limits"}
            unknown = set(values) - known
            if unknown:
                raise ValueError(f"unknown config keys: {sorted(unknown)}; known: {sorted(known)}")
            if "rate_limits" in values:
                self._set_rate_limits(values.pop("rate_limits"))
            for key, value in values.items():
                value = float(value)
                if value < 0:
                    raise ValueError(f"{key} must be >= 0")
                self.config[key] = value
            self.buckets = {}  # new figures: full buckets
            return self.config_view()

    def _set_rate_limits(self, limits: Any) -> None:
        """``None``: no throttling at all; a mapping family -> ``[capacity, refill]`` (or ``None``
        for that family alone) changes those buckets and keeps the others."""
        if limits is None:
            self.rate_limits = None
            return
        if not isinstance(limits, dict):
            raise ValueError("rate_limits must be null or {family: [capacity, refill per second] | null}")
        current = dict(self.rate_limits) if self.rate_limits is not None else {
            fam: (cap, refill) for fam, (cap, refill, _) in RATE_LIMITS.items()
        }
        for family, figures in limits.items():
            if family not in RATE_LIMITS:
                raise ValueError(f"unknown rate limit family {family!r}; known: {sorted(RATE_LIMITS)}")
            if figures is None:
                current.pop(family, None)
                continue
            capacity, refill = (float(x) for x in figures)
            if capacity < 1 or refill < 0:
                raise ValueError(f"{family}: capacity must be >= 1 and refill >= 0")
            current[family] = (capacity, refill)
        self.rate_limits = current

    def admit(self, service: str, operation: str) -> bool:
        """Take a token from the operation's bucket; False: throttled."""
        family = _FAMILY_OF.get(f"{service}.{operation}")
        if family is None:
            return True
        with self.lock:
            if self.rate_limits is None or family not in self.rate_limits:
                return True
            bucket = self.buckets.get(family)
            if bucket is None:
                capacity, refill = self.rate_limits[family]
                scale = self.config["rate_limit_scale"]
                if scale <= 0:
                    return True
                bucket = self.buckets[family] = TokenBucket(max(1.0, capacity * scale), refill * scale)
            return bucket.take()

    def count_throttled(self, key: str, client: str | None = None) -> None:
        with self.lock:
            self.throttled[key] += 1
            if client:
                self.throttled_by_client.setdefault(client, Counter())[key] += 1

    def add_fault(self, spec: dict[str, Any]) -> Fault:
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}")
        count = int(spec.get("count", 1))
        if count < 1:
            raise ValueError("count must be >= 1")
        if kind in ("throttle", "error5xx", "error") and not spec.get("service"):
            raise ValueError(f"a {kind} fault needs a service (ecs, codebuild, ...)")
        if kind == "delay_response" and (not spec.get("service") or float(spec.get("seconds", 0)) <= 0):
            raise ValueError("a delay_response fault needs a service and seconds > 0")
        if kind == "error" and not spec.get("code"):
            raise ValueError("an error fault needs a code (e.g. AccessDeniedException)")
        with self.lock:
            fault = Fault(
                kind=kind,
                count=count,
                service=spec.get("service"),
                operation=spec.get("operation"),
                match=dict(spec.get("match") or {}),
                status=spec.get("status"),
                code=spec.get("code"),
                message=spec.get("message"),
                seconds=float(spec["seconds"]) if spec.get("seconds") is not None else None,
                id=self._next_fault_id,
            )
            self._next_fault_id += 1
            self.faults.append(fault)
            return fault

    def take_fault(self, kinds: tuple[str, ...], predicate: Any) -> Fault | None:
        """Consume one use of the first fault of one of ``kinds`` for which ``predicate(fault)``."""
        with self.lock:
            for fault in self.faults:
                if fault.kind in kinds and predicate(fault):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
            return None

    def count_call(self, key: str, client: str | None = None) -> None:
        """Count one AWS request; ``client`` is the caller's app id from its User-Agent
        (boto3's ``user_agent_appid``), so a test can count one program's calls alone."""
        with self.lock:
            self.calls[key] += 1
            if client:
                self.calls_by_client.setdefault(client, Counter())[key] += 1


STATE = EmulatorState()
