"""Deterministic names, input hashes and idempotency tokens.

Every AWS resource of a database (ECS service, task definition family, secret) is named from an
identity a rebuilt cluster reproduces: the cluster identity (``REFLEX_CLUSTER_IDENTITY``), the
namespace and the name (``AwsNames``, ``identity_names``). Idempotency tokens that must differ per
incarnation of the object (a service created again after a termination, a build) still use its
uid. Databases made before names came from the identity keep their uid-based names
(``legacy_names``); ``status.identity`` records whichever names a database owns.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass

from reflex_operator.api.models import SIZE_RESOURCES, ReflexDatabaseSpec

__all__ = [
    "AwsNames",
    "identity_names",
    "legacy_names",
    "BuildInputs",
    "DeployInputs",
    "build_inputs",
    "deploy_inputs",
    "service_name",
    "task_family",
    "secret_name",
    "build_token",
    "build_owner",
    "shared_build_token",
    "image_tag",
    "service_token",
    "price_cents_per_minute",
    "estimate_cost_cents",
]


def _digest(*parts: object, length: int = 16) -> str:
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


@dataclass(frozen=True)
class BuildInputs:
    """What a build compiles: one build per distinct value."""

    server_version: str
    schemas: tuple[str, ...]
    rebuild_token: str | None

    @property
    def hash(self) -> str:
        return _digest("build/v1", self.server_version, list(self.schemas), self.rebuild_token)


def build_inputs(spec: ReflexDatabaseSpec, default_server_version: str) -> BuildInputs:
    return BuildInputs(
        server_version=spec.server_version or default_server_version,
        schemas=tuple(spec.source.schemas),
        rebuild_token=spec.rebuild_token,
    )


@dataclass(frozen=True)
class DeployInputs:
    """What a task definition holds: one revision per distinct value."""

    image_uri: str
    cpu: int
    memory_mb: int
    sync_mode: str
    sync_interval: int
    log_level: str
    safety_net: float
    schemas: tuple[str, ...]
    restart_token: str | None
    secret_version: str | None

    @property
    def hash(self) -> str:
        return _digest(
            "deploy/v1",
            self.image_uri,
            self.cpu,
            self.memory_mb,
            self.sync_mode,
            self.sync_interval,
            self.log_level,
            self.safety_net,
            list(self.schemas),
            self.restart_token,
            self.secret_version,
        )


def deploy_inputs(spec: ReflexDatabaseSpec, image_uri: str, secret_version: str | None) -> DeployInputs:
    resources = SIZE_RESOURCES[spec.size]
    return DeployInputs(
        image_uri=image_uri,
        cpu=resources.cpu,
        memory_mb=resources.memory_mb,
        sync_mode=spec.sync.mode.value,
        sync_interval=spec.sync.interval_seconds,
        log_level=spec.log_level.value,
        safety_net=spec.safety_net,
        schemas=tuple(spec.source.schemas),
        restart_token=spec.restart_token,
        secret_version=secret_version,
    )


# The operator's own part of every task definition changes with its code: bump this when a release
# changes what every task definition holds (the fleet then moves to it in waves: database.rollout).
TEMPLATE_REVISION = "template/v1"


def template_mark(execution_role_arn: str, task_role_arn: str | None, container_port: int, region: str) -> str:
    """The mark of the operator's part of every task definition (``REFLEX_TEMPLATE``): its code's
    revision and the settings every task definition holds (roles, port, Region). A new mark is an
    operator upgrade or settings change that every database's next task definition will carry."""
    return _digest(TEMPLATE_REVISION, execution_role_arn, task_role_arn, container_port, region, length=12)


_NOT_NAME = re.compile(r"[^a-zA-Z0-9-]")


def _aws_name(prefix: str, namespace: str, name: str, uid: str, limit: int) -> str:
    """``prefix-namespace-name-uid8``, cut to ``limit`` characters, always ending in the uid part."""
    suffix = uid.replace("-", "")[:8]
    base = _NOT_NAME.sub("-", f"{prefix}-{namespace}-{name}")
    return f"{base[: limit - len(suffix) - 1]}-{suffix}"


@dataclass(frozen=True)
class AwsNames:
    """The names of a database's AWS resources."""

    service: str
    family: str
    secret: str


def _cut(base: str, digest: str, limit: int) -> str:
    return f"{base[: limit - len(digest) - 1]}-{digest}"


@functools.lru_cache(maxsize=1 << 16)
def identity_names(cluster_identity: str, namespace: str, name: str, secret_prefix: str) -> AwsNames:
    """``rdb-<cluster identity>-<namespace>-<name>-<digest>``: readable, within AWS's limits, and
    unique per (cluster identity, namespace, name) whatever the cut or the characters replaced
    (the digest is of the three, not of the readable part). The same on every rebuilt cluster."""
    digest = _digest("identity/v1", cluster_identity, namespace, name, length=8)
    base = _NOT_NAME.sub("-", f"rdb-{cluster_identity}-{namespace}-{name}")
    service = _cut(base, digest, 255)
    secret = f"{secret_prefix}{cluster_identity}/{namespace}/{name}"
    if len(secret) > 512:
        secret = _cut(secret, digest, 512)
    return AwsNames(service=service, family=service, secret=secret)


def legacy_names(secret_prefix: str, namespace: str, name: str, uid: str) -> AwsNames:
    """The names of a database made before names came from the identity (from its uid)."""
    return AwsNames(
        service=service_name(namespace, name, uid),
        family=task_family(namespace, name, uid),
        secret=secret_name(secret_prefix, namespace, name, uid),
    )


@functools.lru_cache(maxsize=1 << 16)
def service_name(namespace: str, name: str, uid: str) -> str:
    """The uid-based (legacy) ECS service name (≤ 255 characters, letters, digits, hyphens)."""
    return _aws_name("rdb", namespace, name, uid, 255)


def task_family(namespace: str, name: str, uid: str) -> str:
    """The uid-based (legacy) task definition family (≤ 255 characters)."""
    return _aws_name("rdb", namespace, name, uid, 255)


def secret_name(prefix: str, namespace: str, name: str, uid: str) -> str:
    """The uid-based (legacy) Secrets Manager secret name."""
    return f"{prefix}{namespace}/{name}-{uid.replace('-', '')[:8]}"


def build_token(uid: str, build_hash: str) -> str:
    """CodeBuild idempotency token for one build of one resource."""
    return f"rdb-{_digest('build-token', uid, build_hash, length=40)}"


def build_owner(inputs: BuildInputs, namespace: str, name: str) -> str | None:
    """Whose build this is: None for a shared build (an image holds no tenant data: a server version
    and schema names, shared by every database of the fleet with the same inputs); the database
    (``namespace/name``, which survives a re-created object) when ``spec.rebuildToken`` is set, the
    one tenant-specific input: that database asked for a fresh build of its own."""
    return f"{namespace}/{name}" if inputs.rebuild_token else None


def shared_build_token(cluster_identity: str, build_hash: str, attempt: int, owner: str | None = None) -> str:
    """CodeBuild idempotency token of attempt ``attempt`` at building ``build_hash`` for this
    installation (and ``owner``, for a private build): the same for every database that needs the
    image, so concurrent starts of it are one build, and reproducible from AWS alone."""
    return f"rdb-{_digest('build-token/v2', cluster_identity, build_hash, attempt, owner, length=40)}"


def image_tag(cluster_identity: str, build_hash: str, attempt: int, owner: str | None = None) -> str:
    """The ECR tag of that build's image (≤ 128 characters of ``[a-z0-9-]``): the inputs' hash, the
    attempt and a digest of the installation (and owner), so two clusters never share an image."""
    return f"{build_hash}-{attempt}-{_digest('image-scope', cluster_identity, owner, length=8)}"


def service_token(uid: str, epoch: int | None = None) -> str:
    """ECS CreateService client token (≤ 36 ASCII characters).

    ``epoch`` (the resource generation the service is created for) makes the token of a service
    created again after a termination differ from the first one, which ECS would otherwise answer
    with the old, deleted service; retries within one generation keep the same token."""
    if epoch is None:
        return _digest("service-token", uid, length=32)
    return _digest("service-token", uid, epoch, length=32)


# USD cents per build minute, by compute type (AWS CodeBuild on-demand Linux prices, us-east-1).
_PRICE_CENTS_PER_MINUTE = {
    "BUILD_GENERAL1_SMALL": 0.5,
    "BUILD_GENERAL1_MEDIUM": 1.0,
    "BUILD_GENERAL1_LARGE": 2.0,
    "BUILD_GENERAL1_XLARGE": 4.0,
    "BUILD_GENERAL1_2XLARGE": 8.0,
}


def price_cents_per_minute(compute_type: str | None) -> float:
    return _PRICE_CENTS_PER_MINUTE.get(compute_type or "", _PRICE_CENTS_PER_MINUTE["BUILD_GENERAL1_MEDIUM"])


def estimate_cost_cents(compute_type: str | None, duration_seconds: int | None) -> int | None:
    """CodeBuild bills per started minute."""
    if duration_seconds is None:
        return None
    minutes = max(1, -(-duration_seconds // 60))
    return int(round(minutes * price_cents_per_minute(compute_type)))
