"""Deletion: with ``deletionPolicy: Delete`` stop the builds, delete the service, then the secret,
and release the finalizer; with ``Retain`` release it at once and leave AWS as it is (still owned
by this identity: the same namespace and name take it back); with ``Release`` mark every resource
released in its tags (``database.ownership``), so that another cluster, namespace or name may adopt
it, then release the finalizer.
"""

from __future__ import annotations

from reflex_operator.api.models import DeletionPolicy, unfinished_builds
from reflex_operator.api import reasons
from reflex_operator.database.identity import AwsNames
from reflex_operator.database.build import KnownBuilds
from reflex_operator.database.inputs import Config, Desired, ObservedService
from reflex_operator.database.outcome import Outcome
from reflex_operator.database.steps import DeleteSecret, DeleteService, Event, ReleaseFinalizer, Step, StopBuild, TagOwnership

__all__ = ["deleting"]


def deleting(
    desired: Desired,
    builds: KnownBuilds,
    service: ObservedService | None,
    secret_arn: str | None,
    config: Config,
    names: AwsNames,
    released_tags: tuple[tuple[str, str], ...] = (),
) -> Outcome:
    """The next steps of deleting the resource; the service goes first, the secret once it is gone."""
    policy = desired.spec.deletion_policy
    if policy is DeletionPolicy.RETAIN:
        message = f"deletionPolicy Retain: AWS resources left in place (ECS service {names.service}); the same namespace and name take them back"
        return Outcome(steps=(Event(reasons.DELETED, message), ReleaseFinalizer()))
    if policy is DeletionPolicy.RELEASE:
        tag = TagOwnership(
            tags=released_tags,
            service_arn=service.arn if service is not None else None,
            task_definition_arn=service.task_definition_arn if service is not None else None,
            secret_arn=secret_arn,
        )
        message = (
            f"deletionPolicy Release: ECS service {names.service} and secret {names.secret} left in place, released; "
            "another cluster, namespace or name may adopt them (spec.adoption)"
        )
        return Outcome(steps=(tag, Event(reasons.RELEASED, message), ReleaseFinalizer()))
    # A shared build is the fleet's: other databases may wait for it (the fleet's sweep stops one
    # no database wants any longer, ``controller.fleet``).
    private = [b for b in builds.history if not b.shared]
    steps: list[Step] = [StopBuild(codebuild_id, "the database is being deleted") for codebuild_id in unfinished_builds(private)]
    if service is not None:
        steps.append(DeleteService(service.name))
        return Outcome(steps=tuple(steps), progress=(reasons.DELETING, f"deleting ECS service {service.name}"))
    if secret_arn is not None or desired.status.applied_tokens is not None:
        steps.append(DeleteSecret(names.secret))
    steps.append(Event(reasons.DELETED, "AWS resources deleted"))
    steps.append(ReleaseFinalizer())
    return Outcome(steps=tuple(steps))
