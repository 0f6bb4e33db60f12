"""Named reasons of conditions and events (constants, so tests and docs can refer to them)."""

from reflex_operator.api.models import HealthStatus

# Conditions.
RUNNING = "Running"
PAUSED = "Paused"
TERMINATED = "Terminated"
DELETING = "Deleting"
RECONCILED = "Reconciled"
PROGRESSING = "Progressing"
HEALTHY = "Healthy"
UNREACHABLE = "Unreachable"
BUILDING = "Building"
BUILD_QUEUED = "BuildQueued"
DEPLOYING = "Deploying"
PAUSING = "Pausing"
RESUMING = "Resuming"
TERMINATING = "Terminating"

# Blockers (Stalled).
SECRET_NOT_FOUND = "SecretNotFound"
BUILD_FAILED = "BuildFailed"
BUILD_NOT_DEPLOYABLE = "BuildNotDeployable"
DEPLOYMENT_FAILED = "DeploymentFailed"
AWS_ERROR = "AWSError"
BUILD_UNKNOWN = "BuildUnknown"

# Events.
ACTION_BLOCKED = "ActionBlocked"
BUILD_STARTED = "BuildStarted"
BUILD_SUCCEEDED = "BuildSucceeded"
BUILD_STOPPED = "BuildStopped"
DEPLOYED = "Deployed"
RESUMED = "Resumed"
RELOADED = "Reloaded"
REPLICATION_PAUSED = "ReplicationPaused"
REPLICATION_RESUMED = "ReplicationResumed"
HEALTH_DEGRADED = "HealthDegraded"
HEALTH_RECOVERED = "HealthRecovered"
FAILED = "Failed"
DELETED = "Deleted"

# Degraded condition reasons by health status.
DEGRADED_REASON = {
    HealthStatus.DEGRADED: HEALTH_DEGRADED,
    HealthStatus.UNREACHABLE: UNREACHABLE,
    HealthStatus.CAP_EXCEEDED: "CapExceeded",
}
