"""The ReflexPlan API (``reflexdb.cloud/v1alpha1``, cluster-scoped): a tenant's limits.

A namespace is on the plan named by its label ``reflexdb.cloud/plan`` (else the operator's default
plan, ``REFLEX_DEFAULT_PLAN``). The per-database limits (``maxInstanceSize``,
``pollModeMinSyncInterval``, ``allowedSyncModes``) are refused at admission by the
ValidatingAdmissionPolicy in ``manifests/admission/plans.yaml``; the namespace's total ``computeUnitsLimit``
and the monthly ``dataTransferGBPerMonth`` are enforced by the operator. The compute units of each
size are ``SIZE_RESOURCES`` (``api.spec``), the one table of them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from reflex_operator.api.common import Observed, Wire
from reflex_operator.api.spec import SIZE_RESOURCES, Size, SyncMode

__all__ = [
    "PLAN_KIND",
    "PLAN_PLURAL",
    "PLAN_SINGULAR",
    "PLAN_LABEL",
    "DEFAULT_PLAN",
    "GB",
    "compute_units",
    "ReflexPlanSpec",
    "NamespaceUsage",
    "ReflexPlanStatus",
    "PlanStatus",
]

PLAN_KIND = "ReflexPlan"
PLAN_PLURAL = "reflexplans"
PLAN_SINGULAR = "reflexplan"
PLAN_LABEL = "reflexdb.cloud/plan"  # the namespace label naming its plan
DEFAULT_PLAN = "default"  # the plan of a namespace without the label (REFLEX_DEFAULT_PLAN)
GB = 1_000_000_000  # dataTransferGBPerMonth counts decimal gigabytes


def compute_units(size: Size) -> float:
    """The compute units (vCPUs) of one instance of this size."""
    return SIZE_RESOURCES[size].compute_units



class ReflexPlanSpec(Wire):
    """A tenant's limits."""

    compute_units_limit: Annotated[
        float,
        Field(
            gt=0,
            description="Compute units (vCPUs) all databases of a namespace on this plan may use together; "
            "a database that is not terminated or paused uses those of its size (micro 0.25, small 0.5, "
            "medium 1, large 2, xlarge 4)."
        ),
    ]
    max_instance_size: Annotated[Size, Field(description="Largest spec.size a database on this plan may ask for.")]
    poll_mode_min_sync_interval: Annotated[
        int,
        Field(ge=1, le=86400, description="Smallest spec.sync.intervalSeconds in poll mode, in seconds."),
    ]
    data_transfer_gb_per_month: Annotated[
        float,
        Field(
            gt=0,
            alias="dataTransferGBPerMonth",
            description="Data a namespace's instances may transfer per calendar month (UTC), in GB (10^9 bytes); "
            "past it replication pauses until the next month or a larger plan."
        ),
    ]
    allowed_sync_modes: Annotated[
        list[SyncMode],
        Field(
            min_length=1,
            max_length=2,
            description="The spec.sync.mode values allowed on this plan.",
            json_schema_extra={"x-kubernetes-list-type": "set"},
        ),
    ] = [SyncMode.POLL, SyncMode.STREAM]


class NamespaceUsage(Observed):
    """What one namespace on the plan uses."""

    namespace: str
    """The namespace."""
    compute_units_used: float = 0
    """Compute units its databases hold now."""
    bytes_transferred_this_month: int = 0
    """Bytes its instances transferred this month (UTC)."""
    month: str | None = None
    """The month counted, YYYY-MM (UTC)."""
    databases_waiting: int = 0
    """Databases that wait for room (PlanLimitExceeded)."""


class ReflexPlanStatus(Observed):
    """Usage of the plan, per namespace on it; written only by the operator."""

    namespaces: list[NamespaceUsage] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["namespace"]},
    )
    """The namespaces on this plan that have databases."""


class PlanStatus(Observed):
    """The plan a database is on and its four limits (in a ReflexDatabase's status)."""

    name: str
    """The ReflexPlan's name."""
    found: bool = True
    """False when no ReflexPlan has that name (the database waits)."""
    compute_units_limit: float | None = None
    """The namespace's compute units limit."""
    max_instance_size: Size | None = None
    """The largest size allowed."""
    poll_mode_min_sync_interval: int | None = None
    """The smallest poll interval allowed, in seconds."""
    data_transfer_gb_per_month: float | None = Field(None, alias="dataTransferGBPerMonth")
    """The monthly data transfer allowance, in GB."""
    compute_units: float | None = None
    """Compute units this database holds."""
