"""The README is the user's guide: it must name every metric the operator exports, every action
of the API, and the two commands."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from reflex_operator.api.models import Action
from reflex_operator.metrics import Metrics

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_two_commands_come_first():
    head = README[:600]
    assert "make demo" in head and "make test" in head


def test_every_metric_is_documented():
    metrics = Metrics(CollectorRegistry())
    names = {m.name for m in metrics.registry.collect()}
    assert names, "no metrics registered"
    for name in names:
        # prometheus_client strips _total from counters' family names.
        assert name in README, f"metric {name} missing from README.md"


def test_every_action_has_a_cookbook_entry():
    for action in Action:
        assert f"| {action.value} |" in README, f"action {action.value} missing from the cookbook"
