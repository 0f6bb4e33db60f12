"""The client-side rate budgets: the token bucket on a fake clock, the family of every operation
the operator calls, the settings that shape them."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from reflex_operator.aws import budget
from reflex_operator.aws.budget import FAMILIES, OPERATIONS, Budgets, Rate, TokenBucket, family_of, parse_rate
from reflex_operator.settings import Settings

AWS = Path(budget.__file__).parent


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.mark.parametrize(
    "rate,calls,elapsed,expected_wait",
    [
        (Rate(3, 1), 3, 0.0, 0.0),  # the burst: no wait
        (Rate(3, 1), 4, 0.0, 1.0),  # one past the burst waits one refill
        (Rate(3, 2), 5, 0.0, 1.0),  # two past it, at 2/s
        (Rate(3, 1), 4, 1.0, 0.0),  # a second later, one token is back
        (Rate(3, 1), 5, 1.0, 1.0),  # one back, two past: one refill to wait
    ],
)
def test_bucket_waits_past_its_burst_at_the_refill_rate(rate, calls, elapsed, expected_wait):
    t = FakeTime()
    bucket = TokenBucket(rate, t.clock, t.sleep)
    for _ in range(calls - 1):
        bucket.reserve()
    t.now += elapsed  # the earlier calls were made at 0; time passes before the last
    assert bucket.reserve() == pytest.approx(expected_wait)


def test_an_idle_bucket_holds_no_more_than_its_capacity():
    t = FakeTime()
    bucket = TokenBucket(Rate(3, 1), t.clock, t.sleep)
    t.now = 100.0
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 1.0])


def test_waiters_are_served_in_order_one_refill_apart():
    t = FakeTime()
    bucket = TokenBucket(Rate(1, 4), t.clock, t.sleep)
    waits = [bucket.reserve() for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.25, 0.5, 0.75])


def test_take_sleeps_for_its_wait_and_reports_it():
    t = FakeTime()
    bucket = TokenBucket(Rate(1, 2), t.clock, t.sleep)

    async def run() -> list[float]:
        return [await bucket.take() for _ in range(3)]

    assert asyncio.run(run()) == pytest.approx([0.0, 0.5, 1.0])
    assert t.slept == pytest.approx([0.5, 1.0])


def _called_operations() -> set[tuple[str, str]]:
    """Every ``aws.call("service", "Operation", ...)`` in the AWS adapters."""
    pattern = re.compile(r'\.call\(\s*"([a-z]+)",\s*"([A-Za-z]+)"')
    found: set[tuple[str, str]] = set()
    for path in AWS.glob("*.py"):
        found |= set(pattern.findall(path.read_text()))
    return found


def test_every_operation_the_operator_calls_has_a_family_with_published_figures():
    called = _called_operations()
    assert ("ecs", "DescribeServices") in called and ("codebuild", "StartBuild") in called  # the scan works
    missing = sorted(op for op in called if op not in OPERATIONS)
    assert not missing, f"operations without a budget family: {missing}"
    assert all(family in FAMILIES for family in OPERATIONS.values())
    assert all(family.split(".")[0] == service for (service, _), family in OPERATIONS.items())


@pytest.mark.parametrize(
    "service,operation,family",
    [
        ("ecs", "DescribeServices", "ecs.service-read"),
        ("ecs", "UpdateService", "ecs.service-modify"),
        ("ecs", "RegisterTaskDefinition", "ecs.task-definition-modify"),
        ("codebuild", "StartBuild", "codebuild.build-modify"),
        ("codebuild", "BatchGetBuilds", "codebuild.build-read"),
        ("secretsmanager", "PutSecretValue", "secretsmanager.put"),
        ("ecs", "ListClusters", "ecs.other"),
    ],
)
def test_family_of(service, operation, family):
    assert family_of(service, operation) == family


def test_budgets_use_a_share_of_aws_figures_unless_overridden():
    budgets = Budgets(0.5, {"ecs.service-modify": Rate(7, 3)})
    assert budgets.rate("ecs.service-read") == Rate(50, 10)
    assert budgets.rate("ecs.service-modify") == Rate(7, 3)
    assert budgets.rate("ecs.task-definition-modify") == Rate(10, 0.5)
    assert Budgets(0.01).rate("ecs.task-definition-modify").capacity == 1  # a bucket holds at least one call


@pytest.mark.parametrize("text,rate", [("100/20", Rate(100, 20)), ("1/0.5", Rate(1, 0.5))])
def test_parse_rate(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["0/1", "5/0", "5", "a/b"])
def test_bad_rates_are_refused(text, monkeypatch):
    with pytest.raises(ValueError):
        parse_rate(text)
    monkeypatch.setenv("REFLEX_AWS_RATE_BUDGETS", f'{{"ecs.service-read": "{text}"}}')
    with pytest.raises(ValueError, match="REFLEX_AWS_RATE_BUDGETS"):
        Settings()


def test_settings_read_the_fraction_and_overrides(monkeypatch):
    monkeypatch.setenv("REFLEX_AWS_RATE_BUDGET_FRACTION", "0.5")
    monkeypatch.setenv("REFLEX_AWS_RATE_BUDGETS", '{"ecs.service-read": "40/8"}')
    settings = Settings()
    assert settings.aws_rate_budget_fraction == 0.5
    assert settings.aws_rate_budgets == {"ecs.service-read": "40/8"}


def test_every_call_waits_for_its_familys_budget_before_it_is_sent(monkeypatch):
    from reflex_operator.aws.clients import AwsClients

    t, order, waited = FakeTime(), [], []

    async def sleep(seconds: float) -> None:
        order.append(("wait", seconds))

    budgets = Budgets(1.0, {"codebuild.build-modify": Rate(1, 2)}, clock=t.clock, sleep=sleep)
    aws = AwsClients(region="us-east-1", budgets=budgets, waited=lambda *a: waited.append(a))
    monkeypatch.setattr(aws, "call_sync", lambda service, op, **_: order.append(("send", op)) or {})

    async def run() -> None:
        for _ in range(2):
            await aws.call("codebuild", "StartBuild", projectName="p")

    asyncio.run(run())
    assert order == [("send", "StartBuild"), ("wait", 0.5), ("send", "StartBuild")]
    assert waited == [("codebuild", "codebuild.build-modify", 0.0), ("codebuild", "codebuild.build-modify", 0.5)]
