"""The adapters and the in-memory world implement the ports the core owns
(reflex_operator.ports) with the same methods and parameters."""

from __future__ import annotations

import inspect

import pytest

from reflex_operator.aws.codebuild import CodeBuild
from reflex_operator.aws.ecs import Ecs
from reflex_operator.aws.secrets import Secrets
from reflex_operator.dataplane.client import HttpDataPlane
from reflex_operator import ports
from reflex_operator.kube.client import Kube
from tests.unit import world

PAIRS = [
    (ports.Builds, CodeBuild, world.FakeCodeBuild),
    (ports.Services, Ecs, world.FakeEcs),
    (ports.SecretStore, Secrets, world.FakeSecretsManager),
    (ports.DataPlane, HttpDataPlane, world.FakeDataPlane),
    (ports.Kubernetes, Kube, world.FakeKubernetes),
]


def _members(proto: type) -> list[str]:
    return [n for n, v in vars(proto).items() if inspect.iscoroutinefunction(v)]


@pytest.mark.parametrize("proto,real,fake", PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_adapters_implement_the_port(proto, real, fake):
    assert _members(proto), proto
    for name in _members(proto):
        wanted = list(inspect.signature(getattr(proto, name)).parameters)
        for impl in (real, fake):
            method = getattr(impl, name, None)
            assert method is not None and inspect.iscoroutinefunction(method), f"{impl.__name__}.{name}"
            assert list(inspect.signature(method).parameters) == wanted, f"{impl.__name__}.{name}"
