"""What the operator has placed on each ECS cluster, kept current as statuses are seen and written
(so a placement costs no scan of the fleet), and the clusters that refused a service with the
services-per-cluster quota error. The rule itself is pure, in ``reflex_operator.tenancy.placement``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from reflex_operator.api.reasons import NO_CLUSTER_CAPACITY, stalled_for
from reflex_operator.tenancy.placement import ClusterLoad, holds_slot
from reflex_operator.api.common import Key

__all__ = ["Placements", "REFUSED_SECONDS"]

# A cluster that answered CreateService with the quota error counts as full this long (or until
# the operator deletes a service there), then is tried again: room made outside the operator.
REFUSED_SECONDS = 60.0


class Placements:
    """Per-cluster counts of the databases holding a service slot, and who waits for room."""

    def __init__(self, clusters: tuple[str, ...], default: str, quota: int) -> None:
        self.clusters, self.default, self.quota = clusters, default, quota
        self.of: dict[Key, str] = {}
        self.counts: Counter[str] = Counter()
        self.waiting: set[Key] = set()
        self.refused: dict[str, float] = {}

    def note(self, key: Key, status: Mapping[str, Any]) -> str | None:
        """A status seen on the watch or written by a pass; returns the cluster where it freed a slot."""
        freed = self._set(key, holds_slot(status, self.default))
        if _waits_for_room(status):
            self.waiting.add(key)
        else:
            self.waiting.discard(key)
        return freed

    def hold(self, key: Key, cluster: str) -> None:
        """A placement chosen by a pass, before its status write is seen."""
        self._set(key, cluster)
        self.waiting.discard(key)

    def forget(self, key: Key) -> str | None:
        """The database is gone; returns the cluster where it freed a slot."""
        self.waiting.discard(key)
        return self._set(key, None)

    def refuse(self, cluster: str, now: float) -> None:
        self.refused[cluster] = now

    def freed(self, cluster: str) -> Iterator[Key]:
        """A service slot was freed on this cluster: it may be tried again; returns who waits."""
        self.refused.pop(cluster, None)
        return iter(sorted(self.waiting))

    def load(self, now: float) -> ClusterLoad:
        for cluster, since in list(self.refused.items()):
            if now - since >= REFUSED_SECONDS:
                del self.refused[cluster]
        return ClusterLoad(self.clusters, self.default, self.quota, dict(self.counts), frozenset(self.refused))

    def _set(self, key: Key, cluster: str | None) -> str | None:
        before = self.of.get(key)
        if before == cluster:
            return None
        if before is not None:
            self.counts[before] -= 1
            if self.counts[before] <= 0:
                del self.counts[before]
            del self.of[key]
        if cluster is not None:
            self.of[key] = cluster
            self.counts[cluster] += 1
        return before


def _waits_for_room(status: Mapping[str, Any]) -> bool:
    return stalled_for(status.get("conditions"), NO_CLUSTER_CAPACITY)
