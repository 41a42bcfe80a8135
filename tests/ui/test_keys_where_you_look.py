"""Keys act where the user looks: after a sidebar click, arrows and class keys act on the grid's one visible
selection; labelling many photos never overwrites a label silently, and stays undoable."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QPushButton
from test_labelling_gui import import_and_wait, labels_in_db, write_photos

pytestmark = pytest.mark.gui


@pytest.fixture
def four_classes(qtbot, main_window, tmp_path):
    """Eight unlabelled photos and four classes (keys 1-4), the window active."""
    write_photos(tmp_path / "photos", 8)
    import_and_wait(qtbot, main_window, tmp_path / "photos")
    for name in ("cat", "dog", "bird", "fish"):
        main_window.controllers.class_actions.add(name)
    main_window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is main_window, timeout=3000)
    return main_window


def type_keys(qtbot, *keys) -> None:
    """As a user types: each key to whichever widget has the keyboard focus now."""
    for key in keys:
        focused = QApplication.focusWidget()
        assert focused is not None
        qtbot.keyClick(focused, key)
        qtbot.wait(5)


def click_sidebar(qtbot, window, view, row: int) -> None:
    rect = view.visualRect(view.model().index(row, 0))
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.context.images.wait_loaded()


def current_name(window) -> str:
    return window.context.images.row_at(window.grid.currentIndex().row()).name


def test_after_a_sidebar_click_right_then_a_class_key_labels_the_photo_now_selected(qtbot, four_classes):
    window = four_classes
    click_sidebar(qtbot, window, window.sidebar.filter_view, 1)  # "Unlabelled"
    assert window.context.images.image_filter.show.name == "UNLABELLED"
    assert QApplication.focusWidget() is window.grid  # the keyboard went back to the grid
    first = current_name(window)
    type_keys(qtbot, Qt.Key.Key_Right)
    skipped_to = current_name(window)
    assert skipped_to != first
    type_keys(qtbot, Qt.Key.Key_4)
    assert labels_in_db(window) == {skipped_to: "fish"}  # the photo the user moved to, not the one before


def test_moving_keys_pressed_on_a_button_move_the_grid(qtbot, four_classes):
    window = four_classes
    window.controllers.labelling.select_row(0)
    window.view_bar.show()
    back = next(b for b in window.view_bar.findChildren(QPushButton) if b.text() == "Show all photos")
    back.setFocus()
    assert QApplication.focusWidget() is back
    type_keys(qtbot, Qt.Key.Key_Right)
    assert window.grid.currentIndex().row() == 1 and QApplication.focusWidget() is window.grid
    type_keys(qtbot, Qt.Key.Key_2)
    assert labels_in_db(window) == {window.context.images.row_at(1).name: "dog"}


def test_a_view_chosen_elsewhere_takes_the_keys(qtbot, four_classes):
    """A confusion cell or the map shows photos in the grid: the keys follow, not the combo box last used."""
    from desktop.core.browse import ImageFilter, Show

    window = four_classes
    window.show_training()
    combo = window.train_panel.backbone
    combo.setFocus()
    assert QApplication.focusWidget() is combo
    images = window.context.images
    ids = (images.row_at(2).id, images.row_at(3).id, images.row_at(4).id)
    window.controllers.similar.filter_requested.emit(ImageFilter(Show.IDS, image_ids=ids, title="Like this"))
    assert images.wait_loaded() and images.rowCount() == 3
    window.grid.setCurrentIndex(images.index(0))
    type_keys(qtbot, Qt.Key.Key_Right, Qt.Key.Key_3)
    assert labels_in_db(window) == {images.row_at(1).name: "bird"}


def test_many_selected_photos_keep_their_labels_until_the_key_comes_again(qtbot, four_classes):
    window = four_classes
    images = window.context.images
    names = [images.row_at(row).name for row in range(images.rowCount())]
    window.grid.setFocus()
    window.controllers.labelling.select_row(0)
    type_keys(qtbot, Qt.Key.Key_1, Qt.Key.Key_1, Qt.Key.Key_2)  # photos 0, 1: cat; 2: dog
    assert labels_in_db(window) == {names[0]: "cat", names[1]: "cat", names[2]: "dog"}

    said = []
    window.controllers.labelling.message.connect(said.append)
    window.grid.select_ids([images.row_at(row).id for row in range(6)])  # e.g. what Select similar chose
    assert said[-1] == ("6 photos selected, 3 of them already labelled — a class key labels the other 3 and keeps "
                        "those labels.")
    type_keys(qtbot, Qt.Key.Key_3)
    labelled = labels_in_db(window)
    assert labelled == {names[0]: "cat", names[1]: "cat", names[2]: "dog",
                        names[3]: "bird", names[4]: "bird", names[5]: "bird"}
    assert said[-1] == ("Labelled 3 photos. 3 selected photos already had a label (2 cat, 1 dog) and kept it "
                        "— still selected: press 3 again to relabel them as bird.")
    # The kept ones are what is selected now: the user sees which.
    assert sorted(window.grid.selected_ids()) == sorted(images.row_at(row).id for row in range(3))

    type_keys(qtbot, Qt.Key.Key_3)
    assert set(labels_in_db(window).values()) == {"bird"}
    assert window.controllers.labelling.undo_stack.undoText() == "Relabel 3 photos as bird"

    qtbot.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert labels_in_db(window) == labelled  # undo gives the kept labels back


def test_the_offer_to_relabel_lasts_only_while_the_selection_does(qtbot, four_classes):
    window = four_classes
    images = window.context.images
    window.grid.setFocus()
    window.controllers.labelling.select_row(0)
    type_keys(qtbot, Qt.Key.Key_1)
    both = [images.row_at(0).id, images.row_at(1).id]
    window.grid.select_ids(both)
    type_keys(qtbot, Qt.Key.Key_2)  # photo 1 labelled dog, photo 0 kept as cat and selected alone
    assert window.grid.selected_ids() == [both[0]]
    window.grid.select_ids(both)  # another selection: the offer is gone, the label stays
    type_keys(qtbot, Qt.Key.Key_2)
    assert labels_in_db(window)[images.row_at(0).rel_path] == "cat"


def test_one_photo_is_relabelled_at_once(qtbot, four_classes):
    window = four_classes
    window.grid.setFocus()
    window.controllers.labelling.select_row(0)
    type_keys(qtbot, Qt.Key.Key_1)
    window.controllers.labelling.select_row(0)
    type_keys(qtbot, Qt.Key.Key_2)
    assert labels_in_db(window) == {window.context.images.row_at(0).name: "dog"}


def test_accepting_predictions_for_many_keeps_labels_until_a_comes_again(qtbot, main_window, trained_project):
    from test_predicting_gui import predict_and_wait

    from desktop.ui.models.images import Role

    window = main_window
    assert window.open_project_at(trained_project.path)
    predict_and_wait(window, qtbot)
    images = window.context.images
    predicted = images.index(0).data(Role.PREDICTION).name
    other = next(c for c in window.context.classes.classes if c.name != predicted)
    window.grid.setFocus()
    window.controllers.labelling.select_row(0)
    window.controllers.labelling.label_selection(other.id, other.name)  # the user's label, against the model
    window.grid.selectAll()
    said = []
    window.controllers.labelling.message.connect(said.append)
    type_keys(qtbot, Qt.Key.Key_A)
    assert labels_in_db(window)[images.row_at(0).rel_path] == other.name  # kept, and still selected
    assert said[-1].endswith(f"already had a label (1 {other.name}) and kept it — still selected: press A again "
                             "to give it the predicted class.")
    assert images.row_at(0).id in window.grid.selected_ids()
    type_keys(qtbot, Qt.Key.Key_A)
    assert labels_in_db(window)[images.row_at(0).rel_path] == predicted
