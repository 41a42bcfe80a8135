"""The Train tab trains the model the command line trains from the same photos and seed, bit for bit, though the
two projects imported the photos in different orders (issue #27)."""

from __future__ import annotations

import imagemakers
import numpy as np
import pytest
from PySide6.QtCore import Qt

from desktop.cli import main
from desktop.core import importer
from desktop.core.models_registry import active_model
from desktop.core.project import open_project
from desktop.ml.checkpoint import load_checkpoint

pytestmark = pytest.mark.gui


def active_checkpoint(path):
    with open_project(path, create=False) as project:
        return load_checkpoint(active_model(project).file)


def test_the_train_tab_trains_the_model_the_command_line_trains(main_window, tmp_path, qtbot, monkeypatch):
    labelled, _ = imagemakers.write_lookalike_classes(tmp_path / "photos")
    on_the_command_line = tmp_path / "cli.pigeonhole"
    assert main(["import", str(on_the_command_line), str(labelled), "--labels-from-subfolders"]) == 0
    assert main(["train", str(on_the_command_line), "--seed", "0", "--mode", "frozen"]) == 0

    in_the_window = tmp_path / "gui.pigeonhole"
    scan = importer.scan_images  # the files last first: other ids, as a parallel import may hand them out
    monkeypatch.setattr(importer, "scan_images", lambda root, **kw: list(reversed(list(scan(root, **kw)))))
    assert main(["import", str(in_the_window), str(labelled), "--labels-from-subfolders"]) == 0
    assert main_window.open_project_at(in_the_window)
    main_window.show_training()
    panel = main_window.train_panel
    qtbot.waitUntil(lambda: panel.backbone.count() > 0 and panel.train_button.isEnabled(), timeout=30_000)
    panel.mode.setCurrentIndex(panel.mode.findData("frozen"))
    panel.seed.setValue(0)
    with qtbot.waitSignal(main_window.controllers.training.trained, timeout=120_000):
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)

    cli, gui = active_checkpoint(on_the_command_line), active_checkpoint(in_the_window)
    assert cli["class_names"] == gui["class_names"] == ["cats", "dogs", "owls"]
    assert cli["temperature"] == gui["temperature"]
    assert cli["precision_thresholds"] == gui["precision_thresholds"]
    assert np.array_equal(cli["out_of_fold"]["probabilities"], gui["out_of_fold"]["probabilities"])
    for key, value in cli["state_dict"].items():
        assert np.array_equal(value, gui["state_dict"][key]), key
