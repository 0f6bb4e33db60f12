"""One reconcile pass (reflex_operator.controller.reconcile) against the in-memory world: the finalizer,
the merge of acted and observed state, the status write and the body it keeps, first looks."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from reflex_operator.api.models import HealthStatus, Phase, Replication
from reflex_operator.database.inputs import HealthSample, Observation, ObservedBuild, ObservedService, SecretState
from reflex_operator.database.inputs import BuildOutcome, ServiceState
from reflex_operator.database import steps as s
from reflex_operator.database.identity import identity_names
from reflex_operator.kube.client import FINALIZER
from reflex_operator.controller.reconcile import FIRST_LOOK, ReconcileError, _act, _Acted, _merge, observe, reconcile
from reflex_operator.controller.runtime import Entry, SecretMeta
from tests.unit.world import T0, UID, World, deliver, one_pass, resource, settle

KEY = ("team-a", "orders")


def _build(cid: str, outcome: BuildOutcome) -> ObservedBuild:
    return ObservedBuild(codebuild_id=cid, input_hash="h", outcome=outcome)


def _service(state: ServiceState = ServiceState.ACTIVE, running: int = 1) -> ObservedService:
    return ObservedService("svc", "arn:svc", state, "arn:td:1", "h", 1, running)


def test_merge_prefers_what_acting_revealed():
    sample = HealthSample(HealthStatus.OK, T0, replication=Replication.RUNNING)
    observed = Observation(
        secret=SecretState(exists=True, has_key=True),
        builds=(_build("p:1", BuildOutcome.SUCCEEDED), _build("p:2", BuildOutcome.IN_PROGRESS)),
        service=_service(),
        health=sample,
        aws_secret_arn="arn:old",
    )
    paused = replace(sample, replication=Replication.PAUSED)
    acted = _Acted(builds=[_build("p:2", BuildOutcome.STOPPED), _build("p:3", BuildOutcome.QUEUED)], secret_arn="arn:new", health=paused)
    merged = _merge(observed, acted)
    assert {b.codebuild_id: b.outcome for b in merged.builds} == {
        "p:1": BuildOutcome.SUCCEEDED,
        "p:2": BuildOutcome.STOPPED,
        "p:3": BuildOutcome.QUEUED,
    }
    assert merged.aws_secret_arn == "arn:new" and merged.health == paused
    assert merged.service == observed.service  # acting did not touch the service
    assert merged.secret == observed.secret


def test_merge_takes_a_changed_service_even_when_it_is_gone():
    observed = Observation(secret=SecretState(exists=True), service=_service(), aws_secret_arn="arn:s")
    assert _merge(observed, _Acted(service=None, service_changed=True)).service is None
    draining = _service(ServiceState.DRAINING, running=0)
    merged = _merge(observed, _Acted(service=draining, service_changed=True))
    assert merged.service == draining and merged.aws_secret_arn == "arn:s" and merged.health is None


async def test_first_pass_only_adds_the_finalizer():
    w = World()
    rt, key = deliver(w, resource())
    w.kube.objects[key]["metadata"]["finalizers"] = ["other/finalizer"]
    rt.resources[key] = Entry(body=w.kube.objects[key])
    await reconcile(rt, key)
    assert w.kube.objects[key]["metadata"]["finalizers"] == ["other/finalizer", FINALIZER]
    assert w.calls == [] and w.kube.status_writes == 0


async def test_nothing_is_owed_when_deleting_without_our_finalizer():
    w = World()
    rt, key = deliver(w, resource(deleting=True))
    entry = rt.resources[key]
    entry.body = {**entry.body, "metadata": {**entry.meta, "finalizers": []}}
    await reconcile(rt, key)
    assert w.calls == [] and w.kube.status_writes == 0 and not w.released


async def test_an_unknown_resource_is_skipped():
    w = World()
    rt = w.runtime()
    await reconcile(rt, KEY)
    assert w.calls == []


async def test_the_written_body_is_kept_with_its_version():
    w = World()
    rt, key = deliver(w, resource())
    await reconcile(rt, key)
    await rt.flush_events()
    stored = w.kube.objects[key]
    entry = rt.resources[key]
    assert w.kube.status_writes == 2  # the build intent before StartBuild, then the pass's status
    assert entry.body == stored and entry.written == stored["metadata"]["resourceVersion"]
    assert entry.status["phase"] == Phase.BUILDING.value
    # A second pass before the watch catches up works from the written body: no second build.
    await reconcile(rt, key)
    assert w.start_build_calls == 1 and [type(c) for c in w.calls if not isinstance(c, s.Event)] == [s.PutSecret, s.StartBuild]


def test_a_settled_pass_writes_nothing():
    w = World()
    d, _ = settle(w, resource())
    writes = w.kube.status_writes
    d, p = one_pass(w, d)
    assert w.kube.status_writes == writes and p.steps == ()


async def test_a_secret_that_vanished_before_it_was_read_fails_the_pass():
    w = World(secret=SecretState(exists=False))
    rt, key = deliver(w, resource())
    rt.secret_index[("team-a", "db")] = SecretMeta("7", frozenset({"url"}))  # the watch lags behind
    with pytest.raises(ReconcileError, match="disappeared"):
        await reconcile(rt, key)


async def test_a_secret_not_seen_on_the_watch_is_read_once():
    w = World()
    rt, key = deliver(w, resource())
    rt.secret_index.clear()
    desired_state = await observe(rt, _desired(rt, key))
    assert desired_state.secret == SecretState(exists=True, has_key=True, resource_version="1")
    assert rt.secret_index[("team-a", "db")] == SecretMeta("1", frozenset({"url", "dsn"}))


async def test_unknown_services_are_looked_up_together():
    w = World()
    rt = w.runtime()
    asked: list[list[str]] = []
    describe = w.ecs.describe

    async def counting(names: list[str], cluster: str | None = None):
        asked.append(list(names))
        return await describe(names, cluster)

    w.ecs.describe = counting  # type: ignore[method-assign]
    for i in range(120):
        d = replace(resource(), name=f"db{i}", uid=f"{UID[:-3]}{i:03d}")
        rt.resources[(d.namespace, d.name)] = Entry(body=w.kube.put(d))
    first = replace(resource(), name="db0", uid=f"{UID[:-3]}000")
    await observe(rt, first)
    # Up to 100 (DescribeServices asks 10 a call), so that their builds go in one BatchGetBuilds.
    assert len(asked) == 1 and len(asked[0]) == FIRST_LOOK == 100
    assert asked[0][0] == identity_names("default", "team-a", "db0", "reflexdb/").service
    await observe(rt, first)  # known now (as missing): not asked again
    assert len(asked) == 1


def _running(name: str, cluster: str) -> ObservedService:
    return ObservedService(name, f"arn:aws:ecs:us-east-1:123456789012:service/{cluster}/{name}", ServiceState.ACTIVE,
                           f"arn:aws:ecs:us-east-1:123456789012:task-definition/{name}:1", "h", 1, 1, build_id=f"build:{name}")


async def test_a_first_look_on_several_clusters_asks_the_others_in_batches_and_fetches_the_builds_once():
    """A rebuilt cluster's databases own nothing yet and have no cluster: those not on the default
    cluster are looked for on the others in the first look's batch (not one DescribeServices per
    database and cluster), and the builds of all they run go in one BatchGetBuilds."""
    w = World(clusters=("reflex", "reflex-2"))
    rt = w.runtime()
    name = {i: identity_names("default", "team-a", f"db{i}", "reflexdb/").service for i in range(12)}
    on_second = {name[i] for i in range(12) if i % 2}
    asked: list[tuple[str | None, list[str]]] = []
    builds_asked: list[list[str]] = []

    async def describe(names: list[str], cluster: str | None = None):
        asked.append((cluster, list(names)))
        return {n: _running(n, cluster or "reflex") if (n in on_second) == (cluster == "reflex-2") else None for n in names}

    async def get(ids: list[str]):
        builds_asked.append(sorted(ids))
        return {i: _build(i, BuildOutcome.SUCCEEDED) for i in ids}

    w.ecs.describe = describe  # type: ignore[method-assign]
    w.codebuild.get = get  # type: ignore[method-assign]
    for i in range(12):
        d = replace(resource(), name=f"db{i}", uid=f"{UID[:-2]}{i:02d}")
        rt.resources[(d.namespace, d.name)] = Entry(body=w.kube.put(d))
        rt.secret_index[(d.namespace, "db")] = w.secret_meta()

    one = await observe(rt, replace(resource(), name="db1", uid=f"{UID[:-2]}01"))
    assert [cluster for cluster, _ in asked] == ["reflex", "reflex-2"]
    assert asked[0][1][0] == name[1] and sorted(asked[0][1]) == sorted(name.values()) and sorted(asked[1][1]) == sorted(on_second)
    assert builds_asked == [sorted(f"build:{name[i]}" for i in range(12))]
    assert one.found_on == "reflex-2" and one.service is not None and one.service.name == name[1]
    three = await observe(rt, replace(resource(), name="db3", uid=f"{UID[:-2]}03"))
    zero = await observe(rt, replace(resource(), name="db0", uid=f"{UID[:-2]}00"))
    assert len(asked) == 2 and len(builds_asked) == 1  # answered by the first look's batches
    assert three.found_on == "reflex-2" and zero.found_on is None and zero.service is not None and zero.service.name == name[0]
    assert (name[3], "reflex-2") not in rt.elsewhere  # each answer used once
    again = await observe(rt, replace(resource(), name="db3", uid=f"{UID[:-2]}03"))  # the service is known now
    assert len(asked) == 2 and again.service is not None and again.service.arn.endswith(f"service/reflex-2/{name[3]}")


async def test_an_unknown_step_is_refused():
    w = World()
    rt, key = deliver(w, resource())
    with pytest.raises(ReconcileError, match="unknown step"):
        await _act(rt, _desired(rt, key), (s.Step(),), "reflex")


async def test_pause_replication_without_a_sample_keeps_none():
    w = World()
    rt, key = deliver(w, resource())
    acted = await _act(rt, _desired(rt, key), (s.PauseReplication("http://x"),), "reflex")
    assert acted.health is None and w.replication is Replication.PAUSED


def test_release_forgets_the_metrics_and_posts_the_events():
    w = World()
    d, _ = settle(w, resource({"deletionPolicy": "Retain"}))
    rt, key = deliver(w, replace(d, deleting=True))
    rt.metrics.observe_status(*key, d.status)
    w.calls.clear()

    async def go() -> None:
        await reconcile(rt, key)
        await rt.flush_events()

    asyncio.run(go())
    assert w.released and rt.metrics.registry.get_sample_value("reflexdb_phase", {"namespace": "team-a", "name": "orders", "phase": "Running"}) is None
    assert [type(c) for c in w.calls] == [s.ReleaseFinalizer, s.Event]


def _desired(rt, key):
    from reflex_operator.controller.reconcile import _desired as desired_of

    return desired_of(rt.resources[key])


async def test_a_running_build_not_polled_yet_is_asked_for():
    w = World()
    rt, key = deliver(w, resource())
    await reconcile(rt, key)  # starts the build
    fresh = World().runtime()  # a restarted operator over the same world: nothing polled yet
    fresh.codebuild, fresh.ecs, fresh.kube = w.codebuild, w.ecs, w.kube
    asked: list[list[str]] = []
    get = w.codebuild.get

    async def counting(ids):
        asked.append(list(ids))
        return await get(ids)

    w.codebuild.get = counting  # type: ignore[method-assign]
    fresh.resources[key] = Entry(body=w.kube.objects[key])
    fresh.secret_index[("team-a", "db")] = w.secret_meta()
    observed = await observe(fresh, _desired(fresh, key))
    assert asked == [[next(iter(w.builds))]] and [b.codebuild_id for b in observed.builds] == asked[0]


async def test_a_write_answer_without_a_body_still_updates_the_entry():
    w = World()
    rt, key = deliver(w, resource())
    patch = w.kube.patch_status

    async def bare(namespace, name, status):
        await patch(namespace, name, status)
        return None

    w.kube.patch_status = bare  # type: ignore[method-assign]
    await reconcile(rt, key)
    entry = rt.resources[key]
    assert entry.status["phase"] == Phase.BUILDING.value and entry.written is None


async def test_surface_error_for_a_resource_gone_meanwhile():
    from reflex_operator.controller.reconcile import surface_error

    w = World()
    rt = w.runtime()
    await surface_error(rt, KEY, "boom")
    assert w.kube.status_writes == 0 and not w.events
