"""The reflex-server health and admin endpoints (SPEC §3); the health document is
``reflex_operator.api.server_contract.HealthDocument``."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import aiohttp
from pydantic import ValidationError

from reflex_operator.api.models import HealthStatus
from reflex_operator.api.server_contract import HealthDocument
from reflex_operator.database.inputs import HealthSample

__all__ = ["HttpDataPlane", "parse_health"]


def parse_health(body: Any, now: datetime) -> HealthSample:
    """A ``/healthz`` answer as a sample. An answer that is not a health document is ``unreachable``."""
    try:
        doc = HealthDocument.model_validate(body)
    except ValidationError:
        return HealthSample(status=HealthStatus.UNREACHABLE, checked_at=now)
    return HealthSample(
        status=HealthStatus(doc.status),
        checked_at=now,
        snapshot_age_ms=doc.snapshot_age_ms,
        swap_count=doc.swap_count,
        row_counts=dict(doc.row_counts or {}),
        replication=doc.replication,
        uptime_seconds=doc.uptime_seconds,
        last_swap_time=doc.last_swap_time,
        bytes_transferred=doc.bytes_transferred_this_month,
    )


class HttpDataPlane:
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
        async with self._limit:
            try:
                async with self._http().get(f"{endpoint}/healthz") as reply:
                    body = await reply.json(content_type=None)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                return HealthSample(status=HealthStatus.UNREACHABLE, checked_at=now)
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
