"""The leader's side of fleet rollouts: each round (the poller's full round, on the replica that
leads the installation), gather where every database stands in its rollout from the statuses
held, make the ReflexRollout of a target that databases wait for, run the planner
(``fleet.rollout``) and write what it decided into the rollout's status *before* any database acts
on it (the watch and ``triggers.wave_advanced`` then give the admitted databases a pass). The
decision is pure; this module only reads the registry and writes the Kubernetes API."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from reflex_operator.api.common import GROUP, VERSION
from reflex_operator.api.rollout import (
    ROLLOUT_KIND,
    ROLLOUT_SCOPE_LABEL,
    MemberState,
    ReflexRolloutSpec,
    ReflexRolloutStatus,
    RolloutMember,
    rollout_name,
)
from reflex_operator.controller import triggers
from reflex_operator.controller.runtime import Runtime
from reflex_operator.database import steps as s
from reflex_operator.fleet.cache import scope_label
from reflex_operator.fleet.rollout import plan_rollout
from reflex_operator.ports import Conflict

__all__ = ["members_of", "publish_rollouts", "rollout_body"]

log = logging.getLogger("reflex_operator.rollouts")


def members_of(rt: Runtime) -> dict[str, dict[str, RolloutMember]]:
    """Rollout name → namespace/name → the database's ``status.rollout``."""
    out: dict[str, dict[str, RolloutMember]] = {}
    for (namespace, name), entry in list(rt.resources.items()):
        member = entry.rollout()
        if member is not None:
            out.setdefault(member.name, {})[f"{namespace}/{name}"] = member
    return out


def rollout_body(name: str, server_version: str, scope: str | None, template: str | None = None) -> dict[str, Any]:
    """A new ReflexRollout (its pace from the settings unless a user sets it in its spec); with
    ``template``, the move to the operator's new template on that version."""
    spec = ReflexRolloutSpec(server_version=server_version, template=template)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": ROLLOUT_KIND,
        "metadata": {"name": name, "labels": {ROLLOUT_SCOPE_LABEL: scope_label(scope)}},
        "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


async def publish_rollouts(rt: Runtime, now: datetime) -> None:
    """One round of every rollout of this installation; a failed write is tried again next round."""
    if not rt.config.rollout_waves:
        return
    default, template = rt.config.default_server_version, rt.config.deploy_template
    scope = rt.config.rollout_scope
    groups = members_of(rt)
    wanted = [(rollout_name(default, scope), None)]
    if template is not None:
        wanted.append((rollout_name(default, scope, template), template))
    for name, mark in wanted:
        if name in rt.rollouts.rollouts or not any(m.state is MemberState.HELD for m in groups.get(name, {}).values()):
            continue
        try:
            created = await rt.kube.create_rollout(rollout_body(name, default, scope, mark))
        except Exception as exc:  # noqa: BLE001 - made next round
            log.warning("could not create ReflexRollout %s: %s", name, exc)
            return
        what = f"the operator's template {mark} on {default}" if mark else default
        log.info("ReflexRollout %s created: databases wait to move to %s", name, what)
        _seen(rt, created)
    for name, known in list(rt.rollouts.rollouts.items()):
        plan = plan_rollout(
            name, known.spec, known.status, groups.get(name, {}), rt.settings.rollout_pace(), default, now, known.generation, template
        )
        rt.metrics.observe_rollout(name, plan.status)
        if plan.status.wire() == known.status.wire():
            continue
        try:
            written = await rt.kube.patch_rollout_status(name, plan.status.wire(), known.version)
        except Conflict:
            log.info("ReflexRollout %s changed while its next step was decided: decided again next round", name)
            continue
        except Exception as exc:  # noqa: BLE001 - decided again next round, from what is recorded
            log.warning("could not write the status of ReflexRollout %s: %s", name, exc)
            continue
        if written is None:
            continue  # deleted meanwhile
        if plan.admitted:
            log.info("ReflexRollout %s: wave %s admits %s", name, plan.status.wave, ", ".join(plan.admitted))
        _seen(rt, written)
        head = {"apiVersion": f"{GROUP}/{VERSION}", "kind": ROLLOUT_KIND, "metadata": written["metadata"]}
        rt.post(head, [s.Event(reason, message, warning) for reason, message, warning in plan.events])


def _seen(rt: Runtime, body: dict[str, Any]) -> None:
    """Keep what was written (the watch brings it too) and wake whom it admits."""
    admitted, phase_changed = rt.rollouts.seen(body, own=True)
    triggers.wave_advanced(rt, body["metadata"]["name"], admitted, phase_changed)
