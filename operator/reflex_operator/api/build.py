"""The ReflexBuild API (``reflexdb.cloud/v1alpha1``, cluster-scoped): one build of the fleet.

A build compiles reflex-server for a server version and schema names; an image holds no tenant
data, so one build serves every database with the same build inputs, in any namespace. The
operator writes one ReflexBuild per shared build it knows, named by the image's tag, with the
databases that use it and its cost: ``kubectl get reflexbuilds`` (``rbuild``) is the fleet's builds.
It is written before the build's StartBuild is sent (the start's intent: its token and time), so
an operator restarted at any point finds what it asked for; lost with the whole control plane,
the ReflexBuilds are written again from what CodeBuild holds (``controller.fleet``).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from reflex_operator.api.common import Observed, Wire
from reflex_operator.api.status import BuildState

__all__ = ["BUILD_KIND", "BUILD_PLURAL", "BUILD_SINGULAR", "USED_BY_LIMIT", "ReflexBuildSpec", "ReflexBuildStatus"]

BUILD_KIND = "ReflexBuild"
BUILD_PLURAL = "reflexbuilds"
BUILD_SINGULAR = "reflexbuild"
USED_BY_LIMIT = 20  # databases named in status.usedBy (status.databases counts them all)


class ReflexBuildSpec(Wire):
    """What was built: written by the operator when it first knows the build."""

    input_hash: str
    """Hash of the build inputs (a database's status.builds[].inputHash)."""
    attempt: int = Field(ge=0)
    """Which attempt at building these inputs (0 for the first)."""
    server_version: str
    """The reflex-server revision built."""
    schemas: list[str] = Field(default_factory=list)
    """The schemas the server was compiled for."""
    cluster_identity: str
    """The installation that owns the build (REFLEX_CLUSTER_IDENTITY)."""
    idempotency_token: str
    """The CodeBuild idempotency token of its start (the installation's, the inputs' and the attempt's)."""
    image_uri: str
    """The container image the build pushes."""
    recorded_at: datetime
    """When the start was recorded, before StartBuild was sent: no build with this token was started before then."""


class ReflexBuildStatus(Observed):
    """The build as CodeBuild reports it, who uses it and what it cost; written only by the operator."""

    codebuild_id: str | None = None
    """The CodeBuild build id (unset: the start is recorded, CodeBuild's answer not yet)."""
    state: BuildState | None = None
    """queued, in_progress, succeeded or failed."""
    started_at: datetime | None = None
    """When the build started."""
    finished_at: datetime | None = None
    """When the build finished."""
    build_duration_seconds: int | None = None
    """How long the build ran."""
    cost_estimate_cents: int | None = None
    """Estimated cost of the build, in US cents (CodeBuild bills per started minute)."""
    failure_reason: str | None = None
    """Why the build failed."""
    logs_url: str | None = None
    """Where the build's logs are."""
    databases: int = 0
    """How many databases use the build: their build inputs are its inputs, or their service runs its image."""
    used_by: list[str] = Field(default_factory=list)
    """The first of them, as namespace/name (at most 20)."""
    unused_since: datetime | None = None
    """Since when no database uses the build: it is deleted, with its image, a retention period
    (REFLEX_BUILD_RETENTION_SECONDS) after."""
