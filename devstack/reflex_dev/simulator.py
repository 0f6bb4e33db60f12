"""The reflex-server simulator: one HTTP server that plays every ``reflex-server`` instance whose ECS
service runs in the AWS emulator (SPEC §3, "The data plane").

    python -m reflex_dev.simulator --host 127.0.0.1 --port 7000 \\
        --aws-endpoint http://127.0.0.1:5000 --region us-east-1 --cluster reflex

Every ``--poll-interval`` seconds it reads the emulator's services from its control endpoint
``GET /_emulator/ecs/services?since=<version>`` (only the changes since the last answer; not an
AWS call, so neither counted nor throttled: at 10,000 services polling ECS itself would take 1,000
DescribeServices every half second and the account's whole token bucket). Every cluster is
followed unless ``--cluster`` names one. An ACTIVE service with desiredCount > 0 and at least one
running task is an instance, served under ``/i/{service}``:

- ``GET  /i/{svc}/healthz`` -> ``{"status", "snapshotAgeMs", "swapCount", "rowCounts",
  "replication", "uptimeSeconds", "lastSwapTime", "bytesTransferredThisMonth"}``
- ``POST /i/{svc}/admin/reload``, ``POST /i/{svc}/admin/replication/pause`` and ``/resume``

An unknown service answers 404, a known one without running tasks (scaled to 0, deleted, still
starting) 503. The instance's settings come from its task definition's first container:
environment ``REFLEX_SYNC_MODE``, ``REFLEX_SYNC_INTERVAL_SECONDS``, ``REFLEX_LOG_LEVEL``,
``REFLEX_SAFETY_NET``, ``REFLEX_SCHEMAS`` (comma list); the connection string only as a
``secrets`` entry named ``REFLEX_SOURCE_URL`` (its ARN is recorded, never its value, never logged).
A new task definition or a new deployment restarts the instance (uptime and swap count from 0,
replication running).

Control API for tests (JSON): ``GET /_sim/instances``; ``GET /_sim/instances/{svc}``;
``POST /_sim/instances/{svc}`` with ``{"mode": "ok"|"degraded"|"unreachable"|"hang"}``;
``POST /_sim/images`` with ``{"match": s, "mode": m}`` (every instance whose image URI contains ``s``,
e.g. the input hash of a bad server version's build, answers in mode ``m`` unless set on its own);
``POST /_sim/refresh`` (poll the emulator now); ``POST /_sim/reset``; ``GET /_sim/stats`` ->
``{"pid", "cpu_seconds", "rss_bytes", "instances", "serving", "polls"}``. Data transfer (each instance
counts the bytes it transferred this month, UTC, from 0 when it starts, while replication runs):
``POST /_sim/transfer`` with ``{"bytesPerSecond": r}`` sets the rate of every instance (the
``--bytes-per-second`` default is 0); ``POST /_sim/instances/{svc}`` with ``{"bytesPerSecond": r}``
and/or ``{"bytesTransferred": n}`` sets one instance's rate or counter.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import os
import resource
import signal
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from reflex_operator.api.models import Replication
from reflex_operator.api.server_contract import SOURCE_URL, HealthDocument, ServerEnvironment, server_container

__all__ = ["Instance", "Settings", "Simulator", "row_count", "tables_for", "main"]

log = logging.getLogger("reflex_dev.simulator")

MODES = ("ok", "degraded", "unreachable", "hang")
HANG_SECONDS = 30.0  # "hang": no answer for this long, then the connection is closed
STREAM_SWAP_FRACTION = 0.25  # stream mode swaps every interval/4 (never less often than the interval)
TABLES = ("accounts", "orders", "events")


def row_count(table: str) -> int:
    """Deterministic row count of a table (schema-qualified name)."""
    digest = hashlib.sha256(table.encode()).digest()
    return 1000 + int.from_bytes(digest[:4], "big") % 99000


def tables_for(schemas: list[str]) -> dict[str, int]:
    return dict(_tables(tuple(schemas)))


@functools.lru_cache(maxsize=1024)
def _tables(schemas: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """Row counts are hashes: computed once per set of schemas, not on every /healthz."""
    return tuple((f"{s}.{t}", row_count(f"{s}.{t}")) for s in schemas for t in TABLES)


_SERVER_DEFAULTS = ServerEnvironment()


@dataclass(frozen=True)
class Settings:
    sync_mode: str = _SERVER_DEFAULTS.sync_mode.value
    sync_interval_seconds: float = _SERVER_DEFAULTS.sync_interval_seconds
    log_level: str = _SERVER_DEFAULTS.log_level.value
    safety_net: float = _SERVER_DEFAULTS.safety_net
    schemas: tuple[str, ...] = _SERVER_DEFAULTS.schemas
    source_secret_arn: str | None = None  # valueFrom of the REFLEX_SOURCE_URL secret
    source_url_in_environment: bool = False  # a contract violation the tests can check

    @classmethod
    def from_task_definition(cls, task_definition: dict[str, Any]) -> Settings:
        """As the server reads its container: an absent or invalid variable takes its default."""
        container = server_container(task_definition)
        server = ServerEnvironment.from_container(container)
        return cls(
            sync_mode=server.sync_mode.value,
            sync_interval_seconds=server.sync_interval_seconds,
            log_level=server.log_level.value,
            safety_net=server.safety_net,
            schemas=server.schemas,
            source_secret_arn=server.source_secret_arn,
            source_url_in_environment=SOURCE_URL in {e.get("name") for e in container.get("environment") or []},
        )

    @property
    def swap_period(self) -> float:
        if self.sync_mode == "stream":
            return self.sync_interval_seconds * STREAM_SWAP_FRACTION
        return self.sync_interval_seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "syncMode": self.sync_mode,
            "syncIntervalSeconds": self.sync_interval_seconds,
            "logLevel": self.log_level,
            "safetyNet": self.safety_net,
            "schemas": list(self.schemas),
            "sourceSecretArn": self.source_secret_arn,
            "sourceUrlInEnvironment": self.source_url_in_environment,
        }


@dataclass
class Instance:
    """One reflex-server (all tasks of one ECS service seen as one server)."""

    service: str
    settings: Settings
    task_definition_arn: str
    deployment_id: str | None
    started_at: float = field(default_factory=time.time)
    serving: bool = True
    swaps: int = 0
    last_swap: float = 0.0
    next_swap: float = 0.0
    replication_paused: bool = False
    reloads: int = 0
    pauses: int = 0
    resumes: int = 0
    restarts: int = 0
    ever_served: bool = False
    # Data transfer: bytes this month (UTC), counted at ``rate`` bytes/s while replication runs.
    rate: float = 0.0
    rate_set: bool = False  # set for this instance (else it follows the simulator's rate)
    transferred: float = 0.0
    transfer_month: str = ""
    transfer_at: float = 0.0
    # CloudWatch Logs (the task definition's awslogs): (group, stream prefix, container), the
    # connection string's secret ARN, and the swaps already logged by this task.
    log_config: tuple[str, str, str] | None = None
    image: str | None = None  # the server container's image (modes by image: POST /_sim/images)
    source_arn: str | None = None
    logged_start: float = -1.0
    logged_swaps: int = 0

    def __post_init__(self) -> None:
        self.start(self.started_at)

    def start(self, now: float) -> None:
        """A (re)start: the server loads its first snapshot and replication runs; it counts its
        data transfer from 0."""
        self.started_at = now
        self.swaps = 1
        self.last_swap = now
        self.next_swap = now + self.settings.swap_period
        self.replication_paused = False
        self.transferred, self.transfer_month, self.transfer_at = 0.0, _month(now), now

    def transfer(self, now: float) -> int:
        """The bytes transferred this month, counted up to ``now``."""
        if _month(now) != self.transfer_month:
            self.transferred, self.transfer_month = 0.0, _month(now)
        if self.serving and not self.replication_paused:
            self.transferred += self.rate * max(0.0, now - self.transfer_at)
        self.transfer_at = now
        return int(self.transferred)

    def advance(self, now: float) -> None:
        self.transfer(now)
        if self.replication_paused:
            return
        period = self.settings.swap_period
        if now >= self.next_swap:
            missed = int((now - self.next_swap) // period) + 1
            self.swaps += missed
            self.last_swap = self.next_swap + (missed - 1) * period
            self.next_swap = self.last_swap + period

    def reload(self, now: float) -> None:
        self.advance(now)
        self.reloads += 1
        self.swaps += 1
        self.last_swap = now
        self.next_swap = now + self.settings.swap_period

    def pause(self, now: float) -> None:
        self.advance(now)
        self.pauses += 1
        self.replication_paused = True

    def resume(self, now: float) -> None:
        self.advance(now)
        self.resumes += 1
        if self.replication_paused:
            self.replication_paused = False
            self.next_swap = now  # catch up at once
            self.advance(now)

    def health(self, now: float, mode: str = "ok") -> dict[str, Any]:
        self.advance(now)
        age = max(0.0, now - self.last_swap)
        stale = age > 3 * self.settings.sync_interval_seconds
        return HealthDocument(
            status="degraded" if stale or mode == "degraded" else "ok",
            snapshot_age_ms=int(age * 1000),
            swap_count=self.swaps,
            row_counts=tables_for(list(self.settings.schemas)),
            replication=Replication.PAUSED if self.replication_paused else Replication.RUNNING,
            uptime_seconds=int(now - self.started_at),
            last_swap_time=datetime.fromtimestamp(self.last_swap, tz=timezone.utc),
            bytes_transferred_this_month=self.transfer(now),
        ).wire()

    def describe(self, now: float, mode: str) -> dict[str, Any]:
        return {
            "service": self.service,
            "serving": self.serving,
            "mode": mode,
            "reloads": self.reloads,
            "pauses": self.pauses,
            "resumes": self.resumes,
            "swaps": self.swaps,
            "restarts": self.restarts,
            "bytesPerSecond": self.rate,
            "taskDefinitionArn": self.task_definition_arn,
            "deploymentId": self.deployment_id,
            "settings": self.settings.to_dict(),
            "health": self.health(now, mode),
        }


def _month(now: float) -> str:
    return datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m")


# The emulator neither counts nor fault-injects the simulator's own requests: it stands in for the
# data plane, not for a client under test.
SIMULATOR_APP_ID = "reflex-simulator"


class Simulator:
    def __init__(self, aws_endpoint: str, region: str, cluster: str | None = None, poll_interval: float = 0.5, bytes_per_second: float = 0.0) -> None:
        self.aws_endpoint = aws_endpoint.rstrip("/")
        self.region = region
        self.cluster = cluster  # None: the services of every cluster
        self.poll_interval = poll_interval
        self.instances: dict[str, Instance] = {}
        self.modes: dict[str, str] = {}
        # Modes by image (POST /_sim/images): a server version known to be bad is unhealthy on
        # every instance that runs an image whose URI contains the match (its build's input hash).
        self.image_modes: dict[str, str] = {}
        self._settings: dict[tuple[Any, ...], Settings] = {}
        self._poll_lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.polls = 0
        self.bytes_per_second = bytes_per_second  # the data transfer rate of instances (POST /_sim/transfer)
        self._version: float | None = None  # the emulator's cursor: only changes since then
        self._generation: int | None = None

    def _mode(self, name: str) -> str:
        """The instance's mode: its own if one was set, else its image's, else ok."""
        if name in self.modes:
            return self.modes[name]
        inst = self.instances.get(name)
        image = inst.image if inst is not None else None
        if image:
            for match, mode in self.image_modes.items():
                if match in image:
                    return mode
        return "ok"

    # --- following the emulator ------------------------------------------------------------------

    def _fetch(self, since: float | None) -> dict[str, Any]:
        """Blocking: the emulator's services (``GET /_emulator/ecs/services``, a control endpoint:
        neither an AWS call nor counted or throttled), all of them or those changed since ``since``."""
        url = f"{self.aws_endpoint}/_emulator/ecs/services" + (f"?since={since!r}" if since is not None else "")
        with urllib.request.urlopen(url, timeout=30) as resp:
            return json.loads(resp.read())

    async def poll(self) -> None:
        async with self._poll_lock:
            try:
                answer = await asyncio.to_thread(self._fetch, self._version)
                if answer.get("generation") != self._generation and self._version is not None:
                    answer = await asyncio.to_thread(self._fetch, None)  # the emulator was reset
            except (OSError, ValueError) as exc:  # the emulator may be restarting or down
                log.warning("could not list services: %s", exc)
                return
            full = self._version is None or answer.get("generation") != self._generation
            services = [s for s in answer.get("services") or [] if self.cluster is None or s.get("cluster") == self.cluster]
            self._apply(services, time.time(), full=full)
            self._version, self._generation = answer.get("version"), answer.get("generation")
            self.polls += 1

    def _settings_for(self, svc: dict[str, Any]) -> Settings:
        """The instance's settings from its server container (cached: one per distinct container)."""
        key = (svc.get("taskDefinition"), json.dumps(svc.get("environment")), json.dumps(svc.get("secrets")))
        settings = self._settings.get(key)
        if settings is None:
            container = {"environment": svc.get("environment") or [], "secrets": svc.get("secrets") or []}
            settings = self._settings[key] = Settings.from_task_definition({"containerDefinitions": [container]})
        return settings

    def _apply(self, services: list[dict[str, Any]], now: float, full: bool = True) -> None:
        """Follow the services: all of them (``full``: an instance not listed is gone) or the
        changed ones. A service that is not ACTIVE (deleted) is gone."""
        seen = set()
        for svc in services:
            name = svc["name"]
            if svc.get("status") != "ACTIVE":
                if self.instances.pop(name, None) is not None:
                    log.info("instance %s gone", name)
                continue
            seen.add(name)
            running = svc.get("desiredCount", 0) > 0 and svc.get("runningCount", 0) > 0
            td_arn = svc.get("taskDefinition") or ""
            settings = self._settings_for(svc)
            deployment_id = svc.get("deploymentId")
            inst = self.instances.get(name)
            if inst is None:
                inst = self.instances[name] = Instance(name, settings, td_arn, deployment_id, started_at=now, rate=self.bytes_per_second)
                inst.serving = inst.ever_served = running
                inst.log_config, inst.source_arn = _awslogs(svc), _source_arn(svc)
                inst.image = svc.get("image")
                log.info("instance %s appeared (serving=%s, settings=%s)", name, running, _loggable(settings))
                continue
            restarted = False
            if running and not inst.serving:
                restarted = True  # tasks started again after a scale to 0
            if td_arn != inst.task_definition_arn or deployment_id != inst.deployment_id:
                restarted = True
            inst.settings, inst.task_definition_arn, inst.deployment_id = settings, td_arn, deployment_id
            inst.log_config, inst.source_arn = _awslogs(svc), _source_arn(svc)
            inst.image = svc.get("image")
            if inst.serving and not running:
                log.info("instance %s stopped", name)
            inst.serving = running
            if restarted and running:
                inst.start(now)
                inst.restarts += 1 if inst.ever_served else 0
                inst.ever_served = True
                log.info("instance %s restarted (settings=%s)", name, _loggable(settings))
        if full:
            for name in list(self.instances):
                if name not in seen:
                    log.info("instance %s gone", name)
                    del self.instances[name]
        if len(self._settings) > 4 * len(self.instances) + 64:
            self._settings.clear()  # after many redeployments: forget old containers

    async def run_poller(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(self.poll_interval)

    # --- HTTP ------------------------------------------------------------------------------------

    def _instance(self, request: web.Request) -> Instance:
        name = request.match_info["svc"]
        inst = self.instances.get(name)
        if inst is None:
            raise web.HTTPNotFound(text='{"error": "no such instance"}', content_type="application/json")
        if not inst.serving:
            raise web.HTTPServiceUnavailable(
                text='{"error": "instance has no running tasks"}', content_type="application/json"
            )
        return inst

    async def _misbehave(self, request: web.Request, inst: Instance) -> web.StreamResponse | None:
        """The "unreachable" and "hang" modes: drop the connection (after a bounded wait). The
        returned response is never written (the transport is closed): aiohttp lets that pass."""
        mode = self._mode(inst.service)
        if mode not in ("unreachable", "hang"):
            return None
        if mode == "hang":
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), HANG_SECONDS)
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=503)

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        inst = self._instance(request)
        if (dropped := await self._misbehave(request, inst)) is not None:
            return dropped
        return web.json_response(inst.health(time.time(), self._mode(inst.service)))

    async def admin(self, request: web.Request) -> web.StreamResponse:
        inst = self._instance(request)
        if (dropped := await self._misbehave(request, inst)) is not None:
            return dropped
        action, now = request.match_info["action"], time.time()
        if action == "reload":
            inst.reload(now)
        elif action == "replication/pause":
            inst.pause(now)
        elif action == "replication/resume":
            inst.resume(now)
        else:
            raise web.HTTPNotFound()
        log.info("instance %s: %s", inst.service, action)
        return web.json_response({"ok": True, **inst.health(now, self._mode(inst.service))})

    async def list_instances(self, request: web.Request) -> web.Response:
        now = time.time()
        return web.json_response(
            {name: inst.describe(now, self._mode(name)) for name, inst in self.instances.items()}
        )

    async def get_instance(self, request: web.Request) -> web.Response:
        name = request.match_info["svc"]
        inst = self.instances.get(name)
        if inst is None:
            return web.json_response(
                {"service": name, "error": "no such instance", "mode": self._mode(name)}, status=404
            )
        return web.json_response(inst.describe(time.time(), self._mode(name)))

    async def set_mode(self, request: web.Request) -> web.Response:
        """``{"mode": ...}``, and/or the instance's data transfer: ``{"bytesPerSecond": r}`` (its
        rate from now on) and ``{"bytesTransferred": n}`` (its counter this month, now)."""
        name = request.match_info["svc"]
        body = await request.json()
        mode = body.get("mode", self.modes.get(name, "ok"))
        if mode not in MODES:
            return web.json_response({"error": f"mode must be one of {MODES}"}, status=400)
        inst, now = self.instances.get(name), time.time()
        if ("bytesPerSecond" in body or "bytesTransferred" in body) and inst is None:
            return web.json_response({"error": "no such instance"}, status=404)
        if inst is not None:
            inst.transfer(now)
            if "bytesPerSecond" in body:
                inst.rate, inst.rate_set = float(body["bytesPerSecond"]), True
            if "bytesTransferred" in body:
                inst.transferred = float(body["bytesTransferred"])
        self.modes[name] = mode
        return web.json_response({"service": name, "mode": mode})

    async def set_image_mode(self, request: web.Request) -> web.Response:
        """``{"match": s, "mode": m}``: every instance whose image URI contains ``s`` answers in mode
        ``m`` (unless one has a mode of its own); mode "ok" forgets the match."""
        body = await request.json()
        match, mode = str(body.get("match") or ""), body.get("mode", "ok")
        if not match or mode not in MODES:
            return web.json_response({"error": f"match must be a non-empty string and mode one of {MODES}"}, status=400)
        if mode == "ok":
            self.image_modes.pop(match, None)
        else:
            self.image_modes[match] = mode
        return web.json_response({"images": self.image_modes})

    async def set_transfer(self, request: web.Request) -> web.Response:
        """``{"bytesPerSecond": r}``: the data transfer rate of every instance not set on its own."""
        body = await request.json()
        rate, now = float(body.get("bytesPerSecond", 0)), time.time()
        if rate < 0:
            return web.json_response({"error": "bytesPerSecond must be >= 0"}, status=400)
        self.bytes_per_second = rate
        for inst in self.instances.values():
            if not inst.rate_set:
                inst.transfer(now)
                inst.rate = rate
        return web.json_response({"bytesPerSecond": rate})

    async def stats(self, request: web.Request) -> web.Response:
        """The simulator's own cost: CPU seconds (user + system) and resident memory."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        try:
            with open("/proc/self/statm") as statm:
                rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            rss = usage.ru_maxrss * 1024
        return web.json_response({
            "pid": os.getpid(),
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "rss_bytes": rss,
            "instances": len(self.instances),
            "serving": sum(1 for i in self.instances.values() if i.serving),
            "polls": self.polls,
        })

    async def refresh(self, request: web.Request) -> web.Response:
        await self.poll()
        return await self.list_instances(request)

    async def reset(self, request: web.Request) -> web.Response:
        async with self._poll_lock:
            self.instances.clear()
            self.modes.clear()
            self.image_modes.clear()
            self.bytes_per_second = 0.0
            self._settings.clear()
            self._version = self._generation = None
        await self.poll()
        return web.json_response({"reset": True})

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/i/{svc}/healthz", self.healthz),
                web.post("/i/{svc}/admin/{action:.+}", self.admin),
                web.get("/_sim/instances", self.list_instances),
                web.get("/_sim/instances/{svc}", self.get_instance),
                web.post("/_sim/instances/{svc}", self.set_mode),
                web.post("/_sim/refresh", self.refresh),
                web.post("/_sim/transfer", self.set_transfer),
                web.post("/_sim/images", self.set_image_mode),
                web.post("/_sim/reset", self.reset),
                web.get("/_sim/health", lambda r: web.json_response({"ok": True, "polls": self.polls})),
                web.get("/_sim/stats", self.stats),
            ]
        )
        return app


def _awslogs(svc: dict[str, Any]) -> tuple[str, str, str] | None:
    """The server container's awslogs (group, stream prefix, container name), as ECS uses them."""
    config = svc.get("logConfiguration") or {}
    options = config.get("options") or {}
    if config.get("logDriver") != "awslogs" or not options.get("awslogs-group"):
        return None
    return options["awslogs-group"], options.get("awslogs-stream-prefix") or "", svc.get("container") or "reflex-server"


def _source_arn(svc: dict[str, Any]) -> str | None:
    return next((s.get("valueFrom") for s in svc.get("secrets") or [] if s.get("name") == SOURCE_URL), None)


class LogWriter:
    """What the running servers print, written to CloudWatch Logs as the awslogs driver would:
    one stream per task (``<prefix>/<container>/<task id>``), a start line, then a line per swap
    and a heartbeat every ``interval`` seconds. The start line prints the connection string, as
    a careless server might: the tools that show logs must mask it (tests check they do)."""

    def __init__(self, sim: "Simulator", interval: float) -> None:
        import boto3
        from botocore.config import Config as BotoConfig

        self.sim, self.interval = sim, interval
        session = boto3.session.Session(region_name=sim.region)
        config = BotoConfig(user_agent_appid=SIMULATOR_APP_ID, retries={"mode": "standard", "max_attempts": 3})
        self.logs = session.client("logs", endpoint_url=sim.aws_endpoint, config=config)
        self.secrets = session.client("secretsmanager", endpoint_url=sim.aws_endpoint, config=config)
        self.streams: set[tuple[str, str]] = set()

    def _stream(self, group: str, stream: str) -> None:
        if (group, stream) in self.streams:
            return
        for create in (lambda: self.logs.create_log_group(logGroupName=group), lambda: self.logs.create_log_stream(logGroupName=group, logStreamName=stream)):
            try:
                create()
            except self.logs.exceptions.ResourceAlreadyExistsException:
                pass
        self.streams.add((group, stream))

    def _source(self, arn: str | None) -> str:
        try:
            return str(self.secrets.get_secret_value(SecretId=arn)["SecretString"]) if arn else "(none)"
        except Exception:  # noqa: BLE001 - a missing secret: the server would not start; say so
            return "(unreadable)"

    def lines(self, inst: Instance, now: float) -> list[str]:
        out = []
        if inst.logged_start != inst.started_at:
            inst.logged_start, inst.logged_swaps = inst.started_at, 0
            out.append(f"reflex-server starting: sync {inst.settings.sync_mode} every {inst.settings.sync_interval_seconds:g}s, source {self._source(inst.source_arn)}")
        health = inst.health(now)
        if inst.swaps != inst.logged_swaps:
            out.append(f"snapshot swapped in: swap {inst.swaps}, {sum(health['rowCounts'].values())} rows")
            inst.logged_swaps = inst.swaps
        out.append(f"heartbeat: status {health['status']}, snapshot age {health['snapshotAgeMs']} ms, replication {health['replication']}")
        return out

    def write_once(self, now: float) -> int:
        written = 0
        for inst in list(self.sim.instances.values()):
            if not inst.serving or inst.log_config is None:
                continue
            group, prefix, container = inst.log_config
            task = hashlib.sha256(f"{inst.service}/{inst.deployment_id}/{inst.started_at}".encode()).hexdigest()[:32]
            stream = f"{prefix}/{container}/{task}" if prefix else task
            try:
                self._stream(group, stream)
                ms = int(now * 1000)
                self.logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": ms, "message": m} for m in self.lines(inst, now)])
                written += 1
            except Exception as exc:  # noqa: BLE001 - the emulator may be resetting; next round
                self.streams.discard((group, stream))
                log.warning("could not write logs of %s: %s", inst.service, exc)
        return written

    async def run(self) -> None:
        while True:
            await asyncio.to_thread(self.write_once, time.time())
            await asyncio.sleep(self.interval)


def _loggable(settings: Settings) -> dict[str, Any]:
    """Settings for the log: the secret's ARN is left out as well as (of course) any value."""
    data = settings.to_dict()
    data.pop("sourceSecretArn", None)
    return data


async def _serve(args: argparse.Namespace) -> None:
    sim = Simulator(args.aws_endpoint, args.region, args.cluster, args.poll_interval, args.bytes_per_second)
    runner = web.AppRunner(sim.app(), access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    poller = asyncio.create_task(sim.run_poller())
    writer = asyncio.create_task(LogWriter(sim, args.log_interval).run()) if args.log_interval > 0 else None
    print(f"simulator ready on http://{args.host}:{args.port}", flush=True)
    await stop.wait()
    sim.stopping.set()
    for task in (poller, writer):
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reflex_dev.simulator", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7000)
    parser.add_argument("--aws-endpoint", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--cluster", default=None, help="only this cluster's services (default: every cluster)")
    parser.add_argument("--poll-interval", type=float, default=0.5)
    parser.add_argument("--bytes-per-second", type=float, default=0.0, help="data transfer rate of each instance")
    parser.add_argument("--log-interval", type=float, default=float(os.environ.get("REFLEX_SIM_LOG_INTERVAL", "2")),
                        help="seconds between the log lines each running instance writes to CloudWatch Logs (0: none)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
