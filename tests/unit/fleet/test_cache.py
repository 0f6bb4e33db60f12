"""The rollout cache never goes back behind the leader's own write: a watch event older than the
write (the API server delivers every version, in order, after the write's answer came) is not taken,
a newer spec is (with the status written), and a listing always is."""

from __future__ import annotations

from reflex_operator.fleet.cache import RolloutCache


def body(version: str, generation: int = 1, paused: bool = False, waves: int = 0, scope: str = "cluster") -> dict:
    return {
        "metadata": {"name": "server-v2", "resourceVersion": version, "generation": generation, "labels": {"reflexdb.cloud/scope": scope}},
        "spec": {"serverVersion": "v2", "paused": paused},
        "status": {"phase": "Progressing", "wave": waves,
                   "waves": [{"number": i + 1, "databases": [f"ns/db-{i}"], "startedAt": "2026-12-05T12:00:00Z"} for i in range(waves)]},
    }


def test_a_watch_event_older_than_our_write_is_not_taken():
    cache = RolloutCache()
    cache.seen(body("10", waves=1))
    assert cache.seen(body("12", generation=2, paused=True, waves=2), own=True) == ({"ns/db-1"}, False)
    assert cache.seen(body("11", generation=1, waves=1)) == (set(), False)  # before the user's pause: stale
    assert cache.rollouts["server-v2"].spec.paused and len(cache.rollouts["server-v2"].status.waves) == 2
    cache.seen(body("12", generation=2, paused=True, waves=2))  # our write comes back on the watch
    cache.seen(body("13", generation=3, paused=False, waves=2))  # the user's resume: taken
    assert not cache.rollouts["server-v2"].spec.paused


def test_a_newer_spec_is_taken_with_the_status_written():
    cache = RolloutCache()
    cache.seen(body("10", generation=1, waves=1), own=True)
    cache.seen(body("11", generation=2, paused=True, waves=0))  # the user's pause, seen before our write's own event
    known = cache.rollouts["server-v2"]
    assert known.spec.paused and len(known.status.waves) == 1


def test_an_answer_the_watch_overtook_is_not_taken_and_a_listing_always_is():
    cache = RolloutCache()
    cache.seen(body("11", waves=1))  # our write's own version, on the watch before its answer ...
    cache.seen(body("12", generation=2, paused=True, waves=1))  # ... and the user's pause after it
    assert cache.seen(body("11", waves=1), own=True) == (set(), False)  # the late answer changes nothing
    assert cache.rollouts["server-v2"].spec.paused
    cache.seen(body("12", waves=1), own=True)
    cache.seen(body("13", generation=3, waves=3), listing=True)  # a listing is the current state
    assert len(cache.rollouts["server-v2"].status.waves) == 3


def test_another_installations_rollouts_are_not_kept():
    cache = RolloutCache(scope="team-a")
    assert cache.seen(body("1", scope="cluster")) == (set(), False) and cache.rollouts == {}
    assert cache.seen(body("1", scope="team-a", waves=1)) == ({"ns/db-0"}, True)
