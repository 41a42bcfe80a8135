"""desktop.core.sorting: plan, copy and move through the journal, crashes, full disks, undo — on real files.

The one property every test checks in its own way: no photo is ever lost, overwritten or left half-moved.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import imagemakers as mk
import pytest
from sorting_helpers import sort_photos
from sqlalchemy import func, select, update

from desktop.core import sorting
from desktop.core.classes import add_class
from desktop.core.importer import import_folder
from desktop.core.labels import set_label
from desktop.core.project import Project
from desktop.core.sorting import (
    UNSURE,
    SortError,
    SortRequest,
    execute,
    interrupted_sorts,
    journal,
    plan_sort,
    run_sort,
    start_sort,
    steps,
    undo_sort,
)
from desktop.db.engine import transaction
from desktop.db.models import Folder, Image, Prediction, Sort, SortOperation, TrainedModel
from desktop.io import safe_files
from desktop.io.images import content_hash

REPO = Path(__file__).resolve().parents[3]
HELPER = Path(__file__).with_name("sort_crash_helper.py")
JSON_KEYS = {"sort_id", "planned", "done", "per_class", "operations"}
needs_sigkill = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX-only")


# --- helpers --------------------------------------------------------------------------------------------------------

def _files(*roots: Path) -> dict[Path, str]:
    """Every file below the roots (hidden ones too, so leftovers show) with its content hash."""
    found = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                found[path] = content_hash(path.read_bytes())
    return found


def _tree(root: Path) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): digest for path, digest in _files(root).items()}


def _add_model(project: Project, class_names: list[str]) -> int:
    with transaction(project.sessions) as session:
        model = TrainedModel(file="models/test.pt", backbone="test", mode="frozen", weights_source="none",
                             class_names=class_names, train_images=0, val_images=0, metrics={}, settings={},
                             device="cpu", seconds=0.0, is_active=True)
        session.add(model)
        session.flush()
        return model.id


def _predict(project: Project, model_id: int, wanted: dict[str, tuple[int, float]],
             stale: tuple[str, ...] = ()) -> None:
    """Predictions by file name: {name: (class index, confidence)}; ``stale`` ones are for older content."""
    with transaction(project.sessions) as session:
        classes = len(session.get(TrainedModel, model_id).class_names)
        for image in session.scalars(select(Image)):
            name = image.rel_path.rsplit("/", 1)[-1]
            key = image.rel_path if image.rel_path in wanted else name
            if key not in wanted:
                continue
            index, confidence = wanted[key]
            probabilities = [(1 - confidence) / (classes - 1)] * classes
            probabilities[index] = confidence
            session.add(Prediction(model_id=model_id, image_id=image.id, probabilities=probabilities,
                                   content_hash="0" * 32 if key in stale else image.content_hash,
                                   predicted_index=index, confidence=confidence, margin=0.5))


def _cats_and_dogs(project: Project, root: Path, cats: int = 3, dogs: int = 3) -> int:
    """cats/NN.jpg and dogs/NN.jpg, imported without labels, each predicted as its folder's class (0.9)."""
    for index in range(cats):
        mk.write_jpeg(root / "cats" / f"{index:02d}.jpg", 48, 32, seed=100 + index)
    for index in range(dogs):
        mk.write_jpeg(root / "dogs" / f"{index:02d}.jpg", 48, 32, seed=200 + index)
    import_folder(project, root, workers=2)
    model_id = _add_model(project, ["cats", "dogs"])
    wanted = {f"cats/{i:02d}.jpg": (0, 0.9) for i in range(cats)} | {f"dogs/{i:02d}.jpg": (1, 0.9)
                                                                       for i in range(dogs)}
    _predict(project, model_id, wanted)
    return model_id


def _image_places(project: Project) -> dict[int, Path]:
    with project.sessions() as session:
        rows = session.execute(select(Image.id, Folder.root, Image.rel_path).join(Folder)).all()
    return {image_id: Path(root) / rel for image_id, root, rel in rows}


def _states(project: Project, sort_id: int) -> Counter[str]:
    with project.sessions() as session:
        return Counter(session.scalars(select(SortOperation.state).where(SortOperation.sort_id == sort_id)))


def _leftovers(*roots: Path) -> list[Path]:
    """Our temp files, and empty files (a placeholder is empty; a photo never is)."""
    return [path for path in _files(*roots) if ".pigeonhole-" in path.name or path.stat().st_size == 0]


def _temp_file(project: Project, sort_id: int, op_id: int, folder: Path) -> Path:
    """Where the sort writes operation ``op_id``'s temp file in ``folder`` (what a crash leaves behind)."""
    worker = steps.SortRun(project, journal.load_sort(project, sort_id))
    with worker.journal:
        return worker.temp_for(next(op for op in worker.ops if op.id == op_id), folder)


def _assert_nothing_lost(before: dict[str, str], *roots: Path, move: bool) -> None:
    """Every original photo is somewhere, and a moved photo is one file (two names of one inode are allowed:
    that is a move interrupted between its link and its unlink)."""
    places: dict[str, set[tuple[int, int]]] = {}
    for path, digest in _files(*roots).items():
        if ".pigeonhole-" not in path.name:
            info = path.stat()
            places.setdefault(digest, set()).add((info.st_dev, info.st_ino))
    for name, digest in before.items():
        assert digest in places, f"{name} was lost"
        if move:
            assert len(places[digest]) == 1, f"{name} exists as {len(places[digest])} separate files"


# --- move, copy, undo -----------------------------------------------------------------------------------------------

def test_move_sort_then_undo_restores_every_file_exactly(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    model_id = _cats_and_dogs(project, root)
    mk.write_jpeg(root / "unsure.jpg", 48, 32, seed=1)
    mk.write_jpeg(root / "never predicted.jpg", 48, 32, seed=2)
    import_folder(project, root)
    _predict(project, model_id, {"unsure.jpg": (0, 0.55)})
    before, places_before = _tree(root), _image_places(project)
    with project.sessions() as session:
        folders_before = session.scalars(select(Folder.root)).all()
        predictions_before = session.execute(select(Prediction.image_id, Prediction.model_id)).all()
    progress: list[sorting.SortProgress] = []

    result = sort_photos(project, SortRequest(dest, mode="move", threshold=0.6), on_progress=progress.append)

    assert (result.planned, result.done, result.failed, result.status) == (8, 8, [], "done")
    assert result.per_class == {"cats": 3, "dogs": 3, UNSURE: 2}
    assert result.unpredicted == 1
    assert progress[-1].done == progress[-1].total == 8
    assert _tree(root) == {}  # every photo left its folder...
    after = _tree(dest)  # ...and is in exactly one class folder, byte for byte
    assert sorted(after.values()) == sorted(before.values())
    assert after["cats/00.jpg"] == before["cats/00.jpg"] and after[f"{UNSURE}/unsure.jpg"] == before["unsure.jpg"]
    payload = json.loads(json.dumps(result.as_json()))
    assert set(payload) >= JSON_KEYS and payload["sort_id"] == result.sort_id
    assert {Path(op["destination"]) for op in payload["operations"]} == {dest / rel for rel in after}
    assert all(Path(op["source"]).is_absolute() for op in payload["operations"])
    # The project follows the files: same rows (labels and predictions attached), new places.
    places = _image_places(project)
    assert places.keys() == places_before.keys()
    assert all(path.is_file() and path.is_relative_to(dest) for path in places.values())
    with project.sessions() as session:
        assert session.execute(select(Prediction.image_id, Prediction.model_id)).all() == predictions_before

    undone = undo_sort(project)

    assert undone.status == "undone" and len(undone.restored) == 8 and not (undone.kept or undone.renamed)
    assert _tree(root) == before
    assert not dest.exists()  # the class folders and the destination the sort created are gone
    assert _image_places(project) == places_before
    with project.sessions() as session:
        assert session.scalars(select(Folder.root)).all() == folders_before
    assert interrupted_sorts(project) == []
    with pytest.raises(SortError, match="no sort to undo"):
        undo_sort(project)


def test_copy_sort_leaves_sources_and_undo_deletes_only_unchanged_copies(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _cats_and_dogs(project, root)
    dest.mkdir()
    (dest / "keep.txt").write_text("the user's own file")
    before, places_before = _files(root), _image_places(project)

    result = sort_photos(project, SortRequest(dest, mode="copy"))

    assert (result.done, result.per_class) == (6, {"cats": 3, "dogs": 3})
    assert _files(root) == before  # sources untouched
    for source, destination in result.operations:
        assert destination.read_bytes() == source.read_bytes()
        assert destination.stat().st_mtime == source.stat().st_mtime
    assert _image_places(project) == places_before  # copies are not part of the project
    (dest / "dogs" / "01.jpg").write_bytes(b"edited by the user")  # changed since the sort
    (root / "cats" / "02.jpg").unlink()  # the original is gone: its copy is now the only one

    undone = undo_sort(project, result.sort_id)

    assert sorted(p.relative_to(dest).as_posix() for p in undone.deleted) == [
        "cats/00.jpg", "cats/01.jpg", "dogs/00.jpg", "dogs/02.jpg"]
    kept = {p.relative_to(dest).as_posix(): why for p, why in undone.kept}
    assert kept.keys() == {"dogs/01.jpg", "cats/02.jpg"}
    assert "changed" in kept["dogs/01.jpg"] and "original" in kept["cats/02.jpg"]
    assert _tree(dest) == {"keep.txt": content_hash(b"the user's own file"),
                           "dogs/01.jpg": content_hash(b"edited by the user"),
                           "cats/02.jpg": before[root / "cats" / "02.jpg"]}
    assert undone.removed_folders == []  # both class folders still hold something


def test_threshold_unsure_labels_and_stale_predictions(project: Project, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    model_id = _cats_and_dogs(project, root, cats=2, dogs=2)
    mk.write_jpeg(root / "low.jpg", 48, 32, seed=3)
    mk.write_jpeg(root / "stale.jpg", 48, 32, seed=4)
    mk.write_truncated_jpeg(root / "broken.jpg")
    import_folder(project, root)
    _predict(project, model_id, {"low.jpg": (1, 0.4), "stale.jpg": (0, 0.99)}, stale=("stale.jpg",))
    dog = add_class(project, "dogs")
    ids = {path.name if path.parent == root else path.relative_to(root).as_posix(): image_id
           for image_id, path in _image_places(project).items()}
    set_label(project, [ids["cats/00.jpg"]], dog.id)  # a human says this "cat" is a dog

    def where(request: SortRequest) -> dict[str, str]:
        return {op.source.relative_to(root).as_posix(): op.destination.relative_to(tmp_path / "out").as_posix()
                for op in plan_sort(project, request).operations}

    plan = plan_sort(project, SortRequest(tmp_path / "out", threshold=0.5))
    assert where(SortRequest(tmp_path / "out", threshold=0.5)) == {
        "cats/00.jpg": "dogs/00.jpg", "cats/01.jpg": "cats/01.jpg", "dogs/00.jpg": "dogs/00 (2).jpg",
        "dogs/01.jpg": "dogs/01.jpg", "low.jpg": f"{UNSURE}/low.jpg", "stale.jpg": f"{UNSURE}/stale.jpg"}
    assert (plan.from_labels, plan.below_threshold, plan.unpredicted) == (1, 1, 1)
    assert plan.per_class == {"cats": 1, "dogs": 3, UNSURE: 2}
    assert [(p.name, "cannot be read" in why) for p, why in plan.skipped] == [("broken.jpg", True)]
    assert not (tmp_path / "out").exists()  # planning writes nothing
    unlabelled = where(SortRequest(tmp_path / "out", threshold=0.3, follow_labels=False))
    assert unlabelled["cats/00.jpg"] == "cats/00.jpg" and unlabelled["low.jpg"] == "dogs/low.jpg"
    # A selection, a folder, a model: only those.
    assert where(SortRequest(tmp_path / "out", image_ids=[ids["low.jpg"]], threshold=0.3)) == {
        "low.jpg": "dogs/low.jpg"}
    other = _add_model(project, ["x", "y"])  # the newest active model wins by default; it predicted nothing
    assert set(where(SortRequest(tmp_path / "out", follow_labels=False)).values()) == {
        f"{UNSURE}/{name}" for name in ("00.jpg", "00 (2).jpg", "01.jpg", "01 (2).jpg", "low.jpg", "stale.jpg")}
    assert where(SortRequest(tmp_path / "out", model_id=model_id, threshold=0.3, follow_labels=False)) == unlabelled
    with pytest.raises(SortError, match=f"no model #{other + 1}"):
        plan_sort(project, SortRequest(tmp_path / "out", model_id=other + 1))
    with pytest.raises(SortError, match="between 0 and 1"):
        plan_sort(project, SortRequest(tmp_path / "out", threshold=1.5))
    with pytest.raises(SortError, match="inside the project folder"):
        plan_sort(project, SortRequest(project.path / "sorted"))


def test_name_clashes_never_overwrite(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    mk.write_jpeg(root / "a" / "00.jpg", 48, 32, seed=1)
    mk.write_jpeg(root / "b" / "00.jpg", 48, 32, seed=2)
    mk.write_jpeg(root / "c" / "IMG.jpg", 48, 32, seed=3)
    mk.write_jpeg(root / "d" / "img.JPG", 48, 32, seed=4)
    mk.write_jpeg(root / "e" / "late.jpg", 48, 32, seed=5)
    mk.write_jpeg(root / "f" / "\u00e9t\u00e9.jpg", 48, 32, seed=6)  # "été" composed (Windows, Linux)
    mk.write_jpeg(root / "g" / "e\u0301te\u0301.jpg", 48, 32, seed=7)  # and decomposed (macOS): one name there
    import_folder(project, root)
    model_id = _add_model(project, ["cats", "dogs"])
    _predict(project, model_id, {name: (0, 0.9) for name in ("00.jpg", "IMG.jpg", "img.JPG", "late.jpg",
                                                             "\u00e9t\u00e9.jpg", "e\u0301te\u0301.jpg")})
    existing = mk.write_jpeg(dest / "cats" / "00.jpg", 48, 32, seed=99)  # the user's file, already there
    existing_bytes = existing.read_bytes()

    plan = plan_sort(project, SortRequest(dest))
    planned = {op.source.relative_to(root).as_posix(): op.destination.name for op in plan.operations}
    assert planned == {"a/00.jpg": "00 (2).jpg", "b/00.jpg": "00 (3).jpg", "c/IMG.jpg": "IMG.jpg",
                       "d/img.JPG": "img (2).JPG", "e/late.jpg": "late.jpg", "f/\u00e9t\u00e9.jpg": "\u00e9t\u00e9.jpg",
                       "g/e\u0301te\u0301.jpg": "e\u0301te\u0301 (2).jpg"}
    sort_id = start_sort(project, plan)
    appeared = mk.write_jpeg(dest / "cats" / "late.jpg", 48, 32, seed=98)  # taken after planning
    appeared_bytes = appeared.read_bytes()

    result = run_sort(project, sort_id)

    assert result.done == 7
    assert existing.read_bytes() == existing_bytes and appeared.read_bytes() == appeared_bytes
    for source, destination in result.operations:
        assert destination.read_bytes() == source.read_bytes()
    late = next(destination for source, destination in result.operations if source.name == "late.jpg")
    assert late.name == "late (2).jpg"  # the journal knows the name it really got
    with project.sessions() as session:
        assert str(late) in session.scalars(select(SortOperation.destination)).all()
    assert len({str(d).casefold() for _, d in result.operations} | {str(existing).casefold(),
                                                                     str(appeared).casefold()}) == 9
    undo_sort(project, sort_id)
    assert _tree(dest) == {"cats/00.jpg": content_hash(existing_bytes), "cats/late.jpg": content_hash(appeared_bytes)}


def test_dry_run_writes_nothing(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _cats_and_dogs(project, root, cats=2, dogs=1)
    before = _files(root)

    result = sort_photos(project, SortRequest(dest, mode="move"), dry_run=True)

    assert (result.sort_id, result.planned, result.done, result.per_class) == (None, 3, 0, {"cats": 2, "dogs": 1})
    payload = result.as_json()
    assert set(payload) >= JSON_KEYS and payload["sort_id"] is None and payload["dry_run"] is True
    assert [op["destination"] for op in payload["operations"]] == [
        str(dest / "cats" / "00.jpg"), str(dest / "cats" / "01.jpg"), str(dest / "dogs" / "00.jpg")]
    assert "would be moved" in result.message
    assert sorted(path.name for path in tmp_path.iterdir()) == ["photos", "test.pigeonhole"]  # no destination
    assert _files(root) == before
    with project.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Sort)) == 0
        assert session.scalar(select(func.count()).select_from(SortOperation)) == 0


def test_sorting_into_the_source_folder_does_not_resort_its_output(project: Project, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for index in range(4):
        mk.write_jpeg(root / f"{index}.jpg", 48, 32, seed=index)
    import_folder(project, root)
    model_id = _add_model(project, ["cats", "dogs"])
    _predict(project, model_id, {"0.jpg": (0, 0.9), "1.jpg": (0, 0.9), "2.jpg": (1, 0.9), "3.jpg": (1, 0.9)})
    before, places_before = _tree(root), _image_places(project)

    result = sort_photos(project, SortRequest(root, mode="move"))  # sort in place

    assert result.done == 4 and set(_tree(root)) == {"cats/0.jpg", "cats/1.jpg", "dogs/2.jpg", "dogs/3.jpg"}
    with project.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Folder)) == 1  # same folder, deeper paths
    import_folder(project, root)  # a re-scan finds every photo where the project says it is
    assert set(_image_places(project).values()) == {root / rel for rel in _tree(root)}
    again = plan_sort(project, SortRequest(root, mode="move"))
    assert (again.operations, again.already_sorted) == ([], 4)
    with pytest.raises(SortError, match="nothing to sort"):
        start_sort(project, again)
    undo_sort(project)
    assert _tree(root) == before and _image_places(project) == places_before


# --- crashes --------------------------------------------------------------------------------------------------------

def _helper(project: Project, sort_id: int, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, str(HELPER), str(project.path), str(sort_id), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _many_photos(project: Project, root: Path, count: int) -> None:
    for index in range(count):
        mk.write_jpeg(root / f"in{index % 3}" / f"{index:02d}.jpg", 24, 16, seed=index)
    import_folder(project, root, workers=2)
    model_id = _add_model(project, ["cats", "dogs"])
    _predict(project, model_id, {f"{index:02d}.jpg": (index % 2, 0.9) for index in range(count)})


@needs_sigkill
def test_sort_killed_halfway_is_resumed_then_undone(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _many_photos(project, root, 36)
    before = _tree(root)
    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode="move")))

    process = _helper(project, sort_id, "--delay", "0.03")
    deadline = time.monotonic() + 30
    while _states(project, sort_id)["done"] < 8:
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.01)
    process.kill()  # SIGKILL: no cleanup runs
    process.communicate()

    states = _states(project, sort_id)
    assert 8 <= states["done"] < 36 and states["done"] + states["started"] + states["planned"] == 36
    _assert_nothing_lost(before, root, dest, move=True)
    assert [s.id for s in interrupted_sorts(project)] == [sort_id]

    result = run_sort(project, sort_id)

    assert (result.done, result.failed, result.status) == (36, [], "done")
    assert not _leftovers(root, dest)
    assert sorted(_tree(dest).values()) == sorted(before.values()) and _tree(root) == {}
    assert all(path.is_relative_to(dest) for path in _image_places(project).values())
    undo_sort(project, sort_id)
    assert _tree(root) == before and not dest.exists()


@needs_sigkill
def test_move_killed_between_link_and_unlink_is_undone_without_resuming(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _many_photos(project, root, 12)
    before, places_before = _tree(root), _image_places(project)
    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode="move")))

    process = _helper(project, sort_id, "--kill-after-link", "5")
    process.communicate(timeout=60)

    assert process.returncode == -9
    assert _states(project, sort_id) == Counter(done=4, started=1, planned=7)
    half = [path for path in _files(root, dest) if path.stat().st_nlink == 2]
    assert len(half) == 2  # one photo under both names: the crash window itself
    _assert_nothing_lost(before, root, dest, move=True)

    undone = undo_sort(project, sort_id)

    assert undone.status == "undone" and len(undone.restored) == 5 and not undone.kept
    assert _tree(root) == before and not dest.exists()
    assert _image_places(project) == places_before
    assert all(path.stat().st_nlink == 1 for path in _files(root))


@needs_sigkill
def test_copy_killed_with_a_written_temp_file_is_resumed(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _many_photos(project, root, 12)
    before = _files(root)
    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode="copy")))

    process = _helper(project, sort_id, "--kill-after-fsync", "4")
    process.communicate(timeout=60)

    assert process.returncode == -9
    assert _states(project, sort_id) == Counter(done=3, started=1, planned=8)
    assert len([path for path in _files(dest) if path.name.startswith(".pigeonhole-")]) == 1

    result = run_sort(project, sort_id)

    assert (result.done, result.status) == (12, "done")
    assert _files(root) == before and not _leftovers(dest)
    assert sorted(_tree(dest).values()) == sorted(before.values())  # each photo copied exactly once
    undo_sort(project, sort_id)
    assert _files(root) == before and not dest.exists()


def test_half_done_operations_are_reconciled_from_the_disk(project: Project, tmp_path: Path) -> None:
    """Each state a crash can leave a move in, made by hand, then resumed; and a copy's published file."""
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _many_photos(project, root, 5)
    before = _tree(root)
    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode="move")))
    with project.sessions() as session:
        ops = session.execute(select(SortOperation.id, SortOperation.source, SortOperation.destination)
                              .where(SortOperation.sort_id == sort_id).order_by(SortOperation.id)).all()
    for _op_id, _source, destination in ops:
        Path(destination).parent.mkdir(parents=True, exist_ok=True)
    (linked, _, linked_to), (placeholder, _, empty), (copied, copy_source, copy_to), (untouched, _, _), _ = ops
    os.link(ops[0][1], linked_to)  # linked, not unlinked
    Path(empty).touch()  # the placeholder of a drive without hard links
    Path(copy_to).write_bytes(Path(copy_source).read_bytes())  # copied across drives, original not deleted
    _temp_file(project, sort_id, copied, Path(copy_to).parent).write_bytes(b"half")
    _temp_file(project, sort_id, untouched, Path(ops[3][2]).parent).write_bytes(b"half a photo")
    with transaction(project.sessions) as session:
        session.execute(update(SortOperation).where(SortOperation.id.in_([linked, placeholder, copied, untouched]))
                        .values(state="started"))

    result = run_sort(project, sort_id)

    assert (result.done, result.failed) == (5, [])
    assert {source.name: destination.name for source, destination in result.operations} == {
        Path(source).name: Path(destination).name for _, source, destination in ops}  # no "(2)": all adopted
    assert _tree(root) == {} and sorted(_tree(dest).values()) == sorted(before.values())
    assert not _leftovers(dest)
    undo_sort(project, sort_id)
    assert _tree(root) == before

    # A copy published just before the crash is adopted, not copied twice; a stranger's file is left alone.
    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode="copy")))
    with project.sessions() as session:
        ops = session.execute(select(SortOperation.id, SortOperation.source, SortOperation.destination)
                              .where(SortOperation.sort_id == sort_id).order_by(SortOperation.id)).all()
    Path(ops[0][2]).parent.mkdir(parents=True, exist_ok=True)
    Path(ops[1][2]).parent.mkdir(parents=True, exist_ok=True)
    Path(ops[0][2]).write_bytes(Path(ops[0][1]).read_bytes())
    Path(ops[1][2]).write_bytes(b"a stranger's file")
    with transaction(project.sessions) as session:
        session.execute(update(SortOperation).where(SortOperation.id.in_([ops[0][0], ops[1][0]]))
                        .values(state="started"))
    result = run_sort(project, sort_id)
    assert result.done == 5 and len(_files(dest)) == 6
    assert Path(ops[1][2]).read_bytes() == b"a stranger's file"
    assert Path(ops[1][2]).with_name(Path(ops[1][2]).stem + " (2).jpg").read_bytes() == Path(ops[1][1]).read_bytes()


# --- drives, disks and permissions ----------------------------------------------------------------------------------

def _no_hard_links(_source: Path, _target: Path) -> None:
    raise OSError(errno.EPERM, "Operation not permitted")  # what Linux says on FAT and exFAT


def _two_drives(source: Path, target: Path) -> None:
    """Every folder is its own mount: links work within a folder (temp to final name), never across."""
    if Path(source).parent != Path(target).parent:
        raise OSError(errno.EXDEV, "Invalid cross-device link")
    os.link(source, target)


@pytest.mark.parametrize("failure", ["no hard links", "another drive"])
def test_moves_without_hard_links_or_across_drives(project: Project, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    monkeypatch.setattr(safe_files, "hard_link", _no_hard_links if failure == "no hard links" else _two_drives)
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _cats_and_dogs(project, root, cats=2, dogs=2)
    before, places_before = _tree(root), _image_places(project)
    times = {content_hash(path.read_bytes()): path.stat().st_mtime_ns for path in _files(root)}

    moved = sort_photos(project, SortRequest(dest, mode="move"))
    assert moved.done == 4 and _tree(root) == {} and sorted(_tree(dest).values()) == sorted(before.values())
    assert not _leftovers(dest)
    for path, digest in _files(dest).items():  # times kept, so a re-scan knows the files unchanged
        assert path.stat().st_mtime_ns == times[digest]
    undo_sort(project)
    assert _tree(root) == before and _image_places(project) == places_before and not dest.exists()

    copied = sort_photos(project, SortRequest(dest, mode="copy"))
    assert copied.done == 4 and sorted(_tree(dest).values()) == sorted(before.values()) and _tree(root) == before


@pytest.mark.parametrize("mode", ["copy", "move"])
def test_disk_full_stops_cleanly_and_resumes(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             mode: str) -> None:
    if mode == "move":  # a move only copies when the destination is on another drive
        monkeypatch.setattr(safe_files, "hard_link", _two_drives)
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _many_photos(project, root, 10)
    before = _tree(root)
    real_copy = safe_files.copy_file
    calls: list[Path] = []

    def fill_up(source: Path, target: Path) -> tuple[int, str]:
        calls.append(source)
        if len(calls) == 4:  # half a photo fits, then the disk is full
            target.write_bytes(source.read_bytes()[:200])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(source, target)

    monkeypatch.setattr(safe_files, "copy_file", fill_up)
    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode=mode)))

    result = run_sort(project, sort_id)

    assert result.stopped == result.message == ("The destination disk is full: 3 of 10 photos were sorted and "
                                                "nothing was lost. Free some space, then resume.")
    assert (result.status, result.done, result.remaining) == ("partial", 3, 6)
    assert [failure.reason for failure in result.failed] == ["The destination disk is full."]
    assert not _leftovers(dest)
    _assert_nothing_lost(before, root, dest, move=mode == "move")
    if mode == "copy":
        assert _tree(root) == before
    assert [s.id for s in interrupted_sorts(project)] == [sort_id]

    monkeypatch.setattr(safe_files, "copy_file", real_copy)  # space was freed
    resumed = run_sort(project, sort_id)

    assert (resumed.status, resumed.done, resumed.failed) == ("done", 10, [])
    assert sorted(_tree(dest).values()) == sorted(before.values())
    assert interrupted_sorts(project) == []
    undo_sort(project, sort_id)
    assert _tree(root) == before and not dest.exists()


def test_destination_that_cannot_be_written(project: Project, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    _cats_and_dogs(project, root, cats=1, dogs=1)
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    with pytest.raises(SortError, match=r"Cannot write to .*a file is a file, not a folder\. Choose another"):
        plan_sort(project, SortRequest(blocker / "sorted"))

    # The plan was fine, but by the time it starts a file is where the folder must go.
    later = tmp_path / "later"
    plan = plan_sort(project, SortRequest(later / "sorted"))
    later.write_text("became a file")
    with pytest.raises(SortError) as caught:
        start_sort(project, plan)
    assert str(caught.value) == (f"Cannot write to {later / 'sorted'}: part of that path is a file, not a folder. "
                                 "Choose another destination.")
    with project.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Sort)) == 0  # nothing journalled


def test_read_only_destination_real_permissions(project: Project, tmp_path: Path) -> None:
    if mk.is_root():
        pytest.skip("running as root: chmod 0o555 does not stop root writing; the file-in-the-way test covers it")
    root, parent = tmp_path / "photos", tmp_path / "locked"
    _cats_and_dogs(project, root, cats=1, dogs=1)
    parent.mkdir()
    parent.chmod(0o555)
    try:
        plan = plan_sort(project, SortRequest(parent / "sorted"))
        with pytest.raises(SortError) as caught:
            start_sort(project, plan)
    finally:
        parent.chmod(0o755)
    assert str(caught.value) == (f"Cannot write to {parent / 'sorted'}: permission denied. "
                                 "Choose another destination.")


def test_a_source_that_disappeared_after_planning(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _cats_and_dogs(project, root, cats=2, dogs=2)
    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode="move")))
    gone = root / "cats" / "01.jpg"
    gone.unlink()
    changed = root / "dogs" / "00.jpg"
    changed.write_bytes(changed.read_bytes() + b"edited")

    result = run_sort(project, sort_id)

    assert (result.done, result.status) == (2, "done")
    reasons = {failure.source: failure.reason for failure in result.failed}
    assert reasons == {gone: f"{gone} is no longer there: it was moved or deleted after the sort was planned.",
                       changed: f"{changed} changed after the sort was planned; plan the sort again to include it."}
    assert changed.exists()  # a changed photo is left where it is
    assert "2 could not be sorted" in result.message
    undo_sort(project, sort_id)
    assert set(_tree(root)) == {"cats/00.jpg", "dogs/00.jpg", "dogs/01.jpg"}


def test_cancel_leaves_a_resumable_sort_and_undo_puts_back_beside_a_new_file(project: Project,
                                                                              tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _cats_and_dogs(project, root)
    before = _tree(root)

    class CancelAfterTwo:
        def __init__(self) -> None:
            self.seen = 0

        def is_set(self) -> bool:
            self.seen += 1
            return self.seen > 2

    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode="move")))
    result = run_sort(project, sort_id, cancel=CancelAfterTwo())
    assert (result.cancelled, result.status, result.done, result.remaining) == (True, "partial", 2, 4)
    assert "cancelled" in result.message
    [summary] = interrupted_sorts(project)
    assert (summary.id, summary.total, summary.done, summary.mode) == (sort_id, 6, 2, "move")
    assert run_sort(project, sort_id).done == 6

    newcomer = mk.write_jpeg(root / "cats" / "00.jpg", 48, 32, seed=7)  # a new photo took an old name
    newcomer_bytes = newcomer.read_bytes()
    undone = undo_sort(project, sort_id)

    assert undone.renamed == [(root / "cats" / "00.jpg", root / "cats" / "00 (2).jpg")]
    assert newcomer.read_bytes() == newcomer_bytes
    assert content_hash((root / "cats" / "00 (2).jpg").read_bytes()) == before["cats/00.jpg"]
    assert root / "cats" / "00 (2).jpg" in _image_places(project).values()
    assert "put beside" in undone.message


def test_undo_of_an_older_sort_waits_for_a_newer_one_that_moved_its_output(project: Project,
                                                                            tmp_path: Path) -> None:
    root = tmp_path / "photos"
    _cats_and_dogs(project, root, cats=2, dogs=1)
    before = _tree(root)
    first = sort_photos(project, SortRequest(tmp_path / "one", mode="move"))
    second = sort_photos(project, SortRequest(tmp_path / "two", mode="move"))
    assert second.done == 3  # the photos follow the project, so the second sort moves them on
    with pytest.raises(SortError, match=f"undo sort #{second.sort_id} first"):
        undo_sort(project, first.sort_id)
    assert undo_sort(project).sort_id == second.sort_id
    assert undo_sort(project).sort_id == first.sort_id
    assert _tree(root) == before


def test_hash_matches_the_import_hash(tmp_path: Path) -> None:
    photo = mk.write_jpeg(tmp_path / "p.jpg", 64, 48)
    assert safe_files.hash_file(photo) == content_hash(photo.read_bytes())


@needs_sigkill
def test_undo_killed_halfway_is_finished_by_undoing_again(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _many_photos(project, root, 10)
    before, places_before = _tree(root), _image_places(project)
    sort_id = sort_photos(project, SortRequest(dest, mode="move")).sort_id
    (root / "in1" / "04.jpg").write_bytes(b"a new file with an old name")

    process = _helper(project, sort_id, "--undo", "--kill-after-link", "6")
    process.communicate(timeout=60)

    assert process.returncode == -9
    assert _states(project, sort_id) == Counter(undone=5, undoing=1, done=4)
    assert [s.status for s in interrupted_sorts(project)] == ["undoing"]
    with pytest.raises(SortError, match="cannot be resumed"):
        run_sort(project, sort_id)

    undone = undo_sort(project, sort_id)

    assert undone.status == "undone" and not undone.kept
    renamed = root / "in1" / "04 (2).jpg"
    assert (root / "in1" / "04.jpg").read_bytes() == b"a new file with an old name"
    assert _tree(root) == {**before, "in1/04.jpg": content_hash(b"a new file with an old name"),
                           "in1/04 (2).jpg": before["in1/04.jpg"]}
    assert not dest.exists() and not _leftovers(root)
    places = _image_places(project)
    assert {image_id: path for image_id, path in places.items() if path != renamed} == {
        image_id: path for image_id, path in places_before.items() if path.name != "04.jpg"}
    assert renamed in places.values()


def test_move_to_a_real_other_drive(project: Project, tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK) or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second file system (tmpfs at /dev/shm) to move to")
    root = tmp_path / "photos"
    _cats_and_dogs(project, root, cats=2, dogs=2)
    before = _tree(root)
    dest = Path(tempfile.mkdtemp(dir=shm, prefix="pigeonhole-test-")) / "sorted"
    try:
        result = sort_photos(project, SortRequest(dest, mode="move"))
        assert result.done == 4 and _tree(root) == {} and sorted(_tree(dest).values()) == sorted(before.values())
        assert not _leftovers(dest)
        undo_sort(project)
        assert _tree(root) == before and not dest.exists()
    finally:
        shutil.rmtree(dest.parent, ignore_errors=True)


def test_permission_problems_are_one_clear_sentence(project: Project, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """As root chmod cannot lock a folder, so the operating system's answer is played back instead."""
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _many_photos(project, root, 6)
    before = _tree(root)
    plan = plan_sort(project, SortRequest(dest, mode="move"))

    def denied(*_args, **_kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    with monkeypatch.context() as patch:
        patch.setattr(execute.tempfile, "mkstemp", denied)
        with pytest.raises(SortError) as caught:
            start_sort(project, plan)
    assert str(caught.value) == f"Cannot write to {dest}: permission denied. Choose another destination."
    assert not dest.exists()  # the folder made for the probe is removed again

    # The drive turns read-only half way: the run stops, nothing is lost, and it resumes later.
    sort_id = start_sort(project, plan)
    real_link, calls = safe_files.hard_link, []

    def read_only_after_two(source: Path, target: Path) -> None:
        calls.append(source)
        if len(calls) > 2:
            raise OSError(errno.EROFS, "Read-only file system")
        real_link(source, target)

    with monkeypatch.context() as patch:
        patch.setattr(safe_files, "hard_link", read_only_after_two)
        result = run_sort(project, sort_id)
    assert result.status == "partial" and result.done == 2
    assert result.stopped.startswith("Cannot write to ") and "the drive is read-only" in result.stopped
    assert result.stopped.endswith("2 of 6 photos were sorted and nothing was lost. Make the folder writable, "
                                   "then resume.")
    _assert_nothing_lost(before, root, dest, move=True)
    assert run_sort(project, sort_id).done == 6
    undo_sort(project, sort_id)
    assert _tree(root) == before


def test_undo_waits_for_a_disconnected_destination(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _cats_and_dogs(project, root, cats=2, dogs=1)
    before = _tree(root)
    sort_id = sort_photos(project, SortRequest(dest, mode="move")).sort_id
    dest.rename(tmp_path / "unplugged")

    undone = undo_sort(project, sort_id)

    assert undone.status == "undoing" and "not available" in undone.stopped and not undone.restored
    assert [s.id for s in interrupted_sorts(project)] == [sort_id]
    (tmp_path / "unplugged").rename(dest)
    assert undo_sort(project).status == "undone"
    assert _tree(root) == before
