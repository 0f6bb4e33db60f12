"""The AWS emulator: moto in server mode, extended in this process so that it behaves like AWS
where the operator depends on it (see docs in ``emu_codebuild`` and ``emu_ecs``), with a control
API for tests and the demo under ``/_emulator/`` on the same port.

    python -m reflex_dev.emulator --host 127.0.0.1 --port 5000

Control API (JSON):

- ``GET  /_emulator/health`` -> ``{"ok": true}``
- ``GET  /_emulator/config``; ``POST /_emulator/config`` with some of ``codebuild_queued_seconds``,
  ``codebuild_in_progress_seconds``, ``ecs_scale_seconds``, ``ecs_deploy_seconds``,
  ``idempotency_window_seconds``, ``codebuild_concurrent_builds``, ``codebuild_queue_factor``,
  ``rate_limits``, ``rate_limit_scale`` -> the whole config. Durations apply to builds and
  deployments started afterwards; new rate limits start with full buckets.
- ``POST /_emulator/faults`` with one fault -> the fault with its ``id``; ``GET`` lists the pending
  faults; ``DELETE`` clears them. Faults:
  ``{"kind": "throttle", "service": "ecs", "operation": "DescribeServices", "count": 3}``,
  ``{"kind": "error5xx", "service": "codebuild", "status": 500|503, "count": 1}``,
  ``{"kind": "error", "service": "ecs", "status": 400, "code": "AccessDeniedException", "message": "..."}``,
  ``{"kind": "build_fail", "match": {"env": {"REFLEX_RESOURCE": "ns/name"}, "project": "..."}, "count": 1, "message": "..."}``,
  ``{"kind": "deployment_fail", "match": {"service": "<ecs service name>", "cluster": "reflex"}, "count": 1}``,
  ``{"kind": "delay_response", "service": "codebuild", "operation": "StartBuild", "seconds": 20}``: the
  call takes effect at once but its answer is held back (a caller that dies meanwhile never
  learns of it: how tests crash the operator between an AWS call and its status write).
  ``match``/``operation`` are optional; without them a fault applies to the next matching event.
- ``GET  /_emulator/calls`` -> ``{"ecs.DescribeServices": 3, ...}`` AWS requests since the last
  reset (throttled and failed ones included); ``POST /_emulator/calls/reset``.
- ``GET  /_emulator/calls/by/<app id>`` -> the same, for requests whose User-Agent carries
  ``app/<app id>`` (boto3's ``user_agent_appid``; the operator's is ``reflex-operator``).
- ``GET  /_emulator/throttled`` and ``GET /_emulator/throttled/by/<app id>`` -> ``{"ecs.DescribeServices":
  n, ...}``: requests answered ``ThrottlingException`` by the token buckets; reset with the calls.
- ``GET  /_emulator/ecs/services[?since=<version>]`` -> ``{"version", "generation", "services": [{"name",
  "cluster", "arn", "status", "desiredCount", "runningCount", "taskDefinition", "deploymentId",
  "environment", "secrets", "image", "desiredCountChangedAt"}]}``: every service of every cluster (with
  ``since``, a ``version`` of an earlier answer: only those changed or moving since then);
  ``desiredCountChangedAt`` is the emulator time (epoch seconds) desiredCount last changed.
- ``GET  /_emulator/stats`` -> ``{"pid", "cpu_seconds", "rss_bytes", "services", "builds"}``.
- ``POST /_emulator/reset``: moto's backends, faults, call counters and config.

Control endpoints are not AWS calls: neither counted, nor fault-injected, nor throttled.

AWS quotas (docs/emulator.md has the table and the AWS pages): request-rate token buckets per ECS
and CodeBuild API family (``rate_limits`` in the config: ``{"ecs.service_read": [capacity,
refill per second], ...}``, ``null`` for none; ``rate_limit_scale`` multiplies them, 0 turns them
off), the CodeBuild concurrent-build quota and its queue (``codebuild_concurrent_builds``,
``codebuild_queue_factor``), and the ECS "Services per cluster" quota (``services_per_cluster``,
5000 as AWS's default; a CreateService beyond it is ``ClientException``, see ``emu_ecs``; the stack
sets it from ``REFLEX_DEV_SERVICES_PER_CLUSTER``). ``REFLEX_EMULATOR_CONFIG`` (JSON) sets the
process's defaults.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import re
import resource
import signal
import sys
import threading
import time
import uuid
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

__all__ = ["bootstrap", "EmulatorApp", "main", "CLUSTER", "PROJECT", "REPOSITORY"]

CLUSTER = "reflex"
PROJECT = "reflex-server-build"
REPOSITORY = "reflex-server"
CODEBUILD_ROLE = "arn:aws:iam::123456789012:role/service-role/reflex-codebuild"
_BOOTSTRAP_TAG = {"Key": "reflex-emulator", "Value": "bootstrap"}


# --- WSGI middleware -----------------------------------------------------------------------------


def _aws_service(environ: dict[str, Any]) -> str:
    """The signing name from the SigV4 credential scope: ``.../us-east-1/ecs/aws4_request``."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0]
        return scope.split("/")[3]
    except IndexError:
        return "unknown"


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _aws_operation(environ: dict[str, Any]) -> tuple[str, bool]:
    """(operation, JSON protocol?) from X-Amz-Target, else the query protocol's Action."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1], True
    params = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" not in params and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        params = parse_qs(_read_body(environ).decode("utf-8", "replace"))
    if "Action" in params:
        return params["Action"][0], False
    return f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('PATH_INFO', '/')}", False


def _error_response(start_response: Any, fault: Any, service: str, json_protocol: bool) -> list[bytes]:
    if fault.kind == "throttle":
        status = fault.status or 400
        code = fault.code or ("ThrottlingException" if json_protocol else ("RequestLimitExceeded" if service == "ec2" else "Throttling"))
        message = fault.message or ("Rate exceeded" if service != "ec2" else "Request limit exceeded.")
    elif fault.kind == "error5xx":
        status = fault.status or 503
        code = fault.code or ("ServiceUnavailable" if status == 503 else "InternalFailure")
        message = fault.message or ("Service Unavailable" if status == 503 else "An internal error has occurred")
    else:
        status = fault.status or 400
        code = fault.code
        message = fault.message or code
    request_id = str(uuid.uuid4())
    if json_protocol:
        body = json.dumps({"__type": code, "message": message}).encode()
        ctype = "application/x-amz-json-1.1"
    elif service == "ec2":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        ).encode()
        ctype = "text/xml"
    else:
        kind = "Receiver" if status >= 500 else "Sender"
        body = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        ctype = "text/xml"
    reason = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "Error")
    start_response(
        f"{status} {reason}",
        [("Content-Type", ctype), ("Content-Length", str(len(body))), ("x-amzn-RequestId", request_id)],
    )
    return [body]


def _rss_bytes() -> int:
    """Resident set size now (Linux), else the peak."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# boto3's Config(user_agent_appid=...) puts "app/<id>" in the User-Agent.
_APP_ID = re.compile(r"\bapp/([A-Za-z0-9._-]+)")
# The reflex-server simulator's polling (the data plane, not a client under test) is neither
# counted nor fault-injected.
_INFRASTRUCTURE_APP_ID = "reflex-simulator"
# A request over its token bucket (emu_state.RATE_LIMITS): what ECS and CodeBuild answer.
_RATE_EXCEEDED = SimpleNamespace(kind="throttle", status=400, code="ThrottlingException", message="Rate exceeded")


class EmulatorApp:
    """Counts and fault-injects AWS calls, serves ``/_emulator/*``, passes the rest to moto.
    Calls into moto are serialised: the threaded server may run requests concurrently and the
    extensions (like moto itself) are not written for that."""

    def __init__(self, moto_app: Any) -> None:
        from .emu_state import STATE

        self.moto_app = moto_app
        self.state = STATE
        self.moto_lock = threading.RLock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator"):
            return self._control(environ, start_response, path)
        service = _aws_service(environ)
        operation, json_protocol = _aws_operation(environ)
        match = _APP_ID.search(environ.get("HTTP_USER_AGENT", ""))
        app_id = match.group(1) if match else None
        if app_id == _INFRASTRUCTURE_APP_ID:
            return self._moto(environ, start_response)
        self.state.count_call(f"{service}.{operation}", app_id)
        if not self.state.admit(service, operation):
            self.state.count_throttled(f"{service}.{operation}", app_id)
            return _error_response(start_response, _RATE_EXCEEDED, service, json_protocol)
        fault = self.state.take_fault(
            ("throttle", "error5xx", "error"),
            lambda f: f.service == service and f.operation in (None, operation),
        )
        if fault is not None:
            return _error_response(start_response, fault, service, json_protocol)
        delay = self.state.take_fault(
            ("delay_response",),
            lambda f: f.service == service and f.operation in (None, operation),
        )
        body = self._moto(environ, start_response)
        if delay is not None and delay.seconds:
            time.sleep(delay.seconds)  # outside the lock: the emulator keeps serving others
        return body

    def _moto(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self.moto_lock:
            result = self.moto_app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close:
                    close()

    def _stats(self) -> dict[str, Any]:
        from .emu_codebuild import build_count
        from .emu_ecs import service_count

        usage = resource.getrusage(resource.RUSAGE_SELF)
        with self.moto_lock:
            services, builds = service_count(), build_count()
        return {
            "pid": os.getpid(),
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "rss_bytes": _rss_bytes(),
            "services": services,
            "builds": builds,
        }

    # control API

    def _control(self, environ: dict[str, Any], start_response: Any, path: str) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            raw = _read_body(environ)
            payload = json.loads(raw) if raw.strip() else {}
            query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            status, answer = self._route(method, path.rstrip("/"), payload, query)
        except (ValueError, TypeError, KeyError) as exc:
            status, answer = 400, {"error": str(exc)}
        body = json.dumps(answer, default=str).encode()
        start_response(
            {200: "200 OK", 400: "400 Bad Request", 404: "404 Not Found"}[status],
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def _route(self, method: str, path: str, payload: Any, query: dict[str, str] | None = None) -> tuple[int, Any]:
        state = self.state
        if path == "/_emulator/health":
            return 200, {"ok": True}
        if path == "/_emulator/ecs/services":
            from .emu_ecs import services_view

            since = (query or {}).get("since")
            with self.moto_lock:
                return 200, services_view(float(since) if since else None)
        if path == "/_emulator/stats":
            return 200, self._stats()
        if path == "/_emulator/config":
            if method == "POST":
                return 200, state.update_config(payload)
            return 200, state.config_view()
        if path == "/_emulator/faults":
            if method == "POST":
                return 200, state.add_fault(payload).to_dict()
            if method == "DELETE":
                with state.lock:
                    state.faults.clear()
                return 200, []
            with state.lock:
                return 200, [f.to_dict() for f in state.faults]
        if path == "/_emulator/calls":
            with state.lock:
                return 200, dict(state.calls)
        if path == "/_emulator/calls/reset" and method == "POST":
            state.reset_counters()
            return 200, {}
        if path == "/_emulator/throttled":
            with state.lock:
                return 200, dict(state.throttled)
        if path.startswith("/_emulator/throttled/by/"):
            with state.lock:
                return 200, dict(state.throttled_by_client.get(path.rsplit("/", 1)[-1], {}))
        if path.startswith("/_emulator/calls/by/"):
            with state.lock:
                return 200, dict(state.calls_by_client.get(path.rsplit("/", 1)[-1], {}))
        if path == "/_emulator/reset" and method == "POST":
            from moto.moto_api._internal.models import moto_api_backend

            with self.moto_lock:
                moto_api_backend.reset()
                state.reset()
            return 200, {"reset": True}
        return 404, {"error": f"no such control endpoint: {method} {path}"}


def make_app() -> EmulatorApp:
    """moto's dispatcher with the extensions installed, wrapped in the middleware."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from . import emu_codebuild, emu_ecs

    emu_codebuild.install()
    emu_ecs.install()
    return EmulatorApp(DomainDispatcherApplication(create_backend_app))


# --- bootstrap: what the platform team's Terraform would create -------------------------------------


@functools.lru_cache(maxsize=32)
def _client(endpoint_url: str, region: str, name: str) -> Any:
    """boto3 clients are slow to create and safe to share between threads: made once."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
    )
    return session.client(name, endpoint_url=endpoint_url)


def bootstrap(endpoint_url: str, region: str = "us-east-1", clusters: tuple[str, ...] = (CLUSTER,)) -> dict[str, str]:
    """Idempotently create the ECS clusters (the first is the default one), the CodeBuild project,
    the ECR repository and a VPC with a subnet and a security group; return the operator's settings
    as ``REFLEX_*`` env vars (``REFLEX_ECS_CLUSTERS`` too with more than one cluster)."""
    ecs, codebuild, ecr, ec2 = (_client(endpoint_url, region, n) for n in ("ecs", "codebuild", "ecr", "ec2"))

    clusters = tuple(dict.fromkeys(clusters)) or (CLUSTER,)
    found = {c["clusterName"] for c in ecs.describe_clusters(clusters=list(clusters))["clusters"] if c["status"] == "ACTIVE"}
    for cluster in clusters:
        if cluster not in found:
            ecs.create_cluster(clusterName=cluster)

    if not codebuild.batch_get_projects(names=[PROJECT])["projects"]:
        codebuild.create_project(
            name=PROJECT,
            source={"type": "S3", "location": "reflex-build-sources/reflex-server.zip"},
            artifacts={"type": "NO_ARTIFACTS"},
            environment={
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_MEDIUM",
                "privilegedMode": True,
            },
            serviceRole=CODEBUILD_ROLE,
        )

    try:
        ecr.create_repository(repositoryName=REPOSITORY)
    except ecr.exceptions.RepositoryAlreadyExistsException:
        pass

    tag_filter = [{"Name": f"tag:{_BOOTSTRAP_TAG['Key']}", "Values": [_BOOTSTRAP_TAG["Value"]]}]
    vpcs = ec2.describe_vpcs(Filters=tag_filter)["Vpcs"]
    if vpcs:
        vpc_id = vpcs[0]["VpcId"]
    else:
        vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        ec2.create_tags(Resources=[vpc_id], Tags=[_BOOTSTRAP_TAG])
    vpc_filter = [{"Name": "vpc-id", "Values": [vpc_id]}, *tag_filter]
    subnets = ec2.describe_subnets(Filters=vpc_filter)["Subnets"]
    if subnets:
        subnet_id = subnets[0]["SubnetId"]
    else:
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
        ec2.create_tags(Resources=[subnet_id], Tags=[_BOOTSTRAP_TAG])
    groups = ec2.describe_security_groups(Filters=vpc_filter)["SecurityGroups"]
    if groups:
        group_id = groups[0]["GroupId"]
    else:
        group_id = ec2.create_security_group(
            GroupName="reflex-tasks", Description="reflex-server tasks", VpcId=vpc_id
        )["GroupId"]
        ec2.create_tags(Resources=[group_id], Tags=[_BOOTSTRAP_TAG])

    several = {"REFLEX_ECS_CLUSTERS": json.dumps(list(clusters))} if len(clusters) > 1 else {}
    return {
        "REFLEX_ECS_CLUSTER": clusters[0],
        **several,
        "REFLEX_CODEBUILD_PROJECT": PROJECT,
        "REFLEX_ECR_REPOSITORY": REPOSITORY,
        "REFLEX_SUBNETS": json.dumps([subnet_id]),
        "REFLEX_SECURITY_GROUPS": json.dumps([group_id]),
    }


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reflex_dev.emulator", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--bootstrap", action="store_true", help="create the platform resources once serving")
    parser.add_argument("--region", default="us-east-1", help="region for --bootstrap")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    # EC2's ~1300 default AMIs take a second to load after every reset; nothing here uses them.
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    class Handler(MotoRequestHandler):
        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            if args.verbose:
                super().log_request(code, size)

    app = make_app()
    server = make_server(args.host, args.port, app, threaded=True, request_handler=Handler)

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    url = f"http://{args.host}:{args.port}"
    if args.bootstrap:
        threading.Thread(target=lambda: print(json.dumps(bootstrap(url, args.region)), flush=True), daemon=True).start()
    print(f"emulator ready on {url}", flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
