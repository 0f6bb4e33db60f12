"""The ReflexDatabase spec: what the user declares (sizes, source, sync, tokens, deletion policy)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from reflex_operator.api.common import CelFormat, SecretKey, SecretName, SchemaName, ServerVersion, Token, Wire

__all__ = [
    "Size",
    "SizeResources",
    "SIZE_RESOURCES",
    "size_of_cpu",
    "SyncMode",
    "LogLevel",
    "DeletionPolicy",
    "AdoptionPolicy",
    "AWS_SERVICE_NAME",
    "AWS_SECRET_NAME",
    "Adoption",
    "SecretRef",
    "Source",
    "Sync",
    "ReflexDatabaseSpec",
]


class Size(StrEnum):
    MICRO = "micro"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"
    XLARGE = "xlarge"

class SizeResources(BaseModel):
    model_config = ConfigDict(frozen=True)
    cpu: int
    memory_mb: int
    compute_units: float

SIZE_RESOURCES: dict[Size, SizeResources] = {
    Size.MICRO: SizeResources(cpu=256, memory_mb=512, compute_units=0.25),
    Size.SMALL: SizeResources(cpu=512, memory_mb=1024, compute_units=0.5),
    Size.MEDIUM: SizeResources(cpu=1024, memory_mb=2048, compute_units=1),
    Size.LARGE: SizeResources(cpu=2048, memory_mb=4096, compute_units=2),
    Size.XLARGE: SizeResources(cpu=4096, memory_mb=8192, compute_units=4),
}


def size_of_cpu(cpu: int) -> Size:
    """The size whose task has ``cpu`` units (a task definition read back); StopIteration: none."""
    return next(size for size, r in SIZE_RESOURCES.items() if r.cpu == cpu)

class SyncMode(StrEnum):
    POLL = "poll"
    STREAM = "stream"

class LogLevel(StrEnum):
    ERROR = "error"
    WARN = "warn"
    INFO = "info"
    DEBUG = "debug"

class DeletionPolicy(StrEnum):
    DELETE = "Delete"
    RETAIN = "Retain"
    RELEASE = "Release"


class AdoptionPolicy(StrEnum):
    """How a database takes AWS resources it did not make (modelled on ACK's adoption policy)."""

    ADOPT = "Adopt"
    """Take the named resources as they are, then reconcile them to the spec; nothing is created
    if they do not exist (the database waits, Stalled AdoptionFailed)."""
    ADOPT_OR_CREATE = "AdoptOrCreate"
    """Take the named resources if they exist; create them under these names if they do not."""


AWS_SERVICE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
AWS_SECRET_NAME = r"^[A-Za-z0-9/_+=.@-]+$"


class Adoption(Wire):
    """Take over AWS resources made elsewhere (by hand, by the hosted service, by another
    cluster that released them). Read once: when the resources are taken, ``status.identity``
    records them and this field no longer matters."""

    policy: Annotated[AdoptionPolicy, Field(description="Adopt, or AdoptOrCreate.")]
    service_name: Annotated[
        Annotated[
            str,
            Field(min_length=1, max_length=255),
            CelFormat(AWS_SERVICE_NAME, "must be an ECS service name: letters, digits, '-' and '_', starting with a letter or digit"),
        ]
        | None,
        Field(description="The ECS service to take; its task definition's family is taken with it. Empty: this database's own name in this cluster identity."),
    ] = None
    cluster: Annotated[
        str | None,
        Field(min_length=1, max_length=255, description="The ECS cluster the service runs on. Empty: the operator's clusters, in order (more than one match is an error)."),
    ] = None
    secret_name: Annotated[
        Annotated[
            str,
            Field(min_length=1, max_length=512),
            CelFormat(AWS_SECRET_NAME, "must be a Secrets Manager secret name: letters, digits and /_+=.@-"),
        ]
        | None,
        Field(description="The Secrets Manager secret holding the connection string (its name). Empty: this database's own name in this cluster identity."),
    ] = None

class SecretRef(Wire):
    """A key of a Secret in the resource's namespace."""

    name: Annotated[
        SecretName,
        Field(description="Name of the Secret (a DNS-1123 subdomain) in the ReflexDatabase's namespace."),
    ]
    key: Annotated[
        SecretKey,
        Field(description="Key in the Secret holding the source database connection string."),
    ] = "url"

class Source(Wire):
    """The source database the server snapshots."""

    secret_ref: Annotated[
        SecretRef, Field(description="Secret with the source database connection string.")
    ]
    schemas: Annotated[
        list[SchemaName],
        Field(
            min_length=1,
            max_length=64,
            description="Schemas the server is compiled for (a build input).",
            json_schema_extra={
                "x-kubernetes-list-type": "set",
            },
        ),
    ] = ["public"]

class Sync(Wire):
    """How snapshots are refreshed."""

    mode: Annotated[SyncMode, Field(description="poll: every interval; stream: continuously.")] = (
        SyncMode.POLL
    )
    interval_seconds: Annotated[
        int,
        Field(
            ge=1,
            le=86400,
            description="Snapshot interval (poll) or maximum swap interval (stream), in seconds.",
        ),
    ] = 60
    paused: Annotated[
        bool,
        Field(description="Replication paused: the server keeps serving its last snapshot."),
    ] = False

class ReflexDatabaseSpec(Wire):
    """Desired state of a ReflexDatabase."""

    size: Annotated[
        Size,
        Field(description="Instance size: task CPU/memory 256/512 (micro) up to 4096/8192 (xlarge)."),
    ] = Size.SMALL
    source: Annotated[Source, Field(description="The source database.")]
    sync: Annotated[Sync, Field(description="Snapshot refresh settings.")] = Sync()
    log_level: Annotated[LogLevel, Field(description="Server log level.")] = LogLevel.INFO
    safety_net: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="Largest fraction of rows a new snapshot may lose before the server refuses to swap it in.",
        ),
    ] = 0.25
    server_version: Annotated[
        ServerVersion | None,
        Field(
            description="reflex-server source revision to build (a build input); empty: the operator's default.",
        ),
    ] = None
    paused: Annotated[
        bool, Field(description="Pause the instance: ECS desired count 0; record and builds kept.")
    ] = False
    terminated: Annotated[
        bool,
        Field(
            description="Terminate the instance: ECS service deleted, record and build history kept; false provisions again."
        ),
    ] = False
    build_id: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=128,
            description="Redeploy: pin the instance to an earlier deployable build from status.builds.",
        ),
    ] = None
    rebuild_token: Annotated[
        Token | None,
        Field(
            description="Any new value forces a fresh build with the same inputs.",
        ),
    ] = None
    restart_token: Annotated[
        Token | None,
        Field(
            description="Any new value forces a rolling restart (new ECS deployment).",
        ),
    ] = None
    reload_token: Annotated[
        Token | None,
        Field(
            description="Any new value makes the running server reload its snapshot now.",
        ),
    ] = None
    health_check_token: Annotated[
        Token | None,
        Field(
            description="Any new value makes the operator probe the server's health now (status.instance.healthCheckStarted, lastHealthCheck).",
        ),
    ] = None
    deletion_policy: Annotated[
        DeletionPolicy,
        Field(
            description="On delete: remove the AWS resources (Delete), leave them owned by this cluster identity (Retain: the same namespace and name take them back), or leave them released for another cluster, namespace or name to adopt (Release)."
        ),
    ] = DeletionPolicy.DELETE
    adoption: Annotated[
        Adoption | None,
        Field(description="Take over AWS resources this cluster identity did not make (see Adoption)."),
    ] = None

    @property
    def resources(self) -> SizeResources:
        return SIZE_RESOURCES[self.size]
