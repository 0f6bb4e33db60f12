"""Operator-wide state: the resources seen on the watch, the Secrets they reference, the work
queue, the latest observations, and the adapters (behind the ports of
``reflex_operator.decide.ports``). One instance per operator process, kept in kopf's memo; built
by ``reflex_operator.k8s.wiring``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from reflex_operator.decide import steps as s
from reflex_operator.decide.observed import Config, HealthSample, ObservedBuild, ObservedService
from reflex_operator.decide.ports import Builds, DataPlane, Kubernetes, SecretStore, Services
from reflex_operator.k8s.queue import Key, WorkQueue
from reflex_operator.metrics import Metrics
from reflex_operator.settings import Settings

__all__ = ["Key", "Entry", "SecretMeta", "Runtime", "WRITE_WAIT_SECONDS"]

log = logging.getLogger("reflex_operator.runtime")

# How long the body the operator wrote is kept against watch events that do not carry its
# resourceVersion (events older than the write); after that the next event is taken anyway, so a
# lost event cannot freeze the entry.
WRITE_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class SecretMeta:
    """What the operator keeps of a Secret: never its data."""

    resource_version: str
    keys: frozenset[str]


@dataclass
class Entry:
    """The latest body of one ReflexDatabase, and what the operator last wrote to it.

    resourceVersions are opaque: they are only ever compared for equality. After a status write
    the returned body is kept (so a pass that runs before the watch catches up does not repeat
    work) until the watch delivers that exact version; events in between are older than the
    write and are ignored, unless they come from a fresh listing or ``WRITE_WAIT_SECONDS`` passed.
    """

    body: dict[str, Any]
    last_error: str | None = None
    written: str | None = None  # the resourceVersion of our last write, not yet seen on the watch
    written_at: float = 0.0

    @property
    def uid(self) -> str:
        return str(self.body["metadata"]["uid"])

    @property
    def status(self) -> dict[str, Any]:
        return self.body.get("status") or {}

    @property
    def spec(self) -> dict[str, Any]:
        return self.body.get("spec") or {}

    def wrote(self, body: dict[str, Any], now: float) -> None:
        """Keep the body a write returned; wait for the watch to deliver its version."""
        self.body = body
        self.written = body["metadata"].get("resourceVersion")
        self.written_at = now

    def seen(self, body: dict[str, Any], now: float, listing: bool = False) -> bool:
        """Take the body of a watch event unless it is older than our own write; returns whether
        it was taken."""
        if self.written is not None and not listing:
            version = body["metadata"].get("resourceVersion")
            if version != self.written and now - self.written_at < WRITE_WAIT_SECONDS:
                if _generation(body) > _generation(self.body):
                    # A newer spec than the one kept: never ignored (the user's change), but
                    # with the status the operator wrote, until the watch catches up.
                    self.body = {**body, "status": self.body.get("status")}
                    return True
                return False
        self.body, self.written = body, None
        return True


def _generation(body: dict[str, Any]) -> int:
    return int(body.get("metadata", {}).get("generation") or 0)


@dataclass
class Runtime:
    settings: Settings
    config: Config
    codebuild: Builds
    ecs: Services
    secrets: SecretStore
    dataplane: DataPlane
    kube: Kubernetes
    metrics: Metrics
    queue: WorkQueue = field(default_factory=WorkQueue)
    resources: dict[Key, Entry] = field(default_factory=dict)
    secret_index: dict[Key, SecretMeta | None] = field(default_factory=dict)
    # What the poller saw last (shared with the reconcilers).
    builds: dict[str, ObservedBuild] = field(default_factory=dict)
    services: dict[str, ObservedService | None] = field(default_factory=dict)
    health: dict[Key, HealthSample] = field(default_factory=dict)
    # First looks at services the poller has not seen yet go one batch at a time.
    first_look: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Events being posted (a pass does not wait for them).
    posting: set[asyncio.Task[None]] = field(default_factory=set)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # The time the decisions are made at (the unit tests' world moves its own clock).
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))

    def referencing(self, namespace: str, secret: str) -> Iterator[Key]:
        """The resources whose spec.source.secretRef names this Secret."""
        for (ns, name), entry in self.resources.items():
            if ns == namespace and entry.spec.get("source", {}).get("secretRef", {}).get("name") == secret:
                yield (ns, name)

    def post(self, body: dict[str, Any], events: list[s.Event]) -> None:
        """Post events without holding up the pass; a lost event is logged, never retried."""
        for event in events:
            task = asyncio.create_task(self.kube.post_event(body, event.warning, event.reason, event.message))
            self.posting.add(task)
            task.add_done_callback(self._posted)

    def _posted(self, task: asyncio.Task[None]) -> None:
        self.posting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not post an event: %s", task.exception())

    async def flush_events(self, cancel: bool = False) -> None:
        """Wait for (or cancel) the events still being posted."""
        tasks = list(self.posting)
        if cancel:
            for task in tasks:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
