"""Same photos, same labels, same seed: the same model, whatever order the import happened to take (issue #27).

The import runs in parallel, so two imports of one folder hand out image ids in different orders; the folds,
the near-duplicate groups, the split and every shuffle must follow the photos' content, not those ids.
"""

from __future__ import annotations

import json
from pathlib import Path

import imagemakers
import numpy as np
import pytest
from sqlalchemy import select

from desktop.cli import main
from desktop.core import importer
from desktop.core.models_registry import active_model
from desktop.core.prediction_store import prediction_for
from desktop.core.project import open_project
from desktop.db.models import Image
from desktop.ml.checkpoint import load_checkpoint


def import_reversed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan yields the files last first: the ids come out in another order, as a parallel import's may."""
    scan = importer.scan_images
    monkeypatch.setattr(importer, "scan_images", lambda root, **kw: list(reversed(list(scan(root, **kw)))))


def train_and_predict(project_path: Path, labelled: Path, unlabelled: Path, capsys) -> dict:
    assert main(["import", str(project_path), str(labelled), "--labels-from-subfolders"]) == 0
    assert main(["import", str(project_path), str(unlabelled)]) == 0
    capsys.readouterr()
    assert main(["train", str(project_path), "--seed", "0", "--mode", "frozen", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert main(["predict", str(project_path)]) == 0
    with open_project(project_path, create=False) as project:
        with project.sessions() as session:
            images = session.execute(select(Image.id, Image.rel_path).order_by(Image.id)).all()
        model = active_model(project)
        checkpoint = load_checkpoint(model.file)
        predictions = {str(rel_path): prediction_for(project, image_id).probabilities
                       for image_id, rel_path in images}
    return {"ids_order": [str(rel_path) for _, rel_path in images], "summary": summary,
            "checkpoint": checkpoint, "predictions": predictions}


def test_two_imports_in_different_orders_train_the_same_model(tmp_path, monkeypatch, capsys):
    labelled, unlabelled = imagemakers.write_lookalike_classes(tmp_path / "photos")
    first = train_and_predict(tmp_path / "first.pigeonhole", labelled, unlabelled, capsys)
    import_reversed(monkeypatch)
    second = train_and_predict(tmp_path / "second.pigeonhole", labelled, unlabelled, capsys)

    assert first["ids_order"] != second["ids_order"]  # the ids really differ
    a, b = first["summary"], second["summary"]
    assert a["classes"] == b["classes"] == ["cats", "dogs", "owls"]
    for key in ("oof_accuracy", "oof_images", "folds", "temperature", "ece", "per_class", "confusion"):
        assert a[key] == b[key], key
    one, two = first["checkpoint"], second["checkpoint"]
    assert one["temperature"] == two["temperature"]
    assert one["precision_thresholds"] == two["precision_thresholds"]
    assert np.array_equal(one["out_of_fold"]["probabilities"], two["out_of_fold"]["probabilities"])
    assert np.array_equal(one["out_of_fold"]["labels"], two["out_of_fold"]["labels"])
    assert one["state_dict"].keys() == two["state_dict"].keys()
    for key, value in one["state_dict"].items():
        assert np.array_equal(value, two["state_dict"][key]), key  # the same model, bit for bit
    assert first["predictions"].keys() == second["predictions"].keys()
    for path, probabilities in first["predictions"].items():
        np.testing.assert_allclose(probabilities, second["predictions"][path], atol=1e-6, rtol=0, err_msg=path)
