"""Reading CloudWatch Logs for ``kubectl reflex logs`` and the REST API (synchronous, boto3).

A server's streams are found by prefix (``DescribeLogStreams``, newest first) and read together
(``FilterLogEvents`` by stream names, which both AWS and the emulator support); a build's one stream
is read the same way. Every line is redacted (``database.logs.redact``) before it is returned.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from reflex_operator.database.logs import LogLine, LogSource, NoLogs, redact

__all__ = ["LogReader", "MAX_STREAMS"]

MAX_STREAMS = 50  # the newest tasks' streams read together (FilterLogEvents takes up to 100 names)


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

    def read(self, source: LogSource, start_ms: int | None = None, limit: int = 1000) -> list[LogLine]:
        """Up to ``limit`` lines from ``start_ms`` on, oldest first, redacted; NoLogs: no stream yet."""
        names = self._streams(source)
        if not names:
            raise NoLogs(f"no log stream yet for the {source.what} in {source.group}")
        params: dict[str, Any] = {"logGroupName": source.group, "logStreamNames": names, "limit": min(limit, 10_000)}
        if start_ms is not None:
            params["startTime"] = int(start_ms)
        lines: list[LogLine] = []
        try:
            while len(lines) < limit:
                reply = self.client.filter_log_events(**params)
                lines += [LogLine(e["timestamp"], redact(e.get("message", "").rstrip("\n")), e.get("logStreamName", "")) for e in reply.get("events", [])]
                token = reply.get("nextToken")
                if not token or token == params.get("nextToken"):
                    break
                params["nextToken"] = token
        except self.client.exceptions.ResourceNotFoundException as exc:
            raise NoLogs(f"no log stream yet for the {source.what} in {source.group}") from exc
        except (ClientError, BotoCoreError) as exc:
            raise NoLogs(f"CloudWatch Logs: {exc}") from exc
        lines.sort(key=lambda line: line.timestamp_ms)
        return lines[-limit:]
