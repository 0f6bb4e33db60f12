"""One version for the operator, the chart and the image: pyproject.toml's. The Helm chart's
version and appVersion, the image's OCI label, the kustomize base's image tag and version label
all carry it, and CHANGELOG.md has a section for it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_version_is_semver() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?", version())


def test_the_chart_carries_the_version() -> None:
    chart = yaml.safe_load((ROOT / "charts" / "reflex-operator" / "Chart.yaml").read_text())
    assert chart["version"] == version()
    assert chart["appVersion"] == version()


def test_the_image_label_carries_the_version() -> None:
    labels = re.findall(r'org\.opencontainers\.image\.version="([^"]+)"', (ROOT / "Dockerfile").read_text())
    assert labels == [version()]


def test_the_kustomize_base_runs_the_image_of_the_version() -> None:
    deployment = yaml.safe_load((ROOT / "manifests" / "deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    repository, _, tag = container["image"].rpartition(":")
    assert tag == version()
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == version()
    values = yaml.safe_load((ROOT / "charts" / "reflex-operator" / "values.yaml").read_text())
    assert values["image"]["repository"] == repository and values["image"]["tag"] == ""  # appVersion


def test_the_changelog_has_the_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    sections = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert sections and sections[0] in ("Unreleased", version())
    assert version() in sections
