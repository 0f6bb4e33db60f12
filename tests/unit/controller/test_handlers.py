"""The kopf handlers, called directly with dict events and a memo holding a Runtime over the
in-memory world: the body bookkeeping (resourceVersions are opaque; the operator's own write is
not overwritten by older events), the Secret index, the probe, startup and cleanup, the wiring."""

from __future__ import annotations

import asyncio
import copy
import time

import kopf
import pytest
from botocore.exceptions import ClientError

from reflex_operator.aws.clients import AwsCallError
from reflex_operator.controller import handlers, wiring
from reflex_operator.controller.runtime import WRITE_WAIT_SECONDS, Entry, SecretMeta
from reflex_operator.settings import Settings
from tests.unit.world import UID, World, at_once

KEY = ("team-a", "orders")


def body(version: str, uid: str = UID, phase: str | None = None, secret: str = "db") -> dict:
    return {
        "metadata": {"namespace": "team-a", "name": "orders", "uid": uid, "resourceVersion": version},
        "spec": {"source": {"secretRef": {"name": secret}}},
        "status": {"phase": phase} if phase else {},
    }


def memo_with_runtime() -> tuple[kopf.Memo, World]:
    w = World()
    memo = kopf.Memo()
    memo.runtime = w.runtime()
    return memo, w


def deliver(memo, kind: str | None, obj: dict) -> None:
    at_once(handlers.on_database(event={"type": kind, "object": obj}, memo=memo))


def drain(rt) -> list:
    keys = []
    while len(rt.queue):
        keys.append(rt.queue._pop())
    return keys


def test_a_new_resource_is_kept_and_queued():
    memo, _ = memo_with_runtime()
    rt = memo.runtime
    deliver(memo, "ADDED", body("a1"))
    assert rt.resources[KEY].body["metadata"]["resourceVersion"] == "a1"
    assert drain(rt) == [KEY]


def test_every_event_is_taken_when_the_operator_wrote_nothing():
    memo, _ = memo_with_runtime()
    rt = memo.runtime
    deliver(memo, "ADDED", body("9"))
    deliver(memo, "MODIFIED", body("10"))
    deliver(memo, "MODIFIED", body("x-3"))  # opaque: no ordering is read into it
    assert rt.resources[KEY].body["metadata"]["resourceVersion"] == "x-3"


def test_events_older_than_our_write_do_not_overwrite_it():
    memo, _ = memo_with_runtime()
    rt = memo.runtime
    deliver(memo, "ADDED", body("r1"))
    drain(rt)
    written = body("r3", phase="Building")
    rt.resources[KEY].wrote(written, time.monotonic())
    deliver(memo, "MODIFIED", body("r2"))  # from before our write (e.g. the finalizer patch)
    assert rt.resources[KEY].body == written and drain(rt) == []
    deliver(memo, "MODIFIED", copy.deepcopy(written))  # our own write comes back
    assert rt.resources[KEY].written is None and drain(rt) == [KEY]
    deliver(memo, "MODIFIED", body("r4"))  # someone else's later change
    assert rt.resources[KEY].body["metadata"]["resourceVersion"] == "r4"


def test_a_newer_spec_is_never_ignored_while_our_write_is_awaited():
    memo, _ = memo_with_runtime()
    rt = memo.runtime
    deliver(memo, "ADDED", body("r1"))
    drain(rt)
    written = body("r3", phase="Paused")
    written["metadata"]["generation"] = 2
    rt.resources[KEY].wrote(written, time.monotonic())
    user = body("r4")  # the user's change, delivered before our write came back
    user["metadata"]["generation"] = 3
    user["spec"]["paused"] = False
    deliver(memo, "MODIFIED", user)
    entry = rt.resources[KEY]
    assert entry.spec["paused"] is False and entry.status == {"phase": "Paused"} and drain(rt) == [KEY]
    assert entry.written == "r3"  # still awaited


def test_a_listing_is_always_taken():
    memo, _ = memo_with_runtime()
    rt = memo.runtime
    deliver(memo, "ADDED", body("r1"))
    rt.resources[KEY].wrote(body("r3"), time.monotonic())
    deliver(memo, None, body("r5"))  # a re-list after the watch restarted: the current state
    assert rt.resources[KEY].body["metadata"]["resourceVersion"] == "r5"
    assert rt.resources[KEY].written is None


def test_a_lost_event_does_not_freeze_the_entry():
    memo, _ = memo_with_runtime()
    rt = memo.runtime
    deliver(memo, "ADDED", body("r1"))
    rt.resources[KEY].wrote(body("r3"), time.monotonic() - WRITE_WAIT_SECONDS - 1)
    deliver(memo, "MODIFIED", body("r4"))
    assert rt.resources[KEY].body["metadata"]["resourceVersion"] == "r4"


def test_a_recreated_resource_starts_over():
    memo, _ = memo_with_runtime()
    rt = memo.runtime
    deliver(memo, "ADDED", body("r1"))
    rt.resources[KEY].wrote(body("r3"), time.monotonic())
    rt.resources[KEY].last_error = "boom"
    deliver(memo, "ADDED", body("r9", uid="another-uid"))
    entry = rt.resources[KEY]
    assert entry.uid == "another-uid" and entry.written is None and entry.last_error is None


async def test_deleted_forgets_everything_about_the_resource():
    memo, _ = memo_with_runtime()
    rt = memo.runtime
    deliver(memo, "ADDED", body("r1"))
    rt.health[KEY] = object()  # type: ignore[assignment]
    rt.queue.retry(KEY)
    deliver(memo, "DELETED", body("r2"))
    assert KEY not in rt.resources and KEY not in rt.health
    assert rt.queue.failures(KEY) == 0 and not rt.queue._timers


def test_secrets_are_indexed_without_their_data_and_wake_their_users():
    memo, _ = memo_with_runtime()
    rt = memo.runtime
    deliver(memo, "ADDED", body("r1", secret="db"))
    drain(rt)
    secret = {"metadata": {"namespace": "team-a", "name": "db", "resourceVersion": "s7"}, "data": {"url": "cG9zdGdyZXM6Ly8="}, "stringData": {"dsn": "x"}}
    at_once(handlers.on_secret(event={"type": "ADDED", "object": secret}, memo=memo))
    assert rt.secret_index[("team-a", "db")] == SecretMeta("s7", frozenset({"url", "dsn"}))
    assert "cG9zdGdyZXM6Ly8=" not in repr(rt.secret_index)
    assert drain(rt) == [KEY]
    other = {"metadata": {"namespace": "team-a", "name": "other", "resourceVersion": "s1"}}
    at_once(handlers.on_secret(event={"type": "ADDED", "object": other}, memo=memo))
    assert drain(rt) == []
    at_once(handlers.on_secret(event={"type": "DELETED", "object": secret}, memo=memo))
    assert rt.secret_index[("team-a", "db")] is None and drain(rt) == [KEY]


def test_the_queued_probe():
    memo, _ = memo_with_runtime()
    assert handlers.queued(memo=kopf.Memo()) == 0
    deliver(memo, "ADDED", body("r1"))
    assert handlers.queued(memo=memo) == 1


async def test_startup_wires_and_cleanup_stops(monkeypatch):
    w = World()
    rt = w.runtime()
    rt.settings = Settings(workers=3, leader_election=False)
    served: list[int] = []

    async def build(settings):
        return rt

    monkeypatch.setattr(wiring, "build_runtime", build)
    monkeypatch.setattr(rt.metrics, "serve", served.append)
    memo = kopf.Memo()
    settings = kopf.OperatorSettings()
    await handlers.startup(settings=settings, memo=memo)
    assert memo.runtime is rt and served == [Settings().metrics_port]
    assert len(rt.tasks) == 3 + 2  # the workers, the poller, the resync
    assert settings.watching.server_timeout == 270 and settings.posting.level > 40
    tasks = list(rt.tasks)
    await handlers.cleanup(memo=memo)
    assert all(t.done() for t in tasks) and rt.tasks == []
    await handlers.cleanup(memo=kopf.Memo())  # before startup finished: nothing to stop


async def test_stop_cancels_events_that_do_not_finish():
    w = World()
    rt = w.runtime()
    started = asyncio.Event()

    async def hang(*args):
        started.set()
        await asyncio.sleep(3600)

    w.kube.post_event = hang  # type: ignore[method-assign]
    from reflex_operator.database import steps as s

    rt.post({"metadata": {}}, [s.Event("Deployed", "x")])
    await started.wait()
    await wiring.stop(rt, grace=0.01)
    assert not rt.posting


async def test_a_failed_event_is_logged_not_raised(caplog):
    w = World()
    rt = w.runtime()

    async def refuse(*args):
        raise RuntimeError("forbidden")

    w.kube.post_event = refuse  # type: ignore[method-assign]
    from reflex_operator.database import steps as s

    rt.post({"metadata": {}}, [s.Event("Deployed", "x")])
    await rt.flush_events()
    await asyncio.sleep(0)  # the done-callbacks run on the next loop turn
    assert not rt.posting and "could not post an event: forbidden" in caplog.text


async def test_build_runtime_wires_the_real_adapters(monkeypatch):
    async def no_repository(aws, name):
        raise AwsCallError("ecr", "DescribeRepositories", ClientError({"Error": {"Code": "RepositoryNotFoundException"}}, "DescribeRepositories"))

    monkeypatch.setattr(wiring.ecr, "repository_uri", no_repository)
    monkeypatch.setattr(wiring, "Kube", lambda: "kube")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    settings = Settings(workers=2, retry_base_seconds=1, retry_max_seconds=8, retry_jitter=0)
    rt = await wiring.build_runtime(settings)
    assert rt.config.image_repository_uri == "000000000000.dkr.ecr.eu-west-1.amazonaws.com/reflex-server"
    assert rt.kube == "kube" and type(rt.ecs).__name__ == "Ecs" and type(rt.codebuild).__name__ == "CodeBuild"
    assert [rt.queue.backoff.delay(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 8]
    await rt.dataplane.close()


@pytest.mark.parametrize("field,value", [("workers", 0), ("resync_seconds", 0), ("retry_jitter", 1.0)])
def test_work_queue_settings_are_bounded(field, value):
    with pytest.raises(ValueError):
        Settings(**{field: value})


def test_entry_properties_tolerate_missing_sections():
    entry = Entry(body={"metadata": {"uid": "u"}})
    assert entry.uid == "u" and entry.spec == {} and entry.status == {}


async def test_flush_can_cancel_events_still_being_posted():
    w = World()
    rt = w.runtime()

    async def hang(*args):
        await asyncio.sleep(3600)

    w.kube.post_event = hang  # type: ignore[method-assign]
    from reflex_operator.database import steps as s

    rt.post({"metadata": {}}, [s.Event("Deployed", "x"), s.Event("Paused", "y")])
    tasks = list(rt.posting)
    await rt.flush_events(cancel=True)
    assert all(t.cancelled() for t in tasks)


def test_a_watch_that_overtakes_the_write_answer_is_not_undone():
    """The watch can deliver the operator's own write, and a user's change after it, before the
    write's answer arrives: the answer must not put the older body back (the user's change would
    be lost until the next resync)."""
    memo, _ = memo_with_runtime()
    rt = memo.runtime
    deliver(memo, None, body("r1"))
    deliver(memo, "MODIFIED", body("r2", phase="Building"))  # our status write, via the watch
    deliver(memo, "MODIFIED", body("r3", phase="Building", secret="db2"))  # then the user's change
    drain(rt)
    rt.resources[KEY].wrote(body("r2", phase="Building"), time.monotonic())  # the write's answer, late
    entry = rt.resources[KEY]
    assert entry.body["metadata"]["resourceVersion"] == "r3" and entry.spec["source"]["secretRef"]["name"] == "db2"
    assert entry.written is None
