"""``reflex-operator run``: logging, then kopf, on an event loop of its own.

The process ends promptly whatever state it is in: a startup that fails ends it with status 1 and
the cause (``startup`` raises ``kopf.PermanentError``, kopf gives up at once instead of retrying in
60 s), a stop (SIGTERM) during the startup cancels it, and threads still blocked in I/O at the
end (a boto3 call to an unreachable endpoint, say) do not hold the exit up for more than
``EXIT_GRACE`` seconds."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import sys
import threading
import time

import kopf

from reflex_operator.controller.runtime import Stop
from reflex_operator.settings import Settings

__all__ = ["limit_malloc_arenas", "run", "setup_logging", "failure_of"]

_M_ARENA_MAX = -8  # glibc's malloc.h
EXIT_GRACE = 3.0

log = logging.getLogger("reflex_operator")


def setup_logging(settings: Settings, verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else settings.log_level)
    for noisy in ("botocore", "boto3", "urllib3", "aiohttp.access", "kubernetes", "kopf.objects", "kopf.activities"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that allocates an arena of its own (up to 8 per core), and memory
    freed in one is not reused by another: with the executor's threads parsing AWS and
    Kubernetes answers, RSS grows well past what the operator holds. Two arenas, as
    ``MALLOC_ARENA_MAX=2`` would set (which, when given, wins); nothing on another libc."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(_M_ARENA_MAX, arenas)


def failure_of(exc: BaseException) -> str:
    """One line naming why the operator failed: a failed startup is kopf's ``ActivityError`` from
    the ``PermanentError`` that ``startup`` raised, whose message names the cause; anything else
    by its innermost cause."""
    seen = exc
    while not isinstance(seen, kopf.PermanentError) and seen.__cause__ is not None:
        seen = seen.__cause__
    return str(seen) or type(seen).__name__


async def _operate(settings: Settings, stop: Stop) -> None:
    # kopf only watches (its handlers are ``on.event``: it writes nothing) and never peers:
    # which replica acts is leader election's (reflex_operator.ha.elector).
    await kopf.operator(
        standalone=True,
        stop_flag=stop.flag,
        memo=kopf.Memo(stop=stop),
        clusterwide=settings.namespace is None,
        namespaces=[settings.namespace] if settings.namespace else [],
        liveness_endpoint=f"http://0.0.0.0:{settings.probe_port}/healthz",
    )


def _exit_in_time(code: int, grace: float) -> None:
    """Threads still blocked in I/O would hold the interpreter's exit up (it joins them): give
    them ``grace`` seconds, then end the process anyway (a daemon timer, so a clean exit, the
    coverage data of ``make coverage`` included, is never cut short)."""

    def force() -> None:
        time.sleep(grace)
        stuck = [t.name for t in threading.enumerate() if not t.daemon and t is not threading.main_thread() and t.is_alive()]
        log.warning("exiting with %d without waiting for threads blocked in I/O: %s", code, ", ".join(stuck) or "none")
        logging.shutdown()
        os._exit(code)

    threading.Thread(target=force, name="exit-timer", daemon=True).start()


def run(verbose: bool = False) -> int:
    limit_malloc_arenas()
    settings = Settings()
    setup_logging(settings, verbose)
    from reflex_operator.controller import handlers  # noqa: F401 - registers the handlers

    stop = Stop()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_operate(settings, stop))
    except Exception as exc:  # noqa: BLE001 - reported as the exit's reason
        stop.request(1, failure_of(exc))
    finally:
        try:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()  # its executor is shut down without waiting for blocked calls
    if stop.code:
        log.error("exiting with %d: %s", stop.code, stop.reason)
    else:
        log.info("stopped")
    _exit_in_time(stop.code, EXIT_GRACE)
    return stop.code


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
