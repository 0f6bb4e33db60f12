"""High availability against the real stack: several operator processes of one installation (one
Lease in reflex-system, short timings: 3 s / 2 s / 0.5 s), the same API server and emulator.

Only the Lease holder acts; a standby keeps its caches warm and writes nothing; SIGKILL of the
leader while databases provision → a standby takes over, everything goes Ready with exactly one
build and one service per database and no event posted twice; SIGTERM releases the Lease at once;
a spec change made during the takeover is carried out; with shards, each database is acted on by
exactly one replica and a dead replica's shards move to the others.

The takeover times and a standby's idle calls are printed (``-s``), not asserted."""

from __future__ import annotations

import collections
import json
import re
import time
from typing import Any

import pytest

from reflex_dev._proc import wait_until
from reflex_operator.ha.shards import shard_of
from tests.e2e.helpers import apply, manifest, patch, status
from tests.fixtures.operator import Operator, generation_observed, lease_name_of

pytestmark = pytest.mark.e2e

LEASE_NS = "reflex-system"


def leading(op: Operator) -> bool:
    """From the metrics, which are live (kopf caches its probes' results for 10 s)."""
    return "reflex_operator_leader 1.0" in op.metrics()


def shards_of(op: Operator) -> list[int]:
    return sorted(int(s) for s in re.findall(r'^reflex_operator_shard_held\{shard="(\d+)"\} 1\.0$', op.metrics(), re.M))


def leader_of(ops: list[Operator], timeout: float = 30) -> Operator:
    """The one replica that leads (waiting until exactly one does)."""
    found: list[Operator] = []

    def one() -> bool:
        found[:] = [op for op in ops if op.alive() and leading(op)]
        return len(found) == 1

    wait_until(one, timeout, interval=0.05, what="exactly one leader")
    return found[0]


def counter(text: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus counter's samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def aws_calls(op: Operator) -> dict[str, float]:
    calls: dict[str, float] = {}
    for m in re.finditer(r'^reflex_operator_aws_calls_total\{([^}]*)\} (\S+)$', op.metrics(), re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        calls[f"{labels['service']}.{labels['operation']}"] = calls.get(f"{labels['service']}.{labels['operation']}", 0) + float(m.group(2))
    return calls


def startup_only(calls: dict[str, float]) -> bool:
    """What a replica asks of AWS when it starts, and nothing else: the ECR repository's URI, and
    (no ReflexBuild of this installation yet) one look over the CodeBuild project for its builds."""
    reads = {"codebuild.ListBuildsForProject", "codebuild.BatchGetBuilds"}
    return calls.get("ecr.DescribeRepositories") == 1 and set(calls) <= {"ecr.DescribeRepositories", *reads} \
        and calls.get("codebuild.ListBuildsForProject", 0) <= 1


def lease(kube: Any, name: str) -> dict[str, Any]:
    return json.loads(kube.kubectl("get", "lease", name, "-n", LEASE_NS, "-o", "json").stdout)


def databases(kube: Any, namespace: str, names: list[str]) -> None:
    apply(kube, namespace, "\n".join(manifest(n, with_secret=(i == 0)) for i, n in enumerate(names)))


def assert_once_each(aws: Any, op: Operator, names: list[str]) -> None:
    """Exactly one build (the databases share one input set: one build for all) and one service
    per database, and no event posted twice. A StartBuild
    or a CreateService may be sent again after a takeover (the new leader's copy of a status can
    be older than the last write of the leader it replaces): with the intent's token, inside
    CodeBuild's idempotency window, or with the service's clientToken, each of which returns what
    the first call made (hence the count of builds and services, not of calls)."""
    calls = aws.emulator.calls()
    assert calls.get("codebuild.StartBuild", 0) >= 1, calls
    assert calls.get("ecs.CreateService", 0) >= len(names), calls
    assert len(aws.codebuild.list_builds()["ids"]) == 1
    assert len(aws.ecs.list_services(cluster="reflex")["serviceArns"]) == len(names)
    for name in names:
        reasons = collections.Counter((e["reason"], e["message"]) for e in op.events(name))
        twice = {r: c for r, c in reasons.items() if c > 1}
        assert not twice, f"{name}: events posted more than once: {twice}"
        assert len(status(op.rdb(name))["builds"]) == 1


def test_only_the_leader_acts_and_a_standby_stays_warm(replicas, kube, aws, namespace):
    ops = replicas(2)
    leader = leader_of(ops)
    (standby,) = [op for op in ops if op is not leader]
    databases(kube, namespace, ["a", "b"])
    for name in ("a", "b"):
        leader.wait_ready(name, timeout=90)
    # The standby saw both (its registry is warm) and did nothing with them.
    wait_until(lambda: standby.leadership()["resources"] == 2, 30, what="the standby to see both")
    assert standby.leadership() | {"identity": None} == {"identity": None, "leading": False, "shards": [], "of": 1, "resources": 2}
    text = standby.metrics()
    assert counter(text, "reflex_operator_status_writes_total") == 0
    assert counter(text, "reflex_operator_reconcile_duration_seconds_count") == 0
    assert startup_only(aws_calls(standby)), "a standby makes no AWS call after its start"
    assert "reflex_operator_leader 0.0" in text and "reflex_operator_leader 1.0" in leader.metrics()
    assert counter(leader.metrics(), "reflex_operator_status_writes_total") > 0
    held = lease(kube, lease_name_of(namespace))["spec"]
    assert held["holderIdentity"] == leader.leadership()["identity"] and held["leaseDurationSeconds"] == 3

    # The figure: what a standby asks while idle (leases only; no AWS, no other Kubernetes call).
    before, t0 = counter(standby.metrics(), "reflex_operator_lease_requests_total"), time.monotonic()
    wait_until(lambda: counter(standby.metrics(), "reflex_operator_lease_requests_total") >= before + 20, 30, what="20 rounds")
    per_minute = (counter(standby.metrics(), "reflex_operator_lease_requests_total") - before) / (time.monotonic() - t0) * 60
    verbs = {v: counter(standby.metrics(), "reflex_operator_lease_requests_total", verb=v) for v in ("list", "create", "update", "delete")}
    print(f"\nFIGURE standby idle: {per_minute:.0f} Lease requests/min at retry 0.5 s ({verbs}); AWS calls {aws_calls(standby)}")
    assert verbs["update"] == verbs["create"] == 0, "a standby without shards writes no Lease"


def test_a_standby_writes_nothing_until_the_lease_is_free(replicas, kube, aws, namespace):
    """The Lease is held by someone else (for an hour): the operator watches but kopf and it write
    nothing: no finalizer, no status, no event, no AWS call. Released → it acts."""
    name = lease_name_of(namespace)
    other = {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": LEASE_NS, "labels": {"reflexdb.cloud/lease-group": name}},
        "spec": {"holderIdentity": "someone-else", "leaseDurationSeconds": 3600},
    }
    kube.kubectl("apply", "-f", "-", input=json.dumps(other))
    (operator,) = replicas(1)
    wait_until(lambda: counter(operator.metrics(), "reflex_operator_lease_requests_total", verb="list") >= 2, 10, what="two rounds")
    assert not leading(operator)
    apply(kube, namespace, manifest("orders"))
    wait_until(lambda: operator.leadership()["resources"] == 1, 30, what="the standby to see it")
    wait_until(lambda: operator.probe().get("queued") == 0, 30, what="its queue to drain")
    before = operator.rdb("orders")
    assert not before["metadata"].get("finalizers") and not before.get("status")
    assert operator.events("orders") == []
    assert startup_only(aws.emulator.calls()), aws.emulator.calls()
    assert operator.rdb("orders")["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

    kube.kubectl("patch", "lease", name, "-n", LEASE_NS, "--type=merge", "-p", '{"spec":{"holderIdentity":""}}')
    operator.wait_ready("orders", timeout=90)
    assert lease(kube, name)["spec"]["holderIdentity"] == operator.leadership()["identity"]


def test_sigkill_of_the_leader_while_provisioning(replicas, kube, aws, namespace):
    ops = replicas(2)
    leader = leader_of(ops)
    (standby,) = [op for op in ops if op is not leader]
    names = ["a", "b", "c"]
    databases(kube, namespace, names)
    # Kill it in the middle: the (one, shared) build started, no database Ready yet.
    wait_until(lambda: aws.emulator.calls().get("codebuild.StartBuild", 0) >= 1, 60, what="the build to start")
    killed = time.monotonic()
    leader.kill()
    leader_of([standby], timeout=30)
    took = time.monotonic() - killed
    for name in names:
        standby.wait_ready(name, timeout=90)
    print(f"\nFIGURE takeover after SIGKILL: {took:.2f} s (lease duration 3 s, retry 0.5 s)")
    assert_once_each(aws, standby, names)
    assert lease(kube, lease_name_of(namespace))["spec"]["leaseTransitions"] == 1


def test_graceful_stop_hands_over_at_once(replicas, kube, aws, namespace):
    ops = replicas(2, REFLEX_LEASE_DURATION_SECONDS="30", REFLEX_RENEW_DEADLINE_SECONDS="20")
    leader = leader_of(ops)
    (standby,) = [op for op in ops if op is not leader]
    databases(kube, namespace, ["orders"])
    leader.wait_ready("orders", timeout=90)
    sent = time.monotonic()
    leader.terminate()
    # With a 30 s lease, a takeover well before it could expire shows the lease was released.
    leader_of([standby], timeout=25)
    took = time.monotonic() - sent
    assert leader.proc is not None and leader.proc.wait(timeout=30) == 0
    assert "released lease" in leader.log()
    print(f"\nFIGURE handover after SIGTERM: {took:.2f} s (retry 0.5 s; the lease is 30 s)")
    assert_once_each(aws, standby, ["orders"])
    patch(kube, namespace, "orders", {"logLevel": "debug"})
    obj = standby.wait_ready("orders", timeout=90)
    assert status(obj)["deployedConfig"]["logLevel"] == "debug", "the new leader carries out a change"


def test_a_spec_change_during_takeover_is_carried_out(replicas, kube, aws, namespace):
    ops = replicas(2)
    leader = leader_of(ops)
    (standby,) = [op for op in ops if op is not leader]
    databases(kube, namespace, ["orders"])
    leader.wait_ready("orders", timeout=90)
    leader.kill()
    patch(kube, namespace, "orders", {"size": "medium"})  # nobody leads right now
    obj = standby.wait_ready("orders", timeout=90)
    assert status(obj)["deployedConfig"]["instanceSize"] == "medium", "the resize is carried out by the new leader"
    assert leading(standby)


def acted_on(op: Operator) -> set[str]:
    """The databases this replica started a build for or deployed."""
    return set(re.findall(r"reflex_operator\.reconcile: [\w-]+/([\w-]+): (?:build \S+ started|deployed)", op.log()))


def test_shards_split_the_work_and_move_when_a_replica_dies(replicas, kube, aws, namespace):
    shards = 3
    ops = replicas(3, REFLEX_SHARDS=str(shards))

    def split_evenly(live: list[Operator]) -> bool:
        held = [shards_of(op) for op in live]
        flat = sorted(s for h in held for s in h)
        return flat == list(range(shards)) and max(map(len, held)) - min(map(len, held)) <= 1

    wait_until(lambda: split_evenly(ops), 30, interval=0.1, what="the shards to spread over the replicas")
    names = [f"db{i}" for i in range(6)]
    databases(kube, namespace, names)
    for name in names:
        ops[0].wait_ready(name, timeout=120)
    owner = {op.leadership()["identity"]: op for op in ops}
    held = {ident: shards_of(op) for ident, op in owner.items()}
    for name in names:
        shard = shard_of(ops[0].rdb(name)["metadata"]["uid"], shards)
        actors = [op for op in ops if name in acted_on(op)]
        assert len(actors) == 1, f"{name} acted on by {len(actors)} replicas"
        assert shard in held[actors[0].leadership()["identity"]], f"{name} (shard {shard}) acted on by a replica without it"
    assert_once_each(aws, ops[0], names)

    victim = next(op for op in ops if shards_of(op))
    moved = shards_of(victim)
    victim.kill()
    survivors = [op for op in ops if op is not victim]
    wait_until(lambda: split_evenly(survivors), 30, interval=0.1, what="the dead replica's shards to move")
    print(f"\nFIGURE shards: {held} -> {[shards_of(op) for op in survivors]} after SIGKILL of the holder of {moved}")
    for name in names:
        patch(kube, namespace, name, {"logLevel": "debug"})
    for name in names:
        survivors[0].wait(
            name, lambda o: generation_observed(o) and status(o).get("deployedConfig", {}).get("logLevel") == "debug",
            timeout=120, what=f"{name} reconfigured after the move",
        )


def deny_lease_updates(kube: Any, lease_name: str) -> str:
    """A ValidatingAdmissionPolicy that refuses every update of one Lease (renewals fail as they
    would with the API server out of reach for the leader); returns its name."""
    name = f"deny-{lease_name}"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["coordination.k8s.io"], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["leases"],
            }]},
            "validations": [{"expression": f"object.metadata.name != '{lease_name}'", "message": "renewals refused by the test"}],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"]},
    }
    kube.kubectl("apply", "-f", "-", input="\n".join(json.dumps(d) for d in (policy, binding)))
    return name


def test_a_leader_that_cannot_renew_steps_down_and_stays_up(replicas, kube, aws, namespace):
    ops = replicas(2)
    leader = leader_of(ops)
    (standby,) = [op for op in ops if op is not leader]
    databases(kube, namespace, ["orders"])
    leader.wait_ready("orders", timeout=90)
    policy = deny_lease_updates(kube, lease_name_of(namespace))
    try:
        wait_until(lambda: "stepped down" in leader.log(), 30, what="the leader to step down", alive=leader.alive)
        log = leader.log()
        assert "stopped acting on shard 0" in log and "no renewal succeeded within the renew deadline" in log
        assert not leading(leader) and not leading(standby), "nobody can renew or take the Lease while updates are refused"
        assert leader.alive() and "exiting with" not in log, "it stepped down, it did not exit"
    finally:
        kube.kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", policy, "--ignore-not-found")
    # Updates allowed again: the old leader takes it back at once (the Lease still names it) or
    # the standby once it expired; either way exactly one leads, and a change is carried out.
    new_leader = leader_of(ops, timeout=30)
    patch(kube, namespace, "orders", {"logLevel": "debug"})
    obj = new_leader.wait_ready("orders", timeout=90)
    assert status(obj)["deployedConfig"]["logLevel"] == "debug"
    assert leader.alive() and standby.alive()
