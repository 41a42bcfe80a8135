"""Keywords out: each photo's class written into its XMP sidecar (created, or merged into another app's),
never into the photo; journalled, resumed after a crash, undone byte for byte; read back by ExifTool."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import imagemakers as mk
import pytest
from sqlalchemy import select, update

from desktop.cli import main
from desktop.core import tagging
from desktop.core.classes import add_class
from desktop.core.importer import import_folder
from desktop.core.labels import set_label
from desktop.core.project import Project
from desktop.db.engine import transaction
from desktop.db.models import Image, Prediction, TagOperation, TrainedModel
from desktop.io.xmp import keywords_of_sidecar

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="ExifTool is missing: apt-get install "
                                                            "libimage-exiftool-perl")


def _exiftool(*args: str) -> list[dict]:
    done = subprocess.run([EXIFTOOL, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout) if done.stdout.strip().startswith("[") else []


def _photos(project: Project, root: Path) -> dict[str, int]:
    """a.jpg, b.jpg (labelled cats, dogs), c.jpg (unlabelled, predicted dogs at 0.9) and d.jpg (predicted at 0.3)."""
    for index, name in enumerate("abcd"):
        mk.write_jpeg(root / f"{name}.jpg", 24, 16, seed=index)
    import_folder(project, root)
    with project.sessions() as session:
        ids = {rel: image_id for image_id, rel in session.execute(select(Image.id, Image.rel_path))}
        hashes = dict(session.execute(select(Image.id, Image.content_hash)).all())
    set_label(project, [ids["a.jpg"]], add_class(project, "cats").id)
    set_label(project, [ids["b.jpg"]], add_class(project, "dogs").id)
    with transaction(project.sessions) as session:
        model = TrainedModel(file="models/none.pt", backbone="test", mode="frozen", weights_source="none",
                             class_names=["cats", "dogs"], train_images=0, val_images=0, metrics={}, settings={},
                             device="cpu", seconds=0.0, is_active=True)
        session.add(model)
        session.flush()
        for name, confidence in (("c.jpg", 0.9), ("d.jpg", 0.3)):
            session.add(Prediction(model_id=model.id, image_id=ids[name], probabilities=[1 - confidence, confidence],
                                   content_hash=hashes[ids[name]], predicted_index=1, confidence=confidence,
                                   margin=0.5))
    return ids


def _tree(root: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(root.iterdir()) if path.is_file()}


@needs_exiftool
def test_classes_go_into_sidecars_that_exiftool_reads_and_other_apps_data_stays(project: Project,
                                                                                tmp_path: Path) -> None:
    root = tmp_path / "photos"
    _photos(project, root)
    other_app = root / "b.xmp"  # Lightroom's name for b.jpg's sidecar, written by ExifTool with other data
    _exiftool("-o", str(other_app), "-XMP-dc:Creator=Ana", "-XMP-xmp:Rating=3", "-XMP-dc:Subject=garden",
              "-XMP-lr:HierarchicalSubject=Places|Home", "-XMP-dc:Description=by the pond")
    before = _tree(root)
    others = _exiftool("-j", "-XMP:all", str(other_app))[0]

    plan = tagging.plan_tags(project, precision=None)  # the threshold rule: c (0.9) is tagged, d (0.3) is not
    assert {tag.photo.name: (tag.sidecar.name, tag.class_name) for tag in plan.tags} == {
        "a.jpg": ("a.jpg.xmp", "cats"), "b.jpg": ("b.xmp", "dogs"), "c.jpg": ("c.jpg.xmp", "dogs")}
    assert plan.unsure == 1 and not plan.warnings
    by_precision = tagging.plan_tags(project)  # this model keeps no held-out predictions: the threshold, said so
    assert by_precision.tags == plan.tags and "no held-out predictions" in by_precision.warnings[0]
    result = tagging.run_tags(project, tagging.start_tags(project, plan))

    assert (result.status, result.written, result.failed) == ("done", 3, [])
    read = {Path(row["SourceFile"]).name: row for row in _exiftool(
        "-j", "-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject", str(root / "a.jpg.xmp"), str(other_app))}
    assert read["a.jpg.xmp"]["Subject"] == "cats" and read["a.jpg.xmp"]["HierarchicalSubject"] == "Pigeonhole|cats"
    assert read["b.xmp"]["Subject"] == ["garden", "dogs"]
    assert read["b.xmp"]["HierarchicalSubject"] == ["Places|Home", "Pigeonhole|dogs"]
    merged = _exiftool("-j", "-XMP:all", str(other_app))[0]
    assert {key: merged[key] for key in others if key not in ("Subject", "HierarchicalSubject")} == \
        {key: value for key, value in others.items() if key not in ("Subject", "HierarchicalSubject")}
    for name in "abcd":  # the photos themselves are never written
        assert (root / f"{name}.jpg").read_bytes() == before[f"{name}.jpg"]

    again = tagging.run_tags(project, tagging.start_tags(project, tagging.plan_tags(project, precision=None)))
    assert (again.written, again.unchanged) == (0, 3)  # already said so: nothing rewritten
    tagging.undo_tags(project, again.run_id)
    undone = tagging.undo_tags(project, result.run_id)
    assert undone.written == 3 and not undone.failed
    assert _tree(root) == before  # byte for byte; the sidecars the run created are gone


def test_a_crash_mid_run_is_resumed_and_a_changed_sidecar_is_kept_on_undo(project: Project, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    _photos(project, root)
    mk.write(root / "a.jpg.xmp", b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF "
                                 b"xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'/></x:xmpmeta>")
    before = _tree(root)
    run_id = tagging.start_tags(project, tagging.plan_tags(project, precision=None))
    calls = 0
    real_write = tagging._write_bytes

    def crash_after_first(path: Path, data: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt  # the process dies while the second sidecar is being written
        real_write(path, data)

    tagging._write_bytes = crash_after_first
    try:
        with pytest.raises(KeyboardInterrupt):
            tagging.run_tags(project, run_id)
    finally:
        tagging._write_bytes = real_write
    with project.sessions() as session:
        states = list(session.scalars(select(TagOperation.state).where(TagOperation.run_id == run_id)
                                      .order_by(TagOperation.id)))
    assert states == ["done", "started", "planned"]

    resumed = tagging.run_tags(project, run_id)

    assert resumed.status == "done" and not resumed.failed
    assert [kw for kw in keywords_of_sidecar(root / "a.jpg.xmp")] == [("Pigeonhole", "cats")]
    (root / "c.jpg.xmp").write_bytes((root / "c.jpg.xmp").read_bytes() + b"\n")  # edited by another app since
    undone = tagging.undo_tags(project, run_id)
    assert [path.name for path, _reason in undone.failed] == ["c.jpg.xmp"]
    after = _tree(root)
    assert after.pop("c.jpg.xmp") and after == before


def test_a_hostile_sidecar_is_left_alone_and_the_photo_never_written(project: Project, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    _photos(project, root)
    hostile = mk.write(root / "a.xmp", b'<!DOCTYPE x [<!ENTITY e "e">]><x:xmpmeta>&e;</x:xmpmeta>')
    result = tagging.run_tags(project, tagging.start_tags(project, tagging.plan_tags(project, precision=None)))
    assert [(path.name, "entities" in reason) for path, reason in result.failed] == [("a.xmp", True)]
    assert hostile.read_bytes().startswith(b"<!DOCTYPE") and result.written == 2


def test_the_tag_command(project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "photos"
    _photos(project, root)
    with transaction(project.sessions) as session:
        session.execute(update(TrainedModel).values(is_active=False))  # labels alone
    before = _tree(root)
    path = str(project.path)

    assert main(["tag", path, "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["per_class"] == {"cats": 1, "dogs": 1} and _tree(root) == before
    assert main(["tag", path, "--hierarchy", "Sorted"]) == 0
    assert "2 sidecars written, 0 already had the keyword." in capsys.readouterr().out
    assert keywords_of_sidecar(root / "b.jpg.xmp") == [("Sorted", "dogs")]
    assert main(["tag", path, "--undo"]) == 0
    assert "2 sidecars restored as they were." in capsys.readouterr().out and _tree(root) == before
    assert main(["tag", path, "--hierarchy", "a|b"]) == 1
    assert "cannot hold “|”" in capsys.readouterr().err


def test_a_full_project_disk_stops_writing_in_one_sentence_then_resume_and_undo(project: Project,
                                                                               tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent / "sorting"))
    from diskfaults import project_disk_full

    root = tmp_path / "photos"
    _photos(project, root)
    before = _tree(root)
    run_id = tagging.start_tags(project, tagging.plan_tags(project, precision=None))
    with project_disk_full(after=3, statement="UPDATE tag_operations"), \
            pytest.raises(tagging.TagError, match="cannot record the keywords being written"):
        tagging.run_tags(project, run_id)  # the journal says "started" for the photo whose "done" was lost

    resumed = tagging.run_tags(project, run_id)
    assert resumed.status == "done" and not resumed.failed
    assert tagging.undo_tags(project, run_id).written == 3
    assert _tree(root) == before
