"""The window's controllers as one set: another project waits for every job that writes to the open one, and
closing the window stops every controller's workers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from desktop.ui.controllers import RunsInBackground


def _wait_for_cancel(started: threading.Event):
    def job(_emit, cancel: threading.Event) -> None:
        started.set()
        cancel.wait(30)
    return job


@pytest.mark.parametrize(("slot", "named"), [
    (lambda c: c.sorting.task, "the sort"),
    (lambda c: c.tagging.task, "writing keywords"),
    (lambda c: c.health.resolver.moving, "moving duplicates aside"),
    (lambda c: c.importer.task, "the import"),
])
def test_another_project_waits_for_work_that_writes_to_this_one(main_window, qtbot, monkeypatch, tmp_path: Path,
                                                                 slot, named: str) -> None:
    told: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda _parent, _title, text: told.append(text))
    project = main_window.context.project
    task = slot(main_window.controllers)
    started = threading.Event()
    task.start(_wait_for_cancel(started))
    assert started.wait(10)

    assert not main_window.open_project_at(tmp_path / "other.pigeonhole")
    assert told == [f"Wait for {named} to finish (or cancel it)."]
    assert main_window.context.project is project

    task.cancel()
    qtbot.waitUntil(lambda: not task.busy, timeout=10_000)
    assert main_window.open_project_at(tmp_path / "other.pigeonhole")
    assert main_window.context.project is not project


def test_two_jobs_are_named_together(main_window, qtbot, monkeypatch, tmp_path: Path) -> None:
    told: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda _parent, _title, text: told.append(text))
    tasks = [main_window.controllers.sorting.task, main_window.controllers.tagging.task]
    for task in tasks:
        started = threading.Event()
        task.start(_wait_for_cancel(started))
        assert started.wait(10)
    assert not main_window.open_project_at(tmp_path / "other.pigeonhole")
    assert told == ["Wait for the sort and writing keywords to finish (or cancel them)."]
    for task in tasks:
        task.cancel()
        qtbot.waitUntil(lambda task=task: not task.busy, timeout=10_000)


def test_a_search_does_not_keep_another_project_from_opening(main_window, qtbot, tmp_path: Path) -> None:
    """Finding near-duplicates only reads: its result is dropped when the project changes."""
    task = main_window.controllers.duplicates.task
    started = threading.Event()
    task.start(_wait_for_cancel(started))
    assert started.wait(10)
    assert main_window.open_project_at(tmp_path / "other.pigeonhole")
    task.cancel()
    qtbot.waitUntil(lambda: not task.busy, timeout=10_000)


def test_closing_the_window_stops_every_controllers_workers(main_window, qtbot) -> None:
    controllers = main_window.controllers
    with_workers = [controller for controller in controllers if isinstance(controller, RunsInBackground)]
    # Every controller but labelling and the class actions (which work in the GUI thread) runs jobs in workers.
    assert {type(controller).__name__ for controller in controllers} - {
        type(controller).__name__ for controller in with_workers} == {"LabellingController", "ClassActions"}
    jobs = {"tagging": controllers.tagging.task, "predicting": controllers.predicting.task,
            "sorting": controllers.sorting.task, "collection map": controllers.collection_map.task}
    cancelled: dict[str, threading.Event] = {}
    threads = []
    for name, task in jobs.items():
        started, seen = threading.Event(), threading.Event()

        def job(_emit, cancel: threading.Event, started=started, seen=seen) -> None:
            started.set()
            if cancel.wait(30):
                seen.set()
        threads.append(task.start(job))
        assert started.wait(10)
        cancelled[name] = seen

    main_window.close()
    assert {name for name, seen in cancelled.items() if seen.is_set()} == set(jobs)
    assert all(thread.isFinished() for thread in threads)  # waited for, not left running into a closed project


def test_open_and_new_project_say_what_to_wait_for_before_asking_for_a_folder(main_window, qtbot, monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    told: list[str] = []
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda _parent, _title, text: told.append(text))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: asked.append("open") or "")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (asked.append("new"), ("", ""))[1])
    task = main_window.controllers.sorting.task
    started = threading.Event()
    task.start(_wait_for_cancel(started))
    assert started.wait(10)
    main_window.choose_project()
    main_window.choose_new_project()
    assert asked == [] and told == ["Wait for the sort to finish (or cancel it)."] * 2
    task.cancel()
    qtbot.waitUntil(lambda: not task.busy, timeout=10_000)
    main_window.choose_project()
    main_window.choose_new_project()
    assert asked == ["open", "new"]
