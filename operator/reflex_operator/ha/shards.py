"""Which replica acts on which resource: shards, their Leases, and what one replica does with the
leases in one round (no I/O).

- A resource's shard is a stable hash of its uid (sha256, the first 8 bytes mod N): the same on
  every replica and across restarts (never Python's ``hash()``, which is salted per process).
- Without sharding (N = 1) there is one Lease, named after the installation (``reflex-operator``);
  with N > 1 shard i has the Lease ``<name>-shard-<i>``.
- With N > 1 every replica also renews a *member* Lease of its own (``<name>-member-<identity>``),
  so the others can count it before it holds any shard. The live members, sorted by identity,
  share the shards evenly: the member of rank r aims at ``N // R`` shards, plus one if
  ``r < N % R`` (R live members; so each holds ⌊N/R⌋ or ⌈N/R⌉ and the aims add up to N).
- Each round a replica keeps the shards it holds (renewing them), gives up the highest-numbered
  ones it holds beyond its aim, and takes free or expired ones, lowest-numbered first, up to its
  aim. A dead replica's member and shard leases expire together, so the others' aims grow just as
  its shards become free.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reflex_operator.ha.lease import LeaseView, Tenure, expired, leading, may_acquire

__all__ = ["shard_of", "shard_lease", "member_lease", "aim", "live_members", "Round", "lease_round"]

MEMBER = "-member-"


def shard_of(uid: str, shards: int) -> int:
    """The shard of a resource: stable across processes, replicas and restarts."""
    if shards <= 1:
        return 0
    return int.from_bytes(hashlib.sha256(uid.encode()).digest()[:8], "big") % shards


def shard_lease(base: str, shard: int, shards: int) -> str:
    """The Lease name of a shard (the installation's name itself when there is one shard)."""
    return base if shards <= 1 else f"{base}-shard-{shard}"


def member_lease(base: str, identity: str) -> str:
    return f"{base}{MEMBER}{identity}"


def live_members(me: str, members: Iterable[LeaseView], now: float) -> list[str]:
    """The identities holding an unexpired member Lease, and ``me`` (always counted), sorted."""
    alive = {v.record.holder for v in members if v.record is not None and v.record.holder and not expired(v, now)}
    return sorted(alive | {me})


def aim(me: str, members: list[str], shards: int) -> int:
    """How many shards ``me`` should hold among the sorted live ``members``."""
    count = max(len(members), 1)
    rank = members.index(me) if me in members else count - 1
    return shards // count + (1 if rank < shards % count else 0)


@dataclass(frozen=True)
class Round:
    """One round's lease writes: renew what is kept, take what is free up to the aim, give up the
    excess. ``lost``: shards this replica thought it held but no longer does (another replica
    holds the lease now, or the renew deadline passed)."""

    renew: tuple[int, ...] = ()
    acquire: tuple[int, ...] = ()
    release: tuple[int, ...] = ()
    lost: tuple[int, ...] = ()


def lease_round(
    me: str,
    shards: int,
    views: Mapping[int, LeaseView],
    held: Mapping[int, Tenure],
    members: list[str],
    now: float,
    renew_deadline: float,
    campaign: bool = True,
) -> Round:
    """What ``me`` does with the shard leases this round. ``views``: the shard leases as read
    (a shard without a view has no Lease yet); ``held``: this replica's tenures; ``campaign``:
    whether it may take shards it does not hold (``lease.campaigning``: ready and not stopping).
    A replica that stepped down (its tenure lapsed) takes its shard back like any free one."""
    lost, kept = [], []
    for shard in sorted(held):
        view = views.get(shard)
        holder = view.record.holder if view is not None and view.record is not None else None
        if holder != me or not leading(held[shard], now, renew_deadline):
            lost.append(shard)
        else:
            kept.append(shard)
    target = aim(me, members, shards)
    release = kept[target:] if len(kept) > target else []
    renew = kept[: len(kept) - len(release)]
    free = [
        s for s in range(shards)
        if s not in held and (s not in views or may_acquire(views[s], me, now))
    ]
    acquire = free[: max(target - len(renew), 0)] if campaign else []
    return Round(renew=tuple(renew), acquire=tuple(acquire), release=tuple(release), lost=tuple(lost))
