"""The review cache expires; the watch copy follows ADDED/MODIFIED/DELETED by uid."""

from __future__ import annotations

from kubernetes.client import ApiClient

from reflex_operator.restapi.cache import Cache
from reflex_operator.restapi.backend import TtlCache


def test_review_answers_are_reused_until_they_expire() -> None:
    now = [0.0]
    calls: list[int] = []
    cache = TtlCache(10, clock=lambda: now[0])
    ask = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert cache.get("k", ask) == 1 and cache.get("k", ask) == 1
    now[0] = 10.5
    assert cache.get("k", ask) == 2 and cache.get("other", ask) == 3


def test_a_full_review_cache_forgets_rather_than_grows() -> None:
    cache = TtlCache(60, size=2, clock=lambda: 0.0)
    for k in range(5):
        cache.get(k, lambda: k)
    assert len(cache._d) <= 2


def test_watch_events_update_the_copy_by_uid() -> None:
    c = Cache(ApiClient())  # no request is made until start()
    obj = {"metadata": {"uid": "u1", "name": "a", "resourceVersion": "1"}}
    c.databases.apply("ADDED", obj)
    c.databases.apply("MODIFIED", {"metadata": {"uid": "u1", "name": "a", "resourceVersion": "2"}})
    assert c.by_uid("u1")["metadata"]["resourceVersion"] == "2" and len(c.objects()) == 1
    c.databases.apply("DELETED", obj)
    assert c.by_uid("u1") is None and c.objects() == []


def test_plans_are_kept_by_name() -> None:
    c = Cache(ApiClient())
    c.plans.apply("ADDED", {"metadata": {"name": "team", "uid": "p1"}, "spec": {"allowedSyncModes": ["poll"]}})
    assert c.plan("team")["spec"]["allowedSyncModes"] == ["poll"] and c.plan("other") is None
    c.plans.apply("DELETED", {"metadata": {"name": "team"}})
    assert c.plan("team") is None


def test_an_expired_watch_lists_again_from_a_fresh_resource_version() -> None:
    from kubernetes.client.exceptions import ApiException

    c = Cache(ApiClient()).databases
    listed: list[str] = []
    watched: list[str] = []

    def fake_list() -> str:
        listed.append(str(len(listed) + 1))
        return listed[-1]

    def fake_watch(rv: str) -> None:
        watched.append(rv)
        if len(watched) == 1:
            raise ApiException(status=410, reason="Gone")
        c.stop()

    c._list, c._watch = fake_list, fake_watch  # type: ignore[method-assign]
    c.run()
    assert watched == ["1", "2"], "the second watch starts from the second list's resourceVersion"
