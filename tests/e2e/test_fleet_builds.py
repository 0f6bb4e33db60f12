"""One build per distinct set of build inputs across the whole fleet (issue 23): databases in any
namespace with the same inputs share one CodeBuild build, a rebuildToken makes one more for the
database that asks, a new default server version makes one build for the fleet, a failed shared
build is reported on every database that waits for it, and a fleet whose Kubernetes records are
gone finds its builds again in CodeBuild instead of starting new ones.

Each test's operator is an installation of its own (REFLEX_CLUSTER_IDENTITY is its namespace), so
the emulator's shared CodeBuild project is told apart by that variable on the builds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reflex_dev._proc import wait_until
from tests.e2e.helpers import apply, build_env, installation_builds, manifest, patch, status
from tests.fixtures.operator import Operator

pytestmark = pytest.mark.e2e

APP = "reflex-operator"  # the operator's calls, as the emulator counts them by client


def _builds(aws: Any, identity: str) -> list[dict[str, Any]]:
    """The project's builds of one installation, newest first: id and environment."""
    return [{"id": b["id"], **build_env(b)} for b in installation_builds(aws, identity)]


def _reflex_builds(kube: Any, identity: str) -> list[dict[str, Any]]:
    items = json.loads(kube.kubectl("get", "reflexbuilds", "-o", "json").stdout)["items"]
    return [b for b in items if b["spec"]["clusterIdentity"] == identity]


def _view(operator: Operator, namespace: str, workdir: Path) -> Operator:
    """The helpers (rdb, wait) for another namespace the running operator watches."""
    workdir.mkdir(exist_ok=True)
    return Operator(kube=operator.kube, aws=operator.aws, simulator=operator.simulator, namespace=namespace, workdir=workdir)


def _two_namespaces(operator: Operator, kube: Any, namespace: str, tmp_path: Path) -> Operator:
    """A second namespace, and this test's operator watching both (a namespace pattern)."""
    other = f"{namespace}-b"
    kube.kubectl("create", "namespace", other)
    operator.stop()
    operator.start(REFLEX_NAMESPACE=f"{namespace}*")
    return _view(operator, other, tmp_path / "b")


def _shared_build(obj: dict[str, Any]) -> str:
    latest = status(obj)["builds"][0]
    assert latest.get("shared") is True, latest
    return str(latest["codebuildId"])


def test_databases_in_two_namespaces_share_one_build_and_a_rebuild_token_makes_one_more(
    operator, kube, aws, simulator, namespace, tmp_path
):
    other = _two_namespaces(operator, kube, namespace, tmp_path)
    try:
        for ns, name in ((namespace, "orders"), (namespace, "users"), (other.namespace, "orders")):
            apply(kube, ns, manifest(name))
        ready = [operator.wait_ready("orders", 90), operator.wait_ready("users", 90), other.wait_ready("orders", 90)]
        assert len({_shared_build(o) for o in ready}) == 1
        assert len(_builds(aws, namespace)) == 1
        # Users see the fleet's build, who uses it and its cost.
        (record,) = wait_until(lambda: _counted(kube, namespace, 3), 30, interval=0.2, what="ReflexBuild used by 3")
        assert sorted(record["status"]["usedBy"]) == sorted([f"{namespace}/orders", f"{namespace}/users", f"{other.namespace}/orders"])
        assert record["status"]["codebuildId"] == _shared_build(ready[0]) and record["status"]["state"] == "succeeded"
        assert record["status"]["costEstimateCents"] >= 1 and record["spec"]["serverVersion"] == "v1.4.0"
        table = kube.kubectl("get", "reflexbuilds", record["metadata"]["name"]).stdout
        assert "DATABASES" in table and "v1.4.0" in table

        # A rebuildToken: a fresh build of its own for the one database that asks; the others stay.
        patch(kube, namespace, "users", {"rebuildToken": "fresh-1"})
        users = operator.wait(
            "users", lambda o: status(o)["builds"][0].get("shared") is None and status(o).get("activeBuildId") == status(o)["builds"][0]["id"],
            timeout=90, what="users on a build of its own",
        )
        assert len(_builds(aws, namespace)) == 2
        private = next(b for b in _builds(aws, namespace) if b["id"] == status(users)["builds"][0]["codebuildId"])
        assert private["REFLEX_BUILD_OWNER"] == f"{namespace}/users"
        assert _shared_build(operator.rdb("orders") or {}) == _shared_build(other.rdb("orders") or {})
    finally:
        kube.kubectl("delete", "namespace", other.namespace, "--wait=false", "--ignore-not-found", check=False)


def _counted(kube: Any, identity: str, n: int) -> list[dict[str, Any]] | None:
    records = _reflex_builds(kube, identity)
    return records if len(records) == 1 and records[0].get("status", {}).get("databases") == n else None


def test_a_fleet_wide_new_default_server_version_makes_one_build(operator, kube, aws, simulator, namespace):
    names = ["a", "b", "c"]
    for name in names:
        apply(kube, namespace, manifest(name))
    first = {_shared_build(operator.wait_ready(n, 90)) for n in names}
    assert len(first) == 1 and len(_builds(aws, namespace)) == 1
    operator.stop()
    operator.start(REFLEX_DEFAULT_SERVER_VERSION="v1.5.0")
    moved = [
        operator.wait(n, lambda o: status(o)["builds"][0].get("serverVersion") == "v1.5.0" and status(o).get("phase") == "Running"
                      and status(o).get("activeBuildId") == status(o)["builds"][0]["id"], timeout=120, what=f"{n} on v1.5.0")
        for n in names
    ]
    assert len({_shared_build(o) for o in moved}) == 1
    builds = _builds(aws, namespace)
    assert len(builds) == 2 and sorted(b["REFLEX_SERVER_VERSION"] for b in builds) == ["v1.4.0", "v1.5.0"]


def test_a_failed_shared_build_is_reported_on_every_database_waiting_for_it(operator, kube, aws, simulator, namespace):
    aws.emulator.fault("build_fail", match={"env": {"REFLEX_CLUSTER_IDENTITY": namespace}}, count=1,
                       message="cargo build: error[E0425]: cannot find value `x`")
    names = ["a", "b", "c"]
    for name in names:
        apply(kube, namespace, manifest(name))
    failed = [operator.wait_phase(n, "Failed", 90) for n in names]
    (build,) = _builds(aws, namespace)
    for obj in failed:
        stalled = next(c for c in status(obj)["conditions"] if c["type"] == "Stalled")
        assert stalled["reason"] == "BuildFailed" and "E0425" in stalled["message"]
        assert build["id"].rsplit(":", 1)[-1] in stalled["message"]
    # One of them asks for a build of its own: only it recovers; the others keep the report.
    patch(kube, namespace, "a", {"rebuildToken": "retry-1"})
    operator.wait_ready("a", 90)
    assert all(operator.rdb(n)["status"]["phase"] == "Failed" for n in ("b", "c"))
    assert len(_builds(aws, namespace)) == 2


def test_a_fleet_whose_kubernetes_records_are_gone_finds_its_build_in_codebuild(operator, kube, aws, simulator, namespace):
    """As after a control plane rebuilt from nothing (AWS kept): no ReflexBuild, no status; the
    same manifests applied again start no build."""
    for name in ("a", "b"):
        apply(kube, namespace, manifest(name, spec={"deletionPolicy": "Retain"}))
    built = {_shared_build(operator.wait_ready(n, 90)) for n in ("a", "b")}
    assert len(built) == 1 and len(_builds(aws, namespace)) == 1
    operator.stop()
    kube.kubectl("delete", "rdb", "--all", "-n", namespace, "--wait=false")
    for record in _reflex_builds(kube, namespace):
        kube.kubectl("delete", "reflexbuild", record["metadata"]["name"])
    operator.start()  # finalizers released (Retain); no ReflexBuild of this installation: one look over the project
    wait_until(lambda: all(operator.rdb(n) is None for n in ("a", "b")), 60, interval=0.2, what="the databases gone")
    aws.emulator.reset_calls()
    for name in ("a", "b"):
        apply(kube, namespace, manifest(name, spec={"deletionPolicy": "Retain"}))
    again = {_shared_build(operator.wait(n, lambda o: bool(status(o).get("builds")), timeout=90, what=f"{n} adopts")) for n in ("a", "b")}
    assert again == built and len(_builds(aws, namespace)) == 1
    assert "codebuild.StartBuild" not in _operator_calls(aws), _operator_calls(aws)


def _operator_calls(aws: Any) -> dict[str, int]:
    return aws.emulator.control("GET", f"calls/by/{APP}")  # type: ignore[no-any-return]
