"""Who owns a database's AWS resources: the names it uses, the tags that say so in AWS, and what
a pass may do with resources it finds under those names.

The owner of a resource is written on it as tags: the cluster identity, the namespace and the name
that own it, the uid of the object that owns it now and of the one that made it, and whether it is
owned or released. A pass reads them (DescribeServices answers with them; a secret's are read when
its creation meets an existing one) and judges (``claim_of``):

- ``MINE``: this object's. Nothing to do.
- ``OURS``: this identity's, made by an earlier object (a rebuilt cluster, a Retain delete and
  re-apply). A new object takes it back (the tags get its uid); an object that already owns other
  resources never does: that is a second cluster with the same identity, and it stalls instead of
  fighting over the resource.
- ``UNMARKED``: no ownership tags: made by this operator before the tags existed (a legacy database:
  the tags are written once), or made outside the operator (taken only by ``spec.adoption``).
- ``RELEASED``: left by its owner for another to take (``deletionPolicy: Release``): taken only by
  ``spec.adoption``.
- ``FOREIGN``: owned by another identity, namespace or name: never taken; the database stalls with
  ``OwnedElsewhere`` naming the owner, and nothing is created or changed in AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from reflex_operator.api import reasons
from reflex_operator.api.models import AdoptionPolicy, AwsIdentity, Origin
from reflex_operator.database import identity
from reflex_operator.database.identity import AwsNames
from reflex_operator.database.inputs import Config, Desired, Observation, ObservedService, ServiceState
from reflex_operator.database.outcome import Outcome
from reflex_operator.database.steps import Event, TagOwnership

__all__ = [
    "CLUSTER_IDENTITY",
    "NAMESPACE",
    "NAME",
    "OWNER_UID",
    "CREATED_BY",
    "OWNERSHIP",
    "RELEASED_AT",
    "Owner",
    "Claim",
    "claim_of",
    "owner_of",
    "names_of",
    "Ownership",
    "ownership",
    "family_of",
    "released",
]

_P = "reflexdb.cloud/"
CLUSTER_IDENTITY = _P + "cluster-identity"
NAMESPACE = _P + "namespace"
NAME = _P + "name"
OWNER_UID = _P + "owner-uid"
CREATED_BY = _P + "created-by-uid"
OWNERSHIP = _P + "ownership"  # "owned" or "released"
RELEASED_AT = _P + "released-at"
RESOURCE = _P + "resource"  # namespace/name: the tag written before ownership tags existed


@dataclass(frozen=True)
class Owner:
    """This object, as an owner of AWS resources."""

    cluster_identity: str
    namespace: str
    name: str
    uid: str

    def tags(self, created_by: str | None = None) -> dict[str, str]:
        """The tags that say this object owns a resource (``created_by``: the uid that made it,
        kept as it is on a resource taken back)."""
        return {
            CLUSTER_IDENTITY: self.cluster_identity,
            NAMESPACE: self.namespace,
            NAME: self.name,
            OWNER_UID: self.uid,
            CREATED_BY: created_by or self.uid,
            OWNERSHIP: "owned",
            RESOURCE: f"{self.namespace}/{self.name}",
        }


def released(tags: Mapping[str, str], now: datetime) -> dict[str, str]:
    """The tags of a resource its owner releases: the owner is kept (for the record), marked released."""
    return {**tags, OWNERSHIP: "released", RELEASED_AT: now.isoformat()}


class Claim(StrEnum):
    MINE = "mine"
    OURS = "ours"
    UNMARKED = "unmarked"
    RELEASED = "released"
    FOREIGN = "foreign"


def claim_of(tags: Mapping[str, str] | None, me: Owner) -> Claim:
    """Whose a resource is, by its tags, as seen by ``me``."""
    tags = tags or {}
    if CLUSTER_IDENTITY not in tags:
        return Claim.UNMARKED
    if tags.get(OWNERSHIP) == "released":
        return Claim.RELEASED
    if (tags.get(CLUSTER_IDENTITY), tags.get(NAMESPACE), tags.get(NAME)) != (me.cluster_identity, me.namespace, me.name):
        return Claim.FOREIGN
    return Claim.MINE if tags.get(OWNER_UID) == me.uid else Claim.OURS


def owner_of(tags: Mapping[str, str] | None) -> str:
    """The owner a resource's tags name, for a message."""
    tags = tags or {}
    if CLUSTER_IDENTITY not in tags:
        return "no owner (it carries no reflexdb.cloud ownership tags: made outside this operator?)"
    who = f"cluster identity {tags.get(CLUSTER_IDENTITY)!r}, ReflexDatabase {tags.get(NAMESPACE)}/{tags.get(NAME)} (uid {tags.get(OWNER_UID)})"
    if tags.get(OWNERSHIP) == "released":
        return f"{who}, released at {tags.get(RELEASED_AT, 'an unknown time')}"
    return who


def family_of(task_definition_arn: str | None) -> str | None:
    """The family of a task definition ARN (``...:task-definition/<family>:<revision>``)."""
    if not task_definition_arn or "task-definition/" not in task_definition_arn:
        return None
    return task_definition_arn.rsplit("task-definition/", 1)[1].rsplit(":", 1)[0]


def _legacy(desired: Desired) -> bool:
    """Made before names came from the identity: it stored a secret under its uid-based name."""
    return desired.status.secret_arn is not None


def names_of(desired: Desired, config: Config, service: ObservedService | None = None) -> tuple[AwsNames, Origin]:
    """The names the database uses, and how it would come to own them: as status records them;
    else as ``spec.adoption`` names them; else, for a database made before names came from the
    identity, its uid-based ones; else those of its identity."""
    recorded = desired.status.identity
    if recorded is not None:
        return AwsNames(recorded.service_name, recorded.task_family, recorded.secret_name), recorded.origin
    own = identity.identity_names(config.cluster_identity, desired.namespace, desired.name, config.secret_prefix)
    adoption = desired.spec.adoption
    if adoption is not None:
        service_name = adoption.service_name or own.service
        family = family_of(service.task_definition_arn) if service is not None else None
        return AwsNames(service_name, family or service_name, adoption.secret_name or own.secret), Origin.ADOPTED
    if _legacy(desired):
        return identity.legacy_names(config.secret_prefix, desired.namespace, desired.name, desired.uid), Origin.LEGACY
    return own, Origin.CREATED


@dataclass(frozen=True)
class Ownership:
    """The ownership part of a pass."""

    names: AwsNames
    identity: AwsIdentity  # to record in status
    outcome: Outcome  # a stall (nothing may be created or changed), or the tags to write
    taking: bool = False  # this pass takes existing resources over (take-back or adoption)

    @property
    def blocked(self) -> bool:
        return self.outcome.stall is not None


def _identity(config: Config, names: AwsNames, origin: Origin, before: AwsIdentity | None, now: datetime, tagged: bool) -> AwsIdentity:
    since = before.since if before is not None and before.since is not None else now
    return AwsIdentity(
        cluster_identity=before.cluster_identity if before is not None else config.cluster_identity,
        service_name=names.service,
        task_family=names.family,
        secret_name=names.secret,
        origin=origin,
        since=since,
        tagged=tagged,
    )


def _stall(reason: str, message: str) -> Outcome:
    return Outcome(stall=(reason, message))


def ownership(desired: Desired, observed: Observation, config: Config, now: datetime) -> Ownership:
    """What this pass may do with the resources under the database's names."""
    service = observed.service if observed.service is not None and observed.service.state is not ServiceState.INACTIVE else None
    names, origin = names_of(desired, config, service)
    before = desired.status.identity
    me = Owner(config.cluster_identity if before is None else before.cluster_identity, desired.namespace, desired.name, desired.uid)
    adoption = desired.spec.adoption
    tagged = before.tagged if before is not None else False

    def keep(outcome: Outcome = Outcome(), tagged_now: bool = tagged, origin_now: Origin = origin, taking: bool = False) -> Ownership:
        return Ownership(names, _identity(config, names, origin_now, before, now, tagged_now), outcome, taking)

    if observed.refused_by_owner is not None:  # the secret under our name is not ours (found by the adapter)
        return keep(_stall(reasons.OWNED_ELSEWHERE, observed.refused_by_owner + "; nothing was changed in AWS"))
    if observed.adoption_matches > 1:
        message = (
            f"spec.adoption: ECS service {names.service} exists on {observed.adoption_matches} of the operator's ECS clusters; "
            "set spec.adoption.cluster to the one to take"
        )
        return keep(_stall(reasons.ADOPTION_FAILED, message))
    if service is None:
        if before is None and adoption is not None and adoption.policy is AdoptionPolicy.ADOPT:
            where = f" on ECS cluster {adoption.cluster}" if adoption.cluster else ""
            message = f"spec.adoption: ECS service {names.service} not found{where}; nothing was created (policy Adopt)"
            return keep(_stall(reasons.ADOPTION_FAILED, message))
        # Nothing under the name: what is created gets this object's tags.
        if before is None and origin is Origin.ADOPTED:
            origin = Origin.CREATED  # AdoptOrCreate that found nothing
        return keep(tagged_now=tagged or origin is not Origin.LEGACY, origin_now=origin)
    if service.state is ServiceState.DRAINING:
        return keep()  # an earlier object's service still stopping (service.py waits for it)
    claim = claim_of(service.tags, me) if service.tags is not None else None
    if claim is None or claim is Claim.MINE:
        return keep(tagged_now=tagged or claim is Claim.MINE)
    what = f"ECS service {service.name}"
    tag = _tag_step(service, desired, me)
    if claim is Claim.OURS:
        # Taken back: the service and the secret get the new owner's uid. The task definition
        # revisions keep theirs (they say who made them; nothing reads them to decide), which
        # halves the TagResource calls of a fleet's take-back (the scarcest ECS budget in it).
        tag = replace(tag, task_definition_arn=None)
        if before is not None and before.origin is not Origin.LEGACY:
            message = (
                f"{what} was taken over by {owner_of(service.tags)}: another Kubernetes cluster with the same "
                f"cluster identity {me.cluster_identity!r}? Give each cluster its own REFLEX_CLUSTER_IDENTITY"
            )
            return keep(_stall(reasons.OWNED_ELSEWHERE, message + "; nothing was changed in AWS"))
        event = Event(reasons.TAKEN_BACK, f"took back {what} (made by ReflexDatabase uid {service.tags.get(CREATED_BY) if service.tags else '?'}) and its task definition and secret")
        return keep(Outcome(steps=(tag, event)), tagged_now=True, origin_now=Origin.TAKEN_BACK if before is None else origin, taking=before is None)
    if claim is Claim.UNMARKED and origin is Origin.LEGACY:
        return keep(Outcome(steps=(tag,)), tagged_now=True)  # made by this operator before the tags: written once
    if claim in (Claim.UNMARKED, Claim.RELEASED) and origin is Origin.ADOPTED and before is None:
        event = Event(reasons.ADOPTED, f"adopted {what} (owner before: {owner_of(service.tags)})")
        return keep(Outcome(steps=(tag, event)), tagged_now=True, taking=True)
    if claim is Claim.FOREIGN:
        message = f"{what} is owned by {owner_of(service.tags)}; nothing was changed in AWS. To move it here, release it from its owner (deletionPolicy: Release) and adopt it with spec.adoption"
    elif claim is Claim.RELEASED:
        message = f"{what} was released by {owner_of(service.tags)}; nothing was changed in AWS. Set spec.adoption (policy Adopt) to take it"
    else:
        message = f"{what} exists but is not this database's: {owner_of(service.tags)}; nothing was changed in AWS. Set spec.adoption (policy Adopt) to take it, or delete it"
    return keep(_stall(reasons.OWNED_ELSEWHERE, message))


def _tag_step(service: ObservedService, desired: Desired, me: Owner) -> TagOwnership:
    created_by = (service.tags or {}).get(CREATED_BY)
    return TagOwnership(
        tags=tuple(sorted(me.tags(created_by).items())),
        service_arn=service.arn,
        task_definition_arn=service.task_definition_arn,
        secret_arn=desired.status.secret_arn,
    )
