"""Exporting a project: class folders (splits, name clashes, originals untouched), CSV, the active model, the CLI."""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
from pathlib import Path

import imagemakers
import numpy as np
import pytest
from sqlalchemy import select, update

from desktop.cli import main
from desktop.core.export import DestinationError, NoActiveModel, export_csv, export_imagefolder, export_model
from desktop.core.importer import import_folder
from desktop.core.models_registry import active_model
from desktop.core.prediction_store import store_predictions
from desktop.db.engine import transaction
from desktop.db.models import Folder, Image, ImageClass, Label

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.*:FutureWarning")
CLASSES = ["checks", "discs", "stripes"]


def fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    """Content hash and mtime of every file below ``folder``: originals must not change."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def labelled(project) -> list[tuple[int, Path, str, str | None, str]]:
    """(image id, absolute path, class name, split, content hash) of every labelled photo."""
    with project.sessions() as session:
        rows = session.execute(
            select(Image.id, Folder.root, Image.rel_path, ImageClass.name, Image.split, Image.content_hash)
            .join(Folder, Folder.id == Image.folder_id).join(Label, Label.image_id == Image.id)
            .join(ImageClass, ImageClass.id == Label.class_id).order_by(Image.id)).all()
    return [(i, Path(root) / rel, name, split, digest) for i, root, rel, name, split, digest in rows]


def photos_of(project) -> Path:
    with project.sessions() as session:
        return Path(session.scalars(select(Folder.root)).first())


# --- image folders --------------------------------------------------------------------------------------------

def test_imagefolder_copies_every_labelled_photo_into_its_class_folder(trained_project, tmp_path):
    photos = photos_of(trained_project)
    before = fingerprint(photos)
    result = export_imagefolder(trained_project, tmp_path / "out")
    assert result.copied == 24 and result.per_class == dict.fromkeys(CLASSES, 8)
    assert result.renamed == 0 and result.skipped == [] and result.per_split == {}
    for _, path, class_name, _, _ in labelled(trained_project):
        copy = tmp_path / "out" / class_name / path.name
        assert copy.read_bytes() == path.read_bytes()
        assert copy.stat().st_mtime_ns == path.stat().st_mtime_ns
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == CLASSES
    assert fingerprint(photos) == before  # originals only read


def test_imagefolder_with_split_folders_follows_each_photos_split(trained_project, tmp_path):
    rows = labelled(trained_project)
    never_trained = rows[0]
    with transaction(trained_project.sessions) as session:
        session.execute(update(Image).where(Image.id == never_trained[0]).values(split=None))
    result = export_imagefolder(trained_project, tmp_path / "out", split_folders=True)
    assert result.copied == 24
    for image_id, path, class_name, split, _ in rows:
        expected = "train" if image_id == never_trained[0] else split
        assert (tmp_path / "out" / expected / class_name / path.name).is_file()
    val_count = sum(split == "val" for image_id, _, _, split, _ in rows if image_id != never_trained[0])
    assert result.per_split == {"train": 24 - val_count, "val": val_count}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["train", "val"]


def test_imagefolder_never_overwrites_and_numbers_clashing_names(trained_project, tmp_path):
    # A second folder whose photos have the same names and classes as the first.
    more = imagemakers.write_shape_folders(tmp_path / "more", per_class=2, seed=5)
    import_folder(trained_project, more, labels_from_subfolders=True)
    out = tmp_path / "out"
    mine = out / "discs" / "discs_00.png"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"the user's own file")

    first = export_imagefolder(trained_project, out)
    assert first.copied == 30 and first.renamed == 6 + 1
    assert mine.read_bytes() == b"the user's own file"
    discs = sorted(p.name for p in (out / "discs").iterdir())
    assert {"discs_00.png", "discs_00 (2).png", "discs_00 (3).png", "discs_01.jpg", "discs_01 (2).jpg"} <= set(discs)
    assert len(discs) == 10 + 1
    sources = sorted(p.read_bytes() for p in [*(tmp_path / "trained" / "photos" / "discs").iterdir(),
                                               *(more / "discs").iterdir()])
    assert sorted(p.read_bytes() for p in (out / "discs").iterdir() if p != mine) == sources

    before = fingerprint(out)
    again = export_imagefolder(trained_project, out)  # a second export adds numbered copies, changes nothing
    assert again.copied == 30 and again.renamed == 30
    after = fingerprint(out)
    assert {name: after[name] for name in before} == before and len(after) == len(before) + 30


def test_imagefolder_skips_broken_and_missing_photos_with_a_reason(trained_project, tmp_path):
    rows = labelled(trained_project)
    with transaction(trained_project.sessions) as session:
        session.execute(update(Image).where(Image.id == rows[0][0]).values(error="truncated: the file ends early"))
        session.execute(update(Image).where(Image.id == rows[1][0]).values(missing=True))
    rows[2][1].unlink()  # vanished since the last import: skipped when it cannot be read
    result = export_imagefolder(trained_project, tmp_path / "out")
    assert result.copied == 21
    reasons = dict(result.skipped)
    assert reasons[str(rows[0][1])] == "truncated: the file ends early"
    assert reasons[str(rows[1][1])] == "the file is missing"
    assert reasons[str(rows[2][1])].startswith("cannot read the file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_imagefolder_skips_a_named_pipe_in_a_photos_place_without_hanging(trained_project, tmp_path, hang_guard):
    rows = labelled(trained_project)
    rows[0][1].unlink()
    os.mkfifo(rows[0][1])  # opening it for reading would wait for a writer forever
    result = export_imagefolder(trained_project, tmp_path / "out")
    assert result.copied == 23
    assert dict(result.skipped)[str(rows[0][1])].startswith("cannot read the file")
    assert not (tmp_path / "out" / rows[0][2] / rows[0][1].name).exists()


def test_a_copy_that_fails_halfway_leaves_no_half_photo_under_a_real_name(trained_project, tmp_path, monkeypatch):
    rows = labelled(trained_project)
    real_write = os.write
    written = {"calls": 0}

    def disk_full_on_the_fifth_photo(fd, data):
        written["calls"] += 1
        if written["calls"] == 5:
            real_write(fd, bytes(data)[: len(data) // 2])  # half the bytes reach the disk, then it is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", disk_full_on_the_fifth_photo)
    with pytest.raises(DestinationError, match="No space left on device"):
        export_imagefolder(trained_project, tmp_path / "out")
    monkeypatch.undo()
    sources = {path.name: path.read_bytes() for _, path, _, _, _ in rows}
    left = [path for path in (tmp_path / "out").rglob("*") if path.is_file()]
    assert len(left) == 4  # the four photos before it, whole; no fifth file, no temp file
    assert all(path.read_bytes() == sources[path.name] for path in left)


def test_unwritable_destination_is_one_clear_error(trained_project, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(DestinationError, match="is a file, not a folder"):
        export_imagefolder(trained_project, a_file)
    with pytest.raises(DestinationError, match="Cannot create the folder"):
        export_imagefolder(trained_project, a_file / "out")
    with pytest.raises(DestinationError, match="Cannot create the folder"):
        export_csv(trained_project, a_file / "out" / "table.csv")
    with pytest.raises(DestinationError, match="is a folder"):
        export_csv(trained_project, tmp_path)
    with pytest.raises(DestinationError, match="Cannot create the folder"):
        export_model(trained_project, a_file / "model.pt", "torchscript")


# --- CSV ------------------------------------------------------------------------------------------------------

def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_lists_paths_labels_and_the_active_models_predictions(trained_project, tmp_path):
    from desktop.ml.predict import Predictor

    unlabelled = imagemakers.write_shape_folders(tmp_path / "new", per_class=1, seed=9)
    import_folder(trained_project, unlabelled)  # no labels
    model = active_model(trained_project)
    with trained_project.sessions() as session:
        images = session.execute(select(Image.id, Folder.root, Image.rel_path, Image.content_hash)
                                 .join(Folder, Folder.id == Image.folder_id).order_by(Image.id)).all()
    # Predictions for all but the last photo; the last one has none yet.
    predicted = images[:-1]
    probabilities = Predictor.from_checkpoint(model.file, device="cpu").predict_paths(
        [Path(root) / rel for _, root, rel, _ in predicted], num_workers=0)
    store_predictions(trained_project, model.id,
                      [(i, digest, p) for (i, _, _, digest), p in zip(predicted, probabilities, strict=True)])

    result = export_csv(trained_project, tmp_path / "exports" / "table.csv")
    assert (result.rows, result.predicted, result.model_id, result.class_names) == (27, 26, model.id, CLASSES)
    rows = read_csv(tmp_path / "exports" / "table.csv")
    assert list(rows[0]) == ["path", "label", "predicted", "confidence", "prob_checks", "prob_discs", "prob_stripes"]
    by_path = {row["path"]: row for row in rows}
    labels = {str(path): class_name for _, path, class_name, _, _ in labelled(trained_project)}
    for (_, root, rel, _), probs in zip(predicted, probabilities, strict=True):
        row = by_path[str(Path(root) / rel)]
        assert Path(row["path"]).is_absolute()
        assert row["label"] == labels.get(row["path"], "")
        assert row["predicted"] == CLASSES[int(np.argmax(probs))]
        assert float(row["confidence"]) == pytest.approx(float(probs.max()), abs=1e-5)
        assert [float(row[f"prob_{c}"]) for c in CLASSES] == pytest.approx(probs.tolist(), abs=1e-5)
    last = by_path[str(Path(images[-1][1]) / images[-1][2])]
    assert (last["label"], last["predicted"], last["confidence"], last["prob_discs"]) == ("", "", "", "")
    accuracy = np.mean([row["predicted"] == row["label"] for row in rows if row["label"]])
    assert accuracy >= 0.8


def test_csv_without_a_model_has_paths_and_labels_only(project, photo_folder, tmp_path):
    import_folder(project, photo_folder({"cats": 2, "dogs": 1}), labels_from_subfolders=True)
    result = export_csv(project, tmp_path / "t.csv")
    assert result.model_id is None and result.predicted == 0
    rows = read_csv(tmp_path / "t.csv")
    assert [(Path(r["path"]).parent.name, r["label"], r["predicted"]) for r in rows] == [
        ("cats", "cats", ""), ("cats", "cats", ""), ("dogs", "dogs", "")]


# --- the model ------------------------------------------------------------------------------------------------

def test_no_active_model_is_one_clear_error(project, tmp_path, capsys):
    with pytest.raises(NoActiveModel, match="no active model"):
        export_model(project, tmp_path / "m.onnx", "onnx")
    assert main(["export", str(project.path), "--what", "torchscript", "--out", str(tmp_path / "m.pt")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pigeonhole: error: This project has no active model") and "Traceback" not in err


def test_cli_exports_a_model_that_predict_file_runs(trained_project, tmp_path, capsys):
    from desktop.ml.predict import Predictor

    path = str(trained_project.path)
    model = active_model(trained_project)
    images = [p for _, p, _, _, _ in labelled(trained_project)][::4]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a JPEG")
    reference = Predictor.from_checkpoint(model.file, device="cpu").predict_paths(images, num_workers=0)

    assert main(["export", path, "--what", "onnx", "--out", str(tmp_path), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    onnx_file = tmp_path / f"shapes-model-{model.id}.onnx"  # a folder as --out: the name is chosen
    assert exported == {"what": "onnx", "out": str(onnx_file), "labels": str(tmp_path / f"shapes-model-{model.id}"
                                                                               ".labels.json"),
                        "model_id": model.id, "classes": CLASSES}
    assert json.loads(Path(exported["labels"]).read_text())["model_id"] == model.id

    assert main(["export", path, "--what", "torchscript", "--out", str(tmp_path / "m.pt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["out"] == str(tmp_path / "m.pt")

    for model_file, kind in ((onnx_file, "onnx"), (tmp_path / "m.pt", "torchscript"), (model.file, "checkpoint")):
        trust = ["--trust-code"] if kind == "torchscript" else []  # this test made the TorchScript file
        code = main(["predict-file", str(model_file), *map(str, images), str(broken), *trust, "--json"])
        assert code == 1  # one image could not be read
        result = json.loads(capsys.readouterr().out)
        assert set(result) == {"model", "format", "classes", "images", "errors"}
        assert result["model"] == str(model_file) and result["format"] == kind and result["classes"] == CLASSES
        assert [image["path"] for image in result["images"]] == [str(p) for p in images]
        for image, expected in zip(result["images"], reference, strict=True):
            assert set(image) == {"path", "predicted", "confidence", "probabilities"}
            assert image["predicted"] == CLASSES[int(expected.argmax())]
            assert list(image["probabilities"]) == CLASSES
            assert [image["probabilities"][c] for c in CLASSES] == pytest.approx(expected.tolist(), abs=0.01)
            assert image["confidence"] == max(image["probabilities"].values())
        assert [e["path"] for e in result["errors"]] == [str(broken)]
        assert result["errors"][0]["reason"]


def test_predict_file_refuses_what_is_not_a_model(tmp_path, capsys):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"nope")
    image = tmp_path / "a.jpg"
    imagemakers.write_jpeg(image, 64, 48)
    assert main(["predict-file", str(junk), str(image), "--json"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pigeonhole: error: junk.onnx is not a model file") and "Traceback" not in err


def test_cli_imagefolder_and_csv(trained_project, tmp_path, capsys):
    path = str(trained_project.path)
    assert main(["export", path, "--what", "imagefolder", "--out", str(tmp_path / "folders"), "--split",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["what"] == "imagefolder" and result["copied"] == 24 and set(result["per_split"]) == {"train", "val"}
    assert main(["export", path, "--what", "csv", "--out", str(tmp_path / "t.csv")]) == 0
    assert "24 photos have no prediction yet" in capsys.readouterr().out
    assert len(read_csv(tmp_path / "t.csv")) == 24
    assert main(["export", path, "--what", "csv", "--out", str(tmp_path / "t2.csv"), "--split"]) == 1
    assert "--split only applies" in capsys.readouterr().err
