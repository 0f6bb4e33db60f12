"""Deletion's steps as a table: Retain releases at once; Delete stops builds, deletes the service,
then the secret (if one was ever stored), then releases the finalizer."""

from __future__ import annotations

import pytest

from reflex_operator.api.models import AppliedTokens, BuildRecord, BuildState, ReflexDatabaseSpec, ReflexDatabaseStatus
from reflex_operator.database.inputs import Config, Desired, ObservedService, ServiceState
from reflex_operator.database.build import KnownBuilds
from reflex_operator.database.deleting import deleting
from reflex_operator.database.identity import build_inputs
from reflex_operator.database.identity import AwsNames
from reflex_operator.database.steps import DeleteSecret, DeleteService, Event, ReleaseFinalizer, StopBuild, TagOwnership

NAMES = AwsNames(service="svc", family="svc", secret="reflexdb/default/team-a/orders")

SERVICE = ObservedService(name="svc", arn="arn:svc", state=ServiceState.ACTIVE, task_definition_arn=None, deploy_hash=None, desired_count=1, running_count=1)
RUNNING = BuildRecord(id="b1", codebuild_id="p:b1", status=BuildState.IN_PROGRESS)
DONE = BuildRecord(id="b0", codebuild_id="p:b0", status=BuildState.SUCCEEDED)

CASES = [
    # (what, policy, service, secret arn, tokens in status, builds, step kinds, progress?)
    ("retain", "Retain", SERVICE, "arn:s", True, [RUNNING], [Event, ReleaseFinalizer], False),
    ("service first", "Delete", SERVICE, "arn:s", True, [RUNNING, DONE], [StopBuild, DeleteService], True),
    ("then the secret", "Delete", None, "arn:s", True, [], [DeleteSecret, Event, ReleaseFinalizer], False),
    ("secret known only by its tokens", "Delete", None, None, True, [], [DeleteSecret, Event, ReleaseFinalizer], False),
    ("nothing was ever stored", "Delete", None, None, False, [], [Event, ReleaseFinalizer], False),
    ("release: tags, then the finalizer", "Release", SERVICE, "arn:s", True, [RUNNING], [TagOwnership, Event, ReleaseFinalizer], False),
    ("release a terminated one: its secret", "Release", None, "arn:s", True, [], [TagOwnership, Event, ReleaseFinalizer], False),
]


@pytest.mark.parametrize("what,policy,service,arn,tokens,history,kinds,progress", CASES, ids=[c[0] for c in CASES])
def test_deleting(what, policy, service, arn, tokens, history, kinds, progress):
    spec = ReflexDatabaseSpec.model_validate({"source": {"secretRef": {"name": "db"}}, "deletionPolicy": policy})
    status = ReflexDatabaseStatus(applied_tokens=AppliedTokens() if tokens else None)
    desired = Desired(name="orders", namespace="team-a", uid="u", generation=1, spec=spec, status=status, deleting=True)
    builds = KnownBuilds(build_inputs(spec, "v1.4.0"), history, None, None, None)
    got = deleting(desired, builds, service, arn, Config(), NAMES, (("reflexdb.cloud/ownership", "released"),))
    assert [type(s) for s in got.steps] == kinds
    deleted = [s.secret_name for s in got.steps if isinstance(s, DeleteSecret)]
    assert deleted in ([], [NAMES.secret])  # the recorded name, never one made up from the uid
    for tag in (s for s in got.steps if isinstance(s, TagOwnership)):
        assert tag.secret_arn == arn and tag.service_arn == (service.arn if service else None)
        assert dict(tag.tags)["reflexdb.cloud/ownership"] == "released"
    assert (got.progress is not None) is progress
