"""The product package holds only the product: the local stack (``reflex_dev``, with moto) is its
own distribution, built from ``devstack/``, and neither it nor anything only it needs reaches the
runtime lock the image installs from. (``tests/integration/test_image_install.py`` checks the
installed image venv itself.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tests.unit.test_dockerfile import DEV_LOCK, ROOT, RUNTIME_LOCK, lock_pins, normalise, requirement_name

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEV_PYPROJECT = tomllib.loads((ROOT / "devstack" / "pyproject.toml").read_text())
PROJECT_ROOT = "reflex-operator (pyproject.toml)"


def required_by(lock: Path) -> dict[str, set[str]]:
    """The lock's dependency graph from its ``# via`` annotations: package -> what requires it."""
    graph: dict[str, set[str]] = {}
    current: str | None = None
    in_via = False
    for line in lock.read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==", line)
        if pin:
            current, in_via = normalise(pin[1]), False
            graph[current] = set()
            continue
        via = re.match(r"^\s+# via(?: (.+))?$", line)
        if via and current:
            in_via = True
            if via[1]:
                graph[current].add(via[1].strip())
            continue
        more = re.match(r"^\s+#\s{2,}(.+)$", line)
        if more and current and in_via:
            graph[current].add(more[1].strip())
    return {name: {p if p == PROJECT_ROOT else normalise(p) for p in parents if not p.startswith("-")}
            for name, parents in graph.items()}


def runtime_closure() -> set[str]:
    """Everything the product's runtime dependencies need, transitively, per the dev lock."""
    parents = required_by(DEV_LOCK)
    children: dict[str, set[str]] = {}
    for child, ps in parents.items():
        for p in ps:
            children.setdefault(p, set()).add(child)
    todo = [requirement_name(r) for r in PYPROJECT["project"]["dependencies"]]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(children.get(name, ()))
    return seen


def test_the_graph_parser_reads_the_lock() -> None:
    parents = required_by(DEV_LOCK)
    assert PROJECT_ROOT in parents["moto"]
    assert "moto" in parents["responses"]
    assert "kopf" in parents["aiohttp"] or PROJECT_ROOT in parents["aiohttp"]


def test_runtime_lock_is_exactly_the_runtime_closure() -> None:
    """No package that only the dev extra pulls in (moto, werkzeug, flask, responses, ...) is in the
    runtime lock, and nothing the runtime needs is missing from it."""
    runtime, closure = set(lock_pins(RUNTIME_LOCK)), runtime_closure()
    assert runtime == closure, {"dev-only in runtime lock": sorted(runtime - closure),
                                "missing from runtime lock": sorted(closure - runtime)}
    for dev_only in ("moto", "werkzeug", "flask", "responses", "cryptography", "pytest", "reflex-dev"):
        assert dev_only not in runtime, dev_only


def test_the_local_stack_is_its_own_distribution() -> None:
    assert DEV_PYPROJECT["project"]["name"] == "reflex-dev"
    assert DEV_PYPROJECT["project"]["scripts"] == {"reflex-dev": "reflex_dev.cli:main"}
    # Its dependencies are pinned by the root dev extra (one lock file for the repository).
    dev_extra = {requirement_name(r) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]}
    runtime = {requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    needs = {requirement_name(r) for r in DEV_PYPROJECT["project"]["dependencies"]} - {"reflex-operator"}
    assert needs <= dev_extra | runtime, needs - dev_extra - runtime
    assert "reflex-dev" not in runtime


def test_the_product_builds_only_reflex_operator() -> None:
    find = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    assert find["where"] == ["operator"] and find["include"] == ["reflex_operator*"]
    sources = [p.relative_to(ROOT / "operator").parts for p in (ROOT / "operator").rglob("*.py")]
    assert sources and all(parts[0] == "reflex_operator" for parts in sources)
    assert not [parts for parts in sources if parts[:2] == ("reflex_operator", "dev")]
    assert PYPROJECT["project"]["scripts"] == {"reflex-operator": "reflex_operator.cli:main", "kubectl-reflex": "reflex_operator.plugin.cli:main", "reflex-api": "reflex_operator.restapi.serve:main"}
