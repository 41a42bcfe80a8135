"""Sorting by precision: per-class thresholds from a real model's calibrated held-out predictions.

A frozen model is trained on generated shape pictures, then a second folder of unlabelled shapes is sorted with
``--precision``: the share of the photos sorted by prediction that landed in their true class must be at least
the asked precision, up to the sampling error of that many photos. The thresholds come from the held-out
predictions the models row keeps (no torch needed), or an older model's file.
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
from desktop.db.models import TrainedModel
from desktop.ml.checkpoint import load_checkpoint, save_checkpoint
from desktop.ml.precision import HeldOut, class_rules, expected_mistakes
from desktop.ml.precision import thresholds as precision_thresholds

PER_CLASS = 20  # a first project
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
    rules = class_rules(_held_out(project), wanted)
    names = list(imagemakers.SHAPE_CLASSES)
    expected = expected_mistakes(rules, [(names.index(op.class_name), op.confidence) for op in plan.operations
                                         if op.why == "prediction" and op.source.is_relative_to(base / "new")])
    assert payload["expected_mistakes"] == pytest.approx(expected.expected, abs=0.01)
    # The journal says which rule sorted them.
    assert sorting.list_sorts(project)[0].rule == "precision 90%"
    assert sorting.sort_result(project, payload["sort_id"]).rule["thresholds"] == thresholds


def _held_out(project: Project) -> HeldOut:
    from sqlalchemy import select

    with project.sessions() as session:
        return HeldOut.from_dict(session.scalar(select(TrainedModel.metrics))["held_out"],
                                 len(imagemakers.SHAPE_CLASSES))


def _model_file(project: Project) -> Path:
    from sqlalchemy import select

    with project.sessions() as session:
        return project.path / session.scalar(select(TrainedModel.file))


def test_any_precision_is_computed_from_the_held_out_predictions_in_the_models_row(precise, tmp_path: Path) -> None:
    _base, project = precise
    held_out = _held_out(project)
    assert held_out.source == "out-of-fold" and len(held_out) == PER_CLASS * len(imagemakers.SHAPE_CLASSES)
    plan = plan_sort(project, SortRequest(tmp_path / "out", precision=0.93))
    assert plan.precision == 0.93 and list(plan.class_thresholds.values()) == precision_thresholds(held_out, 0.93)
    # The model file keeps the same record (arrays) and the thresholds of the usual precisions.
    checkpoint = load_checkpoint(_model_file(project))
    oof = checkpoint["out_of_fold"]
    from_file = HeldOut.from_probabilities(oof["probabilities"], oof["labels"])
    assert precision_thresholds(from_file, 0.95) == pytest.approx(precision_thresholds(held_out, 0.95), abs=1e-5)
    assert checkpoint["precision_thresholds"]["0.95"] == pytest.approx(precision_thresholds(held_out, 0.95), abs=1e-5)
    # An older model, whose row keeps no held-out predictions: read from its file.
    with project.sessions() as session:
        from sqlalchemy import select

        row = session.scalar(select(TrainedModel))
        row.metrics = {key: value for key, value in row.metrics.items() if key != "held_out"}
        session.commit()
    older = plan_sort(project, SortRequest(tmp_path / "out", precision=0.95))
    assert list(older.class_thresholds.values()) == pytest.approx(precision_thresholds(from_file, 0.95))


def test_a_first_project_sorts_most_new_photos_by_the_default_rule(precise, capsys, tmp_path: Path) -> None:
    """20 labelled photos per class: the rule it replaced sent every photo to _unsure. The CLI's default is the
    dialog's (precision 95 %), with how sure the expected mistakes are."""
    base, project = precise
    dest = tmp_path / "sorted"
    code, out, err = _cli(capsys, "sort", str(project.path), "--dest", str(dest), "--folder", str(base / "new"),
                          "--dry-run", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["precision"] == sorting.DEFAULT_PRECISION and payload["threshold"] is None
    total = HELD_OUT * len(imagemakers.SHAPE_CLASSES)
    assert sum(n for name, n in payload["per_class"].items() if name != UNSURE) >= total / 2, payload["per_class"]
    plan = plan_sort(project, SortRequest(dest, precision=sorting.DEFAULT_PRECISION, folder_id=None,
                                          image_ids=None))
    low, high = plan.mistakes_range
    assert low <= plan.expected_mistakes <= high


def test_a_class_that_cannot_reach_the_precision_goes_to_unsure_with_advice(trained_project: Project, capsys,
                                                                              tmp_path: Path) -> None:
    predict_project(trained_project, "all")
    # The held-out check found the photos predicted the first class wrong (they were the second's).
    with trained_project.sessions() as session:
        from sqlalchemy import select

        row = session.scalar(select(TrainedModel))
        first_class, second_class = row.class_names[:2]  # the model's own order
        record = dict(row.metrics)["held_out"]
        first = [i for i, c in enumerate(record["predicted"]) if c == 0]
        labels = list(record["true"])
        for i in first:
            labels[i] = 1
        row.metrics = {**row.metrics, "held_out": {**record, "true": labels}}
        session.commit()
    code, out, err = _cli(capsys, "sort", str(trained_project.path), "--dest", str(tmp_path / "s"),
                          "--no-follow-labels", "--precision", "0.9", "--dry-run", "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["thresholds"][first_class] is None and first_class not in payload["per_class"]
    assert f"pigeonhole: note: no threshold of class “{first_class}” reaches precision 90%" in err
    assert f"predicted “{first_class}” stayed unsure" in err and f"(mostly “{second_class}”)" in err
    assert "Label about" in err


def test_an_old_model_without_thresholds_falls_back_to_the_threshold(trained_project: Project, capsys,
                                                                      tmp_path: Path) -> None:
    predict_project(trained_project, "all")
    with trained_project.sessions() as session:
        from sqlalchemy import select

        row = session.scalar(select(TrainedModel))
        model_file = trained_project.path / row.file
        row.metrics = {key: value for key, value in row.metrics.items() if key != "held_out"}
        session.commit()
    checkpoint = load_checkpoint(model_file)
    # What models saved before calibration hold: neither the row nor the file has held-out predictions.
    del checkpoint["precision_thresholds"], checkpoint["out_of_fold"]
    save_checkpoint(model_file, checkpoint)
    code, out, err = _cli(capsys, "sort", str(trained_project.path), "--dest", str(tmp_path / "s"),
                          "--no-follow-labels", "--precision", "0.95", "--dry-run", "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["precision"] is None and payload["threshold"] == 0.5
    warning, *notes = err.splitlines()
    assert warning.startswith("pigeonhole: warning: Model #1 keeps no held-out predictions")
    assert all(line.startswith("pigeonhole: note: ") for line in notes)
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


def test_the_expected_mistakes_in_words() -> None:
    from desktop.core.sorting import mistakes_sentence

    assert mistakes_sentence(3.24, (1, 6), 120) == ("about 3.2 of the 120 sorted by prediction expected in a wrong "
                                                    "folder (likely 1 to 6)")
    assert mistakes_sentence(0.01, (0, 0), 24) == "none of the 24 sorted by prediction expected in a wrong folder"
    assert mistakes_sentence(14.6, (9, 21), 1200).startswith("about 15 of the 1,200 ")
