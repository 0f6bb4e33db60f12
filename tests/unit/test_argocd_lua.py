"""The Argo CD health check and resource actions (``manifests/argocd/``), run in a Lua runtime
that mimics Argo CD's sandbox, against statuses captured from real resources.

Argo CD runs these scripts in gopher-lua (Lua 5.1) with only the base, table and a safe ``os``
(``time``, ``date``) library, and the live object as the global ``obj``. ``ArgoLua`` reproduces
that with lupa's Lua 5.1: no ``string``, ``math``, ``io`` or ``debug``, and no string methods, so a
script that would fail in Argo CD fails here too.

The fixtures under ``tests/unit/fixtures/argocd/`` are ReflexDatabase objects read back from the
real stack (kube-apiserver + operator + AWS emulator) by ``tests/e2e/test_gitops_health.py``, which
also runs these helpers on the live objects; rewrite them with
``REFLEX_WRITE_ARGOCD_FIXTURES=1 pytest tests/e2e/test_gitops_health.py``.
"""

from __future__ import annotations

import copy
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

try:  # Argo CD's gopher-lua speaks Lua 5.1
    from lupa.lua51 import LuaRuntime
except ImportError:  # pragma: no cover - every lupa wheel ships lua51 today
    from lupa import LuaRuntime

ROOT = Path(__file__).resolve().parents[2]
ARGOCD = ROOT / "manifests" / "argocd"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "argocd"
ACTIONS = ("pause", "resume", "rebuild", "reload")
HEALTH_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

# The globals Argo CD's Lua VM offers (gopher-lua's base library, ``table``, a safe ``os``,
# ``require`` for that ``os``); everything else (string, math, io, debug, load*, dofile) is absent.
_SANDBOX = """
local script, obj, now = ...
local safe_os = {time = function(t) if t == nil then return now end return os.time(t) end, date = os.date}
local env = {
  obj = obj,
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
  print = print, rawequal = rawequal, rawget = rawget, rawset = rawset, select = select,
  setmetatable = setmetatable, getmetatable = getmetatable, tonumber = tonumber,
  tostring = tostring, type = type, unpack = unpack, xpcall = xpcall,
  table = {concat = table.concat, insert = table.insert, remove = table.remove, sort = table.sort,
           getn = table.getn, maxn = table.maxn},
  os = safe_os,
  require = function(name)
    if name == "os" then return safe_os end
    error("module '" .. tostring(name) .. "' not found")
  end,
}
env._G = env
local chunk, err = loadstring(script, "=script")
if chunk == nil then error(err) end
setfenv(chunk, env)
return chunk()
"""


class ArgoLua:
    """Runs Argo CD Lua scripts the way Argo CD does (sandbox as above, ``obj`` global)."""

    def __init__(self) -> None:
        self.lua = LuaRuntime(unpack_returned_tuples=False)
        # No string library in Argo CD's VM, so no methods on strings either ("x"):upper().
        self.lua.execute('local mt = getmetatable("") if mt then mt.__index = nil end')
        self._run = self.lua.eval("function(...) " + _SANDBOX + " end")

    def to_lua(self, value: Any) -> Any:
        """JSON-like Python value -> Lua value (dicts and lists as tables, None as nil)."""
        if isinstance(value, dict):
            table = self.lua.table()
            for key, item in value.items():
                if item is not None:
                    table[key] = self.to_lua(item)
            return table
        if isinstance(value, list):
            table = self.lua.table()
            for index, item in enumerate(value, start=1):
                table[index] = self.to_lua(item)
            return table
        return value

    def from_lua(self, value: Any) -> Any:
        """Lua value -> Python: a table with keys 1..n is a list, any other table a dict."""
        if self.lua.eval("type")(value) != "table":
            return value
        items = list(value.items())
        keys = [k for k, _ in items]
        if keys and all(isinstance(k, int) for k in keys) and sorted(keys) == list(range(1, len(keys) + 1)):
            return [self.from_lua(v) for _, v in sorted(items)]
        return {k: self.from_lua(v) for k, v in items}

    def run(self, script: str, obj: dict[str, Any], now: int | None = None) -> Any:
        result = self._run(script, self.to_lua(copy.deepcopy(obj)), int(time.time()) if now is None else now)
        return self.from_lua(result)


_lua: ArgoLua | None = None


def _runtime() -> ArgoLua:
    global _lua
    if _lua is None:
        _lua = ArgoLua()
    return _lua


def read_script(relative: str) -> str:
    return (ARGOCD / relative).read_text()


def argocd_health(obj: dict[str, Any]) -> dict[str, Any]:
    """What Argo CD's health assessment says of ``obj``: ``{"status", "message"}``."""
    return _runtime().run(read_script("health.lua"), obj)


def argocd_action(name: str, obj: dict[str, Any], now: int | None = None) -> dict[str, Any]:
    """The object after Argo CD runs resource action ``name`` on it."""
    return _runtime().run(read_script(f"actions/{name}/action.lua"), obj, now)


def argocd_discovery(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The actions Argo CD offers for ``obj``: name -> ``{"disabled", "iconClass"}``."""
    return _runtime().run(read_script("actions/discovery.lua"), obj)


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def _cond(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == kind)


# --------------------------------------------------------------------------------------------
# Health, against statuses captured from real resources
# --------------------------------------------------------------------------------------------

# fixture -> (Argo CD health, what the message must contain)
EXPECTED_HEALTH = {
    "building": ("Progressing", "Build"),
    "running": ("Healthy", "serving"),
    "paused": ("Suspended", "paused"),
    "terminated": ("Suspended", "terminated"),
    "build-failed": ("Degraded", "BuildFailed"),
    "secret-not-found": ("Degraded", "SecretNotFound"),
    "unreachable": ("Degraded", "Unreachable"),
    "health-degraded": ("Degraded", "HealthDegraded"),
    "generation-not-observed": ("Progressing", "observe generation"),
}


def test_every_fixture_is_a_real_captured_object():
    names = sorted(p.stem for p in FIXTURES.glob("*.json"))
    assert names == sorted(EXPECTED_HEALTH)
    for name in names:
        obj = load_fixture(name)
        assert obj["kind"] == "ReflexDatabase" and obj["apiVersion"] == "reflexdb.cloud/v1alpha1"
        assert obj["metadata"]["generation"] >= 1 and "uid" in obj["metadata"]
        assert {c["type"] for c in obj["status"]["conditions"]} == {"Ready", "Reconciling", "Stalled", "Degraded"}


@pytest.mark.parametrize("name", sorted(EXPECTED_HEALTH))
def test_health_of_each_captured_phase(name):
    expected, fragment = EXPECTED_HEALTH[name]
    health = argocd_health(load_fixture(name))
    assert set(health) == {"status", "message"}
    assert health["status"] == expected, health
    assert fragment in health["message"], health


def test_captured_fixtures_cover_the_phases_and_conditions():
    phase = {name: load_fixture(name)["status"]["phase"] for name in EXPECTED_HEALTH}
    assert phase["building"] == "Building"
    assert phase["running"] == phase["unreachable"] == phase["health-degraded"] == "Running"
    assert phase["paused"] == "Paused" and phase["terminated"] == "Terminated"
    assert phase["build-failed"] == "Failed"
    assert _cond(load_fixture("secret-not-found"), "Stalled")["status"] == "True"
    # A degraded server still serves (Ready=True) but Argo CD must not call it Healthy.
    degraded = load_fixture("health-degraded")
    assert _cond(degraded, "Ready")["status"] == "True" and _cond(degraded, "Degraded")["status"] == "True"
    unobserved = load_fixture("generation-not-observed")
    assert unobserved["status"]["observedGeneration"] < unobserved["metadata"]["generation"]
    # ... while its conditions, written for the older generation, still say Ready.
    assert _cond(unobserved, "Ready")["status"] == "True"


def _with(obj: dict[str, Any], **conditions: str) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    for c in obj["status"]["conditions"]:
        if c["type"] in conditions:
            c["status"] = conditions[c["type"]]
    return obj


def test_health_rules_in_order():
    running = load_fixture("running")
    assert argocd_health({"apiVersion": "reflexdb.cloud/v1alpha1", "kind": "ReflexDatabase",
                          "metadata": {"name": "x", "generation": 1}})["status"] == "Progressing"
    no_conditions = copy.deepcopy(running)
    no_conditions["status"] = {"observedGeneration": 1, "phase": "Pending"}
    no_conditions["metadata"]["generation"] = 1
    assert argocd_health(no_conditions)["status"] == "Progressing"
    # Stalled wins over everything once the generation is observed.
    assert argocd_health(_with(running, Stalled="True"))["status"] == "Degraded"
    # Paused wins over Degraded health (nothing runs, nothing to be unhealthy).
    paused = load_fixture("paused")
    assert argocd_health(_with(paused, Degraded="True"))["status"] == "Suspended"
    # A rollout in progress is Progressing even if the old tasks' health is degraded.
    rolling = _with(running, Reconciling="True", Degraded="True", Ready="False")
    health = argocd_health(rolling)
    assert health["status"] == "Progressing" and "instance health" in health["message"]
    # Ready=False with nothing else going on is not Healthy.
    assert argocd_health(_with(running, Ready="False"))["status"] == "Progressing"
    for phase in ("Terminating", "Deleting", "Deploying", "Pending"):
        obj = _with(running, Ready="False", Reconciling="True")
        obj["status"]["phase"] = phase
        assert argocd_health(obj)["status"] == "Progressing", phase


def test_health_results_are_valid_argo_statuses():
    for name in EXPECTED_HEALTH:
        assert argocd_health(load_fixture(name))["status"] in HEALTH_STATUSES


# --------------------------------------------------------------------------------------------
# Actions and discovery
# --------------------------------------------------------------------------------------------

def _spec_without(obj: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in obj["spec"].items() if k not in keys}


def test_pause_and_resume_set_spec_paused_only():
    running = load_fixture("running")
    paused = argocd_action("pause", running)
    assert paused["spec"]["paused"] is True
    assert _spec_without(paused, "paused") == _spec_without(running, "paused")
    assert paused["metadata"] == running["metadata"]
    resumed = argocd_action("resume", load_fixture("paused"))
    assert resumed["spec"]["paused"] is False
    assert _spec_without(resumed, "paused") == _spec_without(load_fixture("paused"), "paused")


@pytest.mark.parametrize("action,field", [("rebuild", "rebuildToken"), ("reload", "reloadToken")])
def test_token_actions_set_a_new_valid_token(action, field):
    running = load_fixture("running")
    after = argocd_action(action, running, now=1_767_225_600)
    token = after["spec"][field]
    assert token == "argocd-1767225600"
    # The CRD's rule for tokens.
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]*", token) and len(token) <= 128
    assert _spec_without(after, field) == _spec_without(running, field)
    # Clicked twice within one second: the value still changes, every time.
    again = argocd_action(action, after, now=1_767_225_600)
    assert again["spec"][field] not in (None, token)
    third = argocd_action(action, again, now=1_767_225_600)
    assert third["spec"][field] != again["spec"][field]
    # With the real clock.
    assert argocd_action(action, running)["spec"][field].startswith("argocd-")


def test_actions_on_an_object_without_spec():
    bare = {"apiVersion": "reflexdb.cloud/v1alpha1", "kind": "ReflexDatabase", "metadata": {"name": "x"}}
    assert argocd_action("pause", bare)["spec"] == {"paused": True}
    assert argocd_action("rebuild", bare, now=5)["spec"] == {"rebuildToken": "argocd-5"}


def _enabled(obj: dict[str, Any]) -> set[str]:
    offered = argocd_discovery(obj)
    assert set(offered) == set(ACTIONS)
    for entry in offered.values():
        assert isinstance(entry["disabled"], bool) and entry["iconClass"].startswith("fa ")
    return {name for name, entry in offered.items() if not entry["disabled"]}


@pytest.mark.parametrize("name", sorted(EXPECTED_HEALTH))
def test_discovery_follows_allowed_actions(name):
    obj = load_fixture(name)
    allowed = {a for a in ACTIONS if obj["status"]["allowedActions"][a]["allowed"]}
    assert _enabled(obj) == allowed


def test_discovery_in_the_captured_phases():
    assert _enabled(load_fixture("running")) == {"pause", "rebuild", "reload"}
    assert "resume" in _enabled(load_fixture("paused")) and "pause" not in _enabled(load_fixture("paused"))
    assert "reload" not in _enabled(load_fixture("paused"))
    assert "rebuild" in _enabled(load_fixture("build-failed"))  # a remediation stays allowed


def test_discovery_disables_everything_without_allowed_actions():
    obj = load_fixture("running")
    del obj["status"]["allowedActions"]
    assert _enabled(obj) == set()
    obj = load_fixture("running")
    obj["status"]["allowedActions"]["pause"] = {"allowed": False, "reason": "no"}
    del obj["status"]["allowedActions"]["reload"]
    assert _enabled(obj) == {"rebuild"}


# --------------------------------------------------------------------------------------------
# The sandbox is as strict as Argo CD's, and argocd-cm carries exactly these scripts
# --------------------------------------------------------------------------------------------

def test_sandbox_rejects_what_argo_cd_lacks():
    lua = _runtime()
    for script in ('return string.format("%d", 1)', "return math.floor(1.5)", 'return ("x"):upper()',
                   'return io.open("/etc/passwd")', 'return os.getenv("HOME")', 'return require("string")'):
        with pytest.raises(Exception):
            lua.run(script, {})
    assert lua.run('return require("os").time()', {}, now=42) == 42


def test_argocd_cm_patch_embeds_the_scripts():
    patch = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())
    assert patch["kind"] == "ConfigMap" and patch["metadata"]["name"] == "argocd-cm"
    data = patch["data"]
    assert data["resource.customizations.health.reflexdb.cloud_ReflexDatabase"] == read_script("health.lua")
    actions = yaml.safe_load(data["resource.customizations.actions.reflexdb.cloud_ReflexDatabase"])
    assert actions["discovery.lua"] == read_script("actions/discovery.lua")
    assert {d["name"]: d["action.lua"] for d in actions["definitions"]} == {
        name: read_script(f"actions/{name}/action.lua") for name in ACTIONS
    }


# --------------------------------------------------------------------------------------------
# Regenerating argocd-cm-patch.yaml from the scripts: python -m tests.unit.test_argocd_lua
# --------------------------------------------------------------------------------------------

CM_HEADER = """\
# Argo CD resource customizations for ReflexDatabase: health check and resource actions.
# Generated from manifests/argocd/*.lua by `python -m tests.unit.test_argocd_lua` (a unit test
# fails when it differs from the scripts). Merge it into Argo CD's argocd-cm:
#
#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file manifests/argocd/argocd-cm-patch.yaml
#
# or list it under `patches:` in the kustomization that installs Argo CD. The actions need the
# Argo CD RBAC permission `action/reflexdb.cloud/ReflexDatabase/<name>` (e.g. in argocd-rbac-cm:
# `p, role:ops, applications, action/reflexdb.cloud/ReflexDatabase/*, */*, allow`).
"""


def _block(text: str, indent: int) -> str:
    pad = " " * indent
    return "".join(pad + line if line.strip() else "\n" for line in text.splitlines(keepends=True))


def render_argocd_cm() -> str:
    actions = "discovery.lua: |\n" + _block(read_script("actions/discovery.lua"), 2) + "definitions:\n"
    for name in ACTIONS:
        actions += f"- name: {name}\n  action.lua: |\n" + _block(read_script(f"actions/{name}/action.lua"), 4)
    return (
        CM_HEADER
        + "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\n"
        + "  labels:\n    app.kubernetes.io/name: argocd-cm\n    app.kubernetes.io/part-of: argocd\ndata:\n"
        + "  resource.customizations.health.reflexdb.cloud_ReflexDatabase: |\n"
        + _block(read_script("health.lua"), 4)
        + "  resource.customizations.actions.reflexdb.cloud_ReflexDatabase: |\n"
        + _block(actions, 4)
    )


def test_argocd_cm_patch_is_generated():
    assert (ARGOCD / "argocd-cm-patch.yaml").read_text() == render_argocd_cm(), (
        "regenerate: python -m tests.unit.test_argocd_lua"
    )


if __name__ == "__main__":
    (ARGOCD / "argocd-cm-patch.yaml").write_text(render_argocd_cm())
