"""CodeBuild extensions of moto (5.2.5), each reproducing one documented AWS behaviour.

- A build moves ``QUEUED`` -> ``IN_PROGRESS`` (phases PROVISIONING ... FINALIZING) -> ``SUCCEEDED``
  over time measured from StartBuild (moto: already SUCCEEDED on the first BatchGetBuilds).
- ``environmentVariablesOverride`` and ``computeTypeOverride`` are kept on the build and returned
  by BatchGetBuilds (moto drops them).
- ``idempotencyToken``: the same token within 5 minutes returns the same build; different
  parameters with it are an error (moto ignores the token).
- StopBuild stops a running build (``STOPPED``) and leaves a finished one as it is.
- An injected ``build_fail`` fault makes the build end ``FAILED`` with a failed BUILD phase whose
  context carries a message (moto: never fails).
- BatchGetBuilds answers in the order asked, lists unknown ids under ``buildsNotFound`` and
  refuses more than 100 ids.
- BatchDeleteBuilds deletes builds (moto: not implemented).
- ListBuilds and ListBuildsForProject list the newest build first unless ``sortOrder`` is
  ASCENDING (moto: oldest first, ``sortOrder`` ignored).
- A build carries ``logs`` (groupName, streamName, deepLink), ``startTime``/``endTime``,
  ``buildComplete`` and ``environment.computeType`` as AWS returns them.
- The concurrent-build quota (https://docs.aws.amazon.com/codebuild/latest/userguide/builds-working.html):
  "builds are queued if the number of running builds reaches the concurrent build limit for the
  platform and compute type. The maximum number of builds in a queue is five times the concurrent
  build limit." A queued build stays ``QUEUED`` until a build ends (or is stopped) and frees a
  slot, oldest first; its timeline starts then. StartBuild with the queue full is
  ``AccountLimitExceededException`` "Cannot have more than N builds in queue for the account"
  (moto: no quota). Settings ``codebuild_concurrent_builds`` (60) and ``codebuild_queue_factor``
  (5); one pool for the account (the project has one compute type).
- Build durations: short by default (tests); ``codebuild_build_minutes`` and
  ``codebuild_time_compression`` make them look like AWS's for a benchmark (``emu_state``).

Speed at 10,000 builds: builds are found by id in a dict (moto: a list of every build of every
project, rebuilt on each BatchGetBuilds).
"""

from __future__ import annotations

import collections
import copy
import heapq
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from moto.codebuild import models as cb_models
from moto.codebuild import responses as cb_responses
from moto.codebuild.exceptions import InvalidInputException
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult

from .emu_state import STATE, Fault

__all__ = ["install", "build_count", "BUILD_PHASES"]

BUILD_PHASES = [
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "INSTALL",
    "PRE_BUILD",
    "BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
    "FINALIZING",
]
DEFAULT_FAIL_MESSAGE = "Error while executing command: make reflex-server. Reason: exit status 2"


class AccountLimitExceededException(JsonRESTError):
    code = 400

    def __init__(self, limit: int) -> None:
        super().__init__("AccountLimitExceededException", f"Cannot have more than {limit} builds in queue for the account")


@dataclass
class _Timeline:
    start: float | None  # when the build got a slot (None: waiting in the queue)
    queued: float
    progress: float
    fail_message: str | None = None
    stopped_at: float | None = None
    submitted: float = 0.0  # StartBuild

    @property
    def end(self) -> float:
        """When the build ends (or ended); infinite while it waits for a slot."""
        if self.start is None:
            return float("inf") if self.stopped_at is None else self.stopped_at
        end = self.start + self.queued + self.progress
        return end if self.stopped_at is None else min(end, self.stopped_at)


class _Slots:
    """The concurrent-build quota: builds holding a slot (heap of end times) and the queue."""

    def __init__(self) -> None:
        self.running: list[tuple[float, str]] = []
        self.waiting: collections.deque[str] = collections.deque()
        self.clock = 0.0

    def advance(self, timelines: dict[str, _Timeline], now: float) -> None:
        """Free the slots of builds ended by ``now`` and give them to waiting builds, in time order."""
        limit = int(STATE.config["codebuild_concurrent_builds"]) or 10**9
        while True:
            if self.waiting and len(self.running) < limit:
                build_id = self.waiting.popleft()
                tl = timelines[build_id]
                tl.start = max(self.clock, tl.submitted)
                heapq.heappush(self.running, (tl.end, build_id))
            elif self.running and self.running[0][0] <= now:
                self.clock = max(self.clock, heapq.heappop(self.running)[0])
            else:
                break
        self.clock = max(self.clock, now)  # every event up to now is done

    def queue_full(self) -> bool:
        limit = int(STATE.config["codebuild_concurrent_builds"])
        if not limit:
            return False
        return len(self.running) >= limit and len(self.waiting) >= int(limit * STATE.config["codebuild_queue_factor"])

    def queue_limit(self) -> int:
        return int(int(STATE.config["codebuild_concurrent_builds"]) * STATE.config["codebuild_queue_factor"])

    def stopped(self, build_id: str, tl: _Timeline) -> None:
        """A stopped build frees its slot (or its place in the queue) now."""
        if tl.start is None:
            self.waiting = collections.deque(b for b in self.waiting if b != build_id)
            return
        self.running = [entry for entry in self.running if entry[1] != build_id]
        heapq.heapify(self.running)
        heapq.heappush(self.running, (tl.end, build_id))


@dataclass
class _Token:
    build_id: str
    at: float
    params: dict[str, Any]


def _ext(backend: Any) -> Any:
    """Per-backend extension state; moto's reset wipes the backend's __dict__ and with it this."""
    if not hasattr(backend, "_emu_builds"):
        backend._emu_builds = {}  # build id -> _Timeline
        backend._emu_docs = {}  # build id -> moto's build document
        backend._emu_tokens = {}
        backend._emu_slots = _Slots()
        backend._emu_logged = {}  # build id -> phases written to its log stream
    return backend


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


def _phase(kind: str, start: float, end: float | None = None, status: str | None = None) -> dict[str, Any]:
    phase: dict[str, Any] = {"phaseType": kind, "startTime": _ts(start)}
    if end is not None:
        phase["endTime"] = _ts(end)
        phase["durationInSeconds"] = int(round(end - start))
    if status is not None:
        phase["phaseStatus"] = status
    return phase


def render(build: dict[str, Any], tl: _Timeline, now: float) -> dict[str, Any]:
    """Set the build's status fields from its timeline as seen at ``now``."""
    horizon = now if tl.stopped_at is None else min(now, tl.stopped_at)
    stopped = tl.stopped_at is not None and tl.stopped_at <= now
    start = tl.start if tl.start is not None else float("inf")  # waiting: QUEUED for now
    phases = [_phase("SUBMITTED", tl.submitted, tl.submitted, "SUCCEEDED")]
    segments = [("QUEUED", tl.submitted, start + tl.queued)]
    step = tl.progress / len(BUILD_PHASES)
    base = start + tl.queued
    segments += [(name, base + i * step, base + (i + 1) * step) for i, name in enumerate(BUILD_PHASES)]
    current = "COMPLETED"
    for name, start, end in segments:
        if horizon < start:
            break
        if horizon < end:  # running now, or stopped in this phase
            if stopped:
                phases.append(_phase(name, start, horizon, "STOPPED"))
            else:
                phases.append(_phase(name, start))
                current = name
            break
        status = "SUCCEEDED"
        phase = _phase(name, start, end, status)
        if name == "BUILD" and tl.fail_message:
            phase["phaseStatus"] = "FAILED"
            phase["contexts"] = [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": tl.fail_message}]
        phases.append(phase)
    finished_at = tl.stopped_at if stopped else (tl.end if tl.start is not None and now >= tl.end else None)
    if finished_at is not None:
        phases.append(_phase("COMPLETED", finished_at))
        build["buildStatus"] = "STOPPED" if stopped else ("FAILED" if tl.fail_message else "SUCCEEDED")
        build["buildComplete"] = True
        build["endTime"] = _ts(finished_at)
        current = "COMPLETED"
    else:
        build["buildStatus"] = "IN_PROGRESS"
        build["buildComplete"] = False
        build.pop("endTime", None)
    build["currentPhase"] = current
    build["phases"] = phases
    return build


def _json(result: dict[str, Any]) -> str:
    """The answer as CodeBuild's JSON (timestamps as epoch seconds). moto's generic serializer
    walks the botocore shape for every field: about 4 ms a build, 0.4 s for a BatchGetBuilds of
    100; the documents are already in the API's shape."""
    return json.dumps(result, default=_epoch, separators=(",", ":"))


def _epoch(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"not JSON: {type(value).__name__}")


def build_count() -> int:
    return sum(
        len(getattr(b, "_emu_builds", {})) for regions in list(cb_models.codebuild_backends.values()) for b in list(regions.values())
    )


def _env_matches(fault: Fault, env: dict[str, str], project: str) -> bool:
    match = fault.match
    if "project" in match and match["project"] != project:
        return False
    return all(env.get(k) == v for k, v in (match.get("env") or {}).items())


# --- patched response handlers ------------------------------------------------------------------

_orig_start_build = cb_responses.CodeBuildResponse.start_build


def _start_build(self: Any) -> ActionResult:
    backend = _ext(self.codebuild_backend)
    now = time.time()
    token = self._get_param("idempotencyToken")
    params = {k: v for k, v in self._get_params().items() if k != "idempotencyToken"}
    if token:
        entry = backend._emu_tokens.get(token)
        if entry and now - entry.at < STATE.config["idempotency_window_seconds"]:
            if entry.params != params:
                raise InvalidInputException(
                    f"Idempotency token {token} was used with different parameters"
                )
            backend._emu_slots.advance(backend._emu_builds, now)
            build = backend._emu_docs[entry.build_id]
            return _json({"build": render(build, backend._emu_builds[entry.build_id], now)})  # type: ignore[return-value]

    slots: _Slots = backend._emu_slots
    slots.advance(backend._emu_builds, now)
    if slots.queue_full():
        raise AccountLimitExceededException(slots.queue_limit())
    _orig_start_build(self)  # validates, creates the build in moto's history
    project_name = self._get_param("projectName")
    build = backend.build_metadata[project_name].build_metadata
    project = backend.codebuild_projects[project_name].project_metadata

    environment = copy.deepcopy(project.get("environment") or {})
    variables = {v["name"]: v for v in environment.get("environmentVariables") or []}
    for var in self._get_param("environmentVariablesOverride") or []:
        variables[var["name"]] = {"type": "PLAINTEXT", **var}
    environment["environmentVariables"] = list(variables.values())
    if self._get_param("computeTypeOverride"):
        environment["computeType"] = self._get_param("computeTypeOverride")
    if self._get_param("imageOverride"):
        environment["image"] = self._get_param("imageOverride")
    build["environment"] = environment
    build["source"] = copy.deepcopy(project.get("source") or build["source"])
    build["sourceVersion"] = self._get_param("sourceVersion") or project.get("sourceVersion") or ""
    build["buildNumber"] = len(backend.build_history[project_name])
    build["startTime"] = _ts(now)

    build_uuid = build["id"].split(":", 1)[1]
    group = f"/aws/codebuild/{project_name}"
    region, account = self.region, self.current_account
    build["logs"] = {
        "groupName": group,
        "streamName": build_uuid,
        "deepLink": (
            f"https://console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#logsV2:log-groups/log-group/{group.replace('/', '$252F')}/log-events/{build_uuid}"
        ),
        "cloudWatchLogsArn": f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{build_uuid}",
        "cloudWatchLogs": {"status": "ENABLED"},
        "s3Logs": {"status": "DISABLED", "encryptionDisabled": False},
    }

    env_values = {v["name"]: v.get("value", "") for v in environment["environmentVariables"]}
    fault = STATE.take_fault(("build_fail",), lambda f: _env_matches(f, env_values, project_name))
    queued, progress = STATE.build_seconds()
    tl = _Timeline(
        start=None,
        queued=queued,
        progress=progress,
        fail_message=(fault.message or DEFAULT_FAIL_MESSAGE) if fault else None,
        submitted=now,
    )
    backend._emu_builds[build["id"]] = tl
    backend._emu_docs[build["id"]] = build
    slots.waiting.append(build["id"])
    slots.advance(backend._emu_builds, now)
    if token:
        backend._emu_tokens[token] = _Token(build["id"], now, params)
    return _json({"build": render(build, tl, now)})  # type: ignore[return-value]


def _log_build(backend: Any, build: dict[str, Any]) -> None:
    """CodeBuild writes each phase's lines to the build's CloudWatch Logs stream as it runs (the
    ``logs`` group and stream of the build): here, as each phase is seen to have ended. Lines only
    the build itself knows (its commands, a failure's message); never the source's secret."""
    logs = build.get("logs") or {}
    arn, group, stream = logs.get("cloudWatchLogsArn", ""), logs.get("groupName"), logs.get("streamName")
    if not group or not stream or arn.count(":") < 5:
        return
    written = backend._emu_logged.setdefault(build["id"], 0)
    ended = [p for p in build.get("phases") or [] if p.get("endTime") is not None and p.get("phaseType") != "COMPLETED"]
    if len(ended) <= written:
        return
    from moto.logs.models import logs_backends  # the same process's CloudWatch Logs

    region, account = arn.split(":")[3], arn.split(":")[4]
    cw = logs_backends[account][region]
    if group not in cw.groups:
        cw.create_log_group(group, {})
    if stream not in cw.groups[group].streams:
        cw.create_log_stream(group, stream)
    events = []
    for phase in ended[written:]:
        at = int(phase["endTime"].timestamp() * 1000)
        kind, state = phase["phaseType"], phase.get("phaseStatus", "SUCCEEDED")
        events.append({"timestamp": at - 1, "message": f"[Container] Entering phase {kind}"})
        if kind == "BUILD":
            events.append({"timestamp": at - 1, "message": "[Container] Running command make reflex-server"})
            events += [{"timestamp": at, "message": f"[Container] {c.get('message')}"} for c in phase.get("contexts") or []]
        events.append({"timestamp": at, "message": f"[Container] Phase complete: {kind} State: {state}"})
    last = 0
    for e in events:  # PutLogEvents takes events in time order
        e["timestamp"] = last = max(e["timestamp"], last)
    cw.put_log_events(group, stream, events)
    backend._emu_logged[build["id"]] = len(ended)


def _batch_get_builds(self: Any) -> ActionResult:
    ids = self._get_param("ids") or []
    if len(ids) > 100:
        raise InvalidInputException("1 validation error detected: Value at 'ids' failed to satisfy constraint: Member must have length less than or equal to 100")
    for build_id in ids:
        if ":" not in build_id:
            raise InvalidInputException("Invalid build ID provided")
    backend = _ext(self.codebuild_backend)
    builds = backend._emu_docs
    now = time.time()
    backend._emu_slots.advance(backend._emu_builds, now)
    found, missing = [], []
    for build_id in ids:
        if build_id in builds and build_id in backend._emu_builds:
            found.append(render(builds[build_id], backend._emu_builds[build_id], now))
            _log_build(backend, found[-1])
        else:
            missing.append(build_id)
    return _json({"builds": found, "buildsNotFound": missing})  # type: ignore[return-value]


def _stop_build(self: Any, build_id: str) -> dict[str, Any] | None:
    backend = _ext(self)
    build = backend._emu_docs.get(build_id)
    tl = backend._emu_builds.get(build_id)
    if build is None or tl is None:
        return None
    now = time.time()
    backend._emu_slots.advance(backend._emu_builds, now)
    if tl.stopped_at is None and now < tl.end:
        tl.stopped_at = now
        backend._emu_slots.stopped(build_id, tl)
        backend._emu_slots.advance(backend._emu_builds, now)
    return render(build, tl, now)


_orig_list_builds = cb_responses.CodeBuildResponse.list_builds
_orig_list_builds_for_project = cb_responses.CodeBuildResponse.list_builds_for_project


def _newest_first(original: Any) -> Any:
    def handler(self: Any) -> ActionResult:
        result = original(self)
        if self._get_param("sortOrder") != "ASCENDING":
            result = ActionResult({"ids": list(reversed(result.result["ids"]))})
        return result

    return handler


def _batch_delete_builds(self: Any) -> str:
    """BatchDeleteBuilds (moto: not implemented): the builds are gone from the project's history
    and BatchGetBuilds; ids that are not there are listed under ``buildsNotDeleted``."""
    ids = self._get_param("ids") or []
    if len(ids) > 100:
        raise InvalidInputException("1 validation error detected: Value at 'ids' failed to satisfy constraint: Member must have length less than or equal to 100")
    backend = _ext(self.codebuild_backend)
    deleted, missing = [], []
    for build_id in ids:
        if backend._emu_docs.pop(build_id, None) is None:
            missing.append({"id": build_id, "statusCode": "BUILD_NOT_FOUND"})
            continue
        backend._emu_builds.pop(build_id, None)
        project = build_id.split(":", 1)[0]
        history = backend.build_history.get(project)
        if history is not None and build_id in history:
            history.remove(build_id)
        deleted.append(build_id)
    return _json({"buildsDeleted": deleted, "buildsNotDeleted": missing})


def install() -> None:
    cb_responses.CodeBuildResponse.batch_delete_builds = _batch_delete_builds  # type: ignore[attr-defined]
    cb_responses.CodeBuildResponse.list_builds = _newest_first(_orig_list_builds)  # type: ignore[method-assign]
    cb_responses.CodeBuildResponse.list_builds_for_project = _newest_first(_orig_list_builds_for_project)  # type: ignore[method-assign]
    cb_responses.CodeBuildResponse.start_build = _start_build  # type: ignore[method-assign]
    cb_responses.CodeBuildResponse.batch_get_builds = _batch_get_builds  # type: ignore[method-assign]
    cb_models.CodeBuildBackend.stop_build = _stop_build  # type: ignore[method-assign]
