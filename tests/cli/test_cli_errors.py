"""Every expected failure of a command is one line on stderr ("pigeonhole: error: …."), exit code 1; a bug
keeps its traceback for the developer."""

from __future__ import annotations

import errno
import sqlite3

import pytest
import sqlalchemy.exc
from cli_helpers import assert_one_error_line

import desktop.core.status
from desktop.cli import main, user_message
from desktop.cli.common import UserError, error_line
from desktop.errors import PigeonholeError


def test_error_line_is_one_line_ending_with_a_period() -> None:
    assert error_line("Not enough labelled images:\n  • label 3 photos\n  • in 2 classes") == (
        "pigeonhole: error: Not enough labelled images: • label 3 photos • in 2 classes.")
    assert error_line("There is no model 9 in this project.") == (
        "pigeonhole: error: There is no model 9 in this project.")
    assert error_line("unknown command 'x' (did you mean 'y'?)").endswith("?).")
    assert error_line("Cannot read /tmp/\x1b]2;owned\x07.") == "pigeonhole: error: Cannot read /tmp/\\x1b]2;owned\\x07."
    assert error_line("   ") == "pigeonhole: error: Something went wrong."


@pytest.mark.parametrize("command", ["status", "train", "predict", "suggest", "models", "label-issues",
                                     "duplicates", "export"])
def test_a_missing_project_and_a_folder_that_is_no_project(command, tmp_path, capsys) -> None:
    other = tmp_path / "documents"
    other.mkdir()
    (other / "thesis.txt").write_text("x")
    extra = ["--what", "csv", "--out", str(tmp_path / "t.csv")] if command == "export" else []
    for project in (tmp_path / "nowhere", other):
        assert main([command, str(project), *extra]) == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert_one_error_line(err)
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("command", ["predict", "suggest"])
def test_no_model_yet(command, project, photo_folder, capsys) -> None:
    from desktop.core.importer import import_folder

    import_folder(project, photo_folder({"a": 2}))
    assert main([command, str(project.path)]) == 1
    assert_one_error_line(capsys.readouterr().err)


def test_not_enough_labels_spans_lines_in_the_core_but_one_line_here(project, photo_folder, capsys) -> None:
    from desktop.core.importer import import_folder

    import_folder(project, photo_folder({"a": 2}))
    for command in ("train", "label-issues"):
        assert main([command, str(project.path)]) == 1
        assert_one_error_line(capsys.readouterr().err)


def test_a_disk_error_is_the_systems_own_sentence(project, monkeypatch, capsys) -> None:
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(project.path / "project.db-wal"))

    monkeypatch.setattr(desktop.core.status, "project_status", full)
    assert main(["status", str(project.path)]) == 1
    err = capsys.readouterr().err
    assert_one_error_line(err)
    assert f"No space left on device: {project.path / 'project.db-wal'}." in err


def test_a_database_error_is_one_sentence(project, monkeypatch, capsys) -> None:
    def full(*args, **kwargs):
        raise sqlalchemy.exc.OperationalError("INSERT INTO images …\n[SQL: …]", {},
                                              sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(desktop.core.status, "project_status", full)
    assert main(["status", str(project.path)]) == 1
    err = capsys.readouterr().err
    assert_one_error_line(err)
    assert "database or disk is full" in err and "SQL" not in err


def test_a_multi_line_message_is_printed_on_one_line(project, monkeypatch, capsys) -> None:
    def fails(*args, **kwargs):
        raise PigeonholeError("The first line\nand the second line")

    monkeypatch.setattr(desktop.core.status, "project_status", fails)
    assert main(["status", str(project.path)]) == 1
    assert capsys.readouterr().err == "pigeonhole: error: The first line and the second line.\n"


def test_a_bug_keeps_its_traceback(project, monkeypatch) -> None:
    def bug(*args, **kwargs):
        return {}["missing key"]

    monkeypatch.setattr(desktop.core.status, "project_status", bug)
    with pytest.raises(KeyError):
        main(["status", str(project.path)])


@pytest.mark.parametrize(("error", "expected"), [
    (UserError("Pick one."), "Pick one."),
    (FileNotFoundError("/x is not a folder."), "/x is not a folder."),
    (PermissionError(errno.EACCES, "Permission denied", "/x"), "Permission denied: /x."),
    (OSError(errno.EIO, "Input/output error"), "Input/output error."),
    (ValueError("a bug"), None),
    (OSError("no strerror: a bug"), None),
])
def test_which_errors_are_for_the_user(error, expected) -> None:
    assert user_message(error) == expected
