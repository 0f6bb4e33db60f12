"""The image, built from the Dockerfile as it is and run.

``reflex_dev.image.build_image`` builds it with Debian's buildah on a Debian base (debootstrap,
Python 3.11), installing the runtime lock's wheels, downloaded on the host with their hashes, with
no index. Then:

- ``buildah run`` (as the image's user): the entry point answers, as uid/gid 65532; no compiler,
  no pip, no moto, no local stack (reflex_dev), no test package;
- the image's entry point, run by ``runc`` (the OCI runtime containerd uses on Kubernetes nodes) as
  Kubernetes would run it with ``readOnlyRootFilesystem: true``: the image's root filesystem read-only, a tmpfs at
  /tmp only, the image's user, entry point, command and environment, the host's network; it
  starts against the local stack (real kube-apiserver, AWS emulator, simulator) and reconciles a
  ReflexDatabase to Ready, and a write to its root filesystem fails.

Skipped only where buildah, debootstrap or runc is missing or we are not root; ``make
image-tools`` (part of ``make test``) installs them on Debian as root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reflex_dev import image as images
from reflex_dev._proc import spawn, wait_until
from tests.e2e.helpers import apply, manifest, status
from tests.fixtures.operator import Operator

pytestmark = pytest.mark.e2e

REF = "localhost/reflex-operator:test"
KUBECONFIG_IN_IMAGE = "/etc/reflex/kubeconfig"
BIN_DIRS = ("opt/venv/bin", "usr/local/bin", "usr/local/sbin", "usr/bin", "usr/sbin", "bin", "sbin")
NO_TOOLS = ("gcc", "cc", "c++", "g++", "clang", "ld", "make", "pip", "pip3", "pip3.11", "pytest", "reflex-dev", "moto_server")
NO_MODULES = ("pip", "setuptools", "moto", "reflex_dev", "pytest", "hypothesis", "_pytest")


@dataclass(frozen=True)
class Image:
    ref: str
    config: dict[str, Any]  # the OCI image config: User, Env, Entrypoint, Cmd, WorkingDir
    rootfs: Path  # a working container's root filesystem, on the host
    container: str
    size_bytes: int
    layers: list[int]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    reason = images.missing_tools()
    if reason:
        pytest.skip(f"cannot build the image here: {reason}")
    log_path = tmp_path_factory.mktemp("image") / "build.log"
    with open(log_path, "w") as log:
        try:
            built = images.build_image(REF, log=log)
        except Exception as exc:
            raise AssertionError(f"the image build failed: {exc}\n(log: {log_path})") from None
    layers = images.image_layers(REF)
    print(f"\nimage {REF}: {built.size_bytes / 1e6:.0f} MB uncompressed ({len(layers)} layers: "
          f"{', '.join(f'{n / 1e6:.1f} MB' for n in layers)}), built in {built.seconds:.0f} s", file=sys.stderr)
    config = json.loads(images.buildah("inspect", "--type", "image", REF))["OCIv1"]["config"]
    ctr = images.buildah("from", "--pull=never", "--name", f"reflex-image-test-{uuid.uuid4().hex[:8]}", REF).strip()
    try:
        rootfs = Path(images.buildah("mount", ctr).strip())
        yield Image(REF, config, rootfs, ctr, built.size_bytes, layers)
    finally:
        images.buildah("rm", ctr)


def buildah_run(img: Image, *cmd: str) -> subprocess.CompletedProcess:
    """``buildah run`` in the image's working container, as the image's user (its USER)."""
    root = images.cache_root()
    return subprocess.run(
        ["buildah", "--root", str(root / "storage"), "--runroot", str(root / "run"), "--storage-driver", "vfs",
         "run", "--isolation", "chroot", img.container, "--", *cmd],
        capture_output=True, text=True, timeout=120,
    )


# ------------------------------------------------------------------------------ buildah run


def test_the_entry_point_runs_as_the_non_root_user(image: Image) -> None:
    assert image.config["User"] == "65532:65532"
    assert image.config["Entrypoint"] == ["reflex-operator"] and image.config["Cmd"] == ["run"]
    proc = buildah_run(image, "python", "-c", "import getpass, os; print(os.getuid(), os.getgid(), os.geteuid(), getpass.getuser())")
    assert proc.returncode == 0, proc.stderr
    # A named user: kopf's identity comes from getpass.getuser(), which needs a passwd entry.
    assert proc.stdout.split() == ["65532", "65532", "65532", "nonroot"]
    proc = buildah_run(image, *image.config["Entrypoint"], "run", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--verbose" in proc.stdout
    labels = json.loads(images.buildah("inspect", "--type", "image", image.ref))["OCIv1"]["config"].get("Labels", {})
    assert labels["org.opencontainers.image.version"] == "0.1.0"


def test_no_compiler_installer_or_test_package(image: Image) -> None:
    found = [f"/{d}/{t}" for d in BIN_DIRS for t in NO_TOOLS if os.path.lexists(image.rootfs / d / t)]
    assert not found, f"in the image: {found}"
    script = (
        "import importlib.util, json, sys; "
        f"print(json.dumps({{m: importlib.util.find_spec(m) is not None for m in {list(NO_MODULES)!r}}}))"
    )
    proc = buildah_run(image, "python", "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == dict.fromkeys(NO_MODULES, False)
    packages = {p.name.split("-")[0].lower() for p in (image.rootfs / "opt/venv/lib/python3.11/site-packages").glob("*.dist-info")}
    assert "reflex_operator" in packages and not packages & {"pip", "setuptools", "moto", "pytest", "reflex_dev", "hypothesis"}
    # The Python the venv runs is the base's, not anything copied from the build.
    assert os.readlink(image.rootfs / "opt/venv/bin/python").startswith("/usr/")


def test_the_reported_size(image: Image) -> None:
    """Not a limit: the figure goes in the report. The venv is one layer on top of the base."""
    assert image.size_bytes == sum(image.layers) and len(image.layers) >= 2
    assert image.layers[-1] > 10_000_000, "the venv layer"


# ----------------------------------------------------------- the operator, read-only root


def _bundle_config(img: Image, env: dict[str, str], kubeconfig: Path) -> dict[str, Any]:
    uid, _, gid = img.config["User"].partition(":")
    image_env = dict(e.split("=", 1) for e in img.config.get("Env", []))
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": int(uid), "gid": int(gid or uid)},
            "args": [*img.config["Entrypoint"], *img.config["Cmd"]],
            "env": [f"{k}={v}" for k, v in {"HOME": "/", **image_env, **env}.items()],
            "cwd": img.config.get("WorkingDir") or "/",
            "noNewPrivileges": True,
            "capabilities": {"bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []},
        },
        "root": {"path": str(img.rootfs), "readonly": True},
        "hostname": "reflex-operator",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            # As the Deployment: the only writable place is an emptyDir at /tmp.
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777", "size=64m"]},
            {"destination": KUBECONFIG_IN_IMAGE, "type": "bind", "source": str(kubeconfig), "options": ["rbind", "ro"]},
            {"destination": "/etc/resolv.conf", "type": "bind", "source": "/etc/resolv.conf", "options": ["rbind", "ro"]},
        ],
        # No network namespace: the host's network, to reach the local stack on loopback.
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


@dataclass
class ImageOperator(Operator):
    """The operator fixture's process, but the image's entry point under runc."""

    image: Image | None = None
    container_id: str = field(default_factory=lambda: f"reflex-op-{uuid.uuid4().hex[:8]}")

    def start(self, **overrides: str) -> ImageOperator:
        from reflex_dev._proc import free_port

        assert self.image is not None
        self.env_overrides.update(overrides)
        self.metrics_port, self.probe_port = free_port(), free_port()
        self.starts += 1
        bundle = self.workdir / "bundle"
        bundle.mkdir(exist_ok=True)
        kubeconfig = bundle / "kubeconfig"  # readable by the image's user (the original is 0600)
        shutil.copyfile(self.kube.operator_kubeconfig, kubeconfig)
        kubeconfig.chmod(0o644)
        env = {k: v for k, v in self.env().items() if k.startswith(("REFLEX_", "AWS_"))}
        env.update(KUBECONFIG=KUBECONFIG_IN_IMAGE, PYTHONUNBUFFERED="1")
        (bundle / "config.json").write_text(json.dumps(_bundle_config(self.image, env, kubeconfig), indent=1))
        self.proc = spawn(["runc", "run", "--bundle", str(bundle), self.container_id], log_path=self.log_path)
        wait_until(self._probe_ok, 90, what="the image's operator's liveness probe", alive=self.alive)
        return self

    def runc(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["runc", *args], capture_output=True, text=True, timeout=60)

    def exec(self, *cmd: str) -> subprocess.CompletedProcess:
        return self.runc("exec", "--user", "65532:65532", self.container_id, *cmd)

    def pid(self) -> int:
        return int(json.loads(self.runc("state", self.container_id).stdout)["pid"])

    def stop(self) -> None:
        if self.proc is not None:
            self.runc("kill", self.container_id, "TERM")
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.runc("kill", self.container_id, "KILL")
                self.proc.wait(timeout=10)
            self.proc = None
        self.runc("delete", "--force", self.container_id)


@pytest.fixture
def image_operator(image: Image, kube: Any, aws: Any, simulator: Any, namespace: str, tmp_path: Path) -> Iterator[ImageOperator]:
    op = ImageOperator(kube=kube, aws=aws, simulator=simulator, namespace=namespace, workdir=tmp_path, image=image)
    try:
        yield op.start()
    finally:
        op.stop()


def _uids(pid: int) -> list[str]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return line.split()[1:]
    raise AssertionError(f"no Uid line for {pid}")


def test_the_image_reconciles_to_ready_with_a_read_only_root(image_operator: ImageOperator, kube: Any, namespace: str) -> None:
    # The entry point itself (not a shell) is the container's process, as the image's user.
    pid = image_operator.pid()
    assert _uids(pid) == ["65532"] * 4
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[1:3] == [b"/opt/venv/bin/reflex-operator", b"run"], cmdline

    apply(kube, namespace, manifest("imaged"))
    obj = image_operator.wait_ready("imaged", timeout=120)
    assert status(obj)["phase"] == "Running"
    assert status(obj)["instance"]["healthStatus"] == "ok"

    # The root filesystem is read-only for it; /tmp (the emptyDir of the Deployment) is not.
    probe = "import sys\ntry:\n    open(sys.argv[1], 'w').close()\nexcept OSError as e:\n    print(e.errno)\nelse:\n    print(0)\n"
    for path, errno in (("/probe", "30"), ("/opt/venv/probe", "30"), ("/tmp/probe", "0")):  # 30: EROFS
        proc = image_operator.exec("python", "-c", probe, path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == errno, f"write to {path}: {proc.stdout} {proc.stderr}"
    assert image_operator.alive()
    metrics = image_operator.metrics()
    assert 'reflexdb_phase{name="imaged"' in metrics and "reflex_operator_reconcile_duration_seconds_count" in metrics
