"""The operator as pods, installed with ``helm install`` as shipped, on a real one-node cluster.

One cluster and one release for the whole suite (``conftest.world``); the tests run in file order
and each leaves the release as it found it: two Ready replicas, one leading.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.cluster.conftest import FULLNAME, RELEASE_NAMESPACE, World

# The first test bears the suite's setup: the image's build (minutes when its inputs changed, more
# when it waits for test_image.py's build to finish), the cluster's start and helm install.
pytestmark = [pytest.mark.e2e, pytest.mark.cluster, pytest.mark.timeout(2400)]


def test_operator_pods_become_ready_through_their_probes_and_one_leads(world: World) -> None:
    names = world.wait_ready_pods(2)
    leader = world.wait_leader()
    assert leader in names
    for name in names:
        pod = world.json("get", "pod", name, "-n", RELEASE_NAMESPACE)
        spec = pod["spec"]
        (container,) = spec["containers"]
        # As shipped: non-root, read-only root filesystem, probes on kopf's /healthz, the token mounted.
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 65532
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
        assert any(v.get("projected") for v in spec["volumes"]), "no ServiceAccount token volume"
        assert spec["serviceAccountName"] == FULLNAME
        status = pod["status"]["containerStatuses"][0]
        assert status["ready"] is True and status["restartCount"] == 0, status
    pdb = world.json("get", "pdb", FULLNAME, "-n", RELEASE_NAMESPACE)
    assert pdb["status"]["currentHealthy"] == 2 and pdb["status"]["disruptionsAllowed"] == 1, pdb["status"]


def test_a_database_goes_ready_with_one_build_and_one_service(world: World) -> None:
    world.create_database("first")
    world.wait_ready(["first"])
    assert world.aws_of("first") == (1, 1)


def test_the_metrics_service_answers_a_scrape(world: World) -> None:
    ip = world.service_ip(f"{FULLNAME}-metrics", RELEASE_NAMESPACE)
    with urllib.request.urlopen(f"http://{ip}:9090/metrics", timeout=10) as reply:
        text = reply.read().decode()
    assert "reflex_operator_leader" in text


def _health_checked(world: World, name: str) -> str:
    return ((world.rdb(name).get("status") or {}).get("instance") or {}).get("lastHealthCheck") or ""


def _acting_after(world: World, name: str, timeout: float = 90) -> None:
    """Wait until the leader has acted on ``name`` since now: its health figures are rewritten
    every few seconds (statusRefreshSeconds) by the replica that leads, and only by it."""
    before = _health_checked(world, name)
    world_wait(lambda: _health_checked(world, name) > before, timeout, f"the leader to act on {name}")


def world_wait(predicate, timeout: float, what: str) -> None:
    from reflex_dev._proc import wait_until

    wait_until(predicate, timeout, interval=0.5, what=what)


def test_deleting_the_leader_pod_hands_over_with_no_aws_duplicate(world: World) -> None:
    world.wait_ready_pods(2)
    leader = world.wait_leader()
    mutating = world.mutating_calls()
    world.kubectl("delete", "pod", leader, "-n", RELEASE_NAMESPACE, "--wait=true", timeout=180)
    new_leader = world.wait_leader(other_than=leader)
    _acting_after(world, "first")
    assert world.mutating_calls() == mutating, "the handover changed something in AWS"
    world.create_database("after-delete")
    world.wait_ready(["after-delete"])
    assert world.aws_of("first") == (1, 1)
    assert world.aws_of("after-delete") == (1, 1)
    assert new_leader in world.wait_ready_pods(2)


def test_draining_the_leaders_node_hands_over_within_the_pdb(world: World) -> None:
    """One node: it is cordoned and the leader evicted through the Eviction API (the
    PodDisruptionBudget allows it: 2 healthy, minAvailable 1); the other replica takes the Lease.
    ``kubectl drain`` then cannot evict the survivor while the evicted replica's successor cannot be
    scheduled (the node is cordoned): the budget keeps one replica acting. Uncordoned, the
    Deployment is whole again."""
    world.wait_ready_pods(2)
    leader = world.wait_leader()
    node = world.json("get", "pod", leader, "-n", RELEASE_NAMESPACE)["spec"]["nodeName"]
    mutating = world.mutating_calls()
    try:
        world.kubectl("cordon", node)
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction",
                    "metadata": {"name": leader, "namespace": RELEASE_NAMESPACE}}
        world.kubectl("create", "--raw", f"/api/v1/namespaces/{RELEASE_NAMESPACE}/pods/{leader}/eviction",
                      "-f", "-", input=json.dumps(eviction))
        survivor = world.wait_leader(other_than=leader)
        drain = world.kubectl("drain", node, "--pod-selector", "app.kubernetes.io/component=operator",
                              "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=20s", check=False, timeout=120)
        assert drain.returncode != 0, f"the drain evicted the last replica:\n{drain.stdout}\n{drain.stderr}"
        assert "disruption budget" in drain.stderr, drain.stderr
        assert world.ready_pods() == [survivor]
        _acting_after(world, "first")
        assert world.mutating_calls() == mutating, "the handover changed something in AWS"
        world.create_database("during-drain")
        world.wait_ready(["during-drain"])
    finally:
        world.kubectl("uncordon", node)
    world.wait_ready_pods(2)
    for name in ("first", "after-delete", "during-drain"):
        assert world.aws_of(name) == (1, 1), name


def _rollout(world: World) -> None:
    world.kubectl("rollout", "status", f"deployment/{FULLNAME}", "-n", RELEASE_NAMESPACE, "--timeout=240s", timeout=300)
    world.wait_ready_pods(2)


def test_rollout_restart_moves_nothing_in_aws(world: World) -> None:
    world.wait_ready_pods(2)
    before_pods = set(world.ready_pods())
    mutating = world.mutating_calls()
    world.kubectl("rollout", "restart", f"deployment/{FULLNAME}", "-n", RELEASE_NAMESPACE)
    _rollout(world)
    after_pods = set(world.wait_ready_pods(2))
    assert not before_pods & after_pods, "the restart left a pod in place"
    world.wait_leader()
    _acting_after(world, "first")
    assert world.mutating_calls() == mutating, "a rollout restart changed something in AWS"


def test_helm_upgrade_to_another_image_tag_moves_nothing_in_aws(world: World) -> None:
    assert world.stack.cluster is not None
    world.stack.cluster.tag_image("localhost/reflex-operator:test", "localhost/reflex-operator:test-upgrade")
    world.wait_ready_pods(2)
    mutating = world.mutating_calls()
    world.helm_run("upgrade", "ha", _chart(), "-n", RELEASE_NAMESPACE, "--reuse-values", "--set", "image.tag=test-upgrade", "--wait", "--timeout=5m")
    _rollout(world)
    images = {c["image"] for p in world.pods() for c in p["spec"]["containers"]}
    assert images == {"localhost/reflex-operator:test-upgrade"}, images
    world.wait_leader()
    _acting_after(world, "first")
    assert world.mutating_calls() == mutating, "an image upgrade changed something in AWS"


def _chart() -> str:
    from reflex_dev.controlplane import repo_root

    return str(repo_root() / "charts" / "reflex-operator")


def test_a_pod_killed_during_provisioning_leaves_one_build_and_one_service_each(world: World) -> None:
    """Chaos across pods: the leader is killed (no grace) while it provisions several databases."""
    world.wait_ready_pods(2)
    leader = world.wait_leader()
    names = [f"chaos-{i}" for i in range(4)]
    starts = world.calls().get("codebuild.StartBuild", 0)
    for name in names:
        # A server version of their own: builds are shared per input set, and this one must start.
        world.create_database(name, serverVersion="v1.4.0-chaos")
    world_wait(lambda: world.calls().get("codebuild.StartBuild", 0) > starts, 60, "a build to start")
    world.kubectl("delete", "pod", leader, "-n", RELEASE_NAMESPACE, "--grace-period=0", "--force", timeout=60)
    world.wait_leader(other_than=leader)
    world.wait_ready(names)
    for name in names:
        assert world.aws_of(name) == (1, 1), name
    world.wait_ready_pods(2)
