"""The cluster suite's shared world: ONE real one-node cluster for the whole suite
(``reflex_dev.cluster``: kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kube-proxy,
kubelet, containerd + runc, the operator's image imported), the AWS emulator and the simulator on
the node's address, and the chart installed with ``helm install`` as shipped (release ``ha`` in
``reflex-helm``, watching the namespace ``dbs``).

Where the cluster cannot run (not root, no writable cgroups, tools missing) every test FAILS with
the reason; ``REFLEX_CLUSTER_TESTS=skip`` turns that into a skip that still says why.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from reflex_dev._proc import wait_until
from reflex_dev.cluster import why_not
from reflex_dev.clusterstack import REGION, ClusterStack, chart_values
from reflex_dev.controlplane import repo_root
from reflex_dev.helm import ensure_helm

RELEASE = "ha"
RELEASE_NAMESPACE = "reflex-helm"
DB_NAMESPACE = "dbs"  # the helm release watches this namespace only
FULLNAME = f"{RELEASE}-reflex-operator"
SELECTOR = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=operator"
SECRET_URL = "postgres://reflex:s3cr3t-Pa55w0rd-cluster@db.internal:5432/orders"
# AWS operations that change something: none may be called by a rollout that moves nothing.
MUTATING = ("StartBuild", "CreateService", "UpdateService", "DeleteService", "RegisterTaskDefinition",
            "DeregisterTaskDefinition", "CreateSecret", "PutSecretValue", "DeleteSecret", "UpdateSecret",
            "TagResource", "StopBuild")


def _report(config: pytest.Config, line: str) -> None:
    """A line on the terminal now, past pytest's output capture (the setup's figures)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capman = config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None:
        with capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext():
            reporter.write_line(line)


@dataclass
class World:
    """The suite's cluster and the helm release in it, with helpers for the tests."""

    stack: ClusterStack
    helm: Path
    workdir: Path
    values_file: Path
    _clients: dict[str, Any] = field(default_factory=dict)

    # -------------------------------------------------------------------------- kubectl, helm

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120.0, input: str | None = None) -> subprocess.CompletedProcess:
        assert self.stack.cluster is not None
        proc = self.stack.cluster.kubectl(*args, check=False, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def helm_run(self, *args: str, timeout: float = 600.0) -> subprocess.CompletedProcess:
        assert self.stack.cluster is not None
        cmd = [str(self.helm), f"--kubeconfig={self.stack.cluster.admin_kubeconfig}", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}\n"
                                 f"{self.describe_operator()}")
        return proc

    # ------------------------------------------------------------------------- the operator

    def pods(self, selector: str = SELECTOR, namespace: str = RELEASE_NAMESPACE) -> list[dict[str, Any]]:
        return [p for p in self.json("get", "pods", "-n", namespace, "-l", selector)["items"]
                if not p["metadata"].get("deletionTimestamp")]

    @staticmethod
    def ready(pod: dict[str, Any]) -> bool:
        return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))

    def ready_pods(self, selector: str = SELECTOR, namespace: str = RELEASE_NAMESPACE) -> list[str]:
        return sorted(p["metadata"]["name"] for p in self.pods(selector, namespace) if self.ready(p))

    def wait_ready_pods(self, n: int, selector: str = SELECTOR, namespace: str = RELEASE_NAMESPACE,
                        timeout: float = 240, exclude: tuple[str, ...] = ()) -> list[str]:
        def enough() -> list[str] | None:
            names = [p for p in self.ready_pods(selector, namespace) if p not in exclude]
            return names if len(names) == n else None

        try:
            return wait_until(enough, timeout, interval=1.0, what=f"{n} Ready pods {selector}")  # type: ignore[return-value]
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.describe_operator(namespace)}") from None

    def lease(self, name: str = "reflex-operator", namespace: str = RELEASE_NAMESPACE) -> dict[str, Any] | None:
        proc = self.kubectl("get", "lease", name, "-n", namespace, "-o", "json", check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def leader_pod(self, namespace: str = RELEASE_NAMESPACE, selector: str = SELECTOR) -> str | None:
        """The operator pod whose identity holds the Lease (identities are the pod name plus a
        suffix), if the Lease is held and not expired."""
        lease = self.lease(namespace=namespace)
        holder = ((lease or {}).get("spec") or {}).get("holderIdentity") or ""
        for pod in self.pods(selector, namespace):
            name = pod["metadata"]["name"]
            if holder == name or holder.startswith(name + "-") or holder.startswith(name + "_"):
                return name
        return None

    def wait_leader(self, *, other_than: str | None = None, timeout: float = 120, namespace: str = RELEASE_NAMESPACE,
                    selector: str = SELECTOR) -> str:
        def found() -> str | None:
            name = self.leader_pod(namespace, selector)
            return name if name and name != other_than and name in self.ready_pods(selector, namespace) else None

        try:
            return wait_until(found, timeout, interval=0.5, what="a Ready operator pod to lead")  # type: ignore[return-value]
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\nlease: {json.dumps((self.lease(namespace=namespace) or {}).get('spec'))}\n"
                                 f"{self.describe_operator(namespace)}") from None

    def describe_operator(self, namespace: str = RELEASE_NAMESPACE) -> str:
        out = self.kubectl("get", "pods,deploy,rs,pdb,lease", "-n", namespace, "-o", "wide", check=False).stdout
        events = self.kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False).stdout
        logs = ""
        for pod in self.pods(namespace=namespace)[:3]:
            name = pod["metadata"]["name"]
            logs += f"--- logs {name} ---\n" + self.kubectl("logs", "-n", namespace, name, "--tail=30", check=False).stdout[-3000:]
        return f"{out}\n{events[-4000:]}\n{logs}"

    # ----------------------------------------------------------------------------- databases

    def create_database(self, name: str, namespace: str = DB_NAMESPACE, **spec: Any) -> None:
        docs = [
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-src"}, "stringData": {"url": SECRET_URL}},
            {"apiVersion": "reflexdb.cloud/v1alpha1", "kind": "ReflexDatabase", "metadata": {"name": name},
             "spec": {"source": {"secretRef": {"name": f"{name}-src"}}, **spec}},
        ]
        self.kubectl("apply", "-n", namespace, "-f", "-", input="\n".join(json.dumps(d) for d in docs))

    def rdb(self, name: str, namespace: str = DB_NAMESPACE) -> dict[str, Any]:
        return self.json("get", "rdb", name, "-n", namespace)

    def wait_ready(self, names: list[str], namespace: str = DB_NAMESPACE, timeout: float = 180) -> None:
        proc = self.kubectl("wait", "rdb", *names, "-n", namespace, "--for=condition=Ready", f"--timeout={int(timeout)}s",
                            check=False, timeout=timeout + 30)
        if proc.returncode != 0:
            states = {n: {k: v for k, v in self.rdb(n, namespace).get("status", {}).items()
                          if k in ("phase", "conditions", "build", "service")} for n in names}
            raise AssertionError(f"not Ready: {proc.stderr}\n{json.dumps(states, indent=1)[:6000]}\n"
                                 f"{self.describe_operator()}")

    # ---------------------------------------------------------------------------------- AWS

    def client(self, name: str) -> Any:
        if name not in self._clients:
            self._clients[name] = boto3.session.Session(
                aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION,
            ).client(name, endpoint_url=self.stack.emulator_url)
        return self._clients[name]

    def aws_of(self, name: str, namespace: str = DB_NAMESPACE) -> tuple[int, int]:
        """(builds, ECS services) that AWS holds for this database: the builds of its build inputs (one
        build per input set, shared by the fleet) and the services under its name (status.identity)."""
        st = self.rdb(name, namespace).get("status") or {}
        hashes = {b["inputHash"] for b in st.get("builds") or [] if b.get("inputHash")}
        service = (st.get("identity") or {}).get("serviceName")
        cb = self.client("codebuild")
        ids = cb.list_builds_for_project(projectName=self.stack.settings["REFLEX_CODEBUILD_PROJECT"])["ids"]
        builds = 0
        for start in range(0, len(ids), 100):
            for build in cb.batch_get_builds(ids=ids[start:start + 100])["builds"]:
                env = {e["name"]: e["value"] for e in build.get("environment", {}).get("environmentVariables", [])}
                builds += env.get("REFLEX_BUILD_HASH") in hashes
        ecs = self.client("ecs")
        arns = ecs.list_services(cluster=self.stack.settings["REFLEX_ECS_CLUSTER"], maxResults=100)["serviceArns"]
        services = sum(arn.rsplit("/", 1)[-1] == service for arn in arns)
        return builds, services

    def calls(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.stack.emulator_url}/_emulator/calls", timeout=10) as reply:
            return json.loads(reply.read())

    def mutating_calls(self) -> dict[str, int]:
        return {op: n for op, n in self.calls().items() if op.split(".", 1)[-1] in MUTATING}

    def service_ip(self, name: str, namespace: str) -> str:
        return self.json("get", "service", name, "-n", namespace)["spec"]["clusterIP"]


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[World]:
    reason = why_not()
    if reason:
        message = f"the cluster suite cannot run on this machine: {reason}"
        if os.environ.get("REFLEX_CLUSTER_TESTS") == "skip":
            pytest.skip(f"{message} (REFLEX_CLUSTER_TESTS=skip)")
        pytest.fail(f"{message}. It needs root, containerd, runc, the CNI plugins and writable cgroups "
                    "(`make cluster-tools`); REFLEX_CLUSTER_TESTS=skip skips it, saying so.", pytrace=False)
    workdir = tmp_path_factory.mktemp("cluster")
    log_path = workdir / "setup.log"
    log = open(log_path, "w")  # noqa: SIM115 - open for the session
    stack = ClusterStack(workdir, log=log)
    started = time.monotonic()
    try:
        stack.start()
    except Exception as exc:
        log.close()
        pytest.fail(f"the cluster did not start: {exc}\n(log: {log_path})", pytrace=False)
    try:
        helm = ensure_helm(log=log)
        values = chart_values(stack, namespace=DB_NAMESPACE)
        values_file = workdir / "values.yaml"
        values_file.write_text(yaml.safe_dump(values, sort_keys=False))
        w = World(stack=stack, helm=helm, workdir=workdir, values_file=values_file)
        w.kubectl("create", "namespace", DB_NAMESPACE)
        t = time.monotonic()
        w.helm_run("install", RELEASE, str(repo_root() / "charts" / "reflex-operator"), "-n", RELEASE_NAMESPACE,
                   "--create-namespace", "-f", str(values_file), "--wait", "--timeout=5m")
        stack.timings["helm install --wait"] = round(time.monotonic() - t, 1)
        stack.timings["total setup"] = round(time.monotonic() - started, 1)
        _report(request.config, f"\ncluster suite setup: {json.dumps(stack.timings)}")
        (workdir / "timings.json").write_text(json.dumps(stack.timings))
        yield w
    finally:
        stack.stop()
        log.close()
