"""Keep the Helm chart (``charts/reflex-operator``) in step with its sources: ``make chart``.

A chart cannot reach files outside its directory (``helm package``, Argo CD), so what it shares
with the kustomize base is copied in, byte for byte, and ``tests/unit/test_chart_sources.py`` fails
when a copy drifts:

- ``crds/*.yaml`` (generated from the models by ``make crds``) → the chart's ``crds/``;
- ``manifests/admission/*.yaml`` (the admission policies) → ``files/admission/``;
- ``manifests/grafana/reflex-operator.json`` (the dashboard) → ``files/grafana/``;
- ``manifests/alerts/prometheusrule.yaml`` (the alert rules) → ``files/alerts/``.

``values.schema.json`` is generated here too: its ``settings`` part from
``reflex_operator.settings.Settings`` (one key per ``REFLEX_*`` field, the same types and bounds),
the rest from :data:`OTHER_VALUES`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from reflex_dev.controlplane import repo_root

__all__ = ["camel", "chart_dir", "drift", "expected_files", "main", "sync", "values_schema"]

# Ports the templates use for the container and the Service: never null.
REQUIRED_SETTINGS = ("metricsPort", "probePort")


def chart_dir() -> Path:
    return repo_root() / "charts" / "reflex-operator"


def camel(field: str) -> str:
    """``poll_interval_seconds`` → ``pollIntervalSeconds`` (the chart's key for REFLEX_POLL_INTERVAL_SECONDS)."""
    head, *rest = field.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _copies() -> dict[str, bytes]:
    root = repo_root()
    files: dict[str, bytes] = {}
    for path in sorted((root / "crds").glob("*.yaml")):
        if path.name != "kustomization.yaml":
            files[f"crds/{path.name}"] = path.read_bytes()
    for path in sorted((root / "manifests" / "admission").glob("*.yaml")):
        if path.name != "kustomization.yaml":
            files[f"files/admission/{path.name}"] = path.read_bytes()
    files["files/grafana/reflex-operator.json"] = (root / "manifests" / "grafana" / "reflex-operator.json").read_bytes()
    files["files/alerts/prometheusrule.yaml"] = (root / "manifests" / "alerts" / "prometheusrule.yaml").read_bytes()
    return files


def _strip(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in ("title", "default", "description")}


def _settings_schema() -> dict[str, Any]:
    from reflex_operator.settings import Settings

    props: dict[str, Any] = {}
    for field, schema in Settings.model_json_schema()["properties"].items():
        key = camel(field)
        prop = _strip(schema)
        if "anyOf" in prop:
            prop["anyOf"] = [_strip(s) for s in prop["anyOf"]]
        elif key not in REQUIRED_SETTINGS:
            prop = {"anyOf": [prop, {"type": "null"}]}
        description = Settings.model_fields[field].description
        prop = {"description": f"REFLEX_{field.upper()}" + (f": {description}" if description else ""), **prop}
        props[key] = prop
    return {"type": "object", "additionalProperties": False, "required": list(REQUIRED_SETTINGS), "properties": props}


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": props}


_STR = {"type": "string"}
_BOOL = {"type": "boolean"}
_MAP = {"type": "object"}
_LIST = {"type": "array"}
_STRMAP = {"type": "object", "additionalProperties": {"type": "string"}}
_INT0 = {"type": "integer", "minimum": 0}

OTHER_VALUES: dict[str, Any] = {
    "global": _MAP,
    "image": _obj(
        repository={"type": "string", "minLength": 1}, tag=_STR,
        digest={"type": "string", "pattern": r"^(|sha256:[0-9a-f]{64})$"},
        pullPolicy={"enum": ["Always", "IfNotPresent", "Never"]},
    ),
    "imagePullSecrets": _LIST,
    "fullnameOverride": {"type": "string", "maxLength": 63},
    "aws": _obj(region={"type": "string", "minLength": 1}, stsRegionalEndpoints={"enum": ["regional", "legacy"]}),
    "extraEnv": {"type": "array", "items": {"type": "object", "required": ["name"]}},
    "serviceAccount": _obj(create=_BOOL, name=_STR, annotations=_STRMAP),
    "rbac": _obj(create=_BOOL),
    "admissionPolicies": _obj(enabled=_BOOL),
    "replicaCount": {"type": "integer", "minimum": 1},
    "podDisruptionBudget": _obj(enabled=_BOOL, minAvailable={"type": ["integer", "string"]}),
    "revisionHistoryLimit": _INT0,
    "terminationGracePeriodSeconds": _INT0,
    "priorityClassName": _STR,
    "podLabels": _STRMAP,
    "podAnnotations": _STRMAP,
    "nodeSelector": _STRMAP,
    "tolerations": _LIST,
    "affinity": _MAP,
    "podSecurityContext": _MAP,
    "securityContext": _MAP,
    "resources": _MAP,
    "tmpSizeLimit": {"type": ["string", "integer"]},
    "livenessProbe": _MAP,
    "readinessProbe": _MAP,
    "metricsService": _obj(type={"enum": ["ClusterIP", "NodePort", "LoadBalancer"]}, annotations=_STRMAP),
    "serviceMonitor": _obj(enabled=_BOOL, interval=_STR, scrapeTimeout=_STR, labels=_STRMAP),
    "prometheusRule": _obj(enabled=_BOOL, namespace=_STR, labels=_STRMAP, annotations=_STRMAP),
    "grafanaDashboard": _obj(enabled=_BOOL, namespace=_STR, labels=_STRMAP, annotations=_STRMAP),
}


def values_schema() -> dict[str, Any]:
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "reflex-operator chart values",
        "description": "GENERATED by `make chart` (devstack/reflex_dev/chart.py); do not edit.",
        "type": "object",
        "additionalProperties": False,
        "properties": {**OTHER_VALUES, "settings": _settings_schema()},
    }


def expected_files() -> dict[str, bytes]:
    """Every chart file that comes from elsewhere, by its path in the chart."""
    files = _copies()
    files["values.schema.json"] = (json.dumps(values_schema(), indent=2) + "\n").encode()
    return files


_MANAGED = re.compile(r"^(crds/[^/]+\.yaml|files/admission/[^/]+\.yaml|files/grafana/[^/]+\.json|files/alerts/[^/]+\.yaml|values\.schema\.json)$")


def _present() -> dict[str, bytes]:
    chart = chart_dir()
    return {
        rel: path.read_bytes()
        for path in chart.rglob("*") if path.is_file()
        if _MANAGED.match(rel := path.relative_to(chart).as_posix())
    }


def drift() -> list[str]:
    """The managed chart files that differ from their sources (or are missing, or stale)."""
    want, have = expected_files(), _present()
    return sorted(p for p in set(want) | set(have) if want.get(p) != have.get(p))


def sync() -> list[str]:
    """Write the managed files; remove stale ones. Returns what changed."""
    changed = drift()
    chart, want = chart_dir(), expected_files()
    for rel in changed:
        path = chart / rel
        if rel in want:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(want[rel])
        else:
            path.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    for rel in sync():
        print(f"charts/reflex-operator/{rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
