"""The ReflexDatabase API against a real kube-apiserver: what `kubectl apply` accepts and rejects,
what comes back (defaults, status), and what `kubectl get` shows.

Fixtures ``kube`` and ``namespace`` come from tests/fixtures/controlplane.py; the session applies
crds/*.yaml.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reflex_operator.api.plan import PlanStatus
from reflex_operator.api.rollout import MemberState, RolloutMember
import yaml

from reflex_operator.api.models import (
    AwsIdentity,
    Origin,
    BuildIntent,
    CostChange,
    CostStatus,
    LogsLocation,
    GROUP,
    HistoryEntry,
    HistoryKind,
    Notification,
    NotificationType,
    PlacementStatus,
    Severity,
    PLURAL,
    VERSION,
    Action,
    ActionAvailability,
    ActionMode,
    AllowedActions,
    AppliedTokens,
    BuildRecord,
    BuildState,
    BuildStatus,
    Condition,
    DeployedConfig,
    HealthStatus,
    InstanceStatus,
    LogLevel,
    Phase,
    ReflexDatabaseSpec,
    ReflexDatabaseStatus,
    Replication,
    Size,
    SyncMode,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


# ------------------------------------------------------------------------------------------ helpers


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _example_rdb(path: Path) -> dict[str, Any]:
    (rdb,) = [doc for doc in _documents(path) if doc["kind"] == "ReflexDatabase"]
    return rdb


def _get(kube, namespace: str, name: str) -> dict[str, Any]:
    return json.loads(kube.kubectl("get", "rdb", name, "-n", namespace, "-o", "json").stdout)


def _expected_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """What the API server stores for ``spec``: the models' defaults filled in; unset optionals absent."""

    def drop_none(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: drop_none(v) for k, v in value.items() if v is not None}
        return value

    return drop_none(ReflexDatabaseSpec.model_validate(spec).wire())


def _rdb(name: str = "bad", **spec: Any) -> dict[str, Any]:
    """A valid ReflexDatabase (with ``spec`` merged over the minimal one)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ReflexDatabase",
        "metadata": {"name": name},
        "spec": {"source": {"secretRef": {"name": "source"}}, **spec},
    }


def _setting(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting the dotted ``path`` (from the object's root) to ``value``."""

    def mutate(obj: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = obj
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value

    return mutate


def _deleting(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = obj
        for key in parents:
            node = node[key]
        del node[leaf]

    return mutate


def _create(kube, namespace: str, obj: dict[str, Any], *, dry_run: bool = True):
    args = ["create", "-n", namespace, "--validate=strict", "-f", "-"]
    if dry_run:
        args.append("--dry-run=server")
    return kube.kubectl(*args, input=json.dumps(obj), check=False)


# ----------------------------------------------------------------------------------------- examples


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("mode", ["client-side", "server-side"])
def test_example_applies_and_round_trips(kube, namespace: str, example: Path, mode: str) -> None:
    apply = ["apply", "-n", namespace, "-f", str(example)]
    if mode == "server-side":
        apply += ["--server-side", "--field-manager=test-api"]
    kube.kubectl(*apply)

    manifest = _example_rdb(example)
    name = manifest["metadata"]["name"]
    stored = _get(kube, namespace, name)
    # Defaults are applied by the API server and visible to every reader.
    assert stored["spec"] == _expected_spec(manifest["spec"])
    for field in ("size", "sync", "logLevel", "safetyNet", "paused", "terminated", "deletionPolicy"):
        assert field in stored["spec"]
    assert stored["spec"]["source"]["secretRef"]["key"]
    assert stored["spec"]["source"]["schemas"]
    # The stored spec is what the operator parses.
    assert ReflexDatabaseSpec.model_validate(stored["spec"]).wire() == ReflexDatabaseSpec.model_validate(
        manifest["spec"]
    ).wire()

    # Applying the same file again changes nothing.
    again = kube.kubectl(*apply)
    if mode == "client-side":
        assert f"reflexdatabase.{GROUP}/{name} unchanged" in again.stdout
    after = _get(kube, namespace, name)
    assert after["metadata"]["generation"] == stored["metadata"]["generation"] == 1
    assert after["spec"] == stored["spec"]

    # The Secret came along.
    secret = next(doc for doc in _documents(example) if doc["kind"] == "Secret")
    kube.kubectl("get", "secret", secret["metadata"]["name"], "-n", namespace)


def test_full_example_sets_every_spec_field() -> None:
    spec = _example_rdb(REPO / "examples" / "full.yaml")["spec"]
    model = ReflexDatabaseSpec.model_validate(spec)
    assert model.model_fields_set == set(ReflexDatabaseSpec.model_fields)
    assert model.sync.model_fields_set == set(type(model.sync).model_fields)
    assert model.source.model_fields_set == set(type(model.source).model_fields)
    assert model.source.secret_ref.model_fields_set == set(type(model.source.secret_ref).model_fields)


def test_minimal_example_is_minimal() -> None:
    rdb = _example_rdb(REPO / "examples" / "minimal.yaml")
    assert rdb["metadata"] == {"name": "demo"}
    assert rdb["spec"] == {"source": {"secretRef": {"name": rdb["spec"]["source"]["secretRef"]["name"]}}}


def test_short_names_and_category(kube, namespace: str) -> None:
    kube.kubectl("apply", "-n", namespace, "-f", str(REPO / "examples" / "minimal.yaml"))
    for resource in ("rdb", "reflexdb", "reflexdatabase", PLURAL, "reflex"):
        out = kube.kubectl("get", resource, "-n", namespace, "-o", "name").stdout.split()
        assert out == [f"reflexdatabase.{GROUP}/demo"], resource


# ------------------------------------------------------------------------------------ bad manifests

LONG = "a" * 254

# (id, mutation of a valid ReflexDatabase, the field path the API server's message must name)
BAD: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    # wrong enum values
    ("size-enum", _setting("spec.size", "huge"), "spec.size"),
    ("size-case", _setting("spec.size", "Small"), "spec.size"),
    ("sync-mode-enum", _setting("spec.sync.mode", "push"), "spec.sync.mode"),
    ("log-level-enum", _setting("spec.logLevel", "trace"), "spec.logLevel"),
    ("deletion-policy-enum", _setting("spec.deletionPolicy", "delete"), "spec.deletionPolicy"),
    # intervals and ranges
    ("interval-zero", _setting("spec.sync.intervalSeconds", 0), "spec.sync.intervalSeconds"),
    ("interval-negative", _setting("spec.sync.intervalSeconds", -30), "spec.sync.intervalSeconds"),
    ("interval-over-a-day", _setting("spec.sync.intervalSeconds", 86401), "spec.sync.intervalSeconds"),
    ("interval-fraction", _setting("spec.sync.intervalSeconds", 1.5), "spec.sync.intervalSeconds"),
    ("safety-net-1.5", _setting("spec.safetyNet", 1.5), "spec.safetyNet"),
    ("safety-net-negative", _setting("spec.safetyNet", -0.1), "spec.safetyNet"),
    # required fields
    ("missing-spec", _deleting("spec"), "spec"),
    ("missing-source", _deleting("spec.source"), "spec.source"),
    ("missing-secret-ref", _deleting("spec.source.secretRef"), "spec.source.secretRef"),
    ("missing-secret-name", _setting("spec.source.secretRef", {"key": "url"}), "spec.source.secretRef.name"),
    # schemas
    ("schemas-empty", _setting("spec.source.schemas", []), "spec.source.schemas"),
    ("schemas-duplicate", _setting("spec.source.schemas", ["public", "billing", "public"]), "spec.source.schemas[2]"),
    ("schema-name-format", _setting("spec.source.schemas", ["public", "my-schema"]), "spec.source.schemas[1]"),
    ("schema-name-empty", _setting("spec.source.schemas", [""]), "spec.source.schemas[0]"),
    ("schema-name-too-long", _setting("spec.source.schemas", ["s" * 64]), "spec.source.schemas[0]"),
    ("schemas-not-a-list", _setting("spec.source.schemas", "public"), "spec.source.schemas"),
    # wrong types
    ("size-number", _setting("spec.size", 2), "spec.size"),
    ("paused-string", _setting("spec.paused", "yes"), "spec.paused"),
    ("terminated-number", _setting("spec.terminated", 1), "spec.terminated"),
    ("interval-string", _setting("spec.sync.intervalSeconds", "60"), "spec.sync.intervalSeconds"),
    ("safety-net-string", _setting("spec.safetyNet", "25%"), "spec.safetyNet"),
    ("sync-string", _setting("spec.sync", "fast"), "spec.sync"),
    ("token-number", _setting("spec.rebuildToken", 7), "spec.rebuildToken"),
    # unknown fields (strict field validation)
    ("unknown-spec-field", _setting("spec.replicas", 3), "spec.replicas"),
    ("unknown-sync-field", _setting("spec.sync.interval", 60), "spec.sync.interval"),
    ("unknown-secret-ref-field", _setting("spec.source.secretRef.namespace", "other"), "spec.source.secretRef.namespace"),
    # Secret reference: name and key format
    ("secret-name-format", _setting("spec.source.secretRef.name", "My_Secret"), "spec.source.secretRef.name"),
    ("secret-name-too-long", _setting("spec.source.secretRef.name", LONG), "spec.source.secretRef.name"),
    ("secret-name-empty", _setting("spec.source.secretRef.name", ""), "spec.source.secretRef.name"),
    ("secret-name-trailing-dash", _setting("spec.source.secretRef.name", "source-"), "spec.source.secretRef.name"),
    ("secret-key-format", _setting("spec.source.secretRef.key", "db url"), "spec.source.secretRef.key"),
    # one-shot tokens, server version, build id
    ("rebuild-token-format", _setting("spec.rebuildToken", "new build"), "spec.rebuildToken"),
    ("restart-token-too-long", _setting("spec.restartToken", "r" * 129), "spec.restartToken"),
    ("reload-token-empty", _setting("spec.reloadToken", ""), "spec.reloadToken"),
    ("reload-token-leading-dash", _setting("spec.reloadToken", "-1"), "spec.reloadToken"),
    ("server-version-format", _setting("spec.serverVersion", "v1.0 beta"), "spec.serverVersion"),
    ("build-id-empty", _setting("spec.buildId", ""), "spec.buildId"),
    # the resource's own name
    ("name-format", _setting("metadata.name", "Orders_DB"), "metadata.name"),
    ("name-too-long", _setting("metadata.name", LONG), "metadata.name"),
]


def test_bad_table_is_large_enough() -> None:
    assert len(BAD) >= 25
    assert len({case_id for case_id, _, _ in BAD}) == len(BAD)


def test_baseline_of_bad_manifests_is_accepted(kube, shared_namespace: str) -> None:
    proc = _create(kube, shared_namespace, _rdb())
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def shared_namespace(kube) -> Iterator[str]:
    """One namespace for the (dry-run) bad-manifest table: nothing is stored in it."""
    name = f"t-api-bad-{uuid.uuid4().hex[:6]}"
    kube.kubectl("create", "namespace", name)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.mark.parametrize(("mutate", "field_path"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_manifest_is_rejected_naming_the_field(
    kube, shared_namespace: str, mutate: Callable[[dict[str, Any]], None], field_path: str
) -> None:
    obj = _rdb()
    mutate(obj)
    proc = _create(kube, shared_namespace, obj)  # server-side dry run: full validation, nothing stored
    assert proc.returncode != 0, f"accepted: {json.dumps(obj)}"
    message = proc.stderr
    # The message names the field: as `path: ...` (schema/CEL) or `unknown field "path"` (strict).
    named = re.search(rf'(^|[\s"*]){re.escape(field_path)}(: |"|\s)', message, re.MULTILINE)
    assert named, f"{field_path!r} not named in: {message}"


def test_rejected_manifest_names_every_bad_field(kube, shared_namespace: str) -> None:
    """Several mistakes at once: all of them are reported, each by its path."""
    obj = _rdb(size="huge", logLevel="trace", safetyNet=1.5, sync={"intervalSeconds": 0})
    proc = _create(kube, shared_namespace, obj)
    assert proc.returncode != 0
    for path in ("spec.size", "spec.logLevel", "spec.safetyNet", "spec.sync.intervalSeconds"):
        assert f"{path}:" in proc.stderr


def test_null_optionals_are_accepted(kube, namespace: str) -> None:
    """``X | None`` fields are nullable: a null (e.g. from a templating tool) is not an error."""
    obj = _rdb("nulls", buildId=None, rebuildToken=None, restartToken=None, reloadToken=None, serverVersion=None)
    proc = _create(kube, namespace, obj, dry_run=False)
    assert proc.returncode == 0, proc.stderr
    spec = _get(kube, namespace, "nulls")["spec"]
    assert ReflexDatabaseSpec.model_validate(spec).build_id is None


# ------------------------------------------------------------------------------------------- status

T0 = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
T1 = datetime(2024, 6, 1, 12, 4, 30, tzinfo=UTC)


def full_status(generation: int = 1) -> ReflexDatabaseStatus:
    """A status with every field set (nothing None, every list non-empty)."""
    build = {
        "id": "orders-b-0002",
        "codebuild_id": "reflex-orders:4c1e6a8e-0d4b-4cf7-9d7e-2f0b1b2f7c11",
        "image_uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/reflex/orders:b-0002",
        "status": BuildState.SUCCEEDED,
        "logs_url": "https://console.aws.amazon.com/codesuite/codebuild/projects/reflex-orders/build/x",
        "started_at": T0,
        "finished_at": T1,
        "build_duration_seconds": 270,
        "compute_type_used": "BUILD_GENERAL1_MEDIUM",
        "cost_estimate_cents": 5,
        "server_version": "v0.9.2",
        "schemas": ["public", "billing"],
        "input_hash": "9f2c1e0b7a6d5c4b",
        "failure_reason": "none",
        "shared": True,
        "log_group": "/aws/codebuild/reflex-server-build",
        "log_stream": "4c1e6a8e-0d4b-4cf7-9d7e-2f0b1b2f7c11",
    }
    actions = {
        action: ActionAvailability(
            allowed=index % 3 != 0,
            mode=ActionMode.QUEUED if index % 2 else ActionMode.IMMEDIATE,
            reason=f"reason for {action.value}",
        )
        for index, action in enumerate(Action)
    }
    conditions = [
        Condition(type=kind, status=status, reason=reason, message=f"{kind} is {status}",
                  last_transition_time=T1, observed_generation=generation)
        for kind, status, reason in [
            ("Ready", "True", "Running"),
            ("Reconciling", "False", "Idle"),
            ("Stalled", "False", "Idle"),
            ("Degraded", "Unknown", "HealthUnknown"),
        ]
    ]
    return ReflexDatabaseStatus(
        observed_generation=generation,
        phase=Phase.RUNNING,
        conditions=conditions,
        deployed_config=DeployedConfig(
            instance_size=Size.MEDIUM, task_cpu=1024, task_memory_mb=2048, sync_mode=SyncMode.STREAM,
            sync_interval=30, log_level=LogLevel.DEBUG, safety_net=0.1,
        ),
        has_pending_changes=False,
        instance=InstanceStatus(
            ecs_service_arn="arn:aws:ecs:eu-west-1:123456789012:service/reflex/rdb-orders",
            task_definition_arn="arn:aws:ecs:eu-west-1:123456789012:task-definition/rdb-orders:3",
            endpoint_url="http://orders.reflex.internal:8080",
            health_status=HealthStatus.OK,
            snapshot_age_ms=1250,
            swap_count=42,
            row_counts={"public.orders": 120000, "billing.invoices": 0, "public.order-lines": 987654321012},
            replication=Replication.RUNNING,
            uptime_seconds=3600,
            last_health_check=T1,
            last_swap_time=T0,
            snapshot_time=T0,
            desired_count=1,
            running_count=1,
            logs=LogsLocation(group="/reflexdb/instances", stream_prefix="rdb-orders"),
            health_check_started=T1,
            health_check_pending=False,
        ),
        latest_build=BuildStatus(**build),
        builds=[
            BuildRecord(**build, deployable=True),
            BuildRecord(**{**build, "id": "orders-b-0001", "status": BuildState.FAILED}, deployable=False),
        ],
        active_build_id="orders-b-0002",
        allowed_actions=AllowedActions.from_map(actions),
        queued_goals=["resize"],
        applied_tokens=AppliedTokens(
            reload="1", restart="1", rebuild="2024-06-01", secret_version="4711", secret_deploy_version="4710", health_check="1",
        ),
        identity=AwsIdentity(
            cluster_identity="prod-eu", service_name="rdb-prod-eu-team-a-orders-5d1c9a2e", task_family="rdb-prod-eu-team-a-orders-5d1c9a2e",
            secret_name="reflexdb/prod-eu/team-a/orders", origin=Origin.TAKEN_BACK, since=T0, tagged=True,
        ),
        rollout=RolloutMember(name="server-v1.5.0", server_version="v1.5.0", state=MemberState.HEALTHY, since=T1, wave=2, message="healthy on v1.5.0"),
        secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:reflex/orders-abc123",
        message="serving snapshot 42",
        build_intent=BuildIntent(
            idempotency_token="reflex-4c1e6a8e0d4b4cf7", attempt=0, input_hash="9f2c1e0b7a6d5c4b",
            image_uri="123456789012.dkr.ecr.eu-west-1.amazonaws.com/reflex/orders:9f2c1e0b7a6d5c4b-0",
            recorded_at=T0, queued_since=T0, unknown=False,
        ),
        placement=PlacementStatus(cluster="reflex-2", in_settings=False),
        plan=PlanStatus(
            name="pro", found=True, compute_units_limit=8, max_instance_size=Size.LARGE, poll_mode_min_sync_interval=10,
            data_transfer_gb_per_month=500, compute_units=1,
        ),
        notifications=[
            Notification(
                id="6f0c1d2e-3b4a-5c6d-8e9f-0a1b2c3d4e5f", event_type=NotificationType.BUILD_FAILED,
                message="build orders-b-0001 failed", detail="logs: https://example.invalid/logs",
                severity=Severity.ERROR, sticky=True, created_at=T0,
            ),
        ],
        unseen_count=1,
        skipped_count=0,
        history=[HistoryEntry(kind=HistoryKind.PHASE, from_="Deploying", to="Running", at=T1, reason="Running")],
        cost=CostStatus(
            hourly_usd=0.05, tasks=1, accrued_usd=0.2, month="2024-06", month_usd=0.2, accrued_at=T1, since=T0,
            changes=[CostChange(at=T0, hourly_usd=0.05, tasks=1, task_cpu=1024, task_memory_mb=2048)],
        ),
    )


def _assert_no_none(value: Any, path: str = "status") -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _assert_no_none(sub, f"{path}.{key}")
    elif isinstance(value, list):
        assert value, f"{path} is empty"
        for index, sub in enumerate(value):
            _assert_no_none(sub, f"{path}[{index}]")
    else:
        assert value is not None, f"{path} is not set"


def test_full_status_sets_every_field() -> None:
    wire = full_status().wire()
    _assert_no_none(wire)
    assert set(wire["allowedActions"]) == {action.value for action in Action}
    assert {"pause-replication", "resume-replication", "cancel-goal"} <= set(wire["allowedActions"])


def test_full_status_round_trips_through_the_status_subresource(kube, namespace: str) -> None:
    kube.kubectl("apply", "-n", namespace, "-f", str(REPO / "examples" / "full.yaml"))
    status = full_status().wire()
    kube.kubectl(
        "patch", "rdb", "orders", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )
    stored = _get(kube, namespace, "orders")
    assert stored["status"] == status  # nothing pruned, nothing changed
    assert ReflexDatabaseStatus.model_validate(stored["status"]) == full_status()
    # The status subresource leaves the spec alone (and the spec's generation).
    assert stored["metadata"]["generation"] == 1


def test_status_with_nulls_round_trips_through_replace(kube, namespace: str) -> None:
    """The operator writes ``.wire()`` (nulls kept) with a full update: accepted, and read back as
    the same model (null enums are pruned, i.e. absent, which parses as None)."""
    from kubernetes import client

    kube.kubectl("apply", "-n", namespace, "-f", str(REPO / "examples" / "minimal.yaml"))
    status = ReflexDatabaseStatus(
        phase=None,
        instance=InstanceStatus(endpoint_url="http://demo:8080", health_status=None),
        latest_build=BuildStatus(id="b1", status=BuildState.QUEUED),
        allowed_actions=AllowedActions.from_map(
            {action: ActionAvailability(allowed=False, mode=None, reason="no instance") for action in Action}
        ),
    )
    with kube.api_client() as api_client:
        api = client.CustomObjectsApi(api_client)
        obj = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "demo")
        obj["status"] = status.wire()
        api.replace_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, "demo", obj)
        stored = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "demo")
    assert ReflexDatabaseStatus.model_validate(stored["status"]) == status
    assert stored["status"]["activeBuildId"] is None  # nullable fields keep their null


def test_status_cannot_be_written_through_the_main_resource(kube, namespace: str) -> None:
    kube.kubectl("apply", "-n", namespace, "-f", str(REPO / "examples" / "minimal.yaml"))
    kube.kubectl("patch", "rdb", "demo", "-n", namespace, "--type=merge", "-p", json.dumps({"status": {"phase": "Running"}}))
    assert "status" not in _get(kube, namespace, "demo")


def test_bad_status_is_rejected_naming_the_field(kube, namespace: str) -> None:
    kube.kubectl("apply", "-n", namespace, "-f", str(REPO / "examples" / "minimal.yaml"))
    for status, path in [
        ({"phase": "Sleeping"}, "status.phase"),
        ({"instance": {"healthStatus": "fine"}}, "status.instance.healthStatus"),
        ({"instance": {"rowCounts": {"t": "many"}}}, "status.instance.rowCounts.t"),
        ({"allowedActions": {"pause-replication": {"allowed": True, "mode": "later"}}}, "status.allowedActions.pause-replication.mode"),
    ]:
        proc = kube.kubectl(
            "patch", "rdb", "demo", "-n", namespace, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": status}), check=False,
        )
        assert proc.returncode != 0 and f"{path}:" in proc.stderr, (status, proc.stderr)


# ------------------------------------------------------------------------------------ printer columns


def _table(text: str) -> list[dict[str, str]]:
    """Parse kubectl's table output by the header's column offsets (an empty cell is blank)."""
    header, *rows = [line for line in text.splitlines() if line.strip()]
    starts = [match.start() for match in re.finditer(r"(?<!\S)\S+( \S+)*", header)]
    names = [header[start:end].strip() for start, end in zip(starts, [*starts[1:], None], strict=True)]
    return [
        {name: row[start:end].strip() for name, start, end in zip(names, starts, [*starts[1:], None], strict=True)}
        for row in rows
    ]


DEFAULT_COLUMNS = ["NAME", "SIZE", "PHASE", "HEALTH", "SNAPSHOT AGE", "SWAPS", "BUILD", "AGE"]
WIDE_COLUMNS = [*DEFAULT_COLUMNS, "ENDPOINT", "SYNC", "ACTIVE BUILD", "READY", "CHECKED", "PLAN", "CLUSTER", "ROLLOUT"]


def test_printer_columns(kube, namespace: str) -> None:
    kube.kubectl("apply", "-n", namespace, "-f", str(REPO / "examples" / "full.yaml"))
    kube.kubectl("apply", "-n", namespace, "-f", str(REPO / "examples" / "minimal.yaml"))
    kube.kubectl(
        "patch", "rdb", "orders", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": full_status().wire()}),
    )

    out = kube.kubectl("get", "rdb", "-n", namespace).stdout
    assert re.split(r"\s{2,}", out.splitlines()[0].strip()) == DEFAULT_COLUMNS
    rows = {row["NAME"]: row for row in _table(out)}
    orders = rows["orders"]
    assert {k: v for k, v in orders.items() if k != "AGE"} == {
        "NAME": "orders", "SIZE": "medium", "PHASE": "Running", "HEALTH": "ok",
        "SWAPS": "42", "BUILD": "succeeded",
    } | {"SNAPSHOT AGE": orders["SNAPSHOT AGE"]}
    assert re.fullmatch(r"\d+[smh]", orders["AGE"]), orders["AGE"]
    # The snapshot's age is counted by kubectl from status.instance.snapshotTime (2024: years).
    assert re.fullmatch(r"\d+y\d*d?", orders["SNAPSHOT AGE"]), orders["SNAPSHOT AGE"]
    # Without a status: defaults in the spec columns, the rest empty.
    demo = rows["demo"]
    assert demo["SIZE"] == "small"
    assert [demo[c] for c in ("PHASE", "HEALTH", "SNAPSHOT AGE", "SWAPS", "BUILD")] == [""] * 5

    wide = kube.kubectl("get", "rdb", "-n", namespace, "-o", "wide").stdout
    assert re.split(r"\s{2,}", wide.splitlines()[0].strip()) == WIDE_COLUMNS
    rows = {row["NAME"]: row for row in _table(wide)}
    assert {k: rows["orders"][k] for k in WIDE_COLUMNS[len(DEFAULT_COLUMNS):]} == {
        "ENDPOINT": "http://orders.reflex.internal:8080", "SYNC": "stream",
        "ACTIVE BUILD": "orders-b-0002", "READY": "True", "PLAN": "pro",
        "CHECKED": rows["orders"]["CHECKED"], "CLUSTER": "reflex-2", "ROLLOUT": "Healthy",
    }
    assert re.fullmatch(r"\d+y\d*d?", rows["orders"]["CHECKED"]), rows["orders"]["CHECKED"]
    assert rows["demo"]["SYNC"] == "poll"
    assert rows["demo"]["READY"] == ""


def test_kubectl_wait_reads_the_ready_condition(kube, namespace: str) -> None:
    kube.kubectl("apply", "-n", namespace, "-f", str(REPO / "examples" / "full.yaml"))
    kube.kubectl(
        "patch", "rdb", "orders", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": full_status().wire()}),
    )
    # The condition is already there: `kubectl wait` returns at once.
    kube.kubectl("wait", "rdb/orders", "-n", namespace, "--for=condition=Ready", "--timeout=10s")


def test_explain_shows_descriptions(kube) -> None:
    out = kube.kubectl("explain", "rdb.spec.sync.intervalSeconds").stdout
    assert "Snapshot interval" in out
    out = kube.kubectl("explain", "rdb.status.allowedActions").stdout
    assert "pause-replication" in out
