"""The service's own decisions that the pass reaches only indirectly: pending changes, and the
note that a new configuration waits for the running build."""

from __future__ import annotations

import pytest

from reflex_operator.api.models import Phase, ReflexDatabaseSpec, ReflexDatabaseStatus
from reflex_operator.database.inputs import Desired, ObservedService, ServiceState
from reflex_operator.database.outcome import Outcome
from reflex_operator.database.inputs import RolloutState
from reflex_operator.database.service import ServiceResult, desired_config, pending_changes, settling, waits_for_build

SPEC = ReflexDatabaseSpec.model_validate({"source": {"secretRef": {"name": "db"}}})
TARGET = desired_config(SPEC)
OTHER = TARGET.model_copy(update={"task_cpu": 4096})


def _service(config=TARGET, deploy_hash="h"):
    return ObservedService(
        name="svc", arn="arn:svc", state=ServiceState.ACTIVE, task_definition_arn=None, deploy_hash=deploy_hash,
        desired_count=1, running_count=1, config=config,
    )


def _desired(terminated=False, deployed=None):
    spec = SPEC.model_copy(update={"terminated": terminated})
    return Desired(name="o", namespace="n", uid="u", generation=1, spec=spec, status=ReflexDatabaseStatus(deployed_config=deployed))


PENDING = [
    # (what, desired, service, deploy hash wanted, image, pending)
    ("deployed as asked", _desired(), _service(), "h", "img", False),
    ("other configuration deployed", _desired(), _service(OTHER), "h", "img", True),
    ("new deploy inputs", _desired(), _service(), "h2", "img", True),
    ("deploy inputs not known yet", _desired(), _service(), None, "img", False),
    ("no image yet", _desired(), _service(), "h", None, True),
    ("no service", _desired(), None, None, "img", True),
    ("terminated, never deployed", _desired(terminated=True), None, None, None, False),
    ("terminated, last deployed as asked", _desired(terminated=True, deployed=TARGET), None, None, None, False),
    ("terminated, next provisioning differs", _desired(terminated=True, deployed=OTHER), None, None, None, True),
]


@pytest.mark.parametrize("what,desired,service,wanted,image,pending", PENDING, ids=[c[0] for c in PENDING])
def test_pending_changes(what, desired, service, wanted, image, pending):
    result = ServiceResult(Outcome(), service, draining=False, deploy_hash=wanted)
    assert pending_changes(desired, result, image) is pending


WAITS = [
    ("building, other configuration running", Phase.BUILDING, _service(OTHER), True),
    ("building, configuration unchanged", Phase.BUILDING, _service(), False),
    ("building, no service", Phase.BUILDING, None, False),
    ("building, service reports no configuration", Phase.BUILDING, _service(None), False),
    ("deploying", Phase.DEPLOYING, _service(OTHER), False),
]


@pytest.mark.parametrize("what,phase,service,waits", WAITS, ids=[c[0] for c in WAITS])
def test_waits_for_build(what, phase, service, waits):
    got = waits_for_build(_desired(), ServiceResult(Outcome(), service, draining=False), phase)
    assert bool(got.queued) is waits


def _seen(**kw):
    return _service().__class__(**{**_service().__dict__, **kw})


SETTLING = [
    # (what, phase, last seen service, asked about between polls)
    ("running, one task of one", Phase.RUNNING, _seen(), False),
    ("paused, none of none", Phase.PAUSED, _seen(desired_count=0, running_count=0), False),
    ("running, rollout done", Phase.RUNNING, _seen(rollout_state=RolloutState.COMPLETED), False),
    ("running, rollout failed (settled: it is not moving)", Phase.RUNNING, _seen(rollout_state=RolloutState.FAILED), False),
    ("building, no service", Phase.BUILDING, None, False),
    ("nothing known", None, None, False),
    ("deploying, not seen yet", Phase.DEPLOYING, None, True),
    ("deploying, seen running", Phase.DEPLOYING, _seen(), True),
    ("terminating", Phase.TERMINATING, _seen(), True),
    ("deleting", Phase.DELETING, None, True),
    ("running, the task restarting", Phase.RUNNING, _seen(running_count=0), True),
    ("paused, a task still stopping", Phase.PAUSED, _seen(desired_count=0, running_count=1), True),
    ("running, a rollout under way", Phase.RUNNING, _seen(rollout_state=RolloutState.IN_PROGRESS), True),
    ("draining", Phase.RUNNING, _seen(state=ServiceState.DRAINING), True),
]


@pytest.mark.parametrize("what,phase,service,expected", SETTLING, ids=[c[0] for c in SETTLING])
def test_settling(what, phase, service, expected):
    assert settling(phase, service) is expected
