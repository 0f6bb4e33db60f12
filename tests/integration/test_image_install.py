"""The image's install steps, replayed without a Docker engine.

The builder stage of the Dockerfile is executed here as written: its ``COPY`` instructions copy the
same files (filtered like ``.dockerignore``) into a build context under ``tmp_path``, ``WORKDIR`` is
that context, and each ``RUN`` runs in bash with ``/opt/venv`` pointing at a fresh venv under
``tmp_path``. The stage's ``ENV`` is deliberately not applied: it turns pip's cache off, which an
image build wants and a test on a warm machine does not. Then the venv must run
``reflex-operator run --help``, import every runtime module, and hold exactly the runtime lock's
packages plus the project: no dev-only package (moto, pytest, ...), no local stack (reflex_dev),
no pip, no setuptools.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_dockerfile import (
    DEV_LOCK,
    DOCKERFILE,
    ROOT,
    RUNTIME_LOCK,
    copy_parts,
    lock_pins,
    normalise,
    parse_dockerfile,
)

pytestmark = pytest.mark.integration

IMAGE_VENV = "/opt/venv"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "*.egg-info")
STEP_TIMEOUT = 600.0


def _copy_into_context(sources: list[str], dest: str, workdir: Path) -> None:
    assert not dest.startswith("/"), f"COPY to an absolute path is not replayable here: {dest}"
    target = workdir / dest
    matched = [Path(p) for src in sources for p in sorted(glob.glob(str(ROOT / src.rstrip("/"))))]
    # Docker accepts a wildcard that matches nothing as long as some source matches.
    assert matched, f"COPY {sources}: nothing matches"
    for path in matched:
        if path.is_dir():
            # `COPY dir/ dest/` copies the directory's contents into dest.
            shutil.copytree(path, target, ignore=IGNORED, dirs_exist_ok=True)
        else:
            into = target / path.name if dest.endswith("/") or len(matched) > 1 else target
            into.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, into)


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The builder stage, replayed: returns the venv it built."""
    if sys.version_info[:2] != (3, 11):
        pytest.fail(f"the image's Python is 3.11 (the lock is compiled for it); this is {sys.version.split()[0]}")
    base = tmp_path_factory.mktemp("image")
    context, venv, shims = base / "context", base / "venv", base / "shims"
    context.mkdir()
    shims.mkdir()
    # `python` in the image is the base image's interpreter; here, this one's base interpreter.
    (shims / "python").symlink_to(getattr(sys, "_base_executable", sys.executable))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PIP_NO_CACHE_DIR", "PIP_REQUIRE_HASHES")}
    env["PATH"] = os.pathsep.join([str(shims), env.get("PATH", "")])
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    builder = parse_dockerfile(DOCKERFILE.read_text())[0]
    # A stage's ARG is in the environment of its RUN steps, with its default (PIP_SOURCE=index).
    for ins in builder.all("ARG"):
        key, _, default = ins.args.partition("=")
        env[key.strip()] = default.strip().strip('"')
    workdir = context
    ran = 0
    for ins in builder.instructions:
        if ins.cmd == "WORKDIR":
            workdir = context  # the image's build directory is the context here
            workdir.mkdir(exist_ok=True)
        elif ins.cmd == "COPY":
            flags, sources, dest = copy_parts(ins)
            assert not flags, f"line {ins.line}: COPY {flags} in the builder is not replayable"
            _copy_into_context(sources, dest, workdir)
        elif ins.cmd == "RUN":
            command = ins.args.replace(IMAGE_VENV, str(venv))
            proc = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", command],
                cwd=workdir, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT,
            )
            assert proc.returncode == 0, (
                f"Dockerfile line {ins.line} failed ({proc.returncode}): {command}\n"
                f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
            )
            ran += 1
        elif ins.cmd in ("ENV", "ARG", "LABEL"):
            continue
        else:
            raise AssertionError(f"line {ins.line}: builder instruction {ins.cmd} is not replayable")
    assert ran >= 3, "the builder stage should create the venv, install the lock, install the project"
    assert (venv / "bin" / "python").exists()
    return venv


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_entrypoint_runs(image_venv: Path, tmp_path: Path) -> None:
    proc = _run(image_venv, str(image_venv / "bin" / "reflex-operator"), "run", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "--verbose" in proc.stdout


def test_every_runtime_module_imports_from_the_installed_package(image_venv: Path, tmp_path: Path) -> None:
    """Every module of the installed package imports with the runtime dependencies alone, and from
    the venv's site-packages, not the work tree."""
    script = (
        "import importlib, json, pkgutil, reflex_operator\n"
        "names = [m.name for m in pkgutil.walk_packages(reflex_operator.__path__, 'reflex_operator.')]\n"
        "for n in names: importlib.import_module(n)\n"
        "print(json.dumps({'file': reflex_operator.__file__, 'modules': names}))\n"
    )
    proc = _run(image_venv, str(image_venv / "bin" / "python"), "-c", script, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert Path(out["file"]).resolve().is_relative_to(image_venv.resolve()), out["file"]
    assert "reflex_operator.controller.run" in out["modules"] and "reflex_operator.controller.handlers" in out["modules"]


def test_venv_holds_the_runtime_lock_and_the_project_only(image_venv: Path, tmp_path: Path) -> None:
    proc = _run(
        image_venv, str(image_venv / "bin" / "python"), "-c",
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    installed = {normalise(k): v for k, v in json.loads(proc.stdout).items()}
    runtime = lock_pins(RUNTIME_LOCK)
    assert installed.pop("reflex-operator") == "0.1.0"
    assert installed == runtime
    dev_only = set(lock_pins(DEV_LOCK)) - set(runtime)
    assert {"moto", "pytest", "hypothesis"} <= dev_only
    assert not (dev_only & set(installed)), f"dev-only packages in the image venv: {dev_only & set(installed)}"
    assert not (image_venv / "bin" / "pip").exists()
    assert "pip" not in installed and "setuptools" not in installed


def test_the_image_holds_no_local_stack(image_venv: Path, tmp_path: Path) -> None:
    """The local stack (reflex_dev) and moto are not importable in the image venv, and the installed
    product has no dev modules: not in its files (the wheel's RECORD), not importable."""
    script = (
        "import importlib.metadata as m, importlib.util as u, json\n"
        "files = [str(f) for f in m.distribution('reflex-operator').files or []]\n"
        "print(json.dumps({'files': files, 'importable': {n: u.find_spec(n) is not None\n"
        "    for n in ('reflex_operator', 'reflex_dev', 'moto', 'werkzeug', 'flask', 'responses')},\n"
        "    'scripts': sorted(e.name for e in m.entry_points(group='console_scripts'))}))\n"
    )
    proc = _run(image_venv, str(image_venv / "bin" / "python"), "-c", script, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["importable"] == {"reflex_operator": True, "reflex_dev": False, "moto": False,
                                 "werkzeug": False, "flask": False, "responses": False}, out["importable"]
    modules = [f for f in out["files"] if f.endswith(".py")]
    assert "reflex_operator/controller/run.py" in modules, modules
    assert all(f.startswith("reflex_operator/") for f in modules), modules
    assert not [f for f in out["files"] if f.startswith(("reflex_operator/dev/", "reflex_dev"))], out["files"]
    assert "reflex-operator" in out["scripts"] and "reflex-dev" not in out["scripts"], out["scripts"]
    assert not (image_venv / "bin" / "reflex-dev").exists()
