"""A watch-backed copy of every ReflexDatabase, indexed by uid: one list, then a watch from its
resourceVersion, listed again when the watch expires (410 Gone) or fails. Reads never reach the
API server."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from reflex_operator.api.models import GROUP, PLURAL, VERSION

__all__ = ["Cache"]

log = logging.getLogger("reflex_operator.restapi.cache")
Obj = dict[str, Any]


class Cache:
    """``start()`` runs the watch in a daemon thread; ``objects()``/``by_uid()`` read the copy."""

    def __init__(self, api: client.ApiClient, namespace: str | None = None, timeout_seconds: int = 300) -> None:
        self._custom = client.CustomObjectsApi(api)
        self._namespace = namespace
        self._timeout = timeout_seconds
        self._by_uid: dict[str, Obj] = {}
        self._lock = threading.Lock()
        self.synced = threading.Event()
        self._stop = threading.Event()

    def objects(self) -> list[Obj]:
        with self._lock:
            return list(self._by_uid.values())

    def by_uid(self, uid: str) -> Obj | None:
        with self._lock:
            return self._by_uid.get(uid)

    def apply(self, kind: str, obj: Obj) -> None:
        """One watch event (ADDED, MODIFIED, DELETED) into the copy."""
        uid = (obj.get("metadata") or {}).get("uid")
        if not uid:
            return
        with self._lock:
            if kind == "DELETED":
                self._by_uid.pop(uid, None)
            else:
                self._by_uid[uid] = obj

    def _list(self) -> str:
        if self._namespace:
            body = self._custom.list_namespaced_custom_object(GROUP, VERSION, self._namespace, PLURAL)
        else:
            body = self._custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
        with self._lock:
            self._by_uid = {o["metadata"]["uid"]: o for o in body.get("items", [])}
        self.synced.set()
        return body["metadata"]["resourceVersion"]

    def _watch(self, rv: str) -> None:
        w = watch.Watch()
        fn = self._custom.list_namespaced_custom_object if self._namespace else self._custom.list_cluster_custom_object
        args = (GROUP, VERSION, self._namespace, PLURAL) if self._namespace else (GROUP, VERSION, PLURAL)
        for event in w.stream(fn, *args, resource_version=rv, timeout_seconds=self._timeout, allow_watch_bookmarks=True):
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
                    log.warning("watch of reflexdatabases failed (%s): listing again", e.status)
                    self._stop.wait(1.0)
            except Exception:  # noqa: BLE001 - the cache must outlive a broken connection
                log.exception("watch of reflexdatabases failed: listing again")
                self._stop.wait(1.0)

    def start(self, wait_seconds: float = 30.0) -> None:
        threading.Thread(target=self.run, name="reflexdatabase-watch", daemon=True).start()
        deadline = time.monotonic() + wait_seconds
        while not self.synced.wait(0.1) and time.monotonic() < deadline:
            pass

    def stop(self) -> None:
        self._stop.set()
