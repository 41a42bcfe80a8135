"""Sort ▸ Sort Photos: the preview matches the core's plan, a move sort and its undo on real files, errors shown.

Predictions are written straight into the database (as tests/core/test_sorting.py does), so no model is trained.
"""

from __future__ import annotations

from pathlib import Path

import imagemakers as mk
import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from desktop.core import sorting
from desktop.core.classes import add_class
from desktop.core.importer import import_folder
from desktop.core.labels import set_label
from desktop.core.project import Project
from desktop.core.sorting import UNSURE, SortRequest, plan_sort
from desktop.db.engine import transaction
from desktop.db.models import Image, Prediction, TrainedModel
from desktop.io.images import content_hash

pytestmark = pytest.mark.gui

CLASSES = ["cats", "dogs", "birds"]


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): content_hash(p.read_bytes()) for p in sorted(root.rglob("*"))
            if p.is_file()}


def make_sortable_project(project: Project, root: Path, per_class: int = 4, unpredicted: int = 0) -> Path:
    """root/<class>/IMG_NNNN.jpg for three classes; an active model predicting each photo's folder class with
    confidences from 0.42 to 0.98 (so a threshold moves some into _unsure); the first cat labelled "cats"; the
    last ``unpredicted`` photos have no prediction."""
    number = 0
    for class_index, name in enumerate(CLASSES):
        for index in range(per_class):
            number += 1
            mk.write_jpeg(root / name / f"IMG_{number:04d}.jpg", 64, 48, seed=10 * class_index + index)
    import_folder(project, root, workers=2)
    cats = add_class(project, "cats")
    for name in CLASSES[1:]:
        add_class(project, name)
    with transaction(project.sessions) as session:
        model = TrainedModel(file="models/test.pt", backbone="test", mode="frozen", weights_source="none",
                             class_names=CLASSES, train_images=0, val_images=0, metrics={}, settings={},
                             device="cpu", seconds=0.0, is_active=True)
        session.add(model)
        session.flush()
        images = session.scalars(select(Image).order_by(Image.rel_path)).all()
        first_cat = next(image.id for image in images if image.rel_path.startswith("cats/"))
        for position, image in enumerate(images[: len(images) - unpredicted]):
            index = CLASSES.index(image.rel_path.split("/")[0])
            confidence = 0.42 + 0.56 * (position % 5) / 4  # 0.42, 0.56, 0.70, 0.84, 0.98
            probabilities = [(1 - confidence) / 2] * 3
            probabilities[index] = confidence
            session.add(Prediction(model_id=model.id, image_id=image.id, probabilities=probabilities,
                                   content_hash=image.content_hash, predicted_index=index, confidence=confidence,
                                   margin=0.3))
    set_label(project, [first_cat], cats.id)
    return root


@pytest.fixture
def sortable(main_window, tmp_path: Path):
    photos = make_sortable_project(main_window.context.project, tmp_path / "photos")
    main_window.context.refresh_all()
    return main_window, photos


def _open_dialog(window, qtbot, destination: Path):
    dialog = window.controllers.sorting.show_dialog()
    assert dialog is not None
    dialog.destination.setText(str(destination))
    _wait_preview(dialog, qtbot)
    return dialog


def _wait_preview(dialog, qtbot) -> None:
    qtbot.waitUntil(lambda: not dialog.preview_pending and dialog._shown_generation == dialog._generation,
                    timeout=10_000)


def test_preview_matches_plan_sort_and_follows_the_threshold(sortable, qtbot, tmp_path: Path) -> None:
    window, _photos = sortable
    project = window.context.project
    dest = tmp_path / "sorted"
    dialog = _open_dialog(window, qtbot, dest)
    request, _selection = dialog.request()
    assert request.mode == "copy" and request.threshold == 0.5 and request.follow_labels

    expected = plan_sort(project, SortRequest(dest))
    model = dialog.preview
    assert model.rowCount() == len(expected.operations) == 12
    shown = [model.index(row, 0).data(sorting_role()) for row in range(model.rowCount())]
    assert [(op.source, op.destination, op.class_name) for op in shown] == \
           [(op.source, op.destination, op.class_name) for op in expected.operations]
    assert dialog.counts.as_dict() == expected.per_class
    assert list(expected.per_class)[-1] == UNSURE
    assert model.index(0, model.DESTINATION).data() == "_unsure/IMG_0009.jpg"  # relative; the tooltip is full
    assert model.index(0, model.DESTINATION).data(Qt.ItemDataRole.ToolTipRole) == str(shown[0].destination)
    assert model.index(0, model.CONFIDENCE).data() == "42%"
    labelled = next(row for row, op in enumerate(shown) if op.source.name == "IMG_0001.jpg")
    assert model.index(labelled, model.CONFIDENCE).data() == "labelled"
    assert model.index(labelled, model.DESTINATION).data() == "cats/IMG_0001.jpg"
    assert dialog.sort_button.text() == "Copy 12 photos" and dialog.sort_button.isEnabled()
    assert not dest.exists()  # a preview writes nothing

    dialog.threshold_spin.setValue(0.9)
    assert dialog.threshold_slider.value() == 90
    _wait_preview(dialog, qtbot)
    expected = plan_sort(project, SortRequest(dest, threshold=0.9))
    assert dialog.counts.as_dict() == expected.per_class
    assert dialog.counts.as_dict()[UNSURE] > 3
    dialog.threshold_slider.setValue(30)
    _wait_preview(dialog, qtbot)
    assert UNSURE not in dialog.counts.as_dict()

    dialog.move_radio.setChecked(True)
    dialog.follow_labels.setChecked(False)
    _wait_preview(dialog, qtbot)
    assert dialog.plan.mode == "move" and dialog.sort_button.text() == "Move 12 photos"
    expected = plan_sort(project, SortRequest(dest, mode="move", threshold=0.3, follow_labels=False))
    assert [(op.destination, op.why) for op in dialog.plan.operations] == \
           [(op.destination, op.why) for op in expected.operations]
    dialog.reject()


def sorting_role():
    from desktop.ui.models.table import ROW_ROLE

    return ROW_ROLE


def test_move_sort_moves_files_and_undo_restores_them_byte_for_byte(sortable, qtbot, tmp_path: Path) -> None:
    window, photos = sortable
    project = window.context.project
    before = _tree(photos)
    dest = tmp_path / "sorted"
    dialog = _open_dialog(window, qtbot, dest)
    dialog.move_radio.setChecked(True)
    _wait_preview(dialog, qtbot)
    planned = {op.source: op.destination for op in dialog.plan.operations}

    with qtbot.waitSignal(dialog.sort_finished, timeout=20_000) as finished:
        dialog.sort_button.click()
        assert dialog.cancel_button.isVisible() and not dialog.close_button.isEnabled()
    result = finished.args[0]
    assert result.done == 12 and not result.failed
    qtbot.waitUntil(lambda: not dialog.busy, timeout=5000)
    for source, destination in planned.items():
        assert not source.exists() and destination.is_file()
        assert content_hash(destination.read_bytes()) == before[source.relative_to(photos).as_posix()]
    assert _tree(photos) == {}
    assert dialog.message.property("kind") == "ok" and "Done: 12 photos moved" in dialog.message.text()
    # The grid follows the moved photos, and the labelled one keeps its label.
    rows = [window.context.images.index(r).data(_row_role()) for r in range(window.context.images.rowCount())]
    assert rows and all(row.path.is_relative_to(dest.resolve()) for row in rows)
    assert sum(1 for row in rows if row.class_id is not None) == 1
    dialog.close_button.click()
    qtbot.waitUntil(lambda: window.controllers.sorting.dialog is None, timeout=5000)

    text = window.controllers.sorting.describe_undo(None)[1]
    assert "12 photos moved into" in text and "go back to where they came from" in text
    assert window.controllers.sorting.undo(None, confirm=False)
    qtbot.waitUntil(lambda: window.controllers.sorting.task.worker is None, timeout=20_000)
    assert _tree(photos) == before
    assert not dest.exists()
    assert sorting.list_sorts(project)[0].status == "undone"
    rows = [window.context.images.index(r).data(_row_role()) for r in range(window.context.images.rowCount())]
    assert all(row.path.is_relative_to(photos) for row in rows)


def _row_role():
    from desktop.ui.models.images import Role

    return Role.ROW


def test_unwritable_destination_is_shown_and_nothing_is_lost(sortable, qtbot, tmp_path: Path) -> None:
    window, photos = sortable
    before = _tree(photos)
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    dialog = _open_dialog(window, qtbot, blocker / "sorted")
    assert dialog.plan is None and not dialog.sort_button.isEnabled()
    assert dialog.message.isVisibleTo(dialog) and dialog.message.property("kind") == "error"
    assert "a file is a file, not a folder" in dialog.message.text()
    assert dialog.preview.rowCount() == 0

    # Fine while planning, then a file appears where the folder must go: the run fails before any photo moves.
    later = tmp_path / "later"
    dialog.destination.setText(str(later / "sorted"))
    dialog.move_radio.setChecked(True)
    _wait_preview(dialog, qtbot)
    assert dialog.sort_button.isEnabled()
    later.write_text("became a file")
    with qtbot.waitSignal(dialog.sort_failed, timeout=10_000) as failed:
        dialog.sort_button.click()
    assert "part of that path is a file, not a folder" in failed.args[0]
    assert dialog.message.property("kind") == "error" and "Nothing was sorted." in dialog.message.text()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=5000)
    assert dialog.close_button.isEnabled()
    assert _tree(photos) == before
    dialog.reject()


def test_missing_predictions_and_grid_view_choice(main_window, qtbot, tmp_path: Path) -> None:
    project = main_window.context.project
    make_sortable_project(project, tmp_path / "photos", per_class=2, unpredicted=2)
    main_window.context.refresh_all()
    from desktop.core.browse import ImageFilter, Show

    main_window.context.images.set_filter(ImageFilter(Show.UNLABELLED))
    dialog = _open_dialog(main_window, qtbot, tmp_path / "sorted")
    assert dialog.photos.currentData().kind == "view"
    assert dialog.preview.rowCount() == 5  # six photos, one labelled
    assert "2 photos have no prediction" in dialog.notice.text() and "Run Model ▸ Predict first" in \
        dialog.notice.text()
    dialog.photos.setCurrentIndex(0)  # every photo
    _wait_preview(dialog, qtbot)
    assert dialog.preview.rowCount() == 6
    dialog.reject()


def test_interrupted_sort_banner_history_and_resume(main_window, qtbot, tmp_path: Path) -> None:
    project = main_window.context.project
    empty = main_window.controllers.sorting.show_history()  # before any sort: says so, and offers nothing
    assert empty.table_model.rowCount() == 0 and "No sorts yet" in empty.hint.text()
    assert not empty.undo_button.isEnabled() and not empty.resume_button.isEnabled()
    empty.close()
    photos = make_sortable_project(project, tmp_path / "photos", per_class=2)
    plan = plan_sort(project, SortRequest(tmp_path / "sorted", mode="move"))
    sort_id = sorting.start_sort(project, plan)  # journalled but never run: what a crash leaves
    assert main_window.open_project_at(project.path)
    banner = main_window.controllers.sorting.banner
    assert banner.isVisibleTo(main_window) and banner.sort_id == sort_id
    assert f"sort #{sort_id} did not finish: 0 of 6 done" in banner.text.text()

    history = main_window.controllers.sorting.show_history()
    assert history.table_model.rowCount() == 1 and "Resume finishes" in history.hint.text()
    assert history.table_model.index(0, 5).data() == "interrupted"
    assert history.table_model.index(0, 3).data() == "threshold 0.50"  # the rule the plan used
    assert history.resume_button.isEnabled() and history.undo_button.isEnabled()
    history.resume_selected()
    qtbot.waitUntil(lambda: main_window.controllers.sorting.task.worker is None, timeout=20_000)
    assert not banner.isVisibleTo(main_window)
    assert history.table_model.index(0, 5).data() == "done" and not history.resume_button.isEnabled()
    assert _tree(photos) == {} and len(_tree(tmp_path / "sorted")) == 6
    history.close()



def test_cancelled_sort_is_resumed_from_the_dialog(sortable, qtbot, tmp_path: Path, monkeypatch) -> None:
    import desktop.ui.sorting.dialog as sort_dialog
    from desktop.core.sorting import execute

    window, photos = sortable
    real_run, runs = execute.run_sort, []

    def cancelled_at_once(project, sort_id, emit, cancel):
        if not runs:  # the first run: the user pressed Cancel before the first photo; the resume runs on
            cancel.set()
        runs.append(sort_id)
        return real_run(project, sort_id, emit, cancel)

    monkeypatch.setattr(execute, "run_sort", cancelled_at_once)  # the first run, inside sort_plan
    monkeypatch.setattr(sort_dialog, "run_sort", cancelled_at_once)  # the resume
    dialog = _open_dialog(window, qtbot, tmp_path / "sorted")
    with qtbot.waitSignal(dialog.sort_finished, timeout=10_000) as finished:
        dialog.sort_button.click()
    assert finished.args[0].cancelled and finished.args[0].done == 0
    qtbot.waitUntil(lambda: not dialog.busy, timeout=5000)
    assert dialog.message.property("kind") == "warn" and "cancelled" in dialog.message.text()
    assert dialog.sort_button.text() == "Resume (12 photos left)" and dialog.sort_button.isEnabled()

    with qtbot.waitSignal(dialog.sort_finished, timeout=10_000) as finished:
        dialog.sort_button.click()  # resumes the same sort, no new one
    assert finished.args[0].done == 12 and len(sorting.list_sorts(window.context.project)) == 1
    assert len(_tree(tmp_path / "sorted")) == 12 and len(_tree(photos)) == 12  # copies
    dialog.reject()


def test_preview_says_how_many_go_to_unsure_and_the_expected_mistakes(sortable, qtbot, tmp_path: Path) -> None:
    window, _photos = sortable
    project = window.context.project
    dest = tmp_path / "sorted"
    dialog = _open_dialog(window, qtbot, dest)
    # The default rule is a precision; this model keeps no held-out predictions, so the threshold decides.
    assert dialog.rule.currentData() == sorting.DEFAULT_PRECISION
    assert dialog.request()[0].precision == sorting.DEFAULT_PRECISION
    assert "keeps no held-out predictions" in dialog.notice.text() and dialog.plan.precision is None
    expected = plan_sort(project, SortRequest(dest))
    by_prediction = [op for op in expected.operations if op.why == "prediction"]
    mistakes = sum(1 - op.confidence for op in by_prediction)
    summary = dialog.counts_summary.text()
    assert f"{expected.per_class[UNSURE]} to {UNSURE}/" in summary
    low, high = expected.mistakes_range
    assert f"about {mistakes:.1f} of the {len(by_prediction)} sorted by prediction expected in a wrong folder" \
        f" (likely {low} to {high})" in summary and low <= mistakes <= high < len(by_prediction)
    assert not dialog.threshold_spin.isVisibleTo(dialog)
    dialog.rule.setCurrentIndex(dialog.rule.findData(None))  # the raw threshold, for the advanced
    _wait_preview(dialog, qtbot)
    assert dialog.threshold_spin.isVisibleTo(dialog) and dialog.request()[0].precision is None
    assert "keeps no held-out predictions" not in dialog.notice.text()
    dialog.reject()


def test_a_sort_running_in_another_process_is_one_sentence_and_nothing_half_done(sortable, qtbot,
                                                                                  tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    window, photos = sortable
    project = window.context.project
    other = sorting.start_sort(project, plan_sort(project, SortRequest(tmp_path / "other", mode="copy")))
    release = tmp_path / "release"
    helper = Path(__file__).resolve().parents[1] / "core" / "sorting" / "sort_crash_helper.py"
    first = subprocess.Popen([sys.executable, str(helper), str(project.path), str(other), "--resume",
                              "--pause-after", "1", "--release", str(release)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not release.with_suffix(".paused").exists():  # the other process now holds the sort lock
            assert first.poll() is None, first.communicate()
            time.sleep(0.02)
        before = _tree(photos)
        dialog = _open_dialog(window, qtbot, tmp_path / "sorted")
        with qtbot.waitSignal(dialog.sort_failed, timeout=10_000) as failed:
            dialog.sort_button.click()
        assert failed.args[0] == sorting.BUSY_MESSAGE
        assert dialog.message.property("kind") == "error" and "Traceback" not in dialog.message.text()
        assert "Nothing was sorted." in dialog.message.text()
        qtbot.waitUntil(lambda: not dialog.busy, timeout=5000)
        assert [s.id for s in sorting.list_sorts(project)] == [other]  # nothing journalled, nothing touched
        assert not (tmp_path / "sorted").exists() and _tree(photos) == before
        dialog.reject()
    finally:
        release.touch()
        first.communicate(timeout=120)
    assert first.returncode == 0


def test_the_dialog_holds_the_sort_lock_from_journalling_to_running(sortable, qtbot, tmp_path: Path,
                                                                    monkeypatch) -> None:
    from desktop.core.sorting import execute

    window, _photos = sortable
    project = window.context.project
    held_between: list[bool] = []
    real_start = execute.start_sort

    def start_then_probe(project_, plan):
        sort_id = real_start(project_, plan)
        held_between.append(sorting.sort_in_progress(project_))  # could another process take it now?
        return sort_id

    monkeypatch.setattr(execute, "start_sort", start_then_probe)
    dialog = _open_dialog(window, qtbot, tmp_path / "sorted")
    with qtbot.waitSignal(dialog.sort_finished, timeout=20_000) as finished:
        dialog.sort_button.click()
    assert finished.args[0].done == 12 and held_between == [True]
    qtbot.waitUntil(lambda: not dialog.busy, timeout=5000)
    assert not sorting.sort_in_progress(project)
    dialog.reject()


def test_the_preview_says_why_photos_stayed_unsure_and_what_would_help(sortable, qtbot, tmp_path: Path) -> None:
    """A model whose held-out check found every photo it called the first class to be the second's: that class's
    photos stay unsure, and the preview names the mix-up and how many photos to label."""
    window, _photos = sortable
    project = window.context.project
    first, second = CLASSES[0], CLASSES[1]
    held_out = {"true": [1] * 12 + [1] * 12 + [2] * 12, "predicted": [0] * 12 + [1] * 12 + [2] * 12,
                "confidence": [0.97] * 36}
    with transaction(project.sessions) as session:
        session.scalar(select(TrainedModel)).metrics = {"evaluation": "out-of-fold", "held_out": held_out}
    dialog = _open_dialog(window, qtbot, tmp_path / "sorted")
    plan = dialog.plan
    assert plan.precision == sorting.DEFAULT_PRECISION and plan.class_thresholds[first] is None
    notice = dialog.notice.text()
    assert f"predicted “{first}” stayed unsure" in notice and f"(mostly “{second}”)" in notice
    assert f"Label about 10 more photos of “{first}” and of “{second}”" in notice and "(why: below)" in \
        dialog.counts_summary.text()
    assert f"No confidence of “{first}”" not in notice  # one sentence per class, the one that says why
    dialog.reject()
