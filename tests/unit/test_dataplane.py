"""The data plane client against a reflex-server stand-in on loopback (aiohttp): ``/healthz`` as a
sample (ok, degraded, not a health document or no answer in time: unreachable) and the admin posts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from reflex_operator.api.models import HealthStatus, Replication
from reflex_operator.dataplane.client import HttpDataPlane, parse_health

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
OK = {
    "status": "ok",
    "snapshotAgeMs": 1200,
    "swapCount": 7,
    "rowCounts": {"public.orders": 1500},
    "replication": "paused",
    "uptimeSeconds": 3600,
    "lastSwapTime": "2026-01-01T11:59:58.800Z",
}


class Server:
    """Instances under ``/{name}``: each answers ``/healthz`` with its scripted answer."""

    def __init__(self) -> None:
        self.answers: dict[str, Callable[[], web.StreamResponse]] = {}  # a response is sent once
        self.posts: list[str] = []
        self.never = asyncio.Event()
        self.admin_status = 200

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name == "hang":
            await self.never.wait()
        return self.answers[name]()

    async def admin(self, request: web.Request) -> web.Response:
        self.posts.append(request.path)
        return web.json_response({"ok": self.admin_status == 200}, status=self.admin_status)

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.get("/{name}/healthz", self.healthz), web.post("/{name}/admin/{action:.+}", self.admin)])
        return app


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    stand_in = Server()
    test_server = TestServer(stand_in.app(), host="127.0.0.1")
    await test_server.start_server()
    yield stand_in, str(test_server.make_url("")).rstrip("/")
    stand_in.never.set()
    await test_server.close()


@pytest.fixture
async def plane() -> AsyncIterator[HttpDataPlane]:
    dp = HttpDataPlane(timeout=0.3, concurrency=4)
    yield dp
    await dp.close()


async def test_ok_health_is_a_full_sample(server: tuple[Server, str], plane: HttpDataPlane) -> None:
    stand_in, url = server
    stand_in.answers["a"] = lambda: web.json_response(OK)
    sample = await plane.health(f"{url}/a", NOW)
    assert sample.status is HealthStatus.OK and sample.reachable and sample.checked_at == NOW
    assert (sample.snapshot_age_ms, sample.swap_count, sample.uptime_seconds) == (1200, 7, 3600)
    assert sample.row_counts == {"public.orders": 1500} and sample.replication is Replication.PAUSED
    assert sample.last_swap_time == datetime(2026, 1, 1, 11, 59, 58, 800000, tzinfo=timezone.utc)


async def test_degraded_with_any_status_code(server: tuple[Server, str], plane: HttpDataPlane) -> None:
    stand_in, url = server
    stand_in.answers["d"] = lambda: web.json_response({**OK, "status": "degraded"}, status=503)
    stand_in.answers["odd"] = lambda: web.json_response({"status": "starting"})
    assert (await plane.health(f"{url}/d", NOW)).status is HealthStatus.DEGRADED
    odd = await plane.health(f"{url}/odd", NOW)
    assert odd.status is HealthStatus.DEGRADED and odd.swap_count is None and odd.row_counts == {}


@pytest.mark.parametrize(
    "answer",
    [
        lambda: web.Response(text="<html>bad gateway</html>", status=502, content_type="text/html"),
        lambda: web.json_response({"error": "no such instance"}, status=404),
        lambda: web.json_response(["ok"]),
        lambda: web.json_response({**OK, "swapCount": "many"}),
        lambda: web.json_response({**OK, "lastSwapTime": "yesterday"}),
    ],
    ids=["html", "no-status", "not-an-object", "bad-count", "bad-time"],
)
async def test_an_answer_that_is_not_a_health_document_is_unreachable(
    server: tuple[Server, str], plane: HttpDataPlane, answer: Callable[[], web.Response]
) -> None:
    stand_in, url = server
    stand_in.answers["bad"] = answer
    sample = await plane.health(f"{url}/bad", NOW)
    assert sample.status is HealthStatus.UNREACHABLE and not sample.reachable and sample.checked_at == NOW


async def test_no_answer_within_the_timeout_is_unreachable(server: tuple[Server, str], plane: HttpDataPlane) -> None:
    _, url = server
    assert (await plane.health(f"{url}/hang", NOW)).status is HealthStatus.UNREACHABLE


async def test_nobody_listening_is_unreachable(plane: HttpDataPlane) -> None:
    with socket_closed() as port:
        assert (await plane.health(f"http://127.0.0.1:{port}", NOW)).status is HealthStatus.UNREACHABLE


async def test_admin_posts(server: tuple[Server, str], plane: HttpDataPlane) -> None:
    stand_in, url = server
    await plane.reload(f"{url}/a")
    await plane.pause_replication(f"{url}/a")
    await plane.resume_replication(f"{url}/a")
    assert stand_in.posts == ["/a/admin/reload", "/a/admin/replication/pause", "/a/admin/replication/resume"]


async def test_a_failed_admin_post_raises_so_the_step_is_retried(server: tuple[Server, str], plane: HttpDataPlane) -> None:
    stand_in, url = server
    stand_in.admin_status = 500
    with pytest.raises(aiohttp.ClientResponseError):
        await plane.reload(f"{url}/a")


async def test_the_session_is_reopened_after_close(server: tuple[Server, str]) -> None:
    stand_in, url = server
    stand_in.answers["a"] = lambda: web.json_response(OK)
    dp = HttpDataPlane(timeout=1.0, concurrency=1)
    await dp.close()  # never opened: nothing to do
    assert (await dp.health(f"{url}/a", NOW)).status is HealthStatus.OK
    await dp.close()
    assert (await dp.health(f"{url}/a", NOW)).status is HealthStatus.OK
    await dp.close()


def test_parse_health_keeps_the_tolerant_reading() -> None:
    sample = parse_health({"status": "ok", "snapshotAgeMs": 12.9, "replication": "rebuilding", "rowCounts": None, "future": 1}, NOW)
    assert sample.status is HealthStatus.OK and sample.snapshot_age_ms == 12
    assert sample.replication is None and sample.row_counts == {} and sample.last_swap_time is None
    assert parse_health({"status": None}, NOW).status is HealthStatus.DEGRADED
    assert parse_health({}, NOW).status is HealthStatus.UNREACHABLE
    assert parse_health("ok", NOW).status is HealthStatus.UNREACHABLE


class socket_closed:
    """A loopback port nobody listens on (bound, then closed)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    def __exit__(self, *_: Any) -> None:
        pass
