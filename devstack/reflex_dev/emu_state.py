"""State of the AWS emulator's extensions that is not kept in moto's backends: timings, injected
faults and call counters. One instance per emulator process (``STATE``); reset with everything
else by ``POST /_emulator/reset``."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_CONFIG", "Fault", "EmulatorState", "STATE"]

# Durations in seconds. Small by default so that tests and the demo move quickly.
DEFAULT_CONFIG: dict[str, float] = {
    "codebuild_queued_seconds": 0.3,  # QUEUED, measured from StartBuild
    "codebuild_in_progress_seconds": 1.5,  # IN_PROGRESS (all phases), after QUEUED
    "ecs_scale_seconds": 0.5,  # runningCount reaches a new desiredCount
    "ecs_deploy_seconds": 1.0,  # a new deployment's rollout reaches COMPLETED (or FAILED)
    "idempotency_window_seconds": 300.0,  # CodeBuild idempotencyToken validity (AWS: 5 minutes)
    "services_per_cluster": 5000.0,  # ECS quota "Services per cluster" (AWS default: 5,000, adjustable)
}

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
        self._next_fault_id = 1

    def reset(self) -> None:
        with self.lock:
            self.config = dict(DEFAULT_CONFIG)
            self.faults = []
            self.calls = Counter()
            self.calls_by_client = {}

    def update_config(self, values: dict[str, Any]) -> dict[str, float]:
        with self.lock:
            unknown = set(values) - set(DEFAULT_CONFIG)
            if unknown:
                raise ValueError(f"unknown config keys: {sorted(unknown)}; known: {sorted(DEFAULT_CONFIG)}")
            for key, value in values.items():
                value = float(value)
                if value < 0:
                    raise ValueError(f"{key} must be >= 0")
                self.config[key] = value
            return dict(self.config)

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
