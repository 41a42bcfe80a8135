"""Issue #12's rough edges, GUI side: shortcuts from one table, Ctrl+T trains, panes that fit a small screen,
pills that keep their percentage, a broken photo's preview, the sort dialog's default destination."""

from __future__ import annotations

from pathlib import Path

import imagemakers as mk
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QFont, QFontMetrics, QKeySequence, QShortcut
from PySide6.QtWidgets import QScrollArea
from test_labelling_gui import import_and_wait, labels_in_db, write_photos

from desktop.ui.shortcuts import SHORTCUTS, help_html
from desktop.ui.widgets.grid import pill_text

pytestmark = pytest.mark.gui
README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_shortcut_keys() -> list[str]:
    section = README.read_text(encoding="utf-8").split("### Keyboard shortcuts", 1)[1].split("\n#", 1)[0]
    rows = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("|")]
    return rows[2:]  # after the header and its rule


def test_readme_and_f1_list_exactly_the_shortcut_table():
    assert _readme_shortcut_keys() == [s.shown for s in SHORTCUTS.values()]
    shown = help_html()
    for name in ("F5", "Esc", "K", "Ctrl+Shift+Z, Ctrl+Y"):
        assert f"<b>{name}</b>" in shown


def _bound_keys(window) -> list[str]:
    """Every key sequence an enabled action or shortcut of the main window listens to."""
    keys = []
    for action in window.findChildren(QAction):
        if action.isEnabled() or action in (window.undo_action, window.redo_action):
            keys += [k.toString(QKeySequence.SequenceFormat.PortableText) for k in action.shortcuts()]
    keys += [s.key().toString(QKeySequence.SequenceFormat.PortableText) for s in window.findChildren(QShortcut)]
    return [k for k in keys if k]


def test_every_bound_key_is_in_the_table_once(main_window):
    bound = _bound_keys(main_window)
    assert len(bound) == len(set(bound)), "a key bound twice is an ambiguous shortcut: it does nothing"
    table = {QKeySequence(k).toString(QKeySequence.SequenceFormat.PortableText)
             for s in SHORTCUTS.values() for k in s.keys}
    assert set(bound) == table


def test_ctrl_y_and_ctrl_shift_z_both_redo(qtbot, main_window, tmp_path):
    window = main_window
    write_photos(tmp_path / "photos", 3)
    import_and_wait(qtbot, window, tmp_path / "photos")
    window.controllers.class_actions.add("cat")
    window.activateWindow()
    window.grid.setFocus()
    window.controllers.labelling.select_row(0)
    qtbot.keyClick(window.grid, Qt.Key.Key_1)
    qtbot.keyClick(window.grid, Qt.Key.Key_1)
    assert len(labels_in_db(window)) == 2
    ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window.grid, Qt.Key.Key_Z, ctrl)
    qtbot.keyClick(window.grid, Qt.Key.Key_Z, ctrl)
    assert labels_in_db(window) == {}
    qtbot.keyClick(window.grid, Qt.Key.Key_Y, ctrl)
    assert len(labels_in_db(window)) == 1
    qtbot.keyClick(window.grid, Qt.Key.Key_Z, ctrl | shift)
    assert len(labels_in_db(window)) == 2


def test_ctrl_t_on_a_project_not_ready_says_why(main_window, qtbot):
    with qtbot.waitSignal(main_window.controllers.training.message) as said:
        qtbot.keyClick(main_window.grid, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert main_window.side_tabs.currentWidget() is main_window.train_panel
    assert said.args[0].startswith("Cannot train yet: ") and "label at least 3 photos" in said.args[0]
    assert not main_window.controllers.training.busy


def test_ctrl_t_starts_training_on_a_ready_project(main_window, trained_project, qtbot):
    assert main_window.open_project_at(trained_project.path)
    main_window.train_panel.epochs.setValue(2)
    with qtbot.waitSignal(main_window.controllers.training.trained, timeout=120_000):
        qtbot.keyClick(main_window.grid, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
        assert main_window.controllers.training.busy
        assert main_window.side_tabs.currentWidget() is main_window.train_panel
    qtbot.waitUntil(lambda: not main_window.controllers.training.busy and not main_window.controllers.predicting.busy,
                    timeout=60_000)
    # The grid reloads under the new predictions: the Train tab with its results stays in front ...
    assert main_window.side_tabs.currentWidget() is main_window.train_panel
    # ... and a retrain's x axis is the epochs it ran, not the plan.
    chart = main_window.train_panel.loss_chart
    assert chart.x_count == 0 and len(chart.series[0].values) >= 1
    # Choosing a photo shows it.
    main_window.grid.setCurrentIndex(main_window.context.images.index(1))
    assert main_window.side_tabs.currentWidget() is main_window.preview


def test_confusion_matrix_fits_without_cutting_names(main_window, qtbot):
    panel = main_window.train_panel
    names = ["monuments", "landscapes", "documents", "street scenes"]
    panel.confusion.matrix.set_matrix(names, [[3, 1, 0, 0], [0, 4, 0, 0], [0, 0, 4, 0], [2, 0, 0, 2]])
    model = panel.confusion.matrix
    assert [model.headerData(i, Qt.Orientation.Vertical) for i in range(4)] == [
        f"{i + 1}  {name}" for i, name in enumerate(names)]
    assert model.headerData(3, Qt.Orientation.Horizontal) == "4"
    assert "street scenes" in model.headerData(3, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    view = panel.confusion
    assert view.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    assert view.height() >= sum(view.rowHeight(r) for r in range(4)) + view.horizontalHeader().sizeHint().height()
    # The Mode combo's texts are short enough to read whole.
    metrics = QFontMetrics(panel.mode.font())
    assert all(metrics.horizontalAdvance(panel.mode.itemText(i)) < 200 for i in range(panel.mode.count()))


def test_small_screen_gives_the_grid_most_of_the_width(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from desktop.ui.app import make_application
    from desktop.ui.main_window import MainWindow

    make_application()
    window = MainWindow(QSettings(str(tmp_path / "fresh.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.resize(1024, 700)
    window.show()
    qtbot.waitExposed(window)
    sidebar, grid, side = window.splitter.sizes()
    assert grid > side and grid > 0.45 * sum(window.splitter.sizes())
    assert side <= 0.36 * 1024
    content = window.train_panel.findChild(QScrollArea).widget()
    assert content.minimumSizeHint().width() <= window.side_tabs.minimumWidth() - 20  # nothing cut off at the right
    assert sidebar >= window.sidebar.minimumWidth() > 0
    window.close()


def test_clicking_a_confusion_cell_leaves_the_splitter_alone(main_window, qtbot):
    from desktop.core.browse import ImageFilter, Show

    before = main_window.splitter.sizes()
    long_title = "street scenes and other long class names predicted as monuments of the ancient world " * 3
    main_window._on_filter(ImageFilter(Show.IDS, image_ids=(1,), title=long_title))
    qtbot.wait(20)
    assert main_window.splitter.sizes() == before


def test_prediction_pill_keeps_its_percentage():
    metrics = QFontMetrics(QFont())
    roomy = pill_text("monuments", 0.64, metrics, 400)
    assert roomy == "monuments 64%"
    tight = pill_text("monuments", 0.64, metrics, metrics.horizontalAdvance("monu… 64%") + 2)
    assert tight.endswith(" 64%") and tight.startswith("mon") and "…" in tight
    assert pill_text("monuments", 0.64, metrics, metrics.horizontalAdvance("64%") + 4) == "64%"


def test_a_broken_photo_shows_why_and_no_labelling_hints(main_window, qtbot, tmp_path):
    folder = tmp_path / "mixed"
    write_photos(folder, 1)
    (folder / "notes.jpg").write_text("not an image")
    import_and_wait(qtbot, main_window, folder)
    from desktop.core.browse import ImageFilter, Show

    main_window.sidebar.filter_selected.emit(ImageFilter(Show.BROKEN))  # "Cannot read"
    images = main_window.context.images
    assert images.wait_loaded()
    row = 0
    main_window.grid.setCurrentIndex(images.index(row))
    preview = main_window.preview
    error = images.row_at(row).error
    assert preview.canvas.message == f"Cannot read this file: {error}"
    assert "press a class key" not in preview.label_chip.text()
    assert "Predict" not in preview.chart.message and "Train" not in preview.chart.message


def test_import_with_an_active_model_predicts_the_new_photos(main_window, trained_project, qtbot, tmp_path):
    assert main_window.open_project_at(trained_project.path)
    mk.write_shape_folders(tmp_path / "later", per_class=1)
    with qtbot.waitSignal(main_window.controllers.predicting.finished, timeout=120_000) as predicted:
        main_window.controllers.importer.ask_about_subfolders = False
        main_window.controllers.importer.add_folders([tmp_path / "later" / "discs"])
    assert predicted.args[0].predicted >= 1


def test_sort_dialog_names_the_destination_after_the_folder_sorted(main_window, qtbot, tmp_path):
    from desktop.core.browse import ImageFilter, Show
    from desktop.core.folders import list_folders

    write_photos(tmp_path / "labelled", 2)
    write_photos(tmp_path / "holiday", 2)
    import_and_wait(qtbot, main_window, tmp_path / "labelled")
    import_and_wait(qtbot, main_window, tmp_path / "holiday")
    holiday = next(f for f in list_folders(main_window.context.project) if f.name == "holiday")
    main_window.sidebar.filter_selected.emit(ImageFilter(Show.ALL, folder_id=holiday.id))
    dialog = main_window.controllers.sorting.show_dialog()
    assert Path(dialog.destination.text()) == tmp_path / "holiday sorted"
    dialog.photos.setCurrentIndex(dialog.photos.findText("Folder labelled", Qt.MatchFlag.MatchStartsWith))
    assert Path(dialog.destination.text()) == tmp_path / "labelled sorted"
    dialog.photos.setCurrentIndex(0)  # all photos of two folders
    assert Path(dialog.destination.text()) == tmp_path / "Photos sorted"
    dialog.close()


def test_undo_of_a_copy_sort_says_the_copies_were_removed():
    from desktop.core.sorting import COPY, MOVE, UndoResult

    copies = UndoResult(1, COPY, "undone", deleted=[Path(f"/d/{i}.jpg") for i in range(45)])
    assert copies.message == "Removed the 45 copies; the originals are untouched."
    assert UndoResult(1, COPY, "undone", deleted=[Path("/d/1.jpg")]).message == \
        "Removed the 1 copy; the originals are untouched."
    moved = UndoResult(2, MOVE, "undone", restored=[(Path("/d/a.jpg"), Path("/s/a.jpg"))], cancelled=True)
    assert moved.message == "Undo was cancelled: 1 photo put back. Undo again to finish."
