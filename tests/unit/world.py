"""A small in-memory world (CodeBuild, ECS, Secrets Manager, the data plane and Kubernetes) that
implements the ports of ``reflex_operator.ports``, so the unit tests drive the operator's
real pass: ``poll_once`` then ``reconcile`` of ``reflex_operator.controller``.

Its time moves only when a test calls ``tick``: builds take a number of ticks and can fail,
running counts follow desired counts, deployments can fail, a deleted service is DRAINING then
INACTIVE. Each fake records what it was asked to do as the decision core's steps, in order
(``World.calls``). Unit tests only: no I/O.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from prometheus_client import CollectorRegistry

from reflex_operator.api.plan import ReflexPlanSpec

from reflex_operator.api.models import (
    GROUP,
    KIND,
    size_of_cpu,
    VERSION,
    HealthStatus,
    Phase,
    ReflexDatabaseSpec,
    ReflexDatabaseStatus,
    Replication,
)
from reflex_operator.database.inputs import BuildOutcome, Config, Desired, HealthSample, Observation, ObservedBuild, ObservedService, RolloutState, SecretState, ServiceState
from reflex_operator.database.decide import desired_config
from reflex_operator.database import steps as s
from reflex_operator.tenancy.plans import Plan
from reflex_operator.ports import BuildQuotaReached, ClusterFull, Conflict, StoredSecret
from reflex_operator.aws.budget import Budgets
from reflex_operator.kube.client import FINALIZER
from reflex_operator.controller.poller import poll_once
from reflex_operator.controller.reconcile import observe, reconcile
from reflex_operator.controller.wiring import Adapters, assemble
from reflex_operator.controller.runtime import Entry, Key, Runtime, SecretMeta
from reflex_operator.metrics import Metrics
from reflex_operator.settings import Settings

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
# The namespace's plan unless a test says otherwise: room for anything.
PERMISSIVE = ReflexPlanSpec(
    compute_units_limit=1000, max_instance_size="xlarge", poll_mode_min_sync_interval=1, data_transfer_gb_per_month=1e6
)
IDEMPOTENCY_WINDOW = Config.build_idempotency_window_seconds  # CodeBuild's, as the fake keeps it
UID = "0f6b2c1e-1111-4222-8333-944455556666"
SECRET_VALUE = "postgres://app:s3cret@db.internal:5432/app"


class OperatorDied(Exception):
    """The fake Kubernetes refused the status write: the operator died after acting."""


# ---------------------------------------------------------------------------------- the fakes


class FakeCodeBuild:
    def __init__(self, world: World) -> None:
        self.w = world

    async def hold_start(self) -> None:
        await self.w.budgets.hold("codebuild", "StartBuild")

    async def get(self, ids: list[str]) -> dict[str, ObservedBuild]:
        return {cid: self.w.observed_build(cid) for cid in ids if cid in self.w.builds}

    async def start(self, step: s.StartBuild) -> ObservedBuild:
        await self.w.budgets.take("codebuild", "StartBuild")
        self.w.calls.append(step)
        window = timedelta(seconds=IDEMPOTENCY_WINDOW)
        existing = [c for c, b in self.w.builds.items() if b["token"] == step.idempotency_token and self.w.now - b["started"] < window]
        if existing:  # the same token within CodeBuild's window: the same build
            return self.w.observed_build(existing[0])
        if self.w.build_quota_full:
            raise BuildQuotaReached("Cannot have more than 1 builds in queue for the account")
        self.w.start_build_calls += 1
        cid = f"reflex-server-build:{len(self.w.builds):08d}"
        self.w.builds[cid] = {
            "hash": step.inputs.hash,
            "token": step.idempotency_token,
            "outcome": BuildOutcome.QUEUED,
            "image": step.image_uri,
            "started": self.w.now,
            "version": step.inputs.server_version,
            "schemas": step.inputs.schemas,
            "ticks": 0,
            "identity": step.cluster_identity,
            "owner": step.owner,
            "attempt": step.attempt,
        }
        return self.w.observed_build(cid)

    async def scan(self, cluster_identity: str, since: datetime | None) -> tuple[list[ObservedBuild], bool]:
        self.w.scans.append(since)
        if not self.w.scan_sees:
            return [], False  # a project with more builds since than the look may read
        found = [
            self.w.observed_build(c) for c, b in self.w.builds.items()
            if b.get("identity") == cluster_identity and (since is None or b["started"] >= since - timedelta(seconds=60))
        ]
        return found, True

    async def retire(self, codebuild_ids: list[str], image_tags: list[str]) -> None:
        self.w.retired += codebuild_ids

    async def find(self, step: s.FindBuild) -> tuple[ObservedBuild | None, bool]:
        self.w.calls.append(step)
        self.w.find_build_calls += 1
        found = [c for c, b in self.w.builds.items() if b["token"] == step.idempotency_token and b["started"] >= step.since]
        if found:
            return self.w.observed_build(found[-1]), True
        return None, not self.w.find_inconclusive

    async def stop(self, codebuild_id: str) -> None:
        self.w.calls.append(s.StopBuild(codebuild_id, reason=""))
        b = self.w.builds[codebuild_id]
        if not b["outcome"].finished:
            b["outcome"] = BuildOutcome.STOPPED
            b["finished"] = self.w.now


class FakeEcs:
    def __init__(self, world: World) -> None:
        self.w = world

    def _observed(self, name: str) -> ObservedService | None:
        d = self.w.service
        if d is None or d["name"] != name:
            return None
        return ObservedService(
            name=d["name"],
            arn=f"arn:aws:ecs:us-east-1:123456789012:service/reflex/{d['name']}",
            state=d["state"],
            task_definition_arn=f"arn:aws:ecs:us-east-1:123456789012:task-definition/{d['family']}:{d['revision']}",
            deploy_hash=d["deploy_hash"],
            desired_count=d["desired"],
            running_count=d["running"],
            rollout_state=d["rollout"],
            rollout_reason="circuit breaker" if d["rollout"] is RolloutState.FAILED else None,
            image_uri=d["image"],
            config=d["config"],
            template=d.get("template"),
        )

    async def describe(self, names: list[str], cluster: str | None = None) -> dict[str, ObservedService | None]:
        self.w.clusters_asked.append(cluster)
        return {n: self._observed(n) for n in names}

    async def deploy(self, step: s.Deploy, cluster: str | None = None) -> ObservedService:
        await self.w.budgets.take("ecs", "RegisterTaskDefinition")  # as the adapter: register, then create or update
        await self.w.budgets.take("ecs", "CreateService" if step.create else "UpdateService")
        self.w.calls.append(step)
        self.w.clusters_asked.append(cluster)
        if cluster in self.w.full_clusters and step.create:
            raise ClusterFull(cluster or "", "You have reached the limit on the number of services in this cluster.")
        svc = self.w.service
        if svc is not None and svc["state"] is ServiceState.DRAINING:
            raise AssertionError("ECS refuses to create a service whose name is still draining")
        if svc is None or svc["state"] is not ServiceState.ACTIVE:
            self.w.create_service_calls += 1
            svc = self.w.service = {"name": step.service_name, "family": step.family, "revision": 0, "state": ServiceState.ACTIVE}
        svc.update(
            revision=svc["revision"] + 1,
            deploy_hash=step.deploy_hash,
            desired=step.desired_count,
            running=0 if step.desired_count == 0 else min(svc.get("running", 0), 1),
            rollout=RolloutState.IN_PROGRESS,
            image=step.inputs.image_uri,
            config=_config(step),
            template=step.template,
            ticks=0,
        )
        observed = self._observed(step.service_name)
        assert observed is not None
        return observed

    async def scale(self, name: str, desired_count: int, cluster: str | None = None) -> ObservedService | None:
        self.w.calls.append(s.ScaleService(name, desired_count))
        self.w.clusters_asked.append(cluster)
        assert self.w.service is not None
        self.w.service["desired"] = desired_count
        self.w.service["ticks"] = 0
        return self._observed(name)

    async def tag(self, arn: str, tags: dict[str, str]) -> None:
        self.w.tagged.append((arn, tags))

    async def delete(self, name: str, cluster: str | None = None) -> ObservedService | None:
        self.w.calls.append(s.DeleteService(name))
        self.w.clusters_asked.append(cluster)
        if self.w.service is not None and self.w.service["state"] is ServiceState.ACTIVE:
            self.w.service["state"] = ServiceState.DRAINING  # INACTIVE on the next tick
        return self._observed(name)


class FakeSecretsManager:
    def __init__(self, world: World) -> None:
        self.w = world

    async def put(self, step: s.PutSecret, value: str, resource: str) -> StoredSecret:
        assert value == SECRET_VALUE
        self.w.calls.append(s.PutSecret(step.secret_name, k8s_secret="", k8s_key="", resource_version="", exists=step.exists))
        self.w.secret_arn = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{step.secret_name}"
        return StoredSecret(self.w.secret_arn)

    async def tag(self, arn: str, tags: dict[str, str]) -> None:
        self.w.tagged.append((arn, tags))

    async def delete(self, name: str) -> None:
        self.w.calls.append(s.DeleteSecret(name))
        self.w.secret_arn = None


class FakeDataPlane:
    def __init__(self, world: World) -> None:
        self.w = world

    async def health(self, endpoint: str, now: datetime) -> HealthSample:
        if self.w.health_mode is HealthStatus.UNREACHABLE:
            return HealthSample(status=HealthStatus.UNREACHABLE, checked_at=now)
        return HealthSample(
            status=self.w.health_mode,
            checked_at=now,
            snapshot_age_ms=1000,
            swap_count=self.w.tick_no,
            row_counts={"public.users": 10},
            replication=self.w.replication,
            uptime_seconds=10,
            last_swap_time=now,
            bytes_transferred=self.w.bytes_transferred,
        )

    async def reload(self, endpoint: str) -> None:
        self.w.calls.append(s.Reload(endpoint, token=""))
        self.w.reloads += 1

    async def pause_replication(self, endpoint: str) -> None:
        self.w.calls.append(s.PauseReplication(endpoint))
        self.w.replication = Replication.PAUSED

    async def resume_replication(self, endpoint: str) -> None:
        self.w.calls.append(s.ResumeReplication(endpoint))
        self.w.replication = Replication.RUNNING

    async def close(self) -> None:
        return None


class FakeKubernetes:
    """The API server's objects, as the watch would have delivered them."""

    def __init__(self, world: World) -> None:
        self.w = world
        self.objects: dict[Key, dict[str, Any]] = {}
        self.version = 0
        # The operator dies before its status write (True; "all": even before a build intent or
        # placement is recorded).
        self.fail_status_writes: bool | str = False
        self.conflicts = 0  # the next writes answer 409
        self.status_writes = 0
        self.reads = 0  # GETs of the object (after a conflict)

    def _bump(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        obj["metadata"]["resourceVersion"] = f"v{self.version}"  # opaque, as the API says
        return obj

    def put(self, desired: Desired) -> dict[str, Any]:
        """The object as the user left it (spec, deletion) with the status of ``desired``."""
        meta: dict[str, Any] = {
            "name": desired.name,
            "namespace": desired.namespace,
            "uid": desired.uid,
            "generation": desired.generation,
            "finalizers": [FINALIZER],
        }
        if desired.deleting:
            meta["deletionTimestamp"] = "2026-11-22T12:00:00Z"
        obj = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": meta, "spec": desired.spec.wire(), "status": desired.status.wire()}
        self.objects[(desired.namespace, desired.name)] = self._bump(obj)
        return obj

    def _conflict(self) -> None:
        if self.conflicts:
            self.conflicts -= 1
            raise Conflict("the object changed")

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads += 1
        obj = self.objects.get((namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> Any:
        stored = (self.objects.get((namespace, name)) or {}).get("status") or {}
        intent = status.get("buildIntent")
        records_intent = intent is not None and intent != stored.get("buildIntent")
        placement = status.get("placement")
        records_placement = placement is not None and placement != stored.get("placement")
        # The write before StartBuild (a build intent) or CreateService (a placement) gets through.
        if self.fail_status_writes == "all" or (self.fail_status_writes and not (records_intent or records_placement)):
            raise OperatorDied()
        self._conflict()
        self.status_writes += 1
        obj = self.objects[(namespace, name)]
        obj = self._bump({**obj, "metadata": dict(obj["metadata"]), "status": status})
        self.objects[(namespace, name)] = obj
        return obj

    async def set_finalizers(self, namespace: str, name: str, finalizers: list[str], resource_version: str | None) -> None:
        self._conflict()
        obj = self.objects[(namespace, name)]
        if resource_version is not None and resource_version != obj["metadata"]["resourceVersion"]:
            raise Conflict("stale resourceVersion")
        if FINALIZER not in finalizers:
            self.w.calls.append(s.ReleaseFinalizer())
            self.w.released = True
        self._bump(obj)["metadata"]["finalizers"] = finalizers

    async def post_event(self, body: dict[str, Any], warning: bool, reason: str, message: str) -> None:
        assert SECRET_VALUE not in message
        event = s.Event(reason, message, warning)
        self.w.calls.append(event)
        self.w.events.append(event)

    async def secret_meta(self, namespace: str, name: str) -> tuple[str, frozenset[str]] | None:
        secret = self.w.secret
        if not secret.exists:
            return None
        return secret.resource_version or "1", frozenset({"url", "dsn"} if secret.has_key else ())

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        return SECRET_VALUE if self.w.secret.usable else None

    async def list_plans(self) -> list[dict[str, Any]]:
        plan = self.w.plan
        return [{"metadata": {"name": self.w.plan_name}, "spec": plan.wire()}] if plan is not None else []

    async def list_namespaces(self) -> list[dict[str, Any]]:
        labels = {"reflexdb.cloud/plan": self.w.label} if self.w.label else {}
        return [{"metadata": {"name": "team-a", "labels": labels}}]

    async def patch_plan_status(self, name: str, status: dict[str, Any]) -> None:
        self.w.plan_status[name] = status

    async def list_rollouts(self) -> list[dict[str, Any]]:
        return list(self.w.rollouts.values())

    async def create_rollout(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        if name not in self.w.rollouts:
            self.version += 1
            meta = {**body["metadata"], "uid": f"uid-{name}", "generation": 1, "resourceVersion": str(self.version)}
            self.w.rollouts[name] = {**body, "metadata": meta}
        return self.w.rollouts[name]

    async def patch_rollout_status(self, name: str, status: dict[str, Any], resource_version: str | None) -> dict[str, Any] | None:
        if name not in self.w.rollouts:
            return None
        stored = self.w.rollouts[name]
        if resource_version is not None and resource_version != stored["metadata"].get("resourceVersion"):
            raise Conflict(f"ReflexRollout {name}: changed since {resource_version}")
        self.version += 1
        self.w.rollouts[name] = {**stored, "metadata": {**stored["metadata"], "resourceVersion": str(self.version)}, "status": status}
        return self.w.rollouts[name]


def _config(step: s.Deploy):
    i = step.inputs
    spec = ReflexDatabaseSpec.model_validate(
        {
            "source": {"secretRef": {"name": "x"}},
            "size": size_of_cpu(i.cpu),
            "sync": {"mode": i.sync_mode, "intervalSeconds": i.sync_interval},
            "logLevel": i.log_level,
            "safetyNet": i.safety_net,
        }
    )
    return desired_config(spec)


# ---------------------------------------------------------------------------------- the world


@dataclass
class World:
    build_ticks: int = 2
    deploy_ticks: int = 1
    fail_builds: bool = False
    fail_deployments: bool = False
    secret: SecretState = field(default_factory=lambda: SecretState(exists=True, has_key=True, resource_version="1"))
    health_mode: HealthStatus = HealthStatus.OK
    now: datetime = T0
    builds: dict[str, dict] = field(default_factory=dict)
    service: dict | None = None
    secret_arn: str | None = None
    reloads: int = 0
    replication: Replication = Replication.RUNNING
    start_build_calls: int = 0  # builds started (not StartBuild calls that returned an existing one)
    find_build_calls: int = 0
    scan_sees: bool = True  # False: the fleet's look over the project reaches its limit before any of ours
    scans: list[Any] = field(default_factory=list)  # the fleet's looks over the project (their ``since``)
    retired: list[str] = field(default_factory=list)  # shared builds deleted with their images
    build_quota_full: bool = False  # StartBuild answers AccountLimitExceededException
    find_inconclusive: bool = False  # the backwards look hits its limit
    create_service_calls: int = 0
    released: bool = False
    tick_no: int = 0
    events: list = field(default_factory=list)
    calls: list = field(default_factory=list)
    tagged: list = field(default_factory=list)  # (arn, tags) written by TagResource
    rt: Runtime | None = None
    # The namespace's plan ("default", or the one its label names; None: it does not exist), its
    # label reflexdb.cloud/plan (None: none), the other databases of the namespace (bodies, as the
    # watch delivers them), what the instance reports it transferred.
    plan: ReflexPlanSpec | None = field(default_factory=lambda: PERMISSIVE)
    label: str | None = None
    others: list[dict[str, Any]] = field(default_factory=list)
    bytes_transferred: int | None = None
    plan_status: dict[str, dict[str, Any]] = field(default_factory=dict)
    rollouts: dict[str, dict[str, Any]] = field(default_factory=dict)  # ReflexRollouts by name
    # The ECS clusters (the operator's settings) and their quota, the clusters each ECS call went
    # to (None: the adapter's default), and the clusters that refuse a new service (quota error).
    clusters: tuple[str, ...] = ("reflex",)
    default_cluster: str | None = None  # REFLEX_ECS_CLUSTER; None: the first listed
    services_per_cluster: int = 5000
    clusters_asked: list = field(default_factory=list)
    full_clusters: set = field(default_factory=set)
    # The operator's client-side rate budgets, on the world's clock (plenty unless a test sets
    # tighter ones: ``tight_budgets``); the seconds a pass slept in place for a token.
    budgets: Budgets | None = None
    budget_sleeps: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.budgets is None:
            self.budgets = self.tight_budgets({})
        self.codebuild = FakeCodeBuild(self)
        self.ecs = FakeEcs(self)
        self.secrets = FakeSecretsManager(self)
        self.dataplane = FakeDataPlane(self)
        self.kube = FakeKubernetes(self)

    def runtime(self, config: Config | None = None) -> Runtime:
        """The operator's runtime over this world (a new one after the operator died)."""
        if self.rt is None:
            settings = Settings(
                leader_election=False,
                ecs_cluster=self.default_cluster or self.clusters[0],
                ecs_clusters=list(self.clusters),
                ecs_services_per_cluster=self.services_per_cluster,
            )
            adapters = Adapters(codebuild=self.codebuild, ecs=self.ecs, secrets=self.secrets, dataplane=self.dataplane, kube=self.kube)
            self.rt = assemble(settings, adapters, metrics=Metrics(CollectorRegistry()), repository=Config().image_repository_uri, clock=lambda: self.now)
        self.rt.config = config or Config()
        self.rt.plans.plans = {self.plan_name: Plan(self.plan_name, self.plan)} if self.plan is not None else {}
        self.rt.plans.labels["team-a"] = self.label  # the namespace is seen
        return self.rt

    def seconds(self) -> float:
        """The world's clock, as the budgets read it."""
        return (self.now - T0).total_seconds()

    def tight_budgets(self, rates: dict[str, Any]) -> Budgets:
        """Budgets at 100 times AWS's figures, but for ``rates`` (family -> Rate), on the world's clock."""

        async def sleep(seconds: float) -> None:
            self.budget_sleeps.append(seconds)

        return Budgets(100.0, rates, clock=self.seconds, sleep=sleep)

    @property
    def plan_name(self) -> str:
        return self.label or "default"

    def observed_build(self, cid: str) -> ObservedBuild:
        b = self.builds[cid]
        return ObservedBuild(
            codebuild_id=cid,
            input_hash=b["hash"],
            outcome=b["outcome"],
            image_uri=b["image"],
            started_at=b["started"],
            finished_at=b.get("finished"),
            compute_type="BUILD_GENERAL1_MEDIUM",
            server_version=b["version"],
            schemas=b["schemas"],
            shared="identity" in b and not b.get("owner"),
            owner=b.get("owner"),
            attempt=b.get("attempt"),
            idempotency_token=b["token"],
        )

    def secret_meta(self) -> SecretMeta | None:
        if not self.secret.exists:
            return None
        return SecretMeta(self.secret.resource_version or "1", frozenset({"url", "dsn"} if self.secret.has_key else ()))

    # ------------------------------------------------------------------ time
    def tick(self, seconds: float = 10) -> None:
        self.tick_no += 1
        self.now += timedelta(seconds=seconds)
        for b in self.builds.values():
            if b["outcome"].finished:
                continue
            b["ticks"] += 1
            if b["ticks"] >= self.build_ticks:
                b["outcome"] = BuildOutcome.FAILED if self.fail_builds else BuildOutcome.SUCCEEDED
                b["finished"] = self.now
            else:
                b["outcome"] = BuildOutcome.IN_PROGRESS
        if self.service is not None and self.service["state"] is ServiceState.DRAINING:
            self.service["state"] = ServiceState.INACTIVE
        if self.service is not None and self.service["state"] is ServiceState.ACTIVE:
            d = self.service
            d["ticks"] = d.get("ticks", 0) + 1
            if d["ticks"] >= self.deploy_ticks:
                if self.fail_deployments and d["rollout"] is RolloutState.IN_PROGRESS:
                    d["rollout"] = RolloutState.FAILED
                    d["running"] = 0
                elif d["rollout"] is not RolloutState.FAILED:
                    d["rollout"] = RolloutState.COMPLETED
                    d["running"] = d["desired"]


def at_once(coroutine: Any) -> Any:
    """Run a coroutine that never awaits (a kopf event handler) to its end, in or out of a
    running loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise AssertionError("the handler awaited: it is not run at once")


def resource(spec: dict | None = None, **kw) -> Desired:
    body = {"source": {"secretRef": {"name": "db"}}}
    body.update(spec or {})
    return Desired(
        name="orders",
        namespace="team-a",
        uid=UID,
        generation=kw.pop("generation", 1),
        spec=ReflexDatabaseSpec.model_validate(body),
        **kw,
    )


# ------------------------------------------------------------------------------- the passes


@dataclass(frozen=True)
class Pass:
    """What one real pass did: the status it left (written, or the old one if it wrote nothing
    or died first) and what the fakes were asked to do, in order (events last)."""

    status: ReflexDatabaseStatus
    steps: tuple[s.Step, ...]

    @property
    def phase(self) -> Phase | None:
        return self.status.phase


def deliver(world: World, desired: Desired, config: Config | None = None) -> tuple[Runtime, Key]:
    """The runtime with ``desired`` and its Secret as the watches deliver them."""
    rt = world.runtime(config)
    key = (desired.namespace, desired.name)
    rt.resources[key] = Entry(body=world.kube.put(desired))
    for body in world.others:
        rt.resources[(body["metadata"]["namespace"], body["metadata"]["name"])] = Entry(body=body)
    rt.secret_index[(desired.namespace, desired.spec.source.secret_ref.name)] = world.secret_meta()
    return rt, key


def observation(world: World, desired: Desired) -> Observation:
    """What a pass would observe now (the poller's round, then the reconciler's observe), for
    tests that call ``decide`` directly."""

    async def go() -> Observation:
        rt, _ = deliver(world, desired)
        await poll_once(rt)
        return await observe(rt, desired)

    return asyncio.run(go())


async def pass_once(world: World, desired: Desired, config: Config | None = None, crash: bool | str = False) -> tuple[Desired, Pass]:
    """One operator pass over ``desired`` as the watches deliver it: the poller's round, then
    ``reconcile``. ``crash``: the fake Kubernetes fails the status write (the operator dies
    after acting; "all": at the write before acting too); the next pass runs in a new operator."""
    rt, key = deliver(world, desired, config)
    await poll_once(rt)
    world.calls = []
    world.kube.fail_status_writes = crash
    try:
        await reconcile(rt, key)
    except OperatorDied:
        await rt.flush_events(cancel=True)
        world.rt = None
        # What the API server holds: the old status, or the build intent / placement written before acting.
        stored = ReflexDatabaseStatus.model_validate(world.kube.objects[key]["status"])
        return replace(desired, status=stored), Pass(desired.status, tuple(world.calls))
    finally:
        world.kube.fail_status_writes = False
    await rt.flush_events()
    status = ReflexDatabaseStatus.model_validate(world.kube.objects[key]["status"])
    return replace(desired, status=status), Pass(status, tuple(world.calls))


def one_pass(world: World, desired: Desired, config: Config | None = None, crash: bool | str = False) -> tuple[Desired, Pass]:
    """``pass_once`` for synchronous tests."""
    return asyncio.run(pass_once(world, desired, config, crash))


def run(world: World, desired: Desired, passes: int = 20, config: Config | None = None) -> list[Pass]:
    """Run passes (one_pass, tick) and return every pass."""
    out = []
    for _ in range(passes):
        desired, p = one_pass(world, desired, config)
        out.append(p)
        world.tick()
    return out


def settle(world: World, desired: Desired, config: Config | None = None, limit: int = 30) -> tuple[Desired, Pass]:
    """Pass until one asks the adapters for nothing but events, starting from ``desired``'s status."""
    for _ in range(limit):
        desired, p = one_pass(world, desired, config)
        if all(isinstance(x, s.Event) for x in p.steps) and desired.status.phase not in (
            "Building",
            "Deploying",
            "Pending",
            "Terminating",
        ):
            return desired, p
        world.tick()
    raise AssertionError(f"did not settle: {p.status.phase} {p.steps} {p.status.message}")
