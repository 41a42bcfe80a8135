"""The training job end to end on tiny real image files."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import CLASS_NAMES, CancelAfter, ImageSet, Run, file_hash

from desktop.ml.checkpoint import load_checkpoint, save_checkpoint
from desktop.ml.options import TrainingOptions
from desktop.ml.splits import NotEnoughData
from desktop.ml.train_record import TrainItem
from desktop.ml.trainer import choose_mode, train
from desktop.progress import PHASE_FEATURES, PHASE_TRAINING, Cancelled, EpochEnd, Notice, Progress


def test_frozen_training_uses_every_image_and_reports_out_of_fold_metrics(frozen_run: Run) -> None:
    result = frozen_run.result
    assert result.mode == "frozen" and result.best_stage == "head"
    assert result.evaluation == "out-of-fold" and result.folds == 5
    assert result.metrics.accuracy >= 0.8  # chance is 1/3
    # Every readable image (45 of 46) trains the final head, and every one is scored by a head that did not see it.
    assert result.train_count == result.val_count == result.metrics.count == 45
    assert sum(result.metrics.support) == 45 and len(result.metrics.confusion) == 3
    assert [item.path for item in result.val_items] == [item.path for item in frozen_run.items[:-1]]
    assert result.features_computed == 45 and result.features_reused == 0
    assert result.history and all(record.stage == "head" for record in result.history)
    assert result.history[-1].train_loss < result.history[0].train_loss
    out_of_fold = result.checkpoint["out_of_fold"]
    assert out_of_fold["probabilities"].shape == (45, 3) and out_of_fold["labels"].tolist() == \
        [item.label for item in frozen_run.items[:-1]]
    assert result.checkpoint["training"]["l2"] > 0
    assert set(result.checkpoint["precision_thresholds"]) == {"0.9", "0.95", "0.99"}


def test_saved_head_gives_calibrated_probabilities(frozen_run: Run) -> None:
    """The temperature is folded into the head: its logits are the final fit's divided by T."""
    from desktop.ml.calibration import expected_calibration_error

    checkpoint = frozen_run.result.checkpoint
    temperature = checkpoint["temperature"]
    assert 0.5 <= temperature <= 20
    calibration = checkpoint["calibration"]
    assert calibration["ece"] == pytest.approx(expected_calibration_error(
        checkpoint["out_of_fold"]["probabilities"], checkpoint["out_of_fold"]["labels"]))
    assert calibration["ece"] <= calibration["ece_uncalibrated"] + 1e-9


def test_an_unreadable_image_is_skipped_and_reported(frozen_run: Run) -> None:
    result = frozen_run.result
    assert [Path(path).name for path, _ in result.skipped] == ["truncated.jpg"]
    assert "truncated" in result.skipped[0][1]
    assert any(isinstance(e, Notice) and "could not be read" in e.message for e in frozen_run.events)
    assert result.checkpoint["training"]["skipped"] == [list(s) for s in result.skipped]


def test_progress_events_are_typed_and_ordered(frozen_run: Run) -> None:
    events = frozen_run.events
    features = [e for e in events if isinstance(e, Progress) and e.phase == PHASE_FEATURES]
    assert features[0].done == 0 and features[-1].done == features[-1].total == 46
    assert all(a.done <= b.done for a, b in itertools.pairwise(features))
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.epoch for e in epochs] == list(range(1, len(epochs) + 1))
    assert epochs[0].eta_seconds is not None and epochs[-1].val_accuracy is not None
    assert events.index(features[-1]) < events.index(epochs[0])


def test_checkpoint_describes_the_model(frozen_run: Run, tmp_path: Path) -> None:
    checkpoint = frozen_run.result.checkpoint
    path = tmp_path / "model.pt"
    save_checkpoint(path, checkpoint)
    loaded = load_checkpoint(path)
    assert loaded["class_names"] == list(CLASS_NAMES)
    assert loaded["backbone"] == "efficientnet_lite0" and loaded["weights"]["source"] == "bundled"
    assert loaded["head"] == {"in_features": 1280, "num_classes": 3, "dropout": 0.2}
    assert loaded["mode"] == "frozen" and loaded["feature_key"].startswith("efficientnet_lite0-")
    assert loaded["metrics"]["accuracy"] == frozen_run.result.metrics.accuracy
    assert loaded["training"]["options"]["mode"] == "frozen"
    # The backbone is the pretrained one its weights identity names: the file holds the head alone (kilobytes).
    assert set(loaded["state_dict"]) == {"head.linear.weight", "head.linear.bias"}
    assert loaded["weights"]["identity"].startswith("blake2b:")
    assert path.stat().st_size < 100_000


def test_second_run_computes_no_features(frozen_run: Run) -> None:
    again = train(TrainingOptions(mode="frozen", batch_size=16), frozen_run.items, CLASS_NAMES, frozen_run.cache_dir)
    assert again.features_computed == 0 and again.features_reused == 45
    # Same seed, same features: the same model, bit for bit.
    first, second = frozen_run.result.checkpoint["state_dict"], again.checkpoint["state_dict"]
    assert all(np.array_equal(first[key], second[key]) for key in first)
    # The seed shuffles the folds: other out-of-fold predictions.
    other_seed = train(TrainingOptions(mode="frozen", batch_size=16, seed=1), frozen_run.items, CLASS_NAMES,
                       frozen_run.cache_dir)
    assert not np.array_equal(frozen_run.result.checkpoint["out_of_fold"]["probabilities"],
                              other_seed.checkpoint["out_of_fold"]["probabilities"])


def test_features_are_keyed_by_content_not_path(frozen_run: Run, image_set: ImageSet, tmp_path: Path) -> None:
    moved = []
    for index, item in enumerate(frozen_run.items[:-1]):  # without the broken file
        target = tmp_path / "renamed" / f"{index:03d}{Path(item.path).suffix}"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(Path(item.path).read_bytes())
        moved.append(TrainItem(target, item.content_hash, item.label, item.split))
    edited = Path(moved[0].path)
    cv2.imwrite(str(edited), np.full((70, 70, 3), 200, np.uint8))
    moved[0] = TrainItem(edited, file_hash(edited), moved[0].label, moved[0].split)
    result = train(TrainingOptions(mode="frozen", batch_size=16), moved, CLASS_NAMES, frozen_run.cache_dir)
    assert result.features_computed == 1 and result.features_reused == 44


def test_not_enough_data_is_raised_before_any_work(image_set: ImageSet, tmp_path: Path) -> None:
    items = [item for item in image_set.items() if item.label != 2 or item.split == "val"][:-2]
    events = []
    with pytest.raises(NotEnoughData, match="“checks” has 2 labelled images") as caught:
        train(TrainingOptions(), items, CLASS_NAMES, tmp_path / "cache", on_progress=events.append)
    assert "each class needs at least 3" in str(caught.value)
    assert events == [] and not (tmp_path / "cache").exists()


def test_skipped_images_can_leave_too_little_data(frozen_run: Run, broken_jpeg: Path) -> None:
    items = [item for item in frozen_run.items[:-1] if item.label != 2]  # [-1] is the broken JPEG
    checks = [TrainItem(broken_jpeg, f"broken{i}", 2, split) for i, split in enumerate(["train", "train", "val"])]
    with pytest.raises(NotEnoughData, match="3 unreadable photos were left out"):
        train(TrainingOptions(mode="frozen"), items + checks, CLASS_NAMES, frozen_run.cache_dir)


def test_auto_mode_prefers_the_frozen_backbone_for_few_images_or_a_cpu() -> None:
    assert choose_mode([5, 100], torch.device("cuda")) == "frozen"
    assert choose_mode([100, 100], torch.device("cuda")) == "finetune"
    assert choose_mode([500, 500], torch.device("cpu")) == "frozen"


def test_cancel_during_feature_computation_stops_within_two_seconds(image_set: ImageSet, tmp_path: Path,
                                                                    cancel_token: CancelAfter) -> None:
    def on_progress(event) -> None:
        if isinstance(event, Progress) and event.phase == PHASE_FEATURES and event.done > 0:
            cancel_token.trip()

    with pytest.raises(Cancelled):
        train(TrainingOptions(mode="frozen", batch_size=4), image_set.items(), CLASS_NAMES, tmp_path / "cache",
              on_progress=on_progress, cancel=cancel_token)
    assert cancel_token.tripped_at is not None
    assert time.perf_counter() - cancel_token.tripped_at < 2.0
    # What was computed before the cancel is kept: the next run starts from there.
    again = train(TrainingOptions(mode="frozen", batch_size=16), image_set.items(), CLASS_NAMES, tmp_path / "cache")
    assert 4 <= again.features_reused < 45 and again.features_computed == 45 - again.features_reused


def test_cancel_mid_batch_is_honoured_between_backbone_blocks(image_set: ImageSet, tmp_path: Path,
                                                              cancel_token: CancelAfter) -> None:
    """A cancel that arrives while a large batch is inside the network does not wait for the batch to end."""
    import threading

    # Shortly after the one batch of 45 images starts (a fixed delay from the start raced a whole run that, on
    # cached ONNX and a fast head, can now end within it).
    timer = threading.Timer(0.1, cancel_token.trip)

    def on_progress(event) -> None:
        if isinstance(event, Progress) and event.phase == PHASE_FEATURES and event.done == 0 and event.total:
            timer.start()

    try:
        with pytest.raises(Cancelled):
            train(TrainingOptions(mode="frozen", batch_size=45, num_workers=0), image_set.items(), CLASS_NAMES,
                  tmp_path / "cache", on_progress=on_progress, cancel=cancel_token)
    finally:
        timer.cancel()
    assert time.perf_counter() - cancel_token.tripped_at < 1.0


def test_finetuning_runs_and_keeps_the_better_stage(finetune_run: Run) -> None:
    result = finetune_run.result
    stages = [record.stage for record in result.history]
    assert "head" in stages and stages[-2:] == ["finetune", "finetune"]
    finetune = [record for record in result.history if record.stage == "finetune"]
    assert all(np.isfinite(record.train_loss) and np.isfinite(record.val_loss) for record in finetune)
    head_best = min(record.val_loss for record in result.history if record.stage == "head")
    # A fine-tuned backbone is saved with its head; a frozen one is the pretrained weights, not saved again.
    saved_backbone = any(key.startswith("backbone.") for key in result.checkpoint["state_dict"])
    assert saved_backbone == (result.mode == "finetune")
    if result.best_stage == "finetune":
        assert result.mode == "finetune" and result.checkpoint["feature_key"] is None
        assert min(record.val_loss for record in finetune) < head_best
    else:
        assert result.mode == "frozen" and min(record.val_loss for record in finetune) >= head_best
    assert any(isinstance(e, Notice) and "Fine-tuning the last" in e.message for e in finetune_run.events)
    assert any(isinstance(e, Progress) and e.phase == PHASE_TRAINING and e.total == 3 for e in finetune_run.events)


def test_cancel_during_finetuning_stops_within_two_seconds(finetune_run: Run, small_image_set: ImageSet,
                                                           cancel_token: CancelAfter) -> None:
    def on_progress(event) -> None:
        if isinstance(event, Progress) and event.phase == PHASE_TRAINING and event.total == 3 and event.done == 1:
            cancel_token.trip()

    with pytest.raises(Cancelled):
        train(TrainingOptions(mode="finetune", epochs=2, batch_size=4), finetune_run.items,
              small_image_set.class_names, finetune_run.cache_dir, on_progress=on_progress, cancel=cancel_token)
    assert cancel_token.tripped_at is not None
    assert time.perf_counter() - cancel_token.tripped_at < 2.0


def test_torchvision_backbone_with_local_weights_trains(small_image_set: ImageSet, tmp_path: Path) -> None:
    """ResNet-18 with a (random) weights file in the hub cache: loads strictly, fine-tunes one epoch."""
    import torchvision

    from desktop.ml.backbones import get_backbone, hub_weights_path

    target = hub_weights_path(get_backbone("resnet18"))
    target.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), target)
    result = train(TrainingOptions(backbone="resnet18", mode="finetune", epochs=1, batch_size=4),
                   small_image_set.items(), small_image_set.class_names, tmp_path / "cache")
    assert [r.stage for r in result.history].count("finetune") == 1
    assert result.checkpoint["backbone"] == "resnet18"
    assert result.checkpoint["head"]["in_features"] == 512
    assert result.checkpoint["weights"]["source"] == "downloaded"
    assert result.checkpoint["mean"] == [0.485, 0.456, 0.406]


def test_frozen_training_without_weights_is_refused(small_image_set: ImageSet, tmp_path: Path) -> None:
    from desktop.ml.backbones import WeightsError

    with pytest.raises(WeightsError, match="not on this computer"):
        train(TrainingOptions(backbone="resnet18", mode="frozen"), small_image_set.items(),
              small_image_set.class_names, tmp_path / "cache")


def test_frozen_mode_needs_pretrained_weights(small_image_set: ImageSet, tmp_path: Path) -> None:
    from desktop.ml.backbones import WeightsError

    with pytest.raises(WeightsError, match="Frozen training needs pretrained weights"):
        train(TrainingOptions(mode="frozen", pretrained=False), small_image_set.items(), small_image_set.class_names,
              tmp_path / "cache")
