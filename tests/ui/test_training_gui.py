"""The Train tab end to end: one click trains on the labelled photos with live curves, results, cancel."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from desktop.core.models_registry import active_model, list_models
from desktop.ml.options import TrainingOptions

pytestmark = pytest.mark.gui


@pytest.fixture
def window(main_window, trained_project, qtbot):
    assert main_window.open_project_at(trained_project.path)
    main_window.show_training()
    qtbot.waitUntil(lambda: main_window.train_panel.backbone.count() > 0, timeout=30_000)
    return main_window


def test_train_button_trains_and_shows_curves_metrics_and_confusion(window, trained_project, qtbot):
    panel = window.train_panel
    assert panel.train_button.isEnabled()
    assert panel.backbone.currentData() == "efficientnet_lite0"  # the built-in default, weights bundled
    panel.epochs.setValue(6)
    with qtbot.waitSignal(window.controllers.training.trained, timeout=120_000) as done:
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
        assert panel.cancel_button.isEnabled() and not panel.train_button.isEnabled()
    summary = done.args[0]
    assert summary.model_id == active_model(trained_project).id
    qtbot.waitUntil(lambda: panel.train_button.isEnabled(), timeout=10_000)
    assert panel.results_box.isVisible()
    assert f"{summary.val_accuracy:.1%}" in panel.result.text()
    assert "out-of-fold: each of the 24 labelled photos" in panel.result.text()
    assert sum(panel.reliability.counts) == 24 and panel.reliability.ece == summary.ece
    assert f"on average {summary.ece:.1%} away from how often it is right" in panel.calibration.text()
    assert panel.per_class.rowCount() == 3
    assert panel.confusion.matrix.rowCount() == 3 and panel.confusion.matrix.columnCount() == 3
    assert panel.loss_chart.series and len(panel.loss_chart.series[0].values) == len(summary.history)
    assert f"model #{summary.model_id}" in panel.phase.text()

    # A confusion-matrix cell filters the grid to exactly the (out-of-fold predicted) photos behind it.
    (true, predicted), ids = max(summary.confusion_images.items(), key=lambda cell: len(cell[1]))
    cell = panel.confusion.matrix.index(true, predicted)
    panel.confusion._on_clicked(cell)
    images = window.context.images
    assert images.wait_loaded()
    assert sorted(images.row_at(r).id for r in range(images.rowCount())) == sorted(ids)


def test_cancel_stops_training_and_keeps_the_active_model(window, trained_project, qtbot):
    before = active_model(trained_project)
    controller = window.controllers.training

    def cancel_once_training(progress) -> None:
        if progress.phase in ("features", "training"):
            controller.cancel()

    controller.start(TrainingOptions(mode="frozen", epochs=200))
    controller.task.worker.progress.connect(cancel_once_training)
    with qtbot.waitSignal(controller.task.worker.cancelled, timeout=60_000):
        pass
    qtbot.waitUntil(lambda: not controller.busy, timeout=10_000)
    assert "cancelled" in window.train_panel.phase.text().lower()
    assert active_model(trained_project) == before
    assert len(list_models(trained_project)) == 1
    assert window.train_panel.train_button.isEnabled()


def test_not_ready_project_explains_what_to_label(main_window, qtbot):
    main_window.show_training()
    panel = main_window.train_panel
    assert not panel.train_button.isEnabled()
    assert "label at least 3 photos in each of at least 2 classes" in panel.readiness.text()
