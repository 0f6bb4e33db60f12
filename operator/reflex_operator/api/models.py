"""The ReflexDatabase API (``reflexdb.cloud/v1alpha1``): spec and status as pydantic models.

These models are the one source of truth: the operator parses and writes them, and the CRD's
OpenAPI schema is generated from them (``reflex_operator.api.crd``). Field names are camelCase on
the wire; Python attributes are snake_case.

The models live by concern: ``api.common`` (the API's names, string formats, wire conventions),
``api.spec`` and ``api.status``. This module gathers them under one name, as callers import them.
"""

from __future__ import annotations

from reflex_operator.api.common import (
    CATEGORIES,
    DNS1123_SUBDOMAIN,
    GROUP,
    KIND,
    PLURAL,
    SCHEMA_NAME,
    SECRET_KEY,
    SERVER_VERSION,
    SHORT_NAMES,
    SINGULAR,
    TOKEN,
    VERSION,
    CelFormat,
    Observed,
    SchemaName,
    SecretKey,
    SecretName,
    ServerVersion,
    Token,
    Wire,
)
from reflex_operator.api.spec import (
    SIZE_RESOURCES,
    DeletionPolicy,
    LogLevel,
    ReflexDatabaseSpec,
    SecretRef,
    Size,
    SizeResources,
    Source,
    Sync,
    SyncMode,
)
from reflex_operator.api.status import (
    Action,
    ActionAvailability,
    ActionMode,
    AllowedActions,
    AppliedTokens,
    BuildRecord,
    BuildState,
    BuildStatus,
    Condition,
    ConditionType,
    DeployedConfig,
    HealthStatus,
    InstanceStatus,
    Phase,
    ReflexDatabaseStatus,
    Replication,
)
from reflex_operator.api.status import (
    NOTIFICATIONS_SEEN,
    HistoryEntry,
    HistoryKind,
    Notification,
    NotificationType,
    Severity,
)

# The base classes' names before the split.
_Wire = Wire
_Observed = Observed

__all__ = [
    "GROUP",
    "VERSION",
    "KIND",
    "PLURAL",
    "SINGULAR",
    "SHORT_NAMES",
    "CATEGORIES",
    "CelFormat",
    "Size",
    "SizeResources",
    "SIZE_RESOURCES",
    "SyncMode",
    "LogLevel",
    "DeletionPolicy",
    "SecretRef",
    "Source",
    "Sync",
    "ReflexDatabaseSpec",
    "Phase",
    "HealthStatus",
    "Replication",
    "BuildState",
    "ConditionType",
    "Condition",
    "DeployedConfig",
    "InstanceStatus",
    "BuildStatus",
    "BuildRecord",
    "ActionMode",
    "Action",
    "ActionAvailability",
    "AllowedActions",
    "AppliedTokens",
    "ReflexDatabaseStatus",
    "NOTIFICATIONS_SEEN",
    "Severity",
    "NotificationType",
    "Notification",
    "HistoryKind",
    "HistoryEntry",
]

# The string formats and constrained string types above are importable from here too, as before,
# though (as before) not part of ``__all__``.
