"""The install manifests: ``manifests/`` as a kustomize base (rendered with the built kubectl and
dry-run applied, server side, against the real kube-apiserver), the optional ServiceMonitor
component, the ClusterRole's least privilege, and the AWS IAM policy checked against the AWS calls
the operator's code makes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from reflex_operator.settings import Settings
from tests.fixtures.controlplane import Kube

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
POLICY = MANIFESTS / "aws" / "iam-policy.json"
AWS_CODE = ROOT / "operator" / "reflex_operator"

EXPECTED = {
    ("CustomResourceDefinition", "reflexdatabases.reflexdb.cloud"),
    ("Namespace", "reflex-system"),
    ("ServiceAccount", "reflex-operator"),
    ("ClusterRole", "reflex-operator"),
    ("ClusterRoleBinding", "reflex-operator"),
    ("Deployment", "reflex-operator"),
    ("Service", "reflex-operator-metrics"),
    ("Role", "reflex-operator-leader-election"),
    ("RoleBinding", "reflex-operator-leader-election"),
    ("PodDisruptionBudget", "reflex-operator"),
    ("CustomResourceDefinition", "reflexplans.reflexdb.cloud"),
    ("CustomResourceDefinition", "reflexbuilds.reflexdb.cloud"),
    ("CustomResourceDefinition", "reflexrollouts.reflexdb.cloud"),
    ("ValidatingAdmissionPolicy", "reflexdb-plan-limits"),
    ("ValidatingAdmissionPolicyBinding", "reflexdb-plan-limits"),
}


def render(kube: Kube, path: Path) -> tuple[str, list[dict[str, Any]]]:
    text = kube.kubectl("kustomize", str(path)).stdout
    return text, [doc for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture(scope="module")
def rendered(kube: Kube) -> tuple[str, list[dict[str, Any]]]:
    return render(kube, MANIFESTS)


@pytest.fixture(scope="module")
def objects(rendered: tuple[str, list[dict[str, Any]]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in rendered[1]}


def container(objects: dict) -> dict[str, Any]:
    (c,) = objects[("Deployment", "reflex-operator")]["spec"]["template"]["spec"]["containers"]
    return c


# ---------------------------------------------------------------------------------- the base


def test_kustomize_renders_the_base(rendered: tuple[str, list[dict]], objects: dict) -> None:
    assert len(rendered[1]) == len(objects), "duplicate objects in the rendered base"
    assert set(objects) == EXPECTED
    for (kind, _), obj in objects.items():
        if kind in ("ServiceAccount", "Deployment", "Service", "Role", "RoleBinding", "PodDisruptionBudget"):
            assert obj["metadata"]["namespace"] == "reflex-system", kind


def test_server_side_dry_run_apply(kube: Kube, rendered: tuple[str, list[dict]]) -> None:
    proc = kube.kubectl(
        "apply", "--server-side", "--dry-run=server", "--field-manager=reflex-manifests-test", "-f", "-",
        input=rendered[0],
    )
    for kind, name in EXPECTED:
        assert re.search(rf"(?i){re.escape(kind)}[^\s]*/{re.escape(name)} .*\(server dry run\)", proc.stdout), (
            f"{kind}/{name} not applied:\n{proc.stdout}"
        )


def test_deployment_shape(objects: dict) -> None:
    deployment = objects[("Deployment", "reflex-operator")]
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    # A rolling update never leaves fewer than two replicas: the new pod is up before an old one goes.
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "reflex-operator"
    assert ("ServiceAccount", pod["serviceAccountName"]) in objects
    assert set(spec["selector"]["matchLabels"].items()) <= set(spec["template"]["metadata"]["labels"].items())
    c = container(objects)
    assert c["image"].startswith("ghcr.io/reflexdb/reflex-operator:")
    assert c.get("args", ["run"]) == ["run"] and "command" not in c, "the image's ENTRYPOINT runs the operator"
    res = c["resources"]
    assert set(res["requests"]) == {"cpu", "memory"} and set(res["limits"]) == {"cpu", "memory"}


def test_deployment_security(objects: dict) -> None:
    pod = objects[("Deployment", "reflex-operator")]["spec"]["template"]["spec"]
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc["runAsUser"] == 65532
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
    csc = container(objects)["securityContext"]
    assert csc["runAsNonRoot"] is True
    assert csc["runAsUser"] == 65532
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc.get("privileged", False) is False
    assert csc["capabilities"] == {"drop": ["ALL"]}
    assert csc["seccompProfile"] == {"type": "RuntimeDefault"}
    # A read-only root needs a writable /tmp.
    mounts = {m["mountPath"]: m["name"] for m in container(objects)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_deployment_env_is_valid_configuration(objects: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every REFLEX_* variable names a setting and parses; the probes and ports agree with it."""
    c = container(objects)
    env = {e["name"]: e["value"] for e in c["env"] if "value" in e}
    assert env.get("AWS_REGION"), "AWS_REGION must be set"
    fields = {f"REFLEX_{name.upper()}" for name in Settings.model_fields}
    reflex = {k: v for k, v in env.items() if k.startswith("REFLEX_")}
    assert set(reflex) <= fields, f"unknown settings: {set(reflex) - fields}"
    for key in list(os.environ):
        if key.startswith("REFLEX_"):
            monkeypatch.delenv(key)
    for key, value in reflex.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": settings.metrics_port, "probes": settings.probe_port}
    for probe in ("livenessProbe", "readinessProbe"):
        get = c[probe]["httpGet"]
        assert get["path"] == "/healthz", probe  # kopf's liveness endpoint
        assert ports.get(get["port"], get["port"]) == settings.probe_port, probe


def test_high_availability(objects: dict) -> None:
    """Two replicas on different nodes if possible, a disruption budget that keeps one, and the
    downward API's pod name and namespace (the leader-election identity and the Leases' place)."""
    deployment = objects[("Deployment", "reflex-operator")]
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    (term,) = pod["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert set(term["podAffinityTerm"]["labelSelector"]["matchLabels"].items()) <= set(labels.items())
    pdb = objects[("PodDisruptionBudget", "reflex-operator")]
    assert pdb["spec"]["minAvailable"] == 1 and pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    assert set(pdb["spec"]["selector"]["matchLabels"].items()) <= set(labels.items())
    fields = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container(objects)["env"] if "valueFrom" in e}
    assert fields == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    settings = {e["name"]: e["value"] for e in container(objects)["env"] if "value" in e}
    timings = [settings[f"REFLEX_{k}"] for k in ("LEASE_DURATION_SECONDS", "RENEW_DEADLINE_SECONDS", "RETRY_PERIOD_SECONDS")]
    defaults = [Settings.model_fields[k].default for k in ("lease_duration_seconds", "renew_deadline_seconds", "retry_period_seconds")]
    assert [float(t) for t in timings] == [float(d) for d in defaults] == [15.0, 10.0, 2.0], "client-go's defaults"


def test_leader_election_role_is_namespaced_and_only_leases(objects: dict) -> None:
    role = objects[("Role", "reflex-operator-leader-election")]
    assert role["metadata"]["namespace"] == "reflex-system"
    (rule,) = role["rules"]
    assert rule["apiGroups"] == ["coordination.k8s.io"] and rule["resources"] == ["leases"]
    assert set(rule["verbs"]) == {"get", "list", "watch", "create", "update", "patch", "delete"}
    binding = objects[("RoleBinding", "reflex-operator-leader-election")]
    assert binding["metadata"]["namespace"] == "reflex-system"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reflex-operator-leader-election"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "reflex-operator", "namespace": "reflex-system"}]
    for rule in objects[("ClusterRole", "reflex-operator")]["rules"]:
        assert "leases" not in rule["resources"], "Leases only in the operator's namespace"


def test_metrics_service_selects_the_operator(objects: dict) -> None:
    svc = objects[("Service", "reflex-operator-metrics")]
    pod_labels = objects[("Deployment", "reflex-operator")]["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["type"] == "ClusterIP"
    assert set(svc["spec"]["selector"].items()) <= set(pod_labels.items())
    (port,) = svc["spec"]["ports"]
    assert port["name"] == "metrics" and port["port"] == 9090
    assert port["targetPort"] in {p["name"] for p in container(objects)["ports"]}


def test_monitoring_component_adds_a_matching_servicemonitor(kube: Kube, tmp_path: Path, objects: dict) -> None:
    base = os.path.relpath(MANIFESTS, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {base}\ncomponents:\n  - {base}/monitoring\n"
    )
    _, docs = render(kube, tmp_path)
    monitors = [d for d in docs if d["kind"] == "ServiceMonitor"]
    assert len(docs) == len(EXPECTED) + 1 and len(monitors) == 1
    (sm,) = monitors
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    svc = objects[("Service", "reflex-operator-metrics")]
    assert sm["metadata"]["namespace"] == svc["metadata"]["namespace"]
    assert set(sm["spec"]["selector"]["matchLabels"].items()) <= set(svc["metadata"]["labels"].items())
    assert {e["port"] for e in sm["spec"]["endpoints"]} <= {p["name"] for p in svc["spec"]["ports"]}
    # The per-database series' own namespace label is kept (the alerts group by it).
    assert all(e["honorLabels"] is True for e in sm["spec"]["endpoints"])


def test_alerts_component_adds_the_prometheusrule(kube: Kube, tmp_path: Path) -> None:
    base = os.path.relpath(MANIFESTS, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {base}\ncomponents:\n  - {base}/monitoring\n  - {base}/alerts\n"
    )
    _, docs = render(kube, tmp_path)
    rules = [d for d in docs if d["kind"] == "PrometheusRule"]
    assert len(docs) == len(EXPECTED) + 2 and len(rules) == 1
    (rule,) = rules
    assert rule["apiVersion"] == "monitoring.coreos.com/v1" and rule["metadata"]["namespace"] == "reflex-system"
    assert rule["spec"] == yaml.safe_load((MANIFESTS / "alerts" / "prometheusrule.yaml").read_text())["spec"]
    assert {g["name"] for g in rule["spec"]["groups"]} == {"reflex-operator.databases", "reflex-operator.operator", "reflex-operator.plans", "reflex-operator.rollouts"}


# ------------------------------------------------------------------------------------ RBAC

SECRET_WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
DANGEROUS_VERBS = {"escalate", "bind", "impersonate"}


def test_clusterrole_is_least_privilege(objects: dict) -> None:
    role = objects[("ClusterRole", "reflex-operator")]
    assert "aggregationRule" not in role
    for rule in role["rules"]:
        assert "nonResourceURLs" not in rule, rule
        for key in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert not any("*" in item for item in rule.get(key, [])), f"wildcard in {key}: {rule}"
        assert not (set(rule["verbs"]) & DANGEROUS_VERBS), rule
        if "" in rule["apiGroups"] and "secrets" in rule["resources"]:
            assert not (set(rule["verbs"]) & SECRET_WRITE_VERBS), f"the operator must not write Secrets: {rule}"
    binding = objects[("ClusterRoleBinding", "reflex-operator")]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reflex-operator"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "reflex-operator", "namespace": "reflex-system"}]


# ------------------------------------------------------------------------------ IAM policy

# The boto3 service names the operator uses, and their IAM action prefixes.
IAM_PREFIX = {"codebuild": "codebuild", "ecs": "ecs", "secretsmanager": "secretsmanager", "ecr": "ecr"}

# Actions no API operation is named after, but that the calls need: each with the code that needs
# it (checked to still be there, so a permission cannot outlive its reason).
IMPLIED = {
    "iam:PassRole": ("aws/ecs.py", '"executionRoleArn"'),  # RegisterTaskDefinition passes the role
    "ecs:TagResource": ("aws/ecs.py", '"tags"'),  # tags on RegisterTaskDefinition / CreateService
    "secretsmanager:TagResource": ("aws/secrets.py", "Tags="),  # tags on CreateSecret
}

# Actions for which AWS supports no resource-level permissions: the Service Authorization
# Reference lists no resource type for them, so "Resource" must be "*".
NO_RESOURCE_LEVEL = {"ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"}

CALL = re.compile(r"\baws\.call(?:_sync)?\(\s*\"([a-z0-9-]+)\"\s*,\s*\"([A-Za-z0-9]+)\"")
ANY_CALL = re.compile(r"\baws\.call(?:_sync)?\(")


def operator_aws_actions() -> set[str]:
    """``service:Operation`` for every AWS call in the operator (the dev stack excluded)."""
    actions: set[str] = set()
    for path in sorted(AWS_CODE.rglob("*.py")):
        if "dev" in path.relative_to(AWS_CODE).parts:
            continue
        text = path.read_text()
        found = CALL.findall(text)
        assert len(found) == len(ANY_CALL.findall(text)), (
            f"{path}: an aws.call whose service and operation are not string literals; extend this test"
        )
        for service, operation in found:
            assert service in IAM_PREFIX, f"{path}: AWS service {service!r} has no IAM mapping in this test"
            actions.add(f"{IAM_PREFIX[service]}:{operation}")
    return actions


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    return json.loads(POLICY.read_text())


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_policy_is_well_formed(policy: dict) -> None:
    assert policy["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids)) and all(re.fullmatch(r"[A-Za-z0-9]+", s) for s in sids)
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow", st
        assert not ({"NotAction", "NotResource", "Principal"} & set(st)), st
    # Managed policies are limited to 6,144 characters, whitespace not counted.
    assert len(re.sub(r"\s", "", POLICY.read_text())) <= 6144


def test_policy_covers_exactly_the_calls_the_operator_makes(policy: dict) -> None:
    code = operator_aws_actions()
    assert {"codebuild:StartBuild", "ecs:CreateService", "secretsmanager:CreateSecret", "ecr:DescribeRepositories"} <= code
    for action, (path, marker) in IMPLIED.items():
        assert marker in (AWS_CODE / path).read_text(), f"{action} is granted because of {marker} in {path}"
    granted = [a for st in policy["Statement"] for a in as_list(st["Action"])]
    assert len(granted) == len(set(granted)), "an action granted twice"
    missing = (code | set(IMPLIED)) - set(granted)
    extra = set(granted) - (code | set(IMPLIED))
    assert not missing, f"the operator calls these but the policy does not allow them: {sorted(missing)}"
    assert not extra, f"the policy allows actions the operator never uses: {sorted(extra)}"


def test_policy_has_no_wildcards_beyond_what_aws_requires(policy: dict) -> None:
    for st in policy["Statement"]:
        actions = as_list(st["Action"])
        assert not any("*" in a or "?" in a for a in actions), f"wildcard action: {st['Sid']}"
        resources = as_list(st["Resource"])
        if "*" in resources:
            assert resources == ["*"] and set(actions) <= NO_RESOURCE_LEVEL, (
                f"{st['Sid']}: Resource \"*\" only for actions without resource-level permissions"
            )
        for arn in resources:
            if arn == "*":
                continue
            assert re.fullmatch(r"arn:aws:(?:iam::ACCOUNT_ID|[a-z]+:REGION:ACCOUNT_ID):\S+", arn), arn
            name = arn.split(":", 5)[5]
            assert name not in ("*", "secret:*", "project/*", "repository/*", "role/*"), f"{st['Sid']}: unscoped {arn}"


def test_policy_conditions(policy: dict) -> None:
    by_action = {a: st for st in policy["Statement"] for a in as_list(st["Action"])}
    assert by_action["iam:PassRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
    # Tags are written on creation and on resources taken back, adopted, released or made before
    # the ownership tags: always with the owner's cluster identity in the request.
    assert "aws:RequestTag/reflexdb.cloud/cluster-identity" in by_action["ecs:TagResource"]["Condition"]["Null"]
    from reflex_operator.database import ownership

    assert ownership.CLUSTER_IDENTITY == "reflexdb.cloud/cluster-identity"
    assert "aws:RequestTag/reflexdb.cloud/resource" in by_action["secretsmanager:TagResource"]["Condition"]["Null"]
    assert "aws:RequestTag/reflexdb.cloud/deploy-hash" in by_action["ecs:RegisterTaskDefinition"]["Condition"]["Null"]
    # Those tag keys are the ones the code sets.
    assert '"reflexdb.cloud/resource"' in (AWS_CODE / "aws" / "secrets.py").read_text()
    assert '"reflexdb.cloud/deploy-hash"' in (AWS_CODE / "aws" / "ecs.py").read_text()


def test_policy_resources_match_the_deployment_configuration(policy: dict, objects: dict) -> None:
    env = {e["name"]: e["value"] for e in container(objects)["env"] if "value" in e}
    defaults = Settings.model_fields
    conf = {
        key: env.get(f"REFLEX_{key.upper()}", defaults[key].default)
        for key in ("codebuild_project", "ecr_repository", "ecs_cluster", "execution_role_arn", "secret_prefix")
    }
    by_action = {a: as_list(st["Resource"]) for st in policy["Statement"] for a in as_list(st["Action"])}
    assert by_action["codebuild:StartBuild"] == [f"arn:aws:codebuild:REGION:ACCOUNT_ID:project/{conf['codebuild_project']}"]
    assert by_action["ecr:DescribeRepositories"] == [f"arn:aws:ecr:REGION:ACCOUNT_ID:repository/{conf['ecr_repository']}"]
    # ECS service names and task families start with "rdb-" (reflex_operator.database.identity).
    assert by_action["ecs:CreateService"] == [f"arn:aws:ecs:REGION:ACCOUNT_ID:service/{conf['ecs_cluster']}/rdb-*"]
    role_name = conf["execution_role_arn"].rsplit("/", 1)[1]
    assert by_action["iam:PassRole"] == [f"arn:aws:iam::ACCOUNT_ID:role/{role_name}"]
    assert by_action["secretsmanager:CreateSecret"] == [
        f"arn:aws:secretsmanager:REGION:ACCOUNT_ID:secret:{conf['secret_prefix']}*"
    ]
    from reflex_operator.database import identity

    assert identity.service_name("ns", "db", "0123456789").startswith("rdb-")
    assert identity.task_family("ns", "db", "0123456789").startswith("rdb-")
    assert identity.secret_name(conf["secret_prefix"], "ns", "db", "0123456789").startswith(conf["secret_prefix"])


def test_irsa_example_is_documented() -> None:
    text = (MANIFESTS / "aws" / "README.md").read_text()
    assert "eks.amazonaws.com/role-arn" in text
    assert "iam-policy.json" in text


# ------------------------------------------------------------------- the reflex-api component


def test_the_api_component_renders_and_applies(kube: Kube, tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(MANIFESTS, overlay)], "components": [os.path.relpath(MANIFESTS / "api", overlay)],
    }))
    text, docs = render(kube, overlay)
    objs = {(o["kind"], o["metadata"]["name"]): o for o in docs}
    api = {k for k in objs if k[1] == "reflex-api"}
    assert api == {("ServiceAccount", "reflex-api"), ("ClusterRole", "reflex-api"), ("ClusterRoleBinding", "reflex-api"),
                   ("Deployment", "reflex-api"), ("Service", "reflex-api")}
    spec = objs[("Deployment", "reflex-api")]["spec"]
    assert spec["replicas"] == 2 and spec["template"]["spec"]["serviceAccountName"] == "reflex-api"
    (c,) = spec["template"]["spec"]["containers"]
    assert c["command"] == ["reflex-api"]
    rules = objs[("ClusterRole", "reflex-api")]["rules"]
    rdb = next(r for r in rules if "reflexdatabases" in r["resources"])
    assert set(rdb["verbs"]) == {"get", "list", "watch"}, "the API writes only as the caller"
    proc = kube.kubectl("apply", "--server-side", "--dry-run=server", "--field-manager=reflex-manifests-test", "-f", "-", input=text)
    for kind, name in api:
        assert re.search(rf"(?i){re.escape(kind)}[^\s]*/{name} .*\(server dry run\)", proc.stdout), f"{kind}/{name}:\n{proc.stdout}"
