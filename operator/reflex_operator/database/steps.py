"""The next steps the decision core asks the adapters to carry out, in order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reflex_operator.database.identity import BuildInputs, DeployInputs

__all__ = [
    "Step",
    "PutSecret",
    "TagOwnership",
    "DeleteSecret",
    "StartBuild",
    "StopBuild",
    "FindBuild",
    "RecordPlacement",
    "Deploy",
    "ScaleService",
    "DeleteService",
    "Reload",
    "CheckHealth",
    "PauseReplication",
    "ResumeReplication",
    "ReleaseFinalizer",
    "Event",
]


@dataclass(frozen=True)
class Step:
    """Base class of all steps."""


@dataclass(frozen=True)
class PutSecret(Step):
    """Copy the connection string from the Kubernetes Secret into Secrets Manager."""

    secret_name: str
    k8s_secret: str
    k8s_key: str
    resource_version: str
    exists: bool = True  # the secret is known to exist (its ARN is in status): store a new version; else create it
    # Creating it and finding one under the name: the tags this object writes on it, and which
    # ``ownership.Claim`` values it may take (others are refused: ``ports.NotOwned``).
    owner_tags: tuple[tuple[str, str], ...] = ()
    may_take: frozenset[str] = frozenset()
    found: bool = False  # resources are being taken over: one is expected under the name (read it first)


@dataclass(frozen=True)
class TagOwnership(Step):
    """Write the ownership tags on the database's resources that exist (taken back, adopted,
    released, or made before the tags existed)."""

    tags: tuple[tuple[str, str], ...]
    service_arn: str | None = None
    task_definition_arn: str | None = None
    secret_arn: str | None = None


@dataclass(frozen=True)
class DeleteSecret(Step):
    secret_name: str


@dataclass(frozen=True)
class StartBuild(Step):
    """Start the build of these inputs. With ``record``, the pass first writes the status it
    decided (with the build intent in it) and only then calls StartBuild; without, the intent is
    already recorded and StartBuild is sent again with its token (within CodeBuild's idempotency
    window that returns the build a crashed operator started, if it did)."""

    inputs: BuildInputs
    idempotency_token: str
    image_uri: str
    resource: str
    uid: str
    record: bool = False
    attempt: int = 0
    owner: str | None = None  # a private build's database (spec.rebuildToken); None: the fleet's
    cluster_identity: str = "default"


@dataclass(frozen=True)
class FindBuild(Step):
    """Find the build of an intent older than CodeBuild's idempotency window (sending StartBuild
    again could start a second build): a backwards look over the project's builds, newest first,
    that stops at the first build started before ``since``."""

    uid: str
    idempotency_token: str
    since: datetime


@dataclass(frozen=True)
class StopBuild(Step):
    """Stop a build that no longer matches the desired state."""

    codebuild_id: str
    reason: str


@dataclass(frozen=True)
class RecordPlacement(Step):
    """Write the chosen ECS cluster into ``status.placement`` now, before the service is created
    there (a crash between the two then finds it on that cluster, never places it twice)."""

    cluster: str


@dataclass(frozen=True)
class Deploy(Step):
    """Make the service run these inputs: register the task definition revision if needed, then
    create the service (with its client token) or update it to the new revision."""

    service_name: str
    family: str
    client_token: str
    inputs: DeployInputs
    deploy_hash: str
    secret_arn: str
    desired_count: int
    create: bool
    resource: str
    owner_tags: tuple[tuple[str, str], ...] = ()  # on the service and the task definition revision
    build_id: str | None = None  # the CodeBuild build of the image (REFLEX_BUILD_ID: found again after a rebuild)
    template: str | None = None  # the operator's template mark (REFLEX_TEMPLATE)


@dataclass(frozen=True)
class ScaleService(Step):
    """Set the service's desired count (pause = 0, resume = 1)."""

    service_name: str
    desired_count: int


@dataclass(frozen=True)
class DeleteService(Step):
    service_name: str


@dataclass(frozen=True)
class Reload(Step):
    """``POST /admin/reload`` on the running server, once per token value."""

    endpoint_url: str
    token: str


@dataclass(frozen=True)
class CheckHealth(Step):
    """Probe the server's health now (``spec.healthCheckToken``): the sample goes into status at once."""

    token: str


@dataclass(frozen=True)
class PauseReplication(Step):
    endpoint_url: str


@dataclass(frozen=True)
class ResumeReplication(Step):
    endpoint_url: str


@dataclass(frozen=True)
class ReleaseFinalizer(Step):
    """Everything owed on deletion is done: let Kubernetes delete the resource."""


@dataclass(frozen=True)
class Event(Step):
    """A Kubernetes Event on the resource."""

    reason: str
    message: str
    warning: bool = False
