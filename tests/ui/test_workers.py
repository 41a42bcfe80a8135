"""The worker helper: exactly one outcome per run, callbacks in the GUI thread, one job per slot, cancel, shutdown."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QObject

from desktop.errors import Cancelled
from desktop.ui.workers import WorkerGroup, WorkerSlot

pytestmark = pytest.mark.gui


class Recorder:
    """Every callback of a run, in order, with the thread it ran in."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.threads: set[int] = set()

    def callbacks(self) -> dict:
        def record(name):
            def callback(*args):
                self.threads.add(threading.get_ident())
                self.calls.append((name, args[0] if args else None))
            return callback

        return {f"on_{name}": record(name) for name in ("done", "failed", "cancelled", "progress", "finished")}

    @property
    def outcomes(self) -> list[str]:
        return [name for name, _ in self.calls if name in ("done", "failed", "cancelled")]


@pytest.fixture
def slot(qapp):
    owner = QObject()
    yield WorkerSlot(owner)
    owner.deleteLater()


def run_to_end(qtbot, slot, job, recorder: Recorder):
    assert slot.start(job, **recorder.callbacks()) is not None
    qtbot.waitUntil(lambda: ("finished", None) in recorder.calls, timeout=10_000)


def failing(_emit, _cancel):
    raise ValueError("the photo is gone")


def cancelling(_emit, _cancel):
    raise Cancelled


@pytest.mark.parametrize(("job", "outcome", "value"), [
    (lambda emit, cancel: (emit(1), emit(2), 42)[-1], "done", 42),
    (failing, "failed", "the photo is gone"),
    (cancelling, "cancelled", None),
])
def test_exactly_one_outcome_then_finished_all_in_the_gui_thread(qtbot, slot, job, outcome, value):
    recorder = Recorder()
    run_to_end(qtbot, slot, job, recorder)
    assert recorder.outcomes == [outcome]
    assert recorder.calls[-2:] == [(outcome, value), ("finished", None)]
    assert recorder.threads == {threading.get_ident()}
    assert not slot.busy and slot.worker is None


def test_progress_arrives_before_the_result(qtbot, slot):
    recorder = Recorder()
    run_to_end(qtbot, slot, lambda emit, cancel: (emit("a"), emit("b"), "result")[-1], recorder)
    assert recorder.calls == [("progress", "a"), ("progress", "b"), ("done", "result"), ("finished", None)]


def test_a_slot_refuses_a_second_job_while_one_runs(qtbot, slot):
    release = threading.Event()
    first, second = Recorder(), Recorder()
    worker = slot.start(lambda emit, cancel: release.wait(10), **first.callbacks())
    assert worker is not None and slot.busy and slot.worker is worker
    assert slot.start(lambda emit, cancel: "never", **second.callbacks()) is None
    release.set()
    qtbot.waitUntil(lambda: ("finished", None) in first.calls, timeout=10_000)
    assert first.outcomes == ["done"] and second.calls == []


def test_on_finished_may_start_the_next_job(qtbot, slot):
    results: list[str] = []

    def start(name: str, then: str | None) -> None:
        assert slot.start(lambda emit, cancel: name, on_done=results.append,
                          on_finished=(lambda: start(then, None)) if then else None) is not None

    start("first", "second")
    qtbot.waitUntil(lambda: results == ["first", "second"], timeout=10_000)
    qtbot.waitUntil(lambda: not slot.busy, timeout=10_000)


def test_cancel_makes_a_job_that_returns_nothing_cancelled(qtbot, slot):
    recorder = Recorder()
    started = threading.Event()

    def job(_emit, cancel: threading.Event):
        started.set()
        cancel.wait(10)
        return None

    slot.start(job, **recorder.callbacks())
    assert started.wait(10)
    assert not slot.worker.cancel_requested
    slot.cancel()
    assert slot.worker.cancel_requested
    qtbot.waitUntil(lambda: ("finished", None) in recorder.calls, timeout=10_000)
    assert recorder.outcomes == ["cancelled"]


def test_shutdown_cancels_and_waits_for_every_job(qtbot, qapp):
    group = WorkerGroup()
    ended: list[int] = []

    def job(_emit, cancel: threading.Event):
        cancel.wait(10)
        ended.append(1)

    workers = [group.start(job) for _ in range(3)]
    assert group.busy and group.workers == workers
    group.shutdown()
    assert len(ended) == 3 and all(worker.isFinished() for worker in workers)
    qtbot.waitUntil(lambda: not group.busy, timeout=10_000)


def test_on_progress_receives_only_the_events_of_its_type(qtbot, slot) -> None:
    """A core job emits notices among its progress events: a callback typed for Progress never sees them (the
    controllers used to guess with hasattr)."""
    from desktop.progress import Notice, Progress

    received: list[object] = []
    finished: list[bool] = []

    def job(emit, _cancel):
        emit(Progress("features", 0, 2))
        emit(Notice("Fast CPU inference failed; continuing with PyTorch."))
        emit(Progress("features", 2, 2))
        return "done"

    assert slot.start(job, on_progress=received.append, progress_type=Progress,
                      on_finished=lambda: finished.append(True)) is not None
    qtbot.waitUntil(lambda: finished == [True], timeout=10_000)
    assert received == [Progress("features", 0, 2), Progress("features", 2, 2)]
