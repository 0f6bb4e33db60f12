"""The AWS emulator's and the simulator's own speed at fleet scale, so that a slow emulator is not
mistaken for a slow operator.

Starts an emulator and a simulator (its own, on free loopback ports), fills the emulator with N ECS
services (each with its task definition) and N CodeBuild builds, and at each checkpoint (default
1,000 and 10,000) reports the cost of one call, in milliseconds of wall time as boto3 sees it:
DescribeServices (10 names), CreateService, UpdateService (desiredCount), BatchGetBuilds (100 ids)
and StartBuild; then, in a steady window, the CPU of the emulator and of the simulator while they
serve what an operator of N databases asks (per minute: N/10 DescribeServices and N /healthz).

    python bench/emulator_speed.py [--checkpoints 1000,10000] [--steady 30] [--out .bench/emulator-speed.json]

The emulator's quotas are off while filling (``REFLEX_EMULATOR_CONFIG``): this measures speed,
not throttling. ``--pythonpath DIR`` runs the emulator and simulator from another checkout's
``devstack`` (e.g. main's, for figures before a change).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "devstack"))
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from reflex_dev._proc import free_port, spawn, stop_process_group, wait_until  # noqa: E402

from bench.scale_lib import cpu_seconds, rss_mib  # noqa: E402

REGION = "us-east-1"
CLUSTER = "reflex"
PROJECT = "reflex-server-build"


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


class Stack:
    def __init__(self, workdir: Path, pythonpath: str | None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "PYTHONUNBUFFERED": "1",
               "REFLEX_EMULATOR_CONFIG": json.dumps({"rate_limits": None, "codebuild_concurrent_builds": 0})}
        if pythonpath:
            env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
        port, sim_port = free_port(), free_port()
        self.url, self.sim_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sim_port}"
        self.emu = spawn([sys.executable, "-m", "reflex_dev.emulator", "--port", str(port)], log_path=workdir / "emulator.log", env=env)
        wait_until(lambda: _up(f"{self.url}/_emulator/health"), 60, what="emulator")
        sys.path.insert(0, pythonpath or str(ROOT / "devstack"))
        from reflex_dev.emulator import bootstrap

        self.settings = bootstrap(self.url, REGION)
        self.sim = spawn([sys.executable, "-m", "reflex_dev.simulator", "--port", str(sim_port), "--aws-endpoint", self.url, "--log-interval", "0",
                          "--poll-interval", "0.5"], log_path=workdir / "simulator.log", env=env)
        wait_until(lambda: _up(f"{self.sim_url}/_sim/health"), 60, what="simulator")
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=16)
        self.ecs = session.client("ecs", endpoint_url=self.url, config=config)
        self.codebuild = session.client("codebuild", endpoint_url=self.url, config=config)

    def stop(self) -> None:
        for proc in (self.sim, self.emu):
            stop_process_group(proc.pid, proc=proc)


def _up(url: str) -> bool:
    try:
        get(url)
        return True
    except OSError:
        return False


def create_service(stack: Stack, i: int) -> None:
    name = f"db-{i:05d}"
    td = stack.ecs.register_task_definition(
        family=name, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "reflex-server", "image": "reflex-server:1",
                               "environment": [{"name": "REFLEX_SYNC_MODE", "value": "stream"}]}],
    )["taskDefinition"]["taskDefinitionArn"]
    stack.ecs.create_service(
        cluster=CLUSTER, serviceName=name, taskDefinition=td, desiredCount=1, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": json.loads(stack.settings["REFLEX_SUBNETS"])}},
    )


def start_build(stack: Stack, i: int) -> str:
    return stack.codebuild.start_build(
        projectName=PROJECT, environmentVariablesOverride=[{"name": "REFLEX_RESOURCE", "value": f"bench/db-{i:05d}"}]
    )["build"]["id"]


def fill(stack: Stack, start: int, stop: int, build_ids: list[str]) -> None:
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: create_service(stack, i), range(start, stop)))
        build_ids += pool.map(lambda i: start_build(stack, i), range(start, stop))


def timed(fn: Any, repeat: int, pid: int) -> dict[str, float]:
    """Median wall milliseconds of one call as the client sees it (its own parsing included), and
    the emulator's CPU milliseconds per call."""
    samples = []
    cpu0 = cpu_seconds(pid)
    for k in range(repeat):
        t0 = time.perf_counter()
        fn(k)
        samples.append((time.perf_counter() - t0) * 1000)
    return {"wall_ms": round(statistics.median(samples), 2), "emulator_cpu_ms": round((cpu_seconds(pid) - cpu0) * 1000 / repeat, 2)}


_EXTRA = iter(range(10**6, 2 * 10**6))  # names of services and builds made while timing


def per_call(stack: Stack, n: int, build_ids: list[str]) -> dict[str, float]:
    names = [f"db-{i:05d}" for i in range(n)]
    extra = _EXTRA
    pid = stack.emu.pid
    figures = {
        "DescribeServices(10)": timed(lambda k: stack.ecs.describe_services(cluster=CLUSTER, services=names[k * 10 % n:][:10]), 50, pid),
        "UpdateService": timed(lambda k: stack.ecs.update_service(cluster=CLUSTER, service=names[k], desiredCount=1 + k % 2), 30, pid),
        "BatchGetBuilds(100)": timed(lambda k: stack.codebuild.batch_get_builds(ids=build_ids[k * 100 % n:][:100]), 20, pid),
        "CreateService(+RegisterTaskDefinition)": timed(lambda k: create_service(stack, next(extra)), 20, pid),
        "StartBuild": timed(lambda k: start_build(stack, next(extra)), 20, pid),
    }
    return figures


def steady(stack: Stack, n: int, seconds: float) -> dict[str, float]:
    """N/10 DescribeServices and N /healthz per minute, spread evenly, for ``seconds``."""
    names = [f"db-{i:05d}" for i in range(n)]
    wait_until(lambda: _known(stack, names[-1]), 600, interval=1.0, what="the simulator to know every instance")
    stop = threading.Event()

    def describe_loop() -> None:
        period, k = 60.0 / max(1, n // 10), 0
        while not stop.is_set():
            stack.ecs.describe_services(cluster=CLUSTER, services=names[k * 10 % n:][:10])
            k += 1
            stop.wait(period)

    def health_loop(offset: int) -> None:
        period, k = 60.0 / n * 4, offset
        while not stop.is_set():
            try:
                urllib.request.urlopen(f"{stack.sim_url}/i/{names[k % n]}/healthz", timeout=10).read()
            except OSError:
                pass
            k += 4
            stop.wait(period)

    threads = [threading.Thread(target=describe_loop)] + [threading.Thread(target=health_loop, args=(i,)) for i in range(4)]
    emu0, sim0, t0 = cpu_seconds(stack.emu.pid), cpu_seconds(stack.sim.pid), time.monotonic()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    return {
        "emulator_cpu_cores": round((cpu_seconds(stack.emu.pid) - emu0) / wall, 3),
        "simulator_cpu_cores": round((cpu_seconds(stack.sim.pid) - sim0) / wall, 3),
        "emulator_rss_mib": rss_mib(stack.emu.pid),
        "simulator_rss_mib": rss_mib(stack.sim.pid),
    }


def _known(stack: Stack, name: str) -> bool:
    try:
        get(f"{stack.sim_url}/_sim/instances/{name}")
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoints", default="1000,10000")
    parser.add_argument("--steady", type=float, default=30.0, help="seconds of the steady window at each checkpoint")
    parser.add_argument("--out", default=str(ROOT / ".bench" / "emulator-speed.json"))
    parser.add_argument("--pythonpath", default=None, help="run the emulator and simulator from this devstack directory")
    args = parser.parse_args()
    checkpoints = [int(x) for x in args.checkpoints.split(",")]
    out = Path(args.out)
    stack = Stack(out.parent / "emulator-speed", args.pythonpath)
    results: dict[str, Any] = {"checkpoints": {}}
    build_ids: list[str] = []
    try:
        done = 0
        for n in checkpoints:
            t0 = time.monotonic()
            fill(stack, done, n, build_ids)
            fill_seconds = time.monotonic() - t0
            done = n
            figures: dict[str, Any] = {"fill_seconds": round(fill_seconds, 1), "per_call_ms": per_call(stack, n, build_ids)}
            figures["steady"] = steady(stack, n, args.steady)
            results["checkpoints"][n] = figures
            print(f"N={n}: {json.dumps(figures)}", flush=True)
    finally:
        stack.stop()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print("per call: wall ms (client's view) / emulator CPU ms")
    print(f"{'N':>7} " + " ".join(f"{k:>26}" for k in next(iter(results['checkpoints'].values()))["per_call_ms"]))
    for n, figures in results["checkpoints"].items():
        cells = (f"{v['wall_ms']} / {v['emulator_cpu_ms']}" for v in figures["per_call_ms"].values())
        print(f"{n:>7} " + " ".join(f"{c:>26}" for c in cells))
    for n, figures in results["checkpoints"].items():
        print(f"N={n} steady: {figures['steady']}")


if __name__ == "__main__":
    main()
