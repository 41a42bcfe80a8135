"""Training a project: data gathering, sticky splits, the saved model, metrics, cancel and the CLI."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import imagemakers
import numpy as np
import pytest
from sqlalchemy import func, select

from desktop.cli import main
from desktop.core.classes import rename_class
from desktop.core.importer import import_folder
from desktop.core.labels import set_label
from desktop.core.models_registry import active_model, list_models
from desktop.core.training import gather_training_data, train_project
from desktop.core.training_types import TrainingProgress
from desktop.db.models import Image, ImageClass, Label
from desktop.ml.checkpoint import load_checkpoint
from desktop.ml.options import TrainingOptions
from desktop.ml.splits import NotEnoughData
from desktop.progress import Cancelled

QUICK = TrainingOptions(mode="frozen", epochs=8)


def splits_of(project) -> dict[int, str | None]:
    with project.sessions() as session:
        return dict(session.execute(select(Image.id, Image.split)).all())


def test_trained_model_is_active_saved_safely_and_well_above_chance(trained_project):
    model = active_model(trained_project)
    assert model is not None and model.is_active
    assert model.class_names == ["checks", "discs", "stripes"]  # classes are created in folder order
    assert model.file.is_file() and model.file.parent == trained_project.models_dir
    checkpoint = load_checkpoint(model.file)  # weights_only=True inside
    assert checkpoint["class_names"] == model.class_names
    assert checkpoint["backbone"] == "efficientnet_lite0" and checkpoint["mode"] == "frozen"
    # Frozen mode: the final head learnt from all 24 labelled photos, and each was scored out-of-fold.
    assert model.train_images == model.val_images == 24
    # 3 classes: chance is 33 %.
    assert model.val_accuracy is not None and model.val_accuracy >= 0.8
    metrics = model.metrics
    assert sum(map(sum, metrics["confusion"])) == 24
    assert len(metrics["precision"]) == 3
    assert metrics["evaluation"] == "out-of-fold" and metrics["folds"] == 5
    assert metrics["temperature"] == pytest.approx(checkpoint["temperature"], abs=1e-4)
    assert 0 <= metrics["ece"] <= 1 and sum(metrics["reliability"]["counts"]) == 24


def test_summary_reports_metrics_history_and_the_images_behind_each_confusion_cell(trained_project):
    seen: list[TrainingProgress] = []
    summary = train_project(trained_project, QUICK, on_progress=seen.append)
    assert summary.model_id == active_model(trained_project).id
    assert len(list_models(trained_project)) == 2
    assert summary.classes == ["checks", "discs", "stripes"]
    assert summary.device == "cpu"
    assert {"preparing", "features", "training"} <= {p.phase for p in seen}
    assert len(summary.history) >= 1 and seen[-1].history  # curves have points
    assert any(p.message.startswith("Cross-validating") for p in seen)
    assert summary.evaluation == "out-of-fold" and summary.val_images == 24
    cells = summary.confusion_images
    assert sum(len(ids) for ids in cells.values()) == summary.val_images
    for (true, predicted), ids in cells.items():
        assert summary.confusion[true][predicted] == len(ids)
    assert {i for ids in cells.values() for i in ids} == set(splits_of(trained_project))  # every labelled photo
    assert set(summary.per_class) == set(summary.classes)
    assert all(set(v) == {"precision", "recall", "f1", "support"} for v in summary.per_class.values())


def test_split_is_stored_and_stable_when_photos_are_added(trained_project, tmp_path):
    before = splits_of(trained_project)
    assert set(before.values()) == {"train", "val"}
    more = imagemakers.write_shape_folders(tmp_path / "more", per_class=6, seed=7)
    import_folder(trained_project, more, labels_from_subfolders=True)
    train_project(trained_project, QUICK)
    after = splits_of(trained_project)
    assert all(after[image_id] == split for image_id, split in before.items())
    new = [split for image_id, split in after.items() if image_id not in before]
    assert len(new) == 18 and "val" in new and "train" in new
    assert sum(split == "val" for split in after.values()) / len(after) == pytest.approx(0.2, abs=0.06)


def test_changing_a_label_keeps_the_split(trained_project):
    before = splits_of(trained_project)
    data = gather_training_data(trained_project)
    moved = data.items[0].key
    with trained_project.sessions() as session:
        stripes = session.scalar(select(ImageClass.id).where(ImageClass.name == "stripes"))
    set_label(trained_project, [moved], stripes)
    assert splits_of(trained_project)[moved] == before[moved]


def test_not_enough_data_says_what_to_label(project, photo_folder):
    import_folder(project, photo_folder({"cats": 5, "dogs": 2}), labels_from_subfolders=True)
    with pytest.raises(NotEnoughData, match=r"at least 3 photos in each of at least 2 classes \(now: cats 5, dogs 2\)"):
        train_project(project, QUICK)
    assert list_models(project) == []


def test_a_class_with_too_few_photos_is_left_out_and_named(trained_project, tmp_path):
    extra = imagemakers.write_shape_folders(tmp_path / "extra", per_class=2, classes=("lonely",))
    import_folder(trained_project, extra, labels_from_subfolders=True)
    summary = train_project(trained_project, QUICK)
    assert summary.classes == ["checks", "discs", "stripes"]
    assert any("lonely" in note for note in summary.notes)


def test_cancel_leaves_the_active_model_and_the_models_folder_unchanged(trained_project):
    before = active_model(trained_project)
    files_before = sorted(trained_project.models_dir.iterdir())
    cancel = threading.Event()

    def on_progress(progress: TrainingProgress) -> None:
        if progress.phase == "training":
            cancel.set()

    with pytest.raises(Cancelled):
        train_project(trained_project, QUICK, on_progress=on_progress, cancel=cancel)
    assert active_model(trained_project) == before
    assert sorted(trained_project.models_dir.iterdir()) == files_before


def test_labels_of_broken_or_missing_photos_are_not_used(trained_project):
    data = gather_training_data(trained_project)
    victim = data.items[0]
    Path(victim.path).write_bytes(b"not an image any more")
    import_folder(trained_project, trained_project.path.parent / "photos")  # re-scan finds it changed
    keys = {item.key for item in gather_training_data(trained_project).items}
    assert victim.key not in keys
    with trained_project.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Label)) == 24  # the label itself is kept


def test_photos_changed_or_deleted_since_import_are_left_out(trained_project):
    """Their cached features (keyed by the content hash taken at import) would describe another picture."""
    data = gather_training_data(trained_project)
    edited, deleted = Path(data.items[0].path), Path(data.items[9].path)
    edited.write_bytes(edited.read_bytes() + b"changed")  # not re-scanned: the database still has the old hash
    deleted.unlink()
    again = gather_training_data(trained_project)
    assert {edited, deleted} == set(again.changed)
    assert {data.items[0].key, data.items[9].key}.isdisjoint(item.key for item in again.items)
    summary = train_project(trained_project, QUICK)
    assert summary.train_images == 22
    assert any("2 labelled photos were left out because they changed" in note for note in summary.notes)


def test_cli_train_json_has_the_documented_shape(trained_project, capsys):
    path = str(trained_project.path)
    assert main(["train", path, "--mode", "frozen", "--epochs", "5", "--seed", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"model_id", "backbone", "mode", "device", "classes", "train_images", "val_images",
                           "val_accuracy", "per_class", "confusion", "seconds", "evaluation", "oof_accuracy",
                           "oof_images", "folds", "ece", "temperature", "predictions"}
    assert set(result["predictions"]) == {"predicted", "already", "unreadable", "seconds"}
    assert result["backbone"] == "efficientnet_lite0" and result["mode"] == "frozen"
    assert result["classes"] == ["checks", "discs", "stripes"]
    assert result["train_images"] == result["val_images"] == result["oof_images"] == 24
    assert result["evaluation"] == "out-of-fold" and result["folds"] == 5
    assert 0.0 <= result["val_accuracy"] == result["oof_accuracy"] <= 1.0
    assert 0.0 <= result["ece"] <= 1.0 and result["temperature"] > 0
    assert len(result["confusion"]) == 3


def test_cli_train_refuses_with_one_sentence_when_there_is_too_little_data(project, photo_folder, capsys):
    import_folder(project, photo_folder({"cats": 1}), labels_from_subfolders=True)
    assert main(["train", str(project.path), "--json"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pigeonhole: error: Not enough labelled images to train")
    assert "Traceback" not in err


def test_same_seed_gives_the_same_model(trained_project):
    options = TrainingOptions(mode="frozen", epochs=4, seed=5, warm_start=False)
    first = train_project(trained_project, options)
    second = train_project(trained_project, options)
    a = load_checkpoint(next(m.file for m in list_models(trained_project) if m.id == first.model_id))
    b = load_checkpoint(next(m.file for m in list_models(trained_project) if m.id == second.model_id))
    assert np.array_equal(a["state_dict"]["head.linear.weight"], b["state_dict"]["head.linear.weight"])


def test_retrain_warm_starts_from_the_active_models_head(trained_project):
    one_epoch = TrainingOptions(mode="frozen", epochs=1, seed=2)
    cold = train_project(trained_project, replace(one_epoch, warm_start=False))
    warm = train_project(trained_project, one_epoch)  # starts from `cold`'s head
    assert any("3 of 3 classes carried over" in note for note in warm.notes)
    assert not any("carried over" in note for note in cold.notes)
    # A head that starts where a trained one stopped is far ahead of a fresh one from the first step.
    assert warm.history[0].train_loss < cold.history[0].train_loss


def test_warm_start_follows_renamed_classes_and_starts_added_ones_fresh(trained_project, tmp_path):
    with trained_project.sessions() as session:
        discs = session.scalar(select(ImageClass.id).where(ImageClass.name == "discs"))
    rename_class(trained_project, discs, "circles")
    import_folder(trained_project, imagemakers.write_shape_folders(tmp_path / "rings", per_class=5, seed=9,
                                                                   classes=("rings",)),
                  labels_from_subfolders=True)
    summary = train_project(trained_project, QUICK)
    assert summary.classes == ["checks", "circles", "stripes", "rings"]
    assert any("3 of 4 classes carried over" in note for note in summary.notes)
    assert len(load_checkpoint(active_model(trained_project).file)["class_names"]) == 4
