"""Model ▸ Model Versions: the table, scores on today's photos, make active and delete."""

from __future__ import annotations

from itertools import pairwise

import pytest
from PySide6.QtCore import Qt

from desktop.core.models_registry import active_model, list_models
from desktop.core.training import train_project
from desktop.ml.options import TrainingOptions

pytestmark = pytest.mark.gui


def test_models_dialog_lists_scores_activates_and_deletes(main_window, trained_project, qtbot):
    first = active_model(trained_project)
    second = train_project(trained_project, TrainingOptions(mode="frozen", epochs=6))
    assert main_window.open_project_at(trained_project.path)
    from desktop.ui.models_dialog import ModelsDialog

    dialog = ModelsDialog(main_window.context, main_window)
    qtbot.addWidget(dialog)
    table = dialog.table_model
    assert [table.rows[r].id for r in range(table.rowCount())] == [second.model_id, first.id]  # newest first
    assert table.index(0, 0).data() == "●" and table.index(1, 0).data() == ""
    assert table.index(0, table.BACKBONE).data() == "Fast (EfficientNet-Lite0)"  # plain names, not internal ones
    assert table.index(0, table.MODE).data() == "frozen features"
    qtbot.waitUntil(lambda: len(table.scores) == 2, timeout=60_000)
    column = table.TODAY
    assert table.index(0, column).data() == f"{second.val_accuracy:.1%}"
    assert len(dialog.chart.series) == 2 and len(dialog.chart.series[0].values) == 2
    assert dialog.chart.x_ticks == [f"#{first.id}", f"#{second.model_id}"]  # oldest to newest, named as the table

    dialog.table.selectRow(1)
    with qtbot.waitSignal(dialog.models_changed):
        qtbot.mouseClick(dialog.activate_button, Qt.MouseButton.LeftButton)
    assert active_model(trained_project).id == first.id
    assert table.index(table.rowCount() - 1, 0).data() == "●"

    dialog.table.selectRow(0)
    dialog.delete(confirm=False)
    assert [m.id for m in list_models(trained_project)] == [first.id]
    assert table.rowCount() == 1


def test_version_names_under_the_chart_never_touch():
    from desktop.ui.widgets.charts import spaced_labels

    few = spaced_labels([50, 150, 250], [20, 20, 20], room=300)
    assert few == [(0, 40), (1, 140), (2, 240)]  # each centred under its point
    many = spaced_labels([10 + 5 * i for i in range(40)], [24] * 40, room=220)
    lefts = [left for _, left in many]
    assert many[0][0] == 0 and 5 <= len(many) < 40
    assert all(b - a >= 24 + 6 for a, b in pairwise(lefts))  # width and gap between names
    assert all(0 <= left <= 220 - 24 for left in lefts)  # none hangs off the chart
    assert spaced_labels([0, 300], [30, 30], room=300) == [(0, 0.0), (1, 270.0)]
