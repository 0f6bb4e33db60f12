"""Leader election's settings and identity: client-go's defaults, unsafe timings refused with the
variables named, the Leases' namespace from the downward API, an identity per process."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reflex_operator.controller import wiring
from reflex_operator.settings import Settings


def test_defaults_are_client_gos():
    s = Settings()
    assert (s.lease_duration_seconds, s.renew_deadline_seconds, s.retry_period_seconds) == (15, 10.0, 2.0)
    assert s.leader_election and s.shards == 1 and s.lease_name == "reflex-operator"


@pytest.mark.parametrize(
    "timings,problem",
    [
        (dict(lease_duration_seconds=10, renew_deadline_seconds=10), "longer than the renew deadline"),
        (dict(renew_deadline_seconds=2, retry_period_seconds=2), "1.2 x the retry period"),
    ],
)
def test_unsafe_timings_are_refused_naming_the_variables(timings, problem):
    with pytest.raises(ValidationError) as err:
        Settings(**timings)
    assert "REFLEX_LEASE_DURATION_SECONDS" in str(err.value) and problem in str(err.value)


def test_lease_name_must_be_a_dns_label():
    with pytest.raises(ValidationError, match="lease_name"):
        Settings(lease_name="Not_A_Name")


def test_leases_namespace(monkeypatch):
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    assert Settings().leases_namespace() == "reflex-system"
    monkeypatch.setenv("POD_NAMESPACE", "ops")
    assert Settings().leases_namespace() == "ops"
    assert Settings(lease_namespace="mine").leases_namespace() == "mine"


def test_identity_is_the_pod_name_and_a_random_suffix(monkeypatch):
    monkeypatch.setenv("POD_NAME", "reflex-operator-7d9f8c-x2k4p")
    first, second = wiring.replica_identity(), wiring.replica_identity()
    assert first.startswith("reflex-operator-7d9f8c-x2k4p-") and first != second
    monkeypatch.delenv("POD_NAME")
    monkeypatch.setenv("HOSTNAME", "My_Host.local")
    assert wiring.replica_identity().startswith("my-host-local-")
