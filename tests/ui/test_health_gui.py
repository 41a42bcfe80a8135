"""Model ▸ Check Photos in the GUI: a blurred copy is listed in the Blurry view with its reason, "Not a problem"
removes it (and Ctrl+Z brings it back), "Keep one" removes a duplicate from the project and undo restores it."""

from __future__ import annotations

import shutil

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
    notes = {}
    controller.notes_changed.connect(lambda given: (notes.clear(), notes.update(given)))
    controller.notes = notes
    with qtbot.waitSignal(controller.findings_changed, timeout=180_000):
        controller.check()
    yield controller
    controller.shutdown()
    context.project = None  # the fixture closes the project


def _shown(controller) -> list[str]:
    images = controller.context.images
    return [images.row_at(row).name for row in range(images.rowCount())]


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


def test_keep_one_removes_the_copy_from_the_project_and_undo_restores_it(health):
    before = project_status(health.context.project).images
    health.show("exact_duplicates")
    assert sorted(_shown(health)) == ["copy_of_discs_01.jpg", "discs_01.jpg"]
    health.grid.selectionModel().clearSelection()
    health.keep_one()  # nothing selected: every group shown keeps its suggested photo
    assert project_status(health.context.project).images == before - 1
    assert health.view_of("exact_duplicates") is None
    assert _shown(health) == []
    health.undo_stack.undo()
    assert project_status(health.context.project).images == before
    assert sorted(_shown(health)) == ["copy_of_discs_01.jpg", "discs_01.jpg"]
