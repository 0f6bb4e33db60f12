"""Operator-wide state: the resources seen on the watch, the Secrets they reference, the work
queue, the latest observations, and the adapters (behind the ports of
``reflex_operator.ports``). One instance per operator process, kept in kopf's memo; built
by ``reflex_operator.controller.wiring``."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import zlib
from collections import deque
from collections.abc import Callable, ItemsView, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from reflex_operator.database import steps as s
from reflex_operator.api.models import ReflexDatabaseSpec, ReflexDatabaseStatus
from reflex_operator.database.identity import AwsNames
from reflex_operator.database.inputs import Config, Desired, HealthSample, ObservedBuild, ObservedService
from reflex_operator.database.ownership import names_of
from reflex_operator.ports import BuildRegistry, Builds, DataPlane, Kubernetes, SecretStore, Services
from reflex_operator.ha.elector import Elector
from reflex_operator.ha.gate import Gate
from reflex_operator.tenancy.plans import Usage
from reflex_operator.tenancy.slots import Placements
from reflex_operator.fleet.cache import RolloutCache
from reflex_operator.api.rollout import RolloutMember
from reflex_operator.tenancy.plan_cache import PlanCache, usage_of, waiting
from reflex_operator.controller.fleet import FleetBuilds
from reflex_operator.controller.queue import Key, WorkQueue
from reflex_operator.metrics import Metrics
from reflex_operator.settings import Settings

__all__ = ["Key", "Entry", "Registry", "SecretMeta", "Runtime", "Stop", "WRITE_WAIT_SECONDS", "slim"]

log = logging.getLogger("reflex_operator.runtime")

# How long the body the operator wrote is kept against watch events that do not carry its
# resourceVersion (events older than the write); after that the next event is taken anyway, so a
# lost event cannot freeze the entry.
WRITE_WAIT_SECONDS = 30.0

# What the operator never reads of a body, and does not keep: the API server's field bookkeeping
# and client-side apply's copy of the whole manifest (together about as large as the spec again).
_UNREAD_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def slim(body: dict[str, Any]) -> dict[str, Any]:
    """The body as kept: without ``metadata.managedFields`` and the last-applied annotation (a
    shallow copy when there is something to drop; the body given is never changed)."""
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        return body
    annotations = meta.get("annotations") or {}
    unread = [a for a in _UNREAD_ANNOTATIONS if a in annotations]
    if "managedFields" not in meta and not unread:
        return body
    kept = {k: v for k, v in meta.items() if k != "managedFields"}
    if unread:
        kept["annotations"] = {k: v for k, v in annotations.items() if k not in unread}
    return {**body, "metadata": kept}


def _interned(value: Any) -> Any:
    """A copy of a decoded JSON value whose keys and short strings are interned: every decoded
    body brings its own copies of "metadata", "namespace", "micro", ..., which for 10,000 heads
    held were a third of their size."""
    if isinstance(value, dict):
        return {sys.intern(k): _interned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interned(v) for v in value]
    if isinstance(value, str) and len(value) <= 64:
        return sys.intern(value)
    return value


@dataclass(frozen=True)
class SecretMeta:
    """What the operator keeps of a Secret: never its data."""

    resource_version: str
    keys: frozenset[str]


class Entry:
    """The latest body of one ReflexDatabase, and what the operator last wrote to it.

    resourceVersions are opaque: they are only ever compared for equality. After a status write
    the returned body is kept (so a pass that runs before the watch catches up does not repeat
    work) until the watch delivers that exact version; events in between are older than the
    write and are ignored, unless they come from a fresh listing or ``WRITE_WAIT_SECONDS`` passed.

    The body is held slimmed (``slim``), its status packed (compact JSON, zlib): at 10,000
    databases the parsed statuses (history, notifications, allowed actions: ~27 KB each as Python
    objects, ~9 KB as JSON) were the operator's largest use of memory, and only a pass reads them.
    ``body`` and ``status`` unpack a fresh copy on each read; ``meta`` and ``spec`` are held as is.
    """

    __slots__ = ("_head", "_status", "_epoch", "_derived_at", "_derived", "last_error", "written", "written_at", "delivered")

    def __init__(self, body: dict[str, Any]) -> None:
        self._epoch = 0  # one more for each body held: what ``derived`` is keyed on
        self._derived_at, self._derived = -1, {}
        self.last_error: str | None = None
        self.written: str | None = None  # the resourceVersion of our last write, not yet seen on the watch
        self.written_at = 0.0
        # The last versions the watch delivered (compared for equality only).
        self.delivered: deque[str | None] = deque(maxlen=8)
        self.body = body
        self.delivered.append(self.meta.get("resourceVersion"))

    @property
    def body(self) -> dict[str, Any]:
        """The body held (a fresh copy of its status on each read)."""
        status = self.status
        return {**self._head, "status": status} if status else dict(self._head)

    @body.setter
    def body(self, body: dict[str, Any]) -> None:
        lean = slim(body)
        status = lean.get("status")
        self._head = {k: _interned(v) for k, v in lean.items() if k != "status"}
        self._status = _pack(status) if status else None
        self._epoch += 1

    def derived(self, name: str, make: Callable[[dict[str, Any]], Any]) -> Any:
        """``make(body)`` of the body held now, kept until another body is held."""
        if self._derived_at != self._epoch:
            self._derived_at, self._derived = self._epoch, {}
        if name not in self._derived:
            self._derived[name] = make(self.body)
        return self._derived[name]

    def usage(self) -> Usage | None:
        """What this database's body says of its compute units (``usage_of``, once per body)."""
        return self.derived("usage", usage_of)  # type: ignore[no-any-return]

    def cluster(self) -> str | None:
        """The ECS cluster its status records (``placement.cluster``; None: none yet; before then,
        the one ``spec.adoption`` names), once per body."""
        return self.derived("cluster", _recorded_cluster)  # type: ignore[no-any-return]

    def names(self, config: Config) -> AwsNames | None:
        """The names of its AWS resources (``database.ownership.names_of``; None: a spec that does
        not parse), once per body."""
        return self.derived("names", lambda body: names_of_body(body, config))  # type: ignore[no-any-return]

    def rollout(self) -> RolloutMember | None:
        """The fleet rollout its status says it is in (``status.rollout``), once per body."""
        return self.derived("rollout", _rollout_member)  # type: ignore[no-any-return]

    def waiting(self) -> bool:
        """Whether the database waits for its plan (``plans.waiting``, once per body)."""
        return self.derived("waiting", waiting)  # type: ignore[no-any-return]

    @property
    def head(self) -> dict[str, Any]:
        """The body without its status (what an Event names; not to be changed)."""
        return self._head

    @property
    def meta(self) -> dict[str, Any]:
        return self._head["metadata"]  # type: ignore[no-any-return]

    @property
    def uid(self) -> str:
        return str(self.meta["uid"])

    @property
    def status(self) -> dict[str, Any]:
        """A fresh copy of the status held ({} when none)."""
        return _unpack(self._status) if self._status is not None else {}

    @property
    def spec(self) -> dict[str, Any]:
        return self._head.get("spec") or {}

    @property
    def generation(self) -> int:
        return int(self.meta.get("generation") or 0)

    def wrote(self, body: dict[str, Any], now: float) -> None:
        """Keep the body a write returned; wait for the watch to deliver its version. If the watch
        already delivered it (it can overtake the write's own answer), the body held now is that
        version or a newer one, and is kept."""
        version = body["metadata"].get("resourceVersion")
        if version in self.delivered:
            return
        self.body = body
        self.written = version
        self.written_at = now

    def seen(self, body: dict[str, Any], now: float, listing: bool = False) -> bool:
        """Take the body of a watch event unless it is older than our own write; returns whether
        it was taken."""
        if self.written is not None and not listing:
            version = body["metadata"].get("resourceVersion")
            if version != self.written and now - self.written_at < WRITE_WAIT_SECONDS:
                # Only the operator writes status: a body that carries the status we wrote is our
                # write's version or a later one (a user's label or annotation change, folded or not).
                ours = self.status
                if (body.get("status") or {}) != ours:
                    if _generation(body) > self.generation:
                        # A newer spec than the one kept (kopf may fold our write's own event into
                        # the user's; generations, unlike resourceVersions, are ordered integers):
                        # never ignored, but with the status the operator wrote, until the watch
                        # catches up.
                        self.body = {**body, "status": ours}
                        return True
                    return False
        self.body, self.written = body, None
        self.delivered.append(body["metadata"].get("resourceVersion"))
        return True


def _generation(body: dict[str, Any]) -> int:
    return int(body.get("metadata", {}).get("generation") or 0)


def _pack(status: dict[str, Any]) -> bytes:
    return zlib.compress(json.dumps(status, separators=(",", ":")).encode(), 1)


def _unpack(packed: bytes) -> dict[str, Any]:
    return json.loads(zlib.decompress(packed))  # type: ignore[no-any-return]


class Registry(MutableMapping[Key, Entry]):
    """The resources seen on the watch, by key, with an index of the keys of each namespace (a
    pass gathers its namespace's plan usage without going through the whole fleet). Every change
    goes through ``__setitem__``/``__delitem__`` (``MutableMapping`` builds ``pop``, ``update``,
    ``setdefault`` and ``clear`` on them), so the index cannot drift from the entries."""

    def __init__(self) -> None:
        self._entries: dict[Key, Entry] = {}
        self._by_namespace: dict[str, dict[Key, None]] = {}

    def __getitem__(self, key: Key) -> Entry:
        return self._entries[key]

    def __setitem__(self, key: Key, entry: Entry) -> None:
        self._entries[key] = entry
        self._by_namespace.setdefault(key[0], {})[key] = None

    def __delitem__(self, key: Key) -> None:
        del self._entries[key]
        keys = self._by_namespace[key[0]]
        del keys[key]
        if not keys:
            del self._by_namespace[key[0]]

    def __iter__(self) -> Iterator[Key]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> ItemsView[Key, Entry]:  # the dict's own view: a poll round walks 10,000 of them
        return self._entries.items()

    def keys_in(self, namespace: str) -> list[Key]:
        """The keys of one namespace's resources (a copy: the registry may change meanwhile)."""
        return list(self._by_namespace.get(namespace, ()))


@dataclass
class Stop:
    """How the process ends: ``request`` asks kopf to stop (``flag``, given to ``kopf.operator``)
    and sets the exit code ``reflex-operator run`` returns. The flag is an asyncio event of the
    operator's loop (a ``threading.Event`` would be waited on in an executor thread, which keeps
    the process from exiting until something sets it)."""

    flag: asyncio.Event = field(default_factory=asyncio.Event)
    code: int = 0
    reason: str = ""

    def request(self, code: int, reason: str) -> None:
        if not self.flag.is_set():
            self.code, self.reason = code, reason
            self.flag.set()

    def stopping(self) -> None:
        """The operator stops anyway (a signal): set the flag all the same (the exit code stays
        as it is)."""
        self.flag.set()


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
    queue: WorkQueue
    gate: Gate  # which resources this replica acts on (leader election; without it, all)
    plans: PlanCache  # the plans, the namespaces' plan labels and their monthly data transfer
    placements: Placements  # what the operator placed on each ECS cluster (tenancy.placement)
    registry: BuildRegistry | None = None  # the ReflexBuild resources (None: not written)
    fleet: FleetBuilds = field(default_factory=FleetBuilds)  # the fleet's shared builds (controller.fleet)
    rollouts: RolloutCache = field(default_factory=RolloutCache)  # the ReflexRollouts (fleet.cache)
    resources: Registry = field(default_factory=Registry)
    secret_index: dict[Key, SecretMeta | None] = field(default_factory=dict)
    # What the poller saw last (shared with the reconcilers).
    builds: dict[str, ObservedBuild] = field(default_factory=dict)
    services: dict[str, ObservedService | None] = field(default_factory=dict)
    health: dict[Key, HealthSample] = field(default_factory=dict)
    # First looks at services the poller has not seen yet go one batch at a time.
    first_look: asyncio.Lock = field(default_factory=asyncio.Lock)
    # (service name, cluster) -> the service there (None: not there), asked by a first look for
    # databases that may be on another cluster; each is used once (reconcile._look_elsewhere).
    elsewhere: dict[tuple[str, str], ObservedService | None] = field(default_factory=dict)
    # Events being posted (a pass does not wait for them).
    posting: set[asyncio.Task[None]] = field(default_factory=set)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stop: Stop = field(default_factory=Stop)
    # The leader-election loop, when enabled.
    elector: Elector | None = None
    # The time the decisions are made at (the unit tests' world moves its own clock).
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))

    def referencing(self, namespace: str, secret: str) -> Iterator[Key]:
        """The resources whose spec.source.secretRef names this Secret."""
        for (ns, name), entry in self.resources.items():
            if ns == namespace and entry.spec.get("source", {}).get("secretRef", {}).get("name") == secret:
                yield (ns, name)

    def in_namespace(self, namespace: str) -> Iterator[tuple[Key, Entry]]:
        """The databases of one namespace."""
        for key in self.resources.keys_in(namespace):
            entry = self.resources.get(key)
            if entry is not None:
                yield key, entry

    def cluster_of(self, key: Key) -> str:
        """The ECS cluster of a database: its recorded placement, else the default cluster."""
        entry = self.resources.get(key)
        return (entry.cluster() if entry is not None else None) or self.placements.default

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


def _rollout_member(body: dict[str, Any]) -> RolloutMember | None:
    raw = (body.get("status") or {}).get("rollout")
    if not raw:
        return None
    try:
        return RolloutMember.model_validate(raw)
    except ValueError:  # pydantic's ValidationError: a status this operator cannot read
        return None


def _recorded_cluster(body: dict[str, Any]) -> str | None:
    placement = (body.get("status") or {}).get("placement") or {}
    if placement.get("cluster"):
        return str(placement["cluster"])
    adoption = (body.get("spec") or {}).get("adoption") or {}
    return str(adoption["cluster"]) if adoption.get("cluster") else None


_NAMING_STATUS = ("identity", "secretArn")


def names_of_body(body: dict[str, Any], config: Config) -> AwsNames | None:
    """``names_of`` a database as the API server holds it (only what naming reads is parsed)."""
    meta, status = body["metadata"], body.get("status") or {}
    try:
        spec = ReflexDatabaseSpec.model_validate(body.get("spec") or {})
        shown = ReflexDatabaseStatus.model_validate({k: status[k] for k in _NAMING_STATUS if k in status})
    except ValueError:
        return None
    desired = Desired(name=meta["name"], namespace=meta["namespace"], uid=str(meta.get("uid", "")), generation=1, spec=spec, status=shown)
    return names_of(desired, config)[0]
