"""The operator's memory and CPU at fleet size, without the stack: the real ``Runtime``, poller and
reconcile pass over in-memory fakes of AWS, the data plane and Kubernetes holding N running,
idle databases with realistic bodies (a full status: builds, conditions, notifications, history;
``managedFields`` and a ``last-applied-configuration`` annotation as the API server returns them).

Measures, at N resources:
- bytes per database the runtime keeps (tracemalloc, after the watch's bodies were delivered and
  one poll filled the caches), and the process's RSS (/proc);
- CPU ms (process time, so other load on the machine does not count) and wall ms per idle
  ``poll_once`` (mean of the rounds after the first), and what each round woke;
- CPU ms per idle reconcile pass (the resync gives each resource one every
  REFLEX_RESYNC_SECONDS), and the status writes those passes made (0 when idle);
- the idle CPU that makes, in cores: a poll every 60 s, and the resync;
- with ``--profile``: the hottest functions of the polls (cProfile), printed.

Usage: python bench/poll_profile.py [--resources 10000] [--polls 5] [--passes 500] [--profile]
Writes a JSON file (``--out``, default .bench/poll_profile.json) and prints a short table.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import copy
import gc
import json
import pstats
import sys
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "operator"))
sys.path.insert(0, str(ROOT))

from prometheus_client import CollectorRegistry  # noqa: E402

from reflex_operator.api.models import (  # noqa: E402
    GROUP,
    KIND,
    VERSION,
    HealthStatus,
    Replication,
)
from reflex_operator.controller.runtime import names_of_body  # noqa: E402
from reflex_operator.database.identity import identity_names  # noqa: E402
from reflex_operator.tenancy.plans import Plan  # noqa: E402
from reflex_operator.database.inputs import Config, HealthSample, ObservedBuild, ObservedService, ServiceState  # noqa: E402
from reflex_operator.kube.client import FINALIZER  # noqa: E402
from reflex_operator.controller.poller import poll_once  # noqa: E402
from reflex_operator.controller.reconcile import reconcile  # noqa: E402
from reflex_operator.controller.runtime import Entry, Runtime, SecretMeta  # noqa: E402
from reflex_operator.controller.wiring import Adapters, assemble  # noqa: E402
from reflex_operator.metrics import Metrics  # noqa: E402
from reflex_operator.settings import Settings  # noqa: E402

from bench.scale_lib import rss_mib  # noqa: E402

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
NAMESPACES = 100
ENDPOINT = "http://{service}.reflex.local:8080"


# ------------------------------------------------------------------------------------ the fakes


class Ecs:
    """Every database's service is ACTIVE with one task running."""

    def __init__(self, services: dict[str, ObservedService]) -> None:
        self.services = services

    async def describe(self, names: list[str], cluster: str | None = None) -> dict[str, ObservedService | None]:
        return {n: self.services.get(n) for n in names}


class Builds:
    async def get(self, ids: list[str]) -> dict[str, ObservedBuild]:
        return {}

    async def scan(self, cluster_identity: str, since: datetime | None) -> tuple[list[ObservedBuild], bool]:
        return [], True


class DataPlane:
    """Every instance answers ok, with a snapshot a second old."""

    async def health(self, endpoint: str, now: datetime) -> HealthSample:
        return HealthSample(
            status=HealthStatus.OK, checked_at=now, snapshot_age_ms=1000, swap_count=42,
            row_counts={"public.orders": 120000, "sales.invoices": 4500}, replication=Replication.RUNNING,
            uptime_seconds=3600, last_swap_time=now - timedelta(seconds=1), bytes_transferred=10_000,
        )


class Kube:
    def __init__(self) -> None:
        self.writes = 0

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> Any:
        self.writes += 1
        return None

    async def post_event(self, body: dict[str, Any], warning: bool, reason: str, message: str) -> None:
        return None

    async def patch_plan_status(self, name: str, status: dict[str, Any]) -> None:
        return None


# ----------------------------------------------------------------------------------- the bodies


def _template(config: Config) -> tuple[dict[str, Any], ObservedService]:
    """One running database as the real pass leaves it (status from the decision core)."""
    from tests.unit.world import World, resource, settle  # the unit tests' world: one database

    world = World()
    desired, _ = settle(world, resource({"sync": {"mode": "stream", "intervalSeconds": 30}, "source": {"secretRef": {"name": "db"}, "schemas": ["public", "sales"]}}), config)
    body = world.kube.objects[(desired.namespace, desired.name)]
    service = world.ecs._observed(world.service["name"])
    return _aged(body), service


def _aged(body: dict[str, Any]) -> dict[str, Any]:
    """A database that has lived a while: 10 notifications, 20 transitions (of the status limits'
    20 and 50)."""
    status = copy.deepcopy(body["status"])

    def pad(items: list[dict[str, Any]], n: int, vary: str) -> list[dict[str, Any]]:
        out = list(items)
        while len(out) < n:
            item = copy.deepcopy(items[len(out) % len(items)])
            item[vary] = f"{item[vary]}-{len(out)}"
            out.append(item)
        return out

    status["notifications"] = pad(status["notifications"], 10, "id")
    status["unseenCount"] = len(status["notifications"])
    status["history"] = pad(status["history"], 20, "reason")
    return {**body, "status": status}


def _body(template: dict[str, Any], i: int) -> dict[str, Any]:
    body = copy.deepcopy(template)
    namespace, name, uid = f"team-{i % NAMESPACES:03d}", f"db-{i:05d}", f"00000000-0000-4000-8000-{i:012d}"
    meta = body["metadata"]
    meta.update(name=name, namespace=namespace, uid=uid, resourceVersion=str(1000 + i), creationTimestamp="2026-12-01T10:00:00Z")
    own = identity_names(Config.cluster_identity, namespace, name, Config.secret_prefix)
    if body["status"].get("identity"):  # each copy owns its own resources
        body["status"]["identity"].update(serviceName=own.service, taskFamily=own.family, secretName=own.secret)
    meta["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(
            {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": name, "namespace": namespace}, "spec": body["spec"]}
        )
    }
    meta["managedFields"] = [
        {"apiVersion": f"{GROUP}/{VERSION}", "fieldsType": "FieldsV1", "manager": "kubectl-client-side-apply", "operation": "Update",
         "time": "2026-12-01T10:00:00Z", "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
                                                      "f:spec": {k: {} for k in [f"f:{key}" for key in body["spec"]]}}},
        {"apiVersion": f"{GROUP}/{VERSION}", "fieldsType": "FieldsV1", "manager": "kopf", "operation": "Update",
         "time": "2026-12-01T10:00:00Z", "fieldsV1": {"f:metadata": {"f:finalizers": {".": {}, f'v:"{FINALIZER}"': {}}}}},
        {"apiVersion": f"{GROUP}/{VERSION}", "fieldsType": "FieldsV1", "manager": "reflex-operator", "operation": "Update",
         "subresource": "status", "time": "2026-12-01T10:05:00Z",
         "fieldsV1": {"f:status": {f"f:{key}": {} for key in body["status"]}}},
    ]
    # Distinct values where real ones differ (so nothing is shared between the copies).
    instance = body["status"]["instance"]
    instance["endpointUrl"] = ENDPOINT.format(service=names_of_body(body, Config()).service)  # type: ignore[union-attr]
    instance["lastHealthCheck"] = NOW.isoformat().replace("+00:00", "Z")
    return json.loads(json.dumps(body))  # as the watch delivers it: parsed anew, nothing shared


# ------------------------------------------------------------------------------------ the run


def _runtime(config: Config, services: dict[str, ObservedService], kube: Kube) -> Runtime:
    from tests.unit.world import PERMISSIVE

    adapters = Adapters(codebuild=Builds(), ecs=Ecs(services), secrets=None, dataplane=DataPlane(), kube=kube)  # type: ignore[arg-type]
    rt = assemble(Settings(leader_election=False), adapters, metrics=Metrics(CollectorRegistry()), repository=config.image_repository_uri, clock=lambda: NOW)
    rt.config = config
    rt.plans.plans = {"default": Plan("default", PERMISSIVE)}
    return rt


async def measure(n: int, polls: int, passes: int, profile: bool, trace: bool, config: Config, template: tuple[dict[str, Any], ObservedService]) -> dict[str, Any]:
    template, template_service = template
    gc.collect()
    rss_before = rss_mib()
    if trace:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    services: dict[str, ObservedService] = {}
    kube = Kube()
    rt = _runtime(config, services, kube)
    for i in range(n):
        body = _body(template, i)
        meta = body["metadata"]
        name = names_of_body(body, config).service  # type: ignore[union-attr]
        services[name] = ObservedService(**{**template_service.__dict__, "name": name, "state": ServiceState.ACTIVE})
        rt.resources[(meta["namespace"], meta["name"])] = Entry(body=body)
        rt.secret_index[(meta["namespace"], body["spec"]["source"]["secretRef"]["name"])] = SecretMeta("1", frozenset({"url"}))
    woken_first = len(await poll_once(rt))
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    rss_after = rss_mib()
    held = held if trace else int((rss_after - rss_before) * 2**20)
    rt.queue = type(rt.queue)()  # what the first round woke is not the idle rounds' work

    profiler = cProfile.Profile() if profile else None
    times, woken = [], []
    cpu = []
    for _ in range(polls):
        if profiler:
            profiler.enable()
        started, used = time.perf_counter(), time.process_time()
        woken.append(len(await poll_once(rt)))
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - used) * 1000)
        if profiler:
            profiler.disable()
    writes_before = kube.writes
    keys = list(rt.resources)[:passes]
    used = time.process_time()
    for key in keys:
        await reconcile(rt, key)
    pass_ms = (time.process_time() - used) * 1000 / max(1, len(keys))
    poll_interval = 60.0  # the issue's figure at 10,000
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    return {
        "resources": n,
        "cpu_ms_per_poll": round(sum(cpu) / len(cpu), 1),
        "wall_ms_per_poll": round(sum(times) / len(times), 1),
        "polls": polls,
        "woken_first_poll": woken_first,
        "woken_per_idle_poll": woken,
        "cpu_ms_per_idle_pass": round(pass_ms, 2),
        # Idle CPU: a poll every 60 s and a resync pass per resource every REFLEX_RESYNC_SECONDS.
        "idle_cores_polls_60s": round(sum(cpu) / len(cpu) / 1000 / poll_interval, 3),
        "idle_cores_resync": round(n / Settings().resync_seconds * pass_ms / 1000, 3),
        "idle_pass_writes": kube.writes - writes_before,
        "bytes_per_database": round(held / n) if n else 0,
        "bytes_measured_by": "tracemalloc" if trace else "RSS",
        "rss_mib_before": round(rss_before, 1),
        "rss_mib_after": round(rss_after, 1),
        "body_json_bytes": len(json.dumps(template)),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resources", type=int, default=10_000)
    ap.add_argument("--polls", type=int, default=5)
    ap.add_argument("--passes", type=int, default=500, help="idle reconcile passes timed")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--tracemalloc", action="store_true", help="bytes per database from tracemalloc (RSS then includes its overhead)")
    ap.add_argument("--out", default=str(ROOT / ".bench" / "poll_profile.json"))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    config = Config(endpoint_template=ENDPOINT)
    template = _template(config)
    result = asyncio.run(measure(args.resources, args.polls, args.passes, args.profile, args.tracemalloc, config, template))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
