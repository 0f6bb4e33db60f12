"""Ownership as tables: the names a database uses, whose a resource is by its tags, and what a pass
may do with what it finds under its names (take back, adopt, tag, or stall with nothing written)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from reflex_operator.api import reasons
from reflex_operator.api.models import AwsIdentity, Origin, ReflexDatabaseSpec, ReflexDatabaseStatus
from reflex_operator.database import identity
from reflex_operator.database.inputs import Config, Desired, Observation, ObservedService, SecretState, ServiceState
from reflex_operator.database.ownership import Claim, Owner, claim_of, family_of, names_of, ownership, released
from reflex_operator.database.steps import Event, TagOwnership

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)
CONFIG = Config(cluster_identity="east")
ME = Owner("east", "team-a", "orders", "uid-new")
OWN = identity.identity_names("east", "team-a", "orders", "reflexdb/")
LEGACY = identity.legacy_names("reflexdb/", "team-a", "orders", "uid-new")


def _spec(**extra: object) -> ReflexDatabaseSpec:
    return ReflexDatabaseSpec.model_validate({"source": {"secretRef": {"name": "db"}}, **extra})


def _desired(status: ReflexDatabaseStatus | None = None, **spec: object) -> Desired:
    return Desired(name="orders", namespace="team-a", uid="uid-new", generation=1, spec=_spec(**spec), status=status or ReflexDatabaseStatus())


def _recorded(origin: Origin = Origin.CREATED, tagged: bool = True, names: identity.AwsNames = OWN) -> ReflexDatabaseStatus:
    return ReflexDatabaseStatus(
        identity=AwsIdentity(cluster_identity="east", service_name=names.service, task_family=names.family, secret_name=names.secret, origin=origin, since=NOW, tagged=tagged),
        secret_arn="arn:secret",
    )


def _service(tags: dict[str, str] | None, state: ServiceState = ServiceState.ACTIVE, name: str = OWN.service) -> ObservedService:
    return ObservedService(
        name=name, arn=f"arn:aws:ecs:us-east-1:1:service/reflex/{name}", state=state,
        task_definition_arn="arn:aws:ecs:us-east-1:1:task-definition/made-by-hand:7", deploy_hash=None,
        desired_count=1, running_count=1, tags=tags,
    )


def _tags(owner: Owner) -> dict[str, str]:
    return owner.tags()


EARLIER = Owner("east", "team-a", "orders", "uid-old")  # the same identity, an earlier object (rebuilt cluster)
WEST = Owner("west", "team-a", "orders", "uid-w")  # another cluster identity
OTHER_NS = Owner("east", "team-b", "orders", "uid-b")  # another namespace, same cluster


# ------------------------------------------------------------------------------------- names


def test_identity_names_are_reproducible_distinct_and_within_aws_limits() -> None:
    a = identity.identity_names("east", "team-a", "orders", "reflexdb/")
    assert a == identity.identity_names("east", "team-a", "orders", "reflexdb/")  # a rebuilt cluster finds them
    assert a.service.startswith("rdb-east-team-a-orders-") and a.family == a.service
    assert a.secret == "reflexdb/east/team-a/orders"
    others = [identity.identity_names(*args, "reflexdb/") for args in (("west", "team-a", "orders"), ("east", "team-b", "orders"), ("east", "team-a", "orders2"))]
    assert len({a.service, *(o.service for o in others)}) == 4  # another identity, namespace or name: other resources
    # Names that read alike after the cut or the replaced characters still differ (the digest is of the parts).
    long = identity.identity_names("east", "n" * 63, "x" * 253, "reflexdb/")
    longer = identity.identity_names("east", "n" * 63, "x" * 252 + "y", "reflexdb/")
    assert len(long.service) <= 255 and long.service != longer.service
    dotted = identity.identity_names("east", "team-a", "a.b", "reflexdb/")
    dashed = identity.identity_names("east", "team-a", "a-b", "reflexdb/")
    assert dotted.service != dashed.service and set(dotted.service) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")


NAME_CASES = [
    # (what, status, spec extras, expected names, origin)
    ("new: its identity's", ReflexDatabaseStatus(), {}, OWN, Origin.CREATED),
    ("recorded: as recorded, whatever else", _recorded(Origin.ADOPTED, names=identity.AwsNames("svc-x", "fam-x", "sec-x")), {}, identity.AwsNames("svc-x", "fam-x", "sec-x"), Origin.ADOPTED),
    ("made before the identity: its uid-based names", ReflexDatabaseStatus(secret_arn="arn:secret"), {}, LEGACY, Origin.LEGACY),
    ("adoption: the named service and secret", ReflexDatabaseStatus(), {"adoption": {"policy": "Adopt", "serviceName": "legacy-svc", "secretName": "hosted/orders"}},
     identity.AwsNames("legacy-svc", "legacy-svc", "hosted/orders"), Origin.ADOPTED),
    ("adoption without names: its own identity's", ReflexDatabaseStatus(), {"adoption": {"policy": "AdoptOrCreate"}}, OWN, Origin.ADOPTED),
]


@pytest.mark.parametrize("what,status,spec,names,origin", NAME_CASES, ids=[c[0] for c in NAME_CASES])
def test_names_of(what, status, spec, names, origin) -> None:
    assert names_of(_desired(status, **spec), CONFIG) == (names, origin)


def test_an_adopted_services_family_is_its_task_definitions() -> None:
    desired = _desired(adoption={"policy": "Adopt", "serviceName": "legacy-svc"})
    names, _ = names_of(desired, CONFIG, _service({}, name="legacy-svc"))
    assert names.family == "made-by-hand" == family_of("arn:aws:ecs:us-east-1:1:task-definition/made-by-hand:7")
    assert family_of(None) is None and family_of("arn:other") is None


# ------------------------------------------------------------------------------------- claims

CLAIMS = [
    ("mine", _tags(ME), Claim.MINE),
    ("an earlier object of the same identity", _tags(EARLIER), Claim.OURS),
    ("no tags", {}, Claim.UNMARKED),
    ("only the tag of before the ownership tags", {"reflexdb.cloud/resource": "team-a/orders"}, Claim.UNMARKED),
    ("another cluster identity", _tags(WEST), Claim.FOREIGN),
    ("another namespace", _tags(OTHER_NS), Claim.FOREIGN),
    ("released by another", released(_tags(WEST), NOW), Claim.RELEASED),
    ("released by this identity too", released(_tags(EARLIER), NOW), Claim.RELEASED),
]


@pytest.mark.parametrize("what,tags,claim", CLAIMS, ids=[c[0] for c in CLAIMS])
def test_claim_of(what, tags, claim) -> None:
    assert claim_of(tags, ME) is claim


# ---------------------------------------------------------------------------------- the pass

ADOPT = {"adoption": {"policy": "Adopt", "serviceName": OWN.service}}
ADOPT_OR_CREATE = {"adoption": {"policy": "AdoptOrCreate", "serviceName": OWN.service}}

PASS_CASES = [
    # (what, status, spec extras, service, stall reason, step kinds, origin recorded, taking)
    ("new, nothing there: create under its names", ReflexDatabaseStatus(), {}, None, None, [], Origin.CREATED, False),
    ("its own, tagged", _recorded(), {}, _service(_tags(ME)), None, [], Origin.CREATED, False),
    ("rebuilt cluster: an earlier object's, taken back", ReflexDatabaseStatus(), {}, _service(_tags(EARLIER)), None, [TagOwnership, Event], Origin.TAKEN_BACK, True),
    ("another cluster with the same identity took it: stall, no fight", _recorded(), {}, _service(_tags(EARLIER)), reasons.OWNED_ELSEWHERE, [], Origin.CREATED, False),
    ("another cluster identity's: never taken", ReflexDatabaseStatus(), {}, _service(_tags(WEST)), reasons.OWNED_ELSEWHERE, [], Origin.CREATED, False),
    ("another identity's, even when adopting", ReflexDatabaseStatus(), ADOPT, _service(_tags(WEST)), reasons.OWNED_ELSEWHERE, [], Origin.ADOPTED, False),
    ("made by hand under its name: not taken without adoption", ReflexDatabaseStatus(), {}, _service({}), reasons.OWNED_ELSEWHERE, [], Origin.CREATED, False),
    ("made by hand, adopted", ReflexDatabaseStatus(), ADOPT, _service({}), None, [TagOwnership, Event], Origin.ADOPTED, True),
    ("released by another, not adopting: stall", ReflexDatabaseStatus(), {}, _service(released(_tags(WEST), NOW)), reasons.OWNED_ELSEWHERE, [], Origin.CREATED, False),
    ("released by another, adopted", ReflexDatabaseStatus(), ADOPT, _service(released(_tags(WEST), NOW)), None, [TagOwnership, Event], Origin.ADOPTED, True),
    ("adopt, nothing there: stall, nothing created", ReflexDatabaseStatus(), ADOPT, None, reasons.ADOPTION_FAILED, [], Origin.ADOPTED, False),
    ("adopt-or-create, nothing there: created", ReflexDatabaseStatus(), ADOPT_OR_CREATE, None, None, [], Origin.CREATED, False),
    ("made before the tags (legacy): tagged once", ReflexDatabaseStatus(secret_arn="arn:secret"), {}, _service({"reflexdb.cloud/resource": "team-a/orders"}, name=LEGACY.service), None, [TagOwnership], Origin.LEGACY, False),
    ("legacy, tagged: nothing", _recorded(Origin.LEGACY, names=LEGACY), {}, _service(_tags(ME), name=LEGACY.service), None, [], Origin.LEGACY, False),
    ("an earlier object's service still draining: wait (service.py)", ReflexDatabaseStatus(), {}, _service(_tags(EARLIER), ServiceState.DRAINING), None, [], Origin.CREATED, False),
    ("tags not in the answer (an update's reply): nothing to judge", _recorded(), {}, _service(None), None, [], Origin.CREATED, False),
]


@pytest.mark.parametrize("what,status,spec,service,stall,kinds,origin,taking", PASS_CASES, ids=[c[0] for c in PASS_CASES])
def test_ownership(what, status, spec, service, stall, kinds, origin, taking) -> None:
    desired = _desired(status, **spec)
    got = ownership(desired, Observation(secret=SecretState(exists=True, has_key=True), service=service), CONFIG, NOW)
    assert (got.outcome.stall[0] if got.outcome.stall else None) == stall
    assert [type(s) for s in got.outcome.steps] == kinds
    assert got.identity.origin is origin and got.taking is taking
    if stall is not None:
        assert got.outcome.steps == ()  # nothing is created or changed in AWS
        assert "nothing was changed" in got.outcome.stall[1] or stall == reasons.ADOPTION_FAILED
    for tag in (s for s in got.outcome.steps if isinstance(s, TagOwnership)):
        tags = dict(tag.tags)
        assert tags["reflexdb.cloud/owner-uid"] == "uid-new" and tags["reflexdb.cloud/cluster-identity"] == "east"
        assert tag.service_arn == service.arn
        # A revision is tagged when it carries no owner yet (adopted, legacy); one taken back keeps its maker's.
        assert tag.task_definition_arn == (None if origin is Origin.TAKEN_BACK else service.task_definition_arn)
        # The uid that made it is kept when it is taken back.
        made = (service.tags or {}).get("reflexdb.cloud/created-by-uid")
        assert tags["reflexdb.cloud/created-by-uid"] == (made or "uid-new")


def test_a_stall_names_the_owner() -> None:
    desired = _desired()
    got = ownership(desired, Observation(secret=SecretState(exists=True), service=_service(_tags(WEST))), CONFIG, NOW)
    assert "cluster identity 'west'" in got.outcome.stall[1] and "team-a/orders (uid uid-w)" in got.outcome.stall[1]


def test_a_secret_refused_by_its_owner_stalls() -> None:
    observed = Observation(secret=SecretState(exists=True), refused_by_owner="Secrets Manager secret x is owned by cluster identity 'west'")
    got = ownership(_desired(), observed, CONFIG, NOW)
    assert got.outcome.stall == (reasons.OWNED_ELSEWHERE, "Secrets Manager secret x is owned by cluster identity 'west'; nothing was changed in AWS")


def test_an_adoption_found_on_two_clusters_is_an_error() -> None:
    observed = Observation(secret=SecretState(exists=True), adoption_matches=2)
    got = ownership(_desired(**ADOPT), observed, CONFIG, NOW)
    assert got.outcome.stall is not None and got.outcome.stall[0] == reasons.ADOPTION_FAILED and "spec.adoption.cluster" in got.outcome.stall[1]


def test_the_identity_keeps_its_cluster_identity_and_since_once_recorded() -> None:
    status = _recorded()
    got = ownership(_desired(status), Observation(secret=SecretState(exists=True), service=_service(_tags(ME))), Config(cluster_identity="renamed"), NOW.replace(year=2027))
    assert got.identity.cluster_identity == "east" and got.identity.since == NOW  # a new setting renames nothing
