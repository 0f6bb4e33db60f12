"""aws.logs.LogReader over a fake CloudWatch Logs client: a limit keeps the newest lines (a
tail), across streams, every line redacted; no stream is NoLogs."""

from __future__ import annotations

from typing import Any

import pytest

from reflex_operator.aws.logs import LogReader
from reflex_operator.database.logs import MASK, LogSource, NoLogs

NOW = 10_000_000_000


class _NotFound(Exception):
    pass


class FakeLogs:
    """FilterLogEvents as AWS answers it: startTime and endTime inclusive, pages of ``page``
    events, and (like the emulator) stream after stream rather than interleaved."""

    class exceptions:  # noqa: N801 - as boto3's client.exceptions
        ResourceNotFoundException = _NotFound

    def __init__(self, streams: dict[str, list[tuple[int, str]]], page: int = 3) -> None:
        self.streams, self.page, self.calls = streams, page, []

    def describe_log_streams(self, logGroupName: str, logStreamNamePrefix: str, limit: int) -> dict[str, Any]:  # noqa: N803
        return {"logStreams": [{"logStreamName": n, "lastEventTimestamp": max((t for t, _ in ev), default=0)}
                               for n, ev in self.streams.items() if n.startswith(logStreamNamePrefix)]}

    def filter_log_events(self, logGroupName: str, logStreamNames: list[str], limit: int, startTime: int = 0,  # noqa: N803
                          endTime: int | None = None, nextToken: str | None = None) -> dict[str, Any]:  # noqa: N803
        self.calls.append((startTime, endTime))
        events = [{"timestamp": t, "message": m, "logStreamName": n} for n in logStreamNames for t, m in self.streams.get(n, [])
                  if t >= startTime and (endTime is None or t <= endTime)]
        first = int(nextToken or 0)
        chunk = events[first:first + min(limit, self.page)]
        more = first + len(chunk) < len(events)
        return {"events": chunk, **({"nextToken": str(first + len(chunk))} if more else {})}


def test_a_limit_keeps_the_newest_lines_across_streams_oldest_first() -> None:
    old = [(NOW - 3_600_000 + i, f"old {i}") for i in range(5)]  # an hour ago, the first task
    new = [(NOW - 30_000 + i, f"new {i}") for i in range(4)]  # the last minute, the second task
    reader = LogReader(client=FakeLogs({"p/c/a": old, "p/c/b": new}))
    src = LogSource("g", prefix="p/c")
    got = reader.read(src, NOW - 7_200_000, limit=6, now_ms=NOW)
    assert [line.message for line in got] == ["old 3", "old 4", "new 0", "new 1", "new 2", "new 3"]
    assert [line.message for line in reader.read(src, NOW - 7_200_000, limit=2, now_ms=NOW)] == ["new 2", "new 3"]
    assert len(reader.read(src, NOW - 7_200_000, limit=100, now_ms=NOW)) == 9


def test_the_window_is_respected_and_slices_do_not_overlap() -> None:
    lines = [(NOW - s * 1000, f"at -{s}s") for s in (5000, 600, 61, 60, 59, 1)][::-1]
    fake = FakeLogs({"s": sorted(lines)}, page=1)
    got = LogReader(client=fake).read(LogSource("g", stream="s"), NOW - 700_000, limit=100, now_ms=NOW)
    assert [line.message for line in got] == ["at -600s", "at -61s", "at -60s", "at -59s", "at -1s"]  # not the one before --since
    assert len(got) == len({(line.timestamp_ms, line.message) for line in got})  # nothing twice
    ends = [(lo, hi) for lo, hi in fake.calls]
    assert ends[0][1] is None and ends[-1][0] == NOW - 700_000  # up to now first, down to --since last


def test_lines_are_redacted_and_no_stream_is_no_logs() -> None:
    fake = FakeLogs({"p/c/a": [(NOW - 1000, "reflex-server starting: source postgres://app:s3cr3t@db/x")]})
    got = LogReader(client=fake).read(LogSource("g", prefix="p/c"), None, now_ms=NOW)
    assert got[0].message == f"reflex-server starting: source postgres://app:{MASK}@db/x" and got[0].stream == "p/c/a"
    with pytest.raises(NoLogs):
        LogReader(client=FakeLogs({})).read(LogSource("g", prefix="p/c"), None, now_ms=NOW)


def test_the_api_policy_grants_exactly_the_cloudwatch_calls_the_reader_makes() -> None:
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = (root / "operator" / "reflex_operator" / "aws" / "logs.py").read_text()
    calls = {"logs:" + "".join(w.title() for w in op.split("_")) for op in re.findall(r"self\.client\.([a-z_]+)\(", code)}
    policy = json.loads((root / "manifests" / "aws" / "api-iam-policy.json").read_text())
    granted = {a for st in policy["Statement"] for a in st["Action"]}
    assert calls == granted == {"logs:DescribeLogStreams", "logs:FilterLogEvents"}
    groups = {r.split(":log-group:")[1].removesuffix(":*") for st in policy["Statement"] for r in st["Resource"]}
    assert groups == {"/reflexdb/instances", "/aws/codebuild/reflex-server-build"}
    assert '"/reflexdb/instances"' in (root / "operator" / "reflex_operator" / "aws" / "ecs.py").read_text()
