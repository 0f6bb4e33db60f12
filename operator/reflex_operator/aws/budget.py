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

A reconcile pass does not sleep on an empty bucket while holding its worker. Each step it carries
out runs inside ``deferring(key)``: a call there that would wait longer than ``defer_after``
reserves its token all the same, as a *ticket* held for that database, and raises
``BudgetDeferred`` (nothing sent). The pass writes what it has and is queued for the ticket's time
(``controller.triggers.budget_ready``); its next call of that family redeems the ticket, so the
order of the bucket's callers and its rate are those of the sleeping design, without the worker.
Once a step has sent a write, the rest of that step waits in place (a step is never left half
done by choice). The poller, and calls outside a step, wait as before.

A ticket keeps the order of the bucket's callers, but a pass comes back for it when a worker is
free, which under load can be many seconds after its time: tickets redeemed late go out together,
a burst AWS's own bucket (which counts what arrives) throttles although the operator's share was
kept on paper. So each family also has a *pace*: a second bucket at the same figures, reserved
when the call is about to be sent. A pass whose place has come takes a ticket in the pace as
well; on time it finds the pace's token there, late and with others it is queued behind them at
the pace's rate (given back again, both tickets kept) instead of joining their burst. A call
outside a step waits for both.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from reflex_operator.database.inputs import BudgetWait
from reflex_operator.ports import BudgetDeferred

__all__ = [
    "Rate", "FAMILIES", "OPERATIONS", "family_of", "TokenBucket", "Budgets", "parse_rate",
    "Scope", "deferring", "DEFER_AFTER_SECONDS", "TICKET_GRACE_SECONDS",
]

# A call that would wait longer than this for its token gives the pass back (shorter waits are cheaper in place).
DEFER_AFTER_SECONDS = 0.25
# A ticket not redeemed this long after its time is dropped (its database no longer needed the call).
TICKET_GRACE_SECONDS = 300.0


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
    "secretsmanager.read": Rate(50, 50),  # DescribeSecret, GetSecretValue (ours: below AWS's figures)
    "ecs.tag-modify": Rate(20, 5),  # TagResource (not in the published bucket table: ours, conservative)
    "ecr.read": Rate(10, 5),  # DescribeRepositories (ours)
    "ecr.write": Rate(10, 5),  # BatchDeleteImage (ours)
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
    ("codebuild", "BatchDeleteBuilds"): "codebuild.build-modify",
    ("secretsmanager", "CreateSecret"): "secretsmanager.create",
    ("secretsmanager", "PutSecretValue"): "secretsmanager.put",
    ("secretsmanager", "DeleteSecret"): "secretsmanager.delete",
    ("secretsmanager", "TagResource"): "secretsmanager.put",
    ("secretsmanager", "DescribeSecret"): "secretsmanager.read",
    ("secretsmanager", "GetSecretValue"): "secretsmanager.read",
    ("ecs", "TagResource"): "ecs.tag-modify",
    ("ecr", "DescribeRepositories"): "ecr.read",
    ("ecr", "BatchDeleteImage"): "ecr.write",
}


def writes(family: str) -> bool:
    """Whether calls of the family change something in AWS (every family but the reads)."""
    return not family.endswith("read")


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
        self._tickets: dict[Hashable, float] = {}  # holder -> when its reserved token is its own
        self._prune_at = 64

    def reserve(self) -> float:
        """Reserve a token; returns how long to wait for it (0: at once)."""
        now = self._clock()
        self._tokens = min(self.rate.capacity, self._tokens + (now - self._at) * self.rate.refill)
        self._at = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate.refill

    def ticket(self, holder: Hashable) -> float:
        """The holder's token: the ticket it holds, or one reserved now. Returns the seconds until
        the token is the holder's (0 or less: it is now); the ticket stays until ``redeem``."""
        now = self._clock()
        due = self._tickets.get(holder)
        if due is None:
            due = self._tickets[holder] = now + self.reserve()
            self._prune(now)
        return max(0.0, due - now)

    def redeem(self, holder: Hashable) -> None:
        """The holder's call is sent: its ticket is used."""
        self._tickets.pop(holder, None)

    def holds(self, holder: Hashable) -> bool:
        return holder in self._tickets

    def _prune(self, now: float) -> None:
        """Drop tickets long past their time (their holder never came back for them)."""
        if len(self._tickets) < self._prune_at:
            return
        self._tickets = {h: due for h, due in self._tickets.items() if due > now - TICKET_GRACE_SECONDS}
        self._prune_at = max(64, 2 * len(self._tickets))

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
        defer_after: float = DEFER_AFTER_SECONDS,
    ) -> None:
        self.fraction, self.overrides = fraction, dict(overrides or {})
        self._clock, self._sleep, self.defer_after = clock, sleep, defer_after
        self._buckets: dict[str, TokenBucket] = {}
        self._paces: dict[str, TokenBucket] = {}

    def rate(self, family: str) -> Rate:
        if family in self.overrides:
            return self.overrides[family]
        return FAMILIES.get(family, _OTHER).scaled(self.fraction)

    def bucket(self, family: str) -> TokenBucket:
        """The family's bucket of places: reservations and tickets, in their order."""
        if family not in self._buckets:
            self._buckets[family] = TokenBucket(self.rate(family), self._clock, self._sleep)
        return self._buckets[family]

    def pace(self, family: str) -> TokenBucket:
        """The family's pace: the same figures, counting calls as they are sent."""
        if family not in self._paces:
            self._paces[family] = TokenBucket(self.rate(family), self._clock, self._sleep)
        return self._paces[family]

    async def take(self, service: str, operation: str) -> tuple[str, float]:
        """Wait for the operation's budget; returns (family, seconds waited). Inside ``deferring``,
        a wait past ``defer_after`` raises ``BudgetDeferred`` instead (the token held as a ticket)."""
        family = family_of(service, operation)
        bucket, pace, scope = self.bucket(family), self.pace(family), _SCOPE.get()
        if scope is None or not scope.armed:
            waited = await bucket.take()
            return family, waited + await pace.take()
        wait = self._tickets(family, scope, operation)
        bucket.redeem(scope.key)
        pace.redeem(scope.key)
        if writes(family):
            scope.armed = False  # the rest of this step is not left half done
        if wait > 0:
            await self._sleep(wait)
        return family, wait

    async def hold(self, service: str, operation: str) -> str:
        """Inside ``deferring``: make sure the scope's database holds the operation's token before
        it commits to the call (a build intent written to status): at once, or ``BudgetDeferred``.
        The token stays held for its call (``take`` redeems it without waiting). Returns the family."""
        family = family_of(service, operation)
        scope = _SCOPE.get()
        if scope is not None and scope.armed:
            wait = self._tickets(family, scope, operation)
            if wait > 0:
                await self._sleep(wait)
        return family

    def _tickets(self, family: str, scope: Scope, operation: str) -> float:
        """The scope's place in the family's bucket, then (once the place is due) its place in the
        pace: the wait until both are its own, or ``BudgetDeferred`` if that is past ``defer_after``
        (the tickets kept). A place redeemed on time finds the pace's token there; one redeemed
        late, with others, is queued behind them at the pace rather than sent in their burst."""
        wait = self.bucket(family).ticket(scope.key)
        if wait <= self.defer_after:
            wait = max(wait, self.pace(family).ticket(scope.key))
        if wait > self.defer_after:
            raise BudgetDeferred(BudgetWait(operation, family, wait))
        return wait


@dataclass
class Scope:
    """One step of one database's pass: who holds a ticket, and whether a call may still defer."""

    key: Hashable
    armed: bool = True


_SCOPE: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("reflex_budget_scope", default=None)


@contextmanager
def deferring(key: Hashable) -> Iterator[Scope]:
    """AWS calls inside (one step of ``key``'s pass) raise ``BudgetDeferred`` rather than sleep
    past ``defer_after`` for their token, until the step has sent a write."""
    token = _SCOPE.set(Scope(key))
    try:
        yield _SCOPE.get()  # type: ignore[misc]
    finally:
        _SCOPE.reset(token)
