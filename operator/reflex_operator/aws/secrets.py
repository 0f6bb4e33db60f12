"""Secrets Manager: the connection string, copied from the Kubernetes Secret. Never logged.

A secret is created with its owner's tags (``database.ownership``). Creating one that exists
already (made before a crash, by an earlier object of the same identity, or by someone else)
reads its tags first: a secret the database may not take is refused (``ports.NotOwned``, nothing
written); one it may take keeps its value when that is the Secret's already (a rebuilt cluster
writes nothing), and gets its new owner's tags.
"""

from __future__ import annotations

from reflex_operator.aws.clients import AwsCallError, AwsClients
from reflex_operator.database.ownership import claim_of, owner_of, Owner, CLUSTER_IDENTITY, NAME, NAMESPACE, OWNER_UID
from reflex_operator.database.steps import PutSecret
from reflex_operator.ports import NotOwned, StoredSecret

__all__ = ["Secrets"]


def _aws_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


class Secrets:
    def __init__(self, aws: AwsClients) -> None:
        self.aws = aws

    async def put(self, step: PutSecret, value: str, resource: str) -> StoredSecret:
        """Store a new version of the secret, or create it. ``step.exists`` says which to try
        first (one call when it is right: CreateSecret for a new database)."""
        tags = dict(step.owner_tags) or {"reflexdb.cloud/resource": resource}
        if step.found:
            try:
                return await self._found(step, value, tags)
            except AwsCallError as exc:
                if exc.code != "ResourceNotFoundException":
                    raise
            return StoredSecret(await self._create(step.secret_name, value, resource, tags))
        if not step.exists:
            try:
                return StoredSecret(await self._create(step.secret_name, value, resource, tags))
            except AwsCallError as exc:
                if exc.code != "ResourceExistsException":
                    raise
            return await self._found(step, value, tags)
        try:
            reply = await self.aws.call("secretsmanager", "PutSecretValue", SecretId=step.secret_name, SecretString=value)
        except AwsCallError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
            return StoredSecret(await self._create(step.secret_name, value, resource, tags))
        return StoredSecret(str(reply["ARN"]))

    async def _found(self, step: PutSecret, value: str, tags: dict[str, str]) -> StoredSecret:
        """A secret exists under the name: take it if its tags allow, keeping its value if it is the Secret's."""
        described = await self.aws.call("secretsmanager", "DescribeSecret", SecretId=step.secret_name)
        found = {t["Key"]: t.get("Value", "") for t in described.get("Tags") or []}
        arn = str(described["ARN"])
        if step.owner_tags:
            me = Owner(tags[CLUSTER_IDENTITY], tags[NAMESPACE], tags[NAME], tags[OWNER_UID])
            claim = claim_of(found, me)
            if claim.value not in step.may_take:
                raise NotOwned(f"Secrets Manager secret {step.secret_name} is owned by {owner_of(found)}")
        stored = await self.aws.call("secretsmanager", "GetSecretValue", SecretId=arn)
        kept = stored.get("SecretString") == value
        if not kept:
            await self.aws.call("secretsmanager", "PutSecretValue", SecretId=arn, SecretString=value)
        if step.owner_tags and any(found.get(k) != v for k, v in tags.items()):
            await self.tag(arn, tags)
        return StoredSecret(arn, kept)

    async def _create(self, name: str, value: str, resource: str, tags: dict[str, str]) -> str:
        reply = await self.aws.call(
            "secretsmanager",
            "CreateSecret",
            Name=name,
            SecretString=value,
            Description=f"ReflexDatabase {resource}: source connection string",
            Tags=_aws_tags(tags),
        )
        return str(reply["ARN"])

    async def tag(self, arn: str, tags: dict[str, str]) -> None:
        await self.aws.call("secretsmanager", "TagResource", SecretId=arn, Tags=_aws_tags(tags))

    async def delete(self, name: str) -> None:
        try:
            await self.aws.call("secretsmanager", "DeleteSecret", SecretId=name, ForceDeleteWithoutRecovery=True)
        except AwsCallError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
