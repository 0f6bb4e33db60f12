"""The Helm chart (charts/reflex-operator), with helm built from its Go module (tests/helm):

- ``helm lint`` with the default and with non-default values; the values schema rejects bad values
  with the offending key named;
- ``helm template`` with the default values renders the kustomize base's objects (manifests/, the
  same defaults: one source), Helm's own labels aside, the Namespace being Helm's
  (``--create-namespace``); with every optional part on it renders the base plus the monitoring,
  alerts and Grafana components;
- non-default values reach the objects (settings as REFLEX_* variables the operator parses, IRSA,
  image digest, another namespace);
- ``kubectl apply --server-side --dry-run=server`` of both renders against the real kube-apiserver.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from reflex_dev.helm import ensure_helm
from reflex_operator.settings import Settings
from tests.fixtures.controlplane import Kube

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "reflex-operator"
MANIFESTS = ROOT / "manifests"
RELEASE = "reflex-operator"
# The non-default render: another release in another namespace (its cluster-scoped objects must
# not collide with the default release's).
OPS = "ops"
OPS_NAME = "ops-reflex-operator"
NAMESPACE = "reflex-system"
KUBE_VERSION = "v1.36.3"  # the test control plane's
# Byte copies of crds/ and manifests/admission/ (no Helm labels), and the cluster-scoped kinds.
VERBATIM = ("CustomResourceDefinition", "ReflexPlan", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
CLUSTER_SCOPED = (*VERBATIM, "ClusterRole", "ClusterRoleBinding")
HELM_LABELS = ("app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "helm.sh/chart")
# Prometheus Operator's CRDs are not in the test API server: a ServiceMonitor or a PrometheusRule
# cannot be dry-run.
NOT_SERVED = {"ServiceMonitor", "PrometheusRule"}

NON_DEFAULT = {
    "image": {"repository": "registry.example.com/reflex-operator", "digest": "sha256:" + "a" * 64},
    "aws": {"region": "eu-west-1"},
    "settings": {
        "namespace": "databases",
        "subnets": ["subnet-1", "subnet-2"],
        "securityGroups": ["sg-1"],
        "assignPublicIp": True,
        "workers": 4,
        "retryJitter": 0.5,
        "pollIntervalSeconds": 2.5,
        "metricsPort": 9191,
        "logLevel": "DEBUG",
    },
    "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/reflex-operator"}},
    "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "grafanaDashboard": {"enabled": True},
    "prometheusRule": {"enabled": True, "namespace": "monitoring", "labels": {"release": "kube-prometheus-stack"}},
    "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy.internal:3128"}],
    "podAnnotations": {"example.com/team": "data"},
}


@pytest.fixture(scope="module")
def helm() -> Path:
    return ensure_helm()


def run(*cmd: str | Path, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def template(helm: Path, *args: str, namespace: str = NAMESPACE, release: str = RELEASE,
             check: bool = True) -> subprocess.CompletedProcess:
    return run(helm, "template", release, CHART, "--namespace", namespace, "--include-crds",
               "--kube-version", KUBE_VERSION, *args, check=check)


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def by_key(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    keyed = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    assert len(keyed) == len(objects), "duplicate objects"
    return keyed


def values_file(tmp_path: Path, values: dict[str, Any]) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def normalise(obj: dict[str, Any]) -> dict[str, Any]:
    """Without Helm's own labels, with env in name order (the chart orders settings by key)."""
    obj = copy.deepcopy(obj)

    def strip(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("labels", "matchLabels", "selector"):
                labels = node.get(key)
                if isinstance(labels, dict):
                    for label in HELM_LABELS:
                        labels.pop(label, None)
            if isinstance(node.get("env"), list):
                node["env"] = sorted(node["env"], key=lambda e: e["name"])
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    strip(obj)
    return obj


def kustomize(kube: Kube, tmp_path: Path, components: list[str]) -> list[dict[str, Any]]:
    """The base (and components) rendered by kubectl's kustomize, from an overlay in tmp_path."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    rel = os.path.relpath(MANIFESTS, overlay)
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [rel], "components": [f"{rel}/{c}" for c in components],
    }))
    return docs(kube.kubectl("kustomize", str(overlay)).stdout)


def container(objects: dict, name: str = RELEASE) -> dict[str, Any]:
    (c,) = objects[("Deployment", name)]["spec"]["template"]["spec"]["containers"]
    return c


def dry_run(kube: Kube, objects: list[dict[str, Any]]) -> str:
    served = [o for o in objects if o["kind"] not in NOT_SERVED]
    proc = kube.kubectl("apply", "--server-side", "--dry-run=server", "--field-manager=reflex-chart-test", "-f", "-",
                        input=yaml.safe_dump_all(served))
    for o in served:
        assert re.search(rf"(?i){re.escape(o['kind'])}[^\s]*/{re.escape(o['metadata']['name'])} .*\(server dry run\)",
                         proc.stdout), f"{o['kind']}/{o['metadata']['name']} not applied:\n{proc.stdout}"
    return proc.stdout


# ------------------------------------------------------------------------------------ lint


def test_helm_lint_default_and_non_default_values(helm: Path, tmp_path: Path) -> None:
    out = run(helm, "lint", "--strict", CHART, "--kube-version", KUBE_VERSION).stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in out, out
    out = run(helm, "lint", "--strict", CHART, "--kube-version", KUBE_VERSION,
              "-f", values_file(tmp_path, NON_DEFAULT)).stdout
    assert "0 chart(s) failed" in out, out


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("settings.workers=0", "workers"),
        ("settings.logLevel=LOUD", "logLevel"),
        ("settings.retryJitter=1", "retryJitter"),
        ("settings.bogus=1", "bogus"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("settings.metricsPort=null", "metricsPort"),
    ],
)
def test_the_values_schema_rejects_bad_values(helm: Path, setting: str, named: str) -> None:
    proc = template(helm, "--set", setting, check=False)
    assert proc.returncode != 0, f"--set {setting} was accepted"
    assert "values don't meet the specifications of the schema" in proc.stderr, proc.stderr
    assert named in proc.stderr, proc.stderr


# ------------------------------------------------------------------- the same as kustomize


def test_default_values_render_the_kustomize_base(helm: Path, kube: Kube, tmp_path: Path) -> None:
    chart = by_key(docs(template(helm).stdout))
    base = by_key(kustomize(kube, tmp_path, []))
    assert base.pop(("Namespace", NAMESPACE))  # Helm's: `helm install --create-namespace`
    assert set(chart) == set(base), f"chart only: {set(chart) - set(base)}; base only: {set(base) - set(chart)}"
    for key in base:
        assert normalise(chart[key]) == normalise(base[key]), f"{key} differs from the kustomize base"
    for obj in chart.values():
        labels = obj["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/managed-by") == "Helm" or obj["kind"] in VERBATIM


def test_every_optional_part_renders_the_base_with_its_components(helm: Path, kube: Kube, tmp_path: Path) -> None:
    on = {"serviceMonitor": {"enabled": True}, "grafanaDashboard": {"enabled": True}, "prometheusRule": {"enabled": True}}
    chart = by_key(docs(template(helm, "-f", str(values_file(tmp_path, on))).stdout))
    base = by_key(kustomize(kube, tmp_path, ["monitoring", "grafana", "alerts"]))
    base.pop(("Namespace", NAMESPACE))
    assert set(chart) == set(base)
    for key in base:
        assert normalise(chart[key]) == normalise(base[key]), f"{key} differs from the kustomize base + components"
    dashboard = chart[("ConfigMap", "reflex-operator-dashboard")]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["data"]["reflex-operator.json"] == (MANIFESTS / "grafana" / "reflex-operator.json").read_text()
    source = yaml.safe_load((MANIFESTS / "alerts" / "prometheusrule.yaml").read_text())
    assert chart[("PrometheusRule", "reflex-operator")]["spec"] == source["spec"]  # Helm rendered no {{ }} of the rules
    assert chart[("ServiceMonitor", "reflex-operator")]["spec"]["endpoints"][0]["honorLabels"] is True


# --------------------------------------------------------------------- non-default values


def test_non_default_values_reach_the_objects(helm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = by_key(docs(template(helm, "-f", str(values_file(tmp_path, NON_DEFAULT)), namespace="reflex-ops", release=OPS).stdout))
    assert {k for k in objects if k[0] in ("ServiceMonitor", "ConfigMap", "PrometheusRule")} == {
        ("ServiceMonitor", OPS_NAME), ("ConfigMap", f"{OPS_NAME}-dashboard"), ("PrometheusRule", OPS_NAME),
    }
    rule = objects[("PrometheusRule", OPS_NAME)]["metadata"]
    assert rule["namespace"] == "monitoring" and rule["labels"]["release"] == "kube-prometheus-stack"
    for (kind, _), obj in objects.items():
        if kind not in CLUSTER_SCOPED and kind != "PrometheusRule":
            assert obj["metadata"]["namespace"] == "reflex-ops", kind
    assert objects[("ClusterRoleBinding", OPS_NAME)]["subjects"][0]["namespace"] == "reflex-ops"
    c = container(objects, OPS_NAME)
    assert c["image"] == "registry.example.com/reflex-operator@sha256:" + "a" * 64
    env = {e["name"]: e["value"] for e in c["env"] if "value" in e}
    assert env["AWS_REGION"] == "eu-west-1" and env["HTTPS_PROXY"] == "http://proxy.internal:3128"
    # The operator reads the rendered REFLEX_* variables as the values meant them.
    for key in list(os.environ):
        if key.startswith("REFLEX_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("REFLEX_"):
            monkeypatch.setenv(key, value)
    s = Settings()
    assert (s.namespace, s.subnets, s.security_groups, s.assign_public_ip) == ("databases", ["subnet-1", "subnet-2"], ["sg-1"], True)
    assert (s.workers, s.retry_jitter, s.poll_interval_seconds, s.metrics_port, s.log_level) == (4, 0.5, 2.5, 9191, "DEBUG")
    assert "REFLEX_RESYNC_SECONDS" not in env  # null: the operator's default
    assert {p["name"]: p["containerPort"] for p in c["ports"]}["metrics"] == 9191
    assert objects[("Service", f"{OPS_NAME}-metrics")]["spec"]["ports"][0]["port"] == 9191
    sa = objects[("ServiceAccount", OPS_NAME)]
    assert sa["metadata"]["annotations"] == NON_DEFAULT["serviceAccount"]["annotations"]
    pod = objects[("Deployment", OPS_NAME)]["spec"]["template"]["metadata"]
    assert pod["annotations"] == {"example.com/team": "data"}
    assert objects[("ServiceMonitor", OPS_NAME)]["metadata"]["labels"]["release"] == "kube-prometheus-stack"


# ------------------------------------------------------------------------ server dry run


def test_server_side_dry_run_of_the_default_render(helm: Path, kube: Kube) -> None:
    objects = docs(template(helm).stdout)
    assert sorted(o["kind"] for o in objects) == sorted([
        # ReflexDatabase, ReflexPlan, ReflexBuild, ReflexRollout
        "CustomResourceDefinition", "CustomResourceDefinition", "CustomResourceDefinition", "CustomResourceDefinition", "ServiceAccount", "ClusterRole",
        "ClusterRoleBinding", "Role", "RoleBinding", "PodDisruptionBudget", "Service", "Deployment",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    ])
    dry_run(kube, objects)


def test_server_side_dry_run_of_a_non_default_render(helm: Path, kube: Kube, tmp_path: Path) -> None:
    kube.kubectl("create", "namespace", "reflex-ops", check=False)
    objects = docs(template(helm, "-f", str(values_file(tmp_path, NON_DEFAULT)), namespace="reflex-ops", release=OPS).stdout)
    dry_run(kube, objects)
