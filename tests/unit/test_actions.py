"""The allowed-actions matrix: every phase × every action, plus the rules of SPEC §2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reflex_operator.api.models import Action, ActionMode, Phase
from reflex_operator.actions.allowed import Facts, allowed_actions

P, A = Phase, Action
IMM, Q = ActionMode.IMMEDIATE, ActionMode.QUEUED

# The facts a resource typically has in each phase (what the docs matrix shows).
TYPICAL: dict[Phase, Facts] = {
    P.PENDING: Facts(pending_changes=True),
    P.BUILDING: Facts(build_running=True, pending_changes=True, has_other_deployable_build=True),
    P.DEPLOYING: Facts(pending_changes=True, has_other_deployable_build=True),
    P.RUNNING: Facts(instance_serving=True, has_other_deployable_build=True),
    P.PAUSED: Facts(paused=True, has_other_deployable_build=True),
    P.TERMINATING: Facts(terminated=True, has_other_deployable_build=True),
    P.TERMINATED: Facts(terminated=True, has_other_deployable_build=True),
    P.FAILED: Facts(pending_changes=True),
    P.DELETING: Facts(),
}

DELETED = "being deleted"
NO_BUILD = "no other deployable build"
PROVISIONED = "already provisioned"
NOT_PAUSED = "not paused"
REPL_NOT_PAUSED = "replication is not paused"
WHEN_SERVING = "once the instance is serving"
AGAIN = "provisioned again"
TERMINATED = "the instance is terminated"
NOTHING = "nothing to cancel"

# (phase, action, allowed, mode, reason substring); "" = no reason (immediate).
MATRIX = [
    (P.PENDING, A.PROVISION, False, None, PROVISIONED),
    (P.PENDING, A.REBUILD, True, IMM, ""),
    (P.PENDING, A.RECONFIGURE, True, Q, "applied with the first deployment"),
    (P.PENDING, A.REDEPLOY, False, None, NO_BUILD),
    (P.PENDING, A.RESIZE, True, Q, "applied with the first deployment"),
    (P.PENDING, A.PAUSE, True, Q, "desired count 0 once its build is ready"),
    (P.PENDING, A.RESUME, False, None, NOT_PAUSED),
    (P.PENDING, A.TERMINATE, True, IMM, ""),
    (P.PENDING, A.DELETE, True, IMM, ""),
    (P.PENDING, A.RELOAD, True, Q, "the reload runs " + WHEN_SERVING),
    (P.PENDING, A.PAUSE_REPLICATION, True, Q, "pausing replication runs " + WHEN_SERVING),
    (P.PENDING, A.RESUME_REPLICATION, False, None, REPL_NOT_PAUSED),
    (P.PENDING, A.CANCEL_GOAL, True, IMM, ""),
    (P.BUILDING, A.PROVISION, False, None, PROVISIONED),
    (P.BUILDING, A.REBUILD, True, IMM, ""),
    (P.BUILDING, A.RECONFIGURE, True, Q, "waits for the running build to finish"),
    (P.BUILDING, A.REDEPLOY, True, IMM, ""),
    (P.BUILDING, A.RESIZE, True, Q, "new size waits for the running build"),
    (P.BUILDING, A.PAUSE, True, Q, "once its build is ready"),
    (P.BUILDING, A.RESUME, False, None, NOT_PAUSED),
    (P.BUILDING, A.TERMINATE, True, IMM, ""),
    (P.BUILDING, A.DELETE, True, IMM, ""),
    (P.BUILDING, A.RELOAD, True, Q, WHEN_SERVING),
    (P.BUILDING, A.PAUSE_REPLICATION, True, Q, WHEN_SERVING),
    (P.BUILDING, A.RESUME_REPLICATION, False, None, REPL_NOT_PAUSED),
    (P.BUILDING, A.CANCEL_GOAL, True, IMM, ""),
    (P.DEPLOYING, A.PROVISION, False, None, PROVISIONED),
    (P.DEPLOYING, A.REBUILD, True, IMM, ""),
    (P.DEPLOYING, A.RECONFIGURE, True, IMM, ""),
    (P.DEPLOYING, A.REDEPLOY, True, IMM, ""),
    (P.DEPLOYING, A.RESIZE, True, IMM, ""),
    (P.DEPLOYING, A.PAUSE, True, IMM, ""),
    (P.DEPLOYING, A.RESUME, False, None, NOT_PAUSED),
    (P.DEPLOYING, A.TERMINATE, True, IMM, ""),
    (P.DEPLOYING, A.DELETE, True, IMM, ""),
    (P.DEPLOYING, A.RELOAD, True, Q, WHEN_SERVING),
    (P.DEPLOYING, A.PAUSE_REPLICATION, True, Q, WHEN_SERVING),
    (P.DEPLOYING, A.RESUME_REPLICATION, False, None, REPL_NOT_PAUSED),
    (P.DEPLOYING, A.CANCEL_GOAL, True, IMM, ""),
    (P.RUNNING, A.PROVISION, False, None, PROVISIONED),
    (P.RUNNING, A.REBUILD, True, IMM, ""),
    (P.RUNNING, A.RECONFIGURE, True, IMM, ""),
    (P.RUNNING, A.REDEPLOY, True, IMM, ""),
    (P.RUNNING, A.RESIZE, True, IMM, ""),
    (P.RUNNING, A.PAUSE, True, IMM, ""),
    (P.RUNNING, A.RESUME, False, None, NOT_PAUSED),
    (P.RUNNING, A.TERMINATE, True, IMM, ""),
    (P.RUNNING, A.DELETE, True, IMM, ""),
    (P.RUNNING, A.RELOAD, True, IMM, ""),
    (P.RUNNING, A.PAUSE_REPLICATION, True, IMM, ""),
    (P.RUNNING, A.RESUME_REPLICATION, False, None, REPL_NOT_PAUSED),
    (P.RUNNING, A.CANCEL_GOAL, False, None, NOTHING),
    (P.PAUSED, A.PROVISION, False, None, PROVISIONED),
    (P.PAUSED, A.REBUILD, True, IMM, ""),
    (P.PAUSED, A.RECONFIGURE, True, IMM, ""),
    (P.PAUSED, A.REDEPLOY, True, IMM, ""),
    (P.PAUSED, A.RESIZE, True, IMM, ""),
    (P.PAUSED, A.PAUSE, False, None, "already paused"),
    (P.PAUSED, A.RESUME, True, IMM, ""),
    (P.PAUSED, A.TERMINATE, True, IMM, ""),
    (P.PAUSED, A.DELETE, True, IMM, ""),
    (P.PAUSED, A.RELOAD, False, None, "paused; resume it first"),
    (P.PAUSED, A.PAUSE_REPLICATION, False, None, "paused; resume it first"),
    (P.PAUSED, A.RESUME_REPLICATION, False, None, REPL_NOT_PAUSED),
    (P.PAUSED, A.CANCEL_GOAL, False, None, NOTHING),
    (P.TERMINATING, A.PROVISION, True, Q, "once termination finishes"),
    (P.TERMINATING, A.REBUILD, True, Q, "build starts when the instance is " + AGAIN),
    (P.TERMINATING, A.RECONFIGURE, True, Q, AGAIN),
    (P.TERMINATING, A.REDEPLOY, True, Q, "pinned build is deployed when the instance is " + AGAIN),
    (P.TERMINATING, A.RESIZE, True, Q, AGAIN),
    (P.TERMINATING, A.PAUSE, False, None, TERMINATED),
    (P.TERMINATING, A.RESUME, False, None, "provision it instead"),
    (P.TERMINATING, A.TERMINATE, False, None, "already terminated"),
    (P.TERMINATING, A.DELETE, True, IMM, ""),
    (P.TERMINATING, A.RELOAD, False, None, TERMINATED),
    (P.TERMINATING, A.PAUSE_REPLICATION, False, None, TERMINATED),
    (P.TERMINATING, A.RESUME_REPLICATION, False, None, REPL_NOT_PAUSED),
    (P.TERMINATING, A.CANCEL_GOAL, False, None, NOTHING),
    (P.TERMINATED, A.PROVISION, True, IMM, ""),
    (P.TERMINATED, A.REBUILD, True, Q, AGAIN),
    (P.TERMINATED, A.RECONFIGURE, True, Q, AGAIN),
    (P.TERMINATED, A.REDEPLOY, True, Q, AGAIN),
    (P.TERMINATED, A.RESIZE, True, Q, AGAIN),
    (P.TERMINATED, A.PAUSE, False, None, TERMINATED),
    (P.TERMINATED, A.RESUME, False, None, "provision it instead"),
    (P.TERMINATED, A.TERMINATE, False, None, "already terminated"),
    (P.TERMINATED, A.DELETE, True, IMM, ""),
    (P.TERMINATED, A.RELOAD, False, None, TERMINATED),
    (P.TERMINATED, A.PAUSE_REPLICATION, False, None, TERMINATED),
    (P.TERMINATED, A.RESUME_REPLICATION, False, None, REPL_NOT_PAUSED),
    (P.TERMINATED, A.CANCEL_GOAL, False, None, NOTHING),
    (P.FAILED, A.PROVISION, False, None, PROVISIONED),
    (P.FAILED, A.REBUILD, True, IMM, ""),
    (P.FAILED, A.RECONFIGURE, True, IMM, ""),
    (P.FAILED, A.REDEPLOY, False, None, NO_BUILD),
    (P.FAILED, A.RESIZE, True, IMM, ""),
    (P.FAILED, A.PAUSE, True, IMM, ""),
    (P.FAILED, A.RESUME, False, None, NOT_PAUSED),
    (P.FAILED, A.TERMINATE, True, IMM, ""),
    (P.FAILED, A.DELETE, True, IMM, ""),
    (P.FAILED, A.RELOAD, False, None, "not answering its health endpoint"),
    (P.FAILED, A.PAUSE_REPLICATION, False, None, "not answering its health endpoint"),
    (P.FAILED, A.RESUME_REPLICATION, False, None, REPL_NOT_PAUSED),
    (P.FAILED, A.CANCEL_GOAL, True, IMM, ""),
    (P.DELETING, A.PROVISION, False, None, DELETED),
    (P.DELETING, A.REBUILD, False, None, DELETED),
    (P.DELETING, A.RECONFIGURE, False, None, DELETED),
    (P.DELETING, A.REDEPLOY, False, None, DELETED),
    (P.DELETING, A.RESIZE, False, None, DELETED),
    (P.DELETING, A.PAUSE, False, None, DELETED),
    (P.DELETING, A.RESUME, False, None, DELETED),
    (P.DELETING, A.TERMINATE, False, None, DELETED),
    (P.DELETING, A.DELETE, True, IMM, ""),
    (P.DELETING, A.RELOAD, False, None, DELETED),
    (P.DELETING, A.PAUSE_REPLICATION, False, None, DELETED),
    (P.DELETING, A.RESUME_REPLICATION, False, None, DELETED),
    (P.DELETING, A.CANCEL_GOAL, False, None, DELETED),
]


def test_matrix_covers_every_phase_and_action():
    assert len(MATRIX) == len(Phase) * len(Action) == 117
    assert {(p, a) for p, a, *_ in MATRIX} == {(p, a) for p in Phase for a in Action}


@pytest.mark.parametrize(("phase", "action", "allowed", "mode", "reason"), MATRIX, ids=lambda v: str(v))
def test_allowed_actions_matrix(phase, action, allowed, mode, reason):
    got = allowed_actions(phase, TYPICAL[phase])[action]
    assert got.allowed is allowed
    assert got.mode == mode
    if reason:
        assert got.reason is not None and reason in got.reason
    else:
        assert got.reason is None
    if not allowed or mode is Q:
        assert got.reason, "a blocked or queued action says why"


# --------------------------------------------------------------------------------------- the rules

REMEDIATIONS = (A.RESIZE, A.REBUILD, A.REDEPLOY, A.PAUSE, A.TERMINATE, A.DELETE)


@pytest.mark.parametrize("action", REMEDIATIONS)
@pytest.mark.parametrize(
    "phase, facts",
    [
        (P.FAILED, Facts(pending_changes=True, has_other_deployable_build=True)),  # build or deployment failed
        (P.FAILED, Facts(has_other_deployable_build=True, instance_serving=True)),  # still serving the old build
        (P.RUNNING, Facts(has_other_deployable_build=True, instance_serving=True)),  # health degraded
        (P.RUNNING, Facts(has_other_deployable_build=True, instance_serving=False)),  # unreachable
    ],
    ids=["failed", "failed-serving", "degraded", "unreachable"],
)
def test_remediations_stay_allowed_when_degraded_or_failed(action, phase, facts):
    got = allowed_actions(phase, facts)[action]
    assert got.allowed, got.reason
    assert got.mode is IMM


@pytest.mark.parametrize("phase", list(Phase))
@pytest.mark.parametrize(
    "facts",
    [Facts(), Facts(paused=True), Facts(terminated=True), Facts(build_running=True, pending_changes=True)],
    ids=["plain", "paused", "terminated", "building"],
)
def test_delete_is_allowed_in_every_phase(phase, facts):
    got = allowed_actions(phase, facts)[A.DELETE]
    assert got.allowed and got.mode is IMM


@pytest.mark.parametrize("phase", list(Phase))
def test_every_action_is_reported_and_explained(phase):
    for facts in (TYPICAL[phase], Facts(), Facts(paused=True, replication_paused=True, instance_serving=True)):
        matrix = allowed_actions(phase, facts)
        assert set(matrix) == set(Action)
        for action, got in matrix.items():
            assert got.allowed or got.mode is None, action
            assert got.allowed or got.reason, action
            assert got.mode is not Q or got.reason, action


def test_facts_override_the_phase():
    # A resize queued behind a build even when the phase says Running (a rebuild of a serving instance).
    assert allowed_actions(P.RUNNING, Facts(build_running=True))[A.RESIZE].mode is Q
    # Terminated in the spec while the service is still running.
    assert allowed_actions(P.RUNNING, Facts(terminated=True))[A.RESIZE].mode is Q
    assert allowed_actions(P.RUNNING, Facts(terminated=True))[A.PROVISION].allowed
    assert not allowed_actions(P.RUNNING, Facts(terminated=True))[A.RELOAD].allowed
    # Pause/resume follow spec.paused.
    assert not allowed_actions(P.DEPLOYING, Facts(paused=True))[A.PAUSE].allowed
    assert allowed_actions(P.DEPLOYING, Facts(paused=True))[A.RESUME].mode is IMM
    assert allowed_actions(P.BUILDING, Facts(paused=True))[A.RESUME].mode is Q
    # Replication actions follow spec.sync.paused.
    serving = Facts(instance_serving=True, replication_paused=True)
    assert allowed_actions(P.RUNNING, serving)[A.RESUME_REPLICATION].mode is IMM
    assert "already paused" in allowed_actions(P.RUNNING, serving)[A.PAUSE_REPLICATION].reason
    assert allowed_actions(P.BUILDING, Facts(replication_paused=True))[A.RESUME_REPLICATION].mode is Q
    # Unreachable while running: instance actions are blocked, not queued.
    assert not allowed_actions(P.RUNNING, Facts())[A.RELOAD].allowed
    # cancel-goal with changes pending while running.
    assert allowed_actions(P.RUNNING, Facts(pending_changes=True))[A.CANCEL_GOAL].allowed


# ------------------------------------------------------------------------------ docs/actions.md

DOC = Path(__file__).resolve().parents[2] / "docs" / "actions.md"
_FACTS_TEXT = {
    "pending_changes": "changes pending",
    "build_running": "a build running",
    "has_other_deployable_build": "another deployable build",
    "instance_serving": "instance serving",
    "paused": "`spec.paused`",
    "terminated": "`spec.terminated`",
    "replication_paused": "`spec.sync.paused`",
}


def render_matrix() -> str:
    """The allowed-actions matrix as markdown, computed from ``allowed_actions``."""
    notes: list[str] = []

    def note(reason: str) -> int:
        if reason not in notes:
            notes.append(reason)
        return notes.index(reason) + 1

    header = "| phase | " + " | ".join(a.value for a in Action) + " |"
    rows = [header, "|---|" + "---|" * len(Action)]
    for phase in Phase:
        cells = []
        for got in allowed_actions(phase, TYPICAL[phase]).values():
            if not got.allowed:
                cells.append(f"✗ [{note(got.reason or '')}]")
            elif got.mode is ActionMode.QUEUED:
                cells.append(f"⏳ [{note(got.reason or '')}]")
            else:
                cells.append("✓")
        rows.append(f"| {phase.value} | " + " | ".join(cells) + " |")
    facts_rows = ["| phase | facts assumed |", "|---|---|"]
    for phase, facts in TYPICAL.items():
        on = [text for name, text in _FACTS_TEXT.items() if getattr(facts, name)]
        facts_rows.append(f"| {phase.value} | {', '.join(on) or '—'} |")
    return "\n".join(
        [
            "# Allowed actions",
            "",
            "<!-- Generated by tests/unit/test_actions.py from reflex_operator.actions.allowed.allowed_actions;",
            "     regenerate with REFLEX_REGEN_DOCS=1 make test-unit. Do not edit by hand. -->",
            "",
            "Every action is a change to the spec (SPEC §2, \"Actions are spec changes\"). The operator",
            "reports in `status.allowedActions` whether each would run now (✓ immediate), wait until it",
            "can (⏳ queued, carried out as soon as possible), or is refused (✗), with the reason. The",
            "table shows the answer for a resource in each phase with the facts typical of that phase",
            "(below); the real answer is computed per resource from its spec and observed state.",
            "",
            "Rules: remediations (resize, rebuild, redeploy, pause, terminate, delete) stay allowed while",
            "the instance is degraded or failed; delete is allowed in every phase, paused included;",
            "redeploy needs another deployable build in `status.builds`.",
            "",
            *rows,
            "",
            "Reasons:",
            "",
            *[f"{i}. {reason}" for i, reason in enumerate(notes, 1)],
            "",
            "Facts assumed per phase:",
            "",
            *facts_rows,
            "",
        ]
    )


def test_docs_matrix_is_current():
    text = render_matrix()
    if os.environ.get("REFLEX_REGEN_DOCS"):
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(text)
    assert DOC.exists(), "docs/actions.md missing: run with REFLEX_REGEN_DOCS=1"
    assert DOC.read_text() == text, "docs/actions.md is stale: run with REFLEX_REGEN_DOCS=1"
