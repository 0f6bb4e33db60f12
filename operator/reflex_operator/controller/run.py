"""``reflex-operator run``: logging, then kopf."""

from __future__ import annotations

import ctypes
import logging
import os
import sys

import kopf

from reflex_operator.controller.runtime import Stop
from reflex_operator.settings import Settings

__all__ = ["limit_malloc_arenas", "run", "setup_logging"]

_M_ARENA_MAX = -8  # glibc's malloc.h


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


def run(verbose: bool = False) -> int:
    limit_malloc_arenas()
    settings = Settings()
    setup_logging(settings, verbose)
    from reflex_operator.controller import handlers  # noqa: F401 - registers the handlers

    stop = Stop()
    # kopf only watches (its handlers are ``on.event``: it writes nothing) and never peers:
    # which replica acts is leader election's (reflex_operator.ha.elector).
    kopf.run(
        standalone=True,
        stop_flag=stop.flag,
        memo=kopf.Memo(stop=stop),
        clusterwide=settings.namespace is None,
        namespaces=[settings.namespace] if settings.namespace else [],
        liveness_endpoint=f"http://0.0.0.0:{settings.probe_port}/healthz",
    )
    if stop.code:
        logging.getLogger("reflex_operator").error("exiting with %d: %s", stop.code, stop.reason)
    return stop.code
