"""The ``helm`` CLI, built from its upstream Go module (``tests/helm/go.mod``) like the control plane.

``ensure_helm()`` returns ``~/.cache/reflex-controlplane/helm-<version>/helm``, building it first
with ``go build`` if the cache lacks it (atomically, under a file lock, so concurrent test runs
build it once). ``HELM`` set to an executable uses that one instead. The version is the
``helm.sh/helm/v3`` requirement of the go.mod; the Kubernetes version helm assumes when it renders
without a cluster is the one of the client-go it is built with, as upstream's Makefile sets it.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from reflex_dev.controlplane import cache_root, repo_root

__all__ = ["MODULE_DIR", "ensure_helm", "helm_version"]

MODULE_DIR = Path("tests") / "helm"
PACKAGE = "helm.sh/helm/v3/cmd/helm"


def _require(module: str) -> str:
    text = (repo_root() / MODULE_DIR / "go.mod").read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    if not match:
        raise ValueError(f"no {module} requirement in {MODULE_DIR / 'go.mod'}")
    return match.group(1)


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
    if os.environ.get("HELM"):
        path = Path(os.environ["HELM"])
        if not os.access(path, os.X_OK):
            raise FileNotFoundError(f"HELM={path} is not an executable")
        return path
    version = helm_version()
    root = cache_root()
    target = root / f"helm-{version}"
    binary = target / "helm"
    if os.access(binary, os.X_OK):
        return binary
    if shutil.which("go") is None:
        raise FileNotFoundError("`go` is not on PATH: cannot build helm (tests/helm), or set HELM")
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".helm-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.access(binary, os.X_OK):  # built by somebody else while we waited
            return binary
        tmp = Path(tempfile.mkdtemp(prefix=f".helm-{version}-build-", dir=root))
        try:
            cmd = ["go", "build", "-trimpath", "-ldflags", _ldflags(version), "-o", str(tmp / "helm"), PACKAGE]
            if log is not None:
                print(f"+ (cd {MODULE_DIR} && {' '.join(cmd)})", file=log, flush=True)
            proc = subprocess.run(cmd, cwd=repo_root() / MODULE_DIR, capture_output=True, text=True, timeout=1800)
            if proc.returncode != 0:
                raise RuntimeError(f"go build of helm {version} failed:\n{proc.stdout}\n{proc.stderr}")
            os.chmod(tmp, 0o755)
            if target.exists():
                shutil.rmtree(target)
            os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return binary
