"""`make bench-scale N=1000 [POLL=60] [READY_TIMEOUT=...]`: the operator at fleet scale.

One run: brings up its own stack (in .bench-scale/, separate from `make dev-up` and `make bench`)
with the operator polling every POLL seconds, creates a bench ReflexPlan and N/100 labelled
namespaces, then provisions N micro ReflexDatabases (one shared Secret per namespace) from ONE
`kubectl apply`, and measures (figures in bench/scale_lib.py's table, against issue 11's targets):

- time to all Ready from the apply (a watch in this process counts Ready conditions);
- AWS calls per database during provisioning, by operation (the emulator counts the operator's by
  its User-Agent app id), list/scan operations flagged;
- idle AWS calls per poll interval against ceil(N/10) DescribeServices, over several intervals;
- throttled calls (the operator's reflex_operator_aws_throttles_total; the emulator's
  /_emulator/throttled where it exists);
- Kubernetes writes (kube-apiserver's own apiserver_request_total, by verb and resource), per
  second and per database per hour, idle and during provisioning;
- CPU seconds per minute and RSS (from /proc) of the operator, the emulator, the simulator,
  kube-apiserver, etcd and this process, idle and during provisioning; the load average;
- pause latency (patch spec.paused -> the ECS service's desiredCount 0), p50/p99 over a sample;
- the client-side rate budgets (the operator's metrics): seconds AWS calls waited in a pass for a
  token, by API family, and passes that gave their worker back instead (deferred).

Writes .bench-scale/results-<N>.json (also when the ready timeout passes: "complete": false, exit
status 1) and prints the table. The stack is torn down at the end, also on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scale_lib as lib  # noqa: E402
from reflex_dev import stack  # noqa: E402

DEV_DIR = ROOT / ".bench-scale"
GROUP, VERSION, PLURAL = "reflexdb.cloud", "v1alpha1", "reflexdatabases"


def say(msg: str) -> None:
    print(f"[bench-scale {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def http_json(method: str, url: str, timeout: float = 30) -> Any:
    """JSON from the emulator's control API; None on 404 (an endpoint this emulator lacks)."""
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            body = reply.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    return json.loads(body) if body[:1] in b"{[" else body.decode()


# --- the stack -------------------------------------------------------------------------------


class Stack:
    """What the bench reads and drives on the running stack (from .bench-scale/state.json)."""

    def __init__(self) -> None:
        state = json.loads((DEV_DIR / "state.json").read_text())
        self.state = state
        self.env = {**os.environ, **state["env"], "PATH": state["env"]["PATH"] + os.pathsep + os.environ["PATH"]}
        self.emulator = state["env"]["AWS_ENDPOINT_URL"]
        self.metrics_url = f"http://127.0.0.1:{state['operator_env']['REFLEX_METRICS_PORT']}/metrics"
        self.kubeconfig = state["controlplane"]["admin_kubeconfig"]
        cp = state["controlplane"]["pids"]
        self.pids = {"operator": (state.get("operator") or {}).get("pid"),  # none while it is stopped (bench/takeback.py)
                     "emulator": state["emulator"]["pid"],
                     "simulator": state["simulator"]["pid"], "kube-apiserver": cp["kube-apiserver"],
                     "etcd": cp["etcd"], "bench": os.getpid()}

    def kubectl(self, *args: str, timeout: float = 3600) -> str:
        proc = subprocess.run(["kubectl", f"--kubeconfig={self.kubeconfig}", *args], env=self.env,
                              text=True, capture_output=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args[:3])}: {proc.stderr.strip()[-2000:]}")
        return proc.stdout

    def apiserver_requests(self) -> Counter[tuple[str, str, str]]:
        return lib.request_counts(self.kubectl("get", "--raw", "/metrics", timeout=120))

    def operator_metrics(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=30) as reply:
            return reply.read().decode()  # type: ignore[no-any-return]

    def operator_throttles(self) -> float:
        return lib.sum_metric(self.operator_metrics(), "reflex_operator_aws_throttles_total")

    def operator_budgets(self) -> dict[str, dict[str, float]]:
        return lib.budget_figures(self.operator_metrics())

    def emulator_calls(self) -> dict[str, int]:
        return http_json("GET", f"{self.emulator}/_emulator/calls/by/reflex-operator") or {}

    def emulator_throttled(self) -> Any:
        return http_json("GET", f"{self.emulator}/_emulator/throttled")

    def reset_calls(self) -> None:
        http_json("POST", f"{self.emulator}/_emulator/calls/reset")


def start_stack(poll: float, rate_scale: float = 1.0, n: int = 0) -> Stack:
    """The stack in .bench-scale/. ``rate_scale`` models an account whose AWS request rates were
    raised by that factor: the emulator's buckets and the operator's budgets are scaled together
    (the operator keeps its default share of them). ``n`` databases beyond one cluster's quota of
    services (AWS's 5,000) get as many ECS clusters as they need (unless REFLEX_DEV_CLUSTERS says)."""
    os.environ["REFLEX_DEV_DIR"] = str(DEV_DIR)
    quota = int(os.environ.get("REFLEX_DEV_SERVICES_PER_CLUSTER") or 5000)
    if n > quota and not os.environ.get("REFLEX_DEV_CLUSTERS"):
        count = -(-n // quota)
        os.environ["REFLEX_DEV_CLUSTERS"] = ",".join([stack.ECS_CLUSTER, *(f"{stack.ECS_CLUSTER}-{i}" for i in range(2, count + 1))])
    os.environ["REFLEX_POLL_INTERVAL_SECONDS"] = str(poll)
    if rate_scale != 1.0:
        config = json.loads(os.environ.get("REFLEX_EMULATOR_CONFIG") or "{}")
        os.environ["REFLEX_EMULATOR_CONFIG"] = json.dumps({**config, "rate_limit_scale": rate_scale})
        from reflex_operator.aws.budget import FAMILIES
        from reflex_operator.settings import Settings

        share = float(os.environ.get("REFLEX_AWS_RATE_BUDGET_FRACTION") or Settings.model_fields["aws_rate_budget_fraction"].default)
        budgets = {f: f"{r.capacity * rate_scale * share:g}/{r.refill * rate_scale * share:g}" for f, r in FAMILIES.items()}
        os.environ.setdefault("REFLEX_AWS_RATE_BUDGETS", json.dumps(budgets))
    stack.down(quiet=True)
    if stack.up(operator=True) != 0:
        raise RuntimeError(f"the stack did not come up (logs in {DEV_DIR})")
    return Stack()


# --- /proc -----------------------------------------------------------------------------------


class Probe:
    """CPU seconds and RSS of the stack's processes between two snapshots."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def snapshot(self) -> dict[str, Any]:
        cpu = {}
        for name, pid in self.pids.items():
            try:
                cpu[name] = lib.cpu_seconds(pid)
            except OSError:
                cpu[name] = None
        return {"t": time.monotonic(), "cpu": cpu, "load": os.getloadavg()}

    def rss_mib(self, name: str, field: str = "VmRSS") -> float | None:
        try:
            return lib.rss_mib(self.pids[name], field)
        except OSError:
            return None

    @staticmethod
    def rates(a: dict[str, Any], b: dict[str, Any]) -> dict[str, dict[str, float]]:
        wall = b["t"] - a["t"]
        out = {}
        for name, c0 in a["cpu"].items():
            c1 = b["cpu"].get(name)
            if c0 is not None and c1 is not None and wall > 0:
                out[name] = {"cpu_s_per_min": round((c1 - c0) / wall * 60, 2), "cores": round((c1 - c0) / wall, 3)}
        return out


# --- the Ready watch -------------------------------------------------------------------------


class ReadyWatch:
    """Follows every ReflexDatabase with one watch (in a thread): Ready or not, phase, service ARN."""

    def __init__(self, kubeconfig: str) -> None:
        from kubernetes import client, config

        self.api_client = config.new_client_from_config(config_file=kubeconfig)
        self.custom = client.CustomObjectsApi(self.api_client)
        self.lock = threading.Lock()
        self.ready: dict[str, bool] = {}
        self.phase: dict[str, str] = {}
        self.arn: dict[str, str] = {}
        self.first_ready: dict[str, float] = {}
        self.events = 0
        self._watch: Any = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="ready-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        if self._watch is not None:
            self._watch.stop()

    def _run(self) -> None:
        from kubernetes import watch
        from kubernetes.client.rest import ApiException

        while True:
            self._watch = watch.Watch()
            try:
                for event in self._watch.stream(self.custom.list_cluster_custom_object, GROUP, VERSION, PLURAL,
                                                 deserialize=False):
                    self._on(event)
                if self._stopping:
                    return
                say("watch closed by the API server: listing again")  # its timeout, or a busy server
            except ApiException as exc:  # 410: start again from a fresh list
                say(f"watch restarted ({exc.status})")
            except Exception as exc:  # noqa: BLE001 - the API server going away at teardown
                if not self._stopping:
                    say(f"watch ended: {exc!r}")
                return

    def _on(self, event: dict[str, Any]) -> None:
        obj = event.get("object") or {}
        meta, status = obj.get("metadata") or {}, obj.get("status") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        with self.lock:
            self.events += 1
            if event.get("type") == "DELETED":
                for d in (self.ready, self.phase, self.arn):
                    d.pop(key, None)
                return
            self.ready[key] = ready
            self.phase[key] = status.get("phase") or "-"
            arn = (status.get("instance") or {}).get("ecsServiceArn")
            if arn:
                self.arn[key] = arn
            if ready and key not in self.first_ready:
                self.first_ready[key] = time.monotonic()

    def count_ready(self) -> int:
        with self.lock:
            return sum(self.ready.values())

    def phases(self) -> dict[str, int]:
        with self.lock:
            return dict(Counter(self.phase.values()).most_common())


# --- phases ----------------------------------------------------------------------------------


def write_list(path: Path, objects: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    return path


class Window:
    """Everything counted between ``open()`` and ``close()``: AWS calls (reset at open), kube-apiserver
    requests, operator and emulator throttles, /proc CPU."""

    def __init__(self, s: Stack, probe: Probe) -> None:
        self.s, self.probe = s, probe

    def open(self) -> None:
        self.s.reset_calls()
        self.requests = self.s.apiserver_requests()
        self.throttles = self.s.operator_throttles()
        self.budgets = self.s.operator_budgets()
        self.emu_throttled = self.s.emulator_throttled()
        self.snap = self.probe.snapshot()

    def close(self, n: int) -> dict[str, Any]:
        snap = self.probe.snapshot()
        calls = self.s.emulator_calls()
        writes = lib.writes_diff(self.requests, self.s.apiserver_requests())
        elapsed = snap["t"] - self.snap["t"]
        writes |= {"per_second": round(writes["total"] / elapsed, 2) if elapsed else None,
                   "per_database": round(writes["total"] / n, 2) if n else None,
                   "per_database_per_hour": round(writes["total"] / n / elapsed * 3600, 2) if n and elapsed else None}
        writes["by_resource"] = dict(list(writes["by_resource"].items())[:8])
        emu_after = self.s.emulator_throttled()
        return {"elapsed_s": round(elapsed, 1), "aws_calls": dict(sorted(calls.items(), key=lambda kv: -kv[1])),
                "k8s_writes": writes, "cpu": self.probe.rates(self.snap, snap),
                "operator_throttles": self.s.operator_throttles() - self.throttles,
                "aws_budgets": lib.budget_delta(self.budgets, self.s.operator_budgets()),
                "emulator_throttled": lib.count_delta(self.emu_throttled, emu_after),
                "load_avg": [round(x, 2) for x in snap["load"]]}


def provision(s: Stack, w: ReadyWatch, probe: Probe, args: argparse.Namespace) -> dict[str, Any]:
    """The one apply, then wait (with the ready timeout) until all N are Ready."""
    n = args.n
    s.kubectl("apply", "--server-side", "-f", str(write_list(DEV_DIR / "setup.json", lib.setup_objects(n, args.per_namespace))))
    fleet = write_list(DEV_DIR / f"fleet-{n}.json", lib.fleet_objects(n, args.per_namespace))
    window = Window(s, probe)
    window.open()
    say(f"applying {n} ReflexDatabases in {math.ceil(n / args.per_namespace)} namespaces ({fleet.name}, server-side)")
    t0 = time.monotonic()
    s.kubectl("apply", "--server-side", "--field-manager=bench-scale", "-f", str(fleet))
    apply_s = time.monotonic() - t0
    say(f"apply returned after {apply_s:.1f} s")
    deadline, last_log, ready = t0 + args.ready_timeout, 0.0, 0
    timeline: list[dict[str, Any]] = []  # every 30 s: where the fleet is (which stage paces it)
    while (ready := w.count_ready()) < n and time.monotonic() < deadline:
        if time.monotonic() - last_log >= 30:
            last_log = time.monotonic()
            timeline.append({"t_s": round(last_log - t0), "phases": w.phases(), "operator_rss_mib": probe.rss_mib("operator")})
            say(f"T+{last_log - t0:.0f}s: {ready}/{n} Ready; phases {w.phases()}; load {os.getloadavg()[0]:.2f}; "
                f"operator RSS {probe.rss_mib('operator')} MiB")
        time.sleep(1.0)
    done = time.monotonic()
    out = window.close(n) | {"apply_s": round(apply_s, 1), "ready": ready, "phases": w.phases(),
                             "all_ready_s": round(done - t0, 1) if ready >= n else None, "timeline": timeline}
    times = [t - t0 for t in w.first_ready.values()]
    out["ready_after_s"] = {f"p{p}": round(lib.percentile(times, p) or 0, 1) for p in (50, 90, 99)} if times else {}
    out["aws_calls_per_database_by_operation"] = lib.per_database(out["aws_calls"], n)
    out["aws_calls_per_database"] = round(sum(out["aws_calls"].values()) / n, 2)
    out["scan_operations"] = [op for op in out["aws_calls"] if lib.is_scan(op)]
    say(f"{ready}/{n} Ready after {done - t0:.0f} s")
    return out


def idle(s: Stack, probe: Probe, args: argparse.Namespace) -> dict[str, Any]:
    """Settle, then count over ``idle_polls`` poll intervals."""
    say(f"settling {args.settle:.0f} s, then an idle window of {args.idle_polls} poll intervals of {args.poll:.0f} s")
    time.sleep(args.settle)  # noqa: benchmark settle time, not synchronisation
    window = Window(s, probe)
    window.open()
    time.sleep(args.idle_polls * args.poll)  # noqa: the measurement window itself
    out = window.close(args.n)
    polls = out["elapsed_s"] / args.poll
    per_poll = {op: round(v / polls, 2) for op, v in out["aws_calls"].items()}
    out["aws_calls_per_poll"] = per_poll
    out["aws_calls_per_poll_total"] = round(sum(per_poll.values()), 2)
    out["ratio"] = round(out["aws_calls_per_poll_total"] / math.ceil(args.n / 10), 3)
    out["operator_rss_mib"] = probe.rss_mib("operator")
    return out


# --- pause latency ---------------------------------------------------------------------------


def _desired_counts(s: Stack, names: list[str], ecs: Any) -> dict[str, tuple[int, float | None]]:
    """name -> (desiredCount, desiredCountChangedAt or None): from the emulator's listing where it
    exists, else DescribeServices by a client of our own (app id reflex-bench, not counted as the
    operator's)."""
    listing = http_json("GET", f"{s.emulator}/_emulator/ecs/services") if ecs is None else None
    if listing is not None:
        items = listing.get("services", listing) if isinstance(listing, dict) else listing
        wanted = set(names)
        return {i.get("name") or i.get("serviceName"): (i.get("desiredCount"), i.get("desiredCountChangedAt"))
                for i in items if (i.get("name") or i.get("serviceName")) in wanted}
    out = {}
    for k in range(0, len(names), 10):
        for svc in ecs.describe_services(cluster=stack.ECS_CLUSTER, services=names[k:k + 10])["services"]:
            out[svc["serviceName"]] = (svc["desiredCount"], None)
    return out


def _bench_ecs(s: Stack) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("ecs", endpoint_url=s.emulator, region_name=stack.REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(user_agent_appid="reflex-bench"))


def pause_latency(s: Stack, w: ReadyWatch, args: argparse.Namespace) -> dict[str, Any]:
    """Patch spec.paused on a sample (one every 0.25 s), then follow their desiredCount to 0."""
    with w.lock:
        ready = sorted(k for k, ok in w.ready.items() if ok and k in w.arn)
        arns = dict(w.arn)
    step = max(1, len(ready) // max(1, args.pause_sample))
    sample = ready[::step][: args.pause_sample]
    if not sample:
        return {"sample": 0, "done": 0}
    names = {key: arns[key].rsplit("/", 1)[-1] for key in sample}
    ecs = None if http_json("GET", f"{s.emulator}/_emulator/ecs/services") is not None else _bench_ecs(s)
    say(f"pause latency over {len(sample)} databases ({'DescribeServices' if ecs else '/_emulator/ecs/services'})")
    patched: dict[str, float] = {}
    for key in sample:
        ns, name = key.split("/", 1)
        patched[names[key]] = time.time()
        w.custom.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, {"spec": {"paused": True}})
        time.sleep(0.25)  # noqa: spacing of the sample's patches, not synchronisation
    latencies: dict[str, float] = {}
    deadline = time.monotonic() + args.pause_timeout
    while len(latencies) < len(patched) and time.monotonic() < deadline:
        now = time.time()
        for svc, (desired, changed_at) in _desired_counts(s, [n for n in patched if n not in latencies], ecs).items():
            if desired == 0:
                latencies[svc] = (changed_at or now) - patched[svc]
        time.sleep(0.1 if ecs else 0.5)
    # Those not at 0 by the deadline count as the timeout: p99 is then a lower bound.
    values = list(latencies.values()) + [args.pause_timeout] * (len(patched) - len(latencies))
    return {"sample": len(sample), "done": len(latencies), "timeout_s": args.pause_timeout,
            "source": "DescribeServices" if ecs else "/_emulator/ecs/services",
            "p50_s": _round(lib.percentile(values, 50)), "p99_s": _round(lib.percentile(values, 99)),
            "max_s": _round(max(latencies.values(), default=None))}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="make bench-scale: N databases from one apply, measured")
    ap.add_argument("--n", type=int, default=1000, help="ReflexDatabases (make: N)")
    ap.add_argument("--poll", type=float, default=60.0, help="REFLEX_POLL_INTERVAL_SECONDS (make: POLL)")
    ap.add_argument("--ready-timeout", type=float, default=None,
                    help="seconds from the apply to all Ready (make: READY_TIMEOUT; default max(1200, 0.27 s x N))")
    ap.add_argument("--per-namespace", type=int, default=100)
    ap.add_argument("--settle", type=float, default=None, help="seconds after all Ready before the idle window (default: POLL)")
    ap.add_argument("--idle-polls", type=int, default=3, help="poll intervals in the idle window")
    ap.add_argument("--pause-sample", type=int, default=20)
    ap.add_argument("--pause-timeout", type=float, default=120.0)
    ap.add_argument("--rate-scale", type=float, default=1.0,
                    help="AWS request rates x this, in the emulator and the operator's budgets (make: RATE_SCALE; 1: AWS's defaults)")
    args = ap.parse_args(argv)
    args.ready_timeout = args.ready_timeout or max(1200.0, 0.27 * args.n)
    args.settle = args.poll if args.settle is None else args.settle
    return args


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _context(s: Stack, args: argparse.Namespace) -> dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True, capture_output=True).stdout.strip()
    return {"n": args.n, "poll_interval_s": args.poll, "per_namespace": args.per_namespace, "commit": commit,
            "ready_timeout_s": args.ready_timeout, "rate_scale": args.rate_scale, "describe_services_bound": math.ceil(args.n / 10),
            "emulator_config": http_json("GET", f"{s.emulator}/_emulator/config"), "cpus": os.cpu_count(),
            "load_avg_start": [round(x, 2) for x in os.getloadavg()], "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            # The operator's settings as it got them (the stack's, and any REFLEX_* of the caller's environment).
            "operator_settings": {k: v for k, v in {**os.environ, **s.state["operator_env"]}.items()
                                  if k.startswith("REFLEX_") and not k.endswith(("_PORT", "_LOG"))}}


def run(args: argparse.Namespace) -> dict[str, Any]:
    s = start_stack(args.poll, args.rate_scale, args.n)
    results = _context(s, args) | {"complete": False}
    out = DEV_DIR / f"results-{args.n}.json"
    probe, w = Probe(s.pids), ReadyWatch(s.kubeconfig)
    w.start()
    try:
        results["provisioning"] = provision(s, w, probe, args)
        complete = results["provisioning"]["ready"] >= args.n
        if complete:
            results["idle"] = idle(s, probe, args)
        results["pause"] = pause_latency(s, w, args)  # of those Ready, also when incomplete
        results["complete"] = complete
        results["watch_events"] = w.events
    finally:
        results["operator_peak_rss_mib"] = probe.rss_mib("operator", "VmHWM")
        results["peak_rss_mib"] = {name: probe.rss_mib(name, "VmHWM") for name in s.pids}
        results["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
        out.write_text(json.dumps(results, indent=2) + "\n")
        w.stop()
        say(f"wrote {out}")
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    results: dict[str, Any] = {}
    try:
        results = run(args)
        print("\n" + lib.render_table(results) + "\n")
    except KeyboardInterrupt:
        say("interrupted")
    finally:
        say("tearing the stack down")
        stack.down(quiet=True)
    if not results.get("complete"):
        say("INCOMPLETE: not all databases became Ready within the timeout" if results else "failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
