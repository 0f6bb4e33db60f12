"""The operator-wide cache of the ReflexRollouts, filled by their watch (and one listing at
startup) and by the leader's own writes: a database's pass reads its admission from here with no
API call. Only the rollouts of this installation's scope are kept (``ROLLOUT_SCOPE_LABEL``)."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from reflex_operator.api.rollout import ROLLOUT_SCOPE_LABEL, ReflexRolloutSpec, ReflexRolloutStatus
from reflex_operator.fleet.rollout import Admission, admission_of

__all__ = ["KnownRollout", "RolloutCache", "scope_label"]

log = logging.getLogger("reflex_operator.rollouts")


def scope_label(scope: str | None) -> str:
    """The scope label's value: the watched namespace, or "cluster"."""
    return scope or "cluster"


@dataclass(frozen=True)
class KnownRollout:
    name: str
    spec: ReflexRolloutSpec
    status: ReflexRolloutStatus
    generation: int | None = None
    version: str | None = None  # the resourceVersion held: the leader's status write is made on it


@dataclass
class RolloutCache:
    """The rollouts, never older than what this replica wrote: after the leader's own status write
    (``own``), watch events are taken only from the one that carries the written resourceVersion
    on (events before it are older than the write; a newer spec, a higher generation, is taken with
    the written status). resourceVersions are only compared for equality; a listing is always taken."""

    scope: str | None = None
    rollouts: dict[str, KnownRollout] = field(default_factory=dict)
    _awaiting: dict[str, str] = field(default_factory=dict)  # name -> the resourceVersion of our write, not yet on the watch
    _delivered: dict[str, deque[str]] = field(default_factory=dict)  # name -> the last versions the watch delivered

    def seen(self, body: dict[str, Any], deleted: bool = False, own: bool = False, listing: bool = False) -> tuple[set[str], bool]:
        """Keep a ReflexRollout; returns the databases (namespace/name) it admits that it did not
        before, and whether its phase changed (its held databases then show another note)."""
        meta = body["metadata"]
        name = meta["name"]
        if (meta.get("labels") or {}).get(ROLLOUT_SCOPE_LABEL) != scope_label(self.scope):
            return set(), False  # another installation's
        before = self.rollouts.get(name)
        if deleted:
            self.rollouts.pop(name, None)
            self._awaiting.pop(name, None)
            self._delivered.pop(name, None)
            return set(), before is not None
        try:
            spec = ReflexRolloutSpec.model_validate(body.get("spec") or {})
            status = ReflexRolloutStatus.model_validate(body.get("status") or {})
        except ValidationError as exc:
            log.warning("ReflexRollout %s is invalid, ignored: %s", name, exc)
            return set(), False
        version, generation = meta.get("resourceVersion"), meta.get("generation")
        delivered = self._delivered.setdefault(name, deque(maxlen=8))
        if own:
            if version in delivered:
                return set(), False  # the watch already brought this version or a newer one
            self._awaiting[name] = version
        else:
            delivered.append(version)
            waiting_for = self._awaiting.get(name)
            if waiting_for is not None and not listing:
                if version == waiting_for:
                    del self._awaiting[name]
                elif before is not None and (generation or 0) > (before.generation or 0):
                    status = before.status  # a newer spec over the status written
                else:
                    return set(), False  # older than our write
            elif listing:
                self._awaiting.pop(name, None)
        self.rollouts[name] = KnownRollout(name, spec, status, generation, version)
        old = {k for w in before.status.waves for k in w.databases} if before else set()
        new = {k for w in status.waves for k in w.databases}
        return new - old, before is None or before.status.phase != status.phase

    def admission(self, name: str, key: str) -> Admission | None:
        """The admission of database ``key`` by rollout ``name`` (None: no such rollout yet)."""
        known = self.rollouts.get(name)
        return admission_of(name, known.status, key) if known is not None else None
