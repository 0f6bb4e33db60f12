"""The real reconcile pass (tests/unit/world.py) writes notifications and history from the same
transitions as the Events it posts, and a repeated or crashed pass duplicates nothing."""

from __future__ import annotations

from dataclasses import replace

from reflex_operator.api.models import HistoryKind, NotificationType, Phase
from reflex_operator.database.notify import NOTIFIED
from tests.unit.world import World, one_pass, settle, resource


def _notified_events(world: World) -> list[str]:
    return [e.reason for e in world.events if e.reason in NOTIFIED]


def test_a_database_through_provision_pause_resume() -> None:
    w = World()
    d, _ = settle(w, resource())
    st = d.status
    assert st.phase is Phase.RUNNING
    kinds = [n.event_type for n in st.notifications][::-1]
    assert kinds == [NotificationType.BUILD_SUCCEEDED, NotificationType.DEPLOYED]
    assert kinds == _notified_events(w)
    assert st.unseen_count == 2 and st.skipped_count == 0
    phases = [h.to for h in st.history if h.kind is HistoryKind.PHASE][::-1]
    assert phases[0] == "Building" and st.history[-1].from_ is None and phases[-1] == "Running"
    assert [h.to for h in st.history if h.kind is HistoryKind.HEALTH] == ["ok"]

    paused = replace(d, generation=2, spec=d.spec.model_copy(update={"paused": True}))
    d, _ = settle(w, paused)
    resumed = replace(d, generation=3, spec=d.spec.model_copy(update={"paused": False}))
    d, _ = settle(w, resumed)
    kinds = [n.event_type for n in d.status.notifications][::-1]
    assert kinds[-2:] == [NotificationType.PAUSED, NotificationType.RESUMED]
    assert kinds == _notified_events(w)
    assert len({n.id for n in d.status.notifications}) == len(d.status.notifications)
    health = [(h.from_, h.to) for h in d.status.history if h.kind is HistoryKind.HEALTH][::-1]
    assert health == [(None, "ok"), ("ok", None), (None, "ok")]


def test_a_pass_that_dies_before_its_write_is_told_once() -> None:
    w = World()
    d = resource()
    for _ in range(40):
        before = d
        d, p = one_pass(w, d, crash=True)  # acts, then dies before writing status
        d, p = one_pass(w, before)  # a new operator repeats the pass
        if d.status.phase is Phase.RUNNING and d.status.instance and d.status.instance.health_status:
            break
        w.tick()
    again, _ = one_pass(w, d)
    assert again.status.notifications == d.status.notifications and again.status.history == d.status.history
    ids = [n.id for n in d.status.notifications]
    assert len(ids) == len(set(ids)) and {NotificationType.DEPLOYED, NotificationType.BUILD_SUCCEEDED} <= {
        n.event_type for n in d.status.notifications
    }
