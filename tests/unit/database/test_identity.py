"""Deterministic hashes, names and tokens; the build cost estimate."""

from __future__ import annotations

import re
from dataclasses import fields, replace

import pytest

from reflex_operator.api.models import ReflexDatabaseSpec
from reflex_operator.database import identity
from reflex_operator.database.identity import BuildInputs, DeployInputs

UID = "0f6b2c1e-1111-4222-8333-944455556666"
BUILD = BuildInputs(server_version="v1.4.0", schemas=("public",), rebuild_token=None)
DEPLOY = DeployInputs(
    image_uri="repo/reflex-server:abc-0",
    cpu=512,
    memory_mb=1024,
    sync_mode="poll",
    sync_interval=60,
    log_level="info",
    safety_net=0.25,
    schemas=("public",),
    restart_token=None,
    secret_version="1",
)
OTHER = {
    str: "other",
    int: 4096,
    float: 0.5,
    tuple: ("public", "sales"),
}


def _other(value, name):
    if name in ("rebuild_token", "restart_token", "secret_version"):
        return "t2"
    if name == "schemas":
        return ("public", "sales")
    return OTHER[type(value)]


def test_hashes_are_deterministic():
    assert BUILD.hash == BuildInputs("v1.4.0", ("public",), None).hash
    assert DEPLOY.hash == replace(DEPLOY).hash
    assert re.fullmatch(r"[0-9a-f]{16}", BUILD.hash) and re.fullmatch(r"[0-9a-f]{16}", DEPLOY.hash)
    assert BUILD.hash != DEPLOY.hash


@pytest.mark.parametrize("name", [f.name for f in fields(BuildInputs)])
def test_build_hash_is_sensitive_to_each_input(name):
    changed = replace(BUILD, **{name: _other(getattr(BUILD, name), name)})
    assert changed.hash != BUILD.hash


@pytest.mark.parametrize("name", [f.name for f in fields(DeployInputs)])
def test_deploy_hash_is_sensitive_to_each_input(name):
    changed = replace(DEPLOY, **{name: _other(getattr(DEPLOY, name), name)})
    assert changed.hash != DEPLOY.hash


def test_schema_order_matters_and_token_none_differs_from_empty():
    assert replace(BUILD, schemas=("a", "b")).hash != replace(BUILD, schemas=("b", "a")).hash
    assert replace(BUILD, rebuild_token="x").hash != BUILD.hash


def test_inputs_from_spec():
    spec = ReflexDatabaseSpec.model_validate(
        {"source": {"secretRef": {"name": "db"}, "schemas": ["public", "sales"]}, "size": "large",
         "sync": {"mode": "stream", "intervalSeconds": 5}, "logLevel": "debug", "safetyNet": 0.1,
         "rebuildToken": "r1", "restartToken": "s1"}
    )
    b = identity.build_inputs(spec, "v9")
    assert b == BuildInputs("v9", ("public", "sales"), "r1")
    assert identity.build_inputs(spec.model_copy(update={"server_version": "v2"}), "v9").server_version == "v2"
    d = identity.deploy_inputs(spec, "img", "7")
    assert (d.cpu, d.memory_mb, d.sync_mode, d.sync_interval, d.log_level, d.safety_net) == (
        2048, 4096, "stream", 5, "debug", 0.1)
    assert (d.restart_token, d.secret_version, d.schemas, d.image_uri) == ("s1", "7", ("public", "sales"), "img")


NAME_OK = re.compile(r"^[a-zA-Z0-9-]+$")


@pytest.mark.parametrize(
    "namespace, name",
    [("team-a", "orders"), ("a" * 63, "b" * 253), ("ns", "db.with.dots"), ("x", "y")],
)
def test_names_are_bounded_valid_and_unique_per_uid(namespace, name):
    for fn in (identity.service_name, identity.task_family):
        n = fn(namespace, name, UID)
        assert len(n) <= 255 and NAME_OK.fullmatch(n), n
        assert n.endswith("-0f6b2c1e")
        assert n == fn(namespace, name, UID)
        assert n != fn(namespace, name, UID.replace("0f6b", "1f6b"))
    secret = identity.secret_name("reflexdb/", namespace, name, UID)
    assert len(secret) <= 512 and re.fullmatch(r"[A-Za-z0-9/_+=.@-]+", secret)
    assert secret.startswith(f"reflexdb/{namespace}/")


def test_tokens_are_bounded_and_deterministic():
    token = identity.build_token(UID, BUILD.hash + "/0")
    assert len(token) <= 64 and re.fullmatch(r"[A-Za-z0-9-]+", token)
    assert token == identity.build_token(UID, BUILD.hash + "/0")
    assert token != identity.build_token(UID, BUILD.hash + "/1")
    assert token != identity.build_token("other", BUILD.hash + "/0")
    svc = identity.service_token(UID)
    assert len(svc) <= 36 and svc == identity.service_token(UID)
    assert svc != identity.service_token("other")
    assert len(identity.service_token(UID, 7)) <= 36
    assert identity.service_token(UID, 7) == identity.service_token(UID, 7)
    assert identity.service_token(UID, 7) != identity.service_token(UID, 8) != svc


@pytest.mark.parametrize(
    "compute, seconds, cents",
    [
        ("BUILD_GENERAL1_SMALL", 60, 0),  # half a cent rounds to even: 0
        ("BUILD_GENERAL1_SMALL", 180, 2),
        ("BUILD_GENERAL1_MEDIUM", 1, 1),  # billed per started minute
        ("BUILD_GENERAL1_MEDIUM", 61, 2),
        ("BUILD_GENERAL1_MEDIUM", 0, 1),  # at least one minute
        ("BUILD_GENERAL1_LARGE", 600, 20),
        ("BUILD_GENERAL1_XLARGE", 120, 8),
        ("BUILD_GENERAL1_2XLARGE", 60, 8),
        (None, 120, 2),  # unknown compute type: priced as medium
        ("SOMETHING_ELSE", 120, 2),
        ("BUILD_GENERAL1_MEDIUM", None, None),  # not finished
    ],
)
def test_cost_estimate(compute, seconds, cents):
    assert identity.estimate_cost_cents(compute, seconds) == cents


def test_price_table():
    assert identity.price_cents_per_minute("BUILD_GENERAL1_LARGE") == 2.0
    assert identity.price_cents_per_minute(None) == identity.price_cents_per_minute("BUILD_GENERAL1_MEDIUM")
