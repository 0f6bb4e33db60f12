"""Client-side request-rate budgets: one token bucket per AWS API family, waited on before each call.

AWS throttles each account per Region with a token bucket per group of actions (a bucket of
``capacity`` tokens, refilled at ``refill`` tokens a second). The operator keeps its own bucket per
family, at a share of AWS's figures (``REFLEX_AWS_RATE_BUDGET_FRACTION``, leaving room for other
tools in the account), so that a fleet-wide provisioning or a restart waits here instead of being
throttled into errors. Throttling that still happens is retried by botocore and counted.

The figures:

- ECS: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html (the
  actions grouped by bucket, with each bucket's maximum capacity and refill rate).
- Secrets Manager: https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html
  (requests per second per API or group of APIs; a rate of r/s is a bucket of r refilled at r/s).
- CodeBuild: https://docs.aws.amazon.com/codebuild/latest/userguide/limits.html publishes no request
  rates (only that at most 100 builds are asked about at a time); the figures below are
  conservative ones of our own, to override with ``REFLEX_AWS_RATE_BUDGETS`` where AWS raised them.
- ECR: asked once at start (DescribeRepositories); a small budget of our own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

__all__ = ["Rate", "FAMILIES", "OPERATIONS", "family_of", "TokenBucket", "Budgets", "parse_rate"]


@dataclass(frozen=True)
class Rate:
    """A token bucket's figures: at most ``capacity`` calls at once, ``refill`` more each second."""

    capacity: float
    refill: float

    def scaled(self, fraction: float) -> Rate:
        return Rate(max(1.0, self.capacity * fraction), self.refill * fraction)


# AWS's figures per family, "<service>.<family>" (see the module docstring for the sources).
FAMILIES: dict[str, Rate] = {
    "ecs.service-read": Rate(100, 20),  # DescribeServices, ListServices, ListServicesByNamespace
    "ecs.service-modify": Rate(50, 5),  # CreateService, UpdateService, DeleteService
    "ecs.task-definition-read": Rate(100, 20),  # DescribeTaskDefinition, ListTaskDefinitions
    "ecs.task-definition-modify": Rate(20, 1),  # RegisterTaskDefinition, DeregisterTaskDefinition
    "codebuild.build-read": Rate(20, 10),  # BatchGetBuilds, ListBuildsForProject (ours: not published)
    "codebuild.build-modify": Rate(10, 5),  # StartBuild, StopBuild (ours: not published)
    "secretsmanager.create": Rate(50, 50),  # CreateSecret: 50 per second
    "secretsmanager.put": Rate(50, 50),  # PutSecretValue, UpdateSecret, ...: 50 per second combined
    "secretsmanager.delete": Rate(50, 50),  # DeleteSecret: 50 per second
    "ecr.read": Rate(10, 5),  # DescribeRepositories (ours)
}

_OTHER = Rate(10, 5)  # an operation not listed below (none today)

# Every operation the operator calls, by family (a unit test checks that none is missing).
OPERATIONS: dict[tuple[str, str], str] = {
    ("ecs", "DescribeServices"): "ecs.service-read",
    ("ecs", "CreateService"): "ecs.service-modify",
    ("ecs", "UpdateService"): "ecs.service-modify",
    ("ecs", "DeleteService"): "ecs.service-modify",
    ("ecs", "DescribeTaskDefinition"): "ecs.task-definition-read",
    ("ecs", "RegisterTaskDefinition"): "ecs.task-definition-modify",
    ("codebuild", "BatchGetBuilds"): "codebuild.build-read",
    ("codebuild", "ListBuildsForProject"): "codebuild.build-read",
    ("codebuild", "StartBuild"): "codebuild.build-modify",
    ("codebuild", "StopBuild"): "codebuild.build-modify",
    ("secretsmanager", "CreateSecret"): "secretsmanager.create",
    ("secretsmanager", "PutSecretValue"): "secretsmanager.put",
    ("secretsmanager", "DeleteSecret"): "secretsmanager.delete",
    ("ecr", "DescribeRepositories"): "ecr.read",
}


def family_of(service: str, operation: str) -> str:
    """The family an operation's budget is kept in; an unlisted one shares ``<service>.other``."""
    return OPERATIONS.get((service, operation), f"{service}.other")


def parse_rate(text: str) -> Rate:
    """``"capacity/refill"`` (e.g. ``"100/20"``) as a Rate."""
    capacity, _, refill = text.partition("/")
    rate = Rate(float(capacity), float(refill))
    if rate.capacity < 1 or rate.refill <= 0:
        raise ValueError(f"{text!r}: capacity must be at least 1 and refill above 0")
    return rate


class TokenBucket:
    """A token bucket callers wait on, first come first served.

    Each ``take`` reserves one token at once (the count may go below zero: tokens promised to
    callers already waiting) and sleeps until its token has been refilled; there is no await
    between reading and updating the count, so it needs no lock on one event loop."""

    def __init__(
        self,
        rate: Rate,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate, self._clock, self._sleep = rate, clock, sleep
        self._tokens = rate.capacity
        self._at = clock()

    def reserve(self) -> float:
        """Reserve a token; returns how long to wait for it (0: at once)."""
        now = self._clock()
        self._tokens = min(self.rate.capacity, self._tokens + (now - self._at) * self.rate.refill)
        self._at = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate.refill

    async def take(self) -> float:
        """Wait for a token; returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)
        return wait


class Budgets:
    """One bucket per family, made on first use, at ``fraction`` of AWS's figures unless overridden."""

    def __init__(
        self,
        fraction: float = 0.8,
        overrides: Mapping[str, Rate] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.fraction, self.overrides = fraction, dict(overrides or {})
        self._clock, self._sleep = clock, sleep
        self._buckets: dict[str, TokenBucket] = {}

    def rate(self, family: str) -> Rate:
        if family in self.overrides:
            return self.overrides[family]
        return FAMILIES.get(family, _OTHER).scaled(self.fraction)

    def bucket(self, family: str) -> TokenBucket:
        if family not in self._buckets:
            self._buckets[family] = TokenBucket(self.rate(family), self._clock, self._sleep)
        return self._buckets[family]

    async def take(self, service: str, operation: str) -> tuple[str, float]:
        """Wait for the operation's budget; returns (family, seconds waited)."""
        family = family_of(service, operation)
        return family, await self.bucket(family).take()
