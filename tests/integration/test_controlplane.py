"""The real control plane: upstream kube-apiserver, the CRD served, and the operator's RBAC is
enough for what it does and nothing more."""

from __future__ import annotations

import json

import pytest

from reflex_dev.controlplane import OPERATOR_USER, kubernetes_version

pytestmark = pytest.mark.integration

CRD = "reflexdatabases.reflexdb.cloud"


def test_apiserver_is_upstream_release(kube):
    version = json.loads(kube.kubectl("get", "--raw", "/version").stdout)
    assert version["gitVersion"] == kubernetes_version() == "v1.36.3"
    assert (version["major"], version["minor"]) == ("1", "36")

    from kubernetes import client

    with kube.api_client() as api:
        assert client.VersionApi(api).get_code().git_version == "v1.36.3"


def test_secure_serving_and_token_identities(kube):
    # The admin is a cluster admin; the operator token maps to its ServiceAccount identity.
    who = json.loads(kube.kubectl("auth", "whoami", "-o", "json", kubeconfig=kube.operator_kubeconfig).stdout)
    assert who["status"]["userInfo"]["username"] == OPERATOR_USER
    assert "system:serviceaccounts:reflex-system" in who["status"]["userInfo"]["groups"]
    assert kube.controlplane.url.startswith("https://127.0.0.1:")
    assert kube.kubectl("auth", "can-i", "*", "*").stdout.strip() == "yes"


def test_crd_is_served(kube):
    out = kube.kubectl("get", "crd", CRD, "-o", "json").stdout
    crd = json.loads(out)
    established = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert established.get("Established") == "True"
    resources = kube.kubectl("api-resources", "--api-group=reflexdb.cloud", "-o", "name").stdout.split()
    assert CRD in resources


ALLOWED = [
    ("list", "reflexdatabases.reflexdb.cloud", "--all-namespaces"),
    ("watch", "reflexdatabases.reflexdb.cloud", "--all-namespaces"),
    ("patch", "reflexdatabases.reflexdb.cloud", "-n", "default"),
    ("patch", "reflexdatabases.reflexdb.cloud", "--subresource=status", "-n", "default"),
    ("update", "reflexdatabases.reflexdb.cloud", "--subresource=status", "-n", "default"),
    ("create", "events", "-n", "default"),
    ("create", "events.events.k8s.io", "-n", "default"),
    ("get", "secrets", "-n", "default"),
    ("watch", "secrets", "--all-namespaces"),
    ("list", "customresourcedefinitions.apiextensions.k8s.io"),
    ("list", "namespaces"),
    # Leader election, in the operator's own namespace.
    *[(verb, "leases.coordination.k8s.io", "-n", "reflex-system") for verb in ("get", "list", "watch", "create", "update", "patch", "delete")],
    ("get", "namespaces"),
    ("watch", "namespaces"),
    ("list", "reflexplans.reflexdb.cloud"),
    ("watch", "reflexplans.reflexdb.cloud"),
    ("patch", "reflexplans.reflexdb.cloud", "--subresource=status"),
    # The fleet's shared builds (cluster-scoped): the operator writes them.
    *[(verb, "reflexbuilds.reflexdb.cloud") for verb in ("get", "list", "watch", "create", "patch", "delete")],
    ("patch", "reflexbuilds.reflexdb.cloud", "--subresource=status"),
    ("list", "reflexrollouts.reflexdb.cloud"),
    ("watch", "reflexrollouts.reflexdb.cloud"),
    ("create", "reflexrollouts.reflexdb.cloud"),
    ("patch", "reflexrollouts.reflexdb.cloud", "--subresource=status"),
]

DENIED = [
    ("delete", "secrets", "-n", "default"),
    ("patch", "secrets", "-n", "default"),
    ("create", "secrets", "-n", "default"),
    ("create", "pods", "-n", "default"),
    ("create", "deployments.apps", "-n", "default"),
    ("delete", "reflexdatabases.reflexdb.cloud", "-n", "default"),
    ("create", "reflexdatabases.reflexdb.cloud", "-n", "default"),
    ("patch", "customresourcedefinitions.apiextensions.k8s.io"),
    ("create", "leases.coordination.k8s.io", "-n", "default"),
    ("update", "leases.coordination.k8s.io", "-n", "kube-system"),
    ("list", "leases.coordination.k8s.io", "--all-namespaces"),
    ("patch", "reflexplans.reflexdb.cloud"),
    ("create", "reflexplans.reflexdb.cloud"),
    ("delete", "reflexplans.reflexdb.cloud"),
    ("patch", "namespaces"),
    ("patch", "reflexrollouts.reflexdb.cloud"),  # the spec is the users' (pause, resume, abort)
    ("delete", "reflexrollouts.reflexdb.cloud"),
]


@pytest.mark.parametrize("verb_resource", ALLOWED, ids=lambda v: " ".join(v))
def test_operator_can(kube, verb_resource):
    proc = kube.kubectl("auth", "can-i", *verb_resource, kubeconfig=kube.operator_kubeconfig, check=False)
    assert (proc.returncode, proc.stdout.strip()) == (0, "yes"), proc.stderr


@pytest.mark.parametrize("verb_resource", DENIED, ids=lambda v: " ".join(v))
def test_operator_cannot(kube, verb_resource):
    proc = kube.kubectl("auth", "can-i", *verb_resource, kubeconfig=kube.operator_kubeconfig, check=False)
    assert (proc.returncode, proc.stdout.strip()) == (1, "no"), proc.stderr


def _forbidden(proc) -> bool:
    return proc.returncode != 0 and "forbidden" in proc.stderr.lower() and OPERATOR_USER in proc.stderr


def test_operator_real_requests_secrets_and_events(kube, namespace):
    """Real requests, not only can-i: the operator reads a Secret and records an Event; it may not
    delete, patch or create Secrets, nor create pods or deployments."""
    op = kube.operator_kubeconfig
    kube.kubectl("create", "secret", "generic", "src", "-n", namespace, "--from-literal=url=postgres://db/x")

    got = json.loads(kube.kubectl("get", "secret", "src", "-n", namespace, "-o", "json", kubeconfig=op).stdout)
    assert got["data"]["url"]
    kube.kubectl("get", "secrets", "-n", namespace, kubeconfig=op)

    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "rbac-check-", "namespace": namespace},
        "involvedObject": {"kind": "Secret", "name": "src", "namespace": namespace, "apiVersion": "v1"},
        "reason": "RbacCheck",
        "message": "the operator may record events",
        "type": "Normal",
    }
    kube.kubectl("create", "-f", "-", kubeconfig=op, input=json.dumps(event))

    assert _forbidden(kube.kubectl("delete", "secret", "src", "-n", namespace, kubeconfig=op, check=False))
    assert _forbidden(kube.kubectl(
        "patch", "secret", "src", "-n", namespace, "--type=merge", "-p", '{"stringData":{"url":"x"}}',
        kubeconfig=op, check=False,
    ))
    assert _forbidden(kube.kubectl(
        "create", "secret", "generic", "other", "-n", namespace, "--from-literal=a=b", kubeconfig=op, check=False,
    ))
    assert _forbidden(kube.kubectl(
        "run", "nope", "-n", namespace, "--image=busybox", "--restart=Never", kubeconfig=op, check=False,
    ))
    assert _forbidden(kube.kubectl(
        "create", "deployment", "nope", "-n", namespace, "--image=busybox", kubeconfig=op, check=False,
    ))
    # The Secret is untouched.
    after = json.loads(kube.kubectl("get", "secret", "src", "-n", namespace, "-o", "json").stdout)
    assert after["data"] == got["data"]
    assert kube.kubectl("get", "pods,deployments", "-n", namespace, "-o", "name").stdout.strip() == ""


def test_operator_real_requests_reflexdatabases(kube, namespace):
    """The operator lists ReflexDatabases cluster-wide, patches their status and metadata; it may
    not create or delete them (users do that)."""
    op = kube.operator_kubeconfig
    rdb = {
        "apiVersion": "reflexdb.cloud/v1alpha1",
        "kind": "ReflexDatabase",
        "metadata": {"name": "db1", "namespace": namespace},
        "spec": {"source": {"secretRef": {"name": "src"}}},
    }
    kube.kubectl("create", "-f", "-", input=json.dumps(rdb))

    listed = json.loads(kube.kubectl("get", "reflexdatabases", "-A", "-o", "json", kubeconfig=op).stdout)
    assert any(i["metadata"]["name"] == "db1" and i["metadata"]["namespace"] == namespace for i in listed["items"])

    kube.kubectl(
        "patch", "reflexdatabase", "db1", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"phase": "Pending", "observedGeneration": 1}}), kubeconfig=op,
    )
    kube.kubectl(
        "patch", "reflexdatabase", "db1", "-n", namespace, "--type=merge",
        "-p", json.dumps({"metadata": {"finalizers": ["reflexdb.cloud/cleanup"]}}), kubeconfig=op,
    )
    got = json.loads(kube.kubectl("get", "reflexdatabase", "db1", "-n", namespace, "-o", "json").stdout)
    assert got["status"]["phase"] == "Pending"
    assert got["metadata"]["finalizers"] == ["reflexdb.cloud/cleanup"]

    assert _forbidden(kube.kubectl("delete", "reflexdatabase", "db1", "-n", namespace, kubeconfig=op, check=False))
    rdb2 = {**rdb, "metadata": {"name": "db2", "namespace": namespace}}
    assert _forbidden(kube.kubectl("create", "-f", "-", input=json.dumps(rdb2), kubeconfig=op, check=False))

    # Clean up the finalizer so the object can go (no operator runs here to remove it).
    kube.kubectl("patch", "reflexdatabase", "db1", "-n", namespace, "--type=merge",
                 "-p", '{"metadata":{"finalizers":null}}')


def test_operator_real_requests_leases(kube):
    """The operator's identity creates, renews and deletes a Lease in its own namespace, and may not
    touch Leases anywhere else."""
    op = kube.operator_kubeconfig
    lease = {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "rbac-check", "namespace": "reflex-system"},
        "spec": {"holderIdentity": "rbac-check", "leaseDurationSeconds": 15},
    }
    kube.kubectl("create", "-f", "-", input=json.dumps(lease), kubeconfig=op)
    try:
        kube.kubectl("patch", "lease", "rbac-check", "-n", "reflex-system", "--type=merge",
                     "-p", '{"spec":{"holderIdentity":""}}', kubeconfig=op)
    finally:
        kube.kubectl("delete", "lease", "rbac-check", "-n", "reflex-system", kubeconfig=op)
    elsewhere = {**lease, "metadata": {"name": "rbac-check", "namespace": "default"}}
    assert _forbidden(kube.kubectl("create", "-f", "-", input=json.dumps(elsewhere), kubeconfig=op, check=False))
