"""database.logs: no secret in a line the tools show; which streams; --since."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reflex_operator.api.models import ReflexDatabaseStatus
from reflex_operator.database.logs import MASK, NoLogs, parse_since, redact, source_for


@pytest.mark.parametrize(("line", "secret"), [
    ("connecting to postgresql://app:s3cr3t@db.internal:5432/orders", "s3cr3t"),
    ("source=postgres://u:p%40ss@h/db?sslmode=require", "p%40ss"),
    ("dsn: host=db user=app password=s3cr3t dbname=orders", "s3cr3t"),
    ('{"password": "s3cr3t", "user": "app"}', "s3cr3t"),
    ("PGPASSWORD=s3cr3t psql", "s3cr3t"),
    ("REFLEX_SOURCE_URL=mysql://root:hunter2@10.0.0.1/x", "hunter2"),
    ("source postgres://app:p@ss/w0rd@db.internal:5432/orders", "ss/w0rd"),  # unescaped @ and /
    ('{"url": "postgres://app:a/b@h/db", "note": "x@y"}', "a/b"),
])
def test_no_password_survives(line: str, secret: str) -> None:
    shown = redact(line)
    assert secret not in shown and MASK in shown


def test_a_known_secret_is_masked_wherever_it_appears_and_plain_lines_are_untouched() -> None:
    assert redact("token abc-very-secret here", ["abc-very-secret"]) == f"token {MASK} here"
    assert redact("swap 42: 1200 rows in 3 tables") == "swap 42: 1200 rows in 3 tables"


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1.5h", 5400)])
def test_since(text: str, seconds: int) -> None:
    assert parse_since(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "10", "m", "-1m", "10y"])
def test_since_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_since(text)


STATUS = ReflexDatabaseStatus.model_validate({
    "instance": {"logs": {"group": "/reflexdb/instances", "streamPrefix": "rdb-x/reflex-server/"}},
    "builds": [
        {"id": "b2", "codebuildId": "p:2", "status": "in_progress", "logGroup": "/aws/codebuild/p", "logStream": "2"},
        {"id": "b1", "codebuildId": "p:1", "status": "succeeded", "logGroup": "/aws/codebuild/p", "logStream": "1"},
    ],
})


def test_sources() -> None:
    assert source_for(STATUS).prefix == "rdb-x/reflex-server/"
    assert source_for(STATUS, True).stream == "2"
    assert source_for(STATUS, "b1").stream == "1" and source_for(STATUS, "p:1").what == "build b1"
    with pytest.raises(NoLogs):
        source_for(STATUS, "b9")
    with pytest.raises(NoLogs):
        source_for(ReflexDatabaseStatus())
