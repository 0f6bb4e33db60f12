"""``limit_malloc_arenas``: two glibc arenas unless MALLOC_ARENA_MAX is given."""

from __future__ import annotations

import pytest

from reflex_operator.controller import run as main


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return 1


@pytest.fixture
def libc(monkeypatch):
    fake = FakeLibc()
    monkeypatch.setattr(main.ctypes, "CDLL", lambda name: fake)
    monkeypatch.setattr(main.sys, "platform", "linux")
    return fake


def test_two_arenas_by_default(libc, monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    main.limit_malloc_arenas()
    assert libc.calls == [(-8, 2)]  # M_ARENA_MAX


def test_the_variable_wins(libc, monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    main.limit_malloc_arenas()
    assert libc.calls == []


def test_no_glibc_no_call(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.setattr(main.sys, "platform", "linux")

    def missing(name):
        raise OSError(name)

    monkeypatch.setattr(main.ctypes, "CDLL", missing)
    main.limit_malloc_arenas()  # nothing to limit, no error
