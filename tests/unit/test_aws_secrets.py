"""Secrets Manager and ECR adapters against a scripted AWS: put creates the secret the first time
and stores a new version after; deleting a missing secret is done; other errors raise."""

from __future__ import annotations

import pytest

from reflex_operator.aws import ecr
from reflex_operator.aws.clients import AwsCallError
from reflex_operator.aws.secrets import Secrets
from reflex_operator.database.ownership import Owner
from reflex_operator.database.steps import PutSecret
from reflex_operator.ports import NotOwned, StoredSecret
from tests.unit.fake_aws import FakeAws, aws_error, raises

ME = Owner("east", "ns", "db", "uid-2")

ARN = "arn:aws:secretsmanager:us-east-1:1:secret:reflexdb/ns/db-AbCdEf"


def _step(exists: bool = True, may_take: frozenset[str] = frozenset({"mine", "ours"})) -> PutSecret:
    return PutSecret("reflexdb/ns/db", "db", "url", "7", exists=exists, owner_tags=tuple(sorted(ME.tags().items())), may_take=may_take)


def _tags(**tags: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


async def test_put_stores_a_new_version_of_an_existing_secret() -> None:
    aws = FakeAws(PutSecretValue=lambda **_: {"ARN": ARN, "VersionId": "v2"})
    assert await Secrets(aws).put(_step(), "postgres://u:p@h/db", "ns/db") == StoredSecret(ARN)  # type: ignore[arg-type]
    assert aws.calls == [("secretsmanager", "PutSecretValue", {"SecretId": "reflexdb/ns/db", "SecretString": "postgres://u:p@h/db"})]


async def test_put_creates_the_secret_the_first_time_with_its_owners_tags() -> None:
    aws = FakeAws(
        PutSecretValue=raises(aws_error("secretsmanager", "PutSecretValue", "ResourceNotFoundException")),
        CreateSecret=lambda **_: {"ARN": ARN},
    )
    assert await Secrets(aws).put(_step(), "postgres://u:p@h/db", "ns/db") == StoredSecret(ARN)  # type: ignore[arg-type]
    (create,) = aws.params("CreateSecret")
    assert create["Name"] == "reflexdb/ns/db" and create["SecretString"] == "postgres://u:p@h/db"
    tags = {t["Key"]: t["Value"] for t in create["Tags"]}
    assert tags["reflexdb.cloud/cluster-identity"] == "east" and tags["reflexdb.cloud/owner-uid"] == "uid-2"
    assert tags["reflexdb.cloud/resource"] == "ns/db" and tags["reflexdb.cloud/ownership"] == "owned"
    assert "postgres" not in create["Description"]


async def test_put_of_a_new_secret_is_one_create_call() -> None:
    aws = FakeAws(CreateSecret=lambda **_: {"ARN": ARN})
    assert await Secrets(aws).put(_step(exists=False), "postgres://u:p@h/db", "ns/db") == StoredSecret(ARN)  # type: ignore[arg-type]
    assert aws.ops() == ["CreateSecret"]


def _existing(tags: list[dict[str, str]], value: str) -> FakeAws:
    return FakeAws(
        CreateSecret=raises(aws_error("secretsmanager", "CreateSecret", "ResourceExistsException")),
        DescribeSecret=lambda **_: {"ARN": ARN, "Tags": tags},
        GetSecretValue=lambda **_: {"ARN": ARN, "SecretString": value},
        PutSecretValue=lambda **_: {"ARN": ARN, "VersionId": "v2"},
        TagResource=lambda **_: {},
    )


MINE = _tags(**ME.tags())
EARLIER = _tags(**Owner("east", "ns", "db", "uid-1").tags())


@pytest.mark.parametrize(
    "what,tags,value,ops,kept",
    [
        ("made before a crash, same value: nothing written", MINE, "postgres://u:p@h/db", ["CreateSecret", "DescribeSecret", "GetSecretValue"], True),
        ("made before a crash, other value: a new version", MINE, "old", ["CreateSecret", "DescribeSecret", "GetSecretValue", "PutSecretValue"], False),
        ("an earlier object's (taken back): kept, tagged with the new owner", EARLIER, "postgres://u:p@h/db", ["CreateSecret", "DescribeSecret", "GetSecretValue", "TagResource"], True),
    ],
)
async def test_a_secret_found_under_the_name_is_taken_when_its_tags_allow(what, tags, value, ops, kept) -> None:
    aws = _existing(tags, value)
    assert await Secrets(aws).put(_step(exists=False), "postgres://u:p@h/db", "ns/db") == StoredSecret(ARN, kept)  # type: ignore[arg-type]
    assert aws.ops() == ops
    for tag in aws.params("TagResource"):
        assert {t["Key"]: t["Value"] for t in tag["Tags"]}["reflexdb.cloud/owner-uid"] == "uid-2"


@pytest.mark.parametrize(
    "what,tags,may_take,allowed",
    [
        ("another cluster identity's", _tags(**Owner("west", "ns", "db", "x").tags()), {"mine", "ours"}, False),
        ("another namespace's", _tags(**Owner("east", "other", "db", "x").tags()), {"mine", "ours"}, False),
        ("made by hand (no tags)", [], {"mine", "ours"}, False),
        ("made by hand, adopting", [], {"mine", "ours", "unmarked", "released"}, True),
        ("another's, released, adopting", _tags(**{**Owner("west", "ns", "db", "x").tags(), "reflexdb.cloud/ownership": "released"}), {"mine", "ours", "unmarked", "released"}, True),
        ("another's, not released, adopting", _tags(**Owner("west", "ns", "db", "x").tags()), {"mine", "ours", "unmarked", "released"}, False),
    ],
)
async def test_a_secret_of_another_owner_is_refused_with_nothing_written(what, tags, may_take, allowed) -> None:
    aws = _existing(tags, "postgres://u:p@h/db")
    step = _step(exists=False, may_take=frozenset(may_take))
    if allowed:
        assert (await Secrets(aws).put(step, "postgres://u:p@h/db", "ns/db")).arn == ARN  # type: ignore[arg-type]
        return
    with pytest.raises(NotOwned, match="reflexdb/ns/db is owned by"):
        await Secrets(aws).put(step, "postgres://u:p@h/db", "ns/db")  # type: ignore[arg-type]
    assert aws.ops() == ["CreateSecret", "DescribeSecret"]  # read only: nothing written, the value never read


async def test_put_raises_other_errors() -> None:
    aws = FakeAws(PutSecretValue=raises(aws_error("secretsmanager", "PutSecretValue", "AccessDeniedException")))
    with pytest.raises(AwsCallError, match="AccessDeniedException"):
        await Secrets(aws).put(_step(), "v", "ns/db")  # type: ignore[arg-type]
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


async def test_a_take_over_reads_the_secret_first_and_writes_nothing_when_it_holds_the_value() -> None:
    aws = _existing(MINE, "postgres://u:p@h/db")
    step = PutSecret("reflexdb/ns/db", "db", "url", "7", exists=False, owner_tags=tuple(sorted(ME.tags().items())), may_take=frozenset({"mine", "ours"}), found=True)
    assert await Secrets(aws).put(step, "postgres://u:p@h/db", "ns/db") == StoredSecret(ARN, kept=True)  # type: ignore[arg-type]
    assert aws.ops() == ["DescribeSecret", "GetSecretValue"]  # no CreateSecret attempt
