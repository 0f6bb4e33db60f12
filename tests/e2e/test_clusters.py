"""Several ECS clusters against the real stack. Two clusters at a quota of 2 services each: four
databases spread 2/2 (least loaded with room, ties by list order), a fifth waits
NoClusterCapacity with nothing created for it and goes Ready after a deletion frees a slot; a
restart with the list reordered, then shortened, moves nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.helpers import apply, manifest, patch, status

pytestmark = pytest.mark.e2e

CLUSTERS = ["reflex", "reflex-2"]


def _placed(obj: dict[str, Any]) -> str | None:
    return (status(obj).get("placement") or {}).get("cluster")


def _stalled(obj: dict[str, Any]) -> str | None:
    c = next((c for c in status(obj).get("conditions", []) if c["type"] == "Stalled"), {})
    return c.get("reason") if c.get("status") == "True" else None


def _services(aws: Any) -> dict[str, str]:
    """ACTIVE service name -> its cluster, as the emulator holds them."""
    return {s["name"]: s["cluster"] for s in aws.emulator.services()["services"] if s["status"] == "ACTIVE"}


def test_two_clusters_at_quota_two(operator, kube, aws, simulator, namespace):
    aws.ecs.create_cluster(clusterName="reflex-2")
    aws.emulator.config(services_per_cluster=2)
    operator.stop()
    operator.start(REFLEX_ECS_CLUSTERS=json.dumps(CLUSTERS), REFLEX_ECS_SERVICES_PER_CLUSTER="2")

    # Least loaded with room, ties by list order: reflex, reflex-2, reflex.
    for name in ("db-a", "db-b", "db-c"):
        apply(kube, namespace, manifest(name))
        operator.wait_ready(name, timeout=120)
    placed = {n: _placed(operator.rdb(n)) for n in ("db-a", "db-b", "db-c")}
    assert placed == {"db-a": "reflex", "db-b": "reflex-2", "db-c": "reflex"}
    held = _services(aws)
    assert sorted(held.values()) == ["reflex", "reflex", "reflex-2"]

    # Fill reflex-2, then a fifth waits: nothing created for it.
    apply(kube, namespace, manifest("db-d"))
    operator.wait_ready("db-d", timeout=120)
    assert _placed(operator.rdb("db-d")) == "reflex-2"
    apply(kube, namespace, manifest("db-e"))
    obj = operator.wait("db-e", lambda o: _stalled(o) == "NoClusterCapacity", timeout=120, what="NoClusterCapacity")
    assert status(obj)["phase"] == "Pending" and _placed(obj) is None
    assert "quota of 2 services" in status(obj)["message"]
    assert len(_services(aws)) == 4

    # A deletion frees a slot: the waiting one is created there and goes Ready.
    kube.kubectl("delete", "rdb", "db-b", "-n", namespace, "--wait=true", "--timeout=60s")
    obj = operator.wait_ready("db-e", timeout=120)
    assert _placed(obj) == "reflex-2"

    # Restart with the list reordered, then shortened: nothing moves, every call on the recorded cluster.
    before = _services(aws)
    for clusters in (["reflex-2", "reflex"], ["reflex-2"]):
        operator.stop()
        operator.start(REFLEX_ECS_CLUSTERS=json.dumps(clusters), REFLEX_ECS_SERVICES_PER_CLUSTER="2")
        patch(kube, namespace, "db-a", {"paused": True})
        obj = operator.wait("db-a", lambda o: status(o).get("phase") == "Paused", timeout=90, what="db-a paused")
        assert _placed(obj) == "reflex"
        patch(kube, namespace, "db-a", {"paused": False})
        operator.wait_ready("db-a", timeout=90)
        assert _services(aws) == before
    obj = operator.rdb("db-a")
    assert status(obj)["placement"] == {"cluster": "reflex", "inSettings": False}
    assert operator.event_reasons("db-a").count("ClusterNotInSettings") == 1
