"""More like this and Select similar in the grid, on a real project with a near-copy of one photo."""

from __future__ import annotations

import cv2
import pytest
from PySide6.QtCore import QItemSelectionModel

from desktop.core.browse import Show
from desktop.core.importer import import_folder
from desktop.core.similarity import find_image


@pytest.fixture
def similar(qtbot, trained_project):
    """A grid over ``trained_project`` (with ``discs/bigger_01.png``, a resized copy of ``discs_01.jpg``) and
    its SimilarController, views applied as the main window applies them."""
    from desktop.ui.app import make_application
    from desktop.ui.context import ProjectContext
    from desktop.ui.similar import SimilarController
    from desktop.ui.widgets.grid import ThumbnailGrid
    from desktop.ui.widgets.status_progress import StatusProgress

    make_application()
    photos = trained_project.path.parent / "photos"
    image = cv2.imread(str(photos / "discs" / "discs_01.jpg"))
    cv2.imwrite(str(photos / "stripes" / "bigger_01.png"), cv2.resize(image, None, fx=2, fy=2))
    import_folder(trained_project, photos, labels_from_subfolders=False)
    context = ProjectContext()
    context.set_project(trained_project)
    grid = ThumbnailGrid()
    grid.setModel(context.images)
    qtbot.addWidget(grid)
    controller = SimilarController(context, grid, StatusProgress())
    controller.filter_requested.connect(context.images.set_filter)
    yield controller
    controller.shutdown()
    context.project = None  # the fixture closes the project


def _photo(controller, name: str) -> int:
    return find_image(controller.context.project, str(controller.context.project.path.parent / "photos" / name))


def _select(controller, image_ids: list[int]) -> None:
    controller.grid.select_ids(image_ids)
    assert sorted(_selected(controller)) == sorted(image_ids)


def _selected(controller) -> list[int]:
    images = controller.context.images
    return [images.row_at(index.row()).id for index in controller.grid.selectionModel().selectedIndexes()]


def test_more_like_this_shows_the_near_copy_first(similar, qtbot):
    original, copy = _photo(similar, "discs/discs_01.jpg"), _photo(similar, "stripes/bigger_01.png")
    images = similar.context.images
    similar.grid.selectionModel().setCurrentIndex(images.index(images.row_of(original)),
                                                  QItemSelectionModel.SelectionFlag.ClearAndSelect)
    with qtbot.waitSignal(similar.filter_requested, timeout=120_000) as shown:
        similar.more_like_this()
    view = shown.args[0]
    assert view.show == Show.IDS and view.title.startswith("Similar to discs_01.jpg")
    assert [images.row_at(row).id for row in range(2)] == [original, copy]  # the photo, then its copy
    assert images.rowCount() == 25
    # A second query needs no worker: the index is kept.
    qtbot.waitUntil(lambda: not similar.busy)
    similar.grid.selectionModel().setCurrentIndex(images.index(1), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    similar.more_like_this()
    assert not similar.busy and [images.row_at(row).id for row in range(2)] == [copy, original]


def test_select_similar_grows_the_selection(similar, qtbot):
    original, copy = _photo(similar, "discs/discs_01.jpg"), _photo(similar, "stripes/bigger_01.png")
    _select(similar, [original])
    similar.select_similar()
    qtbot.waitUntil(lambda: len(_selected(similar)) > 1, timeout=120_000)
    grown = _selected(similar)
    assert original in grown and copy in grown and len(grown) == 1 + 5
    assert similar.context.images.image_filter.show == Show.ALL  # every photo was in view: no new view
