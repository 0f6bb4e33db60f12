"""The alert rules (manifests/alerts/prometheusrule.yaml), without running them (promtool does, in
tests/integration/test_alerts.py):

- every expression parses and names only series the operator exports, with labels they have
  (the dashboard's checker, tests/unit/test_dashboard.py), and only real phases and health statuses;
- every alert has a severity, a summary and a description, whose templates name only the labels
  the alert carries (namespace, name, plan, ...: never a value that could be a secret) and $value;
- every alert has a promtool case where it fires and one where it stays quiet, and the cases'
  input series are exported series with their labels (plus the scrape's job, instance and pod).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from reflex_operator.api.models import HealthStatus, Phase
from tests.unit.test_dashboard import selectors_and_groupings, selectors_under, series_labels

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "manifests" / "alerts" / "prometheusrule.yaml"
CASES = sorted((ROOT / "tests" / "promtool").glob("*.test.yaml"))
SEVERITIES = {"critical", "warning", "info"}
TEMPLATE_LABELS = {"namespace", "name", "plan", "shard", "service", "operation", "family", "phase", "rollout", "reason"}
TARGET_LABELS = {"job", "instance", "pod"}
ENUMS = {"phase": {p.value for p in Phase}, "status": {s.value for s in HealthStatus}}


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    assert doc["kind"] == "PrometheusRule" and doc["apiVersion"] == "monitoring.coreos.com/v1"
    return [r for g in doc["spec"]["groups"] for r in g["rules"]]


ALERTS = rules()


def test_the_alerts_an_on_call_expects_are_there() -> None:
    names = [r["alert"] for r in ALERTS]
    assert len(names) == len(set(names))
    assert set(names) == {
        "ReflexDatabaseUnreachable", "ReflexDatabaseDegraded", "ReflexDatabaseFailed", "ReflexDatabaseBuildStalled",
        "ReflexDatabaseRolloutStalled", "ReflexDatabasePendingTooLong", "ReflexDatabaseDeletionStalled",
        "ReflexOperatorAbsent", "ReflexOperatorNoLeader", "ReflexOperatorShardUnheld", "ReflexOperatorReconcileErrors",
        "ReflexOperatorAWSThrottled", "ReflexOperatorAWSBudgetWaitLong",
        "ReflexPlanComputeUnitsLimitReached", "ReflexPlanDataTransferCapExceeded", "ReflexPlanDataTransferCapNear",
        "ReflexRolloutHalted",
    }


@pytest.mark.parametrize("rule", ALERTS, ids=[r["alert"] for r in ALERTS])
def test_every_expression_names_exported_series_labels_and_values(rule: dict[str, Any]) -> None:
    series = series_labels()
    selectors, groupings = selectors_and_groupings(promql_parser.parse(rule["expr"]))
    assert selectors, rule["expr"]
    for sel in selectors:
        assert sel.name in series, f"{sel.name} is not exported by the operator"
        for matcher in sel.matchers.matchers:
            assert matcher.name in series[sel.name], f"{sel.name} has no label {matcher.name!r}"
            if matcher.name in ENUMS:
                values = set(matcher.value.split("|"))
                assert values <= ENUMS[matcher.name], f"{sel.name}{{{matcher.name}}}: {values - ENUMS[matcher.name]} is no value of it"
    for labels, node in groupings:
        available = set().union(*(series[s.name] for s in selectors_under(node)))
        assert set(labels) <= available, f"grouped by {sorted(set(labels) - available)}, which no series under it has"


@pytest.mark.parametrize("rule", ALERTS, ids=[r["alert"] for r in ALERTS])
def test_every_alert_says_how_bad_and_what_names_only_its_labels(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in SEVERITIES and set(rule["labels"]) == {"severity"}
    assert set(rule["annotations"]) == {"summary", "description"}
    for text in rule["annotations"].values():
        for template in re.findall(r"\{\{(.*?)\}\}", text):
            names = set(re.findall(r"\$labels\.(\w+)", template))
            assert names <= TEMPLATE_LABELS, names - TEMPLATE_LABELS
            assert re.fullmatch(r"\s*(\$labels\.\w+|\$value(\s*\|\s*\w+)?)\s*", template), f"template {{{{{template}}}}}"
    assert re.fullmatch(r"\d+[mh]", rule["for"]), rule["for"]


def _cases() -> list[dict[str, Any]]:
    return [t for path in CASES for t in yaml.safe_load(path.read_text())["tests"]]


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_does_not() -> None:
    fires, quiet = set(), set()
    for test in _cases():
        for check in test["alert_rule_test"]:
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {r["alert"] for r in ALERTS}
    assert names - fires == set(), "never seen firing"
    assert names - quiet == set(), "never seen quiet"
    assert fires | quiet <= names


def test_the_cases_feed_exported_series_with_their_labels() -> None:
    series = series_labels()
    for test in _cases():
        for given in test["input_series"]:
            m = re.fullmatch(r"(\w+)\{(.*)\}", given["series"])
            assert m, given["series"]
            name, labels = m[1], set(re.findall(r'(\w+)="', m[2]))
            if name == "up":  # Prometheus's own (the absent case)
                continue
            assert name in series, name
            assert labels <= series[name] | TARGET_LABELS, (name, labels - series[name] - TARGET_LABELS)
