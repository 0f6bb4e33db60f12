"""The test cluster with what its pods talk to: ``make cluster-up`` / ``make cluster-down``, and the
pieces the cluster suite (``tests/cluster``) shares with them.

:class:`ClusterStack` is a :class:`reflex_dev.cluster.Cluster` (one node, the operator's image
imported into its containerd) plus the AWS emulator and the reflex-server simulator, both listening
on the node's address so that pods reach them through the pod network's gateway, bootstrapped
(ECS cluster, CodeBuild project, ECR repository, subnets). :func:`chart_values` gives the Helm
values that point the chart at them, :func:`kustomize_overlay` the same for the kustomize base.

``reflex-dev cluster-up`` starts one detached (``.cluster/`` in the repository: ``env`` to source,
``values.yaml`` for ``helm install``, logs); ``reflex-dev cluster-down`` stops it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reflex_dev._proc import free_port, pid_alive, pid_cmdline, spawn, stop_process_groups, wait_until
from reflex_dev.cluster import Cluster, why_not
from reflex_dev.controlplane import repo_root

__all__ = [
    "AWS_CREDENTIALS",
    "ClusterStack",
    "IMAGE_REPOSITORY",
    "IMAGE_TAG",
    "REGION",
    "chart_values",
    "kustomize_overlay",
    "operator_image_archive",
]

REGION = "us-east-1"
IMAGE_REPOSITORY = "localhost/reflex-operator"
IMAGE_TAG = "test"
AWS_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
# Short timings for the emulator: builds take ~1 s, deployments ~0.6 s (as the e2e suite).
TEST_TIMINGS = {
    "codebuild_queued_seconds": 0.2,
    "codebuild_in_progress_seconds": 0.8,
    "ecs_scale_seconds": 0.3,
    "ecs_deploy_seconds": 0.6,
}
# The operator's settings in the cluster: quick polls, and leader election quicker than client-go's
# defaults but with room for a loaded 2-core machine (lease 8 s, renew deadline 6 s, retry 1 s).
OPERATOR_SETTINGS = {
    "pollIntervalSeconds": 0.5,
    "statusRefreshSeconds": 3,
    "healthTimeoutSeconds": 1,
    "awsMaxAttempts": 3,
    "leaseDurationSeconds": 8,
    "renewDeadlineSeconds": 6,
    "retryPeriodSeconds": 1,
}


def _http(method: str, url: str, payload: Any = None, timeout: float = 10.0) -> Any:
    data = json.dumps(payload).encode() if payload is not None else (b"" if method == "POST" else None)
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        body = resp.read()
    return json.loads(body) if body else None


def _context_key(image: Any) -> str:
    """A hash of everything the build reads: the build context (the files ``.dockerignore`` admits,
    the Dockerfile, the locks), the base image's key and the wheels' key."""
    import hashlib
    import tempfile

    digest = hashlib.sha256(f"{image.base_key()}|{image.RECIPE}".encode())
    with tempfile.TemporaryDirectory(prefix="reflex-image-key-") as tmp:
        ctx = image.build_context(Path(tmp) / "context", None)
        for path in sorted(p for p in ctx.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(ctx)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def operator_image_archive(log=None) -> Path:
    """The operator's image (``reflex_dev.image``, buildah) saved as an archive tagged
    ``localhost/reflex-operator:test`` for the node's containerd. The archive is cached under
    ``~/.cache/reflex-image/archives/`` by a hash of the build's inputs: unchanged sources are not
    built again (a cached ``buildah bud`` still takes minutes with the vfs driver)."""
    from reflex_dev import image

    reason = image.missing_tools()
    if reason:
        raise RuntimeError(f"cannot build the operator's image: {reason}")
    cached = image.cache_root() / "archives" / f"reflex-operator-{_context_key(image)}.tar"
    if cached.is_file():
        return cached
    ref = f"{IMAGE_REPOSITORY}:cluster-{os.getpid()}"  # ours alone while we export it
    built = image.build_image(ref, log=log)
    try:
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}")
        image.export_archive(built.ref, tmp, f"{IMAGE_REPOSITORY}:{IMAGE_TAG}", log=log)
        for old in cached.parent.glob("reflex-operator-*.tar"):  # 375 MB each: a day's are kept
            with contextlib.suppress(OSError):
                if time.time() - old.stat().st_mtime > 86400:
                    old.unlink()
        os.rename(tmp, cached)
        return cached
    finally:
        with contextlib.suppress(Exception):
            image.buildah("rmi", built.ref)


def _camel(env_name: str) -> str:
    head, *rest = env_name.removeprefix("REFLEX_").lower().split("_")
    return head + "".join(w.title() for w in rest)


def _env_name(key: str) -> str:
    """``leaseDurationSeconds`` -> ``REFLEX_LEASE_DURATION_SECONDS`` (the chart's rule)."""
    return "REFLEX_" + re.sub(r"([A-Z])", r"_\1", key).upper()


def operator_env(stack: ClusterStack) -> dict[str, str]:
    """Besides the chart's settings: the emulator's endpoint and dummy credentials, as env."""
    return {"AWS_ENDPOINT_URL": stack.emulator_url, **AWS_CREDENTIALS}


def chart_values(stack: ClusterStack, *, namespace: str | None = None, tag: str = IMAGE_TAG) -> dict[str, Any]:
    """Helm values for the chart in this cluster: the imported image, the bootstrapped AWS
    resources, the simulator's endpoints, quick polls; ``namespace``: watch only that one."""
    settings: dict[str, Any] = {}
    for key, value in stack.settings.items():
        settings[_camel(key)] = json.loads(value) if value.startswith("[") else value
    settings.update(OPERATOR_SETTINGS)
    settings["endpointTemplate"] = stack.endpoint_template
    settings["namespace"] = namespace
    return {
        "image": {"repository": IMAGE_REPOSITORY, "tag": tag},
        "aws": {"region": REGION},
        "settings": settings,
        "extraEnv": [{"name": k, "value": v} for k, v in operator_env(stack).items()],
    }


def kustomize_overlay(stack: ClusterStack, dest: Path, *, namespace: str, api: bool = True) -> Path:
    """An overlay of the kustomize base (``manifests/``, and the reflex-api component) in ``dest``:
    the imported image, and the operator's environment pointed at this stack, watching only
    ``namespace``."""
    import yaml

    dest.mkdir(parents=True, exist_ok=True)
    root = repo_root()
    rel = os.path.relpath(root / "manifests", dest)
    env = {
        **{k: v for k, v in stack.settings.items()},
        **{_env_name(k): str(v) for k, v in OPERATOR_SETTINGS.items()},
        "REFLEX_ENDPOINT_TEMPLATE": stack.endpoint_template,
        "REFLEX_NAMESPACE": namespace,
        **operator_env(stack),
    }
    patch = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "reflex-operator", "namespace": "reflex-system"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "operator", "env": [{"name": k, "value": v} for k, v in env.items()]},
        ]}}},
    }
    (dest / "operator-env.yaml").write_text(yaml.safe_dump(patch, sort_keys=False))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [rel],
        **({"components": [f"{rel}/api"]} if api else {}),
        "images": [{"name": "ghcr.io/reflexdb/reflex-operator", "newName": IMAGE_REPOSITORY, "newTag": IMAGE_TAG}],
        "patches": [{"path": "operator-env.yaml"}],
    }
    (dest / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return dest


@dataclass
class ClusterStack:
    """The cluster, the emulator and the simulator. ``start()`` / ``stop()``."""

    workdir: Path
    log: Any = None
    cluster: Cluster | None = None
    emulator_url: str = ""
    simulator_url: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)

    @property
    def endpoint_template(self) -> str:
        return f"{self.simulator_url}/i/{{service}}"

    def start(self, image_archive: Path | None = None) -> None:
        reason = why_not()
        if reason:
            raise RuntimeError(f"cannot run a cluster here: {reason}")
        self.workdir = Path(self.workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            t = time.monotonic()
            archive = image_archive or operator_image_archive(log=self.log)
            self.timings["operator image"] = round(time.monotonic() - t, 1)
            t = time.monotonic()
            self.cluster = Cluster(self.workdir / "cluster", images=[archive], log=self.log)
            self.cluster.start()
            self.timings.update(self.cluster.timings)
            self.timings["cluster"] = round(time.monotonic() - t, 1)
            self._start_services(self.cluster.node_ip)
        except BaseException:
            self.stop()
            raise

    def _start_services(self, host: str) -> None:
        from reflex_dev.emulator import bootstrap

        env = {**os.environ, **AWS_CREDENTIALS, "PYTHONUNBUFFERED": "1"}
        port = free_port(host)
        self.emulator_url = f"http://{host}:{port}"
        self._spawn("emulator", [sys.executable, "-m", "reflex_dev.emulator", "--host", host, "--port", str(port)],
                    env, f"{self.emulator_url}/_emulator/health")
        port = free_port(host)
        self.simulator_url = f"http://{host}:{port}"
        self._spawn("simulator", [sys.executable, "-m", "reflex_dev.simulator", "--host", host, "--port", str(port),
                                  "--aws-endpoint", self.emulator_url, "--region", REGION, "--poll-interval", "0.2"],
                    env, f"{self.simulator_url}/_sim/health")
        _http("POST", f"{self.emulator_url}/_emulator/config", TEST_TIMINGS)
        self.settings = bootstrap(self.emulator_url, REGION)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str], ready_url: str) -> None:
        log_path = self.workdir / f"{name}.log"
        proc = spawn(argv, log_path=log_path, env=env)
        self._procs[name] = proc

        def ready() -> bool:
            try:
                _http("GET", ready_url, timeout=1.0)
                return True
            except (OSError, urllib.error.URLError):
                return False

        try:
            wait_until(ready, 60.0, what=f"the {name} to serve", alive=lambda: proc.poll() is None)
        except Exception:
            raise RuntimeError(f"the {name} did not start; log:\n{log_path.read_text()[-4000:]}") from None

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self._procs.items()}

    def stop(self) -> None:
        procs = list(self._procs.values())
        stop_process_groups([p.pid for p in procs], procs=procs)
        self._procs.clear()
        if self.cluster is not None:
            self.cluster.stop()


# ------------------------------------------------------------------ make cluster-up / cluster-down


def _dir() -> Path:
    return repo_root() / ".cluster"


def _serve(workdir: Path) -> int:
    """The detached process that owns the cluster until SIGTERM."""
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    stack = ClusterStack(workdir, log=sys.stderr)
    try:
        # REFLEX_CLUSTER_IMAGE_ARCHIVE: an image archive saved earlier, instead of building the image.
        archive = os.environ.get("REFLEX_CLUSTER_IMAGE_ARCHIVE")
        stack.start(Path(archive) if archive else None)
        assert stack.cluster is not None
        import yaml

        from reflex_dev.helm import ensure_helm

        helm = ensure_helm(log=sys.stderr)
        (workdir / "values.yaml").write_text(yaml.safe_dump(chart_values(stack), sort_keys=False))
        (workdir / "env").write_text(
            f"export KUBECONFIG={stack.cluster.admin_kubeconfig}\n"
            f"export PATH={stack.cluster.kubectl_path.parent}:{helm.parent}:$PATH\n"
            f"export AWS_ENDPOINT_URL={stack.emulator_url}\n"
            f"export AWS_REGION={REGION} AWS_DEFAULT_REGION={REGION}\n"
            + "".join(f"export {k}={v}\n" for k, v in AWS_CREDENTIALS.items())
        )
        (workdir / "ready.json").write_text(json.dumps({"timings": stack.timings, "emulator": stack.emulator_url,
                                                        "simulator": stack.simulator_url}))
        while not stopping:
            if not stack.cluster.running():
                print("a component of the cluster exited; stopping", file=sys.stderr, flush=True)
                return 1
            time.sleep(1.0)
        return 0
    finally:
        stack.stop()
        (workdir / "ready.json").unlink(missing_ok=True)


def up() -> int:
    d = _dir()
    reason = why_not()
    if reason:
        print(f"cannot start a cluster here: {reason}", file=sys.stderr)
        return 1
    pid_file = d / "serve.pid"
    if pid_file.exists() and pid_alive(pid := int(pid_file.read_text())) and "cluster-serve" in pid_cmdline(pid):
        print(f"already up (pid {pid}); `. .cluster/env`", file=sys.stderr)
        return 0
    d.mkdir(exist_ok=True)
    (d / "ready.json").unlink(missing_ok=True)
    started = time.monotonic()
    proc = spawn([sys.executable, "-m", "reflex_dev.clusterstack", "cluster-serve", str(d)], log_path=d / "serve.log")
    pid_file.write_text(str(proc.pid))
    print(f"starting the cluster (log: {d / 'serve.log'}); the first run builds the node's binaries and the image",
          file=sys.stderr, flush=True)
    try:
        wait_until(lambda: (d / "ready.json").exists(), 3600, interval=0.5, what="the cluster",
                   alive=lambda: proc.poll() is None)
    except (RuntimeError, TimeoutError) as exc:
        print(f"{exc}\n{(d / 'serve.log').read_text(errors='replace')[-6000:]}", file=sys.stderr)
        return 1
    ready = json.loads((d / "ready.json").read_text())
    print(f"up in {time.monotonic() - started:.0f}s ({ready['timings']}). Try the chart:\n"
          f"  . .cluster/env\n"
          f"  kubectl get nodes\n"
          f"  helm install reflex charts/reflex-operator -n reflex-helm --create-namespace -f .cluster/values.yaml --wait\n"
          f"  kubectl apply -f examples/minimal.yaml && kubectl get rdb -w\n"
          f"then `make cluster-down`.", file=sys.stderr)
    return 0


def down() -> int:
    d = _dir()
    pid_file = d / "serve.pid"
    if not pid_file.exists():
        print("no cluster recorded in .cluster/", file=sys.stderr)
        return 0
    pid = int(pid_file.read_text())
    if pid_alive(pid) and "cluster-serve" in pid_cmdline(pid):
        os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: not pid_alive(pid), 180, interval=0.5, what="the cluster to stop")
        if pid_alive(pid):
            stop_process_groups([pid], timeout=5)
    pid_file.unlink(missing_ok=True)
    print("cluster stopped", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reflex_dev.clusterstack")
    parser.add_argument("command", choices=("up", "down", "cluster-serve"))
    parser.add_argument("workdir", nargs="?")
    args = parser.parse_args(argv)
    if args.command == "cluster-serve":
        return _serve(Path(args.workdir))
    return up() if args.command == "up" else down()


if __name__ == "__main__":
    sys.exit(main())
