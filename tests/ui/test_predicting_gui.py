"""Model ▸ Predict from the GUI: the grid gets prediction pills, the preview the probability bars,
'Label next' the least sure photos first, and training predicts by itself."""

from __future__ import annotations

import imagemakers
import pytest
from PySide6.QtCore import Qt
from sqlalchemy import func, select

from desktop.core.browse import ImageFilter, Show
from desktop.core.importer import import_folder
from desktop.core.prediction_store import prediction_for
from desktop.db.models import Prediction
from desktop.ml.options import TrainingOptions
from desktop.ui.models.images import Role

pytestmark = pytest.mark.gui


def predict_and_wait(window, qtbot):
    with qtbot.waitSignal(window.controllers.predicting.finished, timeout=60_000) as done:
        window.predict_action.trigger()
    qtbot.waitUntil(lambda: not window.controllers.predicting.busy, timeout=10_000)
    assert window.context.images.wait_loaded()
    return done.args[0]


def test_predict_fills_the_grid_and_the_bar_chart(main_window, trained_project, qtbot):
    assert main_window.open_project_at(trained_project.path)
    summary = predict_and_wait(main_window, qtbot)
    assert summary.predicted == 24
    images = main_window.context.images
    predicted = [images.index(r).data(Role.PREDICTION) for r in range(images.rowCount())]
    assert all(p is not None for p in predicted)
    main_window.grid.setCurrentIndex(images.index(3))
    row = images.row_at(3)
    stored = prediction_for(trained_project, row.id)
    chart = main_window.preview.chart
    # The bars show exactly the stored probabilities, highest first, the predicted class highlighted.
    assert [bar.name for bar in chart.bars] == sorted(stored.class_names,
                                                      key=lambda n: -stored.probabilities[stored.class_names.index(n)])
    assert [round(bar.value, 6) for bar in chart.bars] == sorted((round(p, 6) for p in stored.probabilities),
                                                                 reverse=True)
    assert chart.bars[0].highlighted and chart.bars[0].name == stored.predicted
    assert predicted[3].name == stored.predicted and predicted[3].confidence == pytest.approx(stored.confidence)


def test_label_next_lists_unsure_photos_first_and_keys_advance_along_it(main_window, trained_project, qtbot, tmp_path):
    import_folder(trained_project, imagemakers.write_shape_folders(tmp_path / "new", per_class=3, seed=4))
    assert main_window.open_project_at(trained_project.path)
    predict_and_wait(main_window, qtbot)
    sidebar = main_window.sidebar
    row = next(i for i, e in enumerate(sidebar.filters.entries) if e.title == "Label next")
    assert sidebar.filters.entries[row].count == 9
    sidebar.filter_view.setCurrentIndex(sidebar.filters.index(row))
    sidebar.filter_view.clicked.emit(sidebar.filters.index(row))
    images = main_window.context.images
    assert images.wait_loaded()
    assert images.image_filter == ImageFilter(Show.UNLABELLED, least_confident_first=True,
                                              title="Label next — the model's least sure first")
    margins = [images.row_at(r).margin for r in range(images.rowCount())]
    assert len(margins) == 9 and margins == sorted(margins)
    first, second = images.row_at(0).id, images.row_at(1).id
    main_window.grid.setFocus()
    main_window.grid.setCurrentIndex(images.index(0))
    qtbot.keyClick(main_window.grid, Qt.Key.Key_1)
    assert images.row_at(main_window.grid.currentIndex().row()).id == second  # advanced along the queue
    assert images.index(0).data(Role.LABEL) is not None and images.row_at(0).id == first


def test_training_predicts_by_itself(main_window, trained_project, qtbot):
    assert main_window.open_project_at(trained_project.path)
    with qtbot.waitSignal(main_window.controllers.predicting.finished, timeout=120_000) as done:
        main_window.controllers.training.start(TrainingOptions(mode="frozen", epochs=4))
    assert done.args[0].predicted == 24
    assert done.args[0].model_id == main_window.context.active_model.id


def test_auto_retrain_after_n_labels_keeps_the_user_where_they_are(main_window, trained_project, qtbot, tmp_path):
    import_folder(trained_project, imagemakers.write_shape_folders(tmp_path / "new", per_class=3, seed=4))
    assert main_window.open_project_at(trained_project.path)
    predict_and_wait(main_window, qtbot)
    panel = main_window.train_panel
    panel.auto_retrain.setChecked(True)
    panel.auto_retrain_count.setValue(2)
    panel.epochs.setValue(4)
    main_window.controllers.training.refresh_readiness()
    sidebar = main_window.sidebar
    row = next(i for i, e in enumerate(sidebar.filters.entries) if e.title == "Label next")
    sidebar.filter_view.clicked.emit(sidebar.filters.index(row))
    images = main_window.context.images
    assert images.wait_loaded()
    models_before = main_window.context.active_model.id
    main_window.grid.setFocus()
    main_window.grid.setCurrentIndex(images.index(0))
    qtbot.keyClick(main_window.grid, Qt.Key.Key_1)
    assert not main_window.controllers.training.busy  # one label: not yet
    with qtbot.waitSignal(main_window.controllers.predicting.finished, timeout=120_000):
        qtbot.keyClick(main_window.grid, Qt.Key.Key_2)
        assert main_window.controllers.training.busy  # the second label started it, in the background
        where = images.row_at(main_window.grid.currentIndex().row()).id
    assert images.wait_loaded()
    assert main_window.context.active_model.id != models_before
    # The queue was rebuilt for the new model, and the user is still on the photo they were looking at.
    assert images.row_at(main_window.grid.currentIndex().row()).id == where
    assert main_window.controllers.training.new_labels == 0


def test_escape_cancels_and_keeps_the_project_consistent(main_window, trained_project, qtbot):
    assert main_window.open_project_at(trained_project.path)
    controller = main_window.controllers.predicting
    assert not controller.cancel_shortcut.isEnabled()  # Esc is free while nothing runs
    main_window.predict_action.trigger()
    assert controller.busy and controller.cancel_shortcut.isEnabled()
    qtbot.keyClick(main_window, Qt.Key.Key_Escape)
    assert controller.task.worker.cancel_requested
    qtbot.waitUntil(lambda: not controller.busy, timeout=60_000)
    assert not controller.cancel_shortcut.isEnabled() and not main_window.predict_progress.isVisible()
    with trained_project.sessions() as session:
        stored = session.scalar(select(func.count()).select_from(Prediction))
    assert stored in (0, 24)  # one chunk: all of it or none of it
