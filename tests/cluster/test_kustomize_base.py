"""The kustomize base as a user applies it (``kubectl apply --server-side -k``), with the reflex-api
component, on the suite's cluster beside the helm release: an overlay sets the image and points the
operator at the emulator, watching a namespace of its own (the helm release watches another), so
the two installations never act on the same databases.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
import yaml

from reflex_dev.clusterstack import kustomize_overlay
from tests.cluster.conftest import World

# The first test bears the suite's setup: the image's build (minutes when its inputs changed, more
# when it waits for test_image.py's build to finish), the cluster's start and helm install.
pytestmark = [pytest.mark.e2e, pytest.mark.cluster, pytest.mark.timeout(2400)]

NAMESPACE = "reflex-system"
WATCHED = "dbs-kustomize"
OPERATOR = "app.kubernetes.io/name=reflex-operator,app.kubernetes.io/component=operator"
API = "app.kubernetes.io/name=reflex-api,app.kubernetes.io/component=api"


def test_kubectl_apply_k_installs_a_working_operator_and_reflex_api_serves_through_its_service(world: World) -> None:
    overlay = kustomize_overlay(world.stack, world.workdir / "overlay", namespace=WATCHED)
    world.kubectl("apply", "--server-side", "-k", str(overlay), timeout=180)
    world.kubectl("create", "namespace", WATCHED)
    world.wait_ready_pods(2, OPERATOR, NAMESPACE)
    world.wait_leader(namespace=NAMESPACE, selector=OPERATOR)
    world.wait_ready_pods(2, API, NAMESPACE)

    world.create_database("kustomized", namespace=WATCHED)
    world.wait_ready(["kustomized"], namespace=WATCHED)
    assert world.aws_of("kustomized", namespace=WATCHED) == (1, 1)

    ip = world.service_ip("reflex-api", NAMESPACE)
    with urllib.request.urlopen(f"http://{ip}/healthz", timeout=10) as reply:
        assert reply.status == 200
    assert world.stack.cluster is not None
    kubeconfig = yaml.safe_load(world.stack.cluster.admin_kubeconfig.read_text())
    token = kubeconfig["users"][0]["user"]["token"]
    request = urllib.request.Request(f"http://{ip}/v1/databases", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=20) as reply:
        body = json.loads(reply.read())
    assert "kustomized" in json.dumps(body), body
