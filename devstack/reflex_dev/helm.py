"""The ``helm`` CLI, built from its upstream Go module (``tests/helm/go.mod``) like the control plane.

``ensure_helm()`` returns ``~/.cache/reflex-controlplane/helm-<version>/helm``, building it first
with ``go build`` if the cache lacks it (atomically, under a file lock, so concurrent test runs
build it once). ``HELM`` set to an executable uses that one instead. The version is the
``helm.sh/helm/v3`` requirement of the go.mod; the Kubernetes version helm assumes when it renders
without a cluster is the one of the client-go it is built with, as upstream's Makefile sets it.
"""

from __future__ import annotations

from pathlib import Path

from reflex_dev.gobuild import ensure_go_binary, require

__all__ = ["MODULE_DIR", "ensure_helm", "helm_version"]

MODULE_DIR = Path("tests") / "helm"
PACKAGE = "helm.sh/helm/v3/cmd/helm"


def _require(module: str) -> str:
    return require(MODULE_DIR, module)


def helm_version() -> str:
    return _require("helm.sh/helm/v3")


def _ldflags(version: str) -> str:
    client_go = _require("k8s.io/client-go").lstrip("v").split(".")
    major, minor = str(int(client_go[0]) + 1), client_go[1]
    flags = ["-s", "-w", f"-X helm.sh/helm/v3/internal/version.version={version}"]
    for pkg in ("helm.sh/helm/v3/pkg/lint/rules", "helm.sh/helm/v3/pkg/chartutil"):
        flags += [f"-X {pkg}.k8sVersionMajor={major}", f"-X {pkg}.k8sVersionMinor={minor}"]
    return " ".join(flags)


def ensure_helm(log=None) -> Path:
    """The helm binary: ``$HELM``, or the version-keyed cache (built with ``go build`` if absent)."""
    version = helm_version()
    return ensure_go_binary("helm", version, MODULE_DIR, PACKAGE, _ldflags(version), "HELM", log=log)
