"""The Grafana dashboard (manifests/grafana/reflex-operator.json): every PromQL expression parses
(promql-parser, the Rust parser of GreptimeDB) and names only metrics that the operator's registry
really exports, with labels those metrics have; and the dashboard has the panels it promises.

The exported names come from instantiating ``Metrics()`` and reading its registry's collectors:
a counter ``x_total`` is its samples' name, a histogram ``h`` exports ``h_bucket`` (with ``le``),
``h_sum``, ``h_count``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from reflex_operator.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "manifests" / "grafana" / "reflex-operator.json"
# Grafana's own variables are substituted before parsing (the parser knows no `$`).
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def exported() -> dict[str, set[str]]:
    """Every series name the operator exports, with the labels of its samples."""
    series: dict[str, set[str]] = {}
    for metric in Metrics().registry.collect():
        labels = set(getattr(metric, "_labelnames", ()))
        names = {
            "counter": [f"{metric.name}_total", f"{metric.name}_created"],
            "histogram": [f"{metric.name}_bucket", f"{metric.name}_sum", f"{metric.name}_count", f"{metric.name}_created"],
            "summary": [metric.name, f"{metric.name}_sum", f"{metric.name}_count"],
        }.get(metric.type, [metric.name])
        for name in names:
            series[name] = set(labels) | ({"le"} if name.endswith("_bucket") else set())
    return series


def _labels_of_collectors() -> dict[str, set[str]]:
    """Label names per collector, read from the Metrics object's attributes (a collector's
    ``collect()`` shows no samples, so no labels, before it is first used)."""
    m = Metrics()
    out: dict[str, set[str]] = {}
    for value in vars(m).values():
        name = getattr(value, "_name", None)
        if name is not None and hasattr(value, "_labelnames"):
            out[name] = set(value._labelnames)
    return out


def series_labels() -> dict[str, set[str]]:
    by_collector = _labels_of_collectors()
    series = exported()
    for name in list(series):
        base = re.sub(r"_(total|created|bucket|sum|count)$", "", name)
        for candidate in (name, base):
            if candidate in by_collector:
                series[name] |= by_collector[candidate]
    return series


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict[str, Any]]:
    out = []
    for panel in dashboard()["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def expressions() -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable."""
    exprs = [(f"panel {p['title']!r} {t['refId']}", t["expr"]) for p in panels() for t in p.get("targets", [])]
    for var in dashboard()["templating"]["list"]:
        if var["type"] == "query":
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var["query"]["query"])
            assert m, f"variable {var['name']}: only label_values(<selector>, <label>) is used"
            exprs.append((f"variable {var['name']} selector", m[1]))
            exprs.append((f"variable {var['name']} label", f"{m[1].split('{')[0]}{{{m[2]}!=\"\"}}"))
    return exprs


def substitute(expr: str) -> str:
    for var, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, value)
    assert "$__" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def selectors_and_groupings(expr: Any) -> tuple[list[Any], list[tuple[Any, list[Any]]]]:
    """Vector selectors, and (label list, selectors under it) of every by/on/ignoring clause."""
    selectors: list[Any] = []
    groupings: list[tuple[list[str], Any]] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            selectors.append(node)
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            groupings.append((list(node.modifier.labels), node.expr))
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None and node.modifier.matching is not None:
            groupings.append((list(node.modifier.matching.labels), node))
        return True

    promql_parser.walk(expr, visit)
    return selectors, groupings


def selectors_under(node: Any) -> list[Any]:
    return selectors_and_groupings(node)[0]


CASES = expressions()


@pytest.mark.parametrize(("where", "expr"), CASES, ids=[w for w, _ in CASES])
def test_every_query_names_exported_metrics_and_their_labels(where: str, expr: str) -> None:
    series = series_labels()
    parsed = promql_parser.parse(substitute(expr))
    selectors, groupings = selectors_and_groupings(parsed)
    assert selectors, f"{where}: no metric in {expr}"
    for sel in selectors:
        assert sel.name in series, f"{where}: {sel.name} is not exported by the operator ({expr})"
        for matcher in sel.matchers.matchers:
            assert matcher.name in series[sel.name], f"{where}: {sel.name} has no label {matcher.name!r}"
    for labels, node in groupings:
        available = set().union(*(series[s.name] for s in selectors_under(node)))
        missing = set(labels) - available
        assert not missing, f"{where}: grouped by {sorted(missing)}, which no metric under it has ({expr})"


def test_the_checker_catches_unknown_metrics_and_labels() -> None:
    series = series_labels()
    assert "reflex_operator_reconcile_duration_seconds_bucket" in series
    assert series["reflex_operator_aws_calls_total"] >= {"service", "operation", "outcome"}
    assert series["reflexdb_phase"] == {"namespace", "name", "phase"}
    assert "reflexdb_phase_total" not in series and "reflex_operator_aws_calls" not in series
    bad = promql_parser.parse('sum by (cluster) (reflexdb_health{pod="x"})')
    selectors, groupings = selectors_and_groupings(bad)
    assert [m.name for m in selectors[0].matchers.matchers] == ["pod"]
    assert groupings[0][0] == ["cluster"]


def test_the_dashboard_has_the_panels_it_promises() -> None:
    titles = {p["title"] for p in panels() if p["type"] != "row"}
    for wanted in ("Databases by phase", "Databases by health", "Snapshot age", "Swap rate", "Latest build duration",
                   "Latest build cost", "AWS calls", "AWS throttles", "Reconcile latency"):
        assert wanted in titles, wanted
    used = {s.name for _, e in CASES for s in selectors_under(promql_parser.parse(substitute(e)))}
    assert {
        "reflexdb_phase", "reflexdb_health", "reflexdb_health_status", "reflexdb_snapshot_age_seconds",
        "reflexdb_swap_count", "reflexdb_build_duration_seconds", "reflexdb_build_cost_cents",
        "reflex_operator_aws_calls_total", "reflex_operator_aws_throttles_total",
        "reflex_operator_reconcile_duration_seconds_bucket",
    } <= used
    d = dashboard()
    assert d["uid"] == "reflex-operator" and d["templating"]["list"][0]["type"] == "datasource"
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels():
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]


def test_the_configmap_component_carries_the_sidecar_label() -> None:
    component = yaml.safe_load((ROOT / "manifests" / "grafana" / "kustomization.yaml").read_text())
    (gen,) = component["configMapGenerator"]
    assert gen["files"] == ["reflex-operator.json"]
    assert gen["options"]["labels"]["grafana_dashboard"] == "1"
    assert gen["options"]["disableNameSuffixHash"] is True
