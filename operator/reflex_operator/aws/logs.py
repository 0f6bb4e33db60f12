"""Reading CloudWatch Logs for ``kubectl reflex logs`` and the REST API (synchronous, boto3).

A server's streams are found by prefix (``DescribeLogStreams``, newest first) and read together
(``FilterLogEvents`` by stream names, which both AWS and the emulator support), newest slices of
time first so that a limit keeps the latest lines; a build's one stream is read the same way. Every line is redacted (``database.logs.redact``) before it is returned.
"""

from __future__ import annotations

import os
import time
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from reflex_operator.database.logs import LogLine, LogSource, NoLogs, redact

__all__ = ["LogReader", "MAX_STREAMS"]

MAX_STREAMS = 50  # the newest tasks' streams read together (FilterLogEvents takes up to 100 names)
MAX_PAGES = 20  # FilterLogEvents pages read for one slice of time (up to 10,000 events each)
_FIRST_SLICE_MS = 60_000  # the newest minute first, then slices eight times as long


class LogReader:
    """Reads one ``LogSource`` from CloudWatch Logs (the standard AWS variables choose the
    Region, the credentials and the endpoint)."""

    def __init__(self, client: Any = None, region: str | None = None) -> None:
        config = BotoConfig(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30, user_agent_appid="reflex-logs")
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.client = client or boto3.session.Session(region_name=region).client("logs", config=config)

    def _streams(self, source: LogSource) -> list[str]:
        if source.stream:
            return [source.stream]
        try:
            reply = self.client.describe_log_streams(logGroupName=source.group, logStreamNamePrefix=source.prefix or "", limit=MAX_STREAMS)
        except self.client.exceptions.ResourceNotFoundException:
            return []
        streams = sorted(reply.get("logStreams", []), key=lambda s: s.get("lastEventTimestamp") or s.get("creationTime") or 0, reverse=True)
        return [s["logStreamName"] for s in streams[:MAX_STREAMS]]

    def read(self, source: LogSource, start_ms: int | None = None, limit: int = 1000, now_ms: int | None = None) -> list[LogLine]:
        """The newest ``limit`` lines from ``start_ms`` on (as a tail), oldest first, redacted;
        NoLogs: no stream yet.

        FilterLogEvents answers oldest first, so reading from ``start_ms`` until ``limit`` lines
        would show the oldest ones (an hour-old start line, never the latest). The window is read
        backwards instead, in disjoint slices growing eightfold from the last minute, until
        ``limit`` lines are found or ``start_ms`` is reached; each slice is read whole (across every
        stream), so the order of the answer does not matter."""
        names = self._streams(source)
        if not names:
            raise NoLogs(f"no log stream yet for the {source.what} in {source.group}")
        limit = max(1, limit)
        floor = int(start_ms) if start_ms is not None else 0
        upper: int | None = None  # the slice's end (inclusive); None: up to now, lines still coming
        width = _FIRST_SLICE_MS
        now = int(now_ms if now_ms is not None else time.time() * 1000)
        lines: list[LogLine] = []
        try:
            while True:
                lower = max(floor, (upper if upper is not None else now) - width)
                lines = self._slice(source, names, lower, upper) + lines
                if len(lines) >= limit or lower <= floor:
                    break
                upper, width = lower - 1, width * 8
        except self.client.exceptions.ResourceNotFoundException as exc:
            raise NoLogs(f"no log stream yet for the {source.what} in {source.group}") from exc
        except (ClientError, BotoCoreError) as exc:
            raise NoLogs(f"CloudWatch Logs: {exc}") from exc
        return lines[-limit:]

    def _slice(self, source: LogSource, names: list[str], lower: int, upper: int | None) -> list[LogLine]:
        """Every line with ``lower <= timestamp <= upper`` (no upper: up to now), oldest first."""
        params: dict[str, Any] = {"logGroupName": source.group, "logStreamNames": names, "startTime": lower, "limit": 10_000}
        if upper is not None:
            params["endTime"] = upper
        lines: list[LogLine] = []
        for _ in range(MAX_PAGES):
            reply = self.client.filter_log_events(**params)
            lines += [LogLine(e["timestamp"], redact(e.get("message", "").rstrip("\n")), e.get("logStreamName", "")) for e in reply.get("events", [])]
            token = reply.get("nextToken")
            if not token or token == params.get("nextToken"):
                break
            params["nextToken"] = token
        lines.sort(key=lambda line: line.timestamp_ms)
        return lines
