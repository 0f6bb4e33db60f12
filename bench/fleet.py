"""`make bench-fleet N=300 [POLL=10] [BUILD_MINUTES=5] [COMPRESSION=10] [RATE_SCALE=1] [WAVES=1]`: a fleet change at AWS's costs.

One run on a stack of its own (.bench-fleet/), at AWS's default quotas and request rates (or rates
raised RATE_SCALE times, as an account whose quotas were raised: then the results also give the
floor at the default quotas, the projection), with
builds that take BUILD_MINUTES (AWS: about 5 for a server) compressed COMPRESSION times (the
emulator's ``codebuild_build_minutes`` / ``codebuild_time_compression``; the figures below say
which): provision N micro databases from one apply, then roll a new server version across them
(one apply setting spec.serverVersion on every database: a GitOps commit touching N manifests).
With WAVES=1, between the two: the operator restarted with a new default server version
(REFLEX_DEFAULT_SERVER_VERSION), which moves every database that follows the default in
health-gated rollout waves (the pace: ROLLOUT_* below); its waves are reported with the rest.

It reports, for each of the two changes: time to all Ready and to all moved (Running on a build of
the new version), builds started (CodeBuild's own count of the project's builds), build minutes
(AWS-equivalent: measured × compression) and their cost (CodeBuild bills per started minute,
BUILD_GENERAL1_MEDIUM 1 cent), AWS calls by operation, and the ratio to the floor AWS sets: one
task definition per database, RegisterTaskDefinition 1 per second per account (the operator uses
0.8 of it, and of its bucket of 20), after the first build. Writes bench/results/fleet-<N>.json and prints a short table
(also written as bench/results/fleet-<N>.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scale  # noqa: E402
from bench import scale_lib as lib  # noqa: E402
from reflex_dev import stack  # noqa: E402

DEV_DIR = ROOT / ".bench-fleet"
RESULTS = ROOT / "bench" / "results"
PROJECT = "reflex-server-build"
NEW_VERSION = "v1.5.0"
DEFAULT_VERSION = "v1.4.1"  # the new default a wave rollout moves the fleet to (the operator's own is v1.4.0)
REGISTER_RATE = 0.8  # the operator's share of RegisterTaskDefinition's 1 per second
REGISTER_BURST = 16  # and of its bucket of 20 (a full bucket at the start of a change)
# The wave rollout's pace (settings REFLEX_ROLLOUT_*): a canary, then doubling waves up to a bounded
# number in flight, each soaked before the next.
ROLLOUT = {"REFLEX_ROLLOUT_CANARY": "1", "REFLEX_ROLLOUT_GROWTH": "2", "REFLEX_ROLLOUT_MAX_IN_FLIGHT": "100",
           "REFLEX_ROLLOUT_SOAK_SECONDS": "30"}


def floor_s(n: int, build_s: float, rate_scale: float = 1.0) -> float:
    """The floor AWS sets on a change of N databases: the one build, then one task definition per
    database at the operator's share of RegisterTaskDefinition (the bucket's burst first)."""
    return build_s + max(0, n - REGISTER_BURST * rate_scale) / (REGISTER_RATE * rate_scale)
CENTS_PER_MINUTE = 1.0  # BUILD_GENERAL1_MEDIUM, us-east-1


def say(msg: str) -> None:
    print(f"[bench-fleet {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class FleetWatch(scale.ReadyWatch):
    """Ready, and moved: Running on a build of ``target`` with the spec's generation observed."""

    def __init__(self, kubeconfig: str) -> None:
        super().__init__(kubeconfig)
        self.target: str | None = None
        self.moved: dict[str, float] = {}

    def _on(self, event: dict[str, Any]) -> None:
        super()._on(event)
        obj = event.get("object") or {}
        meta, status = obj.get("metadata") or {}, obj.get("status") or {}
        builds = status.get("builds") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        if (self.target and ready and builds and builds[0].get("serverVersion") == self.target
                and status.get("activeBuildId") == builds[0].get("id") and status.get("observedGeneration") == meta.get("generation")):
            with self.lock:
                self.moved.setdefault(key, time.monotonic())

    def count_moved(self) -> int:
        with self.lock:
            return len(self.moved)


def project_builds(s: scale.Stack) -> list[dict[str, Any]]:
    """Every build of the project, as CodeBuild reports it (the bench's own client, not counted)."""
    import boto3

    cb = boto3.client("codebuild", endpoint_url=s.emulator, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    ids, token = [], None
    while True:
        page = cb.list_builds_for_project(projectName=PROJECT, **({"nextToken": token} if token else {}))
        ids += page["ids"]
        token = page.get("nextToken")
        if not token:
            break
    out = []
    for i in range(0, len(ids), 100):
        out += cb.batch_get_builds(ids=ids[i : i + 100])["builds"]
    return out


def build_figures(builds: list[dict[str, Any]], compression: float) -> dict[str, Any]:
    """Builds started, their AWS-equivalent minutes (measured × compression) and cost."""
    minutes, cost = 0.0, 0.0
    for b in builds:
        if b.get("endTime") and b.get("startTime"):
            m = (b["endTime"] - b["startTime"]).total_seconds() * compression / 60
            minutes += m
            cost += max(1, math.ceil(m)) * CENTS_PER_MINUTE
    return {"builds_started": len(builds), "build_minutes": round(minutes, 1), "build_cost_usd": round(cost / 100, 2)}


def change(s: scale.Stack, w: FleetWatch, probe: scale.Probe, objects: list[dict[str, Any]] | None, label: str,
           target: str | None, n: int, timeout: float, floor: float, compression: float) -> dict[str, Any]:
    """One apply (None: a new default server version, ``target``, given to the operator), then
    wait until all N are Ready (and moved to ``target``)."""
    before = {b["id"] for b in project_builds(s)}
    with w.lock:
        w.moved.clear()  # moved to this change's target (an earlier change's count is not this one's)
    w.target = target
    window = scale.Window(s, probe)
    window.open()
    t0 = time.monotonic()
    if objects is None:
        new_default(s, target)
    else:
        path = scale.write_list(DEV_DIR / f"{label}.json", objects)
        s.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=bench-fleet", "-f", str(path))
    done = (lambda: w.count_moved() >= n) if target else (lambda: w.count_ready() >= n)
    last, timeline = 0.0, []
    while not done() and time.monotonic() - t0 < timeout:
        if time.monotonic() - last >= 30:
            last = time.monotonic()
            timeline.append({"t_s": round(last - t0), "ready": w.count_ready(), "moved": w.count_moved(), "phases": w.phases()})
            say(f"{label} T+{last - t0:.0f}s: {w.count_ready()} Ready, {w.count_moved()} moved; {w.phases()}")
        time.sleep(1.0)
    elapsed = time.monotonic() - t0
    out = window.close(n)
    new = [b for b in project_builds(s) if b["id"] not in before]
    finished = (w.count_moved() if target else w.count_ready()) >= n
    times = [t - t0 for t in (w.moved if target else w.first_ready).values() if t >= t0]
    out |= {
        "complete": finished,
        "all_done_s": round(elapsed, 1) if finished else None,
        "done_after_s": {f"p{p}": round(lib.percentile(times, p) or 0, 1) for p in (50, 90, 99)} if times else {},
        "floor_s": round(floor, 1),
        "ratio_to_floor": round(elapsed / floor, 3) if finished else None,
        **build_figures(new, compression),
        "aws_calls_by_operation": out.pop("aws_calls"),
        "timeline": timeline,
    }
    say(f"{label}: {'all' if finished else 'NOT all'} done after {elapsed:.0f} s (floor {floor:.0f} s); {len(new)} builds")
    return out


def new_default(s: scale.Stack, version: str | None) -> None:
    """Restart the stack's operator with ``version`` as its default server version (an operator
    upgrade or a settings change) and the rollout pace ``ROLLOUT``."""
    state = stack._load_state() or {}
    stack.stop_operator(state)
    state["operator_env"] = {**state["operator_env"], "REFLEX_DEFAULT_SERVER_VERSION": str(version), **ROLLOUT}
    stack._save_state(state)
    if not stack.start_operator(state):
        raise RuntimeError("the operator did not come back with the new default server version")


def rollouts(s: scale.Stack, settle_s: float = 180.0) -> list[dict[str, Any]]:
    """The fleet's ReflexRollouts once none is Progressing any more (its last wave's soak; at most
    ``settle_s``): target, phase, waves (size, when started and settled)."""
    deadline = time.monotonic() + settle_s
    items = json.loads(s.kubectl("get", "reflexrollouts", "-o", "json"))["items"]
    while any((r.get("status") or {}).get("phase") == "Progressing" for r in items) and time.monotonic() < deadline:
        time.sleep(2.0)
        items = json.loads(s.kubectl("get", "reflexrollouts", "-o", "json"))["items"]
    out = []
    for r in items:
        st = r.get("status") or {}
        out.append({"name": r["metadata"]["name"], "target": (r.get("spec") or {}).get("serverVersion"),
                    **{k: st.get(k) for k in ("phase", "wave", "total", "moved", "reason", "message")},
                    "waves": [{"number": x.get("number"), "size": len(x.get("databases") or []), "startedAt": x.get("startedAt"),
                               "settledAt": x.get("settledAt")} for x in st.get("waves") or []]})
    return out


def with_version(objects: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    out = []
    for o in objects:
        if o["kind"] == "ReflexDatabase":
            o = {**o, "spec": {**o["spec"], "serverVersion": version}}
        out.append(o)
    return out


def table(r: dict[str, Any]) -> str:
    n, rows = r["n"], []
    for label in ("provision", "waves", "move"):
        if label not in r:
            continue
        c = r.get(label) or {}
        calls = c.get("aws_calls_by_operation") or {}
        rows.append(
            f"| {label} | {c.get('all_done_s')} s | p50 {c.get('done_after_s', {}).get('p50')} s | {c.get('floor_s')} s "
            f"| {c.get('ratio_to_floor')} | {c.get('builds_started')} | {c.get('build_minutes')} | ${c.get('build_cost_usd')} "
            f"| {calls.get('codebuild.StartBuild', 0)} | {calls.get('ecs.RegisterTaskDefinition', 0)} | {sum(calls.values())} |"
        )
        if label == "waves":
            continue  # main had no waves: every database moved at once, as "move"
        rows.append(
            f"| {label}, main (N builds, quota arithmetic) | ≥ {r['main_projection'][label]['all_done_s']} s | | | "
            f"| {n} | {r['main_projection'][label]['build_minutes']} | ${r['main_projection'][label]['build_cost_usd']} | {n} | | |"
        )
    rates = "default quotas and AWS request rates" if r.get("rate_scale", 1) == 1 else f"AWS request rates raised ×{r['rate_scale']:g}"
    head = (f"N={n}, {rates}, builds of {r['build_minutes']} min compressed ×{r['compression']} "
            f"({r['build_seconds']:.0f} s in the emulator), poll {r['poll_interval_s']} s, commit {r['commit']}\n\n"
            "| change | all done | per database | floor | ratio | builds | build min (AWS) | build cost | StartBuild | RegisterTaskDefinition | AWS calls |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|")
    tail = ""
    if r.get("rate_scale", 1) != 1:
        tail = (f"\n\nAt the default quotas the floor of each change is {r['default_quota_floor_s']} s "
                f"(RegisterTaskDefinition at 0.8/s); at this run's ratio to its floor that is about "
                + ", ".join(f"{label} {round(r['default_quota_floor_s'] * r[label]['ratio_to_floor'])} s"
                            for label in ("provision", "waves", "move") if (r.get(label) or {}).get("ratio_to_floor"))
                + " (a projection, not measured).")
    for w in r.get("rollouts") or []:
        tail += (f"\n\nRollout {w['name']} to {w['target']}: {w['phase']}, {len(w['waves'])} waves "
                 f"({', '.join(str(x.get('size')) for x in w['waves'])}), {w['moved']}/{w['total']} moved.")
    return head + "\n" + "\n".join(rows) + tail


def main_projection(n: int, build_minutes: float, compression: float, rate_scale: float = 1.0) -> dict[str, Any]:
    """What main (one build per database) takes by the quota's arithmetic: N builds, 60 at once,
    each ``build_minutes`` (compressed as this run's), and never less than the registration floor."""
    build_s = build_minutes * 60 / compression
    waves = math.ceil(n / 60) * build_s
    figures = {"all_done_s": round(max(waves, floor_s(n, build_s, rate_scale)), 1), "build_minutes": round(n * build_minutes, 1),
               "build_cost_usd": round(n * math.ceil(build_minutes) * CENTS_PER_MINUTE / 100, 2),
               "uncompressed_builds_s": round(math.ceil(n / 60) * build_minutes * 60, 1)}
    return {"provision": figures, "move": figures}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="make bench-fleet: provision N, then a new server version across them")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--poll", type=float, default=10.0)
    ap.add_argument("--build-minutes", type=float, default=5.0, help="a build's duration on AWS")
    ap.add_argument("--compression", type=float, default=10.0, help="the emulator runs builds this many times faster")
    ap.add_argument("--rate-scale", type=float, default=1.0, help="AWS request rates raised this many times (1: the default quotas)")
    ap.add_argument("--waves", action="store_true", help="also a new default server version, rolled in waves")
    ap.add_argument("--per-namespace", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=None, help="seconds per change (default: 2 × its floor + 120)")
    return ap.parse_args(argv)


def result_name(n: int, rate_scale: float, waves: bool) -> str:
    """fleet-<N>[-x<rate scale>][-waves].json"""
    return f"fleet-{n}{f'-x{rate_scale:g}' if rate_scale != 1 else ''}{'-waves' if waves else ''}.json"


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    scale.DEV_DIR = DEV_DIR  # the stack's own directory (scale.Stack reads it)
    build_s = args.build_minutes * 60 / args.compression
    config = json.loads(os.environ.get("REFLEX_EMULATOR_CONFIG") or "{}")
    os.environ["REFLEX_EMULATOR_CONFIG"] = json.dumps(
        {**config, "codebuild_build_minutes": args.build_minutes, "codebuild_time_compression": args.compression})
    s = scale.start_stack(args.poll, args.rate_scale, args.n)
    n, rs = args.n, args.rate_scale
    floor = floor_s(n, build_s, rs)
    timeout = args.timeout or 2 * floor + 120
    results: dict[str, Any] = {"n": n, "poll_interval_s": args.poll, "build_minutes": args.build_minutes,
                               "compression": args.compression, "build_seconds": build_s, "rate_scale": rs,
                               "default_quota_floor_s": round(floor_s(n, build_s), 1),
                               "commit": scale._context(s, argparse.Namespace(n=n, poll=args.poll, per_namespace=args.per_namespace,
                                                                                ready_timeout=timeout, rate_scale=rs))["commit"],
                               "emulator_config": scale.http_json("GET", f"{s.emulator}/_emulator/config"),
                               "main_projection": main_projection(n, args.build_minutes, args.compression, rs)}
    probe, w = scale.Probe(s.pids), FleetWatch(s.kubeconfig)
    w.start()
    try:
        s.kubectl("apply", "--server-side", "-f", str(scale.write_list(DEV_DIR / "setup.json", lib.setup_objects(n, args.per_namespace))))
        fleet = lib.fleet_objects(n, args.per_namespace)
        results["provision"] = change(s, w, probe, fleet, "provision", None, n, timeout, floor, args.compression)
        if results["provision"]["complete"] and args.waves:
            results["rollout_pace"] = ROLLOUT
            results["waves"] = change(s, w, probe, None, "waves", DEFAULT_VERSION, n, 3 * timeout, floor, args.compression)
            results["rollouts"] = rollouts(s)
        if results["provision"]["complete"] and (results.get("waves") or {"complete": True})["complete"]:
            results["move"] = change(s, w, probe, with_version(fleet, NEW_VERSION), "move", NEW_VERSION, n, timeout, floor, args.compression)
        results["reflexbuilds"] = [
            {"name": b["metadata"]["name"], "version": b["spec"]["serverVersion"], **{k: b.get("status", {}).get(k) for k in ("state", "databases", "costEstimateCents", "buildDurationSeconds")}}
            for b in json.loads(s.kubectl("get", "reflexbuilds", "-o", "json"))["items"]
        ]
    finally:
        w.stop()
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / result_name(n, rs, args.waves)
        out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        if "provision" in results:
            out.with_suffix(".md").write_text(table(results) + "\n")
        say(f"wrote {out}")
    return results


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 3 and sys.argv[1] == "--retable":
        print(retable(Path(sys.argv[2])))
        return 0
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    results: dict[str, Any] = {}
    try:
        results = run(args)
        print("\n" + table(results) + "\n")
    except KeyboardInterrupt:
        say("interrupted")
    finally:
        say("tearing the stack down")
        stack.down(quiet=True)
    return 0 if results.get("move", {}).get("complete") else 1



def retable(path: Path) -> str:
    """The table (and floors) of a results file written before, recomputed (no run)."""
    r = json.loads(path.read_text())
    rs = r.get("rate_scale", 1)
    for label in ("provision", "waves", "move"):
        c = r.get(label)
        if c:
            c["floor_s"] = round(floor_s(r["n"], r["build_seconds"], rs), 1)
            c["ratio_to_floor"] = round(c["all_done_s"] / c["floor_s"], 3) if c.get("all_done_s") else None
    r["default_quota_floor_s"] = round(floor_s(r["n"], r["build_seconds"]), 1)
    r["main_projection"] = main_projection(r["n"], r["build_minutes"], r["compression"], rs)
    path.write_text(json.dumps(r, indent=2, default=str) + "\n")
    path.with_suffix(".md").write_text(table(r) + "\n")
    return table(r)


if __name__ == "__main__":
    sys.exit(main())
