"""Deletion: with ``deletionPolicy: Delete`` stop the builds, delete the service, then the secret,
and release the finalizer; with ``Retain`` release it at once and leave AWS as it is.
"""

from __future__ import annotations

from reflex_operator.api.models import DeletionPolicy, unfinished_builds
from reflex_operator.database import identity
from reflex_operator.api import reasons
from reflex_operator.database.build import KnownBuilds
from reflex_operator.database.inputs import Config, Desired, ObservedService
from reflex_operator.database.outcome import Outcome
from reflex_operator.database.steps import DeleteSecret, DeleteService, Event, ReleaseFinalizer, Step, StopBuild

__all__ = ["deleting"]


def deleting(desired: Desired, builds: KnownBuilds, service: ObservedService | None, secret_arn: str | None, config: Config) -> Outcome:
    """The next steps of deleting the resource; the service goes first, the secret once it is gone."""
    if desired.spec.deletion_policy is DeletionPolicy.RETAIN:
        return Outcome(steps=(Event(reasons.DELETED, "deletionPolicy Retain: AWS resources left in place"), ReleaseFinalizer()))
    # A shared build is the fleet's: other databases may wait for it (the fleet's sweep stops one
    # no database wants any longer, ``controller.fleet``).
    private = [b for b in builds.history if not b.shared]
    steps: list[Step] = [StopBuild(codebuild_id, "the database is being deleted") for codebuild_id in unfinished_builds(private)]
    if service is not None:
        steps.append(DeleteService(service.name))
        return Outcome(steps=tuple(steps), progress=(reasons.DELETING, f"deleting ECS service {service.name}"))
    if secret_arn is not None or desired.status.applied_tokens is not None:
        steps.append(DeleteSecret(identity.secret_name(config.secret_prefix, desired.namespace, desired.name, desired.uid)))
    steps.append(Event(reasons.DELETED, "AWS resources deleted"))
    steps.append(ReleaseFinalizer())
    return Outcome(steps=tuple(steps))
