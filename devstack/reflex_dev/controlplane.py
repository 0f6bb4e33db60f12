"""A real Kubernetes control plane for tests and the local stack: etcd + kube-apiserver (+ kubectl).

The binaries are built from the upstream Go modules pinned in ``tests/controlplane/go.mod`` and
cached outside the work tree in ``~/.cache/reflex-controlplane/<k8s version>/``, or taken from
``KUBEBUILDER_ASSETS`` / ``TEST_ASSET_*`` exactly like controller-runtime's envtest.

:class:`ControlPlane` starts them the way envtest does: loopback addresses and free ports, secure
serving with generated certificates, RBAC authorization and token authentication with two
identities, an admin (``system:masters``) and the operator's ServiceAccount identity.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import ipaddress
import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reflex_dev._proc import free_port, pid_alive, pid_cmdline, spawn, stop_process_groups, wait_for_port, wait_until

__all__ = [
    "Binaries",
    "ControlPlane",
    "apply_manifests",
    "cache_dir",
    "ensure_binaries",
    "go_ldflags",
    "kubernetes_version",
    "repo_root",
    "stop_recorded",
    "OPERATOR_USER",
    "OPERATOR_GROUPS",
]

GO_MODULE_DIR = Path("tests") / "controlplane"
BINARY_NAMES = ("kube-apiserver", "etcd", "kubectl")
GO_PACKAGES = {
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "etcd": "go.etcd.io/etcd/server/v3",
    "kubectl": "k8s.io/kubernetes/cmd/kubectl",
}

OPERATOR_NAMESPACE = "reflex-system"
OPERATOR_SERVICE_ACCOUNT = "reflex-operator"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SERVICE_ACCOUNT}"
OPERATOR_GROUPS = ("system:serviceaccounts", f"system:serviceaccounts:{OPERATOR_NAMESPACE}", "system:authenticated")
ADMIN_USER = "reflex-admin"
ADMIN_GROUPS = ("system:masters", "system:authenticated")

PIDS_FILE = "pids.json"


# --------------------------------------------------------------------------------------------
# Binaries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    etcd: Path
    kubectl: Path
    source: str = "cache"  # "cache", "build", "KUBEBUILDER_ASSETS" or "TEST_ASSET_*"

    def as_dict(self) -> dict[str, str]:
        return {"kube-apiserver": str(self.kube_apiserver), "etcd": str(self.etcd), "kubectl": str(self.kubectl)}


def repo_root() -> Path:
    """The repository root: ``$REFLEX_REPO_ROOT``, else the first parent of this package (or of the
    working directory) that holds ``tests/controlplane/go.mod``."""
    env = os.environ.get("REFLEX_REPO_ROOT")
    if env:
        root = Path(env).resolve()
        if not (root / GO_MODULE_DIR / "go.mod").is_file():
            raise FileNotFoundError(f"REFLEX_REPO_ROOT={env} has no {GO_MODULE_DIR / 'go.mod'}")
        return root
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if (candidate / GO_MODULE_DIR / "go.mod").is_file():
                return candidate
    raise FileNotFoundError(f"cannot find {GO_MODULE_DIR / 'go.mod'}; set REFLEX_REPO_ROOT to the repository root")


def kubernetes_version(go_mod: Path | None = None) -> str:
    """The ``k8s.io/kubernetes`` version pinned in the control-plane go.mod, e.g. ``v1.36.3``."""
    go_mod = go_mod or repo_root() / GO_MODULE_DIR / "go.mod"
    match = re.search(r"^\s*k8s\.io/kubernetes\s+(v\d+\.\d+\.\d+\S*)", go_mod.read_text(), re.MULTILINE)
    if not match:
        raise ValueError(f"no k8s.io/kubernetes requirement in {go_mod}")
    return match.group(1)


def cache_root() -> Path:
    if os.environ.get("REFLEX_CONTROLPLANE_CACHE"):
        return Path(os.environ["REFLEX_CONTROLPLANE_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "reflex-controlplane"


def cache_dir(version: str | None = None) -> Path:
    return cache_root() / (version or kubernetes_version())


def _complete(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) and (directory / name).is_file() for name in BINARY_NAMES)


def _from_env() -> Binaries | None:
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    explicit = {name: os.environ.get(var) for name, var in (
        ("kube-apiserver", "TEST_ASSET_KUBE_APISERVER"),
        ("etcd", "TEST_ASSET_ETCD"),
        ("kubectl", "TEST_ASSET_KUBECTL"),
    )}
    if any(explicit.values()) and not (assets and Path(assets).is_dir()):
        missing = [name for name, path in explicit.items() if not path]
        if missing:
            raise FileNotFoundError(f"TEST_ASSET_* set but not for: {', '.join(missing)} (and KUBEBUILDER_ASSETS unset)")
    if not assets and not any(explicit.values()):
        return None
    paths: dict[str, Path] = {}
    for name in BINARY_NAMES:
        path = explicit[name] or (str(Path(assets) / name) if assets else None)
        if not path or not os.access(path, os.X_OK):
            raise FileNotFoundError(f"{name}: {path!r} is not an executable (from KUBEBUILDER_ASSETS/TEST_ASSET_*)")
        paths[name] = Path(path).resolve()
    return Binaries(
        kube_apiserver=paths["kube-apiserver"],
        etcd=paths["etcd"],
        kubectl=paths["kubectl"],
        source="TEST_ASSET_*" if any(explicit.values()) else "KUBEBUILDER_ASSETS",
    )


def _cached(directory: Path, source: str) -> Binaries:
    return Binaries(directory / "kube-apiserver", directory / "etcd", directory / "kubectl", source)


def go_ldflags(version: str) -> str:
    """The ``-ldflags`` of a Kubernetes binary's build: stripped, and its version stamped."""
    major, minor = version.lstrip("v").split(".")[:2]
    return (
        f"-s -w -X k8s.io/component-base/version.gitVersion={version}"
        f" -X k8s.io/component-base/version.gitMajor={major}"
        f" -X k8s.io/component-base/version.gitMinor={minor}"
    )


def _go_build(module_dir: Path, version: str, out_dir: Path, log=None) -> None:
    ldflags = go_ldflags(version)
    for name in BINARY_NAMES:
        cmd = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(out_dir / name), GO_PACKAGES[name]]
        if log is not None:
            print(f"+ (cd {module_dir} && {' '.join(cmd)})", file=log, flush=True)
        subprocess.run(cmd, cwd=module_dir, check=True)


def ensure_binaries(*, log=None) -> Binaries:
    """Binaries from ``KUBEBUILDER_ASSETS`` / ``TEST_ASSET_*`` if set; else from the version-keyed
    cache, building them with ``go build`` first if the cache lacks them.

    The build goes into a temporary directory next to the cache and is renamed into place only
    when all three binaries exist, so an interrupted build never leaves a half cache. A file lock
    serialises concurrent callers (a test session and ``make dev-up``)."""
    from_env = _from_env()
    if from_env is not None:
        return from_env
    version = kubernetes_version()
    target = cache_dir(version)
    if _complete(target):
        return _cached(target, "cache")
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _complete(target):  # somebody else built it while we waited
            return _cached(target, "cache")
        if shutil.which("go") is None:
            raise FileNotFoundError("`go` is not on PATH: cannot build the control plane (or set KUBEBUILDER_ASSETS)")
        for stale in root.glob(f".{version}-build-*"):  # left by a build that was killed
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{version}-build-", dir=root))
        os.chmod(tmp, 0o755)
        try:
            started = time.monotonic()
            if log is not None:
                print(f"building kube-apiserver, etcd, kubectl {version} into {target} (takes a while, once)",
                      file=log, flush=True)
            _go_build(repo_root() / GO_MODULE_DIR, version, tmp, log)
            (tmp / "VERSION").write_text(version + "\n")
            if target.exists():  # an incomplete leftover (should not happen with rename, but be safe)
                shutil.rmtree(target)
            os.rename(tmp, target)
            if log is not None:
                print(f"built in {time.monotonic() - started:.0f}s", file=log, flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return _cached(target, "build")


# --------------------------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------------------------


def _write_certs(certs: Path, extra_ips: Sequence[str] = ()) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    certs.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    not_before, not_after = now - dt.timedelta(hours=1), now + dt.timedelta(days=365)

    def key_pem(key) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reflex-dev-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    srv_key = ec.generate_private_key(ec.SECP256R1())
    srv_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(srv_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
                *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in extra_ips if ip not in ("127.0.0.1", "10.0.0.1")),
                x509.DNSName("localhost"),
                x509.DNSName("kubernetes.default.svc"),
            ]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    sa_key = ec.generate_private_key(ec.SECP256R1())

    (certs / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (certs / "apiserver.crt").write_bytes(srv_cert.public_bytes(serialization.Encoding.PEM))
    (certs / "apiserver.key").write_bytes(key_pem(srv_key))
    (certs / "sa.key").write_bytes(key_pem(sa_key))
    (certs / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for name in ("apiserver.key", "sa.key"):
        os.chmod(certs / name, 0o600)
    # The CA key is not kept: nothing signs client certificates, authentication is by token.


def _kubeconfig(server: str, ca_pem: bytes, user: str, token: str) -> str:
    import yaml

    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{
                "name": "reflex-dev",
                "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()},
            }],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": user, "context": {"cluster": "reflex-dev", "user": user, "namespace": "default"}}],
            "current-context": user,
            "preferences": {},
        },
        sort_keys=False,
    )


# --------------------------------------------------------------------------------------------
# The control plane
# --------------------------------------------------------------------------------------------


@dataclass
class ControlPlane:
    """etcd + kube-apiserver on loopback, like envtest. ``start()`` then ``stop()``; or use as a
    context manager. Files under ``workdir``: ``admin.kubeconfig``, ``operator.kubeconfig``,
    ``pids.json``, ``certs/``, ``etcd-data/``, ``etcd.log``, ``kube-apiserver.log``."""

    workdir: Path
    binaries: Binaries | None = None
    host: str = "127.0.0.1"
    etcd_client_port: int = 0
    etcd_peer_port: int = 0
    secure_port: int = 0
    # For a cluster with nodes (reflex_dev.cluster): the ServiceAccount admission plugin on (pods
    # get their token volume; it needs kube-controller-manager's token and root CA publishers),
    # and more kube-apiserver flags.
    service_account_admission: bool = False
    extra_apiserver_args: tuple[str, ...] = ()
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)
    _apiserver_argv: list[str] = field(default_factory=list, repr=False)
    _admin_token: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()

    # Paths and addresses -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.secure_port}"

    @property
    def etcd_url(self) -> str:
        return f"http://{self.host}:{self.etcd_client_port}"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def operator_kubeconfig(self) -> Path:
        return self.workdir / "operator.kubeconfig"

    @property
    def audit_log(self) -> Path:
        """The API server's audit log (JSON lines): every ReflexDatabase request, at Metadata level."""
        return self.workdir / "audit.log"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "certs" / "ca.crt"

    @property
    def kubectl(self) -> Path:
        assert self.binaries is not None
        return self.binaries.kubectl

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self._procs.items()}

    # Lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 90.0, attempts: int = 3) -> None:
        """Start etcd and kube-apiserver and wait until the API server is ready. Free ports are
        picked by the kernel; should one be taken before the process binds it, retry with new ones."""
        if self.binaries is None:
            self.binaries = ensure_binaries()
        stop_recorded(self.workdir)  # a leftover from an earlier run of this workdir
        last: Exception | None = None
        for _ in range(attempts):
            try:
                self._start_once(timeout)
                return
            except Exception as exc:
                last = exc
                self.stop()
                if "address already in use" not in self._logs_tail():
                    raise
        raise RuntimeError(f"control plane did not start after {attempts} attempts: {last}") from last

    def _logs_tail(self) -> str:
        text = ""
        for name in ("etcd.log", "kube-apiserver.log"):
            with contextlib.suppress(OSError):
                text += (self.workdir / name).read_text(errors="replace")[-4000:]
        return text

    def _start_once(self, timeout: float) -> None:
        assert self.binaries is not None
        deadline = time.monotonic() + timeout
        self.workdir.mkdir(parents=True, exist_ok=True)
        for name in ("etcd.log", "kube-apiserver.log"):
            (self.workdir / name).unlink(missing_ok=True)
        data_dir = self.workdir / "etcd-data"
        shutil.rmtree(data_dir, ignore_errors=True)
        certs = self.workdir / "certs"
        _write_certs(certs, (self.host,))

        admin_token, operator_token = base64.urlsafe_b64encode(os.urandom(24)).decode(), \
            base64.urlsafe_b64encode(os.urandom(24)).decode()
        tokens = certs / "tokens.csv"
        tokens.write_text(
            f'{admin_token},{ADMIN_USER},{ADMIN_USER},"{",".join(ADMIN_GROUPS)}"\n'
            f'{operator_token},{OPERATOR_USER},{OPERATOR_USER},"{",".join(OPERATOR_GROUPS)}"\n'
        )
        os.chmod(tokens, 0o600)
        # An audit log of the ReflexDatabase requests (who asked, as whom): reflex-api's writes
        # impersonate the caller, and the e2e tests read it back from ``audit_log``.
        audit_policy = certs / "audit-policy.yaml"
        audit_policy.write_text(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n"
            "  - level: Metadata\n    resources: [{group: reflexdb.cloud}]\n  - level: None\n"
        )

        self.etcd_client_port = free_port(self.host)
        self.etcd_peer_port = free_port(self.host)
        self.secure_port = free_port(self.host)
        peer = f"http://{self.host}:{self.etcd_peer_port}"

        etcd = spawn(
            [
                str(self.binaries.etcd),
                "--name=default",
                f"--data-dir={data_dir}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=default={peer}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            log_path=self.workdir / "etcd.log",
            cwd=self.workdir,
        )
        self._procs["etcd"] = etcd
        self._record_pids()
        wait_for_port(self.etcd_client_port, self.host, timeout=max(1.0, deadline - time.monotonic()), proc=etcd)

        self._apiserver_argv = [
                str(self.binaries.kube_apiserver),
                f"--etcd-servers={self.etcd_url}",
                f"--bind-address={self.host}",
                f"--advertise-address={self.host}",
                f"--secure-port={self.secure_port}",
                f"--cert-dir={certs}",
                f"--tls-cert-file={certs / 'apiserver.crt'}",
                f"--tls-private-key-file={certs / 'apiserver.key'}",
                f"--client-ca-file={certs / 'ca.crt'}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={self.url}",
                f"--service-account-key-file={certs / 'sa.pub'}",
                f"--service-account-signing-key-file={certs / 'sa.key'}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                # As envtest: no controller-manager runs, so no admission that waits for one.
                *(() if self.service_account_admission else ("--disable-admission-plugins=ServiceAccount",)),
                f"--audit-policy-file={audit_policy}",
                f"--audit-log-path={self.audit_log}",
                "--profiling=false",
                "--v=1",
                *self.extra_apiserver_args,
        ]
        self._admin_token = admin_token
        self._spawn_apiserver()

        ca_pem = (certs / "ca.crt").read_bytes()
        self.admin_kubeconfig.write_text(_kubeconfig(self.url, ca_pem, "admin", admin_token))
        self.operator_kubeconfig.write_text(_kubeconfig(self.url, ca_pem, "reflex-operator", operator_token))
        for path in (self.admin_kubeconfig, self.operator_kubeconfig):
            os.chmod(path, 0o600)

        self._wait_ready(max(1.0, deadline - time.monotonic()))

    def _spawn_apiserver(self) -> None:
        self._procs["kube-apiserver"] = spawn(
            self._apiserver_argv, log_path=self.workdir / "kube-apiserver.log", cwd=self.workdir
        )
        self._record_pids()

    def ready(self) -> bool:
        """kube-apiserver answers /readyz with 200."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        req = urllib.request.Request(f"{self.url}/readyz", headers={"Authorization": f"Bearer {self._admin_token}"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError):
            return False

    def _wait_ready(self, timeout: float) -> None:
        apiserver, etcd = self._procs["kube-apiserver"], self._procs["etcd"]
        wait_until(
            self.ready,
            timeout,
            interval=0.1,
            what=f"kube-apiserver {self.url}/readyz (log: {self.workdir / 'kube-apiserver.log'})",
            alive=lambda: apiserver.poll() is None and etcd.poll() is None,
        )

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver only (an outage of the API; etcd and its data stay). Idempotent."""
        proc = self._procs.pop("kube-apiserver", None)
        if proc is not None:
            stop_process_groups([proc.pid], procs=[proc])
        self._record_pids()

    def start_apiserver(self, timeout: float = 90.0) -> None:
        """Start kube-apiserver again after ``stop_apiserver``: the same port, certificates,
        tokens and etcd, so every client's kubeconfig still works. Waits until it is ready."""
        if "kube-apiserver" in self._procs:
            return
        assert self._apiserver_argv, "start() first"
        self._spawn_apiserver()
        self._wait_ready(timeout)

    def _record_pids(self) -> None:
        (self.workdir / PIDS_FILE).write_text(json.dumps(self.pids()))

    def running(self) -> bool:
        return bool(self._procs) and all(p.poll() is None for p in self._procs.values())

    def stop(self) -> None:
        """Stop kube-apiserver and etcd (whole process groups); idempotent."""
        # The API server first: stopped while etcd is already gone, it hangs in shutdown.
        for name in ("kube-apiserver", "etcd"):
            proc = self._procs.pop(name, None)
            if proc is not None:
                stop_process_groups([proc.pid], procs=[proc])
        (self.workdir / PIDS_FILE).unlink(missing_ok=True)


def stop_recorded(workdir: Path | str) -> list[int]:
    """Stop a control plane started (perhaps by another process) in ``workdir``, from its
    ``pids.json``. Returns the PIDs that were still alive. Idempotent."""
    path = Path(workdir) / PIDS_FILE
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    alive = [pid for name in ("kube-apiserver", "etcd")
             if (pid := pids.get(name)) and pid_alive(pid) and name in pid_cmdline(pid)]
    for pid in alive:  # kube-apiserver before etcd
        stop_process_groups([pid])
    path.unlink(missing_ok=True)
    return alive


def apply_manifests(
    kubeconfig: Path | str,
    paths: Iterable[Path | str],
    *,
    kubectl: Path | str | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess:
    """``kubectl apply --server-side`` the given files (or directories) as one request batch."""
    files: list[str] = [str(p) for p in paths]
    if not files:
        raise ValueError("no manifests to apply")
    kubectl = str(kubectl or ensure_binaries().kubectl)
    cmd: Sequence[str] = [kubectl, f"--kubeconfig={kubeconfig}", "apply", "--server-side",
                          "--force-conflicts", "--field-manager=reflex-dev"]
    for f in files:
        cmd = [*cmd, "-f", f]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout)
