"""boto3 clients with bounded retries (``standard`` mode), called off the event loop, and counted.

The endpoint comes from the standard ``AWS_ENDPOINT_URL`` variable, exactly as boto3 reads it, so
the same code talks to AWS or to the local emulator. What counts as throttling is botocore's own
judgement (the detector its ``standard`` retry mode uses), so the metric counts exactly what boto3
retries as throttling. Every call first waits for its API family's budget (``aws.budget``), so
the operator stays inside AWS's request rates instead of being throttled into errors; a call of a
reconcile pass's step that would wait raises ``ports.BudgetDeferred`` instead (nothing sent).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import boto3
import botocore.session
from botocore import xform_name
from botocore.awsrequest import AWSResponse
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from botocore.retries.standard import RetryContext, RetryEventAdapter, ThrottlingErrorDetector
from botocore.utils import parse_timestamp

from reflex_operator.aws.budget import Budgets

__all__ = ["AwsClients", "CallHook", "WaitHook", "is_throttle", "error_code", "AwsCallError", "utc_timestamp"]

CallHook = Callable[[str, str, str], None]  # (service, operation, outcome) of each attempt
WaitHook = Callable[[str, str, float], None]  # (service, family, seconds waited for the budget)

# botocore's standard retry mode asks this detector whether an answer is throttling (its list of
# throttling error codes, the codes the service model marks as throttling, an unmodelled 429).
_THROTTLING = ThrottlingErrorDetector(RetryEventAdapter())


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


def is_throttle(exc: BaseException, operation_model: Any = None) -> bool:
    """Whether botocore would call this failure throttling (as its retries did for each attempt)."""
    if not isinstance(exc, ClientError):
        return False
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    http = AWSResponse("", int(status), {}, None) if status else None
    context = RetryContext(
        attempt_number=1, operation_model=operation_model, parsed_response=exc.response, http_response=http
    )
    return bool(_THROTTLING.is_throttling_error_from_context(context))


class AwsCallError(RuntimeError):
    """An AWS call that failed after boto3's bounded retries; the message names the operation."""

    def __init__(self, service: str, operation: str, cause: BaseException, operation_model: Any = None) -> None:
        self.service, self.operation, self.code = service, operation, error_code(cause)
        self.throttled = is_throttle(cause, operation_model)
        detail = str(cause).splitlines()[0][:300]
        super().__init__(f"{service}.{operation} failed ({self.code}): {detail}")


def utc_timestamp(value: Any) -> datetime:
    """A response timestamp as an aware datetime. ECS and CodeBuild (JSON protocols) send epoch
    seconds; botocore's own parser gives them the local zone through dateutil, which was a quarter
    of the operator's CPU at 10,000 databases (every DescribeServices carries dozens of times).
    The same instant, in UTC; anything else goes to botocore's parser."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    return parse_timestamp(value)  # type: ignore[no-any-return]


class AwsClients:
    """One boto3 client per service, shared by all resources."""

    def __init__(
        self,
        region: str | None = None,
        max_attempts: int = 5,
        hook: CallHook | None = None,
        budgets: Budgets | None = None,
        waited: WaitHook | None = None,
    ) -> None:
        self._config = BotoConfig(
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=5,
            read_timeout=30,
            max_pool_connections=32,
            user_agent_appid="reflex-operator",
        )
        core = botocore.session.Session()
        core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=utc_timestamp)
        self._session = boto3.session.Session(region_name=region, botocore_session=core)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._hook = hook
        self.budgets = budgets if budgets is not None else Budgets()
        self._waited = waited

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                client = self._session.client(service, config=self._config)
                # Every attempt is counted, retried ones included, so throttling that boto3's
                # retries absorb still shows in the metrics.
                client.meta.events.register("needs-retry.*", functools.partial(self._attempt, service))
                self._clients[service] = client
            return self._clients[service]

    def _attempt(self, service: str, **needs_retry: Any) -> None:
        """The ``needs-retry`` event of one attempt: count it as ok, throttled or error."""
        operation, response = needs_retry.get("operation"), needs_retry.get("response")
        if operation is None:
            return
        outcome = "ok"
        if response is None:
            outcome = "error"  # no answer at all (connection error)
        elif _THROTTLING.is_throttling_error(**needs_retry):
            outcome = "throttled"
        else:
            http, parsed = response
            code = (parsed or {}).get("Error", {}).get("Code")
            if code or getattr(http, "status_code", 200) >= 400:
                outcome = "error"
        self._count(service, operation.name, outcome)

    def call_sync(self, service: str, operation: str, /, **params: Any) -> dict[str, Any]:
        client = self.client(service)
        try:
            return getattr(client, xform_name(operation))(**params)  # type: ignore[no-any-return]
        except (ClientError, BotoCoreError) as exc:
            model = client.meta.service_model.operation_model(operation) if isinstance(exc, ClientError) else None
            raise AwsCallError(service, operation, exc, model) from exc

    async def call(self, service: str, operation: str, /, **params: Any) -> dict[str, Any]:
        """Wait for the operation's budget, then run the call in a worker thread (boto3 blocks).
        Raises ``BudgetDeferred`` (nothing sent) in a pass's step that would wait (``aws.budget``)."""
        family, waited = await self.budgets.take(service, operation)
        if self._waited is not None:
            self._waited(service, family, waited)
        return await asyncio.to_thread(self.call_sync, service, operation, **params)

    async def hold(self, service: str, operation: str) -> None:
        """Hold the operation's token for the calling pass (``Budgets.hold``), or ``BudgetDeferred``."""
        await self.budgets.hold(service, operation)

    def _count(self, service: str, operation: str, outcome: str) -> None:
        if self._hook is not None:
            self._hook(service, operation, outcome)

