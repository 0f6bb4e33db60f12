"""The interfaces the reconciler and the poller use to reach the world, owned by the core.

Each is a small ``typing.Protocol``: the AWS adapters (``reflex_operator.aws``), the data-plane
client (``reflex_operator.dataplane``) and the Kubernetes client (``reflex_operator.kube.client``)
implement them for real, the in-memory world of the unit tests (``tests/unit/world.py``) in
memory. Nothing here does I/O; the types are the decision core's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from reflex_operator.database.inputs import BudgetWait, HealthSample, ObservedBuild, ObservedService
from reflex_operator.database.steps import FindBuild, Deploy, PutSecret, StartBuild

__all__ = [
    "Builds", "BuildRegistry", "Services", "SecretStore", "StoredSecret", "DataPlane", "Kubernetes",
    "Conflict", "ClusterFull", "BudgetDeferred", "NotOwned",
]


class Conflict(Exception):
    """A write was refused because the object changed since it was read (HTTP 409): not a
    failure, the pass runs again on the newer object."""


class NotOwned(Exception):
    """A resource under the database's name belongs to another owner (``database.ownership``):
    nothing was changed; the message names the resource and its owner."""


@dataclass(frozen=True)
class StoredSecret:
    """The connection string in Secrets Manager after a put: its ARN, and ``kept`` when a secret
    found under the name (taken back) already held the value (nothing was written)."""

    arn: str
    kept: bool = False


class ClusterFull(Exception):
    """CreateService was refused: the cluster is at its services-per-cluster quota. Nothing was
    created; the database is placed again (``tenancy.placement``)."""

    def __init__(self, cluster: str, message: str) -> None:
        super().__init__(f"ECS cluster {cluster}: {message}")
        self.cluster = cluster


class BuildQuotaReached(Exception):
    """StartBuild was refused: the account is at CodeBuild's concurrent-build quota (its queue is
    full too). Nothing was started; the database waits in ``Building/BuildQueued``."""


class BudgetDeferred(Exception):
    """An AWS call of a reconcile pass found its API family's client-side rate budget empty. Nothing
    was sent: the token is held for the same database ``wait.ready_in`` seconds from now, and its
    pass is queued for then instead of holding a worker asleep. Not a failure (no backoff)."""

    def __init__(self, wait: BudgetWait) -> None:
        super().__init__(f"{wait.operation}: the {wait.family} rate budget has a token for this pass in {wait.ready_in:.1f} s")
        self.wait = wait


class Builds(Protocol):
    """CodeBuild. ``start`` raises ``BuildQuotaReached`` at the concurrent-build quota; ``hold_start``
    holds the StartBuild budget's token for the calling pass, or raises ``BudgetDeferred``."""

    async def hold_start(self) -> None: ...

    async def get(self, ids: list[str]) -> dict[str, ObservedBuild]: ...

    async def start(self, step: StartBuild) -> ObservedBuild: ...

    async def find(self, step: FindBuild) -> tuple[ObservedBuild | None, bool]: ...

    async def stop(self, codebuild_id: str) -> None: ...

    async def scan(self, cluster_identity: str, since: datetime | None) -> tuple[list[ObservedBuild], bool]: ...

    async def retire(self, codebuild_ids: list[str], image_tags: list[str]) -> None: ...


class BuildRegistry(Protocol):
    """The ReflexBuild resources (cluster-scoped): the fleet's builds as users see them."""

    async def list_builds(self) -> list[dict[str, Any]]: ...

    async def get_build(self, name: str) -> dict[str, Any] | None: ...

    async def record_build(self, name: str, spec: dict[str, Any]) -> None: ...

    async def put_build_status(self, name: str, status: dict[str, Any]) -> None: ...

    async def delete_build(self, name: str) -> None: ...


class Services(Protocol):
    """ECS services, looked up by their deterministic names (None: no such service), each on its
    database's cluster (None: the default one). ``deploy`` raises ``ClusterFull`` at the quota."""

    async def describe(self, names: list[str], cluster: str | None = None) -> dict[str, ObservedService | None]: ...

    async def deploy(self, step: Deploy, cluster: str | None = None) -> ObservedService: ...

    async def scale(self, name: str, desired_count: int, cluster: str | None = None) -> ObservedService | None: ...

    async def delete(self, name: str, cluster: str | None = None) -> ObservedService | None: ...

    async def tag(self, arn: str, tags: dict[str, str]) -> None: ...


class SecretStore(Protocol):
    """Secrets Manager: where the connection string is copied for the task to read. ``put``
    raises ``NotOwned`` when it finds a secret under the name it may not take."""

    async def put(self, step: PutSecret, value: str, resource: str) -> StoredSecret: ...

    async def tag(self, arn: str, tags: dict[str, str]) -> None: ...

    async def delete(self, name: str) -> None: ...


class DataPlane(Protocol):
    """The running server's health and admin endpoints."""

    async def health(self, endpoint: str, now: datetime) -> HealthSample: ...

    async def reload(self, endpoint: str) -> None: ...

    async def pause_replication(self, endpoint: str) -> None: ...

    async def resume_replication(self, endpoint: str) -> None: ...

    async def close(self) -> None: ...


class Kubernetes(Protocol):
    """The Kubernetes writes and reads beyond the watches. Writes raise ``Conflict`` on 409."""

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> Any: ...

    async def set_finalizers(self, namespace: str, name: str, finalizers: list[str], resource_version: str | None) -> None: ...

    async def post_event(self, body: dict[str, Any], warning: bool, reason: str, message: str) -> None: ...

    async def secret_meta(self, namespace: str, name: str) -> tuple[str, frozenset[str]] | None: ...

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None: ...

    async def list_plans(self) -> list[dict[str, Any]]: ...

    async def list_namespaces(self) -> list[dict[str, Any]]: ...

    async def patch_plan_status(self, name: str, status: dict[str, Any]) -> None: ...

    async def list_rollouts(self) -> list[dict[str, Any]]: ...

    async def create_rollout(self, body: dict[str, Any]) -> dict[str, Any]: ...

    async def patch_rollout_status(self, name: str, status: dict[str, Any], resource_version: str | None) -> dict[str, Any] | None: ...
