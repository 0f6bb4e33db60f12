"""The Kubernetes side of ``kubectl reflex``: the kubeconfig and context as kubectl reads them,
and get / list / merge-patch of ReflexDatabases (field manager ``kubectl-reflex``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from reflex_operator.api.build import BUILD_PLURAL
from reflex_operator.api.models import GROUP, PLURAL, VERSION
from reflex_operator.api.rollout import ROLLOUT_PLURAL
from reflex_operator.kube.config import api_client, in_cluster, kubeconfig_path

__all__ = ["Cluster", "Changed", "PluginError", "Rollouts", "connect"]

MERGE = "application/merge-patch+json"
FIELD_MANAGER = "kubectl-reflex"


class PluginError(Exception):
    """A failure to show the user as it is (the API server's message)."""


class Changed(PluginError):
    """The object changed since it was read (the decision is made again on the new one)."""


def _message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)


@dataclass
class Cluster:
    """ReflexDatabases in one cluster, as one identity sees them."""

    api: client.CustomObjectsApi
    namespace: str

    def get(self, name: str, namespace: str | None = None) -> dict[str, Any]:
        try:
            return self.api.get_namespaced_custom_object(GROUP, VERSION, namespace or self.namespace, PLURAL, name)  # type: ignore[no-any-return]
        except ApiException as exc:
            raise PluginError(f"reflexdatabase {name!r}: {_message(exc)}") from None

    def list(self, selector: str | None, all_namespaces: bool) -> list[dict[str, Any]]:
        try:
            if all_namespaces:
                found = self.api.list_cluster_custom_object(GROUP, VERSION, PLURAL, label_selector=selector or None)
            else:
                found = self.api.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, label_selector=selector or None)
        except ApiException as exc:
            raise PluginError(f"listing reflexdatabases: {_message(exc)}") from None
        return sorted(found.get("items", []), key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))

    def fleet_builds(self) -> list[dict[str, Any]]:
        """The fleet's shared builds (ReflexBuilds, cluster-scoped)."""
        try:
            found = self.api.list_cluster_custom_object(GROUP, VERSION, BUILD_PLURAL)
        except ApiException as exc:
            raise PluginError(f"listing reflexbuilds: {_message(exc)}") from None
        return list(found.get("items", []))

    def patch(self, obj: dict[str, Any], body: dict[str, Any], dry_run: bool = False, precondition: bool = True) -> dict[str, Any]:
        """A merge patch; with ``precondition`` on the resourceVersion read (a change in between is
        a ``Changed``, not a blind write); ``dry_run``: validated by the API server, not stored."""
        meta = obj["metadata"]
        if precondition:
            body = {**body, "metadata": {**body.get("metadata", {}), "resourceVersion": meta["resourceVersion"]}}
        try:
            return self.api.patch_namespaced_custom_object(  # type: ignore[no-any-return]
                GROUP, VERSION, meta["namespace"], PLURAL, meta["name"], body,
                dry_run="All" if dry_run else None, field_manager=FIELD_MANAGER, _content_type=MERGE,
            )
        except ApiException as exc:
            raise (Changed if exc.status == 409 else PluginError)(_message(exc)) from None


@dataclass
class Rollouts:
    """ReflexRollouts (cluster-scoped)."""

    api: client.CustomObjectsApi

    def list(self) -> list[dict[str, Any]]:
        try:
            found = self.api.list_cluster_custom_object(GROUP, VERSION, ROLLOUT_PLURAL)
        except ApiException as exc:
            raise PluginError(f"listing reflexrollouts: {_message(exc)}") from None
        return sorted(found.get("items", []), key=lambda o: o["metadata"].get("creationTimestamp") or "")

    def get(self, name: str) -> dict[str, Any]:
        try:
            return self.api.get_cluster_custom_object(GROUP, VERSION, ROLLOUT_PLURAL, name)  # type: ignore[no-any-return]
        except ApiException as exc:
            raise PluginError(f"reflexrollout {name!r}: {_message(exc)}") from None

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.api.patch_cluster_custom_object(  # type: ignore[no-any-return]
                GROUP, VERSION, ROLLOUT_PLURAL, name, body, field_manager=FIELD_MANAGER, _content_type=MERGE,
            )
        except ApiException as exc:
            raise PluginError(f"reflexrollout {name!r}: {_message(exc)}") from None


def connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> Cluster:
    """The cluster by ``kube.config``'s precedence (``--kubeconfig``, else ``$KUBECONFIG``, else ~/.kube/config)
    and context (``--context``, else the current one); the namespace is ``-n``, else the
    context's, else ``default``."""
    try:
        api = api_client(kubeconfig, context)
        contexts, current = ([], None) if in_cluster(kubeconfig, context) else config.list_kube_config_contexts(config_file=kubeconfig_path(kubeconfig))
    except (config.ConfigException, OSError) as exc:
        raise PluginError(f"kubeconfig: {exc}") from None
    chosen = next((c for c in contexts if c["name"] == context), None) if context else current
    default_ns = ((chosen or {}).get("context") or {}).get("namespace") or "default"
    return Cluster(api=client.CustomObjectsApi(api), namespace=namespace or default_ns)
