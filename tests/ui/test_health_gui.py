"""Model ▸ Check Photos in the GUI: a blurred copy is listed in the Blurry view with its reason, "Not a problem"
removes it (and Ctrl+Z brings it back), "Keep one" moves a duplicate aside after a preview and undoing the sort
puts it back."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest
from PySide6.QtCore import QItemSelectionModel

from desktop.core.browse import Show
from desktop.core.importer import import_folder
from desktop.core.status import project_status


@pytest.fixture
def health(qtbot, trained_project, tmp_path):
    """The trained shapes project with ``extras/``: a blurred copy of checks_02 and an exact copy of discs_01;
    a grid over it and its HealthController, views applied as the main window applies them."""
    from PySide6.QtGui import QUndoStack

    from desktop.ui.app import make_application
    from desktop.ui.context import ProjectContext
    from desktop.ui.health import HealthController
    from desktop.ui.widgets.grid import ThumbnailGrid
    from desktop.ui.widgets.status_progress import StatusProgress

    make_application()
    photos = trained_project.path.parent / "photos"
    extras = tmp_path / "extras"
    extras.mkdir()
    shutil.copy(photos / "discs" / "discs_01.jpg", extras / "copy_of_discs_01.jpg")
    checks = cv2.imread(str(photos / "checks" / "checks_02.jpg"))
    cv2.imwrite(str(extras / "blurred_checks_02.png"), cv2.GaussianBlur(checks, (0, 0), 4))
    import_folder(trained_project, extras)
    context = ProjectContext()
    context.set_project(trained_project)
    grid = ThumbnailGrid()
    grid.setModel(context.images)
    qtbot.addWidget(grid)
    controller = HealthController(context, grid, QUndoStack(), StatusProgress())
    controller.filter_requested.connect(context.images.set_filter)
    controller.groups_changed.connect(context.images.set_groups)
    notes = {}
    controller.notes_changed.connect(lambda given: (notes.clear(), notes.update(given)))
    controller.notes = notes
    with qtbot.waitSignal(controller.findings_changed, timeout=180_000):
        controller.check()
    # The worker's own end (queued after its result) is handled before the test goes on: handled after the
    # controller is gone, it would reach a deleted worker.
    qtbot.waitUntil(lambda: not controller.busy, timeout=10_000)
    yield controller
    controller.shutdown()
    context.project = None  # the fixture closes the project


def _shown(controller) -> list[str]:
    images = controller.context.images
    return [images.row_at(row).name for row in range(images.rowCount())]


def _answer(asked: list[str], button_text: str) -> None:
    """Click ``button_text`` on the first real message box that has it, once it is up."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    def click():
        box = QApplication.activeModalWidget()
        button = next((b for b in box.buttons() if b.text() == button_text), None) \
            if isinstance(box, QMessageBox) else None
        if button is None:
            QTimer.singleShot(20, click)
            return
        asked.append(box.text())
        button.click()
    QTimer.singleShot(0, click)


def _select(controller, names: list[str]) -> None:
    images, model = controller.context.images, controller.grid.selectionModel()
    model.clearSelection()
    for row in range(images.rowCount()):
        if images.row_at(row).name in names:
            model.select(images.index(row), QItemSelectionModel.SelectionFlag.Select)


def test_blurred_copy_is_in_the_blurry_view_and_not_a_problem_removes_it(health):
    views = {view.kind: view for view in health.views()}
    assert views["blurry"].title == "Blurry" and views["blurry"].count >= 1
    health.show("blurry")
    assert health.context.images.image_filter.show == Show.IDS
    assert "blurred_checks_02.png" in _shown(health)
    blurred_id = next(health.context.images.row_at(row).id for row in range(health.context.images.rowCount())
                      if health.context.images.row_at(row).name == "blurred_checks_02.png")
    assert health.notes[blurred_id].startswith("Blurry: edges") and "softer" in health.notes[blurred_id]

    _select(health, ["blurred_checks_02.png"])
    health.dismiss_selected()
    assert "blurred_checks_02.png" not in _shown(health)
    remaining = health.view_of("blurry")
    assert remaining is None or remaining.count == views["blurry"].count - 1
    health.undo_stack.undo()
    assert health.view_of("blurry").count == views["blurry"].count


def test_keep_one_moves_the_copy_aside_after_a_preview_and_undoing_the_sort_puts_it_back(health, qtbot, tmp_path):
    from desktop.core.sorting import undo_sort

    project = health.context.project
    copy, aside = tmp_path / "extras" / "copy_of_discs_01.jpg", tmp_path / "_duplicates" / "copy_of_discs_01.jpg"
    data = copy.read_bytes()
    before = project_status(project).images
    health.show("exact_duplicates")
    assert sorted(_shown(health)) == ["copy_of_discs_01.jpg", "discs_01.jpg"]
    health.grid.selectionModel().clearSelection()
    asked: list[str] = []
    _answer(asked, "Cancel")
    health.keep_one()  # nothing selected: every group shown keeps its suggested photo
    qtbot.waitUntil(lambda: bool(asked) and not health.resolver.busy, timeout=60_000)
    assert asked and asked[0].startswith("1 extra copy from 1 group will be moved to ") and copy.exists()
    assert project_status(project).images == before  # cancelled at the preview: nothing moved

    _answer(asked, "Move")
    with qtbot.waitSignal(health.resolver.resolved, timeout=60_000):
        health.keep_one()
    qtbot.waitUntil(lambda: not health.resolver.busy, timeout=10_000)
    assert not copy.exists() and aside.read_bytes() == data  # moved aside, not deleted
    assert project_status(project).images == before - 1
    assert health.view_of("exact_duplicates") is None and _shown(health) == []

    undo_sort(project)  # what Sort ▸ Undo Last Sort runs, after a restart too
    health.context.refresh_all()
    assert copy.read_bytes() == data and not aside.parent.exists()
    assert project_status(project).images == before


def test_a_finding_view_shows_only_its_photos_under_a_short_heading(health):
    """Clicking a finding in the sidebar filters the grid to exactly its photos; the grid's title is the kind and
    its count (it used to repeat the whole summary and was cut off at 1024 px)."""
    exact = health.view_of("exact_duplicates")
    health.show("exact_duplicates")
    assert sorted(_shown(health)) == ["copy_of_discs_01.jpg", "discs_01.jpg"]
    assert health.context.images.image_filter.title == exact.heading == "Exact duplicates — 2 photos"


def test_the_finding_bar_says_what_the_kind_means_and_moves_its_buttons_under_it_when_narrow(qtbot):
    from desktop.core.health import EXPLANATIONS
    from desktop.ui.app import make_application
    from desktop.ui.health import FindingView
    from desktop.ui.widgets.finding_bar import BUTTONS_BESIDE_MIN_WIDTH, FindingBar

    make_application()
    bar = FindingBar()
    qtbot.addWidget(bar)
    view = FindingView("near_duplicates", "Near duplicates", 26, "", True, EXPLANATIONS["near_duplicates"], 5)
    assert view.heading == "Near duplicates — 26 photos in 5 groups"
    bar.show_finding(view)
    assert bar.text.text().startswith(EXPLANATIONS["near_duplicates"]) and bar.keep_button.isVisibleTo(bar)
    bar.resize(BUTTONS_BESIDE_MIN_WIDTH + 200, 60)
    qtbot.waitUntil(lambda: bar.buttons_beside)
    bar.resize(BUTTONS_BESIDE_MIN_WIDTH - 200, 80)  # the grid at 1024 px: the sentence keeps the full width
    qtbot.waitUntil(lambda: not bar.buttons_beside)
    qtbot.waitUntil(lambda: bar.text.geometry().width() > bar.width() - 40)
    assert bar.dismiss_button.geometry().top() >= bar.text.geometry().bottom()
    imbalance = FindingView("class_imbalance", "Class imbalance", 1, "", False, EXPLANATIONS["class_imbalance"])
    assert imbalance.heading == "Class imbalance — 1 class"
    bar.show_finding(imbalance)
    assert "Hover a photo" not in bar.text.text() and not bar.keep_button.isVisibleTo(bar)


def test_the_last_check_comes_back_when_the_project_opens_and_is_marked_out_of_date_after_photos_change(
        health, qtbot, tmp_path):
    """Check Photos' findings were gone when the project reopened; now the sidebar's Check section comes back,
    and says when photos were added since."""
    from desktop.core.project import open_project
    from desktop.ui.models.classes import ClassListModel
    from desktop.ui.widgets.finding_bar import FindingBar
    from desktop.ui.widgets.sidebar import Sidebar

    before = {view.kind: view.count for view in health.views()}
    path = health.context.project.path

    def reopen():
        opened = open_project(path, create=False)
        with qtbot.waitSignal(health.findings_changed, timeout=30_000,
                              check_params_cb=lambda views: bool(views)) as signal:
            health.context.set_project(opened)
        qtbot.waitUntil(lambda: not health.restoring.busy, timeout=10_000)
        return opened, signal.args[0]

    first, views = reopen()
    assert {view.kind: view.count for view in views} == before and not any(view.stale for view in views)
    health.show("exact_duplicates")
    assert sorted(_shown(health)) == ["copy_of_discs_01.jpg", "discs_01.jpg"]

    more = tmp_path / "more"
    more.mkdir()
    cv2.imwrite(str(more / "new.png"), cv2.imread(str(first.path.parent / "photos" / "checks" / "checks_05.jpg")))
    import_folder(first, more)
    second, views = reopen()
    try:
        assert {view.kind: view.count for view in views} == before
        assert all(view.stale == "Photos changed since this check (1 photo added) — run it again."
                   for view in views)
        sidebar = Sidebar(ClassListModel())
        qtbot.addWidget(sidebar)
        sidebar.set_findings(views)
        assert sidebar.finding_header.toolTip() == views[0].stale
        bar = FindingBar()
        qtbot.addWidget(bar)
        bar.show_finding(views[0])
        assert "1 photo added" in bar.text.text() and "run it again" in bar.text.text()
        with qtbot.waitSignal(health.findings_changed, timeout=180_000):
            health.check()  # a new scan is current again
        qtbot.waitUntil(lambda: not health.busy, timeout=10_000)
        assert not any(view.stale for view in health.views())
    finally:
        health.context.project = None
        second.close()


def test_keep_one_asks_first_when_the_group_mixes_labels_and_names_them(health, qtbot):
    from desktop.core.labels import labels_of, set_label

    project = health.context.project
    health.show("exact_duplicates")
    copy = next(health.context.images.row_at(row).id for row in range(health.context.images.rowCount())
                if health.context.images.row_at(row).name == "copy_of_discs_01.jpg")
    checks = next(info.id for info in health.context.classes.classes if info.name == "checks")
    set_label(project, [copy], checks)
    asked: list[str] = []

    before = project_status(project).images
    health.grid.selectionModel().clearSelection()
    _answer(asked, "Cancel")
    health.keep_one()
    assert len(asked) == 1 and "'checks' and 'discs'" in asked[0]
    assert project_status(project).images == before and health.view_of("exact_duplicates") is not None
    _answer(asked, "Keep one")
    _answer(asked, "Move")
    with qtbot.waitSignal(health.resolver.resolved, timeout=60_000):
        health.keep_one()
    qtbot.waitUntil(lambda: not health.resolver.busy, timeout=10_000)
    assert len(asked) == 3 and project_status(project).images == before - 1
    assert labels_of(project, [copy])[copy] == checks  # kept with the photo moved aside, for the undo


def test_duplicate_groups_are_marked_on_their_tiles_keeper_first(health, qtbot):
    """Near-duplicate groups used to be one flat grid: each tile now carries its group (number, colour strip) and
    the suggested keeper says so."""
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QColor, QImage, QPainter
    from PySide6.QtWidgets import QStyleOptionViewItem

    from desktop.ui.models.images import Role
    from desktop.ui.widgets.grid import group_colour, group_text

    health.show("exact_duplicates")
    images = health.context.images
    marks = [images.data(images.index(row), Role.GROUP) for row in range(images.rowCount())]
    assert [(m.number, m.size, m.keeper) for m in marks] == [(1, 2, True), (1, 2, False)]
    assert images.row_at(0).name == "discs_01.jpg"  # the keeper leads its group
    assert group_text(marks[0]) == "Group 1 · keep" and group_text(marks[1]) == "Group 1"

    tile = QImage(200, 200, QImage.Format.Format_ARGB32)
    tile.fill(QColor("white"))
    option = QStyleOptionViewItem()
    option.rect = QRect(0, 0, 180, 190)
    painter = QPainter(tile)
    health.grid.delegate.paint(painter, option, images.index(0))
    painter.end()
    assert tile.pixelColor(3, 100) == group_colour(1)  # the group's colour along the tile's left edge

    health.show("blurry")  # not a grouped kind: no marks
    assert all(images.data(images.index(row), Role.GROUP) is None for row in range(images.rowCount()))


def test_resolve_all_exact_duplicates_moves_every_extra_copy_after_one_preview(health, qtbot, tmp_path):
    project = health.context.project
    copy = tmp_path / "extras" / "copy_of_discs_01.jpg"
    before = project_status(project).images
    asked: list[str] = []
    _answer(asked, "Move")
    said: list[str] = []
    health.message.connect(said.append)
    with qtbot.waitSignal(health.resolver.resolved, timeout=60_000):
        health.resolve_all_exact()
    qtbot.waitUntil(lambda: not health.resolver.busy, timeout=10_000)
    assert said[-1].endswith(" Sort ▸ Undo Last Sort puts it back."), said  # one photo: not "them"
    assert len(asked) == 1 and asked[0].startswith("1 extra copy from 1 group will be moved to ")
    assert not copy.exists() and (tmp_path / "_duplicates" / "copy_of_discs_01.jpg").is_file()
    assert project_status(project).images == before - 1
    assert health.view_of("exact_duplicates") is None  # its finding is resolved


def test_undoing_duplicates_moved_aside_is_named_as_such_in_the_sort_menu(main_window, tmp_path):
    """Sort ▸ Undo Last Sort's question names what it undoes: not "sorted by duplicates moved aside"."""
    from desktop.core.duplicate_resolving import exact_groups, plan_resolution, resolve
    from tests import imagemakers as mk

    photos = tmp_path / "photos"
    mk.write_jpeg(photos / "a.jpg", 32, 24, seed=1)
    shutil.copy(photos / "a.jpg", photos / "a copy.jpg")
    project = main_window.context.project
    import_folder(project, photos)
    resolve(project, plan_resolution(project, exact_groups(project)))

    text = main_window.controllers.sorting.describe_undo(None)[1]
    assert ", duplicates moved aside)?" in text and "sorted by" not in text
    assert "1 photo moved into" in text and "go back to where they came from" in text


def _choose_near(similarity: float, keeper_words: str) -> None:
    """Fill Resolve Near Duplicates' dialog as a user would, once it is up, and press Preview."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QDialogButtonBox

    from desktop.ui.near_duplicates_dialog import NearDuplicatesDialog

    def fill():
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, NearDuplicatesDialog):
            QTimer.singleShot(20, fill)
            return
        dialog.similarity.setValue(similarity)
        dialog.keeper.setCurrentIndex(dialog.keeper.findText(keeper_words))
        buttons = dialog.findChild(QDialogButtonBox)
        next(b for b in buttons.buttons() if b.text() == "Preview…").click()
    QTimer.singleShot(0, fill)


def test_resolve_near_duplicates_moves_each_groups_extras_by_the_chosen_rule_and_names_mixed_labels(
        health, qtbot, tmp_path):
    """Model ▸ Resolve Near Duplicates…: the similarity and keeper rule asked, one preview naming the labels a
    group mixes, the extras moved aside (counted as moved aside, not missing), and Sort ▸ Undo's sort puts them
    back."""
    from desktop.core.labels import set_label
    from desktop.core.sorting import undo_sort

    project = health.context.project
    copy = tmp_path / "extras" / "copy_of_discs_01.jpg"
    copy_id = next(health.context.images.row_at(row).id for row in range(health.context.images.rowCount())
                   if health.context.images.row_at(row).name == copy.name)
    checks = next(info.id for info in health.context.classes.classes if info.name == "checks")
    set_label(project, [copy_id], checks)
    before = project_status(project)
    asked: list[str] = []
    _choose_near(0.9, "The oldest file")
    _answer(asked, "Cancel")
    health.resolve_near()
    qtbot.waitUntil(lambda: len(asked) == 1 and not health.resolver.busy, timeout=120_000)
    assert " will be moved to " in asked[0] and "Sort ▸ Undo Last Sort puts" in asked[0]
    assert "mixes labels ('checks' and 'discs')" in asked[0]
    assert copy.exists() and project_status(project).images == before.images  # Cancel moved nothing

    _choose_near(0.9, "The oldest file")
    _answer(asked, "Move")
    said: list[str] = []
    health.message.connect(said.append)
    with qtbot.waitSignal(health.resolver.resolved, timeout=120_000):
        health.resolve_near()
    qtbot.waitUntil(lambda: not health.resolver.busy, timeout=10_000)
    moved = len(health.resolver.moving_ids)
    assert said[-1].endswith(f"Sort ▸ Undo Last Sort puts {'it' if moved == 1 else 'them'} back."), said
    assert moved >= 1 and not copy.exists()  # the copy is newer than discs_01: the oldest stays
    destination = Path(asked[1].split(" will be moved to ", 1)[1].split(", keeping their folders")[0])
    assert destination.name == "_duplicates" and [p.name for p in destination.rglob(copy.name)] == [copy.name]
    after = project_status(project)
    assert (after.images, after.missing, after.set_aside) == (before.images - moved, before.missing, moved)
    assert health.view_of("exact_duplicates") is None  # resolved with the near groups

    undo_sort(project)
    assert copy.is_file() and project_status(project).set_aside == 0


def test_the_near_duplicates_dialog_offers_the_cores_keeper_rules_and_the_apps_similarity(qtbot):
    from desktop.core.duplicate_resolving import DEFAULT_KEEPER, KEEPER_RULES
    from desktop.core.duplicates import DEFAULT_THRESHOLD
    from desktop.ui.near_duplicates_dialog import NearDuplicatesDialog

    dialog = NearDuplicatesDialog()
    qtbot.addWidget(dialog)
    assert [dialog.keeper.itemData(i) for i in range(dialog.keeper.count())] == list(KEEPER_RULES)
    assert dialog.choice().similarity == DEFAULT_THRESHOLD and dialog.choice().keeper_rule == DEFAULT_KEEPER
    dialog.similarity.setValue(0.5)  # below the range: held at its bottom
    assert dialog.choice().similarity == 0.8


def test_the_status_bar_counts_duplicates_moved_aside_as_such_not_as_missing(main_window, tmp_path):
    from desktop.core.duplicate_resolving import exact_groups, plan_resolution, resolve
    from tests import imagemakers as mk

    photos = tmp_path / "photos"
    mk.write_jpeg(photos / "a.jpg", 32, 24, seed=1)
    shutil.copy(photos / "a.jpg", photos / "a copy.jpg")
    project = main_window.context.project
    import_folder(project, photos)
    resolve(project, plan_resolution(project, exact_groups(project)))
    main_window.context.refresh_all()

    text = main_window.counts_label.text()
    assert "1 photos" not in text and "1 photo" in text and "1 duplicate moved aside" in text
    assert "missing" not in text
    assert [main_window.sidebar.folders.folders[0].images] == [1]
