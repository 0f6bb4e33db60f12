"""The operator-wide plan caches, filled by the ReflexPlan and Namespace watches (and one listing
at startup): the plans, each namespace's plan label, and each namespace's data transfer this month.
A pass gathers its ``PlanFacts`` from here and from the registry of databases, with no API call.

``publish`` writes each ReflexPlan's status (per namespace: compute units used, bytes this month)
when it changed, and the plan metrics; the monthly totals are read back from that status after a
restart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from reflex_operator.api.models import ReflexDatabaseSpec, ReflexDatabaseStatus
from reflex_operator.api.plan import DEFAULT_PLAN, PLAN_LABEL, NamespaceUsage, ReflexPlanSpec, ReflexPlanStatus
from reflex_operator.api.reasons import PLAN_LIMIT_EXCEEDED, PLAN_NOT_FOUND, stalled_for
from reflex_operator.tenancy.plans import Plan, PlanFacts, Transfer, Usage, count_transfer, holds, month_of, wants
from reflex_operator.api.common import Key

__all__ = ["PlanCache", "usage_of", "waiting"]

log = logging.getLogger("reflex_operator.plans")

_WAITING = (PLAN_LIMIT_EXCEEDED, PLAN_NOT_FOUND)


def usage_of(body: dict[str, Any]) -> Usage | None:
    """What one database's body says of its compute units (None: a body that does not parse)."""
    meta = body["metadata"]
    try:
        spec = ReflexDatabaseSpec.model_validate(body.get("spec") or {})
        status = ReflexDatabaseStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return None
    deleting = bool(meta.get("deletionTimestamp"))
    return Usage(uid=str(meta["uid"]), created=str(meta.get("creationTimestamp") or ""), want=wants(spec, deleting), held=holds(status))


def waiting(body: dict[str, Any]) -> bool:
    """Whether a database waits for its plan (room, or the plan itself)."""
    return stalled_for((body.get("status") or {}).get("conditions"), *_WAITING)


@dataclass
class PlanCache:
    default: str = DEFAULT_PLAN
    plans: dict[str, Plan] = field(default_factory=dict)
    status: dict[str, ReflexPlanStatus] = field(default_factory=dict)  # as last seen or written
    labels: dict[str, str | None] = field(default_factory=dict)  # namespace -> its plan label
    transfer: dict[str, Transfer] = field(default_factory=dict)  # namespace -> this month's total
    reported: dict[Key, int] = field(default_factory=dict)  # database -> its last counter
    loaded: set[str] = field(default_factory=set)  # namespaces whose persisted total is taken

    # --------------------------------------------------------------------------- the watches

    def plan_seen(self, body: dict[str, Any], deleted: bool = False) -> bool:
        """Keep a ReflexPlan; returns whether its limits changed (or it came or went)."""
        name = body["metadata"]["name"]
        if deleted:
            self.status.pop(name, None)
            return self.plans.pop(name, None) is not None
        try:
            plan = Plan(name, ReflexPlanSpec.model_validate(body.get("spec") or {}))
        except ValidationError as exc:
            log.warning("ReflexPlan %s is invalid, ignored: %s", name, exc)
            return self.plans.pop(name, None) is not None
        try:
            self.status[name] = ReflexPlanStatus.model_validate(body.get("status") or {})
        except ValidationError:
            self.status[name] = ReflexPlanStatus()
        self._load(self.status[name])
        changed = self.plans.get(name) != plan
        self.plans[name] = plan
        return changed

    def namespace_seen(self, body: dict[str, Any], deleted: bool = False) -> bool:
        """Keep a namespace's plan label; returns whether it changed (or the namespace is new)."""
        name = body["metadata"]["name"]
        label = None if deleted else (body["metadata"].get("labels") or {}).get(PLAN_LABEL)
        changed = self.labels.get(name, None) != label or (not deleted and name not in self.labels)
        if deleted:
            self.labels.pop(name, None)
        else:
            self.labels[name] = label
        return changed

    def _load(self, status: ReflexPlanStatus) -> None:
        """After a restart: the monthly totals the plan's status recorded, once per namespace."""
        for usage in status.namespaces:
            if usage.namespace in self.loaded or usage.month is None:
                continue
            self.loaded.add(usage.namespace)
            now = self.transfer.get(usage.namespace)
            if now is None or now.month == usage.month:
                counted = now.bytes if now is not None else 0
                self.transfer[usage.namespace] = Transfer(usage.month, usage.bytes_transferred_this_month + counted)

    # ------------------------------------------------------------------------------ the facts

    def plan_name(self, namespace: str) -> str:
        return self.labels.get(namespace) or self.default

    def on_plan(self, plan: str, namespaces: Iterable[str]) -> Iterator[str]:
        return (ns for ns in namespaces if self.plan_name(ns) == plan)

    def bytes_this_month(self, namespace: str, now: datetime) -> int:
        total = self.transfer.get(namespace)
        return total.bytes if total is not None and total.month == month_of(now) else 0

    def capped(self, namespace: str, now: datetime) -> bool:
        plan = self.plans.get(self.plan_name(namespace))
        return plan is not None and self.bytes_this_month(namespace, now) > plan.cap_bytes

    def facts(self, namespace: str, usages_of: Iterable[Usage | None], now: datetime) -> PlanFacts | None:
        """The namespace's plan and its databases' usage (``usages_of``: ``usage_of`` each of the
        namespace's databases, None for one that does not parse). None: nothing is limited, the
        namespace is seen without the plan label and the default plan does not exist. A label
        naming a plan that does not exist, or a namespace not seen yet, keeps the plan's name (the
        decision makes growth wait: a tenant's plan never fails open)."""
        name = self.plan_name(namespace)
        plan = self.plans.get(name)
        if plan is None and namespace in self.labels and not self.labels[namespace]:
            return None
        usages = tuple(u for u in usages_of if u is not None)
        return PlanFacts(name=name, plan=plan, databases=usages, bytes_this_month=self.bytes_this_month(namespace, now))

    def count(self, key: Key, reported: int | None, now: datetime) -> None:
        """Add what one instance reported to its namespace's monthly total."""
        if reported is None:
            return
        namespace = key[0]
        self.transfer[namespace] = count_transfer(self.transfer.get(namespace), self.reported.get(key), reported, now)
        self.reported[key] = reported

    def forget(self, key: Key) -> None:
        self.reported.pop(key, None)

    def usage(self, namespace: str, usages: list[Usage | None], now: datetime, waiting: int) -> NamespaceUsage:
        """What the plan's status shows of one namespace: its databases' ``usage_of``, and how
        many of them wait for the plan."""
        used = sum(u.held for u in usages if u is not None)
        total = self.transfer.get(namespace)
        return NamespaceUsage(
            namespace=namespace,
            compute_units_used=used,
            bytes_transferred_this_month=self.bytes_this_month(namespace, now),
            month=total.month if total is not None else month_of(now),
            databases_waiting=waiting,
        )
