"""Fixtures shared by the end-to-end tests of the kubectl plugin."""

from __future__ import annotations

from collections.abc import Callable
from subprocess import CompletedProcess

import pytest


@pytest.fixture
def ok(operator) -> Callable[..., str]:
    """Check a plugin run's exit code (0 unless told) and return its stdout; on a mismatch the
    assertion shows its output and the tail of the operator's log."""

    def check(proc: CompletedProcess[str], rc: int = 0) -> str:
        assert proc.returncode == rc, (
            f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}\n{operator.log()[-4000:]}"
        )
        return proc.stdout

    return check
