"""A small in-memory model of AWS and the data plane, for driving the pure decision core.

It applies the core's steps the way the adapters would (builds that take a number of ticks and
can fail, services whose running count follows the desired count, deployments that can fail) and
produces the observation of the next pass. Unit tests only: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from reflex_operator.api.models import HealthStatus, ReflexDatabaseSpec, ReflexDatabaseStatus, Replication
from reflex_operator.decide import (
    BuildOutcome,
    Config,
    Decision,
    Desired,
    HealthSample,
    Observation,
    ObservedBuild,
    ObservedService,
    RolloutState,
    SecretState,
    ServiceState,
    decide,
    desired_config,
)
from reflex_operator.decide import steps as s

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
UID = "0f6b2c1e-1111-4222-8333-944455556666"


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
    start_build_calls: int = 0
    create_service_calls: int = 0
    released: bool = False
    tick_no: int = 0
    events: list = field(default_factory=list)

    # ------------------------------------------------------------------ observe
    def observe(
        self, status: ReflexDatabaseStatus, sample_health: bool = True, started: tuple[str, ...] = ()
    ) -> Observation:
        known = {b.codebuild_id for b in status.builds} | set(started)
        builds = tuple(self._observed_build(cid) for cid in self.builds if cid in known)
        svc = None
        if self.service is not None:
            d = self.service
            svc = ObservedService(
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
            )
        health = None
        if sample_health and svc is not None and svc.exists and svc.running_count > 0:
            if self.health_mode is HealthStatus.UNREACHABLE:
                health = HealthSample(status=HealthStatus.UNREACHABLE, checked_at=self.now)
            else:
                health = HealthSample(
                    status=self.health_mode,
                    checked_at=self.now,
                    snapshot_age_ms=1000,
                    swap_count=self.tick_no,
                    row_counts={"public.users": 10},
                    replication=self.replication,
                    uptime_seconds=10,
                    last_swap_time=self.now,
                )
        return Observation(
            secret=self.secret, builds=builds, service=svc, health=health, aws_secret_arn=self.secret_arn
        )

    def _observed_build(self, cid: str) -> ObservedBuild:
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
        )

    # ------------------------------------------------------------------ act
    def apply(self, decision: Decision) -> tuple[str, ...]:
        """Carry out the steps; return the ids of builds StartBuild started or found."""
        started: list[str] = []
        for step in decision.steps:
            match step:
                case s.PutSecret():
                    self.secret_arn = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{step.secret_name}"
                case s.DeleteSecret():
                    self.secret_arn = None
                case s.StartBuild():
                    existing = [c for c, b in self.builds.items() if b["token"] == step.idempotency_token]
                    if existing:
                        started.append(existing[0])
                        continue
                    self.start_build_calls += 1
                    cid = f"reflex-server-build:{len(self.builds):08d}"
                    started.append(cid)
                    self.builds[cid] = {
                        "hash": step.inputs.hash,
                        "token": step.idempotency_token,
                        "outcome": BuildOutcome.QUEUED,
                        "image": step.image_uri,
                        "started": self.now,
                        "version": step.inputs.server_version,
                        "schemas": step.inputs.schemas,
                        "ticks": 0,
                    }
                case s.StopBuild():
                    b = self.builds[step.codebuild_id]
                    if not b["outcome"].finished:
                        b["outcome"] = BuildOutcome.STOPPED
                        b["finished"] = self.now
                case s.Deploy():
                    spec_cfg = step.inputs
                    if self.service is not None and self.service["state"] is ServiceState.DRAINING:
                        raise AssertionError("ECS refuses to create a service whose name is still draining")
                    if self.service is None or self.service["state"] is not ServiceState.ACTIVE:
                        self.create_service_calls += 1
                        self.service = {"name": step.service_name, "family": step.family, "revision": 0, "state": ServiceState.ACTIVE}
                    self.service.update(
                        revision=self.service["revision"] + 1,
                        deploy_hash=step.deploy_hash,
                        desired=step.desired_count,
                        running=0 if step.desired_count == 0 else min(self.service.get("running", 0), 1),
                        rollout=RolloutState.IN_PROGRESS,
                        image=spec_cfg.image_uri,
                        config=self._config(step),
                        ticks=0,
                    )
                case s.ScaleService():
                    assert self.service is not None
                    self.service["desired"] = step.desired_count
                    self.service["ticks"] = 0
                case s.DeleteService():
                    if self.service is not None and self.service["state"] is ServiceState.ACTIVE:
                        self.service["state"] = ServiceState.DRAINING  # INACTIVE on the next tick
                case s.Reload():
                    self.reloads += 1
                case s.PauseReplication():
                    self.replication = Replication.PAUSED
                case s.ResumeReplication():
                    self.replication = Replication.RUNNING
                case s.ReleaseFinalizer():
                    self.released = True
                case s.Event():
                    self.events.append(step)
        return tuple(started)

    @staticmethod
    def _config(step: s.Deploy):
        i = step.inputs
        spec = ReflexDatabaseSpec.model_validate(
            {
                "source": {"secretRef": {"name": "x"}},
                "size": next(
                    size for size, r in __import__("reflex_operator.api.models", fromlist=["SIZE_RESOURCES"]).SIZE_RESOURCES.items()
                    if r.cpu == i.cpu
                ),
                "sync": {"mode": i.sync_mode, "intervalSeconds": i.sync_interval},
                "logLevel": i.log_level,
                "safetyNet": i.safety_net,
            }
        )
        return desired_config(spec)

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


def one_pass(world: World, desired: Desired, config: Config | None = None, crash: bool = False) -> tuple[Desired, Decision]:
    """What the handler does: observe, decide, act, then decide again on what acting revealed
    (new builds, the stored secret, the new service) and write that status. ``crash``: the
    operator dies after acting, before writing status."""
    config = config or Config()
    first = decide(desired, world.observe(desired.status), config, world.now)
    started = world.apply(first)
    if crash:
        return desired, first
    second = decide(
        replace(desired, status=first.status), world.observe(first.status, started=started), config, world.now
    )
    return replace(desired, status=second.status), first


def run(world: World, desired: Desired, passes: int = 20, config: Config | None = None) -> list[Decision]:
    """Run passes (one_pass, tick) and return every first decision."""
    decisions = []
    for _ in range(passes):
        desired, d = one_pass(world, desired, config)
        decisions.append(d)
        world.tick()
    return decisions


def settle(world: World, desired: Desired, config: Config | None = None, limit: int = 30) -> tuple[Desired, Decision]:
    """Pass until a decision has no steps but events, starting from ``desired``'s status."""
    for _ in range(limit):
        desired, d = one_pass(world, desired, config)
        if all(isinstance(x, s.Event) for x in d.steps) and desired.status.phase not in (
            "Building",
            "Deploying",
            "Pending",
            "Terminating",
        ):
            return desired, d
        world.tick()
    raise AssertionError(f"did not settle: {d.status.phase} {d.steps} {d.status.message}")
