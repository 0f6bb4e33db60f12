"""The ReflexRollout API (``reflexdb.cloud/v1alpha1``, cluster-scoped): one fleet change moved in
health-gated waves, and what a database's status shows of the rollout it is in.

A fleet change is a new server version that reaches many databases at once without a change to
their own spec: the operator's default server version (``REFLEX_DEFAULT_SERVER_VERSION``) changed.
The installation's leader makes one ReflexRollout per target version (named by ``rollout_name``)
and admits the databases that must move in waves: a canary, then growing waves, each wave going
on only once the databases of the one before are Running and healthy on the new version for a
soak period (``fleet.rollout``). A database's own pass holds its deployment until it is admitted
(``database.rollout``). Users pause, resume or abort a rollout through its spec.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from reflex_operator.api.common import Observed, ServerVersion, Token, Wire

__all__ = [
    "ROLLOUT_KIND",
    "ROLLOUT_PLURAL",
    "ROLLOUT_SINGULAR",
    "ROLLOUT_SCOPE_LABEL",
    "RolloutPhase",
    "MemberState",
    "ReflexRolloutSpec",
    "Wave",
    "RolloutCondition",
    "ReflexRolloutStatus",
    "RolloutMember",
    "rollout_name",
]

ROLLOUT_KIND = "ReflexRollout"
ROLLOUT_PLURAL = "reflexrollouts"
ROLLOUT_SINGULAR = "reflexrollout"
ROLLOUT_SCOPE_LABEL = "reflexdb.cloud/scope"  # which operator installation it belongs to: "cluster" or the watched namespace


class RolloutPhase(StrEnum):
    PROGRESSING = "Progressing"  # waves go on as their databases prove healthy
    PAUSED = "Paused"  # spec.paused: no new wave (the one in flight finishes)
    HALTED = "Halted"  # a build of the target failed, or a moved database is unhealthy: no new wave
    ABORTED = "Aborted"  # spec.abort: no database moves any more; those not moved keep their build
    COMPLETE = "Complete"  # every database that had to move did, and the last wave soaked
    SUPERSEDED = "Superseded"  # the default server version is no longer this rollout's target


class MemberState(StrEnum):
    """Where one database stands in its rollout (``status.rollout.state``)."""

    HELD = "Held"  # its move waits for its wave (its service is not updated)
    DEPLOYING = "Deploying"  # admitted: the new version is being built or deployed
    VERIFYING = "Verifying"  # its new task runs: waiting for a health sample taken after it started
    HEALTHY = "Healthy"  # running the new version, healthy since ``since``
    UNHEALTHY = "Unhealthy"  # running the new version, not healthy
    FAILED = "Failed"  # the build of the new version failed, or its deployment did


class ReflexRolloutSpec(Wire):
    """The target of the rollout and the user's controls; the pace defaults to the operator's settings."""

    server_version: Annotated[ServerVersion, Field(description="The server version the fleet moves to (the operator's default server version).")]
    template: str | None = Field(
        None,
        max_length=64,
        description="Set for a move to a new operator template on that version (an operator upgrade or settings change that "
        "changes what every task definition holds): the template's mark, REFLEX_TEMPLATE in the task definitions.",
    )
    paused: bool = Field(False, description="No new wave while true (the wave in flight finishes). `kubectl reflex rollout pause|resume`.")
    abort: bool = Field(
        False,
        description="Stop the rollout for good: databases not moved yet keep their build (pin spec.serverVersion to move one). "
        "`kubectl reflex rollout abort`.",
    )
    resume_token: Token | None = Field(
        None,
        description="A new value lifts a halt (the waves go on if the cause is gone; it halts again if not). Set by `kubectl reflex rollout resume`.",
    )
    canary: int | None = Field(None, ge=1, description="Databases in the first wave (default: REFLEX_ROLLOUT_CANARY).")
    growth: float | None = Field(None, ge=1, le=100, description="Each wave is this many times the one before (default: REFLEX_ROLLOUT_GROWTH).")
    max_in_flight: int | None = Field(None, ge=1, description="Largest wave: databases moving at once (default: REFLEX_ROLLOUT_MAX_IN_FLIGHT).")
    soak_seconds: int | None = Field(
        None, ge=0, description="How long a wave's databases must be healthy on the new version before the next wave (default: REFLEX_ROLLOUT_SOAK_SECONDS)."
    )


class Wave(Observed):
    """One wave: the databases admitted together."""

    number: int
    """1 is the canary."""
    databases: list[str] = Field(default_factory=list)
    """namespace/name of each database admitted in this wave."""
    started_at: datetime
    """When the wave was admitted."""
    settled_at: datetime | None = None
    """When every database of the wave had been healthy on the new version for the soak period."""


class RolloutCondition(Observed):
    """A condition of the rollout (types Halted and Complete)."""

    type: str
    status: Annotated[str, Field(json_schema_extra={"enum": ["True", "False", "Unknown"]})]
    reason: str
    message: str = ""
    last_transition_time: datetime


class ReflexRolloutStatus(Observed):
    """The rollout's progress; written only by the operator's installation leader."""

    phase: RolloutPhase | None = None
    """Progressing, Paused, Halted, Aborted, Complete or Superseded."""
    wave: int = 0
    """The wave in flight (or the last one)."""
    waves: list[Wave] = Field(default_factory=list)
    """Every wave admitted, in order (the record a restarted operator resumes from)."""
    total: int = 0
    """Databases in the rollout (held, moving or moved)."""
    moved: int = 0
    """Databases healthy on the new version."""
    waiting: int = 0
    """Databases held for a later wave."""
    reason: str | None = None
    """Why the rollout is halted, paused, aborted or complete."""
    message: str | None = None
    """What it waits for, or which database and build halted it and why."""
    halted_at: datetime | None = None
    """When the rollout halted."""
    resumed_token: str | None = None
    """The spec.resumeToken last acted on."""
    conditions: list[RolloutCondition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Halted (True: which build or database, and why) and Complete."""
    observed_generation: int | None = None


class RolloutMember(Observed):
    """The rollout a database is in (``status.rollout``), as its own pass sees it."""

    name: str
    """The ReflexRollout."""
    server_version: str
    """The version it moves to."""
    state: MemberState
    """Held, Deploying, Verifying, Healthy, Unhealthy or Failed."""
    since: datetime
    """When it entered this state (Healthy: its first healthy sample on the new version)."""
    wave: int | None = None
    """The wave it was admitted in (none: not admitted yet)."""
    message: str | None = None
    """What it waits for, or what failed."""


_NOT_NAME = re.compile(r"[^a-z0-9.-]")


def rollout_name(server_version: str, scope: str | None = None, template: str | None = None) -> str:
    """The ReflexRollout of a target version: ``server-<version>`` (``<scope>.server-<version>`` for
    an operator that watches one namespace), a DNS-1123 subdomain; a version that does not fit as it
    is gets a hash suffix so that two versions never share a name. A move to a new operator template
    on that version: ``server-<version>-template-<mark>``."""
    if template is not None:
        return f"{rollout_name(server_version, scope)[:200]}-template-{_NOT_NAME.sub('-', template.lower())[:12]}"
    base = _NOT_NAME.sub("-", server_version.lower()).strip(".-") or "version"
    exact = base == server_version
    prefix = f"{scope}.server-" if scope else "server-"
    name = f"{prefix}{base}"
    if not exact or len(name) > 200:
        digest = hashlib.sha256(server_version.encode()).hexdigest()[:8]
        name = f"{name[:190].rstrip('.-')}-{digest}"
    return name
