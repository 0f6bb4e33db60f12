"""The CRD's printer columns: what ``kubectl get reflexdatabases`` shows (``-o wide`` adds those
with priority 1). ``docs/api.md`` lists them too.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PRINTER_COLUMNS"]

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Size", "type": "string", "jsonPath": ".spec.size", "description": "Instance size."},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "description": "Lifecycle phase."},
    {
        "name": "Health",
        "type": "string",
        "jsonPath": ".status.instance.healthStatus",
        "description": "Health of the instance (ok, degraded, unreachable).",
    },
    {
        "name": "Snapshot Age",
        "type": "date",
        "jsonPath": ".status.instance.snapshotTime",
        "description": "Age of the snapshot being served (as of the last health figures written; exact while it stands still).",
    },
    {
        "name": "Swaps",
        "type": "integer",
        "jsonPath": ".status.instance.swapCount",
        "description": "Snapshots swapped in since the server started.",
    },
    {
        "name": "Build",
        "type": "string",
        "jsonPath": ".status.latestBuild.status",
        "description": "Status of the latest build.",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {
        "name": "Endpoint",
        "type": "string",
        "priority": 1,
        "jsonPath": ".status.instance.endpointUrl",
        "description": "URL of the instance's endpoint.",
    },
    {
        "name": "Sync",
        "type": "string",
        "priority": 1,
        "jsonPath": ".spec.sync.mode",
        "description": "Snapshot refresh mode.",
    },
    {
        "name": "Active Build",
        "type": "string",
        "priority": 1,
        "jsonPath": ".status.activeBuildId",
        "description": "The build the running instance serves.",
    },
    {
        "name": "Ready",
        "type": "string",
        "priority": 1,
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "description": "Status of the Ready condition.",
    },
    {
        "name": "Checked",
        "type": "date",
        "priority": 1,
        "jsonPath": ".status.instance.lastHealthCheck",
        "description": "How old the health figures in status are.",
    },
    {
        "name": "Plan",
        "type": "string",
        "priority": 1,
        "jsonPath": ".status.plan.name",
        "description": "The ReflexPlan the namespace is on.",
    },
    {
        "name": "Cluster",
        "type": "string",
        "priority": 1,
        "jsonPath": ".status.placement.cluster",
        "description": "The ECS cluster the service lives on.",
    },
    {
        "name": "Rollout",
        "type": "string",
        "priority": 1,
        "jsonPath": ".status.rollout.state",
        "description": "Where it stands in a fleet rollout of a new default server version (Held, Deploying, Verifying, Healthy, Unhealthy, Failed).",
    },
]
