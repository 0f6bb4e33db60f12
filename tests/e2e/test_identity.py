"""Identity that survives the object, end to end (issue 22): a rebuilt cluster, a Retain delete and
re-apply, two cluster identities on one AWS account, adoption of resources made elsewhere, an
owner mismatch, release and adoption in another namespace, a name reused while its old service
drains, and a database made by the operator before this change, upgraded in place.

"Nothing created" is read from AWS itself (the services, task definition revisions, secrets and
builds that exist) and from the emulator's count of calls."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import io
from pathlib import Path
from typing import Any

import pytest

from reflex_dev._proc import wait_until
from reflex_dev.controlplane import repo_root
from tests.e2e.helpers import SECRET_URL, apply, manifest, status
from tests.fixtures.controlplane import kube_of, start_controlplane
from tests.fixtures.operator import Operator, condition

pytestmark = pytest.mark.e2e

CLUSTER = "reflex"
CREATIONS = ("ecs.CreateService", "ecs.RegisterTaskDefinition", "codebuild.StartBuild", "secretsmanager.CreateSecret")
# main before names came from the identity: a database it made is upgraded in place.
BEFORE_IDENTITY = "869050d05f238e1978dfd89c500136274d820856"


# ---------------------------------------------------------------------------------- helpers


def inventory(aws: Any) -> dict[str, Any]:
    """What exists in AWS: active services, task definition revisions, secrets, builds."""
    services = sorted(arn.rsplit("/", 1)[-1] for arn in aws.ecs.list_services(cluster=CLUSTER)["serviceArns"])
    revisions = sorted(aws.ecs.list_task_definitions()["taskDefinitionArns"])
    secrets = sorted(s["Name"] for s in aws.secretsmanager.list_secrets()["SecretList"])
    builds = sorted(aws.codebuild.list_builds()["ids"])
    return {"services": services, "revisions": revisions, "secrets": secrets, "builds": builds}


def creations(aws: Any) -> dict[str, int]:
    calls = aws.emulator.calls()
    return {op: calls.get(op, 0) for op in CREATIONS}


def service_tags(aws: Any, name: str, cluster: str = CLUSTER) -> dict[str, str]:
    svc = aws.ecs.describe_services(cluster=cluster, services=[name], include=["TAGS"])["services"][0]
    return {t["key"]: t["value"] for t in svc.get("tags", [])}


def secret_tags(aws: Any, name: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in aws.secretsmanager.describe_secret(SecretId=name).get("Tags", [])}


def shown(obj: dict[str, Any]) -> dict[str, Any]:
    """What a user relies on: the endpoint, the service, the active build and the identity."""
    st = status(obj)
    return {
        "endpoint": (st.get("instance") or {}).get("endpointUrl"),
        "service": (st.get("identity") or {}).get("serviceName"),
        "activeBuildId": st.get("activeBuildId"),
    }


def reason(obj: dict[str, Any], kind: str) -> str | None:
    return next((c.get("reason") for c in status(obj).get("conditions", []) if c["type"] == kind), None)


def fleet(retain: bool = True) -> dict[str, dict[str, Any]]:
    """One database in each state a fleet holds."""
    policy = {"deletionPolicy": "Retain"} if retain else {}
    return {
        "running": {**policy, "reloadToken": "r1"},
        "paused": {**policy, "paused": True},
        "replication": {**policy, "sync": {"mode": "poll", "intervalSeconds": 60, "paused": True}},
        "terminated": {**policy, "terminated": True},
    }


SETTLED = {"running": "Running", "paused": "Paused", "replication": "Running", "terminated": "Terminated"}


def apply_fleet(kube: Any, namespace: str, specs: dict[str, dict[str, Any]]) -> None:
    for i, (name, spec) in enumerate(specs.items()):
        apply(kube, namespace, manifest(name, spec=spec, with_secret=i == 0))


def settle(op: Operator, specs: dict[str, dict[str, Any]], timeout: float = 120) -> dict[str, dict[str, Any]]:
    """Wait for each database of the fleet to reach its phase (Ready where it runs)."""
    out = {}
    for name in specs:
        phase = SETTLED[name]

        def done(obj: dict[str, Any], phase: str = phase) -> bool:
            st = status(obj)
            if st.get("phase") != phase:
                return False
            if name == "replication":
                return ((st.get("instance") or {}).get("replication")) == "paused" and condition(obj, "Ready") == "True"
            return phase != "Running" or condition(obj, "Ready") == "True"

        out[name] = op.wait(name, done, timeout=timeout, what=f"{name} {phase}")
    return out


def second_cluster(tmp_path: Path, namespace: str) -> Any:
    """A new, empty control plane (fresh etcd): a rebuilt or another Kubernetes cluster."""
    cp = start_controlplane(tmp_path / "second-cluster")
    kube = kube_of(cp)
    kube.kubectl("create", "namespace", namespace)
    return cp, kube


# -------------------------------------------------------------------------------------- tests


def test_retain_delete_and_reapply_takes_every_database_back(operator, kube, aws, namespace):
    specs = fleet()
    apply_fleet(kube, namespace, specs)
    before = {name: shown(obj) for name, obj in settle(operator, specs).items()}
    made, made_calls = inventory(aws), creations(aws)
    assert len(made["services"]) == 3 and len(made["secrets"]) == 4

    kube.kubectl("delete", "rdb", "--all", "-n", namespace, "--wait=true", "--timeout=60s")
    assert inventory(aws) == made  # Retain: nothing in AWS moved
    apply_fleet(kube, namespace, specs)
    after = {name: shown(obj) for name, obj in settle(operator, specs).items()}

    assert inventory(aws) == made, "a second service, revision, secret or build was made"
    now = creations(aws)
    # The terminated one has no service to say it is taken back: its CreateSecret is sent and
    # refused (the secret exists, its tags are read and it is taken); no other creation is sent.
    assert now == {**made_calls, "secretsmanager.CreateSecret": made_calls["secretsmanager.CreateSecret"] + 1}
    for name in ("running", "paused", "replication"):
        assert after[name] == before[name], name  # same endpoint, service and active build
        obj = operator.rdb(name)
        assert status(obj)["identity"]["origin"] == "TakenBack"
        assert "TakenBack" in operator.event_reasons(name)
        tags = service_tags(aws, status(obj)["identity"]["serviceName"])
        assert tags["reflexdb.cloud/owner-uid"] == obj["metadata"]["uid"] != tags["reflexdb.cloud/created-by-uid"]
        assert status(obj)["builds"], "the build history was not found again"
    running = operator.rdb("running")
    assert status(running)["appliedTokens"]["reload"] == "r1"  # carried out by the earlier object, not again
    for name in specs:  # the secret was taken too, its value kept (no new version)
        ident = status(operator.rdb(name))["identity"]
        assert secret_tags(aws, ident["secretName"])["reflexdb.cloud/owner-uid"] == operator.rdb(name)["metadata"]["uid"]


def test_a_wiped_control_plane_takes_its_fleet_back(operator, kube, aws, simulator, namespace, tmp_path):
    specs = {k: v for k, v in fleet(retain=False).items() if k in ("running", "paused")}
    apply_fleet(kube, namespace, specs)
    before = {name: shown(obj) for name, obj in settle(operator, specs).items()}
    made, made_calls = inventory(aws), creations(aws)
    operator.kill()  # the cluster is lost: no finalizer runs, AWS keeps everything

    cp, kube2 = second_cluster(tmp_path, namespace)
    rebuilt = Operator(kube=kube2, aws=aws, simulator=simulator, namespace=namespace, workdir=tmp_path)
    try:
        rebuilt.start()
        apply_fleet(kube2, namespace, specs)  # the same manifests, from Git
        after = {name: shown(obj) for name, obj in settle(rebuilt, specs).items()}
        assert after == before
        assert inventory(aws) == made and creations(aws) == made_calls
        for name in specs:
            assert status(rebuilt.rdb(name))["identity"]["origin"] == "TakenBack"
    finally:
        rebuilt.stop()
        cp.stop()


def test_two_cluster_identities_on_one_account_never_touch_each_others_databases(operator, kube, aws, simulator, namespace, tmp_path):
    operator.stop()
    operator.start(REFLEX_CLUSTER_IDENTITY="east")
    apply(kube, namespace, manifest("orders"))
    east = operator.wait_ready("orders", timeout=90)
    east_service = status(east)["identity"]["serviceName"]
    east_before = aws.ecs.describe_services(cluster=CLUSTER, services=[east_service])["services"][0]

    cp, kube2 = second_cluster(tmp_path, namespace)
    west_op = Operator(kube=kube2, aws=aws, simulator=simulator, namespace=namespace, workdir=tmp_path)
    try:
        west_op.start(REFLEX_CLUSTER_IDENTITY="west")
        apply(kube2, namespace, manifest("orders"))  # the same namespace and name, another cluster
        west = west_op.wait_ready("orders", timeout=90)
        west_service = status(west)["identity"]["serviceName"]
        assert west_service != east_service and "west" in west_service and "east" in east_service
        assert shown(west)["endpoint"] != shown(east)["endpoint"]
        assert service_tags(aws, east_service)["reflexdb.cloud/cluster-identity"] == "east"
        assert service_tags(aws, west_service)["reflexdb.cloud/cluster-identity"] == "west"
        east_after = aws.ecs.describe_services(cluster=CLUSTER, services=[east_service])["services"][0]
        assert east_after["taskDefinition"] == east_before["taskDefinition"]
        assert [d["id"] for d in east_after["deployments"]] == [d["id"] for d in east_before["deployments"]]
        assert len(inventory(aws)["services"]) == 2 and len(inventory(aws)["secrets"]) == 2
    finally:
        west_op.stop()
        cp.stop()


def _made_by_hand(aws: Any) -> tuple[str, str]:
    """A task definition, a service and a secret made with boto3, outside the operator (no tags)."""
    td = aws.ecs.register_task_definition(
        family="hosted-orders",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "reflex-server", "image": "hosted/reflex-server:old", "essential": True}],
    )["taskDefinition"]["taskDefinitionArn"]
    subnets = json.loads(aws.settings["REFLEX_SUBNETS"])
    aws.ecs.create_service(
        cluster=CLUSTER, serviceName="hosted-orders", taskDefinition=td, desiredCount=1, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets}},
    )
    aws.secretsmanager.create_secret(Name="hosted/orders", SecretString="postgres://old@elsewhere/orders")
    return "hosted-orders", "hosted/orders"


def test_explicit_adoption_of_a_service_task_definition_and_secret_made_outside(operator, kube, aws, namespace):
    service, secret = _made_by_hand(aws)
    before = creations(aws)
    adoption = {"adoption": {"policy": "Adopt", "serviceName": service, "secretName": secret}}
    apply(kube, namespace, manifest("orders", spec=adoption))
    obj = operator.wait_ready("orders", timeout=90)
    ident = status(obj)["identity"]
    assert (ident["serviceName"], ident["taskFamily"], ident["secretName"], ident["origin"]) == (service, service, secret, "Adopted")
    assert "Adopted" in operator.event_reasons("orders")
    after = creations(aws)
    assert after["ecs.CreateService"] == before["ecs.CreateService"] and after["secretsmanager.CreateSecret"] == before["secretsmanager.CreateSecret"]
    assert inventory(aws)["services"] == [service]
    # Taken, then reconciled to the spec: its own revision in the adopted family, the Secret's value.
    svc = aws.ecs.describe_services(cluster=CLUSTER, services=[service])["services"][0]
    assert svc["taskDefinition"].rsplit("/", 1)[1].startswith(f"{service}:") and not svc["taskDefinition"].endswith(":1")
    assert aws.secretsmanager.get_secret_value(SecretId=secret)["SecretString"] == SECRET_URL
    assert service_tags(aws, service)["reflexdb.cloud/owner-uid"] == obj["metadata"]["uid"]
    assert service in shown(obj)["endpoint"]


def test_adoption_that_finds_nothing_creates_nothing(operator, kube, aws, namespace):
    before = creations(aws)
    apply(kube, namespace, manifest("orders", spec={"adoption": {"policy": "Adopt", "serviceName": "no-such-service"}}))
    obj = operator.wait("orders", lambda o: reason(o, "Stalled") == "AdoptionFailed", timeout=60, what="AdoptionFailed")
    assert "no-such-service not found" in next(c["message"] for c in status(obj)["conditions"] if c["type"] == "Stalled")
    assert creations(aws) == before and inventory(aws)["services"] == []


def test_an_owner_mismatch_is_refused_with_nothing_written(operator, kube, aws, namespace):
    apply(kube, namespace, manifest("orders"))
    owner = operator.wait_ready("orders", timeout=90)
    taken = status(owner)["identity"]["serviceName"]
    calls = aws.emulator.calls()
    apply(kube, namespace, manifest("thief", spec={"adoption": {"policy": "Adopt", "serviceName": taken}}, with_secret=False))
    obj = operator.wait("thief", lambda o: reason(o, "Stalled") == "OwnedElsewhere", timeout=60, what="OwnedElsewhere")
    message = next(c["message"] for c in status(obj)["conditions"] if c["type"] == "Stalled")
    assert f"{namespace}/orders" in message and "nothing was changed" in message
    now = aws.emulator.calls()
    for op in ("ecs.UpdateService", "ecs.TagResource", "ecs.RegisterTaskDefinition", "ecs.CreateService", "codebuild.StartBuild"):
        assert now.get(op, 0) == calls.get(op, 0), op
    assert service_tags(aws, taken)["reflexdb.cloud/name"] == "orders"
    assert condition(operator.rdb("orders"), "Ready") == "True"


def test_release_then_adopt_in_another_namespace_keeps_the_endpoint(operator, kube, aws, namespace):
    apply(kube, namespace, manifest("orders", spec={"deletionPolicy": "Release"}))
    before = shown(operator.wait_ready("orders", timeout=90))
    ident = status(operator.rdb("orders"))["identity"]
    kube.kubectl("delete", "rdb", "orders", "-n", namespace, "--wait=true", "--timeout=60s")
    assert service_tags(aws, ident["serviceName"])["reflexdb.cloud/ownership"] == "released"
    assert secret_tags(aws, ident["secretName"])["reflexdb.cloud/ownership"] == "released"
    made = creations(aws)

    # The same operator watches one namespace here; the adopter is a database of another name.
    adoption = {"adoption": {"policy": "Adopt", "serviceName": ident["serviceName"], "secretName": ident["secretName"]}}
    apply(kube, namespace, manifest("orders-moved", spec=adoption, with_secret=False))
    obj = operator.wait_ready("orders-moved", timeout=90)
    assert shown(obj)["endpoint"] == before["endpoint"] and status(obj)["identity"]["origin"] == "Adopted"
    assert creations(aws)["ecs.CreateService"] == made["ecs.CreateService"]
    tags = service_tags(aws, ident["serviceName"])
    assert tags["reflexdb.cloud/name"] == "orders-moved" and tags["reflexdb.cloud/ownership"] == "owned"


def test_a_name_whose_old_service_still_drains_waits_then_creates_fresh(operator, kube, aws, namespace):
    aws.emulator.config(ecs_drain_seconds=6)
    apply(kube, namespace, manifest("orders"))
    first = operator.wait_ready("orders", timeout=90)
    kube.kubectl("delete", "rdb", "orders", "-n", namespace, "--wait=true", "--timeout=60s")
    apply(kube, namespace, manifest("orders", with_secret=False))
    operator.wait("orders", lambda o: reason(o, "Reconciling") == "NameDraining", timeout=30, what="NameDraining")
    second = operator.wait_ready("orders", timeout=90)
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    assert status(second)["identity"]["serviceName"] == status(first)["identity"]["serviceName"]
    assert aws.emulator.calls().get("ecs.CreateService") == 2
    assert service_tags(aws, status(second)["identity"]["serviceName"])["reflexdb.cloud/created-by-uid"] == second["metadata"]["uid"]


def _old_operator(tmp_path: Path) -> Path:
    """The operator's package as it was before names came from the identity (from Git)."""
    root = repo_root()
    try:
        blob = subprocess.run(["git", "-C", str(root), "archive", BEFORE_IDENTITY, "operator"], check=True, capture_output=True, timeout=60).stdout
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"the upgrade test needs the commit {BEFORE_IDENTITY} in the clone's history (git archive: {exc.stderr.decode()[:300]}); fetch it (a shallow clone lacks it)")
    out = tmp_path / "before-identity"
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(out, filter="data")
    return out / "operator"


def test_a_database_made_before_this_change_is_upgraded_in_place(kube, aws, simulator, namespace, tmp_path):
    old_code = _old_operator(tmp_path)
    old = Operator(kube=kube, aws=aws, simulator=simulator, namespace=namespace, workdir=tmp_path / "old")
    (tmp_path / "old").mkdir()
    try:
        old.start(PYTHONPATH=str(old_code) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        apply(kube, namespace, manifest("orders"))
        made_obj = old.wait_ready("orders", timeout=90)
    finally:
        old.stop()
    assert "identity" not in status(made_obj)
    made, calls = inventory(aws), aws.emulator.calls()
    legacy_service = made["services"][0]
    assert legacy_service.endswith(made_obj["metadata"]["uid"].replace("-", "")[:8])  # named from the uid

    new = Operator(kube=kube, aws=aws, simulator=simulator, namespace=namespace, workdir=tmp_path)
    try:
        new.start()
        obj = new.wait("orders", lambda o: (status(o).get("identity") or {}).get("tagged") is True, timeout=60, what="tagged")
        assert condition(obj, "Ready") == "True"
        ident = status(obj)["identity"]
        assert (ident["serviceName"], ident["origin"]) == (legacy_service, "Legacy")
        assert shown(obj)["endpoint"] == shown(made_obj)["endpoint"]
        assert inventory(aws) == made
        now = aws.emulator.calls()
        written = {op: now.get(op, 0) - calls.get(op, 0) for op in now if now.get(op, 0) != calls.get(op, 0)}
        writes = {op for op in written if not op.split(".", 1)[1].startswith(("Describe", "BatchGet", "List", "Get"))}
        assert writes <= {"ecs.TagResource", "secretsmanager.TagResource"}, written  # only the ownership tags
        assert service_tags(aws, legacy_service)["reflexdb.cloud/cluster-identity"] == ident["clusterIdentity"] == new.env()["REFLEX_CLUSTER_IDENTITY"]
        assert secret_tags(aws, ident["secretName"])["reflexdb.cloud/owner-uid"] == obj["metadata"]["uid"]
    finally:
        new.stop()


def test_taken_back_on_whichever_ecs_cluster_it_lives(operator, kube, aws, namespace):
    """With several ECS clusters, a database that owns nothing yet asks every one before creating:
    the one on the second cluster is taken back there (its placement recorded), not made again."""
    aws.ecs.create_cluster(clusterName="reflex-2")
    operator.stop()
    operator.start(REFLEX_ECS_CLUSTERS=json.dumps([CLUSTER, "reflex-2"]))
    specs = {"db-a": {"deletionPolicy": "Retain"}, "db-b": {"deletionPolicy": "Retain"}}
    for i, (name, spec) in enumerate(specs.items()):
        apply(kube, namespace, manifest(name, spec=spec, with_secret=i == 0))
        operator.wait_ready(name, timeout=90)
    placed = {n: status(operator.rdb(n))["placement"]["cluster"] for n in specs}
    assert sorted(placed.values()) == [CLUSTER, "reflex-2"]
    before = {n: shown(operator.rdb(n)) for n in specs}
    made = creations(aws)

    kube.kubectl("delete", "rdb", "--all", "-n", namespace, "--wait=true", "--timeout=60s")
    for i, (name, spec) in enumerate(specs.items()):
        apply(kube, namespace, manifest(name, spec=spec, with_secret=False))
    for name in specs:
        obj = operator.wait_ready(name, timeout=90)
        assert shown(obj) == before[name] and status(obj)["placement"]["cluster"] == placed[name]
        assert status(obj)["identity"]["origin"] == "TakenBack"
    now = creations(aws)
    assert {op: now[op] for op in ("ecs.CreateService", "ecs.RegisterTaskDefinition", "codebuild.StartBuild")} == {
        op: made[op] for op in ("ecs.CreateService", "ecs.RegisterTaskDefinition", "codebuild.StartBuild")
    }
