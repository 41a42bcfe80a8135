"""`pigeonhole sort`, `resume-sort` and `undo-sort`: exact JSON shapes, files on disk, and helpful messages."""

from __future__ import annotations

import json
from pathlib import Path

import imagemakers as mk
import pytest
from sqlalchemy import select

from desktop.cli import main
from desktop.core import sorting
from desktop.core.importer import import_folder
from desktop.core.project import open_project
from desktop.db.engine import transaction
from desktop.db.models import Image, Prediction, TrainedModel
from desktop.io.images import content_hash

SORT_KEYS = {"sort_id", "planned", "done", "per_class", "operations"}


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): content_hash(p.read_bytes()) for p in sorted(root.rglob("*"))
            if p.is_file()}


def _make_project(tmp_path: Path, cats: int = 3, dogs: int = 2, unsure: str | None = "dogs/00.jpg") -> Path:
    """cats/NN.jpg and dogs/NN.jpg with predictions (0.9 for their folder's class; 0.3 for ``unsure``)."""
    photos = tmp_path / "photos"
    for index in range(cats):
        mk.write_jpeg(photos / "cats" / f"{index:02d}.jpg", 48, 32, seed=100 + index)
    for index in range(dogs):
        mk.write_jpeg(photos / "dogs" / f"{index:02d}.jpg", 48, 32, seed=200 + index)
    path = tmp_path / "p.pigeonhole"
    with open_project(path) as project:
        import_folder(project, photos, workers=2)
        with transaction(project.sessions) as session:
            model = TrainedModel(file="models/test.pt", backbone="test", mode="frozen", weights_source="none",
                                 class_names=["cats", "dogs"], train_images=0, val_images=0, metrics={},
                                 settings={}, device="cpu", seconds=0.0, is_active=True)
            session.add(model)
            session.flush()
            for image in session.scalars(select(Image)):
                index = 0 if image.rel_path.startswith("cats/") else 1
                confidence = 0.3 if image.rel_path == unsure else 0.9
                probabilities = [1 - confidence, 1 - confidence]
                probabilities[index] = confidence
                session.add(Prediction(model_id=model.id, image_id=image.id, probabilities=probabilities,
                                       content_hash=image.content_hash, predicted_index=index,
                                       confidence=confidence, margin=0.5))
    return path


def test_dry_run_json_shape_and_nothing_written(tmp_path: Path, capsys) -> None:
    project = _make_project(tmp_path)
    dest = tmp_path / "sorted"
    code, out, _err = _cli(capsys, "sort", str(project), "--dest", str(dest), "--dry-run", "--json")
    assert code == 0
    payload = json.loads(out)
    assert set(payload) >= SORT_KEYS
    assert payload["sort_id"] is None and payload["done"] == 0 and payload["planned"] == 5
    assert payload["per_class"] == {"cats": 3, "dogs": 1, "_unsure": 1}
    assert list(payload["per_class"])[-1] == "_unsure"
    for op in payload["operations"]:
        assert set(op) == {"source", "destination"}
        assert Path(op["source"]).is_absolute() and Path(op["destination"]).is_absolute()
        assert Path(op["destination"]).parent.parent == dest.resolve()
    assert not dest.exists()


def test_move_sort_then_undo_restores_everything(tmp_path: Path, capsys) -> None:
    project = _make_project(tmp_path)
    photos = tmp_path / "photos"
    before = _tree(photos)
    dest = tmp_path / "sorted"
    code, out, _err = _cli(capsys, "sort", str(project), "--dest", str(dest), "--move", "--threshold", "0.5",
                           "--json")
    assert code == 0
    payload = json.loads(out)
    assert isinstance(payload["sort_id"], int) and payload["planned"] == payload["done"] == 5
    assert payload["per_class"] == {"cats": 3, "dogs": 1, "_unsure": 1}
    assert _tree(dest) == {f"cats/{i:02d}.jpg": before[f"cats/{i:02d}.jpg"] for i in range(3)} | {
        "dogs/01.jpg": before["dogs/01.jpg"], "_unsure/00.jpg": before["dogs/00.jpg"]}
    assert _tree(photos) == {}
    for op in payload["operations"]:
        assert Path(op["destination"]).is_file() and not Path(op["source"]).exists()

    code, out, _err = _cli(capsys, "undo-sort", str(project), "--json")
    assert code == 0
    undone = json.loads(out)
    assert undone["sort_id"] == payload["sort_id"] and undone["status"] == "undone"
    assert len(undone["restored"]) == 5
    assert _tree(photos) == before
    assert not dest.exists()  # the folders the sort made are gone once empty

    code, _out, err = _cli(capsys, "undo-sort", str(project))
    assert code == 1 and err.strip() == "pigeonhole: error: There is no sort to undo."


def test_copy_sort_text_summary_folder_and_threshold(tmp_path: Path, capsys) -> None:
    project = _make_project(tmp_path)
    dest = tmp_path / "out"
    code, out, _err = _cli(capsys, "sort", str(project), "--dest", str(dest), "--folder",
                           str(tmp_path / "photos" / "cats"), "--threshold", "0.95")
    assert code == 0
    assert out.splitlines()[0] == f"3 of 3 photos were copied into {dest.resolve()}."
    assert "  _unsure: 3" in out.splitlines()
    assert len(list((dest / "_unsure").iterdir())) == 3
    assert len(list((tmp_path / "photos" / "cats").iterdir())) == 3  # copies: the originals stay

    code, _out, err = _cli(capsys, "sort", str(project), "--dest", str(dest), "--folder", str(tmp_path / "nowhere"))
    assert code == 1 and "is not one of the project's folders" in err


def test_no_follow_labels_and_bad_destination(tmp_path: Path, capsys) -> None:
    project = _make_project(tmp_path, unsure=None)
    blocker = tmp_path / "a file"
    blocker.write_text("in the way")
    code, out, err = _cli(capsys, "sort", str(project), "--dest", str(blocker / "sorted"), "--json")
    assert code == 1 and out == ""
    assert err.startswith("pigeonhole: error: Cannot write to ") and "Traceback" not in err
    code, _out, err = _cli(capsys, "sort", str(project), "--dest", str(tmp_path / "x"), "--threshold", "2")
    assert code == 1 and "between 0 and 1" in err
    code, out, _err = _cli(capsys, "sort", str(project), "--dest", str(tmp_path / "x"), "--dry-run",
                           "--no-follow-labels", "--json")
    assert json.loads(out)["per_class"] == {"cats": 3, "dogs": 2}


def test_interrupted_sort_is_reported_then_resumed(tmp_path: Path, capsys, monkeypatch) -> None:
    project_path = _make_project(tmp_path)
    dest = tmp_path / "sorted"
    with open_project(project_path, create=False) as project:
        plan = sorting.plan_sort(project, sorting.SortRequest(dest, mode="move"))
        sort_id = sorting.start_sort(project, plan)  # journalled, never run: what a crash at the start leaves

    code, _out, err = _cli(capsys, "sort", str(project_path), "--dest", str(tmp_path / "other"), "--dry-run")
    assert code == 0
    assert f"sort #{sort_id} (move into {dest.resolve()}) did not finish: 0 of 5 photos done" in err
    assert f"pigeonhole resume-sort {project_path} --sort-id {sort_id}" in err
    assert f"pigeonhole undo-sort {project_path} --sort-id {sort_id}" in err

    code, out, _err = _cli(capsys, "resume-sort", str(project_path), "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["sort_id"] == sort_id and payload["done"] == 5 and payload["status"] == "done"
    code, _out, err = _cli(capsys, "resume-sort", str(project_path))
    assert code == 1 and err.strip() == "pigeonhole: error: There is no interrupted sort to resume."


def test_destination_must_name_a_folder(tmp_path: Path, capsys, monkeypatch) -> None:
    project = _make_project(tmp_path)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # where an empty --dest used to sort into
    for dest in ("", "   "):  # refused where every path argument is read (desktop/cli/common.path_argument)
        with pytest.raises(SystemExit) as exit_info:
            main(["sort", str(project), "--dest", dest])
        out, err = capsys.readouterr()
        assert (exit_info.value.code, out) == (2, "")
        assert err.strip().splitlines()[-1] == ("pigeonhole sort: error: argument --dest: expected a path, not an "
                                                "empty word")
    a_file = tmp_path / "list.txt"
    a_file.write_text("not a folder")
    code, out, err = _cli(capsys, "sort", str(project), "--dest", str(a_file))
    assert (code, out) == (1, "")
    assert err == (f"pigeonhole: error: Cannot write to {a_file}: it is a file, not a folder. "
                   "Choose another destination.\n")
    assert list(cwd.iterdir()) == []


def test_names_with_terminal_escapes_are_printed_escaped(tmp_path: Path, capsys) -> None:
    """A class name, a photo's name and a destination can all carry escape sequences; none reaches the terminal."""
    evil = "\x1b]0;owned\x07\x1b[2J"
    mk.write_jpeg(tmp_path / "photos" / "cats" / f"{evil}.jpg", 48, 32, seed=7)
    project_path = _make_project(tmp_path)
    with open_project(project_path, create=False) as project, transaction(project.sessions) as session:
        session.get(TrainedModel, 1).class_names = [f"cats{evil}", "dogs"]
    dest = tmp_path / f"out{evil}"

    code, out, err = _cli(capsys, "sort", str(project_path), "--dest", str(dest))
    assert code == 0 and f"  cats{evil}: 4".encode("unicode_escape").decode() in out.replace("\\\\", "\\")
    outputs = [out, err]
    copy = next(path for path in dest.rglob("*.jpg") if evil in path.name)
    copy.write_bytes(b"edited")  # so undo keeps it and names it
    with open_project(project_path, create=False) as project:
        sorting.start_sort(project, sorting.plan_sort(project, sorting.SortRequest(dest, mode="copy")))
    for command in (("sort", str(project_path), "--dest", str(tmp_path / "x"), "--dry-run"),
                    ("resume-sort", str(project_path)), ("undo-sort", str(project_path), "--sort-id", "1")):
        code, out, err = _cli(capsys, *command)
        outputs += [out, err]
    assert "kept: " in outputs[-2] and "\\x1b]0;owned\\x07" in outputs[-2]
    for text in outputs:
        assert "\x1b" not in text and "\x07" not in text


def test_a_full_project_disk_is_one_sentence_then_resume_and_undo_work(tmp_path: Path, capsys) -> None:
    from diskfaults import project_disk_full

    project = _make_project(tmp_path)
    photos = tmp_path / "photos"
    before = _tree(photos)
    dest = tmp_path / "sorted"
    with project_disk_full(after=4):
        code, out, err = _cli(capsys, "sort", str(project), "--dest", str(dest), "--move")
    assert code == 1 and "Traceback" not in err
    assert out.splitlines()[0].startswith("The disk holding the project is full: ")
    assert out.splitlines()[0].endswith(" photos were sorted and nothing was lost. Free some space there, then "
                                        "resume.")
    code, out, _err = _cli(capsys, "resume-sort", str(project), "--json")
    assert code == 0 and json.loads(out)["done"] == 5
    code, _out, _err = _cli(capsys, "undo-sort", str(project))
    assert code == 0 and _tree(photos) == before


def test_ctrl_c_during_a_sort_names_the_sort_to_resume(tmp_path: Path, capsys, monkeypatch) -> None:
    """The sort is journalled and run in one call (sorting.sort_plan); Ctrl+C mid-run still says which sort to
    resume or undo, and both finish it."""
    from desktop.core.sorting import execute

    project, dest = _make_project(tmp_path), tmp_path / "sorted"
    real_run = execute.run_sort

    def interrupted(project_, sort_id, on_progress=None, cancel=None):
        def progress(event) -> None:
            if event.done == 2:
                raise KeyboardInterrupt
        return real_run(project_, sort_id, progress, cancel)

    monkeypatch.setattr(execute, "run_sort", interrupted)
    code, _out, err = _cli(capsys, "sort", str(project), "--dest", str(dest), "--threshold", "0.5")
    assert code == 130
    assert err.strip().splitlines()[-1] == (
        f"pigeonhole: interrupted; nothing was lost: resume it with `pigeonhole resume-sort {project} --sort-id 1` "
        f"or undo it with `pigeonhole undo-sort {project} --sort-id 1`.")
    monkeypatch.setattr(execute, "run_sort", real_run)
    code, out, _err = _cli(capsys, "resume-sort", str(project), "--sort-id", "1", "--json")
    assert code == 0 and json.loads(out)["done"] == 5
