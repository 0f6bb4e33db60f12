"""kube.config: one precedence for every component (flag, $KUBECONFIG, the pod's ServiceAccount,
~/.kube/config), table-tested on real kubeconfig and ServiceAccount files."""

from __future__ import annotations

from pathlib import Path

import kubernetes
import pytest
import yaml

from reflex_operator.kube import config


def _kubeconfig(path: Path, server: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "ns"}},
                     {"name": "other", "context": {"cluster": "k", "user": "u"}}],
    }))
    return path


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    flag = _kubeconfig(tmp_path / "flag", "https://flag.example:6443")
    env = _kubeconfig(tmp_path / "env", "https://env.example:6443")
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    _kubeconfig(home / ".kube" / "config", "https://home.example:6443")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(home / ".kube" / "config"))
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("sa-token")
    (sa / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nnot read by this test\n-----END CERTIFICATE-----\n")
    monkeypatch.setattr(kubernetes.config.incluster_config, "SERVICE_TOKEN_FILENAME", str(sa / "token"))
    monkeypatch.setattr(kubernetes.config.incluster_config, "SERVICE_CERT_FILENAME", str(sa / "ca.crt"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    return {"flag": flag, "env": env}


@pytest.mark.parametrize(
    ("flag", "env", "in_pod", "expected"),
    [
        (True, True, True, "https://flag.example:6443"),
        (False, True, True, "https://env.example:6443"),
        (False, False, True, "https://10.0.0.1:443"),
        (False, False, False, "https://home.example:6443"),
        (True, False, False, "https://flag.example:6443"),
        (False, True, False, "https://env.example:6443"),
    ],
)
def test_precedence(places: dict[str, Path], monkeypatch: pytest.MonkeyPatch, flag: bool, env: bool, in_pod: bool, expected: str) -> None:
    if env:
        monkeypatch.setenv("KUBECONFIG", str(places["env"]))
    if in_pod:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    client = config.api_client(str(places["flag"]) if flag else None)
    assert client.configuration.host == expected
    assert config.in_cluster(str(places["flag"]) if flag else None) == (expected == "https://10.0.0.1:443")


def test_a_context_means_a_kubeconfig_even_in_a_pod(places: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    assert config.api_client(None, context="other").configuration.host == "https://home.example:6443"


def test_the_process_default_is_left_alone(places: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    before = kubernetes.client.Configuration.get_default_copy().host
    config.api_client()
    assert kubernetes.client.Configuration.get_default_copy().host == before
