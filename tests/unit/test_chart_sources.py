"""The Helm chart's single sources: its copies of crds/, manifests/admission/, the Grafana
dashboard and the alert rules are byte-identical to the originals, values.schema.json is what ``make chart`` generates
from settings.py, and values.yaml has a key for every REFLEX_* setting. (Rendering, linting and the
comparison with the kustomize base are in tests/integration/test_chart.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from reflex_dev.chart import REQUIRED_SETTINGS, camel, chart_dir, drift, expected_files, values_schema
from reflex_operator.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "reflex-operator"


def values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def test_the_chart_copies_and_schema_are_up_to_date() -> None:
    assert chart_dir() == CHART
    stale = drift()
    assert not stale, f"charts/reflex-operator files differ from their sources (run `make chart`): {stale}"


def test_every_copy_has_its_source() -> None:
    files = expected_files()
    assert "crds/reflexdb.cloud_reflexdatabases.yaml" in files
    assert files["crds/reflexdb.cloud_reflexdatabases.yaml"] == (ROOT / "crds" / "reflexdb.cloud_reflexdatabases.yaml").read_bytes()
    assert files["files/grafana/reflex-operator.json"] == (ROOT / "manifests" / "grafana" / "reflex-operator.json").read_bytes()
    assert files["files/alerts/prometheusrule.yaml"] == (ROOT / "manifests" / "alerts" / "prometheusrule.yaml").read_bytes()
    admission = sorted(p.name for p in (ROOT / "manifests" / "admission").glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(p.rsplit("/", 1)[1] for p in files if p.startswith("files/admission/")) == admission


def test_values_have_a_key_for_every_setting() -> None:
    keys = {camel(field) for field in Settings.model_fields}
    settings = values()["settings"]
    assert set(settings) == keys, (
        f"values.yaml settings: missing {sorted(keys - set(settings))}, unknown {sorted(set(settings) - keys)}"
    )
    schema = values_schema()["properties"]["settings"]
    assert set(schema["properties"]) == keys
    for key in REQUIRED_SETTINGS:
        assert settings[key] is not None, f"settings.{key} is used by the templates: it needs a value"


def test_non_null_setting_values_are_valid_settings(monkeypatch) -> None:
    """Every value values.yaml sets parses as the operator parses its REFLEX_* variable."""
    by_key = {camel(field): field for field in Settings.model_fields}
    given = {by_key[k]: v for k, v in values()["settings"].items() if v is not None}
    settings = Settings(**given)
    for field, value in given.items():
        assert getattr(settings, field) == value, field


def test_schema_of_settings_follows_the_model() -> None:
    props = values_schema()["properties"]["settings"]["properties"]
    assert props["workers"]["anyOf"][0] == {"type": "integer", "minimum": 1}
    assert props["logLevel"]["anyOf"][0]["enum"] == ["DEBUG", "INFO", "WARNING", "ERROR"]
    assert props["metricsPort"] == {"description": "REFLEX_METRICS_PORT", "type": "integer"}
    assert {"type": "null"} in props["namespace"]["anyOf"]
    json.dumps(values_schema())  # serialisable
