"""The alert rules (manifests/alerts/prometheusrule.yaml, the one source; the chart's copy is
checked by tests/unit/test_chart_sources.py) with ``promtool`` built from its Go module
(tests/promtool, as helm is): ``promtool check rules`` finds every rule valid, lint included, and
``promtool test rules`` runs tests/promtool/*.test.yaml, where every alert fires when it should and
stays quiet when it should not (tests/unit/test_alert_rules.py checks that each has both cases).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from reflex_dev.promtool import ensure_promtool

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "manifests" / "alerts" / "prometheusrule.yaml"
CASES = sorted((ROOT / "tests" / "promtool").glob("*.test.yaml"))


@pytest.fixture(scope="module")
def promtool() -> Path:
    return ensure_promtool()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The PrometheusRule's groups as a Prometheus rule file (rules.yaml), beside the test files
    that name it."""
    groups = yaml.safe_load(RULES.read_text())["spec"]["groups"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    for case in CASES:
        shutil.copy(case, tmp_path / case.name)
    return tmp_path


def run(*cmd: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_promtool_finds_every_rule_valid(promtool: Path, workdir: Path) -> None:
    rules = sum(len(g["rules"]) for g in yaml.safe_load(RULES.read_text())["spec"]["groups"])
    proc = run(promtool, "check", "rules", "--lint=all", "--lint-fatal", "rules.yaml", cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {rules} rules found" in proc.stdout, proc.stdout


def test_every_alert_fires_and_stays_quiet_as_its_cases_say(promtool: Path, workdir: Path) -> None:
    assert [c.name for c in CASES] == ["databases.test.yaml", "operator.test.yaml", "plans.test.yaml", "rollouts.test.yaml"]
    proc = run(promtool, "test", "rules", *(c.name for c in CASES), cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(CASES), proc.stdout


def test_promtool_fails_a_case_that_expects_the_wrong_thing(promtool: Path, workdir: Path) -> None:
    """The harness can fail: a paused database's stale unreachable health does not page, so a case
    that expects it to is reported."""
    wrong = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": 'reflexdb_health_status{namespace="a",name="b",status="unreachable"}', "values": "1x20"},
                {"series": 'reflexdb_phase{namespace="a",name="b",phase="Paused"}', "values": "1x20"},
            ],
            "alert_rule_test": [{
                "eval_time": "10m", "alertname": "ReflexDatabaseUnreachable",
                "exp_alerts": [{"exp_labels": {"severity": "critical", "namespace": "a", "name": "b"}}],
            }],
        }],
    }
    (workdir / "wrong.test.yaml").write_text(yaml.safe_dump(wrong))
    proc = run(promtool, "test", "rules", "wrong.test.yaml", cwd=workdir)
    assert proc.returncode != 0 and "FAILED" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
