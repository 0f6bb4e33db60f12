"""reflex-api's port from its environment: kubelet's service links must not crash it."""

from __future__ import annotations

import pytest

from reflex_operator.restapi.serve import _port


@pytest.mark.parametrize(
    ("value", "port"),
    [(None, 8000), ("", 8000), ("9000", 9000), ("tcp://10.0.0.7:80", 8000)],  # the last: a Service named reflex-api's link
)
def test_port_of_the_environment(value, port) -> None:
    assert _port(value) == port
