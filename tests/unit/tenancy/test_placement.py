"""The placement rule (decide.placement) as tables: which cluster a new database goes to, when a
recorded one stays, adoption on the default cluster, and the wait when every cluster is full."""

from __future__ import annotations

import pytest

from reflex_operator.api.models import InstanceStatus, PlacementStatus, ReflexDatabaseStatus
from reflex_operator.api.reasons import NO_CLUSTER_CAPACITY
from reflex_operator.tenancy.placement import ClusterLoad, choose_cluster, holds_slot, place

AB = ("a", "b")
ABC = ("a", "b", "c")


@pytest.mark.parametrize(
    "clusters, quota, placed, refused, want",
    [
        (("a",), 5000, {}, (), "a"),  # one cluster, the single-cluster default
        (AB, 2, {}, (), "a"),  # a tie: list order
        (AB, 2, {"a": 1}, (), "b"),  # least loaded
        (AB, 2, {"a": 1, "b": 1}, (), "a"),  # tie again: list order
        (AB, 2, {"a": 2, "b": 1}, (), "b"),  # a is full
        (AB, 2, {"a": 2, "b": 2}, (), None),  # all full
        (("b", "a"), 2, {}, (), "b"),  # the list's order, not the names'
        (ABC, 10, {"a": 3, "b": 1, "c": 1}, (), "b"),  # a cluster added later fills first
        (AB, 2, {"a": 0, "b": 1}, ("a",), "b"),  # a refused the quota error: full by AWS's count
        (AB, 2, {"b": 2}, ("a",), None),  # refused and full: no room
        (AB, 2, {"a": 5, "old": 1}, (), "b"),  # over quota (settings lowered) is full; unlisted clusters never chosen
    ],
)
def test_choose_cluster(clusters, quota, placed, refused, want):
    load = ClusterLoad(clusters, clusters[0], quota, placed, frozenset(refused))
    assert choose_cluster(load) == want


def _status(cluster: str | None = None, instance: bool = False, in_settings: bool = True) -> ReflexDatabaseStatus:
    return ReflexDatabaseStatus(
        placement=PlacementStatus(cluster=cluster, in_settings=in_settings) if cluster else None,
        instance=InstanceStatus(ecs_service_arn="arn:svc") if instance else None,
    )


LOAD = ClusterLoad(AB, "a", 2, {"a": 1}, frozenset())
FULL = ClusterLoad(AB, "a", 2, {"a": 2, "b": 2}, frozenset())
B_REFUSED = ClusterLoad(AB, "a", 2, {"a": 2, "b": 1}, frozenset({"b"}))
SHORTENED = ClusterLoad(("b",), "a", 2, {"a": 1}, frozenset())


@pytest.mark.parametrize(
    "status, load, creates, exists, cluster, chosen, in_settings, stalled",
    [
        # A new database: placed only when its service is to be created, on the least loaded.
        (_status(), LOAD, False, False, None, False, None, False),
        (_status(), LOAD, True, False, "b", True, True, False),
        (_status(), FULL, True, False, None, False, None, True),  # waits: nothing created
        # Recorded: it stays, whatever the load or the list's order.
        (_status("a"), FULL, True, False, "a", False, True, False),
        (_status("a", instance=True), FULL, False, True, "a", False, True, False),
        (_status("b"), ClusterLoad(("b", "a"), "a", 2, {}, frozenset()), False, True, "b", False, True, False),
        # The recorded cluster left the settings: it stays, shown as not in the settings.
        (_status("a", instance=True), SHORTENED, False, True, "a", False, False, False),
        # Before placements were recorded: adopted on the default cluster, never moved.
        (_status(instance=True), SHORTENED, False, True, "a", False, False, False),
        (_status(), LOAD, True, True, "a", False, True, False),  # AWS has its service on the default cluster
        # The recorded cluster refused the service (quota) and AWS has nothing: placed again.
        (_status("b"), B_REFUSED, True, False, None, False, None, True),
        (_status("b"), ClusterLoad(AB, "a", 2, {"a": 1, "b": 1}, frozenset({"b"})), True, False, "a", True, True, False),
        # ... but never once its service exists there.
        (_status("b"), B_REFUSED, True, True, "b", False, True, False),
        (_status("b", instance=True), B_REFUSED, False, True, "b", False, True, False),
    ],
)
def test_place(status, load, creates, exists, cluster, chosen, in_settings, stalled):
    placed = place(status, load, creates, exists)
    assert placed.cluster == cluster
    assert placed.chosen is chosen
    assert (placed.placement.in_settings if placed.placement else None) == in_settings
    assert (placed.stall is not None) is stalled
    if stalled:
        reason, message = placed.stall
        assert reason == NO_CLUSTER_CAPACITY
        assert "a, b" in message and "2 services" in message


@pytest.mark.parametrize(
    "status, holds",
    [
        ({}, None),
        ({"placement": {"cluster": "b"}}, "b"),  # recorded, service not created yet: its slot is taken
        ({"placement": {"cluster": "b"}, "phase": "Running", "instance": {"ecsServiceArn": "x"}}, "b"),
        ({"phase": "Running", "instance": {"ecsServiceArn": "x"}}, "dflt"),  # adopted
        ({"placement": {"cluster": "b"}, "phase": "Terminated"}, None),  # runs nothing
        ({"placement": {"cluster": "b"}, "phase": "Terminating", "instance": {"ecsServiceArn": "x"}}, "b"),
    ],
)
def test_holds_slot(status, holds):
    assert holds_slot(status, "dflt") == holds
