"""The operator as pods, installed with ``helm install`` as shipped, on a real one-node cluster.

One cluster and one release for the whole suite (``conftest.world``); the tests run in file order
and each leaves the release as it found it: two Ready replicas, one leading.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.cluster.conftest import DB_NAMESPACE, FULLNAME, RELEASE_NAMESPACE, World

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


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
