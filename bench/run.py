"""`make bench`: the operator's cost at rest and its speed, measured on the local stack.

Brings up its own stack (in .bench/, separate from `make dev-up`), starts the operator, and
reports:

1. apply -> Ready for one ReflexDatabase (seconds);
2. N ReflexDatabases (default 50) from apply to all Ready (seconds);
3. for the N idle resources: AWS calls per poll interval, by operation, counted by the emulator,
   against the lower bound ceil(N/10) DescribeServices and no CodeBuild calls;
4. Kubernetes status writes per idle resource per hour (the operator's own counter), and
   health checks per interval.

Usage: python bench/run.py [--resources 50] [--poll 2] [--window 120] [--refresh 1800]
Figures go to stdout and to .bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reflex_dev import stack  # noqa: E402
from reflex_dev._proc import wait_until  # noqa: E402

SECRET = "postgres://bench:bench-Pa55@db.internal:5432/bench"


def _http(method: str, url: str) -> object:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as reply:
        body = reply.read()
    return json.loads(body) if body and body[:1] in b"{[" else body.decode()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resources", type=int, default=50)
    ap.add_argument("--poll", type=float, default=2.0, help="REFLEX_POLL_INTERVAL_SECONDS")
    ap.add_argument("--window", type=float, default=120.0, help="idle measurement window, seconds")
    ap.add_argument("--refresh", type=float, default=1800.0, help="REFLEX_STATUS_REFRESH_SECONDS (the operator's default)")
    ap.add_argument("--api", action="store_true", help="reflex-api instead: GET .../instance at --api-databases (bench/api.py)")
    ap.add_argument("--api-databases", type=int, default=1000)
    args = ap.parse_args()
    if args.api:
        from bench import api as api_bench

        return 0 if api_bench.run(args.api_databases)["errors"] == 0 else 1

    os.environ["REFLEX_DEV_DIR"] = str(ROOT / ".bench")
    os.environ["REFLEX_POLL_INTERVAL_SECONDS"] = str(args.poll)
    os.environ["REFLEX_STATUS_REFRESH_SECONDS"] = str(args.refresh)
    stack.down(quiet=True)
    results: dict[str, object] = {"resources": args.resources, "poll_interval_s": args.poll, "status_refresh_s": args.refresh}
    try:
        if stack.up(operator=True) != 0:
            return 1
        state = json.loads((ROOT / ".bench" / "state.json").read_text())
        env = {**os.environ, **state["env"], "PATH": state["env"]["PATH"] + os.pathsep + os.environ["PATH"]}
        emulator = state["env"]["AWS_ENDPOINT_URL"]
        metrics = f"http://127.0.0.1:{state['operator_env']['REFLEX_METRICS_PORT']}/metrics"

        def kubectl(*a: str, input: str | None = None) -> str:
            return subprocess.run(["kubectl", *a], env=env, input=input, text=True, capture_output=True, check=True).stdout

        def manifest(ns: str, name: str) -> str:
            docs = [
                {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-src", "namespace": ns}, "stringData": {"url": SECRET}},
                {"apiVersion": "reflexdb.cloud/v1alpha1", "kind": "ReflexDatabase", "metadata": {"name": name, "namespace": ns},
                 "spec": {"source": {"secretRef": {"name": f"{name}-src"}}, "size": "micro"}},
            ]
            return "\n".join(json.dumps(d) for d in docs)

        def ready(ns: str) -> int:
            items = json.loads(kubectl("get", "rdb", "-n", ns, "-o", "json"))["items"]
            return sum(
                1 for o in items
                if any(c["type"] == "Ready" and c["status"] == "True" for c in o.get("status", {}).get("conditions", []))
            )

        # 1. One resource, apply -> Ready.
        kubectl("create", "namespace", "bench-one")
        t0 = time.monotonic()
        kubectl("apply", "-f", "-", input=manifest("bench-one", "single"))
        wait_until(lambda: ready("bench-one") == 1, 120, interval=0.1, what="one Ready")
        results["apply_to_ready_s"] = round(time.monotonic() - t0, 2)
        print(f"apply -> Ready (one resource): {results['apply_to_ready_s']} s", flush=True)
        kubectl("delete", "rdb", "single", "-n", "bench-one", "--wait=true", "--timeout=60s")

        # 2. N resources.
        n = args.resources
        kubectl("create", "namespace", "bench")
        t0 = time.monotonic()
        kubectl("apply", "-f", "-", input="\n".join(manifest("bench", f"db-{i:04d}") for i in range(n)))
        wait_until(lambda: ready("bench") == n, 600, interval=1.0, what=f"{n} Ready")
        results["all_ready_s"] = round(time.monotonic() - t0, 1)
        print(f"{n} resources apply -> all Ready: {results['all_ready_s']} s", flush=True)

        # 3./4. Idle: let pending refreshes settle, then count over the window.
        time.sleep(max(args.poll * 3, 5))  # noqa: benchmark settle time, not synchronisation
        _http("POST", f"{emulator}/_emulator/calls/reset")

        def writes() -> float:
            text = str(_http("GET", metrics))
            m = re.search(r"^reflex_operator_status_writes_total (\S+)$", text, re.M)
            return float(m.group(1)) if m else 0.0

        def health_checks() -> float:
            text = str(_http("GET", metrics))
            return sum(float(v) for v in re.findall(r"^reflex_operator_health_checks_total\{[^}]*\} (\S+)$", text, re.M))

        w0, h0, t0 = writes(), health_checks(), time.monotonic()
        time.sleep(args.window)  # noqa: the measurement window itself
        elapsed = time.monotonic() - t0
        w1, h1 = writes(), health_checks()
        # The operator's calls alone (the simulator polls ECS too), by the emulator's count.
        calls = Counter(_http("GET", f"{emulator}/_emulator/calls/by/reflex-operator"))  # type: ignore[arg-type]
        intervals = elapsed / args.poll
        per_interval = {k: round(v / intervals, 2) for k, v in sorted(calls.items())}
        results["idle_window_s"] = round(elapsed, 1)
        results["aws_calls_per_poll_interval"] = per_interval
        results["describe_services_lower_bound"] = math.ceil(n / 10)
        results["codebuild_calls_in_window"] = sum(v for k, v in calls.items() if k.startswith("codebuild."))
        results["status_writes_per_resource_per_hour"] = round((w1 - w0) / n / elapsed * 3600, 1)
        results["health_checks_per_interval"] = round((h1 - h0) / intervals, 1)
        print(f"idle, {n} resources, {elapsed:.0f} s window, poll every {args.poll} s:")
        print(f"  AWS calls per poll interval: {per_interval}")
        print(f"  lower bound: {results['describe_services_lower_bound']} ecs.DescribeServices, 0 CodeBuild; "
              f"CodeBuild calls in window: {results['codebuild_calls_in_window']}")
        print(f"  status writes per resource per hour: {results['status_writes_per_resource_per_hour']} "
              f"(refresh every {args.refresh} s)")
        print(f"  health checks per interval: {results['health_checks_per_interval']}")
        # 5. Operator restart with N resources: what its first passes cost in AWS calls.
        state = json.loads((ROOT / ".bench" / "state.json").read_text())
        stack.stop_operator(state)
        _http("POST", f"{emulator}/_emulator/calls/reset")
        stack.start_operator(state)
        time.sleep(max(args.poll * 5, 10))  # noqa: the measurement window itself
        restart = Counter(_http("GET", f"{emulator}/_emulator/calls/by/reflex-operator"))  # type: ignore[arg-type]
        results["aws_calls_first_10s_after_restart"] = dict(sorted(restart.items()))
        print(f"  after an operator restart, AWS calls in the first {max(args.poll * 5, 10):.0f} s: {dict(sorted(restart.items()))}")
        (ROOT / ".bench" / "results.json").write_text(json.dumps(results, indent=2))
        return 0
    finally:
        stack.down(quiet=True)


if __name__ == "__main__":
    sys.exit(main())
