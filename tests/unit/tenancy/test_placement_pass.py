"""Placement through the real pass (the in-memory world): the cluster is recorded in status before
the service is created there, every ECS call goes to it, it never moves, and a database waits
(creating nothing) while every cluster is full."""

from __future__ import annotations

from dataclasses import replace

from reflex_operator.api.models import InstanceStatus, Phase, PlacementStatus
from reflex_operator.database import steps as s
from reflex_operator.api.reasons import CLUSTER_NOT_IN_SETTINGS, NO_CLUSTER_CAPACITY
from reflex_operator.database.inputs import Config
from reflex_operator.database.decide import decide
from tests.unit.world import World, observation, one_pass, resource, settle

KEY = ("team-a", "orders")


def _stalled(desired) -> str | None:
    c = next(c for c in desired.status.conditions if c.type == "Stalled")
    return c.reason if c.status == "True" else None


def _deploys(world: World) -> list:
    return [c for c in world.calls if isinstance(c, s.Deploy)]


def test_a_new_database_goes_to_the_least_loaded_cluster_and_stays():
    world = World(clusters=("a", "b"), services_per_cluster=2)
    world.runtime().placements.hold(("other", "one"), "a")
    desired, last = settle(world, resource())
    assert desired.status.placement == PlacementStatus(cluster="b", in_settings=True)
    assert last.phase is Phase.RUNNING and world.create_service_calls == 1
    # Before it is placed, its first look asks the default cluster (where an unrecorded database
    # would be adopted); from its placement on, every ECS call goes to b.
    asked = [c for c in world.clusters_asked if c is not None]
    assert set(asked[asked.index("b") :]) == {"b"}
    # Later passes, with b now the more loaded one, keep it there.
    world.runtime().placements.forget(("other", "one"))
    world.clusters_asked.clear()
    desired, _ = one_pass(world, replace(desired, spec=desired.spec.model_copy(update={"paused": True})))
    assert desired.status.placement.cluster == "b"
    assert set(world.clusters_asked) == {"b"}


def test_the_placement_is_written_before_the_service_is_created():
    world = World(clusters=("a", "b"))
    desired = resource()
    for _ in range(10):  # up to the pass that creates the service
        steps = decide(desired, observation(world, desired), Config(), world.now).steps
        if any(isinstance(x, s.Deploy) for x in steps):
            break
        desired, _ = one_pass(world, desired)
        world.tick()
    kinds = [type(x) for x in steps]
    assert kinds.index(s.RecordPlacement) < kinds.index(s.Deploy)
    # The operator dies at that write: nothing is created in AWS.
    after, _ = one_pass(world, desired, crash="all")
    assert world.create_service_calls == 0 and after.status.placement is None
    desired, last = settle(world, after)
    assert last.phase is Phase.RUNNING and world.create_service_calls == 1


def test_every_cluster_full_waits_without_creating_anything_then_proceeds():
    world = World(clusters=("a", "b"), services_per_cluster=1)
    rt = world.runtime()
    rt.placements.hold(("other", "one"), "a")
    rt.placements.hold(("other", "two"), "b")
    desired = resource()
    for _ in range(10):  # up to the pass that would create the service
        desired, _ = one_pass(world, desired)
        if desired.status.phase is Phase.PENDING and _stalled(desired) == NO_CLUSTER_CAPACITY:
            break
        world.tick()
    assert desired.status.phase is Phase.PENDING
    assert _stalled(desired) == NO_CLUSTER_CAPACITY
    desired, waited = one_pass(world, desired)  # still no room: it keeps waiting, asking nothing
    assert _stalled(desired) == NO_CLUSTER_CAPACITY and not _deploys(world)
    assert "a, b" in desired.status.message and "1 services" in desired.status.message
    assert desired.status.placement is None and world.create_service_calls == 0
    assert KEY in rt.placements.waiting
    rt.placements.forget(("other", "two"))
    desired, last = settle(world, desired)
    assert last.phase is Phase.RUNNING and desired.status.placement.cluster == "b"


def test_a_cluster_that_refuses_the_service_is_left_for_one_with_room():
    world = World(clusters=("a", "b"), full_clusters={"a"})
    desired, last = settle(world, resource())
    assert last.phase is Phase.RUNNING
    assert desired.status.placement.cluster == "b" and world.create_service_calls == 1
    assert [c for c in world.clusters_asked if c == "a"]  # it was tried there, and refused


def test_a_cluster_removed_from_the_settings_keeps_its_databases_with_a_warning():
    world = World(clusters=("a", "b"))
    desired, _ = settle(world, resource())
    assert desired.status.placement.cluster == "a"
    world.rt = None
    world.clusters = ("b",)  # the operator restarted with a shorter list
    world.events.clear()
    world.clusters_asked.clear()
    desired, _ = settle(world, replace(desired, spec=desired.spec.model_copy(update={"paused": True})))
    assert desired.status.placement == PlacementStatus(cluster="a", in_settings=False)
    assert desired.status.phase is Phase.PAUSED
    assert set(world.clusters_asked) == {"a"}
    warnings = [e for e in world.events if e.reason == CLUSTER_NOT_IN_SETTINGS]
    assert len(warnings) == 1 and warnings[0].warning and "a" in warnings[0].message


def test_a_database_from_before_placements_is_adopted_on_the_default_cluster():
    world = World(clusters=("a",))
    desired, _ = settle(world, resource())
    # As written before this change: an instance, no placement.
    old = replace(desired, status=desired.status.model_copy(update={"placement": None}))
    assert isinstance(old.status.instance, InstanceStatus)
    world.rt = None
    world.clusters, world.default_cluster = ("b", "c"), "a"  # REFLEX_ECS_CLUSTER=a, new ones on b, c
    world.clusters_asked.clear()
    desired, _ = one_pass(world, replace(old, spec=old.spec.model_copy(update={"paused": True})))
    assert desired.status.placement == PlacementStatus(cluster="a", in_settings=False)
    assert set(world.clusters_asked) == {"a"}


def test_a_refused_create_is_placed_again_recorded_and_queued_at_once():
    world = World(clusters=("a", "b"), full_clusters={"a"})
    desired = resource()
    for _ in range(10):  # up to the pass that tries to create the service (on a, the first listed)
        desired, p = one_pass(world, desired)
        if any(isinstance(x, s.Deploy) for x in p.steps):
            break
        world.tick()
    assert world.create_service_calls == 0 and world.clusters_asked[-1] == "a"
    # Nothing was created; the pass re-placed it on b, wrote that, and queued it for the create.
    assert desired.status.placement == PlacementStatus(cluster="b", in_settings=True)
    assert KEY in world.runtime().queue._pending
    desired, p = one_pass(world, desired)
    assert world.create_service_calls == 1 and world.clusters_asked[-1] == "b"
    assert not any(isinstance(x, s.RecordPlacement) for x in p.steps)  # recorded already: not again


def test_the_pass_that_creates_the_service_writes_twice_placement_first():
    world = World(clusters=("a", "b"))
    d = resource()
    for _ in range(10):
        writes = world.kube.status_writes
        d, p = one_pass(world, d)
        if any(isinstance(x, s.Deploy) for x in p.steps):
            # One write before acting (the placement, as a build intent is written), one after.
            assert world.kube.status_writes - writes == 2 and d.status.placement.cluster == "a"
            break
        world.tick()
    else:
        raise AssertionError("no pass created the service")
