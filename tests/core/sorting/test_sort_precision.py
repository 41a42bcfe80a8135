"""Sorting by precision: per-class thresholds from a real model's calibrated held-out predictions.

A frozen model is trained on generated shape pictures (every class has enough photos for the Wilson bound to
reach 90 %), then a second folder of unlabelled shapes is sorted with ``--precision``: the share of the photos
sorted by prediction that landed in their true class must be at least the asked precision, up to the sampling
error of that many photos.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import imagemakers
import pytest

from desktop.cli import main
from desktop.core import sorting
from desktop.core.importer import import_folder
from desktop.core.predicting import predict_project
from desktop.core.project import Project, open_project
from desktop.core.sorting import UNSURE, SortRequest, plan_sort
from desktop.ml.calibration import thresholds_for_precision
from desktop.ml.checkpoint import load_checkpoint, save_checkpoint

PER_CLASS = 45  # n / (n + z^2) >= 0.9 for n >= 36 (z = 2): every class can reach 90 %
HELD_OUT = 20


@pytest.fixture(scope="module")
def precise_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from desktop.core.training import train_project
    from desktop.ml.options import TrainingOptions

    base = tmp_path_factory.mktemp("precise")
    labelled = imagemakers.write_shape_folders(base / "labelled", per_class=PER_CLASS, seed=0)
    imagemakers.write_shape_folders(base / "new", per_class=HELD_OUT, seed=1)
    with open_project(base / "shapes.pigeonhole") as project:
        import_folder(project, labelled, labels_from_subfolders=True)
        train_project(project, TrainingOptions(mode="frozen", epochs=15))
        import_folder(project, base / "new", labels_from_subfolders=False)
        predict_project(project, "unlabelled")
    return base


@pytest.fixture
def precise(precise_template: Path, tmp_path: Path) -> Iterator[tuple[Path, Project]]:
    from desktop.core.folders import list_folders, relink_folder

    copy = tmp_path / "precise"
    shutil.copytree(precise_template, copy)
    with open_project(copy / "shapes.pigeonhole", create=False) as project:
        for folder in list_folders(project):
            relink_folder(project, folder.id, copy / Path(folder.root).name)
        yield copy, project


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _true_class(path: Path) -> str:
    return path.name.split("_")[0]  # write_shape_folders names photos <class>_NN


def test_precision_sort_keeps_its_promise_on_new_photos(precise, capsys, tmp_path: Path) -> None:
    base, project = precise
    wanted = 0.9
    dest = tmp_path / "sorted"
    code, out, err = _cli(capsys, "sort", str(project.path), "--dest", str(dest), "--folder", str(base / "new"),
                          "--precision", str(wanted), "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["precision"] == wanted and payload["threshold"] is None
    thresholds = payload["thresholds"]
    assert set(thresholds) == set(imagemakers.SHAPE_CLASSES)
    assert all(t is not None and 0 < t <= 1 for t in thresholds.values())
    assert payload["done"] == payload["planned"] == HELD_OUT * len(imagemakers.SHAPE_CLASSES)

    sorted_ok = sorted_total = 0
    for class_name in imagemakers.SHAPE_CLASSES:
        for photo in (dest / class_name).glob("*"):
            sorted_total += 1
            sorted_ok += _true_class(photo) == class_name
    assert sorted_total > 0
    tolerance = 3 * math.sqrt(wanted * (1 - wanted) / sorted_total)  # three standard errors of this sample
    assert sorted_ok / sorted_total >= wanted - tolerance
    # Every photo below its class's threshold went to _unsure, every one at or above it was sorted.
    plan = plan_sort(project, SortRequest(tmp_path / "again", precision=wanted))
    for op in plan.operations:
        if op.why == "prediction":
            assert op.confidence >= thresholds[op.class_name]
        elif op.why == "unsure":
            assert op.class_name == UNSURE
    unsure_names = {p.name for p in (dest / UNSURE).glob("*")}
    by_name = {op.source.name: op for op in plan.operations if op.source.is_relative_to(base / "new")}
    for name in unsure_names:
        op = by_name[name]
        assert op.why in ("unsure", "unreachable", "unpredicted")
    expected = sum(1 - op.confidence for op in plan.operations
                   if op.why == "prediction" and op.source.is_relative_to(base / "new"))
    assert payload["expected_mistakes"] == pytest.approx(expected, abs=0.01)
    # The journal says which rule sorted them.
    assert sorting.list_sorts(project)[0].rule == "precision 90%"
    assert sorting.sort_result(project, payload["sort_id"]).rule["thresholds"] == thresholds


def test_a_precision_not_stored_is_computed_from_the_held_out_predictions(precise, tmp_path: Path) -> None:
    _base, project = precise
    with project.sessions() as session:
        from sqlalchemy import select

        from desktop.db.models import TrainedModel

        model_file = project.path / session.scalar(select(TrainedModel.file))
    checkpoint = load_checkpoint(model_file)
    oof = checkpoint["out_of_fold"]
    expected = thresholds_for_precision(oof["probabilities"].numpy(), oof["labels"].numpy(), 0.93)
    plan = plan_sort(project, SortRequest(tmp_path / "out", precision=0.93))
    assert plan.precision == 0.93 and list(plan.class_thresholds.values()) == expected
    stored = plan_sort(project, SortRequest(tmp_path / "out", precision=0.95))
    assert list(stored.class_thresholds.values()) == checkpoint["precision_thresholds"]["0.95"]


def test_a_class_that_cannot_reach_the_precision_goes_to_unsure(trained_project: Project, capsys,
                                                                  tmp_path: Path) -> None:
    # 8 labelled photos per class: the Wilson bound of 8 right out of 8 is 0.67, so no class reaches 90 %.
    predict_project(trained_project, "all")
    code, out, err = _cli(capsys, "sort", str(trained_project.path), "--dest", str(tmp_path / "s"),
                          "--no-follow-labels", "--precision", "0.9", "--dry-run", "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["per_class"] == {UNSURE: 24} and set(payload["thresholds"].values()) == {None}
    for name in imagemakers.SHAPE_CLASSES:
        assert f"pigeonhole: note: no threshold of class “{name}” reaches precision 90%" in err


def test_an_old_model_without_thresholds_falls_back_to_the_threshold(trained_project: Project, capsys,
                                                                      tmp_path: Path) -> None:
    predict_project(trained_project, "all")
    with trained_project.sessions() as session:
        from sqlalchemy import select

        from desktop.db.models import TrainedModel

        model_file = trained_project.path / session.scalar(select(TrainedModel.file))
    checkpoint = load_checkpoint(model_file)
    del checkpoint["precision_thresholds"], checkpoint["out_of_fold"]  # what models saved before calibration hold
    save_checkpoint(model_file, checkpoint)
    code, out, err = _cli(capsys, "sort", str(trained_project.path), "--dest", str(tmp_path / "s"),
                          "--no-follow-labels", "--precision", "0.95", "--dry-run", "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["precision"] is None and payload["threshold"] == 0.5
    assert err.count("\n") == 1 and err.startswith("pigeonhole: warning: Model #1 has no calibrated thresholds")
    assert "confidence threshold 0.50 instead" in err


def test_precision_and_threshold_together_is_one_sentence(trained_project: Project, capsys,
                                                          tmp_path: Path) -> None:
    code, out, err = _cli(capsys, "sort", str(trained_project.path), "--dest", str(tmp_path / "s"),
                          "--precision", "0.95", "--threshold", "0.6")
    assert (code, out) == (1, "")
    assert err == "pigeonhole: error: Use --precision or --threshold, not both.\n"
    code, _out, err = _cli(capsys, "sort", str(trained_project.path), "--dest", str(tmp_path / "s"),
                           "--precision", "1.5")
    assert code == 1 and err == "pigeonhole: error: --precision must be between 0 and 1 (for example 0.95).\n"
