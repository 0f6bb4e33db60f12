"""The connection secret: copy the Kubernetes Secret's connection string into Secrets Manager when it changes.

A Secret that is missing before the first copy blocks the resource (Stalled: SecretNotFound); one that
goes missing later only queues a note, since the instance keeps the last copied connection string.
"""

from __future__ import annotations

from dataclasses import dataclass

from reflex_operator.api import reasons
from reflex_operator.database.identity import AwsNames
from reflex_operator.database.inputs import Config, Desired, Observation
from reflex_operator.database.outcome import Outcome
from reflex_operator.database.steps import PutSecret

__all__ = ["SecretResult", "connection_secret", "secret_arn"]


@dataclass(frozen=True)
class SecretResult:
    """The secret's part of a pass."""

    outcome: Outcome
    arn: str | None  # the Secrets Manager secret, once known
    version: str | None  # resourceVersion of the Kubernetes Secret the stored copy is (or will be) of
    deploy_version: str | None = None  # the Secret version the deployment names (its deploy hash's input)


def secret_arn(desired: Desired, observed: Observation) -> str | None:
    """The Secrets Manager secret's ARN: as AWS reports it, else as status remembers it."""
    return observed.aws_secret_arn or desired.status.secret_arn


def _deploy_version(desired: Desired, observed: Observation, copied: str | None) -> str | None:
    """The Secret version the deployment names: the copied one; after a take-back that found the
    stored copy equal to the Secret, the version the running task definition names (so the same
    deployment keeps running: nothing is registered or rolled out)."""
    applied = desired.status.applied_tokens
    if observed.secret_kept and observed.service is not None and observed.service.secret_version:
        return observed.service.secret_version
    if applied is not None and applied.secret_deploy_version and applied.secret_version == copied:
        return applied.secret_deploy_version
    return copied


def connection_secret(
    desired: Desired,
    observed: Observation,
    config: Config,
    names: AwsNames,
    owner_tags: tuple[tuple[str, str], ...] = (),
    may_take: frozenset[str] = frozenset(),
    taking: bool = False,
) -> SecretResult:
    """Copy the connection string if the Secret changed (or was never stored); say why if it cannot be."""
    ref = desired.spec.source.secret_ref
    arn = secret_arn(desired, observed)
    copied = desired.status.applied_tokens.secret_version if desired.status.applied_tokens else None
    secret = observed.secret
    if not secret.usable:
        what = "does not exist" if not secret.exists else f"has no key {ref.key!r}"
        message = f"Secret {ref.name!r} {what} in namespace {desired.namespace!r}"
        if copied is None:
            return SecretResult(Outcome(stall=(reasons.SECRET_NOT_FOUND, message + "; create it to continue")), arn, copied)
        note = f"secret: {message}; the instance keeps the last copied connection string"
        return SecretResult(Outcome(queued=(note,)), arn, copied, _deploy_version(desired, observed, copied))
    if secret.resource_version != copied or arn is None:
        put = PutSecret(
            names.secret, ref.name, ref.key, secret.resource_version or "", exists=arn is not None,
            owner_tags=owner_tags, may_take=may_take, found=taking and arn is None,
        )
        return SecretResult(Outcome(steps=(put,)), arn, secret.resource_version, secret.resource_version)
    return SecretResult(Outcome(), arn, copied, _deploy_version(desired, observed, copied))
