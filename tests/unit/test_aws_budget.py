"""The client-side rate budgets: the token bucket on a fake clock, the family of every operation
the operator calls, the settings that shape them."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from reflex_operator.aws import budget
from reflex_operator.aws.budget import FAMILIES, OPERATIONS, Budgets, Rate, TokenBucket, family_of, parse_rate
from reflex_operator.ports import BudgetDeferred
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
        self.now += seconds


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

    assert asyncio.run(run()) == pytest.approx([0.0, 0.5, 0.5])  # each one refill after the last
    assert t.slept == pytest.approx([0.5, 0.5])


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
        t.now += seconds

    budgets = Budgets(1.0, {"codebuild.build-modify": Rate(1, 2)}, clock=t.clock, sleep=sleep)
    aws = AwsClients(region="us-east-1", budgets=budgets, waited=lambda *a: waited.append(a))
    monkeypatch.setattr(aws, "call_sync", lambda service, op, **_: order.append(("send", op)) or {})

    async def run() -> None:
        for _ in range(2):
            await aws.call("codebuild", "StartBuild", projectName="p")

    asyncio.run(run())
    assert order == [("send", "StartBuild"), ("wait", 0.5), ("send", "StartBuild")]
    assert waited == [("codebuild", "codebuild.build-modify", 0.0), ("codebuild", "codebuild.build-modify", 0.5)]


# --- a pass's step does not sleep on an empty bucket: tickets ---------------------------------

KEY, OTHER = ("team-a", "orders"), ("team-a", "billing")


@pytest.mark.parametrize(
    "taken_before,elapsed,expected",
    [
        (0, 0.0, 0.0),  # a token in the bucket: the holder's at once
        (1, 0.0, 2.0),  # the one token is someone else's: the next in 1 / 0.5 s
        (2, 0.0, 4.0),  # two callers ahead: in their order
        (1, 2.0, 0.0),  # the refill came before the holder asked
    ],
)
def test_a_ticket_is_the_holders_place_in_the_buckets_order(taken_before, elapsed, expected):
    t = FakeTime()
    bucket = TokenBucket(Rate(1, 0.5), t.clock, t.sleep)
    for _ in range(taken_before):
        bucket.reserve()
    t.now += elapsed
    assert bucket.ticket(KEY) == pytest.approx(expected)


def test_a_ticket_is_kept_until_redeemed_and_asking_again_reserves_nothing_more():
    t = FakeTime()
    bucket = TokenBucket(Rate(1, 0.5), t.clock, t.sleep)
    bucket.reserve()
    assert bucket.ticket(KEY) == pytest.approx(2.0)
    t.now = 1.5
    assert bucket.ticket(KEY) == pytest.approx(0.5)  # the same ticket, closer
    assert bucket.ticket(OTHER) == pytest.approx(2.5)  # behind it, not beside it
    t.now = 2.0
    assert bucket.ticket(KEY) == 0.0 and bucket.holds(KEY)
    bucket.redeem(KEY)
    assert not bucket.holds(KEY)


def test_tickets_long_past_their_time_are_dropped():
    t = FakeTime()
    bucket = TokenBucket(Rate(1, 100), t.clock, t.sleep)
    for i in range(64):
        bucket.ticket(("ns", f"db{i}"))
    t.now = budget.TICKET_GRACE_SECONDS + 10
    for i in range(63):
        bucket.ticket(("ns", f"later{i}"))
    assert bucket.holds(("ns", "db0"))  # pruned now and then, not on every ticket
    bucket.ticket(KEY)
    assert bucket.holds(KEY) and bucket.holds(("ns", "later0")) and not bucket.holds(("ns", "db0"))


@pytest.mark.parametrize(
    "scoped,taken_before,outcome",
    [
        (False, 1, ("slept", 2.0)),  # outside a pass's step (the poller): waits in place, as before
        (True, 0, ("sent", 0.0)),  # a token: sent at once
        (True, 1, ("deferred", 2.0)),  # none for 2 s: given back, the token held for the database
    ],
)
async def test_a_call_in_a_passs_step_defers_rather_than_sleeps(scoped, taken_before, outcome):
    t = FakeTime()
    budgets = Budgets(1.0, {"ecs.task-definition-modify": Rate(1, 0.5)}, clock=t.clock, sleep=t.sleep)
    for _ in range(taken_before):
        budgets.bucket("ecs.task-definition-modify").reserve()
    try:
        if scoped:
            with budget.deferring(KEY):
                _, waited = await budgets.take("ecs", "RegisterTaskDefinition")
        else:
            _, waited = await budgets.take("ecs", "RegisterTaskDefinition")
        got = ("slept" if t.slept else "sent", waited)
    except BudgetDeferred as exc:
        assert exc.wait.family == "ecs.task-definition-modify" and exc.wait.operation == "RegisterTaskDefinition"
        assert budgets.bucket("ecs.task-definition-modify").holds(KEY) and not t.slept
        got = ("deferred", exc.wait.ready_in)
    assert got[0] == outcome[0] and got[1] == pytest.approx(outcome[1])


async def test_the_deferred_call_goes_through_at_its_tickets_time_without_taking_another_token():
    t = FakeTime()
    budgets = Budgets(1.0, {"ecs.task-definition-modify": Rate(1, 0.5)}, clock=t.clock, sleep=t.sleep)
    bucket = budgets.bucket("ecs.task-definition-modify")
    bucket.reserve()
    with pytest.raises(BudgetDeferred), budget.deferring(KEY):
        await budgets.take("ecs", "RegisterTaskDefinition")
    t.now = 1.0  # woken early (another trigger): still not its turn
    with pytest.raises(BudgetDeferred) as early, budget.deferring(KEY):
        await budgets.take("ecs", "RegisterTaskDefinition")
    assert early.value.wait.ready_in == pytest.approx(1.0)
    t.now = 2.0
    with budget.deferring(KEY):
        assert await budgets.take("ecs", "RegisterTaskDefinition") == ("ecs.task-definition-modify", 0.0)
    assert not bucket.holds(KEY) and bucket.reserve() == pytest.approx(2.0)  # one token each, in order


async def test_once_a_step_has_sent_a_write_the_rest_of_it_waits_in_place():
    t = FakeTime()
    budgets = Budgets(1.0, {"ecs.service-modify": Rate(1, 0.5)}, clock=t.clock, sleep=t.sleep)
    budgets.bucket("ecs.service-modify").reserve()
    with budget.deferring(KEY):
        await budgets.take("ecs", "RegisterTaskDefinition")  # a write went out
        _, waited = await budgets.take("ecs", "CreateService")  # never left half done
    assert waited == pytest.approx(2.0) and t.slept == pytest.approx([2.0])


async def test_a_read_before_any_write_may_defer():
    t = FakeTime()
    budgets = Budgets(1.0, {"ecs.task-definition-read": Rate(1, 0.5)}, clock=t.clock, sleep=t.sleep)
    budgets.bucket("ecs.task-definition-read").reserve()
    with pytest.raises(BudgetDeferred), budget.deferring(KEY):
        await budgets.take("ecs", "DescribeTaskDefinition")


@pytest.mark.parametrize(
    "taken_before,deferred,slept",
    [(0, False, []), (1, True, [])],
)
async def test_hold_keeps_the_token_for_the_call_that_follows(taken_before, deferred, slept):
    t = FakeTime()
    budgets = Budgets(1.0, {"codebuild.build-modify": Rate(1, 0.5)}, clock=t.clock, sleep=t.sleep)
    for _ in range(taken_before):
        budgets.bucket("codebuild.build-modify").reserve()
    try:
        with budget.deferring(KEY):
            await budgets.hold("codebuild", "StartBuild")
    except BudgetDeferred:
        assert deferred
        return
    assert not deferred and budgets.bucket("codebuild.build-modify").holds(KEY)
    with budget.deferring(KEY):
        assert await budgets.take("codebuild", "StartBuild") == ("codebuild.build-modify", 0.0)
    assert t.slept == slept and budgets.bucket("codebuild.build-modify").reserve() == pytest.approx(2.0)


async def _redeem(budgets: Budgets, key) -> str:
    try:
        with budget.deferring(key):
            await budgets.take("ecs", "RegisterTaskDefinition")
    except BudgetDeferred as exc:
        return f"deferred {exc.wait.ready_in:g}"
    return "sent"


async def test_tickets_redeemed_late_go_out_at_the_pace_not_in_a_burst():
    """Five tickets taken at 0 (due 0, 0, 1, 2, 3), their passes all back at 10 (workers busy):
    the pace lets the bucket's capacity through and queues the rest one refill apart (given back,
    their tickets kept), rather than all at the first token."""
    t = FakeTime()
    budgets = Budgets(1.0, {"ecs.task-definition-modify": Rate(2, 1)}, clock=t.clock, sleep=t.sleep)
    bucket = budgets.bucket("ecs.task-definition-modify")
    keys = [("ns", f"db{i}") for i in range(5)]
    for key in keys:
        bucket.ticket(key)
    t.now = 10.0
    assert [await _redeem(budgets, key) for key in keys] == ["sent", "sent", "deferred 1", "deferred 2", "deferred 3"]
    assert all(bucket.holds(key) for key in keys[2:]) and not t.slept
    t.now = 11.0
    assert [await _redeem(budgets, key) for key in keys[2:]] == ["sent", "deferred 1", "deferred 2"]
    t.now = 12.0
    assert await _redeem(budgets, keys[3]) == "sent"
    assert not bucket.holds(keys[3]) and bucket.holds(keys[4])  # sent ones give their ticket up, the last waits


async def test_a_call_outside_a_step_waits_for_the_pace_too():
    t = FakeTime()
    budgets = Budgets(1.0, {"ecs.task-definition-modify": Rate(1, 0.5)}, clock=t.clock, sleep=t.sleep)
    budgets.bucket("ecs.task-definition-modify").ticket(KEY)
    t.now = 10.0  # the place's bucket is full again; the ticket's call goes now
    assert await _redeem(budgets, KEY) == "sent"
    _, waited = await budgets.take("ecs", "RegisterTaskDefinition")
    assert waited == pytest.approx(2.0) and t.slept == pytest.approx([2.0])


async def test_hold_gives_the_pass_back_when_the_pace_has_no_token():
    t = FakeTime()
    budgets = Budgets(1.0, {"codebuild.build-modify": Rate(1, 0.5)}, clock=t.clock, sleep=t.sleep)
    budgets.bucket("codebuild.build-modify").ticket(OTHER)
    t.now = 10.0
    with budget.deferring(OTHER):
        await budgets.take("codebuild", "StartBuild")  # its ticket, late: the pace is empty for 2 s
    with pytest.raises(BudgetDeferred) as deferred, budget.deferring(KEY):
        await budgets.hold("codebuild", "StartBuild")  # a place is free, the pace is not
    assert deferred.value.wait.ready_in == pytest.approx(2.0)
    assert budgets.bucket("codebuild.build-modify").holds(KEY) and budgets.pace("codebuild.build-modify").holds(KEY)


def test_only_reads_may_be_repeated_after_a_step_is_given_back():
    assert [f for f in FAMILIES if not budget.writes(f)] == [
        "ecs.service-read", "ecs.task-definition-read", "codebuild.build-read", "secretsmanager.read", "ecr.read",
    ]
