"""The reflex-server simulator as the operator sees it: ECS services created in the emulator with
boto3, instances answering over HTTP at the endpoint template."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

import pytest

from reflex_dev._proc import wait_until
from reflex_dev.simulator import tables_for

pytestmark = pytest.mark.integration

CLUSTER = "reflex"
SECRET_URL = "postgres://reflex:hunter2@db.internal:5432/app"


def eventually(predicate: Any, timeout: float = 10.0, what: str = "condition") -> Any:
    return wait_until(predicate, timeout, interval=0.05, what=what)


def register(aws: Any, interval: float = 0.3, mode: str = "poll", schemas: str = "public,sales", image: str = "img:1") -> str:
    secret_arn = aws.secretsmanager.create_secret(Name=f"reflexdb/{time.monotonic_ns()}", SecretString=SECRET_URL)["ARN"]
    env = {
        "REFLEX_SYNC_MODE": mode,
        "REFLEX_SYNC_INTERVAL_SECONDS": str(interval),
        "REFLEX_LOG_LEVEL": "debug",
        "REFLEX_SAFETY_NET": "0.1",
        "REFLEX_SCHEMAS": schemas,
    }
    return aws.ecs.register_task_definition(
        family="reflex-db",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "reflex-server",
                "image": image,
                "environment": [{"name": k, "value": v} for k, v in env.items()],
                "secrets": [{"name": "REFLEX_SOURCE_URL", "valueFrom": secret_arn}],
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]


def create_service(aws: Any, name: str, td: str, desired: int = 1) -> None:
    aws.ecs.create_service(
        cluster=CLUSTER,
        serviceName=name,
        taskDefinition=td,
        desiredCount=desired,
        launchType="FARGATE",
        clientToken=f"tok-{name}",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": json.loads(aws.settings["REFLEX_SUBNETS"]),
                "securityGroups": json.loads(aws.settings["REFLEX_SECURITY_GROUPS"]),
            }
        },
    )


def post(url: str) -> dict[str, Any]:
    req = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def healthy(simulator: Any, svc: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        status, body = simulator.healthz(svc)
        return body if status == 200 else None

    return eventually(check, what=f"{svc} to answer /healthz")


@pytest.fixture
def running(aws: Any, simulator: Any) -> dict[str, Any]:
    """One instance, serving: service `db-a`, sync interval 0.3 s, schemas public and sales."""
    create_service(aws, "db-a", register(aws))
    return healthy(simulator, "db-a")


def test_health_figures(aws: Any, simulator: Any, running: dict[str, Any]) -> None:
    health = running
    assert set(health) == {
        "status", "snapshotAgeMs", "swapCount", "rowCounts", "replication", "uptimeSeconds", "lastSwapTime",
        "bytesTransferredThisMonth",
    }
    assert health["bytesTransferredThisMonth"] == 0  # the default rate is 0
    assert health["status"] == "ok"
    assert health["replication"] == "running"
    assert health["swapCount"] >= 1
    assert 0 <= health["snapshotAgeMs"] < 2000
    assert isinstance(health["uptimeSeconds"], int)
    assert datetime.fromisoformat(health["lastSwapTime"].replace("Z", "+00:00")).tzinfo is not None
    assert health["rowCounts"] == tables_for(["public", "sales"])
    assert "public.orders" in health["rowCounts"] and "sales.accounts" in health["rowCounts"]
    # The endpoint template resolves to the instance.
    url = simulator.endpoint_template.format(service="db-a") + "/healthz"
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert json.loads(resp.read())["rowCounts"] == health["rowCounts"]


def test_settings_come_from_the_task_definition_and_the_secret_is_never_logged(
    aws: Any, simulator: Any, running: dict[str, Any]
) -> None:
    inst = simulator.instance("db-a")
    settings = inst["settings"]
    assert settings["syncMode"] == "poll" and settings["syncIntervalSeconds"] == 0.3
    assert settings["logLevel"] == "debug" and settings["safetyNet"] == 0.1
    assert settings["schemas"] == ["public", "sales"]
    assert settings["sourceSecretArn"].startswith("arn:aws:secretsmanager:")
    assert settings["sourceUrlInEnvironment"] is False
    log = simulator.log_path.read_text()
    assert "hunter2" not in log and SECRET_URL not in log and settings["sourceSecretArn"] not in log


def test_swap_count_follows_the_sync_interval(aws: Any, simulator: Any, running: dict[str, Any]) -> None:
    first = running["swapCount"]
    later = eventually(lambda: (h := simulator.healthz("db-a")[1])["swapCount"] >= first + 3 and h, what="3 swaps")
    assert later["snapshotAgeMs"] <= 300 + 100
    assert later["lastSwapTime"] > running["lastSwapTime"]


def test_stream_mode_swaps_more_often(aws: Any, simulator: Any) -> None:
    create_service(aws, "db-stream", register(aws, interval=2.0, mode="stream"))
    first = healthy(simulator, "db-stream")
    # A poll-mode instance would swap once in 2 s; stream mode swaps every 0.5 s.
    t0 = time.monotonic()
    eventually(lambda: simulator.healthz("db-stream")[1]["swapCount"] >= first["swapCount"] + 2, what="stream swaps")
    assert time.monotonic() - t0 < 2.0


def test_reload_swaps_a_snapshot_now(aws: Any, simulator: Any) -> None:
    create_service(aws, "db-r", register(aws, interval=60))
    before = healthy(simulator, "db-r")
    answer = post(simulator.endpoint_template.format(service="db-r") + "/admin/reload")
    assert answer["swapCount"] == before["swapCount"] + 1
    assert simulator.instance("db-r")["reloads"] == 1
    assert simulator.healthz("db-r")[1]["snapshotAgeMs"] < 1000


def test_replication_pause_and_resume(aws: Any, simulator: Any, running: dict[str, Any]) -> None:
    base = simulator.endpoint_template.format(service="db-a")
    paused = post(base + "/admin/replication/pause")
    assert paused["replication"] == "paused"
    swaps = paused["swapCount"]
    # No swaps while paused; after 3 intervals (0.9 s) the snapshot is stale: degraded.
    degraded = eventually(lambda: (h := simulator.healthz("db-a")[1])["status"] == "degraded" and h, what="stale")
    assert degraded["swapCount"] == swaps and degraded["replication"] == "paused", (paused, degraded, simulator.instance("db-a"))
    assert degraded["snapshotAgeMs"] >= 900
    resumed = post(base + "/admin/replication/resume")
    assert resumed["replication"] == "running" and resumed["status"] == "ok"
    assert resumed["swapCount"] > swaps and resumed["snapshotAgeMs"] < 300
    inst = simulator.instance("db-a")
    assert (inst["pauses"], inst["resumes"]) == (1, 1)


def test_degraded_mode(aws: Any, simulator: Any, running: dict[str, Any]) -> None:
    simulator.set_mode("db-a", "degraded")
    assert simulator.healthz("db-a")[1]["status"] == "degraded"
    simulator.set_mode("db-a", "ok")
    assert simulator.healthz("db-a")[1]["status"] == "ok"


def test_modes_by_image(aws: Any, simulator: Any, running: dict[str, Any]) -> None:
    """A bad server version: every instance whose image contains the match (its build's input
    hash) answers degraded, unless one has a mode of its own."""
    simulator.set_image_mode("img:", "degraded")
    try:
        assert simulator.healthz("db-a")[1]["status"] == "degraded"
        simulator.set_mode("db-a", "ok")  # its own mode wins
        assert simulator.healthz("db-a")[1]["status"] == "ok"
    finally:
        simulator.set_image_mode("img:", "ok")
    simulator.reset()
    healthy(simulator, "db-a")
    assert simulator.healthz("db-a")[1]["status"] == "ok"


def test_unreachable_mode_drops_the_connection(aws: Any, simulator: Any, running: dict[str, Any]) -> None:
    simulator.set_mode("db-a", "unreachable")
    t0 = time.monotonic()
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
        simulator.healthz("db-a", timeout=5)
    assert time.monotonic() - t0 < 2  # dropped, not a timeout
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
        post(simulator.endpoint_template.format(service="db-a") + "/admin/reload")
    assert simulator.instance("db-a")["reloads"] == 0
    simulator.set_mode("db-a", "ok")
    assert simulator.healthz("db-a")[0] == 200


def test_hang_mode_gives_no_answer_within_the_timeout(aws: Any, simulator: Any, running: dict[str, Any]) -> None:
    simulator.set_mode("db-a", "hang")
    with pytest.raises((socket.timeout, TimeoutError, urllib.error.URLError)):
        simulator.healthz("db-a", timeout=0.5)
    simulator.set_mode("db-a", "ok")
    assert simulator.healthz("db-a")[0] == 200


def test_unknown_service_is_not_found(aws: Any, simulator: Any) -> None:
    assert simulator.healthz("no-such-service")[0] == 404
    assert simulator.instance("no-such-service") is None


def test_instance_stops_when_scaled_to_zero_and_restarts_when_scaled_up(
    aws: Any, simulator: Any, running: dict[str, Any]
) -> None:
    aws.ecs.update_service(cluster=CLUSTER, service="db-a", desiredCount=0)
    eventually(lambda: simulator.healthz("db-a")[0] == 503, what="503 after scale to 0")
    assert simulator.instance("db-a")["serving"] is False
    aws.ecs.update_service(cluster=CLUSTER, service="db-a", desiredCount=1)
    health = healthy(simulator, "db-a")
    assert health["uptimeSeconds"] == 0 and health["swapCount"] <= 2
    assert simulator.instance("db-a")["restarts"] == 1


def test_instance_disappears_when_the_service_is_deleted(aws: Any, simulator: Any, running: dict[str, Any]) -> None:
    aws.ecs.update_service(cluster=CLUSTER, service="db-a", desiredCount=0)
    aws.ecs.delete_service(cluster=CLUSTER, service="db-a")
    eventually(lambda: simulator.healthz("db-a")[0] in (404, 503), what="deleted instance to stop answering")


def test_new_task_definition_restarts_with_new_settings(aws: Any, simulator: Any, running: dict[str, Any]) -> None:
    eventually(lambda: simulator.healthz("db-a")[1]["uptimeSeconds"] >= 1, what="uptime to grow")
    base = simulator.endpoint_template.format(service="db-a")
    post(base + "/admin/replication/pause")
    td2 = register(aws, interval=5, schemas="public", image="img:2")
    aws.ecs.update_service(cluster=CLUSTER, service="db-a", taskDefinition=td2)
    inst = eventually(lambda: (i := simulator.instance("db-a"))["taskDefinitionArn"] == td2 and i, what="restart")
    assert inst["restarts"] == 1
    assert inst["settings"]["syncIntervalSeconds"] == 5 and inst["settings"]["schemas"] == ["public"]
    health = simulator.healthz("db-a")[1]
    assert health["uptimeSeconds"] == 0 and health["replication"] == "running" and health["swapCount"] == 1
    assert set(health["rowCounts"]) == set(tables_for(["public"]))


def test_force_new_deployment_restarts_the_instance(aws: Any, simulator: Any, running: dict[str, Any]) -> None:
    aws.ecs.update_service(cluster=CLUSTER, service="db-a", forceNewDeployment=True)
    eventually(lambda: simulator.instance("db-a")["restarts"] == 1, what="restart")


def test_reset_forgets_instances_and_modes(aws: Any, simulator: Any, running: dict[str, Any]) -> None:
    simulator.set_mode("db-a", "degraded")
    simulator.reset()
    # The service still exists in the emulator: the instance is back, fresh, in mode ok.
    inst = eventually(lambda: simulator.instance("db-a"), what="instance after reset")
    assert inst["mode"] == "ok" and inst["reloads"] == 0
    listed = simulator.instances()
    assert list(listed) == ["db-a"]


def test_data_transfer_counts_at_the_rate_while_replication_runs(aws: Any, simulator: Any, running: dict[str, Any]) -> None:
    simulator.set_transfer("db-a", transferred=1000)
    assert simulator.healthz("db-a")[1]["bytesTransferredThisMonth"] == 1000
    simulator.set_transfer("db-a", per_second=1_000_000)
    eventually(lambda: simulator.healthz("db-a")[1]["bytesTransferredThisMonth"] > 1000, what="bytes counted")
    post(simulator.endpoint_template.format(service="db-a") + "/admin/replication/pause")
    paused = simulator.healthz("db-a")[1]["bytesTransferredThisMonth"]
    assert simulator.healthz("db-a")[1]["bytesTransferredThisMonth"] == paused  # nothing while paused
    simulator.control("POST", "transfer", {"bytesPerSecond": 5})
    assert simulator.instance("db-a")["bytesPerSecond"] == 1_000_000  # set on its own: kept


def test_the_simulator_follows_the_emulator_without_aws_calls(aws: Any, simulator: Any) -> None:
    # It reads GET /_emulator/ecs/services (a control endpoint): no ECS call, nothing to throttle.
    aws.emulator.config(rate_limits={"ecs.service_read": [1, 0.001], "ecs.task_definition_read": [1, 0.001]})
    create_service(aws, "db-quiet", register(aws))
    eventually(lambda: simulator.healthz("db-quiet")[0] == 200, what="instance to serve")
    aws.ecs.update_service(cluster=CLUSTER, service="db-quiet", desiredCount=0)
    eventually(lambda: simulator.healthz("db-quiet")[0] == 503, what="instance to stop after a pause")
    calls = aws.emulator.calls()
    assert not {k for k in calls if k.startswith("ecs.Describe") or k == "ecs.ListServices"}
    assert aws.emulator.throttled() == {}


def test_the_simulator_reports_its_own_cost(aws: Any, simulator: Any) -> None:
    create_service(aws, "db-a", register(aws))
    eventually(lambda: simulator.healthz("db-a")[0] == 200, what="instance to serve")
    stats = simulator.control("GET", "stats")
    assert stats["instances"] == 1 and stats["serving"] == 1
    assert stats["cpu_seconds"] > 0 and stats["rss_bytes"] > 0 and stats["polls"] > 0
