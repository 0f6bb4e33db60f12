"""One source for the settings the decisions depend on: ``Settings`` takes its defaults from the
decision core's ``Config``, and ``Settings.decision_config`` fills every field of it."""

from __future__ import annotations

import dataclasses
import os

import pytest

from reflex_operator.database.inputs import Config
from reflex_operator.settings import Settings


@pytest.fixture(autouse=True)
def no_reflex_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("REFLEX_")]:
        monkeypatch.delenv(name)


def test_defaults_agree() -> None:
    config = Settings().decision_config(Config.image_repository_uri)
    assert dataclasses.replace(config, deploy_template=None) == Config()
    assert config.deploy_template is not None  # the settings always say the operator's template (the core may not)


@pytest.mark.parametrize(
    "change,moves",
    [
        ({}, False),  # the same operator, restarted: the same template
        ({"execution_role_arn": "arn:aws:iam::123456789012:role/other"}, True),
        ({"task_role_arn": "arn:aws:iam::123456789012:role/reflex-task"}, True),
        ({"container_port": 9090}, True),
        ({"default_server_version": "v9.9.9", "cluster_identity": "east-2"}, False),  # not in the task definition's template
    ],
)
def test_the_template_mark_changes_with_what_every_task_definition_holds(change, moves) -> None:
    before = Settings().decision_config("repo").deploy_template
    after = Settings(**change).decision_config("repo").deploy_template
    assert (before != after) is moves


def test_every_config_field_comes_from_the_settings() -> None:
    settings = Settings(
        default_server_version="v9.9.9",
        endpoint_template="http://{name}.{namespace}:1",
        build_history_limit=3,
        build_compute_type="BUILD_GENERAL1_LARGE",
        secret_prefix="other/",
        cluster_identity="east-2",
        status_refresh_seconds=5.0,
        notification_limit=7,
        history_limit=9,
        build_idempotency_window_seconds=30.0,
        build_idempotency_margin_seconds=5.0,
        fargate_prices={"us-east-1": {"vcpuHour": 1.0, "gbHour": 0.5}},
        rollout_waves=False,
        namespace="team-a",
    )
    config = settings.decision_config("repo")
    defaults = Config()
    unchanged = [f.name for f in dataclasses.fields(Config) if getattr(config, f.name) == getattr(defaults, f.name)]
    assert unchanged == []
    assert config.compute_type == "BUILD_GENERAL1_LARGE" and config.image_repository_uri == "repo"


def test_settings_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLEX_BUILD_COMPUTE_TYPE", "BUILD_GENERAL1_SMALL")
    monkeypatch.setenv("REFLEX_STATUS_REFRESH_SECONDS", "0")
    config = Settings().decision_config("repo")
    assert config.compute_type == "BUILD_GENERAL1_SMALL" and config.status_refresh_seconds == 0
