"""start_project_job, the one job shape of Check Photos, More like this and the collection map: steps on the
status-bar line, the result only while the same project is open, one at a time."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from PySide6.QtCore import QObject

from desktop.progress import Notice, Progress
from desktop.ui.project_jobs import start_project_job
from desktop.ui.widgets.status_progress import StatusProgress
from desktop.ui.workers import WorkerSlot

pytestmark = pytest.mark.gui


@pytest.fixture
def parts(qtbot):
    owner = QObject()
    line = StatusProgress()
    qtbot.addWidget(line)
    yield SimpleNamespace(task=WorkerSlot(owner), context=SimpleNamespace(project=object()), line=line)
    owner.deleteLater()


def test_the_result_and_the_steps_of_the_open_project(qtbot, parts) -> None:
    release, steps, results, said = threading.Event(), [], [], []

    def work(project, emit, cancel):
        emit(Progress("features", 3, 8))
        emit(Notice("a notice is no step"))
        release.wait(10)
        return ("placed", project)

    project = parts.context.project
    assert start_project_job(parts.task, parts.context, parts.line, work, starting="Placing…",
                             step=lambda event: steps.append(event) or f"Map: {event.done} of {event.total}",
                             on_done=results.append, on_failed=said.append, on_cancelled=lambda: said.append("x"))
    assert not parts.line.isHidden() and parts.line.text.text() == "Placing…"
    qtbot.waitUntil(lambda: parts.line.text.text() == "Map: 3 of 8", timeout=10_000)
    assert (parts.line.bar.value(), parts.line.bar.maximum()) == (3, 8)
    assert not start_project_job(parts.task, parts.context, parts.line, work, starting="again", step=str,
                                 on_done=results.append, on_failed=said.append, on_cancelled=lambda: None)
    release.set()
    qtbot.waitUntil(lambda: not parts.task.busy, timeout=10_000)
    assert results == [("placed", project)] and said == [] and steps == [Progress("features", 3, 8)]
    assert parts.line.isHidden()


def test_a_result_for_a_project_closed_meanwhile_is_dropped(qtbot, parts) -> None:
    release, results = threading.Event(), []
    assert start_project_job(parts.task, parts.context, parts.line, lambda project, emit, cancel: release.wait(10),
                             starting="Checking…", step=str, on_done=results.append, on_failed=results.append,
                             on_cancelled=lambda: None)
    parts.context.project = object()  # another project was opened
    release.set()
    qtbot.waitUntil(lambda: not parts.task.busy, timeout=10_000)
    assert results == [] and parts.line.isHidden()


def test_no_project_no_job(parts) -> None:
    parts.context.project = None
    assert not start_project_job(parts.task, parts.context, parts.line, lambda *_: pytest.fail("ran"), starting="",
                                 step=str, on_done=print, on_failed=print, on_cancelled=print)
    assert parts.line.isHidden()
