"""Secrets Manager and ECR adapters against a scripted AWS: put creates the secret the first time
and stores a new version after; deleting a missing secret is done; other errors raise."""

from __future__ import annotations

import pytest

from reflex_operator.aws import ecr
from reflex_operator.aws.clients import AwsCallError
from reflex_operator.aws.secrets import Secrets
from tests.unit.fake_aws import FakeAws, aws_error, raises

ARN = "arn:aws:secretsmanager:us-east-1:1:secret:reflexdb/ns/db-AbCdEf"


async def test_put_stores_a_new_version_of_an_existing_secret() -> None:
    aws = FakeAws(PutSecretValue=lambda **_: {"ARN": ARN, "VersionId": "v2"})
    assert await Secrets(aws).put("reflexdb/ns/db", "postgres://u:p@h/db", "ns/db") == ARN  # type: ignore[arg-type]
    assert aws.calls == [("secretsmanager", "PutSecretValue", {"SecretId": "reflexdb/ns/db", "SecretString": "postgres://u:p@h/db"})]


async def test_put_creates_the_secret_the_first_time() -> None:
    aws = FakeAws(
        PutSecretValue=raises(aws_error("secretsmanager", "PutSecretValue", "ResourceNotFoundException")),
        CreateSecret=lambda **_: {"ARN": ARN},
    )
    assert await Secrets(aws).put("reflexdb/ns/db", "postgres://u:p@h/db", "ns/db") == ARN  # type: ignore[arg-type]
    (create,) = aws.params("CreateSecret")
    assert create["Name"] == "reflexdb/ns/db" and create["SecretString"] == "postgres://u:p@h/db"
    assert create["Tags"] == [{"Key": "reflexdb.cloud/resource", "Value": "ns/db"}]
    assert "postgres" not in create["Description"]


async def test_put_of_a_new_secret_is_one_create_call() -> None:
    aws = FakeAws(CreateSecret=lambda **_: {"ARN": ARN})
    assert await Secrets(aws).put("reflexdb/ns/db", "postgres://u:p@h/db", "ns/db", exists=False) == ARN  # type: ignore[arg-type]
    assert aws.ops() == ["CreateSecret"]


async def test_put_of_a_secret_created_before_a_crash_stores_a_version() -> None:
    aws = FakeAws(
        CreateSecret=raises(aws_error("secretsmanager", "CreateSecret", "ResourceExistsException")),
        PutSecretValue=lambda **_: {"ARN": ARN, "VersionId": "v2"},
    )
    assert await Secrets(aws).put("reflexdb/ns/db", "postgres://u:p@h/db", "ns/db", exists=False) == ARN  # type: ignore[arg-type]
    assert aws.ops() == ["CreateSecret", "PutSecretValue"]


async def test_put_raises_other_errors() -> None:
    aws = FakeAws(PutSecretValue=raises(aws_error("secretsmanager", "PutSecretValue", "AccessDeniedException")))
    with pytest.raises(AwsCallError, match="AccessDeniedException"):
        await Secrets(aws).put("n", "v", "ns/db")  # type: ignore[arg-type]
    assert aws.ops() == ["PutSecretValue"]


async def test_delete_forces_and_a_missing_secret_is_already_deleted() -> None:
    aws = FakeAws(DeleteSecret=lambda **_: {})
    await Secrets(aws).delete("reflexdb/ns/db")  # type: ignore[arg-type]
    assert aws.params("DeleteSecret") == [{"SecretId": "reflexdb/ns/db", "ForceDeleteWithoutRecovery": True}]
    missing = FakeAws(DeleteSecret=raises(aws_error("secretsmanager", "DeleteSecret", "ResourceNotFoundException")))
    await Secrets(missing).delete("reflexdb/ns/db")  # type: ignore[arg-type]
    denied = FakeAws(DeleteSecret=raises(aws_error("secretsmanager", "DeleteSecret", "AccessDeniedException")))
    with pytest.raises(AwsCallError):
        await Secrets(denied).delete("reflexdb/ns/db")  # type: ignore[arg-type]


async def test_ecr_repository_uri() -> None:
    uri = "1.dkr.ecr.us-east-1.amazonaws.com/reflex-server"
    aws = FakeAws(DescribeRepositories=lambda repositoryNames: {"repositories": [{"repositoryUri": uri}]})
    assert await ecr.repository_uri(aws, "reflex-server") == uri  # type: ignore[arg-type]
    assert aws.params("DescribeRepositories") == [{"repositoryNames": ["reflex-server"]}]
