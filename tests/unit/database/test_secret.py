"""The connection secret's decision as a table: copy it, block on it, or note that it went missing."""

from __future__ import annotations

import pytest

from reflex_operator.api.models import AppliedTokens, ReflexDatabaseSpec, ReflexDatabaseStatus
from reflex_operator.database.inputs import Config, Desired, Observation, SecretState
from reflex_operator.api import reasons
from reflex_operator.database.secret import connection_secret
from reflex_operator.database.identity import AwsNames
from reflex_operator.database.inputs import ObservedService, ServiceState
from reflex_operator.database.steps import PutSecret

NAMES = AwsNames(service="svc", family="svc", secret="reflexdb/default/team-a/orders")

SPEC = ReflexDatabaseSpec.model_validate({"source": {"secretRef": {"name": "db"}}})
OK = SecretState(exists=True, has_key=True, resource_version="5")

CASES = [
    # (what, secret, copied version, arn in status, step?, stall?, queued?, version after)
    ("first copy", OK, None, None, True, False, False, "5"),
    ("unchanged", OK, "5", "arn:s", False, False, False, "5"),
    ("changed", OK, "4", "arn:s", True, False, False, "5"),
    ("copied but the AWS secret is unknown", OK, "5", None, True, False, False, "5"),
    ("missing before the first copy", SecretState(exists=False), None, None, False, True, False, None),
    ("no key before the first copy", SecretState(exists=True, has_key=False), None, None, False, True, False, None),
    ("missing after a copy", SecretState(exists=False), "5", "arn:s", False, False, True, "5"),
]


@pytest.mark.parametrize("what,secret,copied,arn,step,stall,queued,version", CASES, ids=[c[0] for c in CASES])
def test_connection_secret(what, secret, copied, arn, step, stall, queued, version):
    status = ReflexDatabaseStatus(applied_tokens=AppliedTokens(secret_version=copied) if copied else None, secret_arn=arn)
    desired = Desired(name="orders", namespace="team-a", uid="u", generation=1, spec=SPEC, status=status)
    got = connection_secret(desired, Observation(secret=secret), Config(), NAMES)
    assert any(isinstance(s, PutSecret) for s in got.outcome.steps) is step
    assert (got.outcome.stall is not None and got.outcome.stall[0] == reasons.SECRET_NOT_FOUND) is stall
    assert bool(got.outcome.queued) is queued
    assert got.version == version and got.arn == arn
    puts = [s for s in got.outcome.steps if isinstance(s, PutSecret)]
    assert all(p.exists is (arn is not None) for p in puts)  # no ARN yet: create it (one call)

    assert all(p.secret_name == NAMES.secret for p in puts)


def _service(marker: str | None) -> ObservedService:
    return ObservedService(
        name="svc", arn="arn:svc", state=ServiceState.ACTIVE, task_definition_arn="arn:td", deploy_hash="h",
        desired_count=1, running_count=1, secret_version=marker,
    )


DEPLOY_CASES = [
    # (what, applied secretVersion, applied secretDeployVersion, Secret now, kept this pass, service's marker, deploy version)
    ("as copied", "5", None, "5", False, "5", "5"),
    ("taken back: the stored copy held the value", "5", None, "5", True, "3", "3"),
    ("taken back, a task definition without a marker", "5", None, "5", True, None, "5"),
    ("after a take-back: the running deployment's version", "5", "3", "5", False, "3", "3"),
    ("the Secret changed since: the new version", "5", "3", "6", False, "3", "6"),
]


@pytest.mark.parametrize("what,copied,deployed,now,kept,marker,expected", DEPLOY_CASES, ids=[c[0] for c in DEPLOY_CASES])
def test_the_version_a_deployment_names(what, copied, deployed, now, kept, marker, expected):
    """A rebuilt cluster's Secret has a new resourceVersion: when the stored copy already holds its
    value, the deployment keeps the version its task definition names (nothing is rolled out)."""
    status = ReflexDatabaseStatus(applied_tokens=AppliedTokens(secret_version=copied, secret_deploy_version=deployed), secret_arn="arn:s")
    desired = Desired(name="orders", namespace="team-a", uid="u", generation=1, spec=SPEC, status=status)
    observed = Observation(secret=SecretState(exists=True, has_key=True, resource_version=now), service=_service(marker), secret_kept=kept)
    assert connection_secret(desired, observed, Config(), NAMES).deploy_version == expected
