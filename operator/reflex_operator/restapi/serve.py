"""``reflex-api``: serve the REST API (uvicorn) over the cluster the kubeconfig, or the in-cluster
ServiceAccount, points at."""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

from reflex_operator.aws.logs import LogReader
from reflex_operator.kube.config import api_client
from reflex_operator.restapi.app import create_app
from reflex_operator.restapi.cache import Cache
from reflex_operator.restapi.backend import KubeBackend

__all__ = ["main"]


def _port(value: str | None) -> int:
    """``REFLEX_API_PORT`` as a port; kubelet's service link of a Service named reflex-api
    (``tcp://10.0.0.7:80``) is not one and leaves the default (8000)."""
    return int(value) if value and value.isdigit() else 8000


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="reflex-api", description=__doc__)
    p.add_argument("--host", default=os.environ.get("REFLEX_API_HOST", "0.0.0.0"))  # noqa: S104 - a Service fronts it
    p.add_argument("--port", type=int, default=_port(os.environ.get("REFLEX_API_PORT")))
    p.add_argument("--kubeconfig", help="the kubeconfig file (default: $KUBECONFIG, in a pod its ServiceAccount, else ~/.kube/config)")
    p.add_argument("--namespace", default=os.environ.get("REFLEX_API_NAMESPACE") or None, help="serve one namespace only")
    p.add_argument("--review-ttl", type=float, default=float(os.environ.get("REFLEX_API_REVIEW_TTL_SECONDS", "10")))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    api = api_client(args.kubeconfig)
    cache = Cache(api, args.namespace)
    cache.start()
    logs = None if os.environ.get("REFLEX_API_LOGS", "1") == "0" else LogReader()
    uvicorn.run(create_app(KubeBackend(api, cache, args.review_ttl), logs), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
