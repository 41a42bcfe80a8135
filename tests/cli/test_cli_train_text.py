"""`pigeonhole train`'s human report: how the accuracy was measured, and each class's precision and recall."""

from __future__ import annotations

from desktop.cli.training_commands import summary_text
from desktop.core.training_types import TrainingSummary

SCORES = {"cats": {"precision": 0.9, "recall": 0.75, "f1": 0.82, "support": 8},
          "long class name": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 12}}


def _summary(**changes) -> TrainingSummary:
    fields = dict(model_id=4, backbone="efficientnet_lite0", mode="frozen", device="cpu",
                  classes=list(SCORES), train_images=20, val_images=20, val_accuracy=0.85, per_class=SCORES,
                  confusion=[[6, 2], [0, 12]], seconds=3.21, evaluation="out-of-fold", folds=5)
    return TrainingSummary(**(fields | changes))


def test_out_of_fold_accuracy_says_so_and_each_class_has_a_row() -> None:
    lines = summary_text(_summary()).splitlines()
    assert lines[0] == ("Model 4 is now active: 85.0% of 20 photos right when held out (5-fold cross-validation), "
                        "trained on 20 photos in 3.2 s — Fast (EfficientNet-Lite0), frozen features, on the CPU.")
    assert [line.split() for line in lines[1:]] == [
        ["class", "precision", "recall", "photos"],
        ["cats", "90.0%", "75.0%", "8"],
        ["long", "class", "name", "100.0%", "100.0%", "12"]]
    assert lines[1].index("precision") + len("precision") == lines[2].index("90.0%") + len("90.0%")  # aligned


def test_a_validation_split_and_no_accuracy() -> None:
    text = summary_text(_summary(evaluation="validation", folds=None, val_images=6, val_accuracy=None,
                                 per_class={}))
    assert text == ("Model 4 is now active: n/a of 6 validation photos right, trained on 20 photos in 3.2 s — "
                    "Fast (EfficientNet-Lite0), frozen features, on the CPU.")
