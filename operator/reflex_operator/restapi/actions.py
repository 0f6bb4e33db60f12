"""An API action (the thirteen of ``allowedActions``) as the plugin's verb: the same merge patch,
refused with the same reason (``actions.verbs`` decides both; nothing is decided again here)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from reflex_operator.actions.verbs import change, spec_change, verb_of
from reflex_operator.api.models import GROUP, KIND, VERSION, Action, ReflexDatabaseSpec
from reflex_operator.restapi.models import CreateRequest, ReconfigureRequest, TargetStatus

__all__ = [
    "ACTION_VERBS", "CONFIG_FIELDS", "Resolution", "BatchResult", "config_spec", "create_body", "resolve", "resolve_reconfigure",
    "resolve_target",
]

Obj = dict[str, Any]

# Each API action (the seed's name, ``Action``'s value) and the verb that carries it out; delete
# has none (a DELETE of the resource, not a patch). Derived from the verbs' table, never restated.
ACTION_VERBS: dict[str, str | None] = {action.value: verb_of(action) for action in Action}


@dataclass(frozen=True)
class Resolution:
    """What to do: a merge patch (empty: nothing to change), delete the resource, or refuse."""

    patch: Obj
    delete: bool = False
    refused: str | None = None
    queued: str | None = None
    invalid: str | None = None  # the change would make an invalid spec (nothing is written)


def _delete(obj: Obj) -> Resolution:
    st = obj.get("status") or {}
    entry = (st.get("allowedActions") or {}).get("delete") or {}
    if obj.get("metadata", {}).get("deletionTimestamp"):
        return Resolution({}, refused="the database is being deleted")
    if entry and not entry.get("allowed", False):
        return Resolution({}, refused=entry.get("reason") or "delete is not allowed now")
    return Resolution({}, delete=True)


# The reconfigure body's fields (seed names) and where each goes in the spec.
CONFIG_FIELDS: dict[str, tuple[str, ...]] = {
    "instance_size": ("size",),
    "sync_mode": ("sync", "mode"),
    "sync_interval": ("sync", "intervalSeconds"),
    "log_level": ("logLevel",),
    "safety_net": ("safetyNet",),
}


def config_spec(config: ReconfigureRequest | CreateRequest, exclude: tuple[str, ...] = ()) -> Obj:
    """The spec fields a reconfigure (or create) body sets (camelCase, ``sync`` nested)."""
    spec: Obj = {}
    for name in sorted(set(config.model_fields_set) & set(CONFIG_FIELDS) - set(exclude)):
        *parents, leaf = CONFIG_FIELDS[name]
        node = spec
        for part in parents:
            node = node.setdefault(part, {})
        value = getattr(config, name)
        node[leaf] = value.value if hasattr(value, "value") else value
    return spec


def _merged(spec: Obj, change: Obj) -> Obj:
    return {**spec, **{k: ({**(spec.get(k) or {}), **v} if isinstance(v, dict) else v) for k, v in change.items()}}


def resolve_reconfigure(obj: Obj, config: ReconfigureRequest) -> Resolution:
    """reconfigure with a new configuration: the spec's merge patch, guarded by allowedActions'
    reconfigure (and resize when the size changes), refused when the resulting spec is invalid."""
    change = config_spec(config)
    try:
        ReflexDatabaseSpec.model_validate(_merged(obj.get("spec") or {}, change))
    except ValidationError as e:
        return Resolution({}, invalid=_invalid(e, "spec."))
    size_changes = "size" in change and change["size"] != (obj.get("spec") or {}).get("size")
    guards = (Action.RECONFIGURE, Action.RESIZE) if size_changes else (Action.RECONFIGURE,)
    p = spec_change(obj, change, guards)
    return Resolution(p.patch, refused=p.refused, queued=p.queued)


def _invalid(e: ValidationError, prefix: str) -> str:
    return "; ".join(f"{prefix}{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())


def create_body(req: CreateRequest) -> tuple[Obj, str | None]:
    """The ReflexDatabase a create body asks for (spec checked against the spec's validation), or
    why it is invalid."""
    source: Obj = {"secretRef": dict(req.source.secret_ref)}
    if req.source.schemas is not None:
        source["schemas"] = list(req.source.schemas)
    spec: Obj = {"source": source, **config_spec(req, exclude=("name", "namespace", "source", "labels"))}
    if req.server_version is not None:
        spec["serverVersion"] = req.server_version
    try:
        ReflexDatabaseSpec.model_validate(spec)
    except ValidationError as e:
        return {}, _invalid(e, "spec.")
    meta: Obj = {"name": req.name, "namespace": req.namespace, **({"labels": dict(req.labels)} if req.labels else {})}
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": meta, "spec": spec}, None


def resolve(action: str, obj: Obj, arg: str | None = None, token: str | None = None) -> Resolution:
    """``action`` on ``obj``; ``arg`` is the build id (redeploy) or size (resize). KeyError: unknown."""
    verb = ACTION_VERBS[action]
    if verb is None:
        return _delete(obj)
    p = change(verb, obj, arg, token or uuid.uuid4().hex)
    return Resolution(p.patch, refused=p.refused, queued=p.queued)


@dataclass(frozen=True)
class BatchResult:
    """What the batch PATCH did to one requested id: ``prior`` is its phase before (None: no such
    database the caller may read), ``changed`` whether the target was accepted and written, else
    ``error``/``message`` say why not (a refusal, or the API server's answer to the write)."""

    prior: str | None
    changed: bool = False
    error: str | None = None
    message: str | None = None


def resolve_target(target: TargetStatus, obj: Obj) -> Resolution:
    """The batch PATCH on one database: pause or resume, as the verbs decide."""
    return resolve("pause" if target.pause else "resume", obj)
