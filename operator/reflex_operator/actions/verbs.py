"""What each verb of ``kubectl reflex`` does to one database, decided without I/O: the merge patch
(the README cookbook's), whether ``status.allowedActions`` refuses it, and when the result is
reached (for ``--wait``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reflex_operator.api import reasons
from reflex_operator.api.models import NOTIFICATIONS_SEEN, Action, ReflexDatabaseStatus

__all__ = ["VERBS", "Verb", "verb_of", "Change", "Progress", "ack_change", "change", "spec_change", "progress"]

Obj = dict[str, Any]


@dataclass(frozen=True)
class Verb:
    """A verb: the action of the allowed-actions matrix that guards it, its help, its argument."""

    name: str
    action: Action | None
    help: str
    arg: str | None = None  # the name of its one argument after NAME (BUILD, SIZE)


VERBS: dict[str, Verb] = {
    v.name: v
    for v in (
        Verb("pause", Action.PAUSE, "scale the instance to zero (spec.paused=true)"),
        Verb("resume", Action.RESUME, "run the instance again (spec.paused=false)"),
        Verb("rebuild", Action.REBUILD, "build again with the same inputs (a new spec.rebuildToken)"),
        Verb("redeploy", Action.REDEPLOY, "run an earlier deployable build (spec.buildId)", arg="BUILD"),
        Verb("reload", Action.RELOAD, "reload the snapshot now (a new spec.reloadToken)"),
        Verb("restart", Action.RECONFIGURE, "rolling restart (a new spec.restartToken)"),
        Verb("resize", Action.RESIZE, "change the instance size (spec.size)", arg="SIZE"),
        Verb("terminate", Action.TERMINATE, "delete the instance, keep the record (spec.terminated=true)"),
        Verb("provision", Action.PROVISION, "bring a terminated instance back (spec.terminated=false)"),
        Verb("pause-replication", Action.PAUSE_REPLICATION, "stop refreshing the snapshot (spec.sync.paused=true)"),
        Verb("resume-replication", Action.RESUME_REPLICATION, "refresh the snapshot again (spec.sync.paused=false)"),
        Verb("cancel", Action.CANCEL_GOAL, "put the spec back to what is deployed (cancel-goal)"),
        Verb("check", None, "probe the server's health now (a new spec.healthCheckToken); status shows the result"),
    )
}


def verb_of(action: Action) -> str | None:
    """The verb that carries out ``action``; None: no verb (delete is a DELETE of the resource)."""
    return next((v.name for v in VERBS.values() if v.action is action), None)


@dataclass(frozen=True)
class Change:
    """What a verb does to one database: the merge patch (empty: nothing to change), or why it is
    refused; ``queued`` says why an allowed change waits; ``expect`` is what ``--wait`` waits for."""

    patch: Obj
    refused: str | None = None
    queued: str | None = None
    expect: str = ""
    check: Callable[[Obj], bool] | None = None


def _status(obj: Obj) -> ReflexDatabaseStatus:
    return ReflexDatabaseStatus.model_validate(obj.get("status") or {})


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _ready(obj: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in (obj.get("status") or {}).get("conditions", []))


def _phase_is(*phases: str) -> Callable[[Obj], bool]:
    return lambda o: _ready(o) and (o.get("status") or {}).get("phase") in phases


def _spec_patch(spec: Obj, change: Obj) -> Obj:
    """The part of ``change`` that differs from ``spec`` (nested one level, as sync is)."""
    out: Obj = {}
    for key, value in change.items():
        if isinstance(value, dict):
            inner = {k: v for k, v in value.items() if (spec.get(key) or {}).get(k) != v}
            if inner:
                out[key] = inner
        elif spec.get(key) != value:
            out[key] = value
    return {"spec": out} if out else {}


def _change(verb: str, obj: Obj, arg: str | None, token: str) -> tuple[Obj, str, Callable[[Obj], bool]]:
    """The spec change of a verb, what its result looks like, and a test for it."""
    st = lambda o: _status(o)  # noqa: E731
    match verb:
        case "pause":
            return {"paused": True}, "Paused", _phase_is("Paused")
        case "resume":
            return {"paused": False}, "Running", _phase_is("Running")
        case "provision":
            return {"terminated": False}, "Running (or Paused)", _phase_is("Running", "Paused")
        case "terminate":
            return {"terminated": True}, "Terminated", lambda o: (o.get("status") or {}).get("phase") == "Terminated"
        case "rebuild":
            return {"rebuildToken": token}, "rebuilt and Ready", lambda o: _ready(o) and (st(o).applied_tokens or _NO).rebuild == token
        case "reload":
            return {"reloadToken": token}, "reloaded", lambda o: (st(o).applied_tokens or _NO).reload == token
        case "restart":
            return {"restartToken": token}, "restarted and Ready", lambda o: _ready(o) and (st(o).applied_tokens or _NO).restart == token
        case "redeploy":
            return {"buildId": arg}, f"running build {arg}", lambda o: _ready(o) and st(o).active_build_id == arg
        case "resize":
            size_is = lambda o: st(o).deployed_config is not None and st(o).deployed_config.instance_size.value == arg  # noqa: E731
            return {"size": arg}, f"Ready at size {arg}", lambda o: _ready(o) and size_is(o)
        case "pause-replication" | "resume-replication":
            want = "paused" if verb == "pause-replication" else "running"
            replication = lambda o: st(o).instance is not None and getattr(st(o).instance.replication, "value", None) == want  # noqa: E731
            return {"sync": {"paused": want == "paused"}}, f"replication {want}", replication
        case "check":
            checked = lambda o: (st(o).applied_tokens or _NO).health_check == token and not _check_pending(o)  # noqa: E731
            return {"healthCheckToken": token}, "checked (status.instance.lastHealthCheck)", checked
        case "cancel":
            return _cancel(obj), "Ready with no pending changes", lambda o: _ready(o) and not st(o).has_pending_changes
    raise ValueError(f"unknown verb {verb!r}")


class _NoTokens:
    rebuild = reload = restart = health_check = None


def _check_pending(obj: Obj) -> bool:
    instance = _status(obj).instance
    return bool(instance and instance.health_check_pending)


_NO = _NoTokens()


def _cancel(obj: Obj) -> Obj:
    """cancel-goal: the spec put back to what is deployed (the README cookbook), the build inputs
    back to the active build's, and a rebuildToken not yet carried out dropped."""
    status, spec = _status(obj), _spec(obj)
    change: Obj = {}
    deployed = status.deployed_config
    if deployed is not None:
        change.update(
            size=deployed.instance_size.value,
            logLevel=deployed.log_level.value,
            safetyNet=deployed.safety_net,
            sync={"mode": deployed.sync_mode.value, "intervalSeconds": deployed.sync_interval},
        )
    active = next((b for b in status.builds if b.id == status.active_build_id), None)
    if active is not None and active.server_version:
        change["serverVersion"] = active.server_version
    if active is not None and active.schemas:
        change["source"] = {"schemas": list(active.schemas)}
    applied = (status.applied_tokens or _NO).rebuild
    if spec.get("rebuildToken") != applied:
        change["rebuildToken"] = applied
    return change


def _refusal(verb: Verb, obj: Obj, arg: str | None) -> str | None:
    status = _status(obj)
    if obj.get("metadata", {}).get("deletionTimestamp"):
        return "the database is being deleted"
    if verb.name == "redeploy":
        build = next((b for b in status.builds if b.id == arg), None)
        if build is None:
            return f"build {arg} is not in status.builds"
        if not build.deployable:
            return f"build {arg} is not deployable"
    if verb.action is not None and status.allowed_actions is not None:
        entry = status.allowed_actions.get(verb.action)
        if not entry.allowed:
            return entry.reason or f"{verb.action.value} is not allowed now"
    return None


def change(verb_name: str, obj: Obj, arg: str | None = None, token: str = "") -> Change:
    """What ``verb_name`` does to ``obj`` (the database as read); ``token`` is the value of a new
    one-shot token (rebuild, reload, restart)."""
    verb = VERBS[verb_name]
    change, expect, check = _change(verb_name, obj, arg, token)
    if (why := _refusal(verb, obj, arg)) is not None:
        return Change(patch={}, refused=why, expect=expect)
    status = _status(obj)
    entry = status.allowed_actions.get(verb.action) if verb.action and status.allowed_actions else None
    queued = entry.reason if entry is not None and entry.mode is not None and entry.mode.value == "queued" else None
    return Change(patch=_spec_patch(_spec(obj), change), queued=queued, expect=expect, check=check)


def spec_change(obj: Obj, spec: Obj, guards: tuple[Action, ...]) -> Change:
    """A change of spec fields (``spec``: camelCase, ``sync`` nested) that ``guards`` of
    allowedActions must all allow, refused as a verb is (the first refusing one says why)."""
    for action in guards:
        if (why := _refusal(Verb(action.value, action, ""), obj, None)) is not None:
            return Change(patch={}, refused=why)
    status = _status(obj)
    entries = [status.allowed_actions.get(a) for a in guards] if status.allowed_actions else []
    queued = next((e.reason for e in entries if e.mode is not None and e.mode.value == "queued"), None)
    return Change(patch=_spec_patch(_spec(obj), spec), queued=queued)


def ack_change(obj: Obj, now_text: str) -> Change:
    """``notifications --ack``: mark every notification up to now seen (an annotation, no status write)."""
    return Change(
        patch={"metadata": {"annotations": {NOTIFICATIONS_SEEN: now_text}}},
        expect="no unseen notifications",
        check=lambda o: (o.get("status") or {}).get("unseenCount", 0) == 0,
    )


@dataclass(frozen=True)
class Progress:
    """Where a database is on the way to a verb's result."""

    done: bool
    stalled: str | None = None


def progress(obj: Obj, generation: int, p: Change) -> Progress:
    """Whether ``obj`` reached ``p``'s result, once the operator has seen ``generation``; a queued
    change is done when it is seen (it waits on purpose). Stalled (for this generation) ends the wait."""
    status = obj.get("status") or {}
    if (status.get("observedGeneration") or 0) < generation:
        return Progress(False)
    stalled = reasons.stalled(status.get("conditions"))
    if p.queued is not None:
        return Progress(True)
    if p.check is not None and p.check(obj):
        return Progress(True)
    if stalled is not None:
        return Progress(False, stalled=f"{stalled.get('reason')}: {stalled.get('message', '')}")
    return Progress(False)
