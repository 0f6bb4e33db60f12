"""`make bench-takeback N=1000 [RATE_SCALE=10] [POLL=60]`: a rebuilt cluster takes its fleet back.

One run, on a stack of its own (in .bench-takeback/, with bench/scale.py's machinery):

1. provisions N micro ReflexDatabases from one apply, as `make bench-scale` does (at AWS request
   rates raised RATE_SCALE times, in the emulator and the operator's budgets alike), until all
   are Ready;
2. records what a user relies on (endpoint, service, active build of each) and what exists in AWS
   (services, task definition revisions, secrets, builds);
3. simulates a rebuilt cluster: stops the operator, stops the control plane and starts a NEW one
   with a fresh etcd (the AWS emulator is kept, with everything in it), applies the very same
   manifests again (plan, namespaces, Secrets, databases), resets the emulator's call counts and
   starts the operator;
4. measures the take-back: time from the operator's start to all Ready (and p50/p90/p99), the
   operator's AWS calls by operation (the emulator counts them by User-Agent app id) against the
   bound (bench/takeback_lib.py `bound`), creations (calls sent, and what exists in AWS after
   minus before: must be 0), the same endpoints, services and active builds, the operator's CPU
   and throttles; then a short window after all Ready (calls still made by the take-back, or
   the steady state's);
5. reports what the measured calls would take at AWS's default quotas through the operator's
   budgets (aws/budget.py FAMILIES x REFLEX_AWS_RATE_BUDGET_FRACTION).

Writes .bench-takeback/results-<N>.json and .txt (the table); exit status 1 when the take-back did
not finish in time or created something. The stack is torn down at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scale  # noqa: E402
from bench import scale_lib  # noqa: E402
from bench import takeback_lib as lib  # noqa: E402
from reflex_dev import stack  # noqa: E402

DEV_DIR = ROOT / ".bench-takeback"
# bench/scale.py's functions read their directory from this global: the take-back's stack is its own.
scale.DEV_DIR = DEV_DIR


def say(msg: str) -> None:
    print(f"[bench-takeback {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- what exists, what is shown ---------------------------------------------------------------


def _bench_client(s: scale.Stack, name: str) -> Any:
    """A client of the bench's own (app id reflex-bench: not counted as the operator's calls)."""
    import boto3
    from botocore.config import Config

    return boto3.client(name, endpoint_url=s.emulator, region_name=stack.REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(user_agent_appid="reflex-bench", retries={"max_attempts": 10, "mode": "standard"}))


def inventory(s: scale.Stack) -> dict[str, int]:
    """What exists in AWS: active services (every cluster), task definition revisions, secrets, builds."""
    listing = scale.http_json("GET", f"{s.emulator}/_emulator/ecs/services", timeout=300) or {}
    services = listing.get("services", []) if isinstance(listing, dict) else listing
    stats = scale.http_json("GET", f"{s.emulator}/_emulator/stats") or {}
    revisions = sum(len(page["taskDefinitionArns"]) for page in _bench_client(s, "ecs").get_paginator("list_task_definitions").paginate())
    secrets = sum(len(page["SecretList"]) for page in _bench_client(s, "secretsmanager").get_paginator("list_secrets").paginate())
    return {"services": sum(1 for svc in services if svc.get("status") == "ACTIVE"), "task_definitions": revisions,
            "secrets": secrets, "builds": int(stats.get("builds") or 0)}


def services_by_cluster(s: scale.Stack) -> dict[str, int]:
    """Active services per ECS cluster."""
    listing = scale.http_json("GET", f"{s.emulator}/_emulator/ecs/services", timeout=300) or {}
    out: dict[str, int] = {}
    for svc in listing.get("services", []) if isinstance(listing, dict) else listing:
        if svc.get("status") == "ACTIVE":
            out[svc.get("cluster") or "?"] = out.get(svc.get("cluster") or "?", 0) + 1
    return dict(sorted(out.items()))


def statuses(w: scale.ReadyWatch) -> dict[str, dict[str, Any]]:
    """What a user relies on, of every ReflexDatabase (listed in pages of 500)."""
    out: dict[str, dict[str, Any]] = {}
    token = None
    while True:
        page = w.custom.list_cluster_custom_object(scale.GROUP, scale.VERSION, scale.PLURAL, limit=500, _continue=token)
        for obj in page.get("items", []):
            key, shown = lib.shown(obj)
            out[key] = shown
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return out


# --- the rebuilt cluster -------------------------------------------------------------------------


def _stop_component(state: dict[str, Any], name: str) -> None:
    from reflex_dev._proc import pid_alive, pid_cmdline, stop_process_group

    comp = state.pop(name, None) or {}
    pid = comp.get("pid")
    if pid and pid_alive(pid) and comp.get("marker", "") in pid_cmdline(pid):
        stop_process_group(pid)


def rebuild_control_plane(s: scale.Stack) -> dict[str, Any]:
    """Stop the operator, reflex-api and the control plane; start a new control plane (fresh etcd,
    new certificates and ports) with the CRDs, the operator's RBAC and the plans' policy, as
    `reflex-dev up` installs them. The emulator and the simulator keep running. Returns the
    stack's state, recorded in state.json (the operator not started)."""
    from reflex_dev.controlplane import ControlPlane, apply_manifests, ensure_binaries, repo_root, stop_recorded

    state = json.loads((DEV_DIR / "state.json").read_text())
    _stop_component(state, "operator")
    _stop_component(state, "api")
    old = state["controlplane"]
    stop_recorded(old["workdir"])
    binaries = ensure_binaries()
    cp = ControlPlane(DEV_DIR / "controlplane-rebuilt", binaries)
    cp.start()
    root = repo_root()
    crds = sorted((root / "crds").glob("reflexdb.cloud_*.yaml"))
    apply_manifests(cp.admin_kubeconfig, [*crds, *(root / "manifests" / m for m in stack.OPERATOR_MANIFESTS)], kubectl=binaries.kubectl)
    for crd in crds:
        subprocess.run([str(binaries.kubectl), f"--kubeconfig={cp.admin_kubeconfig}", "wait", "--for=condition=Established",
                        "--timeout=60s", "-f", str(crd)], check=True, capture_output=True, text=True, timeout=90)
    apply_manifests(cp.admin_kubeconfig, [root / "manifests" / m for m in stack.PLAN_MANIFESTS], kubectl=binaries.kubectl)
    shutil.copyfile(cp.admin_kubeconfig, DEV_DIR / "kubeconfig")
    os.chmod(DEV_DIR / "kubeconfig", 0o600)
    state["controlplane"] = {"workdir": str(cp.workdir), "pids": cp.pids(), "url": cp.url,
                             "admin_kubeconfig": str(cp.admin_kubeconfig), "operator_kubeconfig": str(cp.operator_kubeconfig),
                             "kubectl": str(binaries.kubectl)}
    state["operator_env"]["KUBECONFIG"] = str(cp.operator_kubeconfig)
    state["rebuilt_from"] = old["url"]
    tmp = DEV_DIR / "state.tmp"
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, DEV_DIR / "state.json")
    return state


# --- the take-back ---------------------------------------------------------------------------------


def takeback(s: scale.Stack, w: scale.ReadyWatch, args: argparse.Namespace) -> tuple[dict[str, Any], scale.Stack, scale.ReadyWatch]:
    n = args.n
    before_shown = statuses(w)
    before_inventory = inventory(s)
    clusters = services_by_cluster(s)
    say(f"before the rebuild: {before_inventory}; services by ECS cluster {clusters}")
    w.stop()
    t_rebuild = time.monotonic()
    state = rebuild_control_plane(s)
    say(f"new control plane at {state['controlplane']['url']} (fresh etcd); the old one at {state['rebuilt_from']} stopped")
    s2 = scale.Stack()
    w2 = scale.ReadyWatch(s2.kubeconfig)
    w2.start()
    t_apply = time.monotonic()
    s2.kubectl("apply", "--server-side", "-f", str(DEV_DIR / "setup.json"))
    s2.kubectl("apply", "--server-side", "--field-manager=bench-scale", "-f", str(DEV_DIR / f"fleet-{n}.json"))
    apply_s, rebuild_s = time.monotonic() - t_apply, time.monotonic() - t_rebuild
    say(f"the same manifests applied again in {apply_s:.1f} s (rebuild and apply {rebuild_s:.1f} s); starting the operator")

    # The window: calls counted from a reset just before the operator starts.
    s2.reset_calls()
    requests = s2.apiserver_requests()
    emu_throttled = s2.emulator_throttled()
    t0 = time.monotonic()
    if not stack.start_operator(state):
        raise RuntimeError(f"the operator did not start (log in {DEV_DIR / 'operator.log'})")
    s2 = scale.Stack()  # with the operator's pid
    probe = scale.Probe(s2.pids)
    snap = probe.snapshot()
    deadline, last_log, ready = t0 + args.ready_timeout, 0.0, 0
    timeline: list[dict[str, Any]] = []
    while (ready := w2.count_ready()) < n and time.monotonic() < deadline:
        if time.monotonic() - last_log >= args.log_every:
            last_log = time.monotonic()
            calls = s2.emulator_calls()
            timeline.append({"t_s": round(last_log - t0), "ready": ready, "phases": w2.phases(), "aws_calls": calls})
            say(f"T+{last_log - t0:.0f}s: {ready}/{n} Ready; phases {w2.phases()}; AWS calls {sum(calls.values())} "
                f"{dict(sorted(calls.items(), key=lambda kv: -kv[1])[:6])}; load {os.getloadavg()[0]:.2f}")
        time.sleep(0.5)
    done = time.monotonic()
    calls = s2.emulator_calls()
    end = probe.snapshot()
    times = [t - t0 for t in w2.first_ready.values()]
    writes = scale_lib.writes_diff(requests, s2.apiserver_requests())
    writes["by_resource"] = dict(list(writes["by_resource"].items())[:8])
    say(f"{ready}/{n} Ready {done - t0:.1f} s after the operator's start; AWS calls {sum(calls.values())}")

    # After all Ready: what the take-back still does (or the steady state), counted apart.
    after: dict[str, Any] = {}
    if args.after > 0:
        s2.reset_calls()
        time.sleep(args.after)  # noqa: the measurement window itself
        after = {"window_s": args.after, "aws_calls": dict(sorted(s2.emulator_calls().items(), key=lambda kv: -kv[1]))}
    after_inventory = inventory(s2)
    after_shown = statuses(w2)
    made = lib.inventory_diff(before_inventory, after_inventory)
    # Those not on the default cluster are asked there first, then on the others.
    expected = lib.bound(n, elsewhere=sum(v for c, v in clusters.items() if c.rsplit("/", 1)[-1] != stack.ECS_CLUSTER))
    from reflex_operator.aws.budget import FAMILIES, OPERATIONS

    out: dict[str, Any] = {
        "rebuild_s": round(rebuild_s, 1), "apply_s": round(apply_s, 1),
        "ready": ready, "all_ready_s": round(done - t0, 1) if ready >= n else None,
        "ready_after_s": {f"p{p}": round(lib_p, 1) for p in (50, 90, 99) if (lib_p := scale_lib.percentile(times, p)) is not None},
        "aws_calls": dict(sorted(calls.items(), key=lambda kv: -kv[1])),
        "aws_calls_total": int(sum(calls.values())),
        "aws_calls_per_database": round(sum(calls.values()) / n, 3),
        "aws_calls_per_database_by_operation": scale_lib.per_database(calls, n),
        "against_bound": lib.against_bound(calls, expected, n),
        "bound": expected,
        # The poller's rounds while the take-back ran: ⌈known/10⌉ DescribeServices each, on top of the bound.
        "poller_rounds": int((done - t0) // args.poll),
        "services_by_cluster": clusters,
        "scan_operations": [op for op in calls if scale_lib.is_scan(op)],
        "creations": lib.creations(calls, made),
        "inventory": {"before": before_inventory, "after": after_inventory},
        "shown": lib.compare_shown(before_shown, after_shown),
        "default_quotas": lib.default_quota_cost(calls, FAMILIES, OPERATIONS, args.budget_fraction),
        "operator_throttles": s2.operator_throttles(),
        "operator_budgets": scale_lib.budget_delta({}, s2.operator_budgets()),
        "emulator_throttled": scale_lib.count_delta(emu_throttled, s2.emulator_throttled()),
        "k8s_writes": writes,
        "cpu": scale.Probe.rates(snap, end),
        "operator_peak_rss_mib": probe.rss_mib("operator", "VmHWM"),
        "timeline": timeline,
        "after_ready": after,
    }
    return out, s2, w2


# --- main ------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="make bench-takeback: N databases provisioned, the cluster rebuilt, the fleet taken back")
    ap.add_argument("--n", type=int, default=1000, help="ReflexDatabases (make: N)")
    ap.add_argument("--poll", type=float, default=60.0, help="REFLEX_POLL_INTERVAL_SECONDS (make: POLL)")
    ap.add_argument("--rate-scale", type=float, default=10.0,
                    help="AWS request rates x this, in the emulator and the operator's budgets (make: RATE_SCALE; 1: AWS's defaults)")
    ap.add_argument("--ready-timeout", type=float, default=None,
                    help="seconds from the apply to all Ready when provisioning (default max(1800, 0.6 s x N))")
    ap.add_argument("--takeback-timeout", type=float, default=None,
                    help="seconds from the operator's start to all Ready after the rebuild (default max(900, 0.5 s x N))")
    ap.add_argument("--per-namespace", type=int, default=100)
    ap.add_argument("--after", type=float, default=30.0, help="seconds counted apart after all Ready (0: none)")
    ap.add_argument("--log-every", type=float, default=15.0, help="seconds between progress lines of the take-back")
    ap.add_argument("--budget-fraction", type=float, default=None,
                    help="REFLEX_AWS_RATE_BUDGET_FRACTION for the default-quota arithmetic (default: the operator's setting)")
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error("--n must be at least 1")
    args.ready_timeout = args.ready_timeout or max(1800.0, 0.6 * args.n)
    args.takeback_timeout = args.takeback_timeout or max(900.0, 0.5 * args.n)
    if args.budget_fraction is None:
        from reflex_operator.settings import Settings

        args.budget_fraction = float(os.environ.get("REFLEX_AWS_RATE_BUDGET_FRACTION")
                                     or Settings.model_fields["aws_rate_budget_fraction"].default)
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    s = scale.start_stack(args.poll, args.rate_scale, args.n)
    results: dict[str, Any] = scale._context(s, args) | {"complete": False, "budget_fraction": args.budget_fraction}
    out = DEV_DIR / f"results-{args.n}.json"
    probe, w = scale.Probe(s.pids), scale.ReadyWatch(s.kubeconfig)
    w.start()
    try:
        say(f"provisioning {args.n} databases at rate scale {args.rate_scale}")
        results["provisioning"] = scale.provision(s, w, probe, args)
        if results["provisioning"]["ready"] < args.n:
            say("provisioning did not finish: no take-back")
            return results
        args.ready_timeout = args.takeback_timeout
        results["takeback"], s, w = takeback(s, w, args)
        tb = results["takeback"]
        results["complete"] = tb["ready"] >= args.n and tb["creations"]["made_total"] == 0 and tb["creations"]["creating_calls_total"] == 0
    finally:
        results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        results["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
        out.write_text(json.dumps(results, indent=2) + "\n")
        w.stop()
        say(f"wrote {out}")
    return results


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    results: dict[str, Any] = {}
    try:
        results = run(args)
        if results.get("takeback"):
            table = lib.render_table(results)
            (DEV_DIR / f"results-{args.n}.txt").write_text(table + "\n")
            print("\n" + table + "\n")
    except KeyboardInterrupt:
        say("interrupted")
    finally:
        say("tearing the stack down")
        scale.stack.down(quiet=True)
    if not results.get("complete"):
        say("INCOMPLETE: the take-back did not finish in time, or it created something" if results else "failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
