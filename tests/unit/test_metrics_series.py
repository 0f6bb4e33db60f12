"""The per-resource series: looked up once per resource, and gone (then made again) when the
resource is forgotten."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from reflex_operator.api.models import HealthStatus
from reflex_operator.metrics import Metrics


def _value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, {"namespace": "team-a", "name": "orders", **labels})


def test_health_series_follow_each_sample() -> None:
    m = Metrics(CollectorRegistry())
    m.observe_health("team-a", "orders", HealthStatus.OK, 1500, 3, 10)
    m.observe_health("team-a", "orders", HealthStatus.DEGRADED, 200_000, 4, 11)
    assert _value(m, "reflexdb_health") == 0.5
    assert _value(m, "reflexdb_health_status", status="degraded") == 1
    assert _value(m, "reflexdb_health_status", status="ok") == 0
    assert (_value(m, "reflexdb_snapshot_age_seconds"), _value(m, "reflexdb_swap_count"), _value(m, "reflexdb_rows")) == (200.0, 4, 11)


def test_a_forgotten_resource_has_no_series_and_gets_them_back() -> None:
    m = Metrics(CollectorRegistry())
    m.observe_health("team-a", "orders", HealthStatus.OK, 1500, 3, 10)
    m.forget("team-a", "orders")
    assert _value(m, "reflexdb_health") is None and _value(m, "reflexdb_snapshot_age_seconds") is None
    m.observe_health("team-a", "orders", HealthStatus.OK, 1600, 3, 10)  # the same health as before it was forgotten
    assert _value(m, "reflexdb_health") == 1 and _value(m, "reflexdb_health_status", status="ok") == 1
    assert _value(m, "reflexdb_snapshot_age_seconds") == 1.6


def test_no_series_for_a_figure_never_reported() -> None:
    m = Metrics(CollectorRegistry())
    m.observe_health("team-a", "orders", HealthStatus.UNREACHABLE, None, None, None)
    assert _value(m, "reflexdb_health") == 0
    assert _value(m, "reflexdb_snapshot_age_seconds") is None and _value(m, "reflexdb_rows") is None
