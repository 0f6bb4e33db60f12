"""Test tools built from their upstream Go modules (helm, promtool), cached outside the work tree.

Each tool has a directory under ``tests/`` holding a ``go.mod`` (and ``go.sum``) that pins it; the
binary goes to ``~/.cache/reflex-controlplane/<tool>-<version>/<tool>``, built with ``go build``
when the cache lacks it, atomically and under a file lock, so that concurrent test runs build it
once. An environment variable (``HELM``, ``PROMTOOL``) set to an executable is used instead.
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

__all__ = ["require", "ensure_go_binary"]


def require(module_dir: Path, module: str) -> str:
    """The version ``module_dir/go.mod`` requires of ``module``."""
    text = (repo_root() / module_dir / "go.mod").read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    if not match:
        raise ValueError(f"no {module} requirement in {module_dir / 'go.mod'}")
    return match.group(1)


def ensure_go_binary(name: str, version: str, module_dir: Path, package: str, ldflags: str, env_var: str, log=None) -> Path:
    """``$env_var``, or the version-keyed cached binary (``go build`` of ``package`` in
    ``module_dir`` if absent)."""
    if os.environ.get(env_var):
        path = Path(os.environ[env_var])
        if not os.access(path, os.X_OK):
            raise FileNotFoundError(f"{env_var}={path} is not an executable")
        return path
    root = cache_root()
    target = root / f"{name}-{version}"
    binary = target / name
    if os.access(binary, os.X_OK):
        return binary
    if shutil.which("go") is None:
        raise FileNotFoundError(f"`go` is not on PATH: cannot build {name} ({module_dir}), or set {env_var}")
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.access(binary, os.X_OK):  # built by somebody else while we waited
            return binary
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-{version}-build-", dir=root))
        try:
            cmd = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(tmp / name), package]
            if log is not None:
                print(f"+ (cd {module_dir} && {' '.join(cmd)})", file=log, flush=True)
            proc = subprocess.run(cmd, cwd=repo_root() / module_dir, capture_output=True, text=True, timeout=2400)
            if proc.returncode != 0:
                raise RuntimeError(f"go build of {name} {version} failed:\n{proc.stdout}\n{proc.stderr}")
            os.chmod(tmp, 0o755)
            if target.exists():
                shutil.rmtree(target)
            os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return binary
