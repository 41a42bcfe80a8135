"""`pigeonhole import` and `pigeonhole status`: exact JSON shapes, text output, and one-sentence errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import imagemakers as mk
import pytest

from desktop.cli import main

REPO = Path(__file__).resolve().parents[2]
STATUS_KEYS = {"images", "labelled", "unlabelled", "broken", "classes", "broken_files"}


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "desktop", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=120, check=False)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_sentence(stderr: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("pigeonhole: error: ")
    assert lines[0].endswith("."), lines[0]
    assert "Traceback" not in stderr


def _assert_status_shape(status: dict) -> None:
    assert STATUS_KEYS <= set(status) <= STATUS_KEYS | {"missing", "set_aside"}
    for key in ("images", "labelled", "unlabelled", "broken"):
        assert type(status[key]) is int
    assert status["labelled"] + status["unlabelled"] == status["images"]
    assert isinstance(status["classes"], dict)
    assert all(isinstance(k, str) and type(v) is int for k, v in status["classes"].items())
    assert isinstance(status["broken_files"], list)
    for entry in status["broken_files"]:
        assert set(entry) == {"path", "reason"}
        assert isinstance(entry["path"], str) and entry["reason"]
    assert len(status["broken_files"]) == status["broken"]


def test_import_and_status_in_real_subprocesses(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    mk.write_jpeg(photos / "chats" / "été 1.JPG", 120, 80, seed=1)
    mk.write_jpeg(photos / "chats" / "2.jpg", 120, 80, seed=2)
    mk.write_png(photos / "chiens" / "1.png", 90, 60, seed=3)
    mk.write_truncated_jpeg(photos / "chiens" / "cut.jpg")
    mk.write_empty(photos / "chiens" / "empty.jpeg")
    project = tmp_path / "My Project.pigeonhole"

    result = _run("import", str(project), str(photos), "--labels-from-subfolders", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress noise when not on a terminal
    report = json.loads(result.stdout)
    assert report["project"] == str(project.resolve())
    [folder] = report["folders"]
    assert (folder["imported"], folder["broken"], folder["unchanged"], folder["missing"], folder["labelled"]) == (
        3, 2, 0, 0, 3)
    assert {entry["path"] for entry in folder["broken_files"]} == {
        str(photos / "chiens" / "cut.jpg"), str(photos / "chiens" / "empty.jpeg")}

    result = _run("status", str(project), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    _assert_status_shape(status)
    assert {k: status[k] for k in ("images", "labelled", "unlabelled", "broken")} == {
        "images": 3, "labelled": 3, "unlabelled": 0, "broken": 2}
    assert status["classes"] == {"chats": 2, "chiens": 1}
    reasons = {entry["path"]: entry["reason"] for entry in status["broken_files"]}
    assert "truncated" in reasons[str(photos / "chiens" / "cut.jpg")]
    assert "empty" in reasons[str(photos / "chiens" / "empty.jpeg")]


def test_status_error_in_a_real_subprocess(tmp_path: Path) -> None:
    result = _run("status", str(tmp_path / "nothing here"), "--json", cwd=tmp_path)
    assert result.returncode != 0
    assert result.stdout == ""
    _assert_one_sentence(result.stderr)
    assert "no Pigeonhole project" in result.stderr


def test_status_of_an_empty_project(capsys, tmp_path: Path) -> None:
    from desktop.core.project import open_project

    open_project(tmp_path / "p").close()
    code, out, _ = _cli(capsys, "status", str(tmp_path / "p"), "--json")
    assert code == 0
    assert json.loads(out) == {"images": 0, "labelled": 0, "unlabelled": 0, "broken": 0, "missing": 0,
                               "set_aside": 0, "classes": {}, "broken_files": []}


def test_import_every_bad_kind_and_rescan(capsys, zoo: Path, tmp_path: Path) -> None:
    project = str(tmp_path / "p")
    code, out, err = _cli(capsys, "import", project, str(zoo), "--json")
    assert code == 0, err
    [folder] = json.loads(out)["folders"]
    assert (folder["imported"], folder["broken"]) == (len(mk.GOOD_FILES), len(mk.BAD_FILES))
    assert set(folder) == {"folder", "imported", "unchanged", "broken", "missing", "labelled", "seconds",
                           "broken_files", "warnings", "with_keywords"}

    code, out, _ = _cli(capsys, "status", project, "--json")
    status = json.loads(out)
    _assert_status_shape(status)
    reasons = {Path(e["path"]).relative_to(zoo.resolve()).as_posix(): e["reason"] for e in status["broken_files"]}
    assert set(reasons) == set(mk.BAD_FILES)
    for rel_path, fragment in mk.BAD_FILES.items():
        assert fragment in reasons[rel_path].lower()

    (zoo / "good" / "photo.jpg").unlink()
    code, out, _ = _cli(capsys, "import", project, str(zoo), "--json")
    [folder] = json.loads(out)["folders"]
    assert (folder["imported"], folder["unchanged"], folder["missing"]) == (
        0, len(mk.GOOD_FILES) + len(mk.BAD_FILES) - 1, 1)
    code, out, _ = _cli(capsys, "status", project, "--json")
    status = json.loads(out)
    assert (status["images"], status.get("missing")) == (len(mk.GOOD_FILES) - 1, 1)


def test_import_several_folders_and_text_output(capsys, photo_folder, tmp_path: Path) -> None:
    first = photo_folder({"a": 2, "b": 1}, root=tmp_path / "first")
    second = photo_folder({"c": 1}, root=tmp_path / "second")
    project = str(tmp_path / "p")
    code, out, _ = _cli(capsys, "import", project, str(first), str(second))
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert "3 imported, 0 unchanged, 0 broken, 0 missing" in lines[0]
    assert "1 imported" in lines[1]
    code, out, _ = _cli(capsys, "status", project)
    assert out.startswith("4 images: 0 labelled, 4 unlabelled, 0 broken, 0 missing")
    assert "Classes: no classes yet" in out


def test_text_status_lists_broken_files(capsys, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    mk.write_text_as_image(photos / "notes.jpg")
    _cli(capsys, "import", str(tmp_path / "p"), str(photos))
    code, out, _ = _cli(capsys, "status", str(tmp_path / "p"))
    assert code == 0
    assert f"broken: {photos / 'notes.jpg'}: not an image" in out


def test_import_warnings_for_unusable_subfolder_names(capsys, photo_folder, tmp_path: Path) -> None:
    photos = photo_folder({"cats": 1, "_later": 1})
    code, out, _ = _cli(capsys, "import", str(tmp_path / "p"), str(photos), "--labels-from-subfolders", "--json")
    assert code == 0
    [folder] = json.loads(out)["folders"]
    assert folder["labelled"] == 1 and len(folder["warnings"]) == 1


@pytest.mark.parametrize("case", ["missing-folder", "file-as-folder", "busy-project-dir", "project-is-a-file",
                                  "status-missing", "status-corrupt"])
def test_errors_are_one_sentence_with_non_zero_exit(capsys, tmp_path: Path, case: str) -> None:
    photos = tmp_path / "photos"
    mk.write_jpeg(photos / "a.jpg", 40, 30)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.docx").write_bytes(b"x")
    (tmp_path / "afile").write_text("x")
    corrupt = tmp_path / "corrupt.pigeonhole"
    corrupt.mkdir()
    (corrupt / "project.db").write_bytes(os.urandom(4096))
    args = {
        "missing-folder": ["import", str(tmp_path / "new"), str(tmp_path / "no such folder")],
        "file-as-folder": ["import", str(tmp_path / "new"), str(photos / "a.jpg")],
        "busy-project-dir": ["import", str(tmp_path / "busy"), str(photos)],
        "project-is-a-file": ["import", str(tmp_path / "afile"), str(photos)],
        "status-missing": ["status", str(tmp_path / "new")],
        "status-corrupt": ["status", str(corrupt), "--json"],
    }[case]
    code, out, err = _cli(capsys, *args)
    assert code != 0
    assert out == ""
    _assert_one_sentence(err)
    assert not (tmp_path / "new").exists()  # a failed command leaves no half-made project behind


def test_import_reports_a_broken_thumbnail_cache_as_a_warning(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    mk.write_jpeg(photos / "a.jpg", 40, 30, seed=1)
    project = tmp_path / "p.pigeonhole"
    assert main(["status", str(project)]) == 1  # no project yet
    capsys.readouterr()
    from desktop.core.project import open_project

    open_project(project).close()
    (project / "thumbnails").write_bytes(b"a file where the cache folder should be")
    code, out, _ = _cli(capsys, "import", str(project), str(photos))
    assert code == 0
    summary, warning = out.strip().splitlines()
    assert "1 imported" in summary and "0 broken" in summary
    assert warning.startswith(f"  warning: The thumbnail cache {project / 'thumbnails'} cannot be written")
    (project / "thumbnails").unlink()
    code, out, _ = _cli(capsys, "import", str(project), str(photos), "--json")
    assert json.loads(out)["folders"][0]["warnings"] == []
