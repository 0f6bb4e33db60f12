"""Operator-wide state: the resources seen on the watch, the Secrets they reference, the work
queue, and the adapters. One instance per operator process, kept in kopf's memo."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from reflex_operator.aws.clients import AwsClients
from reflex_operator.aws.codebuild import CodeBuild
from reflex_operator.aws.ecs import Ecs
from reflex_operator.aws.secrets import Secrets
from reflex_operator.dataplane.client import DataPlane
from reflex_operator.decide.observed import Config, HealthSample, ObservedBuild, ObservedService
from reflex_operator.k8s.kube import Kube
from reflex_operator.metrics import Metrics
from reflex_operator.settings import Settings

__all__ = ["Key", "Entry", "SecretMeta", "WorkQueue", "Runtime"]

Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class SecretMeta:
    """What the operator keeps of a Secret: never its data."""

    resource_version: str
    keys: frozenset[str]


@dataclass
class Entry:
    """The latest body of one ReflexDatabase, and how its passes have gone."""

    body: dict[str, Any]
    failures: int = 0
    last_error: str | None = None

    @property
    def uid(self) -> str:
        return str(self.body["metadata"]["uid"])

    @property
    def status(self) -> dict[str, Any]:
        return self.body.get("status") or {}

    @property
    def spec(self) -> dict[str, Any]:
        return self.body.get("spec") or {}


class WorkQueue:
    """Keys to reconcile; a key is queued at most once and processed by one worker at a time
    (a key changed while it is being processed is queued again when its pass ends)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._pending: set[Key] = set()
        self._active: set[Key] = set()
        self._dirty: set[Key] = set()
        self._timers: dict[Key, asyncio.TimerHandle] = {}

    def add(self, key: Key) -> None:
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._pending:
            self._pending.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: Key, delay: float) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(delay, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> Key:
        key = await self._queue.get()
        self._pending.discard(key)
        self._active.add(key)
        return key

    def done(self, key: Key) -> None:
        self._active.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def __len__(self) -> int:
        return len(self._pending)


@dataclass
class Runtime:
    settings: Settings
    config: Config
    aws: AwsClients
    codebuild: CodeBuild
    ecs: Ecs
    secrets: Secrets
    dataplane: DataPlane
    kube: Kube
    metrics: Metrics
    queue: WorkQueue = field(default_factory=WorkQueue)
    resources: dict[Key, Entry] = field(default_factory=dict)
    secret_index: dict[Key, SecretMeta | None] = field(default_factory=dict)
    # What the poller saw last (shared with the reconcilers).
    builds: dict[str, ObservedBuild] = field(default_factory=dict)
    services: dict[str, ObservedService | None] = field(default_factory=dict)
    health: dict[Key, HealthSample] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def referencing(self, namespace: str, secret: str) -> Iterator[Key]:
        """The resources whose spec.source.secretRef names this Secret."""
        for (ns, name), entry in self.resources.items():
            if ns == namespace and entry.spec.get("source", {}).get("secretRef", {}).get("name") == secret:
                yield (ns, name)
