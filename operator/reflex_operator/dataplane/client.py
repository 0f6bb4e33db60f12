"""The reflex-server health and admin endpoints (SPEC §3)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import aiohttp

from reflex_operator.api.models import HealthStatus, Replication
from reflex_operator.decide.observed import HealthSample

__all__ = ["DataPlane", "parse_health"]


def parse_health(body: dict[str, Any], now: datetime) -> HealthSample:
    status = HealthStatus.OK if body.get("status") == "ok" else HealthStatus.DEGRADED
    last_swap = body.get("lastSwapTime")
    replication = body.get("replication")
    return HealthSample(
        status=status,
        checked_at=now,
        snapshot_age_ms=_int(body.get("snapshotAgeMs")),
        swap_count=_int(body.get("swapCount")),
        row_counts={str(k): int(v) for k, v in (body.get("rowCounts") or {}).items()},
        replication=Replication(replication) if replication in ("running", "paused") else None,
        uptime_seconds=_int(body.get("uptimeSeconds")),
        last_swap_time=datetime.fromisoformat(last_swap.replace("Z", "+00:00")) if last_swap else None,
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class DataPlane:
    """One HTTP session for every instance; bounded concurrency and timeouts."""

    def __init__(self, timeout: float, concurrency: int) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._limit = asyncio.Semaphore(concurrency)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def health(self, endpoint: str, now: datetime) -> HealthSample:
        """``GET /healthz``. An answer that is not a health document (no answer in time, an error
        page, a 404 from a proxy) is ``unreachable``; a server may say ``degraded`` with any code."""
        unreachable = HealthSample(status=HealthStatus.UNREACHABLE, checked_at=now)
        async with self._limit:
            try:
                async with self._http().get(f"{endpoint}/healthz") as reply:
                    body = await reply.json(content_type=None)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                return unreachable
        if not isinstance(body, dict) or "status" not in body:
            return unreachable
        return parse_health(body, now)

    async def post(self, endpoint: str, path: str) -> None:
        """An admin call; raises on failure so the step is retried."""
        async with self._limit:
            async with self._http().post(f"{endpoint}{path}") as reply:
                reply.raise_for_status()

    async def reload(self, endpoint: str) -> None:
        await self.post(endpoint, "/admin/reload")

    async def pause_replication(self, endpoint: str) -> None:
        await self.post(endpoint, "/admin/replication/pause")

    async def resume_replication(self, endpoint: str) -> None:
        await self.post(endpoint, "/admin/replication/resume")
