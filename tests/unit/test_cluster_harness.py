"""The test cluster's harness (reflex_dev.cluster, reflex_dev.clusterstack), the parts that need no
node: what it says where it cannot run, the sandbox image it packs, and the values and overlay that
point the chart and the kustomize base at the local stack."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import jsonschema
import pytest
import yaml

from reflex_dev import cluster
from reflex_dev.clusterstack import ClusterStack, chart_values, kustomize_overlay

ROOT = Path(__file__).resolve().parents[2]


def test_not_root_is_named_as_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster.os, "geteuid", lambda: 1000)
    reason = cluster.why_not()
    assert reason is not None and "root" in reason


def test_a_missing_tool_is_named_with_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster.os, "geteuid", lambda: 0)
    monkeypatch.setattr(cluster.shutil, "which", lambda tool: None if tool == "containerd" else f"/usr/bin/{tool}")
    reason = cluster.why_not()
    assert reason is not None and "containerd" in reason and "make cluster-tools" in reason


def test_the_pause_image_archive_holds_one_layer_with_the_binary(tmp_path: Path) -> None:
    binary = tmp_path / "pause"
    binary.write_bytes(b"\x7fELF not really")
    archive = cluster.pause_archive(binary, tmp_path / "pause.tar")
    with tarfile.open(archive) as tar:
        (manifest,) = json.load(tar.extractfile("manifest.json"))
        assert manifest["RepoTags"] == [cluster.PAUSE_IMAGE]
        config = json.load(tar.extractfile(manifest["Config"]))
        assert config["config"]["Entrypoint"] == ["/pause"] and config["config"]["User"] == "65535:65535"
        with tarfile.open(fileobj=tar.extractfile(manifest["Layers"][0])) as layer:
            member = layer.getmember("pause")
            assert member.mode == 0o755 and layer.extractfile(member).read() == binary.read_bytes()


def _stack() -> ClusterStack:
    stack = ClusterStack(Path("/nonexistent"))
    stack.emulator_url, stack.simulator_url = "http://192.0.2.2:4566", "http://192.0.2.2:8080"
    stack.settings = {
        "REFLEX_ECS_CLUSTER": "reflex", "REFLEX_CODEBUILD_PROJECT": "reflex-server-build",
        "REFLEX_ECR_REPOSITORY": "reflex-server", "REFLEX_SUBNETS": '["subnet-1"]',
        "REFLEX_SECURITY_GROUPS": '["sg-1"]', "REFLEX_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/x",
    }
    return stack


def test_chart_values_are_valid_for_the_charts_schema_and_point_at_the_stack() -> None:
    values = chart_values(_stack(), namespace="dbs")
    schema = json.loads((ROOT / "charts" / "reflex-operator" / "values.schema.json").read_text())
    defaults = yaml.safe_load((ROOT / "charts" / "reflex-operator" / "values.yaml").read_text())
    merged = {**defaults, **values, "settings": {**defaults["settings"], **values["settings"]}}
    jsonschema.validate(merged, schema)
    assert values["settings"]["subnets"] == ["subnet-1"]
    assert values["settings"]["endpointTemplate"] == "http://192.0.2.2:8080/i/{service}"
    assert values["settings"]["namespace"] == "dbs"
    assert {"name": "AWS_ENDPOINT_URL", "value": "http://192.0.2.2:4566"} in values["extraEnv"]


def test_the_overlay_uses_the_base_the_api_component_and_the_imported_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLEX_REPO_ROOT", str(ROOT))
    overlay = kustomize_overlay(_stack(), tmp_path / "overlay", namespace="dbs-k")
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    (base,) = kustomization["resources"]
    assert (overlay / base).resolve() == ROOT / "manifests"
    assert kustomization["components"] == [f"{base}/api"]
    assert kustomization["images"][0]["newName"] == "localhost/reflex-operator"
    patch = yaml.safe_load((overlay / "operator-env.yaml").read_text())
    env = {e["name"]: e["value"] for e in patch["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["REFLEX_NAMESPACE"] == "dbs-k" and env["REFLEX_LEASE_DURATION_SECONDS"] == "8"
