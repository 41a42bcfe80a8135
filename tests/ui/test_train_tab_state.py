"""The Train tab keeps to the open project's active model: its results come back when the project opens, its
choices follow that model, a confusion cell's photos say what put them there, and nothing of one project shows
in another."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt

from desktop.core.model_results import summary_of
from desktop.core.models_registry import active_model, set_active
from desktop.core.training import train_project
from desktop.core.training_types import TrainingProgress, TrainingSummary
from desktop.ml.options import TrainingOptions
from desktop.ui.models.images import Role
from desktop.ui.training_results import calibration_text, cell_marks, headline

pytestmark = pytest.mark.gui


def open_on_train_tab(window, project, qtbot) -> None:
    assert window.open_project_at(project.path)
    window.show_training()
    qtbot.waitUntil(lambda: window.train_panel.backbone.count() > 2, timeout=30_000)  # the list has loaded


def test_reopening_a_project_shows_the_active_models_results(main_window, trained_project, qtbot, tmp_path):
    model = active_model(trained_project)
    open_on_train_tab(main_window, trained_project, qtbot)
    panel = main_window.train_panel
    assert panel.results_box.isVisible() and panel.shown_model == model.id
    text = panel.result.text()
    assert f"Model #{model.id}</b>, trained " in text
    assert f"{model.val_accuracy:.1%}" in text and "out-of-fold" in text
    assert "Fast (EfficientNet-Lite0), frozen features, on the CPU" in text
    assert not any(jargon in text for jargon in ("efficientnet_lite0", "top-", "temperature", "`"))
    assert "not recorded" not in text
    assert panel.per_class.rowCount() == 3 and "out-of-fold" in panel.results_box.per_class_title.text()
    assert panel.confusion.matrix.rowCount() == 3
    assert sum(sum(row.counts) for row in panel.confusion.matrix.rows) == 24
    assert sum(panel.reliability.counts) == 24 and "(out-of-fold)" in panel.reliability.title
    assert panel.loss_chart.x_label == "fitting step"  # frozen training has no epochs
    assert panel.loss_chart.series and panel.loss_chart.series[0].values
    assert "temperature" not in panel.calibration.text() and "confidence" in panel.calibration.text()

    # Another project: nothing of this one stays; back again: all of it returns.
    assert main_window.open_project_at(tmp_path / "other.pigeonhole")
    assert not panel.results_box.isVisible() and panel.shown_model is None and not panel.loss_chart.series
    assert main_window.open_project_at(trained_project.path)
    assert panel.results_box.isVisible() and panel.shown_model == model.id


def test_another_projects_model_with_the_same_number_shows_its_own_results(main_window, trained_project, qtbot,
                                                                         tmp_path):
    import shutil

    from desktop.core.project import open_project
    from desktop.db.engine import transaction
    from desktop.db.models import TrainedModel

    copy = tmp_path / "copy.pigeonhole"
    shutil.copytree(trained_project.path, copy)
    with open_project(copy, create=False) as other, transaction(other.sessions) as session:
        session.get(TrainedModel, active_model(other).id).val_accuracy = 0.5
    assert main_window.open_project_at(trained_project.path)
    assert main_window.open_project_at(copy)
    assert main_window.train_panel.shown_model == active_model(trained_project).id  # the same number...
    assert "<b>50.0%</b>" in main_window.train_panel.result.text()  # ...but this project's model


def test_an_older_model_shows_what_it_has_and_says_what_was_not_recorded(main_window, trained_project, qtbot):
    from desktop.db.engine import transaction
    from desktop.db.models import TrainedModel

    with transaction(trained_project.sessions) as session:  # a row as versions before this one wrote it
        row = session.get(TrainedModel, active_model(trained_project).id)
        row.metrics = {k: v for k, v in row.metrics.items() if k not in ("curves", "held_out", "notes")}
    open_on_train_tab(main_window, trained_project, qtbot)
    panel = main_window.train_panel
    assert panel.results_box.isVisible() and panel.confusion.matrix.rowCount() == 3
    assert "the training curves and which photos are in each cell of the confusion matrix were not recorded" \
        in panel.result.text()
    assert "Click a cell" not in panel.results_box.confusion_hint.text()


def test_the_choices_follow_the_active_model(main_window, trained_project, qtbot):
    fast = active_model(trained_project)
    accurate = train_project(trained_project, TrainingOptions(backbone="accurate", mode="frozen", seed=7))
    open_on_train_tab(main_window, trained_project, qtbot)
    panel = main_window.train_panel
    options = panel.options()
    assert options.backbone == "efficientnet_lite0_lite1" and options.mode == "frozen" and options.seed == 7
    assert options.epochs is None and options.learning_rate is None  # automatic stays automatic
    assert panel.shown_model == accurate.model_id

    # Model versions ▸ Make active (what the dialog's models_changed does): the tab follows the older model.
    set_active(trained_project, fast.id)
    main_window.context.models_changed()
    assert panel.options().backbone == "efficientnet_lite0" and panel.options().seed == 0
    assert panel.shown_model == fast.id and f"Model #{fast.id}<" in panel.result.text()

    # New predictions (the same active model) leave a choice the user just made alone.
    panel.backbone.setCurrentIndex(panel.backbone.findData("efficientnet_lite0_lite1"))
    main_window.context.models_changed()
    assert panel.options().backbone == "efficientnet_lite0_lite1"


def test_a_new_project_shows_nothing_of_the_previous_one(main_window, trained_project, qtbot, tmp_path):
    assert main_window.open_project_at(trained_project.path)
    with qtbot.waitSignal(main_window.controllers.predicting.finished, timeout=60_000):
        main_window.predict_action.trigger()
    qtbot.waitUntil(lambda: not main_window.controllers.predicting.busy, timeout=10_000)
    images = main_window.context.images
    assert images.wait_loaded()
    main_window.grid.setCurrentIndex(images.index(2))
    preview = main_window.preview
    assert preview.chart.bars and preview.title.text()
    main_window.show_collection_map()
    qtbot.waitUntil(lambda: len(main_window.controllers.collection_map.view.image_ids) == 24, timeout=60_000)

    assert main_window.open_project_at(tmp_path / "empty.pigeonhole")
    assert images.rowCount() == 0
    assert preview.chart.bars == [] and preview.chart_hint.text() == "" and preview.title.text() == ""
    assert not preview.heatmap_legend.isVisible()
    panel = main_window.train_panel
    assert panel.results_box.isHidden() and not panel.loss_chart.series and panel.phase.text() == ""
    assert panel.options().backbone == "efficientnet_lite0"
    assert not main_window.finding_bar.isVisible() and not main_window.view_bar.isVisible()
    assert len(main_window.controllers.collection_map.view.image_ids) == 0
    assert main_window.controllers.training.last_summary is None


def test_a_confusion_cells_photos_say_their_held_out_prediction(main_window, trained_project, qtbot):
    open_on_train_tab(main_window, trained_project, qtbot)
    summary = summary_of(active_model(trained_project))
    matrix = main_window.train_panel.confusion.matrix
    (true, predicted), ids = min(summary.confusion_images.items(), key=lambda cell: cell[0][0] == cell[0][1])
    main_window.train_panel.confusion._on_clicked(matrix.index(true, predicted))
    images = main_window.context.images
    assert images.wait_loaded()
    assert sorted(images.row_at(r).id for r in range(images.rowCount())) == sorted(ids)
    name = summary.classes[predicted]
    for r in range(images.rowCount()):
        index = images.index(r)
        held = summary.held_out[images.row_at(r).id]
        assert index.data(Role.BADGE) == f"held out: {name} {held.confidence:.0%}"
        assert f"a model trained without it predicted {name}" in index.data(Qt.ItemDataRole.ToolTipRole)
    assert "(out-of-fold)" in main_window.view_title.text()
    main_window._show_all_photos()  # another view: the marks were this one's
    assert images.wait_loaded() and images.index(0).data(Role.BADGE) is None


def test_the_phase_never_counts_epochs_frozen_training_does_not_have(main_window):
    panel = main_window.train_panel
    panel.show_progress(TrainingProgress("training", "Cross-validating the classifier: fit 3 of 25", 3, 25))
    assert panel.phase.text().startswith("Cross-validating") and "Epoch" not in panel.phase.text()
    panel.show_progress(TrainingProgress("training", "Training the classifier", 4, 9, epoch=4, epochs=9))
    assert "Epoch" not in panel.phase.text()
    panel.show_progress(TrainingProgress("training", "Fine-tuning the backbone: batch 2 of 5", 2, 5, epoch=0,
                                         epochs=8))
    assert panel.phase.text().startswith("Epoch 1 of 8. Fine-tuning")


def test_the_calibration_sentence_says_whether_the_adjustment_was_kept():
    base = TrainingSummary(1, "efficientnet_lite0", "frozen", "cpu", ["a", "b"], 10, 10, 0.9, {}, [[5, 0], [1, 4]],
                           1.0, evaluation="out-of-fold", ece=0.04, ece_uncalibrated=0.04)
    dropped = calibration_text(replace(base, calibration={"kept": False, "ece_before": 0.04, "ece_after": 0.05}))
    assert dropped.startswith("Its confidence was left as the network gave it: adjusting it")
    assert "before the adjustment" not in dropped and "temperature" not in dropped
    kept = calibration_text(replace(base, temperature=1.6, ece=0.02, calibration={"kept": True}))
    assert kept.startswith("Its confidence was toned down") and "2.0% away" in kept and "(4.0% before the" in kept
    assert "Measured out-of-fold" in kept


def test_a_fine_tuned_models_figures_say_they_are_on_the_validation_photos():
    from desktop.core.training_types import HeldOutPrediction

    summary = TrainingSummary(4, "resnet18", "finetune", "cuda", ["cats", "dogs", "fish", "birds"], 80, 20, 0.85, {},
                              [[5, 0, 0, 0], [1, 4, 0, 0], [0, 0, 5, 0], [0, 0, 0, 5]], 42.0,
                              top_k={"3": 0.95}, evaluation="validation",
                              held_out={7: HeldOutPrediction(1, 0, 0.61)})
    text = headline(summary)
    assert "ResNet-18, fine-tuned, on the GPU" in text and "<b>85.0%</b> of the 20 validation photos right" in text
    assert "The right class was among its 3 likeliest for 95% of them." in text
    assert not any(jargon in text for jargon in ("resnet18", "top-", "cuda", "finetune,"))
    badges, notes = cell_marks(summary, [7])
    assert badges == {7: "held out: cats 61%"} and "a validation photo it did not train on" in notes[7]


def test_a_small_loss_gets_axis_labels_that_differ():
    """The loss axis reads like a ruler at any scale (a loss near 0.002 read "0.002, 0.001, 0.001, 0.000, 0.000")."""
    from desktop.ui.widgets.charts import axis_ticks, tick_labels

    assert tick_labels(axis_ticks(0.0019)) == ["0.0000", "0.0005", "0.0010", "0.0015", "0.0020"]
    assert tick_labels(axis_ticks(0.0023)) == ["0.0000", "0.0005", "0.0010", "0.0015", "0.0020", "0.0025"]
    assert tick_labels(axis_ticks(0.00008)) == ["0", "2e-5", "4e-5", "6e-5", "8e-5"]
    assert tick_labels(axis_ticks(0.022)) == ["0.000", "0.005", "0.010", "0.015", "0.020", "0.025"]
    assert tick_labels(axis_ticks(1.77)) == ["0.0", "0.5", "1.0", "1.5", "2.0"]
    assert tick_labels(axis_ticks(2e-5)) == ["0", "5e-6", "1e-5", "1.5e-5", "2e-5"]
    for top in [10.0 ** (k / 7) for k in range(-60, 25)]:  # every scale a loss has, from 1e-9 to 2700
        ticks = axis_ticks(top)
        labels = tick_labels(ticks)
        assert len(set(labels)) == len(labels) and 4 <= len(labels) <= 6, (top, labels)
        assert top <= ticks[-1] * (1 + 1e-9) and ticks[-1] < 1.5 * top
        assert all(len(label) <= 6 for label in labels), labels
    assert tick_labels([0.0, 0.25, 0.5, 0.75, 1.0], percent=True) == ["0%", "25%", "50%", "75%", "100%"]
