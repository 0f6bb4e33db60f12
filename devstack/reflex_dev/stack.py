"""``reflex-dev {controlplane,up,down,demo}``: the local stack, detached.

``up`` starts (idempotently) a real kube-apiserver + etcd, the AWS emulator, the reflex-server
simulator, unless ``--no-operator`` the operator, and reflex-api (the REST API, as its own
ServiceAccount, at ``REFLEX_API_URL``); everything is recorded in
``.dev/state.json`` so that ``down`` (another process, later) stops exactly what ``up`` started.
Files written: ``.dev/kubeconfig`` (admin), ``.dev/env`` (shell exports), ``.dev/api.kubeconfig``
(reflex-api's ServiceAccount token), ``.dev/*.log``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from reflex_dev._proc import (
    free_port,
    pid_alive,
    pid_cmdline,
    spawn,
    stop_process_group,
    stop_process_groups,
    wait_for_port,
)
from reflex_dev.controlplane import (
    ControlPlane,
    apply_manifests,
    ensure_binaries,
    repo_root,
    stop_recorded,
)

__all__ = ["main", "dev_dir", "up", "down", "demo"]

HOST = "127.0.0.1"
REGION = "us-east-1"
ECS_CLUSTER = "reflex"
OPERATOR_MANIFESTS = ("namespace.yaml", "serviceaccount.yaml", "rbac.yaml")
# Applied once the CRDs are established: the plans' admission policy (no plan: nothing is limited).
PLAN_MANIFESTS = ("admission/plans.yaml",)
EXAMPLE = Path("examples") / "minimal.yaml"


def dev_clusters() -> tuple[str, ...]:
    """The ECS clusters to create: ``REFLEX_DEV_CLUSTERS`` (comma-separated), else the operator's
    ``REFLEX_ECS_CLUSTERS`` (a JSON list), else the one default cluster."""
    listed = [c.strip() for c in os.environ.get("REFLEX_DEV_CLUSTERS", "").split(",") if c.strip()]
    if not listed and os.environ.get("REFLEX_ECS_CLUSTERS"):
        listed = [str(c) for c in json.loads(os.environ["REFLEX_ECS_CLUSTERS"])]
    return tuple(listed) or (ECS_CLUSTER,)


def _post_json(url: str, payload: dict[str, object]) -> None:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()


def dev_dir() -> Path:
    return Path(os.environ.get("REFLEX_DEV_DIR") or repo_root() / ".dev").resolve()


def _say(msg: str) -> None:
    print(f"[dev] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# state.json
# ---------------------------------------------------------------------------------------------


def _state_path() -> Path:
    return dev_dir() / "state.json"


def _load_state() -> dict[str, Any] | None:
    try:
        return json.loads(_state_path().read_text())
    except (OSError, ValueError):
        return None


def _save_state(state: dict[str, Any]) -> None:
    path = _state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, path)


def _ours(pid: int | None, marker: str) -> bool:
    """``pid`` is alive and is still the process we started (not a recycled PID)."""
    return bool(pid) and pid_alive(pid) and marker in pid_cmdline(pid)


def _component_alive(state: dict[str, Any], name: str) -> bool:
    comp = state.get(name) or {}
    return _ours(comp.get("pid"), comp.get("marker", ""))


def _kubectl(kubectl: str, kubeconfig: Path, *args: str, check: bool = True, timeout: float = 30.0):
    return subprocess.run(
        [kubectl, f"--kubeconfig={kubeconfig}", *args],
        capture_output=True, text=True, check=check, timeout=timeout,
    )


def _healthy(state: dict[str, Any]) -> list[str]:
    """What is wrong with a recorded stack (empty list: healthy)."""
    problems = []
    cp = state.get("controlplane") or {}
    for name, pid in (cp.get("pids") or {}).items():
        if not _ours(pid, name):
            problems.append(f"{name} (pid {pid}) is not running")
    for name in ("emulator", "simulator"):
        if not _component_alive(state, name):
            problems.append(f"{name} is not running")
    if state.get("operator") and not _component_alive(state, "operator"):
        problems.append("operator is not running")
    if state.get("api") and not _component_alive(state, "api"):
        problems.append("reflex-api is not running")
    if not problems and cp:
        try:
            proc = _kubectl(cp["kubectl"], Path(cp["admin_kubeconfig"]), "get", "--raw", "/readyz",
                            "--request-timeout=5s", check=False, timeout=10)
            if proc.returncode != 0:
                problems.append(f"kube-apiserver not ready: {proc.stderr.strip()}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            problems.append(f"kube-apiserver not ready: {exc}")
    if not cp:
        problems.append("no control plane recorded")
    return problems


# ---------------------------------------------------------------------------------------------
# up
# ---------------------------------------------------------------------------------------------


def _write_env_file(path: Path, env: dict[str, str]) -> None:
    lines = ["# Written by `reflex-dev up`. Use: . .dev/env"]
    for key, value in env.items():
        if key == "PATH":
            lines.append(f'export PATH={shlex.quote(value)}:"$PATH"')
        else:
            lines.append(f"export {key}={shlex.quote(value)}")
    path.write_text("\n".join(lines) + "\n")


def _operator_command() -> list[str]:
    script = Path(sys.executable).parent / "reflex-operator"
    if script.exists():
        return [str(script), "run"]
    return [sys.executable, "-m", "reflex_operator.cli", "run"]


def _start_operator(state: dict[str, Any], d: Path) -> bool:
    env = {**os.environ, **state["operator_env"]}
    env["PATH"] = state["env"]["PATH"] + os.pathsep + os.environ.get("PATH", "")
    log = d / "operator.log"
    cmd = _operator_command()
    with open(log, "ab") as f:
        f.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(cmd)}\n".encode())
    proc = spawn(cmd, log_path=log, env=env, cwd=repo_root())
    state["operator"] = {"pid": proc.pid, "marker": "reflex-operator" if "reflex-operator" in cmd[0] else "reflex_operator",
                         "log": str(log), "probe_port": int(state["operator_env"]["REFLEX_PROBE_PORT"])}
    _save_state(state)
    try:
        wait_for_port(state["operator"]["probe_port"], HOST, timeout=30, proc=proc)
        _say(f"operator running (pid {proc.pid}), log: {log}")
        return True
    except (RuntimeError, TimeoutError) as exc:
        tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
        _say(f"operator did not come up ({exc}); last lines of {log}:")
        for line in tail:
            print("    " + line)
        if proc.poll() is not None:
            state.pop("operator", None)
            _save_state(state)
        return False


def _api_kubeconfig(cp: Any, kubectl: Path, d: Path) -> Path:
    """reflex-api's RBAC (manifests/api/rbac.yaml) and a kubeconfig with its ServiceAccount's token."""
    from reflex_dev.controlplane import _kubeconfig

    apply_manifests(cp.admin_kubeconfig, [repo_root() / "manifests" / "api" / "rbac.yaml"], kubectl=kubectl)
    token = _kubectl(str(kubectl), cp.admin_kubeconfig, "create", "token", "reflex-api", "-n", "reflex-system",
                     "--duration=48h").stdout.strip()
    path = d / "api.kubeconfig"
    path.write_text(_kubeconfig(cp.url, cp.ca_file.read_bytes(), "reflex-api", token))
    os.chmod(path, 0o600)
    return path


def _start_api(state: dict[str, Any], d: Path) -> bool:
    """reflex-api (the REST API), as its ServiceAccount, on REFLEX_API_URL's port."""
    log = d / "api.log"
    port = int(state["env"]["REFLEX_API_URL"].rsplit(":", 1)[1])
    cmd = [sys.executable, "-m", "reflex_operator.restapi.serve", "--host", HOST, "--port", str(port),
           "--kubeconfig", state["api_kubeconfig"]]
    proc = spawn(cmd, log_path=log, env={**os.environ, "KUBECONFIG": state["api_kubeconfig"]}, cwd=repo_root())
    state["api"] = {"pid": proc.pid, "marker": "reflex_operator.restapi", "log": str(log)}
    _save_state(state)
    try:
        wait_for_port(port, HOST, timeout=30, proc=proc)
        _say(f"reflex-api running at {state['env']['REFLEX_API_URL']} (pid {proc.pid}), log: {log}")
        return True
    except (RuntimeError, TimeoutError) as exc:
        _say(f"reflex-api did not come up ({exc}); see {log}")
        return False


def up(*, operator: bool = True) -> int:
    d = dev_dir()
    state = _load_state()
    if state:
        problems = _healthy(state)
        if not problems:
            if operator and not _component_alive(state, "operator"):
                _say("stack already running; starting the operator")
                return 0 if _start_operator(state, d) else 1
            _say(f"stack already running (KUBECONFIG={d / 'kubeconfig'}); `. .dev/env` to use it")
            return 0
        _say("stack recorded but unhealthy (" + "; ".join(problems) + "): restarting it")
        down(quiet=True)

    d.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    binaries = ensure_binaries(log=sys.stderr)
    state: dict[str, Any] = {"started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "dev_dir": str(d)}
    try:
        # 1. Control plane.
        cp = ControlPlane(d / "controlplane", binaries)
        cp.start()
        state["controlplane"] = {
            "workdir": str(cp.workdir),
            "pids": cp.pids(),
            "url": cp.url,
            "admin_kubeconfig": str(cp.admin_kubeconfig),
            "operator_kubeconfig": str(cp.operator_kubeconfig),
            "kubectl": str(binaries.kubectl),
        }
        _save_state(state)
        _say(f"kube-apiserver {cp.url} ready ({time.monotonic() - started:.1f}s)")

        # 2. AWS emulator.
        aws_port = free_port(HOST)
        aws_url = f"http://{HOST}:{aws_port}"
        emu = spawn([sys.executable, "-m", "reflex_dev.emulator", "--host", HOST, "--port", str(aws_port)],
                    log_path=d / "emulator.log", cwd=repo_root())
        state["emulator"] = {"pid": emu.pid, "marker": "reflex_dev.emulator", "port": aws_port, "url": aws_url,
                             "log": str(d / "emulator.log")}
        _save_state(state)
        wait_for_port(aws_port, HOST, timeout=60, proc=emu)
        _say(f"AWS emulator {aws_url}")

        # 3. reflex-server simulator.
        sim_port = free_port(HOST)
        sim_url = f"http://{HOST}:{sim_port}"
        sim = spawn([sys.executable, "-m", "reflex_dev.simulator", "--host", HOST, "--port", str(sim_port),
                     "--aws-endpoint", aws_url, "--region", REGION,  # every cluster's services
                     # Data transfer of each instance, bytes/s (also POST {sim}/_sim/transfer).
                     "--bytes-per-second", os.environ.get("REFLEX_DEV_BYTES_PER_SECOND", "0")],
                    log_path=d / "simulator.log", cwd=repo_root())
        state["simulator"] = {"pid": sim.pid, "marker": "reflex_dev.simulator", "port": sim_port,
                              "url": sim_url, "log": str(d / "simulator.log")}
        _save_state(state)
        wait_for_port(sim_port, HOST, timeout=60, proc=sim)
        _say(f"reflex-server simulator {sim_url}")

        # 4. AWS resources the operator expects (cluster, project, network...).
        aws_env = {
            "AWS_ENDPOINT_URL": aws_url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        os.environ.update(aws_env)
        from reflex_dev.emulator import bootstrap

        settings = {k: str(v) for k, v in bootstrap(aws_url, REGION, dev_clusters()).items()}
        quota = os.environ.get("REFLEX_DEV_SERVICES_PER_CLUSTER")
        if quota:  # the emulator's ECS quota, and the operator told the same
            _post_json(f"{aws_url}/_emulator/config", {"services_per_cluster": int(quota)})
            settings["REFLEX_ECS_SERVICES_PER_CLUSTER"] = quota

        # 5. CRDs and the operator's namespace, ServiceAccount and RBAC.
        root = repo_root()
        crds = sorted((root / "crds").glob("reflexdb.cloud_*.yaml"))
        if not crds:
            _say("warning: no CRDs in crds/ (run `reflex-operator crds`)")
        apply_manifests(cp.admin_kubeconfig, [*crds, *(root / "manifests" / m for m in OPERATOR_MANIFESTS)],
                        kubectl=binaries.kubectl)
        for crd in crds:
            _kubectl(str(binaries.kubectl), cp.admin_kubeconfig, "wait", "--for=condition=Established",
                     "--timeout=60s", "-f", str(crd), timeout=90)
        apply_manifests(cp.admin_kubeconfig, [root / "manifests" / m for m in PLAN_MANIFESTS], kubectl=binaries.kubectl)

        # 6. .dev/kubeconfig and .dev/env.
        kubeconfig = d / "kubeconfig"
        shutil.copyfile(cp.admin_kubeconfig, kubeconfig)
        os.chmod(kubeconfig, 0o600)
        operator_log = d / "operator.log"
        reflex = {
            **settings,
            "REFLEX_ECS_CLUSTER": settings.get("REFLEX_ECS_CLUSTER", ECS_CLUSTER),
            "REFLEX_ENDPOINT_TEMPLATE": f"{sim_url}/i/{{service}}",
            # A snappier loop than production's default (10 s) for the demo; override as usual.
            "REFLEX_POLL_INTERVAL_SECONDS": os.environ.get("REFLEX_POLL_INTERVAL_SECONDS", "2"),
            "REFLEX_METRICS_PORT": str(free_port(HOST)),
            "REFLEX_PROBE_PORT": str(free_port(HOST)),
        }
        env = {
            "KUBECONFIG": str(kubeconfig),
            **aws_env,
            **reflex,
            "REFLEX_SIMULATOR_URL": sim_url,
            "REFLEX_OPERATOR_LOG": str(operator_log),
            "REFLEX_API_URL": f"http://{HOST}:{free_port(HOST)}",
            "PATH": str(binaries.kubectl.parent),
        }
        _write_env_file(d / "env", env)
        state["env"] = env
        # The operator itself authenticates as its ServiceAccount: the dev stack runs on the
        # shipped RBAC, not as cluster admin.
        state["operator_env"] = {**aws_env, **reflex, "KUBECONFIG": str(cp.operator_kubeconfig)}
        state["api_kubeconfig"] = str(_api_kubeconfig(cp, binaries.kubectl, d))
        _save_state(state)
        _say(f"wrote {kubeconfig} and {d / 'env'} ({time.monotonic() - started:.1f}s)")
    except BaseException:
        _say("start failed; stopping what was started (logs in .dev/)")
        down(quiet=True)
        raise

    ok = True
    if operator:
        ok = _start_operator(state, d)
    ok = _start_api(state, d) and ok
    _say("ready: `. .dev/env && kubectl get rdb -A`; stop with `make dev-down`")
    return 0 if ok else 1


# ---------------------------------------------------------------------------------------------
# down
# ---------------------------------------------------------------------------------------------


def stop_operator(state: dict[str, Any]) -> bool:
    """Stop the stack's operator (only it); True if one was running."""
    comp = state.get("operator") or {}
    if not _ours(comp.get("pid"), comp.get("marker", "")):
        return False
    stop_process_group(comp["pid"])
    return True


def start_operator(state: dict[str, Any]) -> bool:
    """(Re)start the stack's operator with the recorded environment."""
    return _start_operator(state, dev_dir())


def down(*, quiet: bool = False) -> int:
    d = dev_dir()
    state = _load_state() or {}
    stopped: list[str] = []
    # The operator first (it talks to the others), then everything else at once.
    if stop_operator(state):
        stopped.append(f"operator ({state['operator']['pid']})")
    api = state.get("api") or {}
    if _ours(api.get("pid"), api.get("marker", "")):
        stop_process_group(api["pid"])
        stopped.append(f"reflex-api ({api['pid']})")
    pids = []
    for name in ("simulator", "emulator"):
        comp = state.get(name) or {}
        if _ours(comp.get("pid"), comp.get("marker", "")):
            pids.append(comp["pid"])
            stopped.append(f"{name} ({comp['pid']})")
    cp = state.get("controlplane") or {}
    cp_pids = cp.get("pids") or {}
    # kube-apiserver together with the emulator and simulator, etcd last: an API server whose
    # etcd is already gone hangs in its shutdown.
    for name in ("kube-apiserver", "etcd"):
        pid = cp_pids.get(name)
        if _ours(pid, name):
            if name == "etcd":
                stop_process_groups(pids)
                pids = []
            pids.append(pid)
            stopped.append(f"{name} ({pid})")
    stop_process_groups(pids)
    # Whatever the control plane's own pids.json still records (a start that failed half-way).
    cp_dir = Path(cp.get("workdir") or d / "controlplane")
    stopped.extend(f"control plane ({pid})" for pid in stop_recorded(cp_dir))
    _state_path().unlink(missing_ok=True)
    if not quiet:
        _say("stopped: " + ", ".join(stopped) if stopped else "nothing was running")
    return 0


# ---------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------


def _example_resource(path: Path) -> tuple[str, str]:
    import yaml

    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == "ReflexDatabase":
            meta = doc.get("metadata") or {}
            return meta["name"], meta.get("namespace", "default")
    raise ValueError(f"no ReflexDatabase in {path}")


def demo(timeout: float) -> int:
    rc = up(operator=True)
    state = _load_state()
    if not state:
        return rc or 1
    if rc != 0:
        _say("the operator is not running; the demo continues but will not become Ready without it")
    kubectl = state["controlplane"]["kubectl"]
    kubeconfig = Path(state["env"]["KUBECONFIG"])
    example = repo_root() / EXAMPLE
    name, ns = _example_resource(example)
    proc = _kubectl(kubectl, kubeconfig, "apply", "-f", str(example), check=False)
    print(proc.stdout, end="")
    if proc.returncode != 0:
        print(proc.stderr, end="", file=sys.stderr)
        return 1

    _say(f"watching reflexdatabase/{name} in {ns} until Ready (timeout {timeout:.0f}s)")
    deadline = time.monotonic() + timeout
    start = time.monotonic()
    last = None
    header_shown = False
    ready = False
    while True:
        table = _kubectl(kubectl, kubeconfig, "get", "rdb", name, "-n", ns, check=False)
        lines = table.stdout.strip().splitlines() if table.returncode == 0 else [table.stderr.strip()]
        if table.returncode == 0 and len(lines) >= 2 and not header_shown:
            print(f"{'T+':>6}  {lines[0]}")
            header_shown = True
        row = lines[-1] if lines else ""
        key = row.rsplit(None, 1)[0] if table.returncode == 0 else row  # ignore the ticking AGE
        if key != last:
            print(f"{time.monotonic() - start:5.0f}s  {row}", flush=True)
            last = key
        cond = _kubectl(kubectl, kubeconfig, "get", "rdb", name, "-n", ns, "-o",
                        'jsonpath={.status.conditions[?(@.type=="Ready")].status}', check=False)
        if cond.returncode == 0 and cond.stdout.strip() == "True":
            ready = True
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(1.0)

    if ready:
        _say(f"reflexdatabase/{name} is Ready after {time.monotonic() - start:.0f}s")
    else:
        _say(f"not Ready after {timeout:.0f}s; see `kubectl describe rdb {name} -n {ns}` "
             f"and {state['env']['REFLEX_OPERATOR_LOG']}")
    nsarg = "" if ns == "default" else f" -n {ns}"
    print(f"""
Try next (in this shell: . .dev/env):
  kubectl get rdb{nsarg} -o wide
  kubectl describe rdb {name}{nsarg}
  kubectl patch rdb {name}{nsarg} --type=merge -p '{{"spec":{{"paused":true}}}}'      # pause (ECS desired count 0)
  kubectl patch rdb {name}{nsarg} --type=merge -p '{{"spec":{{"paused":false}}}}'     # resume
  kubectl patch rdb {name}{nsarg} --type=merge -p '{{"spec":{{"size":"medium"}}}}'    # resize
  kubectl patch rdb {name}{nsarg} --type=merge -p '{{"spec":{{"reloadToken":"'$(date +%s)'"}}}}'   # reload the snapshot now
  kubectl patch rdb {name}{nsarg} --type=merge -p '{{"spec":{{"sync":{{"paused":true}}}}}}'  # pause replication
  kubectl wait rdb/{name}{nsarg} --for=condition=Ready --timeout=180s
  tail -f {state['env']['REFLEX_OPERATOR_LOG']}
  make dev-down                                          # stop everything
""")
    return 0 if ready else 1


# ---------------------------------------------------------------------------------------------
# controlplane + entry point
# ---------------------------------------------------------------------------------------------


def controlplane() -> int:
    started = time.monotonic()
    binaries = ensure_binaries(log=sys.stderr)
    for name, path in binaries.as_dict().items():
        print(f"{name}: {path}")
    print(f"source: {binaries.source} ({time.monotonic() - started:.1f}s)")
    return 0


def main(args: argparse.Namespace) -> int:
    command = args.dev_command
    if command == "controlplane":
        return controlplane()
    if command == "up":
        return up(operator=not getattr(args, "no_operator", False))
    if command == "down":
        return down()
    if command == "demo":
        return demo(timeout=float(getattr(args, "timeout", 180.0)))
    raise SystemExit(f"unknown dev command: {command}")
