"""``AwsClients``: real boto3 clients against a scripted HTTP endpoint on loopback. Every attempt
is counted (ok / throttled / error), throttling is what botocore's retries call throttling, and a
call that fails after the retries is an ``AwsCallError`` naming the operation."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from reflex_operator.aws.clients import AwsCallError, AwsClients, error_code, is_throttle


class Endpoint:
    """Answers each request with the next scripted (status, error code or body)."""

    def __init__(self) -> None:
        self.script: list[tuple[int, Any]] = []
        self.targets: list[str] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                endpoint.targets.append(self.headers.get("X-Amz-Target", ""))
                status, answer = endpoint.script.pop(0) if endpoint.script else (200, {})
                body = json.dumps({"__type": answer, "message": "scripted"} if isinstance(answer, str) else answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def answer(self, *script: tuple[int, Any]) -> None:
        self.script[:] = list(script)


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoint]:
    ep = Endpoint()
    ep.thread.start()
    for name, value in {
        "AWS_ENDPOINT_URL": ep.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # No waiting between retries (botocore's backoff is not what is under test).
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    yield ep
    ep.server.shutdown()
    ep.server.server_close()


def clients(max_attempts: int = 3) -> tuple[AwsClients, list[tuple[str, str, str]]]:
    """Clients counting into a list. botocore's ``max_attempts`` counts retries: N + 1 attempts."""
    seen: list[tuple[str, str, str]] = []
    return AwsClients(region="us-east-1", max_attempts=max_attempts, hook=lambda *a: seen.append(a)), seen


async def test_operation_names_become_boto3_methods_and_every_attempt_is_counted(endpoint: Endpoint) -> None:
    aws, seen = clients()
    endpoint.answer((400, "ThrottlingException"), (200, {"services": [], "failures": []}))
    reply = await aws.call("ecs", "DescribeServices", cluster="c", services=["s"])
    assert reply["services"] == [] and reply["ResponseMetadata"]["RetryAttempts"] == 1
    assert endpoint.targets == ["AmazonEC2ContainerServiceV20141113.DescribeServices"] * 2
    assert seen == [("ecs", "DescribeServices", "throttled"), ("ecs", "DescribeServices", "ok")]
    assert aws.client("ecs") is aws.client("ecs")


async def test_persistent_throttling_is_an_aws_call_error_marked_throttled(endpoint: Endpoint) -> None:
    aws, seen = clients(max_attempts=1)
    endpoint.answer((400, "ThrottlingException"), (400, "ThrottlingException"))
    with pytest.raises(AwsCallError) as err:
        aws.call_sync("ecs", "ListServices", cluster="c")
    assert err.value.code == "ThrottlingException" and err.value.throttled
    assert (err.value.service, err.value.operation) == ("ecs", "ListServices")
    assert str(err.value).startswith("ecs.ListServices failed (ThrottlingException): ")
    assert seen == [("ecs", "ListServices", "throttled")] * 2


async def test_an_unmodelled_429_is_throttling_as_botocore_sees_it(endpoint: Endpoint) -> None:
    aws, seen = clients()
    endpoint.answer((429, "SlowDownPlease"), (200, {"serviceArns": []}))
    aws.call_sync("ecs", "ListServices", cluster="c")
    assert seen == [("ecs", "ListServices", "throttled"), ("ecs", "ListServices", "ok")]


async def test_a_service_error_is_not_retried_and_not_throttling(endpoint: Endpoint) -> None:
    aws, seen = clients()
    endpoint.answer((400, "ResourceNotFoundException"))
    with pytest.raises(AwsCallError) as err:
        aws.call_sync("secretsmanager", "PutSecretValue", SecretId="s", SecretString="v")
    assert err.value.code == "ResourceNotFoundException" and not err.value.throttled
    assert seen == [("secretsmanager", "PutSecretValue", "error")]


async def test_a_quota_error_is_not_throttling(endpoint: Endpoint) -> None:
    # CodeBuild's concurrent-build quota: botocore does not retry it, so it is an error, not throttling.
    aws, seen = clients()
    endpoint.answer((400, "AccountLimitExceededException"))
    with pytest.raises(AwsCallError) as err:
        aws.call_sync("ecs", "ListServices", cluster="c")
    assert err.value.code == "AccountLimitExceededException" and not err.value.throttled
    assert seen == [("ecs", "ListServices", "error")]


async def test_a_server_error_is_retried_and_counted_as_errors(endpoint: Endpoint) -> None:
    aws, seen = clients()
    endpoint.answer((500, {}), (200, {"serviceArns": ["a"]}))
    assert aws.call_sync("ecs", "ListServices", cluster="c")["serviceArns"] == ["a"]
    assert seen == [("ecs", "ListServices", "error"), ("ecs", "ListServices", "ok")]


async def test_no_answer_at_all(endpoint: Endpoint) -> None:
    endpoint.server.shutdown()
    endpoint.server.server_close()
    aws, seen = clients(max_attempts=1)
    with pytest.raises(AwsCallError) as err:
        await aws.call("ecs", "ListServices", cluster="c")
    assert isinstance(err.value.__cause__, EndpointConnectionError)
    assert err.value.code == "EndpointConnectionError" and not err.value.throttled
    assert seen == [("ecs", "ListServices", "error")] * 2


def test_error_classification_without_a_call() -> None:
    def client_error(code: str, status: int | None = None) -> ClientError:
        response: dict[str, Any] = {"Error": {"Code": code, "Message": "m"}}
        if status:
            response["ResponseMetadata"] = {"HTTPStatusCode": status}
        return ClientError(response, "StartBuild")  # type: ignore[arg-type]

    assert error_code(client_error("Throttling")) == "Throttling"
    assert error_code(ClientError({}, "Op")) == "Unknown"  # type: ignore[arg-type]
    assert error_code(ValueError("x")) == "ValueError"
    for code in ("Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "ThrottledException"):
        assert is_throttle(client_error(code, 400)), code
    assert is_throttle(client_error("Unmodelled", 429))
    assert not is_throttle(client_error("AccountLimitExceededException", 400))
    assert not is_throttle(client_error("ResourceNotFoundException"))
    assert not is_throttle(ValueError("Throttling"))
    assert AwsCallError("codebuild", "StartBuild", client_error("ThrottlingException")).throttled


async def test_without_a_hook_nothing_is_counted(endpoint: Endpoint) -> None:
    aws = AwsClients(region="us-east-1")
    endpoint.answer((400, "ThrottlingException"), (200, {"serviceArns": ["a"]}))
    assert aws.call_sync("ecs", "ListServices", cluster="c")["serviceArns"] == ["a"]
    assert len(endpoint.targets) == 2


async def test_response_timestamps_are_the_same_instant_in_utc(endpoint: Endpoint) -> None:
    from datetime import datetime, timezone

    aws, _ = clients()
    endpoint.answer((200, {"services": [{"serviceName": "s", "createdAt": 1764669600.25}], "failures": []}))
    reply = await aws.call("ecs", "DescribeServices", cluster="c", services=["s"])
    created = reply["services"][0]["createdAt"]
    assert created == datetime(2025, 12, 2, 10, 0, 0, 250000, tzinfo=timezone.utc)
    assert created.tzinfo is timezone.utc
