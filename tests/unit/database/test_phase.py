"""The phase rule as a table: what the concerns found → the phase shown."""

from __future__ import annotations

import pytest

from reflex_operator.api.models import Phase
from reflex_operator.api import reasons
from reflex_operator.database.phase import PhaseFacts as F
from reflex_operator.database.phase import phase_of

RUNNING_SERVICE = dict(service=True, image=True)

CASES = [
    ("terminated, service still there", F(terminated=True, service=True), Phase.TERMINATING),
    ("terminated, service draining", F(terminated=True, draining=True), Phase.TERMINATING),
    ("terminated, nothing left", F(terminated=True), Phase.TERMINATED),
    ("terminated wins over a failed build", F(terminated=True, stall=reasons.BUILD_FAILED), Phase.TERMINATED),
    ("build failed", F(stall=reasons.BUILD_FAILED, **RUNNING_SERVICE), Phase.FAILED),
    ("pinned build not deployable", F(stall=reasons.BUILD_NOT_DEPLOYABLE), Phase.FAILED),
    ("rollout failed", F(rollout_failed=True, **RUNNING_SERVICE), Phase.FAILED),
    ("secret missing before any service", F(stall=reasons.SECRET_NOT_FOUND, image=True), Phase.PENDING),
    ("secret missing, service runs", F(stall=reasons.SECRET_NOT_FOUND, **RUNNING_SERVICE), Phase.RUNNING),
    ("no image, no build", F(), Phase.PENDING),
    ("no image, a build runs or starts", F(building=True), Phase.BUILDING),
    ("no image yet, service runs an older one", F(service=True, building=True), Phase.BUILDING),
    ("paused and scaled to zero", F(paused=True, scaled_to_zero=True, **RUNNING_SERVICE), Phase.PAUSED),
    ("paused, still stopping", F(paused=True, scaled_to_zero=True, deploying=True, **RUNNING_SERVICE), Phase.DEPLOYING),
    ("paused, not scaled yet", F(paused=True, deploying=True, **RUNNING_SERVICE), Phase.DEPLOYING),
    ("image, no service yet", F(image=True), Phase.DEPLOYING),
    ("rolling out", F(deploying=True, **RUNNING_SERVICE), Phase.DEPLOYING),
    ("steady", F(**RUNNING_SERVICE), Phase.RUNNING),
    ("scaled to zero but not paused", F(scaled_to_zero=True, deploying=True, **RUNNING_SERVICE), Phase.DEPLOYING),
]


@pytest.mark.parametrize("what,facts,expected", CASES, ids=[c[0] for c in CASES])
def test_phase(what, facts, expected):
    assert phase_of(facts) is expected
