"""A real one-node Kubernetes cluster on this machine, for the tests and for trying the chart by hand.

The control plane is the one of :mod:`reflex_dev.controlplane` (etcd + kube-apiserver, the same
cached binaries), with the ServiceAccount admission on, plus the rest of a node:

- **kube-controller-manager, kube-scheduler, kube-proxy (iptables mode), kubelet**, built from the
  same upstream Kubernetes Go modules (``tests/controlplane/go.mod``) into the same cache,
  ``~/.cache/reflex-controlplane/<version>/``, each once;
- **containerd, runc and the CNI plugins from Debian** (``make cluster-tools`` installs them as root),
  containerd private to the cluster: its root, state, socket and CNI configuration live under the
  cluster's work directory, so it does not touch a containerd the machine may run;
- **a sandbox image of our own** (nothing is pulled): ``tests/cluster/pause`` is a tiny static Go
  binary, packed here into a one-layer image archive and imported into containerd;
- the images given to :class:`Cluster` (the operator's, built by ``reflex_dev.image``), imported
  into containerd (``imagePullPolicy: IfNotPresent`` finds them; nothing is pulled).

**Networking.** Pods get their own network namespace and address on a bridge (``reflex0``,
``10.244.0.0/24``, Debian's ``bridge`` + ``host-local`` CNI plugins); two replicas of one
Deployment and a rolling update's surge pod therefore never collide on a port. The node's address is
the machine's primary IPv4 address (``REFLEX_CLUSTER_NODE_IP`` overrides it): kube-apiserver, the AWS
emulator and the simulator listen there, and pods reach them through the bridge (the host is their
gateway). kube-proxy gives Services their ClusterIPs, so in-cluster clients reach kube-apiserver
through the ``kubernetes`` Service, as on any cluster, and the tests reach a Service from the host.
There is no cluster DNS: pods are given addresses, not names.

**Machine-wide state** (why one cluster at a time): kube-proxy's iptables chains, the bridge
``reflex0`` and the kernel's IP forwarding (the CNI bridge plugin turns it on). A lock file,
``/run/reflex-cluster/lock``, holds one cluster per machine; its owner's record
(``/run/reflex-cluster/owner.json``) lets the next start clean up after an owner that died.

Needs root, a writable cgroup hierarchy (v1 or v2) and the tools above: :func:`why_not` says what is
missing, in words, and the tests fail with that reason rather than skip.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reflex_dev._proc import free_port, pid_alive, pid_cmdline, spawn, stop_process_groups, wait_until
from reflex_dev.controlplane import (
    Binaries,
    ControlPlane,
    cache_dir,
    cache_root,
    ensure_binaries,
    go_ldflags,
    kubernetes_version,
    repo_root,
)

__all__ = [
    "Cluster",
    "NODE_BINARIES",
    "ensure_node_binaries",
    "ensure_pause",
    "node_ip",
    "pause_archive",
    "why_not",
]

GO_MODULE_DIR = Path("tests") / "controlplane"
NODE_BINARIES = {
    "kubelet": "k8s.io/kubernetes/cmd/kubelet",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
}
PAUSE_MODULE_DIR = Path("tests") / "cluster" / "pause"
PAUSE_IMAGE = "localhost/reflex-pause:1"
CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")
CNI_PLUGINS = ("bridge", "host-local", "loopback")
TOOLS = ("containerd", "containerd-shim-runc-v2", "ctr", "runc", "iptables", "ip")
BRIDGE = "reflex0"
POD_SUBNET = "10.244.0.0/24"
SERVICE_SUBNET = "10.0.0.0/24"  # the control plane's --service-cluster-ip-range
NODE_NAME = "reflex-node"
MACHINE_DIR = Path("/run/reflex-cluster")
COMPONENTS = ("kubelet", "kube-proxy", "kube-scheduler", "kube-controller-manager", "containerd")


def _say(log, msg: str) -> None:
    if log is not None:
        print(msg, file=log, flush=True)


# --------------------------------------------------------------------------------------------
# What is needed, and the binaries
# --------------------------------------------------------------------------------------------


def node_ip() -> str:
    """The node's address: ``$REFLEX_CLUSTER_NODE_IP``, else the source address of this machine's
    default route (no packet is sent)."""
    if os.environ.get("REFLEX_CLUSTER_NODE_IP"):
        return os.environ["REFLEX_CLUSTER_NODE_IP"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.254", 9))  # TEST-NET: only the routing decision is made
        except OSError as exc:
            raise RuntimeError(f"no IPv4 route out of this machine ({exc}): set REFLEX_CLUSTER_NODE_IP") from None
        address = s.getsockname()[0]
    if address.startswith("127."):
        raise RuntimeError("this machine's only IPv4 address is loopback: set REFLEX_CLUSTER_NODE_IP to another one")
    return address


def _cgroup_problem() -> str | None:
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():  # v2
        return None if os.access(root, os.W_OK) else "the cgroup v2 hierarchy /sys/fs/cgroup is not writable"
    missing = [c for c in ("cpu", "cpuacct", "cpuset", "memory", "pids") if not (root / c).is_dir()]
    if missing:
        return f"cgroup v1 controllers not mounted: {', '.join(missing)}"
    probe = root / "memory" / f"reflex-cluster-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        return f"cannot create a cgroup under /sys/fs/cgroup/memory ({exc.strerror}): not a writable cgroup hierarchy"
    return None


def cni_bin_dir() -> str | None:
    for d in CNI_BIN_DIRS:
        if all(os.access(Path(d) / p, os.X_OK) for p in CNI_PLUGINS):
            return d
    return None


def why_not() -> str | None:
    """Why a cluster cannot run on this machine, in words, or None."""
    if os.geteuid() != 0:
        return "a node needs root (containerd, runc, network namespaces, iptables, cgroups); run as root"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return (f"{', '.join(missing)} not installed (as root on Debian: `make cluster-tools`, i.e. apt-get install "
                "containerd runc containernetworking-plugins iptables conntrack iproute2)")
    if cni_bin_dir() is None:
        return f"CNI plugins {', '.join(CNI_PLUGINS)} not found in {' or '.join(CNI_BIN_DIRS)} (apt-get install containernetworking-plugins)"
    problem = _cgroup_problem()
    if problem:
        return problem
    try:
        node_ip()
    except RuntimeError as exc:
        return str(exc)
    return None


def ensure_node_binaries(log=None) -> dict[str, Path]:
    """kubelet, kube-controller-manager, kube-scheduler and kube-proxy of the control plane's
    Kubernetes version, from the version-keyed cache next to kube-apiserver (each built with
    ``go build`` once, atomically, under a file lock)."""
    version = kubernetes_version()
    target = cache_dir(version)
    if not target.is_dir():
        ensure_binaries(log=log)  # the control plane's build makes the directory (and must come first)
    paths = {name: target / name for name in NODE_BINARIES}
    if all(os.access(p, os.X_OK) for p in paths.values()):
        return paths
    if shutil.which("go") is None:
        raise FileNotFoundError("`go` is not on PATH: cannot build kubelet and the node's components")
    with open(cache_root() / f".{version}-node.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name, package in NODE_BINARIES.items():
            if os.access(paths[name], os.X_OK):
                continue
            tmp = target / f".{name}.build-{os.getpid()}"
            cmd = ["go", "build", "-trimpath", "-ldflags", go_ldflags(version), "-o", str(tmp), package]
            started = time.monotonic()
            _say(log, f"+ (cd {GO_MODULE_DIR} && {' '.join(cmd)})")
            proc = subprocess.run(cmd, cwd=repo_root() / GO_MODULE_DIR, capture_output=True, text=True, timeout=2400)
            if proc.returncode != 0:
                tmp.unlink(missing_ok=True)
                raise RuntimeError(f"go build of {name} {version} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
            os.rename(tmp, paths[name])
            _say(log, f"built {name} in {time.monotonic() - started:.0f}s")
    return paths


def ensure_pause(log=None) -> Path:
    """The sandbox binary (``tests/cluster/pause``), static, cached by a hash of its source."""
    from reflex_dev.gobuild import ensure_go_binary

    src = repo_root() / PAUSE_MODULE_DIR
    key = hashlib.sha256(b"".join((src / n).read_bytes() for n in ("go.mod", "main.go"))).hexdigest()[:12]
    return ensure_go_binary("pause", key, PAUSE_MODULE_DIR, ".", "-s -w", "REFLEX_PAUSE", log=log)


def _tar_bytes(members: Iterable[tuple[str, bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def pause_archive(binary: Path, dest: Path, ref: str = PAUSE_IMAGE) -> Path:
    """A one-layer image holding only ``/pause`` (uid 65535), as a ``docker save`` archive that
    ``ctr images import`` reads."""
    layer = _tar_bytes([("pause", binary.read_bytes(), 0o755)])
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
        "os": "linux",
        "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }, sort_keys=True).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [ref], "Layers": ["layer/layer.tar"]}]).encode()
    dest.write_bytes(_tar_bytes([
        (config_name, config, 0o644), ("layer/layer.tar", layer, 0o644), ("manifest.json", manifest, 0o644),
    ]))
    return dest


# --------------------------------------------------------------------------------------------
# One cluster per machine
# --------------------------------------------------------------------------------------------


def _iptables_cleanup(kube_proxy: Path | None, log=None) -> None:
    if kube_proxy is not None and os.access(kube_proxy, os.X_OK):
        proc = subprocess.run([str(kube_proxy), "--cleanup"], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            _say(log, f"kube-proxy --cleanup exited {proc.returncode}: {proc.stderr[-2000:]}")


# Chains kubelet makes in the machine's iptables (kube-proxy --cleanup removes kube-proxy's).
KUBELET_CHAINS = (("mangle", "KUBE-IPTABLES-HINT"), ("mangle", "KUBE-KUBELET-CANARY"), ("nat", "KUBE-KUBELET-CANARY"),
                  ("filter", "KUBE-KUBELET-CANARY"), ("filter", "KUBE-FIREWALL"))


def _kubelet_iptables_cleanup() -> None:
    for tool in ("iptables", "ip6tables"):
        if shutil.which(tool) is None:
            continue
        for builtin in ("INPUT", "OUTPUT"):
            for _ in range(10):  # one jump each, normally
                if subprocess.run([tool, "-t", "filter", "-D", builtin, "-j", "KUBE-FIREWALL"],
                                  capture_output=True, timeout=30).returncode != 0:
                    break
        for table, chain in KUBELET_CHAINS:
            subprocess.run([tool, "-t", table, "-F", chain], capture_output=True, timeout=30)
            subprocess.run([tool, "-t", table, "-X", chain], capture_output=True, timeout=30)


def _unmount_under(root: Path) -> None:
    """Unmount what containerd and kubelet left mounted under ``root`` (deepest first)."""
    prefix = str(root.resolve()) + "/"
    mounts = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            target = line.split()[1].encode().decode("unicode_escape")
            if target.startswith(prefix):
                mounts.append(target)
    for target in sorted(set(mounts), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, timeout=30)


def _shim_pids(address: str) -> list[int]:
    """containerd-shim-runc-v2 processes of the containerd at ``address`` (they leave its session)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            cmd = pid_cmdline(int(entry.name))
            if "containerd-shim" in cmd and address in cmd.split():
                found.append(int(entry.name))
    return found


def _remove_cgroups(names: Sequence[str] = ("kubepods",)) -> None:
    """Remove the (empty) cgroups kubelet made, bottom up; best effort."""
    root = Path("/sys/fs/cgroup")
    tops = [root / n for n in names]
    if not (root / "cgroup.controllers").exists():
        tops = [root / c / n for c in os.listdir(root) for n in names if (root / c).is_dir()]
    for top in tops:
        if not top.is_dir():
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: len(w[0]), reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


def cleanup_owner(record: dict[str, Any], log=None) -> None:
    """Undo what a cluster whose owner died left: its processes (by the PIDs it recorded, checked
    against their command lines), shims, mounts, kube-proxy's rules, the bridge, kubelet's cgroups."""
    pids = [pid for name, pid in record.get("pids", {}).items()
            if pid and pid_alive(pid) and name.split("/")[-1] in pid_cmdline(pid)]
    if pids:
        _say(log, f"stopping a cluster left running by pid {record.get('owner')}: {pids}")
        stop_process_groups(pids, timeout=10)
    if record.get("containerd_address"):
        for pid in _shim_pids(record["containerd_address"]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    if record.get("workdir"):
        _unmount_under(Path(record["workdir"]))
    kube_proxy = record.get("kube_proxy")
    _iptables_cleanup(Path(kube_proxy) if kube_proxy else None, log)
    _kubelet_iptables_cleanup()
    subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, timeout=30)
    _remove_cgroups()


@contextlib.contextmanager
def machine_lock(wait: float | None = None, log=None):
    """Hold the machine's one-cluster lock (waiting up to ``wait`` seconds, default
    ``$REFLEX_CLUSTER_LOCK_WAIT`` or 900); cleans up after a dead previous owner first."""
    wait = float(os.environ.get("REFLEX_CLUSTER_LOCK_WAIT", "900")) if wait is None else wait
    MACHINE_DIR.mkdir(parents=True, exist_ok=True)
    with open(MACHINE_DIR / "lock", "w") as lock:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    owner = (MACHINE_DIR / "owner.json").read_text() if (MACHINE_DIR / "owner.json").exists() else "?"
                    raise RuntimeError(f"another test cluster runs on this machine (one at a time: kube-proxy's "
                                       f"iptables rules and the bridge are machine-wide); its owner: {owner}; "
                                       f"stop it (`make cluster-down`) or wait") from None
                time.sleep(1.0)
        owner = MACHINE_DIR / "owner.json"
        if owner.exists():
            with contextlib.suppress(ValueError, OSError):
                cleanup_owner(json.loads(owner.read_text()), log)
            owner.unlink(missing_ok=True)
        try:
            yield owner
        finally:
            owner.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# The cluster
# --------------------------------------------------------------------------------------------


def _yaml(obj: Any) -> str:
    import yaml

    return yaml.safe_dump(obj, sort_keys=False)


@dataclass
class Cluster:
    """One node: ``start()`` then ``stop()`` (or a context manager). ``images``: image archives
    (``docker save`` / OCI) imported into containerd before kubelet starts. Files under ``workdir``:
    ``admin.kubeconfig`` (via ``controlplane/``), each component's log, ``containerd/``, ``kubelet/``."""

    workdir: Path
    images: Sequence[Path] = ()
    node_ip: str = ""
    node_name: str = NODE_NAME
    log: Any = None
    controlplane: ControlPlane | None = None
    binaries: Binaries | None = None
    node_binaries: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)
    _lock: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()

    # ------------------------------------------------------------------------------ paths

    @property
    def admin_kubeconfig(self) -> Path:
        assert self.controlplane is not None
        return self.controlplane.admin_kubeconfig

    @property
    def kubectl_path(self) -> Path:
        assert self.binaries is not None
        return self.binaries.kubectl

    @property
    def containerd_dir(self) -> Path:
        return self.workdir / "containerd"

    @property
    def containerd_address(self) -> str:
        return str(self.containerd_dir / "containerd.sock")

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60.0, input: str | None = None) -> subprocess.CompletedProcess:
        cmd = [str(self.kubectl_path), f"--kubeconfig={self.admin_kubeconfig}", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def ctr(self, *args: str, timeout: float = 600.0) -> str:
        cmd = ["ctr", "--address", self.containerd_address, "--namespace", "k8s.io", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        return proc.stdout

    def log_of(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def logs_tail(self, chars: int = 3000) -> str:
        out = []
        for name in COMPONENTS:
            with contextlib.suppress(OSError):
                out.append(f"--- {name}.log ---\n{self.log_of(name).read_text(errors='replace')[-chars:]}")
        return "\n".join(out)

    # -------------------------------------------------------------------------- lifecycle

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _timed(self, what: str, started: float) -> None:
        self.timings[what] = round(time.monotonic() - started, 1)
        _say(self.log, f"cluster: {what} {self.timings[what]:.1f}s")

    def start(self, timeout: float = 180.0) -> None:
        reason = why_not()
        if reason:
            raise RuntimeError(f"cannot run a cluster here: {reason}")
        self.node_ip = self.node_ip or node_ip()
        t = time.monotonic()
        self.binaries = ensure_binaries(log=self.log)
        self.node_binaries = ensure_node_binaries(log=self.log)
        pause = ensure_pause(log=self.log)
        self._timed("binaries", t)
        self._lock = machine_lock(log=self.log)
        owner_file = self._lock.__enter__()
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            owner_file.write_text(json.dumps(self._record()))
            t = time.monotonic()
            self.controlplane = ControlPlane(
                self.workdir / "controlplane", self.binaries, host=self.node_ip, service_account_admission=True,
                extra_apiserver_args=("--kubelet-preferred-address-types=InternalIP",),
            )
            self.controlplane.start()
            self._timed("control plane", t)
            t = time.monotonic()
            self._start_containerd()
            self._import(pause_archive(pause, self.workdir / "pause.tar"))
            for archive in self.images:
                self._import(Path(archive))
            self._timed("containerd and images", t)
            t = time.monotonic()
            self._start_controllers()
            self._start_kube_proxy()
            self._start_kubelet()
            owner_file.write_text(json.dumps(self._record()))
            self.wait_node_ready(timeout)
            self._wait_default_service_account(timeout)
            self._timed("node Ready", t)
        except BaseException:
            self.stop()
            raise

    def _record(self) -> dict[str, Any]:
        pids = {name: p.pid for name, p in self._procs.items()}
        if self.controlplane is not None:
            pids.update(self.controlplane.pids())
        return {"owner": os.getpid(), "workdir": str(self.workdir), "pids": pids,
                "containerd_address": self.containerd_address,
                "kube_proxy": str(self.node_binaries.get("kube-proxy", ""))}

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        proc = spawn(argv, log_path=self.log_of(name), cwd=self.workdir)
        self._procs[name] = proc
        return proc

    def _alive(self, name: str) -> bool:
        proc = self._procs.get(name)
        return proc is not None and proc.poll() is None

    def _start_containerd(self) -> None:
        d = self.containerd_dir
        for sub in ("root", "state", "net.d"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        (d / "net.d" / "10-reflex.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0",
            "name": "reflex",
            "plugins": [{
                "type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_SUBNET}]],
                         "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(d / "ipam")},
            }],
        }, indent=1))
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config = f"""version = 2
root = "{d / 'root'}"
state = "{d / 'state'}"
[grpc]
  address = "{self.containerd_address}"
[ttrpc]
  address = "{d / 'containerd.sock.ttrpc'}"
[debug]
  level = "warn"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d / 'opt'}"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  enable_cdi = false
  # Root here may lack CAP_SYS_RESOURCE (a container or a VM sandbox): the sandbox's
  # oom_score_adj (-998) would then fail to be set and no pod could start.
  restrict_oom_score_adj = true
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  BinaryName = "{shutil.which('runc')}"
[{cri}.cni]
  bin_dir = "{cni_bin_dir()}"
  conf_dir = "{d / 'net.d'}"
  max_conf_num = 1
"""
        (d / "config.toml").write_text(config)
        proc = self._spawn("containerd", ["containerd", "--config", str(d / "config.toml")])
        wait_until(lambda: self._ctr_ok(), 60, interval=0.2, what="containerd to serve",
                   alive=lambda: proc.poll() is None)

    def _ctr_ok(self) -> bool:
        proc = subprocess.run(["ctr", "--address", self.containerd_address, "version"], capture_output=True, timeout=10)
        return proc.returncode == 0

    def _import(self, archive: Path) -> None:
        self.ctr("images", "import", "--snapshotter", "overlayfs", str(archive))

    def import_image(self, archive: Path) -> None:
        """Import one more image archive into the node's containerd (usable at once)."""
        self._import(archive)

    def tag_image(self, source: str, target: str) -> None:
        self.ctr("images", "tag", "--force", source, target)

    def _start_controllers(self) -> None:
        assert self.controlplane is not None
        certs = self.controlplane.workdir / "certs"
        kubeconfig = str(self.admin_kubeconfig)
        self._spawn("kube-controller-manager", [
            str(self.node_binaries["kube-controller-manager"]),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            f"--cert-dir={self.workdir / 'kcm-certs'}",
            "--leader-elect=false",
            "--use-service-account-credentials=false",
            f"--service-account-private-key-file={certs / 'sa.key'}",
            f"--root-ca-file={certs / 'ca.crt'}",
            f"--service-cluster-ip-range={SERVICE_SUBNET}",
            "--controllers=*",
            "--v=1",
        ])
        self._spawn("kube-scheduler", [
            str(self.node_binaries["kube-scheduler"]),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            f"--cert-dir={self.workdir / 'scheduler-certs'}",
            "--leader-elect=false",
            "--v=1",
        ])

    def _start_kube_proxy(self) -> None:
        config = self.workdir / "kube-proxy.yaml"
        config.write_text(_yaml({
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.admin_kubeconfig)},
            "hostnameOverride": self.node_name,
            "mode": "iptables",
            "clusterCIDR": POD_SUBNET,
            "bindAddress": self.node_ip,
            "healthzBindAddress": f"127.0.0.1:{free_port()}",
            "metricsBindAddress": f"127.0.0.1:{free_port()}",
            # Leave the machine's conntrack sysctls alone.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
            "iptables": {"localhostNodePorts": False},
            "nodePortAddresses": [f"{self.node_ip}/32"],
        }))
        self._spawn("kube-proxy", [str(self.node_binaries["kube-proxy"]), f"--config={config}", "--v=1"])

    def _start_kubelet(self) -> None:
        root = self.workdir / "kubelet"
        root.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "kubelet.yaml"
        config.write_text(_yaml({
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": self.node_ip,
            "port": free_port(self.node_ip),
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            # kube-apiserver reaches the kubelet (logs, exec) without a client certificate.
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "cgroupDriver": "cgroupfs",
            "failSwapOn": False,
            "failCgroupV1": False,
            "makeIPTablesUtilChains": False,
            "containerRuntimeEndpoint": f"unix://{self.containerd_address}",
            "podLogsDir": str(self.workdir / "pod-logs"),
            "resolvConf": "/etc/resolv.conf",
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                             "nodefs.inodesFree": "1%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False,
            "syncFrequency": "10s",
            "fileCheckFrequency": "10s",
            "nodeStatusReportFrequency": "1m",
        }))
        self._spawn("kubelet", [
            str(self.node_binaries["kubelet"]),
            f"--config={config}",
            f"--kubeconfig={self.admin_kubeconfig}",
            f"--root-dir={root}",
            f"--cert-dir={root / 'pki'}",
            f"--volume-plugin-dir={root / 'volume-plugins'}",
            f"--hostname-override={self.node_name}",
            f"--node-ip={self.node_ip}",
            "--v=1",
        ])

    def node(self) -> dict[str, Any] | None:
        proc = self.kubectl("get", "node", self.node_name, "-o", "json", check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def node_ready(self) -> bool:
        node = self.node()
        return bool(node) and any(c["type"] == "Ready" and c["status"] == "True"
                                  for c in node.get("status", {}).get("conditions", []))

    def _all_alive(self) -> bool:
        dead = [n for n in COMPONENTS if n in self._procs and not self._alive(n)]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited:\n{self.logs_tail()}")
        return True

    def wait_node_ready(self, timeout: float = 180.0) -> None:
        try:
            wait_until(self.node_ready, timeout, interval=0.5, what=f"node {self.node_name} Ready", alive=self._all_alive)
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}\nnode: {json.dumps((self.node() or {}).get('status', {}).get('conditions'))}\n"
                               f"{self.logs_tail()}") from None

    def _wait_default_service_account(self, timeout: float) -> None:
        wait_until(lambda: self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0,
                   timeout, interval=0.5, what="the default ServiceAccount (kube-controller-manager)")

    def running(self) -> bool:
        return all(self._alive(n) for n in COMPONENTS) and self.controlplane is not None and self.controlplane.running()

    def stop(self) -> None:
        """Delete every pod (so kubelet tears their sandboxes and networks down), then stop every
        component and undo the machine-wide state. Idempotent."""
        if self._alive("kubelet") and self.controlplane is not None and self.controlplane.running():
            with contextlib.suppress(Exception):
                self.kubectl("delete", "deployments,replicasets,statefulsets,daemonsets,jobs", "--all",
                             "--all-namespaces", "--wait=false", timeout=60)
                self.kubectl("delete", "pods", "--all", "--all-namespaces", "--grace-period=1", "--wait=true",
                             "--timeout=60s", timeout=90)
        order = ["kubelet", "kube-proxy", "kube-scheduler", "kube-controller-manager"]
        stop_process_groups([self._procs[n].pid for n in order if n in self._procs],
                            procs=[self._procs[n] for n in order if n in self._procs], timeout=15)
        if self._alive("containerd"):
            with contextlib.suppress(Exception):
                for line in self.ctr("tasks", "list", "--quiet", timeout=60).split():
                    self.ctr("tasks", "kill", "--signal", "SIGKILL", line, timeout=30)
        if "containerd" in self._procs:
            stop_process_groups([self._procs["containerd"].pid], procs=[self._procs["containerd"]], timeout=15)
        for pid in _shim_pids(self.containerd_address):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._procs.clear()
        if self.controlplane is not None:
            self.controlplane.stop()
        _unmount_under(self.workdir)
        _iptables_cleanup(self.node_binaries.get("kube-proxy"), self.log)
        _kubelet_iptables_cleanup()
        subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, timeout=30)
        _remove_cgroups()
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.__exit__(None, None, None)


def main() -> int:
    """``python -m reflex_dev.cluster``: build (or reuse) the node's binaries and say whether a
    cluster can run here."""
    paths = ensure_node_binaries(log=sys.stderr)
    paths["pause"] = ensure_pause(log=sys.stderr)
    for name, path in paths.items():
        print(f"{name}: {path}")
    reason = why_not()
    print(f"a cluster cannot run here: {reason}" if reason else "a cluster can run here", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
