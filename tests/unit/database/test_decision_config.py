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
    assert Settings().decision_config(Config.image_repository_uri) == Config()


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
