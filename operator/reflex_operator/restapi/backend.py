"""The production backend: who the caller is (TokenReview), what they may do (SubjectAccessReview),
both cached briefly; reads from the watch cache; writes impersonating the caller, so the API
server's audit log and the object's managedFields name the person, not this service."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from kubernetes import client
from urllib3 import HTTPHeaderDict

from reflex_operator.api.models import GROUP, PLURAL, VERSION
from reflex_operator.restapi.app import ApiError, User
from reflex_operator.restapi.cache import Cache

__all__ = ["TtlCache", "KubeBackend", "FIELD_MANAGER"]

Obj = dict[str, Any]
FIELD_MANAGER = "reflex-api"


class TtlCache:
    """A small map whose entries expire after ``ttl`` seconds (and that forgets all at ``size``)."""

    def __init__(self, ttl: float, size: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.size, self.clock = ttl, size, clock
        self._d: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        now = self.clock()
        with self._lock:
            hit = self._d.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        value = compute()
        with self._lock:
            if len(self._d) >= self.size:
                self._d.clear()
            self._d[key] = (now + self.ttl, value)
        return value


class KubeBackend:
    """The API server behind reflex-api (``api`` authenticates as the API's ServiceAccount)."""

    def __init__(self, api: client.ApiClient, cache: Cache, ttl: float = 10.0) -> None:
        self.api, self.cache = api, cache
        self._authn = client.AuthenticationV1Api(api)
        self._authz = client.AuthorizationV1Api(api)
        self._tokens = TtlCache(ttl)
        self._reviews = TtlCache(ttl)

    def authenticate(self, token: str) -> User | None:
        key = hashlib.sha256(token.encode()).hexdigest()  # the token itself is never kept
        return self._tokens.get(key, lambda: self._token_review(token))

    def _token_review(self, token: str) -> User | None:
        review = self._authn.create_token_review(client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token)))
        st = review.status
        if not st or not st.authenticated or not st.user:
            return None
        u = st.user
        extra = {k: tuple(v) for k, v in (u.extra or {}).items()}
        return User(u.username, tuple(u.groups or ()), u.uid or "", extra)

    def allowed(self, user: User, verb: str, namespace: str | None) -> bool:
        key = (user.name, user.groups, user.uid, verb, namespace)
        return self._reviews.get(key, lambda: self._access_review(user, verb, namespace))

    def _access_review(self, user: User, verb: str, namespace: str | None) -> bool:
        spec = client.V1SubjectAccessReviewSpec(
            user=user.name, groups=list(user.groups), uid=user.uid or None,
            extra={k: list(v) for k, v in user.extra.items()} or None,
            resource_attributes=client.V1ResourceAttributes(group=GROUP, resource=PLURAL, verb=verb, namespace=namespace),
        )
        review = self._authz.create_subject_access_review(client.V1SubjectAccessReview(spec=spec))
        return bool(review.status and review.status.allowed)

    def objects(self) -> list[Obj]:
        return self.cache.objects()

    def by_uid(self, uid: str) -> Obj | None:
        return self.cache.by_uid(uid)

    def plans(self) -> dict[str, Obj]:
        return {p["metadata"]["name"]: p for p in self.cache.plans.objects()}

    def _as(self, user: User, method: str, obj: Obj, body: Obj | None, content_type: str) -> Obj:
        """One request impersonating ``user`` (every group: one Impersonate-Group header each) on
        ``obj`` (its collection for a POST)."""
        cfg = self.api.configuration
        meta = obj["metadata"]
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{quote(meta['namespace'])}/{PLURAL}"
        if method != "POST":
            path += f"/{quote(meta['name'])}"
        headers = HTTPHeaderDict({"Content-Type": content_type, "Accept": "application/json", "Impersonate-User": user.name})
        if auth := cfg.get_api_key_with_prefix("authorization") or cfg.get_api_key_with_prefix("BearerToken"):
            headers["Authorization"] = auth
        for g in user.groups:
            headers.add("Impersonate-Group", g)
        if user.uid:
            headers["Impersonate-Uid"] = user.uid
        for k, values in user.extra.items():
            for v in values:
                headers.add(f"Impersonate-Extra-{quote(k, safe='')}", v)
        query = f"?fieldManager={FIELD_MANAGER}" if method in ("PATCH", "POST") else ""
        r = self.api.rest_client.pool_manager.request(
            method, cfg.host + path + query, body=json.dumps(body or {}).encode(), headers=headers, preload_content=True
        )
        data = json.loads(r.data or b"{}")
        if r.status >= 400:
            code = {403: "forbidden", 404: "not_found", 409: "conflict", 422: "invalid"}.get(r.status, "kubernetes_error")
            raise ApiError(r.status if r.status in (403, 404, 409, 422) else 502, code, data.get("message", r.reason or ""))
        return data

    def patch(self, user: User, obj: Obj, patch: Obj) -> Obj:
        return self._as(user, "PATCH", obj, patch, "application/merge-patch+json")

    def create(self, user: User, obj: Obj) -> Obj:
        return self._as(user, "POST", obj, obj, "application/json")

    def delete(self, user: User, obj: Obj) -> None:
        self._as(user, "DELETE", obj, {"propagationPolicy": "Background"}, "application/json")
