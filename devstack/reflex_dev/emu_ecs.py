"""ECS extensions of moto (5.2.5), each reproducing one documented AWS behaviour.

- A service's ``runningCount`` follows its ``desiredCount`` after a delay, scale to 0 included
  (moto: one global MOTO_ECS_SERVICE_RUNNING for every service).
- CreateService, and each UpdateService that changes the task definition or forces a new
  deployment, starts a new PRIMARY deployment whose ``rolloutState`` goes IN_PROGRESS ->
  COMPLETED after a delay; the previous deployment stays ACTIVE until then (moto: deployments
  never progress, an UpdateService only renames the deployment).
- An injected ``deployment_fail`` fault makes the deployment end FAILED, like the deployment
  circuit breaker: ``rolloutStateReason`` "ECS deployment circuit breaker: tasks failed to
  start.", no running tasks, ``failedTasks`` counted.
- CreateService honours ``clientToken``: the same token and parameters return the existing
  service; an ACTIVE service of that name otherwise is InvalidParameterException "Creation of
  service was not idempotent." (moto: overwrites the service).
- UpdateService of an INACTIVE service is ServiceNotActiveException; the service's
  ``taskDefinition`` is the full ARN even when a family:revision was given.
- DeleteService leaves the service DRAINING for ``ecs_drain_seconds`` (its tasks stop), then
  INACTIVE, with desired and running count 0; ListServices no longer lists it (DescribeServices
  still does). CreateService of a name still draining is InvalidParameterException "Unable to
  Start a service that is still Draining." (moto: no DRAINING, the name is overwritten at once).
- ``awsvpcConfiguration`` without ``securityGroups`` is accepted (moto: HTTP 500, KeyError).
- The "Services per cluster" quota (AWS: 5,000 by default, adjustable; the config key
  ``services_per_cluster``): a CreateService that would put more ACTIVE or DRAINING services in the
  cluster is refused with ``ClientException`` and nothing is created (moto: no quota). The quota is
  on the Amazon ECS service quotas page (docs.aws.amazon.com/AmazonECS/latest/developerguide/
  service-quotas.html); the error's exact wording is not documented there, so the message here is
  ours: it names the quota.

Not AWS behaviour but the emulator's control plane: ``services_view`` is ``GET
/_emulator/ecs/services`` (every service of every cluster with its counts, its server container's
environment and when its desiredCount last changed), which the simulator follows instead of
polling ECS. Speed at 10,000 services: ``_get_service`` is a dict lookup (moto: a scan of every
service of the account, on each UpdateService).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from moto.core.responses import ActionResult
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.ecs.exceptions import ECSException, InvalidParameterException, ServiceNotFoundException
from moto.moto_api._internal import mock_random

from .emu_state import STATE

__all__ = ["install", "CIRCUIT_BREAKER_REASON"]

CIRCUIT_BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."


class ServicesPerClusterExceeded(ECSException):
    code = "ClientException"

    def __init__(self, cluster: str, quota: int) -> None:
        super().__init__(
            f"You have reached the limit on the number of services per cluster ({quota}) in cluster {cluster}. "
            "Delete a service or request a quota increase."
        )


_HOLDING = ("ACTIVE", "DRAINING")


def _held(backend: Any) -> Counter[str]:
    """Services holding a slot, per cluster: counted once (a scan, kept on the backend, so a reset
    of moto's backends starts afresh), then kept by CreateService and DeleteService."""
    held = getattr(backend, "_emu_held", None)
    if held is None:
        held = backend._emu_held = Counter(s.cluster_name for s in backend.services.values() if s.status in _HOLDING)
    return held


def _check_quota(backend: Any, cluster: Any) -> None:
    """Refuse a service beyond the cluster's quota (ACTIVE and DRAINING services count)."""
    quota = int(STATE.config["services_per_cluster"])
    if len(backend.services) < quota:
        return  # fewer services in the whole region than one cluster may hold: nothing to count
    if _held(backend)[cluster.name] >= quota:
        raise ServicesPerClusterExceeded(cluster.name, quota)


class ServiceNotActiveException(ECSException):
    code = "ServiceNotActiveException"

    def __init__(self) -> None:
        super().__init__("Service was not ACTIVE.")


@dataclass
class _Deployment:
    id: str
    task_definition: str | None
    desired: int
    created: float
    rollout_at: float  # rollout ends (COMPLETED or FAILED)
    ready_at: float  # running count reaches `desired`
    running_before: int = 0  # running count until ready_at
    failed_reason: str | None = None
    status: str = "PRIMARY"
    frozen_state: tuple[str, str] | None = None  # rollout state kept once superseded
    updated: float = 0.0

    def running(self, now: float) -> int:
        if self.failed_reason and now >= self.rollout_at:
            return 0
        return self.desired if now >= self.ready_at else self.running_before

    def rollout(self, now: float) -> tuple[str, str]:
        if self.frozen_state:
            return self.frozen_state
        if now < self.rollout_at:
            return "IN_PROGRESS", f"ECS deployment {self.id} in progress."
        if self.failed_reason:
            return "FAILED", self.failed_reason
        return "COMPLETED", f"ECS deployment {self.id} completed."


@dataclass
class _ServiceExt:
    deployments: list[_Deployment] = field(default_factory=list)  # oldest first, PRIMARY last
    client_token: str | None = None
    create_params: dict[str, Any] | None = None
    desired_changed_at: float = 0.0  # emulator time (epoch s) desiredCount last changed
    changed_at: float = 0.0  # any change made by a call
    settle_at: float = 0.0  # counts and rollouts stop moving (until the next call)
    drained_at: float = 0.0  # a deleted service: INACTIVE from then on (DRAINING before)


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


def _new_deployment(service: Any, now: float) -> None:
    ext: _ServiceExt = service._emu
    for old in ext.deployments:  # superseded: keep what runs now, stop progressing
        running = old.running(now)
        old.frozen_state = old.rollout(now)
        old.running_before, old.desired, old.ready_at = running, running, now
        old.status, old.updated = "ACTIVE", now
    fault = STATE.take_fault(
        ("deployment_fail",),
        lambda f: f.match.get("service") in (None, service.name)
        and f.match.get("cluster") in (None, service.cluster_name),
    )
    deploy = STATE.config["ecs_deploy_seconds"]
    ext.deployments.append(
        _Deployment(
            id=f"ecs-svc/{mock_random.randint(10**18, 10**19 - 1)}",
            task_definition=service.task_definition,
            desired=service.desired_count,
            created=now,
            rollout_at=now + deploy,
            ready_at=now + deploy,
            failed_reason=(fault.message or CIRCUIT_BREAKER_REASON) if fault else None,
            updated=now,
        )
    )


def _scale(service: Any, desired: int, now: float) -> None:
    scale = STATE.config["ecs_scale_seconds"]
    for dep in service._emu.deployments:
        dep.running_before = dep.running(now)
        if dep.status == "PRIMARY":
            dep.desired = desired
            dep.ready_at = max(dep.rollout_at, now + scale)
        else:
            dep.desired = min(dep.desired, desired)
            dep.ready_at = now + scale
        dep.updated = now


def _touch(service: Any, now: float, desired_changed: bool = False) -> None:
    ext: _ServiceExt = service._emu
    ext.changed_at = now
    if desired_changed:
        ext.desired_changed_at = now
    ext.settle_at = max([now, *(max(d.ready_at, d.rollout_at) for d in ext.deployments)])


def refresh(service: Any, now: float | None = None) -> Any:
    """Write counts and deployments as they are at ``now`` onto moto's service object."""
    ext: _ServiceExt | None = getattr(service, "_emu", None)
    if ext is None or not ext.deployments:
        return service
    now = time.time() if now is None else now
    if service.status == "DRAINING" and now >= ext.drained_at:
        service.status = "INACTIVE"
    primary = ext.deployments[-1]
    state, _ = primary.rollout(now)
    if state == "COMPLETED":  # old tasks drained: only the primary deployment is left
        ext.deployments = [primary]
    inactive = service.status != "ACTIVE"
    rendered = []
    for dep in reversed(ext.deployments):
        running = 0 if inactive else dep.running(now)
        desired = 0 if inactive else dep.desired
        state, reason = dep.rollout(now)
        failed = dep.failed_reason is not None and now >= dep.rollout_at
        rendered.append(
            {
                "id": dep.id,
                "status": dep.status,
                "taskDefinition": dep.task_definition,
                "desiredCount": desired,
                "pendingCount": 0 if failed else max(0, desired - running),
                "runningCount": running,
                "failedTasks": max(1, desired) if failed else 0,
                "createdAt": _ts(dep.created),
                "updatedAt": _ts(max(dep.updated, dep.rollout_at if now >= dep.rollout_at else 0)),
                "launchType": service.launch_type,
                "platformVersion": service.platform_version,
                "platformFamily": "EC2" if service.launch_type == "EC2" else "FARGATE",
                "networkConfiguration": service.network_configuration or None,
                "rolloutState": state,
                "rolloutStateReason": reason,
            }
        )
    service.deployments = rendered
    service.running_count = sum(d["runningCount"] for d in rendered)
    service.pending_count = sum(d["pendingCount"] for d in rendered)
    return service


# --- patched backend methods --------------------------------------------------------------------

Backend = ecs_models.EC2ContainerServiceBackend
_orig_create_service = Backend.create_service
_orig_update_service = Backend.update_service
_orig_delete_service = Backend.delete_service
_orig_describe_services = Backend.describe_services
_orig_list_services = Backend.list_services
_orig_validate_network = ecs_models.Service._validate_network
_orig_create_service_response = ecs_responses.EC2ContainerServiceResponse.create_service


def _create_service(self: Any, *args: Any, **kwargs: Any) -> Any:
    service = _orig_create_service(self, *args, **kwargs)
    service._emu = _ServiceExt()
    now = time.time()
    _new_deployment(service, now)
    _touch(service, now, desired_changed=True)
    return refresh(service, now)


def _update_service(self: Any, props: dict[str, Any]) -> Any:
    service = self._get_service(props.get("cluster", "default"), props["service"].split("/")[-1])
    if service.status != "ACTIVE":
        raise ServiceNotActiveException()
    now = time.time()
    old_td, old_desired = service.task_definition, service.desired_count
    force = bool(props.get("force_new_deployment"))
    td_str = props.get("task_definition")
    service = _orig_update_service(self, dict(props))
    if td_str:
        service.task_definition = self.describe_task_definition(td_str).arn
    if not hasattr(service, "_emu"):
        return service
    if service.desired_count != old_desired:
        _scale(service, service.desired_count, now)
    if service.task_definition != old_td or force:
        _new_deployment(service, now)
    _touch(service, now, desired_changed=service.desired_count != old_desired)
    return refresh(service, now)


def _delete_service(self: Any, cluster_name: str, service_name: str, force: bool) -> Any:
    try:
        prior = self._get_service(cluster_name, service_name).status
    except Exception:  # moto's own call below answers it
        prior = None
    service = _orig_delete_service(self, cluster_name, service_name, force)
    held = getattr(self, "_emu_held", None)
    if held is not None and prior in _HOLDING and service.status not in _HOLDING:
        held[service.cluster_name] -= 1
    changed = service.desired_count != 0
    service.desired_count = 0
    drain = float(STATE.config.get("ecs_drain_seconds", 0.0))
    if hasattr(service, "_emu"):
        now = time.time()
        _touch(service, now, desired_changed=changed)
        if drain > 0 and prior == "ACTIVE":
            service.status, service._emu.drained_at = "DRAINING", now + drain
    return refresh(service)


def _describe_services(self: Any, cluster_str: str, names: list[str]) -> Any:
    services, failures = _orig_describe_services(self, cluster_str, names)
    now = time.time()
    for service in services:
        refresh(service, now)
    return services, failures


def _list_services(self: Any, cluster_str: str, *args: Any, **kwargs: Any) -> list[str]:
    arns = _orig_list_services(self, cluster_str, *args, **kwargs)
    inactive = {s.arn for s in self.services.values() if s.status != "ACTIVE"}
    return [arn for arn in arns if arn not in inactive]


def _get_service(self: Any, cluster_str: str, service_str: str) -> Any:
    """moto scans every service of the account; the services dict is keyed "cluster:name"."""
    cluster = self._get_cluster(cluster_str)
    service = self.services.get(f"{cluster.name}:{service_str.split('/')[-1]}")
    if service is None or (service_str.startswith("arn:") and service.arn != service_str):
        raise ServiceNotFoundException
    return service


def _validate_network(self: Any, nc: dict[str, Any]) -> dict[str, Any]:
    conf = dict(nc.get("awsvpcConfiguration") or {})
    conf.setdefault("securityGroups", [])
    _orig_validate_network(self, {**nc, "awsvpcConfiguration": conf})
    return nc


def _create_service_response(self: Any) -> ActionResult:
    backend = self.ecs_backend
    token = self._get_param("clientToken")
    params = {k: v for k, v in self._get_params().items() if k != "clientToken"}
    cluster = backend._get_cluster(self._get_param("cluster", "default"))
    existing = backend.services.get(f"{cluster.name}:{self._get_param('serviceName')}")
    if existing is not None and refresh(existing).status == "DRAINING":
        raise InvalidParameterException("Unable to Start a service that is still Draining.")
    if existing is not None and existing.status == "ACTIVE":
        ext = getattr(existing, "_emu", None)
        if token and ext is not None and ext.client_token == token and ext.create_params == params:
            return ActionResult({"service": refresh(existing)})
        raise InvalidParameterException("Creation of service was not idempotent.")
    _check_quota(backend, cluster)
    result = _orig_create_service_response(self)
    created = backend.services[f"{cluster.name}:{self._get_param('serviceName')}"]
    if getattr(backend, "_emu_held", None) is not None:
        backend._emu_held[cluster.name] += 1
    created._emu.client_token, created._emu.create_params = token, params
    return result


# --- control plane: GET /_emulator/ecs/services ---------------------------------------------------


def _server_container(backend: Any, service: Any) -> dict[str, Any]:
    """The task definition's container named reflex-server, else its first one."""
    td = None
    if service.task_definition:
        family, _, revision = service.task_definition.split("/")[-1].partition(":")
        td = backend.task_definitions.get(family, {}).get(int(revision or 0))
    containers = (td.container_definitions if td else None) or []
    named = [c for c in containers if c.get("name") == "reflex-server"]
    return (named or containers or [{}])[0]


def _service_entry(backend: Any, service: Any, now: float) -> dict[str, Any]:
    refresh(service, now)
    container = _server_container(backend, service)
    primary = next((d for d in service.deployments if d.get("status") == "PRIMARY"), None)
    return {
        "name": service.name,
        "cluster": service.cluster_name,
        "arn": service.arn,
        "status": service.status,
        "desiredCount": service.desired_count,
        "runningCount": service.running_count,
        "taskDefinition": service.task_definition,
        "deploymentId": primary["id"] if primary else None,
        "environment": list(container.get("environment") or []),
        "secrets": [{"name": s.get("name"), "valueFrom": s.get("valueFrom")} for s in container.get("secrets") or []],
        "logConfiguration": container.get("logConfiguration"),
        "container": container.get("name"),
        "image": container.get("image"),
        "desiredCountChangedAt": service._emu.desired_changed_at,
    }


def services_view(since: float | None = None) -> dict[str, Any]:
    """Every service (with its extension) of every account, Region and cluster. ``since`` (a
    ``version`` from an earlier answer): only services changed by a call since then or whose
    counts or rollout moved since then. Call under the emulator's moto lock."""
    now = time.time()
    entries = []
    for regions in list(ecs_models.ecs_backends.values()):
        for backend in list(regions.values()):
            for service in list(backend.services.values()):
                ext: _ServiceExt | None = getattr(service, "_emu", None)
                if ext is None:
                    continue
                if since is not None and ext.changed_at < since and ext.settle_at < since:
                    continue
                entries.append(_service_entry(backend, service, now))
    return {"version": now, "generation": STATE.generation, "services": entries}


def service_count() -> int:
    return sum(len(b.services) for regions in list(ecs_models.ecs_backends.values()) for b in list(regions.values()))


def install() -> None:
    Backend._get_service = _get_service  # type: ignore[method-assign]
    Backend.create_service = _create_service  # type: ignore[method-assign]
    Backend.update_service = _update_service  # type: ignore[method-assign]
    Backend.delete_service = _delete_service  # type: ignore[method-assign]
    Backend.describe_services = _describe_services  # type: ignore[method-assign]
    Backend.list_services = _list_services  # type: ignore[method-assign]
    ecs_models.Service._validate_network = _validate_network  # type: ignore[method-assign]
    ecs_responses.EC2ContainerServiceResponse.create_service = _create_service_response  # type: ignore[method-assign]
