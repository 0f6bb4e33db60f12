"""Build the operator's image from the Dockerfile, hermetically, with Debian's ``buildah``.

The public base image cannot be pulled everywhere, and pip inside a build may not verify the
package index's certificate, so the build here takes nothing from outside the machine but Debian
packages and the wheels of the runtime lock:

- **the base**: ``debootstrap --variant=minbase bookworm`` with Debian's Python 3.11 (and ``venv``,
  ``python`` as a name for it, CA certificates), imported into buildah as
  ``localhost/reflex-image-base:<key>``. It stands in for ``python:3.11-slim-bookworm`` (the
  Dockerfile's ``PYTHON_IMAGE`` build argument). Cached in buildah's storage, keyed by a hash of its
  inputs: debootstrap takes minutes.
- **the wheels**: ``pip download --require-hashes`` of ``requirements-runtime.lock`` and
  ``requirements-build.lock`` (the build backend) for the image's platform, on the host, cached by
  a hash of the locks; they go into the build context's ``wheels/`` and the Dockerfile installs
  them with ``PIP_SOURCE=wheelhouse`` (no index).
- **the build**: ``buildah bud --isolation chroot --layers`` with the vfs storage driver (works as
  root without overlay support), storage under ``~/.cache/reflex-image/``.

Needs root (debootstrap, the chroot isolation), ``buildah`` and ``debootstrap``:
``apt-get install -y buildah debootstrap runc`` (``make image-tools`` does it; the tests run the
image with runc).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from reflex_dev.controlplane import repo_root

__all__ = [
    "BASE_PACKAGES",
    "Built",
    "base_key",
    "buildah",
    "build_context",
    "build_image",
    "cache_root",
    "ensure_base",
    "ensure_wheels",
    "export_archive",
    "image_layers",
    "image_size",
    "missing_tools",
]

SUITE = "bookworm"
# What the official slim image has that the operator uses: Python 3.11 with venv (the builder stage
# runs `python -m venv`), `python` as its name, CA certificates and /etc/services, /etc/protocols.
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates", "netbase")
# The official image's environment that matters here.
BASE_ENV = ("LANG=C.UTF-8", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
RECIPE = "1"  # bump when the recipe below changes in a way the inputs do not show
PYTHON_VERSION = "3.11"
STEP_TIMEOUT = 1800.0


def cache_root() -> Path:
    if os.environ.get("REFLEX_IMAGE_CACHE"):
        return Path(os.environ["REFLEX_IMAGE_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reflex-image"


def missing_tools() -> str | None:
    """Why the image cannot be built here, or None."""
    missing = [t for t in ("buildah", "debootstrap", "runc") if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not installed (as root: apt-get install -y buildah debootstrap runc; or `make image-tools`)"
    if os.geteuid() != 0:
        return "building the image needs root (debootstrap and buildah's chroot isolation)"
    return None


def buildah(*args: str, timeout: float = STEP_TIMEOUT, log=None, input: bytes | None = None) -> str:
    """Run buildah on this project's storage (vfs, under the cache); stdout returned."""
    root = cache_root()
    cmd = ["buildah", "--root", str(root / "storage"), "--runroot", str(root / "run"),
           "--storage-driver", "vfs", *args]
    if log is not None:
        print("+ " + " ".join(cmd), file=log, flush=True)
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout, input=input)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout.decode(errors='replace')[-4000:]}\n"
            f"{proc.stderr.decode(errors='replace')[-4000:]}"
        )
    if log is not None and proc.stdout:
        log.write(proc.stdout.decode(errors="replace")[-20000:])
        log.flush()
    return proc.stdout.decode(errors="replace")


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _image_exists(ref: str) -> bool:
    try:
        buildah("inspect", "--type", "image", ref, timeout=120)
    except RuntimeError:
        return False
    return True


# --------------------------------------------------------------------------------- the base


def base_key() -> str:
    text = json.dumps([RECIPE, SUITE, "minbase", platform.machine(), BASE_PACKAGES, BASE_ENV])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _debian_mirror() -> str | None:
    """The Debian mirror this machine's apt uses (debootstrap's own default otherwise)."""
    sources = [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]
    for path in sources:
        with contextlib.suppress(OSError):
            text = path.read_text()
            for uri in re.findall(r"(?m)^\s*(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text):
                if not uri.rstrip("/").endswith("-security"):
                    return uri
    return None


def ensure_base(log=None) -> str:
    """The base image's reference, built once (debootstrap, then imported into buildah)."""
    ref = f"localhost/reflex-image-base:{base_key()}"
    if _image_exists(ref):
        return ref
    with _locked("base"):
        if _image_exists(ref):
            return ref
        work = Path(tempfile.mkdtemp(prefix=".base-", dir=cache_root()))
        try:
            rootfs = work / "rootfs"
            cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(rootfs)]
            if mirror := _debian_mirror():
                cmd.append(mirror)
            if log is not None:
                print("+ " + " ".join(cmd), file=log, flush=True)
            subprocess.run(cmd, check=True, capture_output=True, timeout=STEP_TIMEOUT)
            # What the slim image leaves out too: downloaded packages and package lists.
            for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for path in (rootfs / leftover).glob("*"):
                    if path.is_file():
                        path.unlink()
            _import(rootfs, ref, log)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return ref


def _import(rootfs: Path, ref: str, log=None) -> None:
    """A root filesystem directory as a one-layer image: scratch, copy, configure, commit."""
    ctr = buildah("from", "scratch", log=log).strip()
    try:
        mnt = Path(buildah("mount", ctr, log=log).strip())
        subprocess.run(["cp", "-a", f"{rootfs}/.", f"{mnt}/"], check=True, timeout=STEP_TIMEOUT)
        config = ["config", "--cmd", "python3", "--os", "linux", "--arch", _oci_arch()]
        for env in BASE_ENV:
            config += ["--env", env]
        buildah(*config, ctr, log=log)
        buildah("commit", "--rm", ctr, ref, log=log)
    except BaseException:
        with contextlib.suppress(Exception):
            buildah("rm", ctr)
        raise


def _oci_arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


# ------------------------------------------------------------------------------- the wheels


def _platform_args() -> list[str]:
    """pip download's target: CPython 3.11 on glibc 2.36 (bookworm) for this machine's CPU."""
    arch = platform.machine()
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(36, 16, -1)]
    tags += [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}", f"linux_{arch}"]
    args = ["--python-version", PYTHON_VERSION, "--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none"]
    for tag in tags:
        args += ["--platform", tag]
    return args


LOCKS = ("requirements-runtime.lock", "requirements-build.lock")


def ensure_wheels(log=None) -> Path:
    """A directory with one wheel per pin of the runtime and build locks, every file hash-checked."""
    locks = [repo_root() / name for name in LOCKS]
    digest = hashlib.sha256(json.dumps(_platform_args()).encode())
    for lock in locks:
        digest.update(lock.read_bytes())
    key = digest.hexdigest()[:16]
    target = cache_root() / "wheels" / key
    if (target / ".complete").exists():
        return target
    with _locked("wheels"):
        if (target / ".complete").exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".wheels-", dir=target.parent))
        try:
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                   "--require-hashes", "--only-binary=:all:", "--no-deps", *_platform_args(),
                   *[arg for lock in locks for arg in ("-r", str(lock))], "-d", str(tmp)]
            if log is not None:
                print("+ " + " ".join(cmd), file=log, flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=STEP_TIMEOUT)
            if proc.returncode != 0:
                raise RuntimeError(f"pip download failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
            (tmp / ".complete").write_text("")
            shutil.rmtree(target, ignore_errors=True)
            os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# -------------------------------------------------------------------------------- the build


def build_context(dest: Path, wheels: Path | None) -> Path:
    """The build context: the repository entries ``.dockerignore`` admits (and the file itself, so
    buildah applies its exclusions), plus ``wheels/``."""
    root = repo_root()
    dest.mkdir(parents=True, exist_ok=True)
    patterns = [ln.strip() for ln in (root / ".dockerignore").read_text().splitlines()]
    for entry in (p[1:].rstrip("/") for p in patterns if p.startswith("!")):
        src = root / entry
        if entry == "wheels" or not src.exists():
            continue
        if src.is_dir():
            shutil.copytree(src, dest / entry, ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]", "*.egg-info"))
        else:
            shutil.copy2(src, dest / entry)
    for name in ("Dockerfile", ".dockerignore"):
        shutil.copy2(root / name, dest / name)
    if wheels is not None:
        shutil.copytree(wheels, dest / "wheels", ignore=shutil.ignore_patterns(".complete"))
    return dest


@dataclass(frozen=True)
class Built:
    ref: str
    base: str
    size_bytes: int
    seconds: float


def build_image(ref: str = "localhost/reflex-operator:test", log=None) -> Built:
    """Build the Dockerfile as it is, on the Debian base, from the wheelhouse."""
    base = ensure_base(log)
    wheels = ensure_wheels(log=log)
    started = time.monotonic()
    with _locked("build"), tempfile.TemporaryDirectory(prefix="reflex-image-ctx-") as tmp:
        ctx = build_context(Path(tmp) / "context", wheels)
        try:
            buildah("bud", "--isolation", "chroot", "--layers", "--force-rm", "--pull=never",
                    "--build-arg", f"PYTHON_IMAGE={base}", "--build-arg", "PIP_SOURCE=wheelhouse",
                    "-f", str(ctx / "Dockerfile"), "-t", ref, str(ctx), log=log)
        finally:
            # Working containers a build leaves behind (each a full copy of a root filesystem
            # with vfs); the layers stay cached as images. This storage is ours alone.
            buildah("rm", "--all", timeout=600)
    seconds = time.monotonic() - started
    return Built(ref=ref, base=base, size_bytes=image_size(ref), seconds=seconds)


def image_layers(ref: str) -> list[int]:
    """The sizes of the image's layers (uncompressed tar), base first, from its manifest."""
    manifest = json.loads(json.loads(buildah("inspect", "--type", "image", ref, timeout=120))["Manifest"])
    return [int(layer["size"]) for layer in manifest["layers"]]


def image_size(ref: str) -> int:
    """The image's size: its layers, uncompressed."""
    return sum(image_layers(ref))


def main(argv: list[str] | None = None) -> int:
    """``reflex-dev image``: build the image here and print its reference and size."""
    reason = missing_tools()
    if reason:
        print(f"cannot build the image: {reason}", file=sys.stderr)
        return 1
    built = build_image(log=sys.stderr)
    print(json.dumps({"ref": built.ref, "base": built.base, "size_bytes": built.size_bytes,
                      "seconds": round(built.seconds, 1)}))
    return 0


def export_archive(ref: str, dest: Path, name: str | None = None, log=None) -> Path:
    """The built image as a ``docker save`` archive tagged ``name`` (default: ``ref``), the form
    ``ctr images import`` reads (the test cluster's containerd imports it: nothing is pulled)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    buildah("push", "--quiet", ref, f"docker-archive:{dest}:{name or ref}", log=log)
    return dest
