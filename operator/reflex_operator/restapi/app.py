"""The FastAPI application: routes, authentication and authorisation through a ``Backend`` (the
watch cache and the API server's reviews in production, fakes in unit tests), errors in the seeds'
``{"error", "message"}`` shape."""

# no `from __future__ import annotations`: FastAPI reads the routes' annotations at run time

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Annotated, Any, Protocol

from fastapi import Body, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from reflex_operator.actions import verbs
from reflex_operator.api.models import ReflexDatabaseStatus
from reflex_operator.database.logs import LogLine, LogSource, NoLogs, parse_since, source_for

from reflex_operator.restapi import actions, shapes
from reflex_operator.restapi.models import (
    ActionResponse,
    BatchEntry,
    BatchRequest,
    BatchResponse,
    BuildsResponse,
    CostResponse,
    CostTotals,
    CreateRequest,
    LogLineOut,
    LogsResponse,
    PricingPage,
    DatabaseList,
    DatabaseSummary,
    ErrorBody,
    HistoryPage,
    InstanceResponse,
    InstanceStatusResponse,
    ReconfigureRequest,
    RedeployRequest,
    SeenRequest,
    SortBy,
    SortDir,
    TargetStatus,
)

log = logging.getLogger("reflex_operator.restapi")

__all__ = ["ApiError", "Backend", "User", "create_app", "selector"]

Obj = dict[str, Any]


@dataclass(frozen=True)
class User:
    """Who the bearer token belongs to, as the TokenReview said."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)


class Backend(Protocol):
    def authenticate(self, token: str) -> User | None: ...
    def allowed(self, user: User, verb: str, namespace: str | None) -> bool: ...
    def objects(self) -> list[Obj]: ...
    def by_uid(self, uid: str) -> Obj | None: ...
    def plans(self) -> dict[str, Obj]: ...
    def patch(self, user: User, obj: Obj, patch: Obj) -> Obj: ...
    def create(self, user: User, obj: Obj) -> Obj: ...
    def delete(self, user: User, obj: Obj) -> None: ...


class LogReading(Protocol):
    def read(self, source: LogSource, start_ms: int | None = None, limit: int = 1000) -> list[LogLine]: ...


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 422, 503)
}


def _ns(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("namespace", "")


def create_app(backend: Backend, logs: LogReading | None = None) -> FastAPI:
    """The API over ``backend``; ``logs`` reads CloudWatch Logs (None: the logs endpoint answers 503)."""
    app = FastAPI(title="reflex-api", version="1", description=__doc__, responses=_ERRORS)
    _errors(app)
    guard = _Guard(backend)
    _reads(app, guard)
    _history_reads(app, guard)
    _instance_reads(app, guard)
    _costs(app, guard)
    _logs(app, guard, logs)
    _writes(app, guard)
    _lifecycle_writes(app, guard)
    return app


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _costs(app: FastAPI, guard: "_Guard") -> None:
    Caller = Annotated[User, Depends(guard.user)]

    @app.get("/v1/databases/{id}/cost", response_model=CostResponse)
    def cost(id: str, who: Caller) -> CostResponse:
        return shapes.cost_response(guard.readable(who, id), _now())

    @app.get("/v1/costs", response_model=CostTotals, summary="The running cost now per namespace and per plan")
    def totals(
        who: Caller,
        namespace: Annotated[str | None, Query(description="Only this namespace")] = None,
        plan: Annotated[str | None, Query(description="Only databases on this ReflexPlan")] = None,
    ) -> CostTotals:
        objs = guard.listable(who, namespace, None)
        if plan is not None:
            objs = [o for o in objs if ((o.get("status") or {}).get("plan") or {}).get("name") == plan]
        return shapes.cost_totals(objs, _now())

    @app.get("/v2/instances/pricing/history", response_model=PricingPage, summary="Get Instance Pricing History (seed 004_)")
    def pricing_history(
        who: Caller,
        project: Annotated[str | None, Query(description="Only this namespace")] = None,
        instance_fid: Annotated[str | None, Query(description="Only this instance (its id, or its database's)")] = None,
        bid_fid: Annotated[str | None, Query(description="Not used: there are no bids (must be empty)")] = None,
        reservation_fid: Annotated[str | None, Query(description="Not used: there are no reservations (must be empty)")] = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=shapes.MAX_LIMIT)] = 50,
        next_cursor: Annotated[str | None, Query(alias="next_cursor")] = None,
    ) -> PricingPage:
        if bid_fid or reservation_fid:
            return PricingPage(data=[], next_cursor=None)  # no bids or reservations: nothing is in one
        if start_time is not None and end_time is not None and end_time <= start_time:
            raise ApiError(400, "invalid_time_range", "end_time must be after start_time")
        objs = [guard.readable(who, instance_fid)] if instance_fid else guard.listable(who, project, None)
        try:
            return shapes.pricing_page(objs, _now(), limit, next_cursor, _utc(start_time), _utc(end_time))
        except ValueError as e:
            raise ApiError(400, "invalid_cursor", str(e)) from e


def _logs(app: FastAPI, guard: "_Guard", reader: "LogReading | None") -> None:
    Caller = Annotated[User, Depends(guard.user)]

    @app.get("/v1/databases/{id}/logs", response_model=LogsResponse, summary="The server's or a build's logs (seed 003_ logs)")
    def logs(
        id: str, who: Caller,
        since: Annotated[str, Query(description="How far back: 30s, 10m, 2h, 1d")] = "1h",
        build: Annotated[str | None, Query(description="A build's log: its id (or 'latest') instead of the server's")] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> LogsResponse:
        obj = guard.readable(who, id)
        if reader is None:
            raise ApiError(503, "logs_unavailable", "this reflex-api reads no CloudWatch Logs (no AWS access configured)")
        try:
            start = _now() - parse_since(since)
        except ValueError as e:
            raise ApiError(400, "invalid_since", str(e)) from e
        status = ReflexDatabaseStatus.model_validate(obj.get("status") or {})
        try:
            source = source_for(status, True if build == "latest" else build)
            lines = reader.read(source, int(start.timestamp() * 1000), limit)
        except NoLogs as e:
            raise ApiError(404, "no_logs", str(e)) from e
        return LogsResponse(
            database_id=_uid(obj), source=source.what, group=source.group,
            lines=[LogLineOut(timestamp=datetime.fromtimestamp(l.timestamp_ms / 1000, tz=timezone.utc), message=l.message, stream=l.stream) for l in lines],
        )


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, e: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
        return JSONResponse({"error": e.error, "message": e.message}, status_code=e.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        where = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
        return JSONResponse({"error": "invalid_request", "message": where}, status_code=422)


class _Guard:
    """Who is calling, and what they may see and change (through the backend's reviews)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def user(self, authorization: Annotated[str | None, Header()] = None) -> User:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError(401, "unauthenticated", "a bearer token is required")
        who = self.backend.authenticate(authorization[7:].strip())
        if who is None:
            raise ApiError(401, "unauthenticated", "the token is not valid")
        return who

    def find(self, uid: str) -> Obj | None:
        """A database by its id, or by its instance's id."""
        return _lookup(self.backend, [uid])[uid]

    def readable(self, who: User, uid: str) -> Obj:
        """The database, if ``who`` may get it; else 404, as for an unknown id."""
        obj = self.find(uid)
        if obj is None or not self.backend.allowed(who, "get", _ns(obj)):
            raise ApiError(404, "not_found", f"no database {uid}")
        return obj

    def listable(self, who: User, namespace: str | None, label_selector: str | None) -> list[Obj]:
        """The databases ``who`` may list (in ``namespace``: 403 if they may not), matching the selector."""
        try:
            match = selector(label_selector)
        except ValueError as e:
            raise ApiError(400, "invalid_label_selector", str(e)) from e
        if namespace is not None and not self.backend.allowed(who, "list", namespace):
            raise ApiError(403, "forbidden", f"{who.name} may not list reflexdatabases in namespace {namespace}")
        objs = [o for o in self.backend.objects() if (namespace is None or _ns(o) == namespace) and match(o)]
        visible = {n for n in {_ns(o) for o in objs} if self.backend.allowed(who, "list", n)}
        return [o for o in objs if _ns(o) in visible]

    def writable(self, who: User, obj: Obj, verb: str = "patch") -> None:
        if not self.backend.allowed(who, verb, _ns(obj)):
            raise ApiError(403, "forbidden", f"{who.name} may not {verb} reflexdatabases in namespace {_ns(obj)}")

    def act(self, who: User, id: str, action: str, arg: str | None = None, config: ReconfigureRequest | None = None) -> ActionResponse:
        """One action: refused (409, nothing written) as allowedActions says, else the patch or delete;
        ``config``: reconfigure's new configuration (without it, reconfigure is a rolling restart)."""
        obj = self.readable(who, id)
        if action not in actions.ACTION_VERBS:
            raise ApiError(404, "unknown_action", f"no action {action!r}; one of {', '.join(actions.ACTION_VERBS)}")
        out = actions.resolve_reconfigure(obj, config) if config is not None else actions.resolve(action, obj, arg)
        self.writable(who, obj, "delete" if out.delete else "patch")
        if out.invalid is not None:
            raise ApiError(422, "invalid", out.invalid)
        if out.refused is not None:
            raise ApiError(409, "action_not_allowed", out.refused)
        if out.delete:
            self.backend.delete(who, obj)
        elif out.patch:
            self.backend.patch(who, obj, out.patch)
        return ActionResponse(id=id, action=action, patch=out.patch, queued=out.queued)


def _reads(app: FastAPI, guard: _Guard) -> None:
    Caller = Annotated[User, Depends(guard.user)]

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v2/instances", response_model=DatabaseList, summary="Get Instances (seed 004_; alias of GET /v1/databases)")
    @app.get("/v1/databases", response_model=DatabaseList)
    def list_databases(
        who: Caller,
        namespace: Annotated[str | None, Query(description="Only this namespace")] = None,
        project: Annotated[str | None, Query(description="The seed's name for namespace")] = None,
        label_selector: Annotated[str | None, Query(alias="labelSelector")] = None,
        size: Annotated[str | None, Query(description="Only this spec.size")] = None,
        instance_type: Annotated[str | None, Query(description="The seed's name for size")] = None,
        phase: Annotated[str | None, Query(description="Only this phase (any case)")] = None,
        plan: Annotated[str | None, Query(description="Only databases on this ReflexPlan")] = None,
        cluster: Annotated[str | None, Query(description="Only databases placed on this ECS cluster")] = None,
        region: Annotated[str | None, Query(description="The seed's name for cluster")] = None,
        sort_by: SortBy = SortBy.NAMESPACE,
        sort_dir: SortDir = SortDir.ASC,
        limit: Annotated[int, Query(ge=1, le=shapes.MAX_LIMIT)] = 50,
        next_cursor: Annotated[str | None, Query(alias="next_cursor")] = None,
    ) -> DatabaseList:
        objs = guard.listable(who, namespace or project, label_selector)
        filters = shapes.Filters(size=size or instance_type, phase=phase, plan=plan, cluster=cluster or region)
        try:
            return shapes.page(objs, limit, next_cursor, sort_by, sort_dir, filters)
        except ValueError as e:
            raise ApiError(400, "invalid_cursor", str(e)) from e


def _history_reads(app: FastAPI, guard: _Guard) -> None:
    Caller = Annotated[User, Depends(guard.user)]

    @app.get("/v2/instances/status/history", response_model=HistoryPage, summary="Get Instance Status History (seed 004_)")
    def fleet_history(
        who: Caller,
        project: Annotated[str | None, Query(description="Only this namespace")] = None,
        instance_fid: Annotated[str | None, Query(description="Only this instance (its id, or its database's)")] = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=shapes.MAX_LIMIT)] = 50,
        next_cursor: Annotated[str | None, Query(alias="next_cursor")] = None,
    ) -> HistoryPage:
        objs = [guard.readable(who, instance_fid)] if instance_fid else guard.listable(who, project, None)
        return _history(objs, limit, next_cursor, start_time, end_time)

    @app.get("/v1/databases/{id}/history", response_model=HistoryPage)
    def history(
        id: str, who: Caller, start_time: datetime | None = None, end_time: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=shapes.MAX_LIMIT)] = 50,
        next_cursor: Annotated[str | None, Query(alias="next_cursor")] = None,
    ) -> HistoryPage:
        return _history([guard.readable(who, id)], limit, next_cursor, start_time, end_time)


def _instance_reads(app: FastAPI, guard: _Guard) -> None:
    Caller = Annotated[User, Depends(guard.user)]
    backend = guard.backend

    @app.get("/v2/instances/{instance_fid}/status", response_model=InstanceStatusResponse, summary="Get Instance Status (seed 004_)")
    def instance_status(instance_fid: str, who: Caller) -> InstanceStatusResponse:
        return shapes.instance_status(guard.readable(who, instance_fid))

    @app.get("/v1/databases/{id}/instance", response_model=InstanceResponse)
    def get_instance(id: str, who: Caller) -> InstanceResponse:
        return shapes.instance_response(guard.readable(who, id), backend.plans())

    @app.get("/v1/databases/{id}/builds", response_model=BuildsResponse)
    def get_builds(id: str, who: Caller) -> BuildsResponse:
        return shapes.builds_response(guard.readable(who, id))


def _writes(app: FastAPI, guard: _Guard) -> None:
    Caller = Annotated[User, Depends(guard.user)]

    @app.post("/v1/databases/{id}/redeploy", response_model=ActionResponse)
    def redeploy(id: str, body: RedeployRequest, who: Caller) -> ActionResponse:
        return guard.act(who, id, "redeploy", body.build_id)

    @app.post("/v1/databases/{id}/notifications/seen", response_model=ActionResponse)
    def notifications_seen(id: str, who: Caller, body: Annotated[SeenRequest | None, Body()] = None) -> ActionResponse:
        obj = guard.readable(who, id)
        guard.writable(who, obj)
        until = _utc(body.until if body and body.until else datetime.now(timezone.utc))
        p = verbs.ack_change(obj, until.isoformat().replace("+00:00", "Z"))
        guard.backend.patch(who, obj, p.patch)
        return ActionResponse(id=id, action="notifications-seen", patch=p.patch)

    @app.post("/v1/databases/{id}/health-check", response_model=ActionResponse, summary="Probe the health now (seed 002_ health_check_started/pending)")
    def health_check(id: str, who: Caller) -> ActionResponse:
        obj = guard.readable(who, id)
        guard.writable(who, obj)
        token = _now().strftime("%Y%m%dT%H%M%S.%fZ")
        p = verbs.change("check", obj, None, token)
        if p.refused is not None:
            raise ApiError(409, "action_not_allowed", p.refused)
        guard.backend.patch(who, obj, p.patch)
        return ActionResponse(id=id, action="health-check", patch=p.patch)

    @app.post("/v1/databases/{id}/reconfigure", response_model=ActionResponse)
    def reconfigure(id: str, body: ReconfigureRequest, who: Caller) -> ActionResponse:
        return guard.act(who, id, "reconfigure", config=body)

    @app.post("/v1/databases/{id}/actions/{action}", response_model=ActionResponse)
    def action(
        id: str, action: str, who: Caller, size: str | None = None,
        build_id: Annotated[str | None, Query(alias="buildId")] = None,
        body: Annotated[ReconfigureRequest | None, Body(description="reconfigure only: the new configuration")] = None,
    ) -> ActionResponse:
        if action in ("resize", "redeploy") and not (size or build_id):
            raise ApiError(400, "missing_argument", f"{action} needs {'?size=' if action == 'resize' else '?buildId='}")
        if body is not None and action != "reconfigure":
            raise ApiError(400, "unexpected_body", f"{action} takes no body (only reconfigure does)")
        return guard.act(who, id, action, size if action == "resize" else build_id, config=body)

    @app.patch("/v2/instances", response_model=BatchResponse, summary="Put Instance Status (seed 004_)")
    @app.patch("/v1/databases", response_model=BatchResponse, summary="Put Instance Status (alias of PATCH /v2/instances)")
    def batch(body: BatchRequest, who: Caller) -> BatchResponse:
        return _batch(guard.backend, who, body)


def _lifecycle_writes(app: FastAPI, guard: _Guard) -> None:
    """Create and delete (seed 003_), decided by the caller's RBAC as every write is."""
    Caller = Annotated[User, Depends(guard.user)]

    @app.post("/v1/databases", response_model=DatabaseSummary, status_code=201, summary="Create a database (seed 003_)")
    def create(body: CreateRequest, who: Caller) -> DatabaseSummary:
        obj, invalid = actions.create_body(body)
        if invalid is not None:
            raise ApiError(422, "invalid", invalid)
        if not guard.backend.allowed(who, "create", body.namespace):
            raise ApiError(403, "forbidden", f"{who.name} may not create reflexdatabases in namespace {body.namespace}")
        return shapes.summary(guard.backend.create(who, obj))

    @app.delete("/v1/databases/{id}", status_code=204, response_class=Response, summary="Delete a database (seed 003_)")
    def delete(id: str, who: Caller) -> Response:
        guard.act(who, id, "delete")
        return Response(status_code=204)


def _history(objs: list[Obj], limit: int, cursor: str | None, start: datetime | None, end: datetime | None) -> HistoryPage:
    if start is not None and end is not None and end <= start:
        raise ApiError(400, "invalid_time_range", "end_time must be after start_time")
    try:
        return shapes.history_page(objs, limit, cursor, _utc(start), _utc(end))
    except ValueError as e:
        raise ApiError(400, "invalid_cursor", str(e)) from e


def _utc(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=timezone.utc) if t is not None and t.tzinfo is None else t


def _lookup(backend: Backend, ids: Iterable[str]) -> dict[str, Obj | None]:
    """Each id resolved to its database: by the database's uid, else by its instance's id (the
    instance ids are indexed once, and only when some id is not a uid)."""
    found: dict[str, Obj | None] = {i: backend.by_uid(i) for i in ids}
    if any(obj is None for obj in found.values()):
        by_instance = {shapes.instance_id(_uid(o)): o for o in backend.objects()}
        found = {i: obj if obj is not None else by_instance.get(i) for i, obj in found.items()}
    return found


def _batch(backend: Backend, who: User, body: BatchRequest) -> BatchResponse:
    """Every requested id answered, each on its own: one write failing does not undo or hide the others."""
    found = _lookup(backend, body.targets)
    outcomes = {i: _batch_one(backend, who, found[i], body.status) for i in body.targets}
    seed = {i: shapes.batch_entry(out, body.status) for i, out in outcomes.items()}
    legacy = {i: shapes.batch_entry(out, body.status, legacy=True) for i, out in outcomes.items()} if body.ids else None
    return BatchResponse(instances=seed, databases=legacy)


def _batch_one(backend: Backend, who: User, obj: Obj | None, target: TargetStatus) -> actions.BatchResult:
    if obj is None or not backend.allowed(who, "get", _ns(obj)):
        return actions.BatchResult(None, error="not_found", message="no such database")
    prior = shapes.phase_of(obj)
    if not backend.allowed(who, "patch", _ns(obj)):
        return actions.BatchResult(prior, error="forbidden", message=f"{who.name} may not patch reflexdatabases in namespace {_ns(obj)}")
    out = actions.resolve_target(target, obj)
    if out.refused is not None:
        return actions.BatchResult(prior, error="action_not_allowed", message=out.refused)
    try:
        if out.patch:
            backend.patch(who, obj, out.patch)
    except ApiError as e:
        return actions.BatchResult(prior, error=e.error, message=e.message)
    except Exception:  # noqa: BLE001 - the others' answers must still be given
        log.exception("batch write to %s/%s failed", _ns(obj), _name(obj))
        return actions.BatchResult(prior, error="kubernetes_error", message="the API server could not be reached")
    return actions.BatchResult(prior, changed=True)


def _uid(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("uid", "")


def _name(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def selector(text: str | None):
    """A matcher for an equality-based label selector (``a=b,c!=d,e``); ValueError if malformed."""
    terms: list[tuple[str, str, str | None]] = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        if "!=" in part:
            k, v = part.split("!=", 1)
            terms.append(("!=", k.strip(), v.strip()))
        elif "=" in part:
            k, v = part.replace("==", "=").split("=", 1)
            terms.append(("=", k.strip(), v.strip()))
        elif part.startswith("!"):
            terms.append(("!", part[1:].strip(), None))
        else:
            terms.append(("exists", part, None))
        if not terms[-1][1]:
            raise ValueError(f"malformed label selector term {part!r}")

    def match(obj: Obj) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        for op, k, v in terms:
            if (op == "=" and labels.get(k) != v) or (op == "!=" and labels.get(k) == v):
                return False
            if (op == "!" and k in labels) or (op == "exists" and k not in labels):
                return False
        return True

    return match
