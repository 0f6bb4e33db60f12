"""Secrets Manager: the connection string, copied from the Kubernetes Secret. Never logged."""

from __future__ import annotations

from reflex_operator.aws.clients import AwsCallError, AwsClients

__all__ = ["Secrets"]


class Secrets:
    def __init__(self, aws: AwsClients) -> None:
        self.aws = aws

    async def put(self, name: str, value: str, resource: str, exists: bool = True) -> str:
        """Store a new version of the secret, or create it; returns its ARN. ``exists`` says which
        to try first (one call when it is right: CreateSecret for a new database)."""
        if not exists:
            try:
                return await self._create(name, value, resource)
            except AwsCallError as exc:
                if exc.code != "ResourceExistsException":  # created before a crash: store a version
                    raise
        try:
            reply = await self.aws.call("secretsmanager", "PutSecretValue", SecretId=name, SecretString=value)
        except AwsCallError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
            return await self._create(name, value, resource)
        return str(reply["ARN"])

    async def _create(self, name: str, value: str, resource: str) -> str:
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
