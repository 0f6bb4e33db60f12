"""Which ECS cluster a database's service lives on; pure.

A database is placed once, when its service is first created, and the choice is recorded in
``status.placement`` before ``CreateService`` (so a crash between the two cannot place it twice).
Once recorded it never moves: a cluster removed from the settings keeps serving its databases
(``placement.inSettings`` turns false, with a Warning event). A database whose status shows an
instance but no placement (made before clusters were recorded) is adopted on the default cluster.

The rule for a new database: the **least loaded cluster with room, ties by list order**. Spreading
keeps the clusters equally far from their quota (so "all full" is the only wait, and a cluster
added to the list takes the next databases until it catches up), and keeps the share of the fleet
that any one cluster's trouble touches small. Load is what the operator has placed, counted from
every database it knows (a placement it made but has not seen written yet included), against the
services-per-cluster quota; a cluster that refused a CreateService with the quota error counts as
full until room is made there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reflex_operator.api.models import Phase, PlacementStatus, ReflexDatabaseStatus
from reflex_operator.api.reasons import NO_CLUSTER_CAPACITY, Note

__all__ = ["ClusterLoad", "Placed", "choose_cluster", "holds_slot", "place", "recorded_cluster"]



@dataclass(frozen=True)
class ClusterLoad:
    """What a placement depends on: the clusters in the settings (in order), the default one (the
    single-cluster setting, where unrecorded databases are adopted), the quota, the services the
    operator has placed per cluster, and the clusters that refused a service with the quota error."""

    clusters: tuple[str, ...]
    default: str
    quota: int
    placed: Mapping[str, int] = field(default_factory=dict)
    refused: frozenset[str] = frozenset()

    def room(self, cluster: str) -> int:
        if cluster in self.refused:
            return 0
        return max(0, self.quota - self.placed.get(cluster, 0))


@dataclass(frozen=True)
class Placed:
    """A pass's placement: the cluster (None: not placed, no room), whether it is chosen now
    (then recorded before the service is created), and the blocker when there is no room."""

    placement: PlacementStatus | None
    chosen: bool = False
    stall: Note | None = None

    @property
    def cluster(self) -> str | None:
        return self.placement.cluster if self.placement is not None else None


def choose_cluster(load: ClusterLoad) -> str | None:
    """The least loaded cluster with room, ties by list order; None when all are full."""
    best: str | None = None
    for cluster in load.clusters:
        if load.room(cluster) <= 0:
            continue
        if best is None or load.placed.get(cluster, 0) < load.placed.get(best, 0):
            best = cluster
    return best


def place(status: ReflexDatabaseStatus, load: ClusterLoad, creates: bool, exists: bool) -> Placed:
    """The placement of one database. ``creates``: this pass would create its service; ``exists``:
    AWS has its service (live or draining) on the recorded (or default) cluster."""
    before = status.placement
    if before is not None and (exists or status.instance is not None or before.cluster not in load.refused or not creates):
        return Placed(_listed(before.cluster, load))
    if before is None and (exists or status.instance is not None):
        return Placed(_listed(load.default, load))  # made before placements were recorded: adopted, never moved
    if not creates:
        return Placed(before)  # nothing to create yet: placed when it is
    cluster = choose_cluster(load)
    if cluster is None:
        names = ", ".join(load.clusters)
        message = f"every ECS cluster is at its quota of {load.quota} services ({names}); waiting for room"
        return Placed(None, stall=(NO_CLUSTER_CAPACITY, message))
    return Placed(_listed(cluster, load), chosen=True)


def _listed(cluster: str, load: ClusterLoad) -> PlacementStatus:
    return PlacementStatus(cluster=cluster, in_settings=cluster in load.clusters)


def recorded_cluster(status: Mapping[str, Any]) -> str | None:
    """The cluster recorded in a status as written (a dict, read cheaply for every database)."""
    placement = status.get("placement") or {}
    cluster = placement.get("cluster")
    return str(cluster) if cluster else None


def holds_slot(status: Mapping[str, Any], default: str) -> str | None:
    """The cluster whose quota this database's service counts against (None: it holds none): a
    recorded placement, or an instance adopted on the default cluster; a terminated database that
    runs nothing holds none."""
    cluster = recorded_cluster(status)
    if cluster is None and status.get("instance"):
        cluster = default
    if cluster is None or (status.get("phase") == Phase.TERMINATED.value and not status.get("instance")):
        return None
    return cluster
