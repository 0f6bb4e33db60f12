"""Where the Kubernetes API is: one precedence for the operator, its Lease client, ``reflex-api``
and ``kubectl reflex`` alike.

1. the kubeconfig named on the command line (``--kubeconfig``), else
2. ``$KUBECONFIG``, else
3. the pod's ServiceAccount (in a cluster: ``KUBERNETES_SERVICE_HOST`` is set), else
4. ``~/.kube/config``.

A context (``--context``) is read from the kubeconfig, so naming one means a kubeconfig.
"""

from __future__ import annotations

import os

import kubernetes

__all__ = ["api_client", "kubeconfig_path", "in_cluster"]


def kubeconfig_path(kubeconfig: str | None = None) -> str | None:
    """The kubeconfig file named (flag, else ``$KUBECONFIG``); None: the default place."""
    return kubeconfig or os.environ.get("KUBECONFIG") or None


def in_cluster(kubeconfig: str | None = None, context: str | None = None) -> bool:
    """Whether the pod's ServiceAccount is used: no kubeconfig or context named, inside a pod."""
    return kubeconfig_path(kubeconfig) is None and context is None and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def api_client(kubeconfig: str | None = None, context: str | None = None) -> kubernetes.client.ApiClient:
    """A client of its own (no process-wide default is changed), by the precedence above."""
    if in_cluster(kubeconfig, context):
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_incluster_config(client_configuration=configuration)
        return kubernetes.client.ApiClient(configuration)
    return kubernetes.config.new_client_from_config(config_file=kubeconfig_path(kubeconfig), context=context)
