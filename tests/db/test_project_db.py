"""Projects and their database: pragmas, opening rules, Alembic chain and schema, upgrade with backup/restore."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from desktop.core.classes import add_class, delete_class
from desktop.core.labels import set_label
from desktop.core.project import DB_FILE_NAME, Project, ProjectError, is_project_dir, open_project
from desktop.db import migrate
from desktop.db.engine import transaction
from desktop.db.models import Base, Folder, Image, Label


def _pragma(project: Project, name: str):
    with project.engine.connect() as connection:
        return connection.execute(text(f"PRAGMA {name}")).scalar()


def _add_images(project: Project, count: int) -> list[int]:
    with transaction(project.sessions) as session:
        folder = Folder(root=f"/photos/{count}")
        session.add(folder)
        session.flush()
        rows = [Image(folder_id=folder.id, rel_path=f"{i}.jpg", size=1, mtime=0.0, content_hash=f"h{i}",
                      width=10, height=10) for i in range(count)]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def _sqlite_rows(db_path: Path, query: str) -> list[tuple]:
    connection = sqlite3.connect(db_path)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


# --- pragmas and constraints ----------------------------------------------------------------------------------

def test_new_project_uses_wal_and_foreign_keys(project: Project) -> None:
    # The very first pooled connection is the one the migration used: it must have foreign keys on too.
    assert _pragma(project, "journal_mode") == "wal"
    assert _pragma(project, "foreign_keys") == 1
    assert _pragma(project, "busy_timeout") == 10000
    connections = [project.engine.connect() for _ in range(3)]
    try:
        for connection in connections:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        for connection in connections:
            connection.close()


def test_reopened_project_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    open_project(tmp_path / "p").close()
    with open_project(tmp_path / "p") as project:
        assert _pragma(project, "journal_mode") == "wal"
        assert _pragma(project, "foreign_keys") == 1


def test_foreign_keys_are_enforced_and_cascade(project: Project) -> None:
    ids = _add_images(project, 2)
    with pytest.raises(IntegrityError), transaction(project.sessions) as session:
        session.add(Label(image_id=ids[0], class_id=999))
    cat = add_class(project, "cat")
    set_label(project, ids, cat.id)
    # A bulk (Core) delete relies on ON DELETE CASCADE in SQLite, not on the ORM.
    delete_class(project, cat.id)
    assert _sqlite_rows(project.db_path, "SELECT count(*) FROM labels") == [(0,)]
    assert _sqlite_rows(project.db_path, "SELECT count(*) FROM images") == [(2,)]


def test_new_project_opened_and_written_in_one_go_keeps_labels_consistent(tmp_path: Path) -> None:
    """Regression: on a new project the migration's connection (foreign keys off) was reused from the pool."""
    with open_project(tmp_path / "fresh") as project:
        ids = _add_images(project, 1)
        cat = add_class(project, "cat")
        set_label(project, ids, cat.id)
        delete_class(project, cat.id)
        assert _sqlite_rows(project.db_path, "SELECT count(*) FROM labels") == [(0,)]


# --- opening rules --------------------------------------------------------------------------------------------

def test_open_creates_then_reopens(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "My Photos.pigeonhole"
    with open_project(path) as project:
        assert project.name == "My Photos"
        assert is_project_dir(path) and project.db_path == path / DB_FILE_NAME
    with open_project(path / DB_FILE_NAME, create=False) as project:  # the db file itself opens its folder
        assert project.path == path.resolve()


def test_open_refuses_bad_places(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="no Pigeonhole project"):
        open_project(tmp_path / "none", create=False)
    assert not (tmp_path / "none").exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(ProjectError, match="already contains other files"):
        open_project(busy)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ProjectError, match="is a file"):
        open_project(tmp_path / "file")


def test_open_read_only_folder(tmp_path: Path) -> None:
    import subprocess

    import imagemakers

    open_project(tmp_path / "ro").close()
    folder = tmp_path / "ro"
    if imagemakers.is_root():  # chmod does not stop root; the immutable flag does
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("running as root on a file system without chattr +i: every folder is writable")
        undo = ["chattr", "-i", str(folder)]
    else:
        folder.chmod(0o555)
        undo = ["chmod", "755", str(folder)]
    try:
        with pytest.raises(ProjectError, match="read-only"):
            open_project(folder)
    finally:
        subprocess.run(undo, check=True)


def test_corrupt_database_gives_a_project_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.pigeonhole"
    path.mkdir()
    (path / DB_FILE_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(ProjectError, match="is not an SQLite database, so it is damaged"):
        open_project(path)
    # An SQLite header over garbage gets past the header check; SQLite itself then says it is damaged.
    (path / DB_FILE_NAME).write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    with pytest.raises(ProjectError, match="is damaged; restore a copy"):
        open_project(path)
    assert (path / DB_FILE_NAME).stat().st_size == 4016  # never replaced by a new schema


# --- migrations -----------------------------------------------------------------------------------------------

def test_migration_chain_is_linear_with_one_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1
    files = sorted(p for p in (migrate.MIGRATIONS_DIR / "versions").glob("*.py") if not p.name.startswith("_"))
    revisions = []
    for path in files:
        source = path.read_text()
        revision = re.search(r'^revision\s*=\s*"([^"]+)"', source, re.M).group(1)
        down = re.search(r'^down_revision\s*=\s*(None|"[^"]*")', source, re.M).group(1).strip('"')
        assert path.name.startswith(revision + "_"), f"{path.name} should start with its revision {revision}"
        revisions.append((revision, None if down == "None" else down))
    assert revisions[0][1] is None
    for (previous, _), (revision, down) in itertools.pairwise(revisions):
        assert down == previous, f"{revision} should follow {previous}, not {down}"
    assert revisions[-1][0] == migrate.head_revision()
    # Alembic agrees: walking from the head visits every file once.
    assert [rev.revision for rev in script.walk_revisions()] == [r for r, _ in reversed(revisions)]


def test_head_schema_matches_the_models(project: Project) -> None:
    with project.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_downgrade_to_base_and_upgrade_again(project: Project) -> None:
    config = migrate.alembic_config()
    with project.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert migrate.current_revision(project.engine) is None
    with project.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    assert migrate.current_revision(project.engine) == migrate.head_revision()


def test_reopening_an_up_to_date_project_makes_no_backup(tmp_path: Path) -> None:
    path = tmp_path / "p"
    open_project(path).close()
    assert not (path / "backups").exists()  # a brand-new database has nothing worth backing up
    with open_project(path) as project:
        assert migrate.upgrade_to_head(project.engine, project.db_path, project.path / "backups") is None
    assert not (path / "backups").exists()


def test_backup_database_is_a_consistent_copy_in_wal_mode(project: Project) -> None:
    _add_images(project, 5)
    # Rows may still sit in the -wal file: the backup must contain them anyway.
    backup = migrate.backup_database(project.db_path, project.path / "backups", "manual")
    assert backup.parent == project.path / "backups" and backup.name.startswith("project-manual-")
    assert _sqlite_rows(backup, "SELECT count(*) FROM images") == [(5,)]
    assert _sqlite_rows(backup, "PRAGMA integrity_check") == [("ok",)]
    assert _sqlite_rows(backup, "SELECT version_num FROM alembic_version") == [(migrate.head_revision(),)]


def _make_old_project(path: Path, revision: str) -> None:
    """A project folder whose database was created by an older release, at ``revision``, with some data."""
    from desktop.db.engine import make_engine

    path.mkdir(parents=True)
    engine = make_engine(path / DB_FILE_NAME)
    config = migrate.alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()
    connection = sqlite3.connect(path / DB_FILE_NAME)
    try:
        connection.executescript("""
            INSERT INTO folders (id, root, added_at, labels_from_subfolders) VALUES (1, '/photos', '2026-01-01', 0);
            INSERT INTO images (id, folder_id, rel_path, size, mtime, content_hash, width, height, error, missing,
                                added_at)
                VALUES (1, 1, 'a.jpg', 1, 0, 'h1', 10, 10, NULL, 0, '2026-01-01'),
                       (2, 1, 'b.jpg', 1, 0, 'h2', 10, 10, NULL, 0, '2026-01-01'),
                       (3, 1, 'c.jpg', 1, 0, 'h3', 10, 10, 'broken', 0, '2026-01-01');
            INSERT INTO classes (id, name, colour, shortcut, position, created_at)
                VALUES (1, 'cat', '#E69F00', '1', 0, '2026-01-01');
            INSERT INTO labels (image_id, class_id, source, created_at) VALUES (1, 1, 'user', '2026-01-01'),
                                                                              (2, 1, 'folder', '2026-01-01');
        """)
        connection.commit()
    finally:
        connection.close()


def test_old_database_is_backed_up_then_upgraded(tmp_path: Path) -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    first = script.get_bases()[0]
    if first == migrate.head_revision():
        pytest.skip("only one migration exists: nothing older to upgrade from")
    path = tmp_path / "old.pigeonhole"
    _make_old_project(path, first)

    with open_project(path) as project:
        assert migrate.current_revision(project.engine) == migrate.head_revision()
        assert _pragma(project, "foreign_keys") == 1
        with project.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    # Batch mode may rebuild tables; foreign keys were off meanwhile, so no label was cascaded away.
    db_path = path / DB_FILE_NAME
    assert _sqlite_rows(db_path, "SELECT image_id, class_id, source FROM labels ORDER BY image_id") == [
        (1, 1, "user"), (2, 1, "folder")]
    assert _sqlite_rows(db_path, "SELECT count(*) FROM images") == [(3,)]
    assert _sqlite_rows(db_path, "PRAGMA integrity_check") == [("ok",)]
    assert _sqlite_rows(db_path, "PRAGMA foreign_key_check") == []
    backups = list((path / "backups").glob("*.db"))
    assert len(backups) == 1 and f"before-{migrate.head_revision()[:8]}" in backups[0].name
    assert _sqlite_rows(backups[0], "SELECT version_num FROM alembic_version") == [(first,)]
    assert _sqlite_rows(backups[0], "SELECT count(*) FROM labels") == [(2,)]

    open_project(path).close()  # now up to date: no second backup
    assert len(list((path / "backups").glob("*.db"))) == 1


FAILING_MIGRATION = '''
"""test-only migration that fails half-way"""
from alembic import op
import sqlalchemy as sa

revision = "test_fail"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("images") as batch_op:
        batch_op.add_column(sa.Column("test_note", sa.String(), nullable=True))
    op.execute("DELETE FROM labels")
    raise RuntimeError("migration test_fail failed")


def downgrade() -> None:
    pass
'''


def _columns(db_path: Path, table: str) -> list[str]:
    return [row[1] for row in _sqlite_rows(db_path, f"PRAGMA table_info({table})")]


def test_failed_upgrade_restores_the_backup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.pigeonhole"
    with open_project(path) as project:
        ids = _add_images(project, 3)
        cat = add_class(project, "cat")
        set_label(project, ids, cat.id)
    directory = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, directory, ignore=shutil.ignore_patterns("__pycache__"))
    old_revision = migrate.head_revision()
    (directory / "versions" / "9999_test_fail.py").write_text(FAILING_MIGRATION.format(down=old_revision))
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", directory)

    with pytest.raises(ProjectError, match="migration test_fail failed"):
        open_project(path)
    db_path = path / DB_FILE_NAME
    # What the migration did before failing (a new column, deleted labels) was undone by the restore.
    assert "test_note" not in _columns(db_path, "images")
    assert _sqlite_rows(db_path, "SELECT version_num FROM alembic_version") == [(old_revision,)]
    assert _sqlite_rows(db_path, "SELECT count(*) FROM images") == [(3,)]
    assert _sqlite_rows(db_path, "SELECT count(*) FROM labels") == [(3,)]
    assert _sqlite_rows(db_path, "PRAGMA integrity_check") == [("ok",)]
    assert len(list((path / "backups").glob("*.db"))) == 1
    monkeypatch.undo()
    with open_project(path) as project:  # and the project still opens with the real migrations
        assert migrate.current_revision(project.engine) == old_revision


def test_failed_upgrade_via_patched_command_restores_the_backup(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The same without a second migration file: pretend the head moved and make the upgrade damage the db."""
    path = tmp_path / "p.pigeonhole"
    with open_project(path) as project:
        _add_images(project, 4)

    def damaging_upgrade(config, revision):
        config.attributes["connection"].execute(text("DELETE FROM images"))
        raise RuntimeError("disk full")

    monkeypatch.setattr(migrate, "head_revision", lambda: "9999")
    monkeypatch.setattr(migrate.command, "upgrade", damaging_upgrade)
    with pytest.raises(ProjectError, match="disk full"):
        open_project(path)
    monkeypatch.undo()
    with open_project(path) as project:
        assert _sqlite_rows(project.db_path, "SELECT count(*) FROM images") == [(4,)]


# --- a project.db that cannot be a database, or cannot be written -------------------------------------------------

def test_an_empty_project_db_is_refused_not_turned_into_a_new_project(tmp_path: Path) -> None:
    path = tmp_path / "p.pigeonhole"
    path.mkdir()
    (path / DB_FILE_NAME).write_bytes(b"")  # a failed copy, a full disk
    with pytest.raises(ProjectError, match=r"project\.db is empty \(0 bytes\), so it is damaged; the project has "
                                           r"no backups in .*backups, so restore project\.db from your own backup"):
        open_project(path)
    assert (path / DB_FILE_NAME).stat().st_size == 0  # the bug: a new, empty schema was written over it
    # With backups, the sentence names the newest one to copy back.
    backups = path / "backups"
    backups.mkdir()
    older, newer = backups / "project-before-a-1.db", backups / "project-before-b-2.db"
    older.write_bytes(b"old")
    newer.write_bytes(b"new")
    os.utime(older, (1, 1))
    with pytest.raises(ProjectError, match=re.escape(f"copy its newest backup, {newer}, over it")):
        open_project(path, create=False)


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs are POSIX")
def test_a_fifo_or_a_plain_file_is_no_project(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(ProjectError, match="is not a folder, so it cannot be a project"):
        open_project(pipe)
    path = tmp_path / "p.pigeonhole"
    path.mkdir()
    os.mkfifo(path / DB_FILE_NAME)  # SQLite would wait on it forever
    with pytest.raises(ProjectError, match=r"cannot be opened \(cannot read the file: it is a named pipe"):
        open_project(path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ProjectError, match="is a file, not a project folder"):
        open_project(tmp_path / "notes.txt", create=False)


def _read_only_message(db_path: Path) -> str:
    return (f"The project database {db_path} is read-only; make it writable (or copy the project somewhere "
            "writable) and open it again.")


def test_a_read_only_project_db_in_a_writable_folder_is_one_sentence(tmp_path: Path) -> None:
    """chmod 444 for a user; as root (which chmod does not stop) the immutable flag, which stops root too."""
    import subprocess

    import imagemakers

    open_project(tmp_path / "p").close()
    db_path = tmp_path / "p" / DB_FILE_NAME
    if imagemakers.is_root():
        if subprocess.run(["chattr", "+i", str(db_path)], capture_output=True).returncode != 0:
            pytest.skip("running as root on a file system without chattr +i: nothing makes a file read-only")
        undo = ["chattr", "-i", str(db_path)]
    else:
        db_path.chmod(0o444)
        undo = ["chmod", "644", str(db_path)]
    try:
        with pytest.raises(ProjectError) as caught:
            open_project(tmp_path / "p")
    finally:
        subprocess.run(undo, check=True)
    assert str(caught.value) == _read_only_message(db_path)


def test_status_adds_up_a_missing_broken_photo_is_missing_only(project: Project, tmp_path: Path) -> None:
    """The bug: a broken photo that was then deleted counted as broken and missing, and stayed listed."""
    import imagemakers as mk

    from desktop.core.classes import add_class
    from desktop.core.importer import import_folder
    from desktop.core.status import project_status

    root = tmp_path / "photos"
    for index in range(4):
        mk.write_jpeg(root / f"{index}.jpg", 32, 24, seed=index)
    mk.write_truncated_jpeg(root / "broken.jpg")
    mk.write_empty(root / "empty.jpg")
    import_folder(project, root)
    cat = add_class(project, "cat")
    with project.sessions() as session:
        ids = dict(session.execute(select(Image.rel_path, Image.id)).all())
    set_label(project, [ids["0.jpg"], ids["1.jpg"]], cat.id)
    (root / "broken.jpg").unlink()
    (root / "1.jpg").unlink()
    import_folder(project, root)
    status = project_status(project)
    assert (status.images, status.labelled, status.unlabelled, status.broken, status.missing) == (3, 1, 2, 1, 2)
    assert status.images == status.labelled + status.unlabelled
    assert status.images + status.broken + status.missing == len(ids)  # every photo in exactly one group
    assert [Path(entry["path"]).name for entry in status.broken_files] == ["empty.jpg"]
    assert sum(status.classes.values()) == status.labelled


OPEN_HELPER = """
import sys, time
from pathlib import Path
from desktop.core.project import open_project

go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
with open_project(sys.argv[1]) as project:
    print(project.db_path.stat().st_size > 0)
"""


def test_two_processes_creating_one_project_at_once_both_open_it(tmp_path: Path) -> None:
    """The second waits for the first to make the database, instead of finding a half-made (0-byte) one."""
    import subprocess

    script = tmp_path / "open.py"
    script.write_text(OPEN_HELPER)
    go = tmp_path / "go"
    openers = [subprocess.Popen([sys.executable, str(script), str(tmp_path / "new.pigeonhole"), str(go)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    go.touch()
    for opener in openers:
        stdout, stderr = opener.communicate(timeout=120)
        assert (opener.returncode, stdout.strip()) == (0, "True"), stderr
    assert _sqlite_rows(tmp_path / "new.pigeonhole" / DB_FILE_NAME, "SELECT version_num FROM alembic_version") == [
        (migrate.head_revision(),)]
