"""Small process and port helpers shared by the local stack (control plane, emulator, simulator)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = [
    "free_port",
    "wait_for_port",
    "wait_until",
    "spawn",
    "pid_alive",
    "pid_cmdline",
    "stop_process_group",
    "stop_process_groups",
]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], object],
    timeout: float,
    *,
    interval: float = 0.05,
    what: str = "condition",
    alive: Callable[[], bool] | None = None,
) -> object:
    """Poll ``predicate`` until it returns something truthy or ``timeout`` seconds pass.

    ``alive``, if given, is checked every round: when it returns False (the process we wait for
    died) we stop early instead of waiting out the deadline."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - reported on timeout
            last_exc = exc
        if alive is not None and not alive():
            raise RuntimeError(f"process exited while waiting for {what}")
        if time.monotonic() >= deadline:
            suffix = f" (last error: {last_exc!r})" if last_exc else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{suffix}")
        time.sleep(interval)


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_for_port(
    port: int,
    host: str = "127.0.0.1",
    timeout: float = 30.0,
    *,
    proc: subprocess.Popen | None = None,
) -> None:
    """Wait until something accepts TCP connections on ``host:port``; fail early if ``proc`` dies."""
    wait_until(
        lambda: _port_open(host, port),
        timeout,
        what=f"{host}:{port} to accept connections",
        alive=(lambda: proc.poll() is None) if proc is not None else None,
    )


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path | str,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
) -> subprocess.Popen:
    """Start ``argv`` in its own session (own process group), stdout+stderr appended to
    ``log_path``, stdin from /dev/null. The child survives its parent (it can be detached)."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        state = stat.rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def pid_cmdline(pid: int) -> str:
    """The command line of ``pid`` joined by spaces ("" if gone): to check a recorded PID still
    belongs to the process we started before signalling it."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Only zombies left? Treat as gone (our own children are reaped by the caller's Popen.wait).
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_process_group(pid: int, *, timeout: float = 10.0, proc: subprocess.Popen | None = None) -> None:
    """SIGTERM the process group led by ``pid`` (started with ``start_new_session=True``), then
    SIGKILL what is left after ``timeout`` seconds. Idempotent: a group already gone is fine."""
    stop_process_groups([pid], timeout=timeout, procs=[proc] if proc is not None else [])


def stop_process_groups(
    pids: Sequence[int], *, timeout: float = 10.0, procs: Sequence[subprocess.Popen] = ()
) -> None:
    """Stop several process groups at once: SIGTERM all, wait (polling) until every group is
    gone, SIGKILL the ones still there after ``timeout``. ``procs`` are the ``Popen`` objects of
    any that are our own children, so they get reaped. Idempotent."""
    pids = [p for p in pids if p]
    children = {p.pid: p for p in procs}

    def reap() -> None:
        for child in children.values():
            with contextlib.suppress(Exception):
                child.poll()

    def signal_all(sig: int) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)

    def all_gone() -> bool:
        reap()
        return not any(_group_alive(pid) for pid in pids)

    signal_all(signal.SIGTERM)
    try:
        wait_until(all_gone, timeout, what="process groups to exit")
    except TimeoutError:
        signal_all(signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            wait_until(all_gone, 5.0, what="process groups to die")
    for child in children.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=1.0)
    # The others are not our children (a detached stack stopped by a later `dev down`): their
    # parent, init, reaps the zombies shortly; wait for that so "nothing left" holds on return.
    others = [pid for pid in pids if pid not in children]
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in others), 5.0, what="reaping")
