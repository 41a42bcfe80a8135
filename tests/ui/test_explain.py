"""G shows a Grad-CAM heatmap over the previewed photo, follows the selection, and hides again."""

from __future__ import annotations

import pytest
from PySide6.QtTest import QTest

pytestmark = pytest.mark.gui


def test_g_toggles_a_heatmap_that_follows_the_selection(main_window, trained_project, qtbot):
    assert main_window.open_project_at(trained_project.path)
    images = main_window.context.images
    assert images.wait_loaded()
    main_window.grid.setFocus()
    main_window.grid.setCurrentIndex(images.index(0))
    canvas = main_window.preview.canvas
    with qtbot.waitSignal(main_window.controllers.explain.explained, timeout=60_000) as first:
        QTest.keyClick(main_window.grid, "g")
    assert first.args[0] == images.row_at(0).id
    qtbot.waitUntil(lambda: not canvas.overlay.isNull(), timeout=5_000)
    assert canvas.overlay.hasAlphaChannel()
    legend = main_window.preview.heatmap_legend
    assert legend.isVisible()  # which class it explains, and the colour ramp
    explained = main_window.context.active_model.class_names[first.args[1].class_index]
    assert legend.caption == f"Heatmap for: {explained} ({first.args[1].probability:.0%})"

    with qtbot.waitSignal(main_window.controllers.explain.explained, timeout=60_000) as second:
        main_window.grid.setCurrentIndex(images.index(5))
    assert second.args[0] == images.row_at(5).id
    heatmap = second.args[1]
    row = images.row_at(5)
    assert heatmap.values.shape[1] / heatmap.values.shape[0] == pytest.approx(row.width / row.height, rel=0.05)

    QTest.keyClick(main_window.grid, "g")
    assert canvas.overlay.isNull() and not legend.isVisible()
    assert not main_window.controllers.explain.enabled


def test_g_without_a_model_says_to_train_first(main_window, qtbot):
    with qtbot.waitSignal(main_window.controllers.explain.message) as said:
        main_window.controllers.explain.toggle()
    assert "Train a model first" in said.args[0]
    assert not main_window.controllers.explain.enabled


def test_find_near_duplicates_shows_them_in_the_grid(main_window, trained_project, qtbot):
    import shutil

    from desktop.core.importer import import_folder

    photos = trained_project.path.parent / "photos"
    shutil.copy(photos / "discs" / "discs_02.jpg", photos / "discs" / "copy.jpg")
    import_folder(trained_project, photos, labels_from_subfolders=True)
    assert main_window.open_project_at(trained_project.path)
    with qtbot.waitSignal(main_window.controllers.duplicates.found, timeout=60_000) as found:
        main_window.controllers.duplicates.find()
    assert len(found.args[0]) == 1
    images = main_window.context.images
    assert images.wait_loaded()
    assert sorted(images.row_at(r).name for r in range(images.rowCount())) == ["copy.jpg", "discs_02.jpg"]
    assert images.image_filter.title.startswith("Near-duplicates: 1 groups")


def test_review_doubtful_labels_in_order_with_keep_and_relabel(main_window, trained_project, qtbot):
    from PySide6.QtCore import Qt
    from sqlalchemy import select

    from desktop.core.labels import set_label
    from desktop.db.models import Image, ImageClass

    # Two stripes photos labelled "checks" by mistake.
    with trained_project.sessions() as session:
        checks = session.scalar(select(ImageClass.id).where(ImageClass.name == "checks"))
        wrong = list(session.scalars(select(Image.id).where(Image.rel_path.like("stripes/%")).limit(2)))
    set_label(trained_project, wrong, checks)
    assert main_window.open_project_at(trained_project.path)
    with qtbot.waitSignal(main_window.controllers.label_review.found, timeout=60_000) as found:
        main_window.controllers.label_review.find()
    issues = found.args[0]
    # The ranking's quality is measured in tests/core/test_label_issues.py; here: the review leads with the
    # likely mistakes (all doubtful labels only when none is likely), a mistake among them.
    lead = [issue.image_id for issue in issues if issue.likely] or [issue.image_id for issue in issues]
    assert set(wrong) & set(lead)
    images = main_window.context.images
    assert images.wait_loaded()
    assert [images.row_at(r).id for r in range(images.rowCount())] == lead
    main_window.grid.setFocus()
    main_window.grid.setCurrentIndex(images.index(0))
    qtbot.keyClick(main_window.grid, Qt.Key.Key_K)  # keep: the label stays, on to the next
    assert main_window.grid.currentIndex().row() == 1
    stripes = next(c for c in main_window.context.classes.classes if c.name == "stripes")
    second = images.row_at(1).id
    qtbot.keyClick(main_window.grid, stripes.shortcut)  # relabel and move on
    assert main_window.grid.currentIndex().row() == min(2, images.rowCount() - 1)
    from desktop.core.labels import labels_of

    assert labels_of(trained_project, [second])[second] == stripes.id


def test_a_view_from_outside_the_sidebar_is_named_and_left_with_one_click(main_window, trained_project, qtbot):
    from PySide6.QtCore import Qt

    from desktop.core.browse import ImageFilter, Show

    assert main_window.open_project_at(trained_project.path)
    images = main_window.context.images
    assert images.wait_loaded()
    everything = images.rowCount()
    main_window._on_filter(ImageFilter(Show.IDS, image_ids=(images.row_at(0).id,), title="One photo"))
    assert images.wait_loaded() and images.rowCount() == 1
    assert main_window.view_bar.isVisible() and "One photo" in main_window.view_title.text()
    assert not main_window.sidebar.filter_view.selectionModel().hasSelection()
    back = next(b for b in main_window.view_bar.findChildren(type(main_window.predict_progress.cancel_button))
                if b.text() == "Show all photos")
    qtbot.mouseClick(back, Qt.MouseButton.LeftButton)
    assert images.wait_loaded() and images.rowCount() == everything
    assert not main_window.view_bar.isVisible()


def test_the_heatmap_caption_is_whole_in_the_narrowest_photo_pane(qtbot):
    """The caption shared its line with the colour ramp and lost 200 px: "Heatmap for: bird…" at 1024x700."""
    from desktop.ui.widgets.preview import HeatmapLegend

    legend = HeatmapLegend()
    qtbot.addWidget(legend)
    legend.resize(330, legend.height())  # the photo pane's legend at 1024x700
    legend.set_caption("Heatmap for: clothes (100%)")
    assert legend.shown_caption() == "Heatmap for: clothes (100%)"
