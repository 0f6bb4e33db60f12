"""Shard assignment as tables: the stable hash of a uid, each replica's aim, and one round's lease writes."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import uuid

import pytest

from reflex_operator.ha.lease import LeaseRecord, LeaseView, Tenure
from reflex_operator.ha.shards import Round, aim, live_members, member_lease, lease_round, shard_lease, shard_of


def test_shard_of_is_a_stable_hash_of_the_uid():
    # Fixed values: a change of the hash would move every resource to another replica.
    assert [shard_of("6f1c2a9e-0000-4000-8000-000000000001", n) for n in (1, 2, 3, 8)] == [0, 0, 0, 2]
    assert shard_of("anything", 1) == 0
    # Not Python's hash(): the same in another process with another hash seed.
    code = "from reflex_operator.ha.shards import shard_of; print(shard_of('6f1c2a9e-0000-4000-8000-000000000001', 7))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert int(out) == shard_of("6f1c2a9e-0000-4000-8000-000000000001", 7)


def test_shards_spread_evenly():
    counts = collections.Counter(shard_of(str(uuid.UUID(int=i * 7919 + 1)), 4) for i in range(4000))
    assert set(counts) == {0, 1, 2, 3}
    assert all(900 < c < 1100 for c in counts.values()), counts


def test_lease_names():
    assert shard_lease("reflex-operator", 0, 1) == "reflex-operator"
    assert shard_lease("reflex-operator", 2, 4) == "reflex-operator-shard-2"
    assert member_lease("reflex-operator", "pod-a-1f2e") == "reflex-operator-member-pod-a-1f2e"


AIM = [
    ("alone: everything", ["a"], "a", 4, 4),
    ("two, even", ["a", "b"], "a", 4, 2),
    ("two, odd: the first by name gets the extra", ["a", "b"], "a", 3, 2),
    ("two, odd: the second", ["a", "b"], "b", 3, 1),
    ("three of five", ["a", "b", "c"], "c", 5, 1),
    ("more replicas than shards", ["a", "b", "c"], "c", 2, 0),
    ("one shard: everyone aims at it", ["a"], "a", 1, 1),
]


@pytest.mark.parametrize("what,members,me,shards,expected", AIM, ids=[c[0] for c in AIM])
def test_aim(what, members, me, shards, expected):
    assert aim(me, members, shards) == expected


def test_aims_add_up_to_the_shards():
    for n in range(1, 10):
        for r in range(1, 6):
            members = [f"m{i}" for i in range(r)]
            aims = [aim(m, members, n) for m in members]
            assert sum(aims) == n and max(aims) - min(aims) <= 1


def held_by(holder: str | None, observed_at: float = 100.0) -> LeaseView:
    return LeaseView("x", None if holder is None else LeaseRecord(holder, 15, None, None, 0), "1", observed_at)


def test_live_members():
    members = [held_by("b"), held_by("c", observed_at=50.0), held_by("")]
    assert live_members("a", members, now=100.0) == ["a", "b"]  # c expired at 65, "" is nobody
    assert live_members("a", [], now=0.0) == ["a"]


NOW = 100.0
ME = "a"
PLAN = [
    ("alone, nothing held: take all free", 3, {}, {}, ["a"], Round(acquire=(0, 1, 2))),
    ("one shard, free", 1, {0: held_by(None)}, {}, ["a"], Round(acquire=(0,))),
    ("one shard, held by another", 1, {0: held_by("b")}, {}, ["a"], Round()),
    ("one shard, another's expired", 1, {0: held_by("b", observed_at=80.0)}, {}, ["a"], Round(acquire=(0,))),
    ("one shard, ours: renew", 1, {0: held_by("a")}, {0: Tenure(99.0)}, ["a"], Round(renew=(0,))),
    ("ours, but another holds it now: lost", 1, {0: held_by("b")}, {0: Tenure(99.0)}, ["a"], Round(lost=(0,))),
    ("ours, renew deadline passed: lost", 1, {0: held_by("a")}, {0: Tenure(89.0)}, ["a"], Round(lost=(0,))),
    ("ours, the lease was deleted: lost", 1, {}, {0: Tenure(99.0)}, ["a"], Round(lost=(0,))),
    ("a second replica joined: give up the highest", 4,
     {i: held_by("a") for i in range(4)}, {i: Tenure(99.0) for i in range(4)}, ["a", "b"], Round(renew=(0, 1), release=(2, 3))),
    ("the newcomer takes what was given up", 4,
     {0: held_by("b"), 1: held_by("b"), 2: held_by(""), 3: held_by("")}, {}, ["a", "b"], Round(acquire=(2, 3))),
    ("the newcomer waits while all are held", 4, {i: held_by("b") for i in range(4)}, {}, ["a", "b"], Round()),
    ("a dead replica's shards expire: take up to the aim", 4,
     {0: held_by("a"), 1: held_by("a"), 2: held_by("b", 80.0), 3: held_by("b", 80.0)},
     {0: Tenure(99.0), 1: Tenure(99.0)}, ["a"], Round(renew=(0, 1), acquire=(2, 3))),
    ("at the aim: a free shard is left to the one below it", 4,
     {0: held_by("a"), 1: held_by("a"), 2: held_by(""), 3: held_by("b")},
     {0: Tenure(99.0), 1: Tenure(99.0)}, ["a", "b"], Round(renew=(0, 1))),
    # Stepped down after an outage (no tenure any more), the record still names it: take it back.
    ("stepped down, the lease still names it: take it back", 1, {0: held_by("a", observed_at=10.0)}, {}, ["a"], Round(acquire=(0,))),
    ("stepped down, another took it meanwhile: wait", 1, {0: held_by("b")}, {}, ["a"], Round()),
]


@pytest.mark.parametrize("what,shards,views,held,members,expected", PLAN, ids=[c[0] for c in PLAN])
def test_plan(what, shards, views, held, members, expected):
    assert lease_round(ME, shards, views, held, sorted(members), NOW, renew_deadline=10.0) == expected


# Not campaigning (not ready to act yet, or stopping): renew and give up as usual, take nothing.
NOT_CAMPAIGNING = [
    ("free lease: not taken", 1, {0: held_by("")}, {}, Round()),
    ("no lease yet: not created", 1, {}, {}, Round()),
    ("another's expired: not taken", 1, {0: held_by("b", observed_at=80.0)}, {}, Round()),
    ("ours: still renewed", 1, {0: held_by("a")}, {0: Tenure(99.0)}, Round(renew=(0,))),
    ("ours, deadline passed: lost", 1, {0: held_by("a")}, {0: Tenure(89.0)}, Round(lost=(0,))),
    ("several: renew the held, take no free", 3, {0: held_by("a"), 1: held_by(""), 2: held_by("")}, {0: Tenure(99.0)}, Round(renew=(0,))),
]


@pytest.mark.parametrize("what,shards,views,held,expected", NOT_CAMPAIGNING, ids=[c[0] for c in NOT_CAMPAIGNING])
def test_plan_without_campaigning(what, shards, views, held, expected):
    assert lease_round(ME, shards, views, held, [ME], NOW, renew_deadline=10.0, campaign=False) == expected
