"""The operator-wide cache of the ReflexRollouts, filled by their watch (and one listing at
startup) and by the leader's own writes: a database's pass reads its admission from here with no
API call. Only the rollouts of this installation's scope are kept (``ROLLOUT_SCOPE_LABEL``)."""

from __future__ import annotations

import logging
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


@dataclass
class RolloutCache:
    scope: str | None = None
    rollouts: dict[str, KnownRollout] = field(default_factory=dict)

    def seen(self, body: dict[str, Any], deleted: bool = False) -> tuple[set[str], bool]:
        """Keep a ReflexRollout; returns the databases (namespace/name) it admits that it did not
        before, and whether its phase changed (its held databases then show another note)."""
        meta = body["metadata"]
        name = meta["name"]
        if (meta.get("labels") or {}).get(ROLLOUT_SCOPE_LABEL) != scope_label(self.scope):
            return set(), False  # another installation's
        before = self.rollouts.get(name)
        if deleted:
            self.rollouts.pop(name, None)
            return set(), before is not None
        try:
            spec = ReflexRolloutSpec.model_validate(body.get("spec") or {})
            status = ReflexRolloutStatus.model_validate(body.get("status") or {})
        except ValidationError as exc:
            log.warning("ReflexRollout %s is invalid, ignored: %s", name, exc)
            return set(), False
        self.rollouts[name] = KnownRollout(name, spec, status, meta.get("generation"))
        old = {k for w in before.status.waves for k in w.databases} if before else set()
        new = {k for w in status.waves for k in w.databases}
        return new - old, before is None or before.status.phase != status.phase

    def admission(self, name: str, key: str) -> Admission | None:
        """The admission of database ``key`` by rollout ``name`` (None: no such rollout yet)."""
        known = self.rollouts.get(name)
        return admission_of(name, known.status, key) if known is not None else None
