"""The decision core does no I/O: importing it loads no AWS, Kubernetes, HTTP or metrics library."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("boto3", "botocore", "kopf", "kubernetes", "aiohttp", "prometheus_client", "requests", "urllib3",
             "reflex_dev", "moto")

_PROBE = """
import json, sys
import reflex_operator.decide
import reflex_operator.decide.reconcile, reflex_operator.decide.actions, reflex_operator.decide.events
import reflex_operator.decide.identity, reflex_operator.decide.observed, reflex_operator.decide.steps
import reflex_operator.decide.reasons
print(json.dumps(sorted(sys.modules)))
"""


def test_decide_imports_no_io_library():
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60)
    modules = set(json.loads(out.stdout))
    top = {m.split(".")[0] for m in modules}
    assert "reflex_operator" in top
    assert top.isdisjoint(FORBIDDEN), sorted(top & set(FORBIDDEN))
    adapters = ("aws", "k8s", "dataplane", "metrics")
    ours = {m.split(".")[1] for m in modules if m.startswith("reflex_operator.")}
    assert ours.isdisjoint(adapters), sorted(ours & set(adapters))
