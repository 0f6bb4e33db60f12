"""Watch-backed copies of every ReflexDatabase (indexed by uid) and every ReflexPlan (by name):
for each, one list, then a watch from its resourceVersion, listed again when the watch expires
(410 Gone) or fails. Reads never reach the API server."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from reflex_operator.api.models import GROUP, PLURAL, VERSION
from reflex_operator.api.plan import PLAN_PLURAL

__all__ = ["Cache", "Watched"]

log = logging.getLogger("reflex_operator.restapi.cache")
Obj = dict[str, Any]


class Watched:
    """One kind's copy: ``lister(*args)`` lists (and, with ``watch=True``, watches) it (the client's
    own method: the watch reads its docstring); ``key`` names an object in the copy (None: skip it)."""

    def __init__(
        self, what: str, lister: Callable[..., Any], args: tuple[str, ...], key: Callable[[Obj], str | None], timeout_seconds: int = 300
    ) -> None:
        self.what, self._lister, self._args, self._key, self._timeout = what, lister, args, key, timeout_seconds
        self._by_key: dict[str, Obj] = {}
        self._lock = threading.Lock()
        self.synced = threading.Event()
        self._stop = threading.Event()

    def objects(self) -> list[Obj]:
        with self._lock:
            return list(self._by_key.values())

    def get(self, key: str) -> Obj | None:
        with self._lock:
            return self._by_key.get(key)

    def apply(self, kind: str, obj: Obj) -> None:
        """One watch event (ADDED, MODIFIED, DELETED) into the copy."""
        key = self._key(obj)
        if not key:
            return
        with self._lock:
            if kind == "DELETED":
                self._by_key.pop(key, None)
            else:
                self._by_key[key] = obj

    def _list(self) -> str:
        body = self._lister(*self._args)
        items = {k: o for o in body.get("items", []) if (k := self._key(o))}
        with self._lock:
            self._by_key = items
        self.synced.set()
        return body["metadata"]["resourceVersion"]

    def _watch(self, rv: str) -> None:
        w = watch.Watch()
        for event in w.stream(self._lister, *self._args, resource_version=rv, timeout_seconds=self._timeout, allow_watch_bookmarks=True):
            if self._stop.is_set():
                w.stop()
                return
            kind, obj = event["type"], event["object"]
            if kind == "ERROR":
                raise ApiException(status=obj.get("code", 500), reason=obj.get("message", ""))
            if kind != "BOOKMARK":
                self.apply(kind, obj)

    def run(self) -> None:
        """List, then watch; on 410 or any failure list again (after a short pause on failure)."""
        while not self._stop.is_set():
            try:
                self._watch(self._list())
            except ApiException as e:
                if e.status != 410:
                    log.warning("watch of %s failed (%s): listing again", self.what, e.status)
                    self._stop.wait(1.0)
            except Exception:  # noqa: BLE001 - the cache must outlive a broken connection
                log.exception("watch of %s failed: listing again", self.what)
                self._stop.wait(1.0)

    def start(self) -> None:
        threading.Thread(target=self.run, name=f"{self.what}-watch", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


def _uid(obj: Obj) -> str | None:
    return (obj.get("metadata") or {}).get("uid")


def _name(obj: Obj) -> str | None:
    return (obj.get("metadata") or {}).get("name")


class Cache:
    """``start()`` runs both watches in daemon threads; ``objects()``/``by_uid()``/``plan()`` read
    the copies. A database's plan is the one its status names (the operator's resolution of the
    namespace's label and its default plan), so only the plans themselves are watched here."""

    def __init__(self, api: client.ApiClient, namespace: str | None = None, timeout_seconds: int = 300) -> None:
        custom = client.CustomObjectsApi(api)
        if namespace:
            dbs = (custom.list_namespaced_custom_object, (GROUP, VERSION, namespace, PLURAL))
        else:
            dbs = (custom.list_cluster_custom_object, (GROUP, VERSION, PLURAL))
        self.databases = Watched("reflexdatabases", *dbs, _uid, timeout_seconds)
        self.plans = Watched("reflexplans", custom.list_cluster_custom_object, (GROUP, VERSION, PLAN_PLURAL), _name, timeout_seconds)

    @property
    def synced(self) -> bool:
        return self.databases.synced.is_set() and self.plans.synced.is_set()

    def objects(self) -> list[Obj]:
        return self.databases.objects()

    def by_uid(self, uid: str) -> Obj | None:
        return self.databases.get(uid)

    def plan(self, name: str) -> Obj | None:
        return self.plans.get(name)

    def start(self, wait_seconds: float = 30.0) -> None:
        self.databases.start()
        self.plans.start()
        deadline = time.monotonic() + wait_seconds
        for w in (self.databases, self.plans):
            w.synced.wait(max(0.0, deadline - time.monotonic()))

    def stop(self) -> None:
        self.databases.stop()
        self.plans.stop()
