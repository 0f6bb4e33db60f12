"""Where a database's logs are and what of them may be shown; pure.

The server's logs are the ``awslogs`` streams of its task definition (``status.instance.logs``:
group and stream prefix, one stream per task); a build's log is the CodeBuild log stream its build
record names (``status.builds[].logGroup/logStream``). ``kubectl reflex logs`` and the REST API read
them from CloudWatch Logs (``reflex_operator.aws.logs``) and show every line through ``redact``:
a connection string, or a password in any ``key=value`` form, never leaves the tools, even when a
server or a build printed one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from reflex_operator.api.models import ReflexDatabaseStatus

__all__ = ["LogSource", "LogLine", "NoLogs", "source_for", "parse_since", "redact", "MASK"]

MASK = "******"

# scheme://user:password@host -> scheme://user:******@host (any scheme: postgres, mysql, redis, ...);
# up to the last @ of the word, so that a password with an unescaped @ or / is masked whole (a
# port and path before an @ are masked too: more than needed, never less)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@\"']*:)(?P<secret>[^\s\"']+)(?P<at>@)")
# password=..., pwd: ..., "password": "...", PGPASSWORD=... (libpq key/value strings, env, JSON)
_KEY_PASSWORD = re.compile(
    r"(?P<head>\b(?:[A-Za-z_]*PASSWORD|password|passwd|pwd|secret|token)\b[\"']?\s*[=:]\s*[\"']?)(?P<secret>[^\s\"',;&]+)",
    re.IGNORECASE,
)
_SINCE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>[smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def redact(message: str, secrets: Iterable[str] = ()) -> str:
    """``message`` with every password of a URL or a ``key=value`` masked, and every known secret value."""
    for value in secrets:
        if value:
            message = message.replace(value, MASK)
    message = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['at']}", message)
    return _KEY_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", message)


def parse_since(text: str) -> timedelta:
    """``30s``, ``10m``, ``2h``, ``1d`` (as ``kubectl logs --since``); ValueError otherwise."""
    m = _SINCE.match(text.strip())
    if m is None:
        raise ValueError(f"--since {text!r}: a duration such as 30s, 10m, 2h or 1d")
    return timedelta(seconds=float(m["n"]) * _UNITS[m["unit"]])


class NoLogs(LookupError):
    """The database has no such logs (yet): the message says why."""


@dataclass(frozen=True)
class LogSource:
    """One set of log streams: a group and either a stream prefix (every task's) or one stream."""

    group: str
    prefix: str | None = None
    stream: str | None = None
    what: str = "server"  # "server" or "build <id>"


@dataclass(frozen=True)
class LogLine:
    timestamp_ms: int
    message: str
    stream: str = ""


def source_for(status: ReflexDatabaseStatus, build: str | bool | None = None) -> LogSource:
    """The server's logs (``build`` None or False), the latest build's (True) or build ``build``'s
    (its id or CodeBuild id); NoLogs says why there are none."""
    if build is None or build is False:
        logs = status.instance.logs if status.instance else None
        if logs is None:
            raise NoLogs("the instance has no log configuration in status yet (no ECS service, or not observed yet)")
        return LogSource(logs.group, prefix=logs.stream_prefix, what="server")
    if build is True:
        record = status.builds[0] if status.builds else None
    else:
        record = next((b for b in status.builds if build in (b.id, b.codebuild_id)), None)
    if record is None:
        raise NoLogs("no build yet" if build is True else f"no build {build} in status.builds")
    if not record.log_group or not record.log_stream:
        raise NoLogs(f"build {record.id} has no CloudWatch log stream (yet)")
    return LogSource(record.log_group, stream=record.log_stream, what=f"build {record.id}")
