"""Small helpers shared by the e2e tests."""

from __future__ import annotations

import json
from typing import Any

from reflex_dev.emulator import PROJECT

SECRET_URL = "postgres://reflex:s3cr3t-Pa55w0rd-e2e@db.internal:5432/orders"


def manifest(name: str, secret: str = "src", spec: dict[str, Any] | None = None, with_secret: bool = True) -> str:
    """A Secret and a ReflexDatabase, as JSON lines kubectl reads."""
    docs: list[dict[str, Any]] = []
    if with_secret:
        docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret}, "stringData": {"url": SECRET_URL}})
    body = {"source": {"secretRef": {"name": secret}}}
    body.update(spec or {})
    docs.append({"apiVersion": "reflexdb.cloud/v1alpha1", "kind": "ReflexDatabase", "metadata": {"name": name}, "spec": body})
    return "\n".join(json.dumps(d) for d in docs)


def apply(kube: Any, namespace: str, text: str) -> None:
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=text)


def patch(kube: Any, namespace: str, name: str, spec: dict[str, Any]) -> None:
    kube.kubectl("patch", "rdb", name, "-n", namespace, "--type=merge", "-p", json.dumps({"spec": spec}))


def status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status", {})


def action(obj: dict[str, Any], name: str) -> dict[str, Any]:
    return status(obj)["allowedActions"][name]


def plugin(kube: Any, namespace: str, *args: str, timeout: float = 180.0) -> Any:
    """``kubectl reflex ARGS -n NAMESPACE`` as a user runs it: kubectl finds the ``kubectl-reflex``
    console script on the PATH (the one installed beside this interpreter). Returns the completed
    process (text output captured, exit status not checked)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1"}
    env.pop("KUBECONFIG", None)
    cmd = [str(kube.kubectl_path), "reflex", *args, "-n", namespace, "--kubeconfig", str(kube.admin_kubeconfig)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def installation_builds(aws: Any, identity: str, project: str = PROJECT) -> list[dict[str, Any]]:
    """The CodeBuild project's builds of one installation (REFLEX_CLUSTER_IDENTITY; each test's
    operator is one: its namespace), newest first, as BatchGetBuilds answers them."""
    cb = aws.codebuild
    ids = cb.list_builds_for_project(projectName=project)["ids"]
    mine = []
    for start in range(0, len(ids), 100):
        for b in cb.batch_get_builds(ids=ids[start : start + 100])["builds"]:
            if build_env(b).get("REFLEX_CLUSTER_IDENTITY") == identity:
                mine.append(b)
    return mine


def build_env(build: dict[str, Any]) -> dict[str, Any]:
    """A CodeBuild build's environment variables, by name."""
    return {e["name"]: e.get("value") for e in build.get("environment", {}).get("environmentVariables", [])}
