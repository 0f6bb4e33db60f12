"""The few Kubernetes API writes and reads the operator makes beyond kopf's watches (the
``Kubernetes`` port of ``reflex_operator.ports``). A 409 on a write is raised as
``Conflict``, so callers never see the client library's exceptions."""

from __future__ import annotations

import asyncio
import base64
import os
from datetime import datetime, timezone
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from reflex_operator.api.models import GROUP, PLURAL, VERSION
from reflex_operator.api.build import BUILD_KIND, BUILD_PLURAL
from reflex_operator.api.plan import PLAN_PLURAL
from reflex_operator.api.rollout import ROLLOUT_PLURAL
from reflex_operator.kube.config import api_client
from reflex_operator.ports import Conflict

__all__ = ["Kube", "FINALIZER", "Conflict"]

FINALIZER = "reflexdb.cloud/cleanup"
MERGE = "application/merge-patch+json"


class Kube:
    def __init__(self) -> None:
        client = api_client()
        self.custom = kubernetes.client.CustomObjectsApi(client)
        self.core = kubernetes.client.CoreV1Api(client)

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The ReflexDatabase as stored now; None when it is gone."""
        try:
            return await asyncio.to_thread(self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name)  # type: ignore[no-any-return]
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> Any:
        """Merge-patch the status subresource; returns the object as stored."""
        try:
            return await asyncio.to_thread(
                self.custom.patch_namespaced_custom_object_status,
                GROUP, VERSION, namespace, PLURAL, name, {"status": status}, _content_type=MERGE,
            )
        except ApiException as exc:
            if exc.status == 409:
                raise Conflict(f"{namespace}/{name}: status changed meanwhile") from exc
            raise

    async def set_finalizers(self, namespace: str, name: str, finalizers: list[str], resource_version: str | None) -> None:
        """Replace the finalizer list, guarded by resourceVersion (a conflict means: look again)."""
        body: dict[str, Any] = {"metadata": {"finalizers": finalizers}}
        if resource_version:
            body["metadata"]["resourceVersion"] = resource_version
        try:
            await asyncio.to_thread(
                self.custom.patch_namespaced_custom_object,
                GROUP, VERSION, namespace, PLURAL, name, body, _content_type=MERGE,
            )
        except ApiException as exc:
            if exc.status == 409:
                raise Conflict(f"{namespace}/{name}: changed since resourceVersion {resource_version}") from exc
            if exc.status != 404:
                raise

    async def post_event(self, body: dict[str, Any], warning: bool, reason: str, message: str) -> None:
        """A core/v1 Event on the resource (what ``kubectl describe`` and ``get events`` show); a
        cluster-scoped one's (a ReflexRollout's) goes into the default namespace."""
        meta = body["metadata"]
        now = datetime.now(timezone.utc)
        event = kubernetes.client.CoreV1Event(
            metadata=kubernetes.client.V1ObjectMeta(generate_name=f"{meta['name']}.", namespace=meta.get("namespace") or "default"),
            involved_object=kubernetes.client.V1ObjectReference(
                api_version=body.get("apiVersion", f"{GROUP}/{VERSION}"),
                kind=body.get("kind", "ReflexDatabase"),
                name=meta["name"],
                namespace=meta.get("namespace"),
                uid=meta["uid"],
                resource_version=meta.get("resourceVersion"),
            ),
            type="Warning" if warning else "Normal",
            reason=reason,
            message=message[:1024],
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            source=kubernetes.client.V1EventSource(component="reflex-operator"),
            reporting_component="reflexdb.cloud/reflex-operator",
            reporting_instance=os.environ.get("HOSTNAME", "reflex-operator"),
        )
        await asyncio.to_thread(self.core.create_namespaced_event, meta.get("namespace") or "default", event)

    async def list_plans(self) -> list[dict[str, Any]]:
        """Every ReflexPlan, as the watch would deliver them."""
        answer = await asyncio.to_thread(self.custom.list_cluster_custom_object, GROUP, VERSION, PLAN_PLURAL)
        return list(answer.get("items") or [])

    async def list_namespaces(self) -> list[dict[str, Any]]:
        """Every namespace's name and labels."""
        answer = await asyncio.to_thread(self.core.list_namespace)
        return [{"metadata": {"name": n.metadata.name, "labels": dict(n.metadata.labels or {})}} for n in answer.items]

    async def _merge_cluster_status(self, plural: str, name: str, status: dict[str, Any]) -> None:
        """Merge-patch a cluster-scoped object's status subresource (one gone meanwhile is not an error)."""
        try:
            await asyncio.to_thread(
                self.custom.patch_cluster_custom_object_status,
                GROUP, VERSION, plural, name, {"status": status}, _content_type=MERGE,
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    async def patch_plan_status(self, name: str, status: dict[str, Any]) -> None:
        """Merge-patch a ReflexPlan's status subresource (a plan gone meanwhile is not an error)."""
        await self._merge_cluster_status(PLAN_PLURAL, name, status)

    async def list_builds(self) -> list[dict[str, Any]]:
        """Every ReflexBuild."""
        answer = await asyncio.to_thread(self.custom.list_cluster_custom_object, GROUP, VERSION, BUILD_PLURAL)
        return list(answer.get("items") or [])

    async def get_build(self, name: str) -> dict[str, Any] | None:
        """A ReflexBuild as stored now; None when there is none."""
        try:
            return await asyncio.to_thread(self.custom.get_cluster_custom_object, GROUP, VERSION, BUILD_PLURAL, name)  # type: ignore[no-any-return]
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def record_build(self, name: str, spec: dict[str, Any]) -> None:
        """Create the ReflexBuild with ``spec``, or set its spec if it is there (the operator's own)."""
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": BUILD_KIND, "metadata": {"name": name}, "spec": spec}
        try:
            await asyncio.to_thread(self.custom.create_cluster_custom_object, GROUP, VERSION, BUILD_PLURAL, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            await asyncio.to_thread(
                self.custom.patch_cluster_custom_object, GROUP, VERSION, BUILD_PLURAL, name, {"spec": spec}, _content_type=MERGE,
            )

    async def put_build_status(self, name: str, status: dict[str, Any]) -> None:
        """Merge-patch a ReflexBuild's status (one gone meanwhile is not an error)."""
        await self._merge_cluster_status(BUILD_PLURAL, name, status)

    async def delete_build(self, name: str) -> None:
        """Delete a ReflexBuild (one already gone is not an error)."""
        try:
            await asyncio.to_thread(self.custom.delete_cluster_custom_object, GROUP, VERSION, BUILD_PLURAL, name)
        except ApiException as exc:
            if exc.status != 404:
                raise

    async def list_rollouts(self) -> list[dict[str, Any]]:
        """Every ReflexRollout, as the watch would deliver them."""
        answer = await asyncio.to_thread(self.custom.list_cluster_custom_object, GROUP, VERSION, ROLLOUT_PLURAL)
        return list(answer.get("items") or [])

    async def create_rollout(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a ReflexRollout; one that exists already (another write won) is read back instead."""
        name = body["metadata"]["name"]
        try:
            return await asyncio.to_thread(self.custom.create_cluster_custom_object, GROUP, VERSION, ROLLOUT_PLURAL, body)  # type: ignore[no-any-return]
        except ApiException as exc:
            if exc.status != 409:
                raise
        return await asyncio.to_thread(self.custom.get_cluster_custom_object, GROUP, VERSION, ROLLOUT_PLURAL, name)  # type: ignore[no-any-return]

    async def patch_rollout_status(self, name: str, status: dict[str, Any], resource_version: str | None) -> dict[str, Any] | None:
        """Merge-patch a ReflexRollout's status on the resourceVersion it was decided from (a user's
        change in between is a ``Conflict``: decided again); returns the object as stored (None: gone)."""
        body: dict[str, Any] = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        try:
            return await asyncio.to_thread(  # type: ignore[no-any-return]
                self.custom.patch_cluster_custom_object_status,
                GROUP, VERSION, ROLLOUT_PLURAL, name, body, _content_type=MERGE,
            )
        except ApiException as exc:
            if exc.status == 409:
                raise Conflict(f"ReflexRollout {name}: changed since resourceVersion {resource_version}") from exc
            if exc.status != 404:
                raise
        return None

    async def _secret(self, namespace: str, name: str) -> Any:
        try:
            return await asyncio.to_thread(self.core.read_namespaced_secret, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def secret_meta(self, namespace: str, name: str) -> tuple[str, frozenset[str]] | None:
        """(resourceVersion, keys) of a Secret, None when missing. The values are not kept."""
        secret = await self._secret(namespace, name)
        if secret is None:
            return None
        keys = frozenset((secret.data or {}).keys()) | frozenset((secret.string_data or {}).keys())
        return str(secret.metadata.resource_version), keys

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """The value of one key of a Secret; None when the Secret or the key is missing."""
        secret = await self._secret(namespace, name)
        data = (secret.data or {}) if secret is not None else {}
        if key not in data:
            return None
        return base64.b64decode(data[key]).decode()
