"""`make bench` (API part, ``bench/run.py --api``): reflex-api's latency and throughput for
``GET /v1/databases/{id}/instance`` at 1,000 databases, on the local stack (in .bench/).

The databases are created with a status as the operator writes it (no operator runs: the figure
is the API's, not the reconciler's), the API's watch cache is waited for, then ``--clients``
keep-alive connections ask for random ids. Figures go to stdout and .bench/api-results.json.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from kubernetes import client, config

from reflex_dev import stack
from reflex_dev._proc import wait_until

ROOT = Path(__file__).resolve().parent.parent
STATUS = json.loads((ROOT / "tests" / "unit" / "fixtures" / "plugin_status.json").read_text())["status"]
NS = "bench-api"


def _create(api: client.ApiClient, n: int) -> None:
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))

    def one(i: int) -> None:
        body = {"apiVersion": "reflexdb.cloud/v1alpha1", "kind": "ReflexDatabase", "metadata": {"name": f"db-{i:04d}"},
                "spec": {"source": {"secretRef": {"name": "src"}}, "size": "micro"}}
        custom.create_namespaced_custom_object("reflexdb.cloud", "v1alpha1", NS, "reflexdatabases", body)
        custom.patch_namespaced_custom_object_status("reflexdb.cloud", "v1alpha1", NS, "reflexdatabases", f"db-{i:04d}", {"status": STATUS})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))


def _ids(url: str, token: str) -> list[str]:
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    ids, cursor = [], ""
    while True:
        conn.request("GET", f"/v1/databases?namespace={NS}&limit=100" + (f"&next_cursor={cursor}" if cursor else ""),
                     headers={"Authorization": f"Bearer {token}"})
        page = json.loads(conn.getresponse().read())
        ids += [d["id"] for d in page["data"]]
        if not (cursor := page.get("nextCursor")):
            return ids


def _load(url: str, token: str, ids: list[str], clients: int, requests: int) -> tuple[list[float], float, int]:
    u = urlparse(url)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(count: int) -> None:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        mine = []
        for _ in range(count):
            t0 = time.perf_counter()
            conn.request("GET", f"/v1/databases/{random.choice(ids)}/instance", headers={"Authorization": f"Bearer {token}"})
            r = conn.getresponse()
            r.read()
            mine.append(time.perf_counter() - t0)
            if r.status != 200:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(requests // clients,)) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - started, errors[0]


def run(databases: int = 1000, clients: int = 8, requests: int = 4000) -> dict[str, Any]:
    os.environ["REFLEX_DEV_DIR"] = str(ROOT / ".bench")
    stack.down(quiet=True)
    try:
        if stack.up(operator=False) != 0:
            raise RuntimeError("the stack did not come up")
        state = stack._load_state() or {}
        kubeconfig, url = state["env"]["KUBECONFIG"], state["env"]["REFLEX_API_URL"]
        token = _token(kubeconfig)  # the admin's (static) token: TokenReview accepts it too
        api = config.new_client_from_config(config_file=kubeconfig)
        t0 = time.monotonic()
        _create(api, databases)
        created = time.monotonic() - t0
        wait_until(lambda: len(_ids(url, token)) == databases, 120, interval=0.5, what=f"reflex-api to list {databases} databases")
        ids = _ids(url, token)
        _load(url, token, ids, clients, 400)  # warm-up (review caches, connections)
        lat, elapsed, errors = _load(url, token, ids, clients, requests)
        q = statistics.quantiles(lat, n=100)
        results = {
            "databases": databases, "clients": clients, "requests": len(lat), "errors": errors,
            "create_seconds": round(created, 1),
            "instance_p50_ms": round(q[49] * 1000, 2), "instance_p99_ms": round(q[98] * 1000, 2),
            "instance_throughput_rps": round(len(lat) / elapsed, 1),
        }
        print(json.dumps(results, indent=2))
        (ROOT / ".bench" / "api-results.json").write_text(json.dumps(results, indent=2) + "\n")
        return results
    finally:
        stack.down(quiet=True)


def _token(kubeconfig: str) -> str:
    import yaml

    return yaml.safe_load(Path(kubeconfig).read_text())["users"][0]["user"]["token"]
