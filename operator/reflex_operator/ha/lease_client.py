"""The Lease I/O of leader election, and only it: list the installation's Leases, create, replace
(guarded by resourceVersion) and delete them, in the operator's own namespace.

The calls run on a thread pool of their own, with a request timeout shorter than the renew
deadline, so a busy operator (its AWS and Kubernetes calls on the default pool) never delays a
renewal. A 409 (or a 404 on a guarded write) is raised as ``Conflict``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import kubernetes
from kubernetes.client.exceptions import ApiException

from reflex_operator.ha.lease import LeaseRecord
from reflex_operator.kube.config import api_client
from reflex_operator.ports import Conflict

__all__ = ["Leases", "LeaseError", "GROUP_LABEL", "Conflict"]

GROUP_LABEL = "reflexdb.cloud/lease-group"
T = TypeVar("T")


class LeaseError(RuntimeError):
    """A Lease request the API server refused or did not answer (one line: status and message)."""


def _refusal(verb: str, exc: ApiException) -> str:
    try:
        message = json.loads(exc.body or "{}").get("message") or exc.reason
    except (ValueError, AttributeError):
        message = exc.reason
    return f"lease {verb}: {exc.status} {message}"


def _record(spec: Any) -> LeaseRecord:
    return LeaseRecord(
        holder=spec.holder_identity or "",
        duration_seconds=int(spec.lease_duration_seconds or 0),
        acquire_time=spec.acquire_time,
        renew_time=spec.renew_time,
        transitions=int(spec.lease_transitions or 0),
    )


def _spec(record: LeaseRecord) -> Any:
    return kubernetes.client.V1LeaseSpec(
        holder_identity=record.holder,
        lease_duration_seconds=record.duration_seconds,
        acquire_time=record.acquire_time,
        renew_time=record.renew_time,
        lease_transitions=record.transitions,
    )


class Leases:
    """The Leases of one installation (label ``reflexdb.cloud/lease-group=<group>``)."""

    def __init__(self, namespace: str, group: str, timeout: float, count: Callable[[str, str], None] | None = None) -> None:
        client = api_client()
        self.api = kubernetes.client.CoordinationV1Api(client)
        self.namespace, self.group, self.timeout = namespace, group, timeout
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="leases")
        self._count = count or (lambda verb, outcome: None)

    async def _call(self, verb: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._pool, lambda: fn(*args, _request_timeout=self.timeout, **kwargs))
        except ApiException as exc:
            self._count(verb, "conflict" if exc.status in (404, 409) else "error")
            if exc.status in (404, 409):
                raise Conflict(_refusal(verb, exc)) from exc
            raise LeaseError(_refusal(verb, exc)) from exc
        except Exception:
            self._count(verb, "error")
            raise
        self._count(verb, "ok")
        return result

    async def list(self) -> list[tuple[str, LeaseRecord, str]]:
        """(name, record, resourceVersion) of every Lease of the group."""
        leases = await self._call("list", self.api.list_namespaced_lease, self.namespace, label_selector=f"{GROUP_LABEL}={self.group}")
        return [(item.metadata.name, _record(item.spec), item.metadata.resource_version) for item in leases.items]

    async def create(self, name: str, record: LeaseRecord) -> str:
        body = kubernetes.client.V1Lease(
            metadata=kubernetes.client.V1ObjectMeta(
                name=name,
                namespace=self.namespace,
                labels={GROUP_LABEL: self.group, "app.kubernetes.io/name": "reflex-operator"},
            ),
            spec=_spec(record),
        )
        created = await self._call("create", self.api.create_namespaced_lease, self.namespace, body)
        return str(created.metadata.resource_version)

    async def replace(self, name: str, record: LeaseRecord, version: str) -> str:
        """Write the record if the Lease is still at ``version``; returns the new version."""
        current = kubernetes.client.V1Lease(
            metadata=kubernetes.client.V1ObjectMeta(
                name=name,
                namespace=self.namespace,
                resource_version=version,
                labels={GROUP_LABEL: self.group, "app.kubernetes.io/name": "reflex-operator"},
            ),
            spec=_spec(record),
        )
        written = await self._call("update", self.api.replace_namespaced_lease, name, self.namespace, current)
        return str(written.metadata.resource_version)

    async def delete(self, name: str, version: str | None) -> None:
        """Delete a Lease (if still at ``version``, when given)."""
        options = kubernetes.client.V1DeleteOptions(
            preconditions=kubernetes.client.V1Preconditions(resource_version=version) if version else None
        )
        await self._call("delete", self.api.delete_namespaced_lease, name, self.namespace, body=options)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
