"""The contract with reflex-server (``reflex_operator.api.server_contract``): the container environment the
operator writes and the server (or the simulator) reads, and the ``/healthz`` document the server
sends and the operator reads."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from reflex_operator.api.models import LogLevel, Replication, SyncMode
from reflex_operator.api.server_contract import SOURCE_URL, HealthDocument, ServerEnvironment, server_container

FULL = ServerEnvironment(
    sync_mode=SyncMode.STREAM,
    sync_interval_seconds=30,
    log_level=LogLevel.WARN,
    safety_net=0.5,
    schemas=("public", "sales"),
    resource="ns/db",
    deploy_hash="dh1",
    source_secret_arn="arn:secret",
)


def env(**values: str) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in values.items()]


def test_round_trip_through_the_container() -> None:
    container = {"environment": FULL.to_environment(), "secrets": FULL.to_secrets()}
    back = ServerEnvironment.from_container(container)
    assert back == FULL
    assert back.states("sync_mode", "sync_interval_seconds", "log_level", "safety_net", "schemas", "resource", "deploy_hash")


def test_the_connection_string_is_a_secret_reference_never_a_variable() -> None:
    assert SOURCE_URL not in {e["name"] for e in FULL.to_environment()}
    assert "arn:secret" not in json.dumps(FULL.to_environment())
    assert FULL.to_secrets() == [{"name": "REFLEX_SOURCE_URL", "valueFrom": "arn:secret"}]
    assert ServerEnvironment().to_secrets() == []
    # A variable of that name (a contract violation) is not taken for the secret.
    leaked = ServerEnvironment.from_environment(env(REFLEX_SOURCE_URL="postgres://u:p@h/db"))
    assert leaked.source_secret_arn is None


def test_numbers_as_the_operator_always_wrote_them() -> None:
    values = {e["name"]: e["value"] for e in FULL.to_environment()}
    assert values["REFLEX_SYNC_INTERVAL_SECONDS"] == "30" and values["REFLEX_SAFETY_NET"] == "0.5"
    assert values["REFLEX_SCHEMAS"] == "public,sales"
    fractional = ServerEnvironment(sync_interval_seconds=0.3, safety_net=1.0)
    values = {e["name"]: e["value"] for e in fractional.to_environment()}
    assert values["REFLEX_SYNC_INTERVAL_SECONDS"] == "0.3" and values["REFLEX_SAFETY_NET"] == "1.0"


def test_an_absent_or_invalid_variable_takes_the_server_default() -> None:
    server = ServerEnvironment.from_environment(
        env(
            REFLEX_SYNC_MODE="sometimes",
            REFLEX_SYNC_INTERVAL_SECONDS="0",
            REFLEX_SAFETY_NET="0.1",
            REFLEX_SCHEMAS=" a , ,b ",
            REFLEX_SOMETHING_NEW="x",
        )
    )
    assert server.sync_mode is SyncMode.POLL and server.sync_interval_seconds == 60.0 and server.log_level is LogLevel.INFO
    assert server.safety_net == 0.1 and server.schemas == ("a", "b")
    assert server.states("safety_net", "schemas") and not server.states("sync_mode")
    assert server.resource is None and server.deploy_hash is None
    assert ServerEnvironment.from_environment(env(REFLEX_SCHEMAS=" , ")).schemas == ("public",)


def test_the_server_container_is_found_by_name() -> None:
    td = {"containerDefinitions": [{"name": "sidecar"}, {"name": "reflex-server", "image": "i"}]}
    assert server_container(td)["image"] == "i"
    assert server_container({"containerDefinitions": [{"name": "other"}]}) == {"name": "other"}
    assert server_container({}) == {}


HEALTH = HealthDocument(
    status="ok",
    snapshot_age_ms=250,
    swap_count=3,
    row_counts={"public.orders": 1500},
    replication=Replication.RUNNING,
    uptime_seconds=12,
    last_swap_time=datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=timezone.utc),
    bytes_transferred_this_month=4096,
)


def test_health_document_on_the_wire() -> None:
    # Byte for byte what the simulator has always served (key order, milliseconds, Z), and the
    # bytes transferred this month the plans' data transfer cap counts.
    assert json.dumps(HEALTH.wire()) == (
        '{"status": "ok", "snapshotAgeMs": 250, "swapCount": 3, "rowCounts": {"public.orders": 1500}, '
        '"replication": "running", "uptimeSeconds": 12, "lastSwapTime": "2026-01-01T12:00:00.123Z", '
        '"bytesTransferredThisMonth": 4096}'
    )
    assert HealthDocument.model_validate(HEALTH.wire()) == HEALTH.model_copy(
        update={"last_swap_time": datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)}
    )


def test_health_document_reading_is_tolerant_where_it_always_was() -> None:
    doc = HealthDocument.model_validate({"status": "warming", "replication": "rebuilding", "swapCount": 2.7, "extra": True})
    assert doc.status == "degraded" and doc.replication is None and doc.swap_count == 2
    assert HealthDocument.model_validate({"status": "ok"}).wire()["lastSwapTime"] is None
