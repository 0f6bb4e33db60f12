"""A scripted stand-in for ``AwsClients`` for the adapters' unit tests: it records every call and
answers each operation from a handler (a function of the call's parameters) or raises the
``AwsCallError`` the real client would raise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from reflex_operator.aws.clients import AwsCallError

__all__ = ["FakeAws", "aws_error", "raises"]

Handler = Callable[..., dict[str, Any]]


def aws_error(service: str, operation: str, code: str, message: str = "it failed") -> AwsCallError:
    """The error ``AwsClients.call`` raises once boto3 gives up."""
    cause = ClientError({"Error": {"Code": code, "Message": message}}, operation)
    return AwsCallError(service, operation, cause)


class FakeAws:
    def __init__(self, **handlers: Handler) -> None:
        self.handlers = dict(handlers)
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def on(self, operation: str, handler: Handler) -> None:
        self.handlers[operation] = handler

    async def call(self, service: str, operation: str, /, **params: Any) -> dict[str, Any]:
        self.calls.append((service, operation, params))
        return self.handlers[operation](**params)

    def ops(self) -> list[str]:
        return [op for _, op, _ in self.calls]

    def params(self, operation: str) -> list[dict[str, Any]]:
        return [p for _, op, p in self.calls if op == operation]


def raises(error: AwsCallError) -> Handler:
    def handler(**_: Any) -> dict[str, Any]:
        raise error

    return handler

