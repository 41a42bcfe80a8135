"""The grid's model lists a large project's photos in the background: a listing that fails there must end the
loading (the grid waited for ever: "loading", selections deferred) and say why, and the next listing recovers."""

from __future__ import annotations

from pathlib import Path

import imagemakers as mk
import pytest

from desktop.core.importer import import_folder
from desktop.core.project import open_project
from desktop.errors import PigeonholeError
from desktop.ui.models import images as images_module
from desktop.ui.models.images import ImageListModel
from desktop.ui.widgets.grid import ThumbnailGrid

pytestmark = pytest.mark.gui


def test_a_listing_that_fails_in_the_background_ends_the_loading(qtbot, tmp_path: Path, monkeypatch) -> None:
    for index in range(3):
        mk.write_jpeg(tmp_path / "photos" / f"{index}.jpg", 32, 24, seed=index)
    monkeypatch.setattr(images_module, "BACKGROUND_QUERY_THRESHOLD", 0)  # every listing in the background
    real_list = images_module.list_images

    def broken(project, image_filter):
        raise PigeonholeError("The project's database is busy with another program.")

    with open_project(tmp_path / "p") as project:
        import_folder(project, tmp_path / "photos", workers=1)
        model = ImageListModel()
        grid = ThumbnailGrid()
        qtbot.addWidget(grid)
        grid.setModel(model)
        loading: list[bool] = []
        model.loading_changed.connect(loading.append)
        monkeypatch.setattr(images_module, "list_images", broken)
        with qtbot.waitSignal(model.load_failed, timeout=10_000) as failed:
            model.set_project(project, None)
        assert failed.args == ["The project's database is busy with another program."]
        assert loading == [True, False] and model.rowCount() == 0
        assert model.load_error and not grid._model_loading  # selections are no longer deferred for ever

        monkeypatch.setattr(images_module, "list_images", real_list)
        with qtbot.waitSignal(model.loading_changed, timeout=10_000, check_params_cb=lambda busy: not busy):
            model.reload()
        assert model.rowCount() == 3 and model.load_error == ""
        assert model.wait_loaded()
