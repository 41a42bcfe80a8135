"""Work you can see: training, import, prediction and Check Photos show their progress in the status bar whatever
tab is open; clicking the training line opens the Train tab."""

from __future__ import annotations

import imagemakers
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from desktop.core.training_types import TrainingProgress
from desktop.ml.options import TrainingOptions
from desktop.ui.status_bar import training_status_text

pytestmark = pytest.mark.gui


def seen_in_status_bar(window, line) -> tuple[bool, str, object]:
    """What the user sees now: is the line shown, its text, and which side tab is open."""
    return line.isVisible(), line.text.text(), window.side_tabs.currentWidget()


def test_training_shows_its_progress_in_the_status_bar_while_a_photo_is_shown(main_window, trained_project, qtbot):
    window = main_window
    assert window.open_project_at(trained_project.path)
    assert window.context.images.wait_loaded()
    line = window.training_status
    assert not line.isVisible()
    seen = []

    def on_progress(progress: TrainingProgress) -> None:
        # Connected after the status line, so it has shown this step already.
        if not seen:  # the user clicks a photo while it trains: the Photo tab hides the Train tab
            window.grid.setCurrentIndex(window.context.images.index(2))
        if progress.phase != "notice":
            seen.append(seen_in_status_bar(window, line))

    window.controllers.training.progress.connect(on_progress)
    with qtbot.waitSignal(window.controllers.training.trained, timeout=120_000):
        window.controllers.training.start(TrainingOptions(mode="frozen", epochs=8))
    shown_over_the_photo = [text for visible, text, tab in seen if visible and tab is window.preview]
    assert shown_over_the_photo and all(text.startswith("Training: ") for text in shown_over_the_photo)
    assert any("epoch" in text for text in shown_over_the_photo)
    qtbot.waitUntil(lambda: not window.controllers.training.busy, timeout=10_000)
    assert not line.isVisible()


def test_clicking_the_training_line_opens_the_train_tab(main_window, qtbot):
    window = main_window
    window.side_tabs.setCurrentWidget(window.preview)
    line = window.training_status
    line.show_training(TrainingProgress("training", "Training the classifier", 3, 8, 3, 8))
    assert line.isVisible() and line.text.text() == "Training: epoch 3 of 8"
    QTest.mouseClick(line.text, Qt.MouseButton.LeftButton)
    assert window.side_tabs.currentWidget() is window.train_panel


def test_the_training_line_says_few_plain_words():
    assert training_status_text(TrainingProgress("features", "Reading the photos: 4 of 24 photos", 4, 24)) == (
        "Training: reading the photos: 4 of 24 photos")
    # Before an epoch has ended there is no "epoch 0 of 0": the step's own words.
    assert training_status_text(TrainingProgress("training", "Training the classifier")) == (
        "Training: training the classifier")
    assert training_status_text(TrainingProgress("training", "x", 1, 5, 1, 5, eta_seconds=42)) == (
        "Training: epoch 1 of 5 — about 42 s left")


def record_steps(monkeypatch, window, line, method: str) -> list[tuple[bool, str, object]]:
    """Wrap the line's update method: after each update, what the user sees."""
    seen = []
    original = getattr(line, method)

    def recorded(*args, **kwargs):
        original(*args, **kwargs)
        seen.append(seen_in_status_bar(window, line))

    monkeypatch.setattr(line, method, recorded)
    return seen


def test_import_prediction_and_check_photos_show_progress_while_the_train_tab_is_open(
        main_window, trained_project, qtbot, monkeypatch, tmp_path):
    window = main_window
    assert window.open_project_at(trained_project.path)
    window.show_training()

    imports = record_steps(monkeypatch, window, window.import_progress, "show_progress")
    with qtbot.waitSignal(window.controllers.importer.finished, timeout=60_000):
        more = imagemakers.write_shape_folders(tmp_path / "more", per_class=2, seed=7)
        window.controllers.importer.add_folders([more])
    qtbot.waitUntil(lambda: not window.controllers.importer.busy and not window.controllers.predicting.busy,
                    timeout=60_000)

    predictions = record_steps(monkeypatch, window, window.predict_progress, "show_step")
    with qtbot.waitSignal(window.controllers.predicting.finished, timeout=60_000):
        window.controllers.predicting.predict()
    qtbot.waitUntil(lambda: not window.controllers.predicting.busy, timeout=10_000)

    checks = record_steps(monkeypatch, window, window.health_progress, "show_step")
    with qtbot.waitSignal(window.controllers.health.findings_changed, timeout=60_000):
        window.controllers.health.check()
    qtbot.waitUntil(lambda: not window.health_progress.isVisible(), timeout=10_000)

    for seen, words in ((imports, ("Importing", "Looking for photos")), (predictions, ("Predicting",)),
                        (checks, ("Checking", "photos"))):
        assert seen, words
        assert all(visible and tab is window.train_panel for visible, _text, tab in seen)
        assert any(any(word in text for word in words) for _visible, text, _tab in seen)
    assert not window.import_progress.isVisible() and not window.predict_progress.isVisible()


def test_three_lines_at_once_fit_a_1024_px_window_their_texts_whole_in_tooltips(main_window, qtbot):
    window = main_window
    long = "Importing Holiday photos 2019 (the big card): 1,234 of 5,000, 3 cannot be read (+2 more folders)"
    for line in (window.import_progress, window.predict_progress, window.training_status):
        line.show_step(long, 3, 10)
    assert window.statusBar().minimumSizeHint().width() <= 1024
    assert window.import_progress.text.toolTip() == long
