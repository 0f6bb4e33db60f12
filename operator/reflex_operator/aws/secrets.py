"""Secrets Manager: the connection string, copied from the Kubernetes Secret. Never logged."""

from __future__ import annotations

from reflex_operator.aws.clients import AwsCallError, AwsClients

__all__ = ["Secrets"]


class Secrets:
    def __init__(self, aws: AwsClients) -> None:
        self.aws = aws

    async def put(self, name: str, value: str, resource: str) -> str:
        """Create the secret or store a new version of it; returns its ARN."""
        try:
            reply = await self.aws.call("secretsmanager", "PutSecretValue", SecretId=name, SecretString=value)
        except AwsCallError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
            reply = await self.aws.call(
                "secretsmanager",
                "CreateSecret",
                Name=name,
                SecretString=value,
                Description=f"ReflexDatabase {resource}: source connection string",
                Tags=[{"Key": "reflexdb.cloud/resource", "Value": resource}],
            )
        return str(reply["ARN"])

    async def delete(self, name: str) -> None:
        try:
            await self.aws.call("secretsmanager", "DeleteSecret", SecretId=name, ForceDeleteWithoutRecovery=True)
        except AwsCallError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
