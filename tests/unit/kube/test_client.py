"""The Kubernetes adapter's answers to the API's errors: 409 becomes ``Conflict`` (so the worker
never sees the client library's exceptions), 404 means gone, anything else is raised. The API
clients are replaced by fakes; no cluster is involved."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
from kubernetes.client.exceptions import ApiException

from reflex_operator.ports import Conflict
from reflex_operator.kube.client import FINALIZER, Kube


class FakeApi:
    def __init__(self, error: int | None = None, answer=None) -> None:
        self.error, self.answer, self.calls = error, answer, []

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            if self.error is not None:
                raise ApiException(status=self.error)
            return self.answer

        return call


def kube(custom=None, core=None) -> Kube:
    k = Kube.__new__(Kube)
    k.custom, k.core = custom or FakeApi(), core or FakeApi()
    return k


async def test_status_patch_returns_the_stored_object():
    k = kube(FakeApi(answer={"metadata": {"resourceVersion": "7"}}))
    assert await k.patch_status("ns", "db", {"phase": "Running"}) == {"metadata": {"resourceVersion": "7"}}
    name, args, kwargs = k.custom.calls[0]
    assert name == "patch_namespaced_custom_object_status" and args[-1] == {"status": {"phase": "Running"}}
    assert kwargs["_content_type"] == "application/merge-patch+json"


@pytest.mark.parametrize("write", ["status", "finalizers"])
async def test_a_409_is_a_conflict(write):
    k = kube(FakeApi(error=409))
    with pytest.raises(Conflict):
        if write == "status":
            await k.patch_status("ns", "db", {})
        else:
            await k.set_finalizers("ns", "db", [FINALIZER], "12")


async def test_finalizers_are_guarded_by_the_resource_version_and_a_gone_object_is_fine():
    k = kube()
    await k.set_finalizers("ns", "db", [FINALIZER], "12")
    assert k.custom.calls[0][1][-1] == {"metadata": {"finalizers": [FINALIZER], "resourceVersion": "12"}}
    await k.set_finalizers("ns", "db", [], None)
    assert k.custom.calls[1][1][-1] == {"metadata": {"finalizers": []}}
    await kube(FakeApi(error=404)).set_finalizers("ns", "db", [], "3")  # deleted meanwhile
    with pytest.raises(ApiException):
        await kube(FakeApi(error=500)).set_finalizers("ns", "db", [], "3")
    with pytest.raises(ApiException):
        await kube(FakeApi(error=500)).patch_status("ns", "db", {})


async def test_secret_reads():
    secret = SimpleNamespace(
        data={"url": base64.b64encode(b"postgres://x").decode()}, string_data=None, metadata=SimpleNamespace(resource_version=42)
    )
    k = kube(core=FakeApi(answer=secret))
    assert await k.secret_meta("ns", "db") == ("42", frozenset({"url"}))
    assert await k.secret_value("ns", "db", "url") == "postgres://x"
    assert await k.secret_value("ns", "db", "dsn") is None
    gone = kube(core=FakeApi(error=404))
    assert await gone.secret_meta("ns", "db") is None and await gone.secret_value("ns", "db", "url") is None
    with pytest.raises(ApiException):
        await kube(core=FakeApi(error=403)).secret_meta("ns", "db")


async def test_an_event_names_the_resource_and_is_bounded():
    k = kube()
    body = {"metadata": {"name": "db", "namespace": "ns", "uid": "u1", "resourceVersion": "5"}}
    await k.post_event(body, True, "AWSError", "x" * 5000)
    name, (namespace, event), _ = k.core.calls[0]
    assert name == "create_namespaced_event" and namespace == "ns"
    assert event.type == "Warning" and event.reason == "AWSError" and len(event.message) == 1024
    assert event.involved_object.uid == "u1" and event.involved_object.kind == "ReflexDatabase"
