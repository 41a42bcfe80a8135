"""A project.db from anywhere: a schema that loops, another program's database, a newer Pigeonhole's, a
damaged one, a read-only one. Each is one sentence at open (or, read-only, opened for reading), and no query
can keep Ctrl+C out."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import threading
from pathlib import Path

import imagemakers
import pytest
from sqlalchemy import text

from desktop.cli import main
from desktop.core.project import DB_FILE_NAME, ProjectError, open_project
from desktop.db.engine import is_interrupted, make_engine


def assert_one_error_line(stderr: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pigeonhole: error: ") and lines[0].endswith("."), stderr


ENDLESS = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT x AS id FROM r"


def _project(tmp_path: Path, *statements: str) -> Path:
    """A real project, closed, with ``statements`` run on its database afterwards."""
    with open_project(tmp_path / "p.pigeonhole") as project:
        db_path = project.db_path
    with sqlite3.connect(db_path) as connection:
        connection.execute("PRAGMA foreign_keys=OFF")
        for statement in statements:
            connection.execute(statement)
    return db_path.parent


def _refused(project_dir: Path, capsys, *words: str) -> None:
    with pytest.raises(ProjectError) as caught:  # what the app shows where it opens a project
        open_project(project_dir, create=False)
    message = str(caught.value)
    assert "\n" not in message and message.endswith(".")
    for word in words:
        assert word in message
    assert main(["status", str(project_dir)]) == 1
    assert_one_error_line(capsys.readouterr().err)


HOSTILE = {
    "images a recursive view": ["ALTER TABLE images RENAME TO images_old", f"CREATE VIEW images AS {ENDLESS}"],
    "a trigger": ["CREATE TRIGGER t AFTER INSERT ON labels BEGIN DELETE FROM images; END"],
    "a virtual table": ["CREATE VIRTUAL TABLE notes USING fts5(body)"],
}


@pytest.mark.parametrize("statements", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_schema_pigeonhole_never_makes_is_refused_before_any_query(statements, tmp_path, capsys,
                                                                     hang_guard) -> None:
    _refused(_project(tmp_path, *statements), capsys, "another program", "never makes")


def test_another_programs_database_is_refused_and_left_as_it_is(tmp_path, capsys) -> None:
    folder = tmp_path / "p.pigeonhole"
    folder.mkdir()
    with sqlite3.connect(folder / DB_FILE_NAME) as connection:
        connection.execute("CREATE TABLE contacts (name TEXT)")
    before = hashlib.sha256((folder / DB_FILE_NAME).read_bytes()).hexdigest()
    _refused(folder, capsys, "another program's database", "'contacts'")
    assert hashlib.sha256((folder / DB_FILE_NAME).read_bytes()).hexdigest() == before  # no table added


def test_a_newer_pigeonholes_project_says_so(tmp_path, capsys) -> None:
    _refused(_project(tmp_path, "UPDATE alembic_version SET version_num = 'f00dcafe1234'"), capsys,
             "newer version of Pigeonhole")


def test_a_table_without_a_column_pigeonhole_needs_is_damaged(tmp_path, capsys) -> None:
    _refused(_project(tmp_path, "ALTER TABLE images DROP COLUMN missing"), capsys, "'missing'", "damaged")


def test_ctrl_c_stops_a_query_that_would_run_for_ever(tmp_path, hang_guard) -> None:
    engine = make_engine(tmp_path / "any.db")
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(Exception) as caught, engine.connect() as connection:
            connection.execute(text(f"SELECT count(*) FROM ({ENDLESS})")).fetchall()
    finally:
        timer.cancel()
        engine.dispose()
    assert is_interrupted(caught.value)


def test_the_command_line_reports_such_a_stop_as_an_interruption(project, monkeypatch, capsys,
                                                                 hang_guard) -> None:
    import desktop.core.status

    def endless(opened):
        with opened.engine.connect() as connection:
            connection.execute(text(f"SELECT count(*) FROM ({ENDLESS})")).fetchall()

    monkeypatch.setattr(desktop.core.status, "project_status", endless)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        assert main(["status", str(project.path)]) == 130
    finally:
        timer.cancel()
    assert capsys.readouterr().err == "pigeonhole: interrupted\n"


@pytest.fixture
def read_only_project(tmp_path, photo_folder):
    """A project with 3 photos whose folder cannot be written, even by root (the immutable flag)."""
    from desktop.core.importer import import_folder

    with open_project(tmp_path / "p.pigeonhole") as project:
        import_folder(project, photo_folder({"cats": 2, "dogs": 1}), labels_from_subfolders=True)
    folder = tmp_path / "p.pigeonhole"
    if imagemakers.is_root():
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("running as root on a file system without chattr +i: every folder is writable")
        undo = ["chattr", "-i", str(folder)]
    else:
        folder.chmod(0o555)
        undo = ["chmod", "755", str(folder)]
    yield folder
    subprocess.run(undo, check=True)


def test_a_read_only_project_still_answers_the_commands_that_only_read(read_only_project, capsys) -> None:
    before = sorted(os.listdir(read_only_project))
    assert main(["status", str(read_only_project), "--json"]) == 0
    assert '"images": 3' in capsys.readouterr().out
    assert main(["folders", str(read_only_project)]) == 0
    assert main(["models", str(read_only_project)]) == 0
    capsys.readouterr()
    assert main(["check", str(read_only_project), "--dismiss", "blurry", "1"]) == 1  # a write: one sentence
    assert_one_error_line(capsys.readouterr().err)
    with pytest.raises(ProjectError, match="read-only"):
        open_project(read_only_project, create=False)
    assert sorted(os.listdir(read_only_project)) == before  # no lock file, no -wal, no backup


def test_status_still_reads_a_project_on_a_full_disk(tmp_path, photo_folder, capsys) -> None:
    """A real tiny file system (tmpfs: needs root with mount rights), filled to the last block."""
    from desktop.core.importer import import_folder

    disk = tmp_path / "disk"
    disk.mkdir()
    if not imagemakers.is_root() or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                                                   capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root with mount rights)")
    try:
        with open_project(disk / "p.pigeonhole") as project:
            import_folder(project, photo_folder({"cats": 2, "dogs": 1}), labels_from_subfolders=True)
        with open(disk / "filler", "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        assert main(["status", str(disk / "p.pigeonhole"), "--json"]) == 0
        assert '"images": 3' in capsys.readouterr().out
        assert main(["import", str(disk / "p.pigeonhole"), str(tmp_path / "photos")]) == 1  # a write: refused
        assert_one_error_line(capsys.readouterr().err)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
