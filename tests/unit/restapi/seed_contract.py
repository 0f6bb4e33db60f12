"""The seeds' response shapes, transcribed from seeds 000_ (instance), 001_ (builds) and the error
body: for each object, the fields the seed marks required, with the seed's type and (where the seed
lists them) allowed values. Nested objects are named by their path."""

from __future__ import annotations

ACTION_MODES = {"immediate", "queued"}
AVAILABILITY = {"allowed": ("boolean", None)}
ACTIONS = ["provision", "rebuild", "reconfigure", "redeploy", "resize", "pause", "resume", "terminate",
           "delete", "reload", "pause-replication", "resume-replication", "cancel-goal"]

# path -> {field: (seed type, allowed values or None)}; "[]" marks the items of an array
INSTANCE = {
    "": {
        "database": ("object", None), "instance": ("object", None), "latestBuild": ("object", None),
        "allowedActions": ("object", None), "notifications": ("array", None), "unseenCount": ("integer", None),
        "skippedCount": ("integer", None), "computeUnitsLimit": ("number", None), "maxInstanceSize": ("string", None),
        "pollModeMinSyncInterval": ("number", None), "dataTransferGBPerMonth": ("number", None),
    },
    "database": {
        "connection": ("object", None), "minSyncInterval": ("number", None), "allowedSyncModes": ("array", None),
        "availableSchemas": ("array", None), "deployedInstanceConfig": ("object", None), "hasPendingChanges": ("boolean", None),
    },
    "database.deployedInstanceConfig": {
        "instanceSize": ("string", None), "taskCpu": ("number", None), "taskMemoryMb": ("number", None),
        "syncMode": ("string", None), "syncInterval": ("number", None), "logLevel": ("string", None), "safetyNet": ("number", None),
    },
    "instance": {"id": ("string", None), "databaseId": ("string", None), "createdAt": ("date-time", None), "updatedAt": ("date-time", None)},
    "latestBuild": {
        "id": ("string", None), "databaseId": ("string", None),
        "status": ("string", {"queued", "in_progress", "succeeded", "failed"}), "createdAt": ("date-time", None),
    },
    "allowedActions": {a: ("object", None) for a in ACTIONS},
    **{f"allowedActions.{a}": AVAILABILITY for a in ACTIONS},
    "notifications[]": {
        "id": ("string", None), "eventType": ("string", None), "message": ("string", None),
        "severity": ("string", {"success", "error", "info"}), "sticky": ("boolean", None), "createdAt": ("date-time", None),
    },
}
# optional fields with allowed values (checked when present and not null)
INSTANCE_ENUMS = {
    "instance": {"healthStatus": {"ok", "degraded", "unreachable", "cap_exceeded"}},
    **{f"allowedActions.{a}": {"mode": ACTION_MODES} for a in ACTIONS},
}

BUILDS = {
    "": {"builds": ("array", None), "activeBuildId": ("string", None)},
    "builds[]": {"id": ("string", None), "status": ("string", None), "deployable": ("boolean", None), "createdAt": ("date-time", None)},
}

ERROR = {"": {"error": ("string", None)}}
