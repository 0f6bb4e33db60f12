"""ECR: where builds push their images."""

from __future__ import annotations

from reflex_operator.aws.clients import AwsClients

__all__ = ["repository_uri"]


async def repository_uri(aws: AwsClients, repository: str) -> str:
    reply = await aws.call("ecr", "DescribeRepositories", repositoryNames=[repository])
    return str(reply["repositories"][0]["repositoryUri"])

