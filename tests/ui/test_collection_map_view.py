"""The collection map's canvas: a lasso drawn with the mouse selects exactly the dots it encloses, hover finds
the dot under the pointer, and the dots are one cached image."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from desktop.ui.widgets.collection_map import CollectionMapView, LegendEntry, PointGrid


@pytest.fixture
def view(qtbot):
    from desktop.ui.app import make_application

    make_application()
    widget = CollectionMapView()
    qtbot.addWidget(widget)
    widget.resize(600, 400)
    widget.show()
    qtbot.waitExposed(widget)
    # A 10 x 10 lattice of photos 101..200, two classes by column, a few with no class.
    xs, ys = np.meshgrid(np.arange(10, dtype=np.float32), np.arange(10, dtype=np.float32))
    xy = np.stack([xs.ravel(), ys.ravel()], axis=1)
    categories = np.where(xy[:, 0] < 5, 0, 1)
    categories[:3] = -1
    widget.set_points(np.arange(101, 201), xy, categories, [LegendEntry("cat", "#E4572E"),
                                                            LegendEntry("dog", "#17BEBB")])
    return widget


def _drag_lasso(widget, corners: list[QPoint]) -> None:
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, corners[0])
    for corner in corners[1:]:
        QTest.mouseMove(widget, corner)
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, corners[-1])


def test_lasso_selects_exactly_the_enclosed_dots(view, qtbot):
    # Enclose the 3 x 2 block of lattice points x in 2..4, y in 6..7, halfway between lattice rows/columns.
    def at(x: float, y: float) -> QPoint:
        low, high = view.position_of(101), view.position_of(200)  # (0, 0) and (9, 9)
        return QPoint(round(low.x() + (high.x() - low.x()) * x / 9), round(low.y() + (high.y() - low.y()) * y / 9))

    expected = sorted(101 + y * 10 + x for x in (2, 3, 4) for y in (6, 7))
    with qtbot.waitSignal(view.lasso_selected) as blocker:
        _drag_lasso(view, [at(1.5, 5.5), at(4.5, 5.5), at(4.5, 7.5), at(1.5, 7.5)])
    assert sorted(blocker.args[0]) == expected
    assert sorted(view.selected_ids) == expected

    with qtbot.waitSignal(view.lasso_selected) as blocker:  # a plain click clears it
        QTest.mouseClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(0.5, 0.5))
    assert blocker.args[0] == [] and view.selected_ids == []


def test_hover_finds_the_dot_under_the_pointer(view, qtbot):
    target = view.position_of(157).toPoint()
    with qtbot.waitSignal(view.hovered) as blocker:
        QTest.mouseMove(view, target + QPoint(2, 1))
    assert blocker.args == [157] and view.hovered_id() == 157
    between = (view.position_of(101).toPoint() + view.position_of(112).toPoint()) / 2
    QTest.mouseMove(view, between)
    assert view.hovered_id() is None


def test_point_grid_matches_brute_force():
    rng = np.random.default_rng(3)
    positions = rng.uniform(0, 500, (5000, 2)).astype(np.float32)
    grid = PointGrid(positions)
    for x, y in rng.uniform(0, 500, (200, 2)):
        distances = np.hypot(positions[:, 0] - x, positions[:, 1] - y)
        nearest = int(np.argmin(distances))
        assert grid.nearest(x, y) == (nearest if distances[nearest] <= 8.0 else None)


def test_legend_counts_and_cached_dots(view):
    assert view.category_counts() == [47, 50]
    first = view._cached_image()
    assert view._cached_image() is first  # repaints reuse the rasterised dots
    view.resize(500, 300)
    assert view._cached_image() is not first


def test_the_legend_counts_the_grey_dots_too(view):
    """Dots with no class are grey; the legend named only the classes, so 15 unlabelled photos of 57 looked
    like an unexplained colour."""
    assert view.legend_lines()[-1] == ("#B8BEC8", "Unlabelled  3")
    assert [line for _, line in view.legend_lines()[:2]] == ["cat  47", "dog  50"]
    view.set_colouring(np.zeros(100, np.int64), view.legend, "Not predicted")
    assert [line for _, line in view.legend_lines()] == ["cat  100", "dog  0"]  # no grey dot, no grey row
    view.set_colouring(np.full(100, -1), view.legend, "Not predicted")
    assert view.legend_lines()[-1] == ("#B8BEC8", "Not predicted  100")
