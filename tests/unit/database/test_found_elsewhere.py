"""An unplaced database whose service is seen on another of the operator's ECS clusters lives
there: its placement is that cluster, whichever look saw it (a first look, the look on every
cluster, or a cache filled by a poll that raced a delete and re-create)."""

from __future__ import annotations

import pytest

from reflex_operator.api.models import PlacementStatus, ReflexDatabaseSpec, ReflexDatabaseStatus
from reflex_operator.database.decide import _found_elsewhere
from reflex_operator.database.inputs import Desired, Observation, ObservedService, SecretState, ServiceState
from reflex_operator.tenancy.placement import ClusterLoad

LOAD = ClusterLoad(clusters=("reflex", "reflex-2"), default="reflex", quota=5000)


def _service(cluster: str | None) -> ObservedService:
    return ObservedService(name="svc", arn="arn:svc", state=ServiceState.ACTIVE, task_definition_arn=None, deploy_hash=None,
                           desired_count=1, running_count=1, cluster=cluster)


@pytest.mark.parametrize(
    "what,placed,service,expected",
    [
        ("seen on the second cluster", None, _service("reflex-2"), "reflex-2"),
        ("seen on the default one: placed as before", None, _service("reflex"), None),
        ("the answer did not say", None, _service(None), None),
        ("no service", None, None, None),
        ("already placed: never moved", PlacementStatus(cluster="reflex"), _service("reflex-2"), None),
    ],
)
def test_found_elsewhere(what, placed, service, expected) -> None:
    spec = ReflexDatabaseSpec.model_validate({"source": {"secretRef": {"name": "db"}}})
    desired = Desired(name="orders", namespace="team-a", uid="u", generation=1, spec=spec, status=ReflexDatabaseStatus(placement=placed))
    observed = Observation(secret=SecretState(exists=True, has_key=True), service=service, clusters=LOAD)
    assert _found_elsewhere(desired, observed) == expected
