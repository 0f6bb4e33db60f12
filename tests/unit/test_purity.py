"""The decisions do no I/O: importing every pure module (the list import-linter enforces, read from
pyproject.toml) loads no AWS, Kubernetes, HTTP or metrics library, and no adapter of ours."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("boto3", "botocore", "kopf", "kubernetes", "aiohttp", "prometheus_client", "requests", "urllib3",
             "reflex_dev", "moto")
ADAPTERS = ("aws", "kube", "controller", "dataplane", "metrics")

_PROBE = """
import importlib, json, pkgutil, sys
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), name + "."):
        importlib.import_module(info.name)
print(json.dumps(sorted(sys.modules)))
"""


def _pure_modules() -> list[str]:
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (pure,) = [c for c in contracts if c["name"] == "The decisions do no I/O"]
    return pure["source_modules"]


def test_pure_modules_import_no_io_library():
    pure = _pure_modules()
    assert "reflex_operator.database" in pure and "reflex_operator.ha.lease" in pure
    out = subprocess.run([sys.executable, "-c", _PROBE, *pure], capture_output=True, text=True, check=True, timeout=60)
    modules = set(json.loads(out.stdout))
    top = {m.split(".")[0] for m in modules}
    assert "reflex_operator" in top
    assert top.isdisjoint(FORBIDDEN), sorted(top & set(FORBIDDEN))
    ours = {m.split(".")[1] for m in modules if m.startswith("reflex_operator.")}
    assert ours.isdisjoint(ADAPTERS), sorted(ours & set(ADAPTERS))
    assert "reflex_operator.ha.lease_client" not in modules and "reflex_operator.ha.elector" not in modules
