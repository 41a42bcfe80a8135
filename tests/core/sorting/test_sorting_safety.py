"""Sorting under attack and misuse: two processes on one sort, names that differ only by case, photos edited or
swapped for links and FIFOs after planning, folders swapped for links mid-sort, a full project disk, two
projects sharing a destination. Real processes, real files, real SQLite errors.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import imagemakers as mk
import pytest
from diskfaults import case_sensitive, project_disk_full
from sorting_helpers import sort_photos
from sqlalchemy import update
from test_sorting import (
    REPO,
    _add_model,
    _assert_nothing_lost,
    _cats_and_dogs,
    _files,
    _helper,
    _image_places,
    _leftovers,
    _many_photos,
    _predict,
    _states,
    _temp_file,
    _tree,
)

from desktop.cli import main
from desktop.core import sorting
from desktop.core.importer import import_folder
from desktop.core.project import Project, open_project
from desktop.core.sorting import (
    SortError,
    SortRequest,
    journal,
    plan_sort,
    run_sort,
    start_sort,
    steps,
    undo_sort,
)
from desktop.db.engine import transaction
from desktop.db.models import SortOperation
from desktop.io import safe_files
from desktop.io.file_names import name_key as _name_key
from desktop.io.locks import Busy

needs_posix = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and symlinks without privileges are POSIX")


# --- 1. one sort at a time, across processes ------------------------------------------------------------------------

def test_a_second_process_is_refused_while_a_sort_runs(project: Project, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _many_photos(project, root, 9)
    before = _tree(root)
    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode="move")))
    release = tmp_path / "release"
    first = _helper(project, sort_id, "--resume", "--pause-after", "3", "--release", str(release))
    while not release.with_suffix(".paused").exists():
        assert first.poll() is None, first.communicate()
        time.sleep(0.02)

    try:
        # The first process holds the sort, paused after three photos. A second process, as the CLI...
        second = subprocess.run([sys.executable, "-m", "desktop", "resume-sort", str(project.path), "--sort-id",
                                 str(sort_id)], env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                                text=True, timeout=300)
        assert (second.returncode, second.stdout) == (1, "")
        assert second.stderr.splitlines() == [
            "pigeonhole: error: Another Pigeonhole is running a sort of this project; let it finish (or close it), "
            "then try again."]
        # A note says it is running, not that it was interrupted.
        assert main(["sort", str(project.path), "--dest", str(tmp_path / "x"), "--dry-run"]) == 0
        assert f"sort #{sort_id} (move into {dest}) is running in another Pigeonhole: " in capsys.readouterr().err
        # ...and this one, as the GUI would: no undo under it, no new sort beside it.
        with pytest.raises(Busy, match=r"^Another Pigeonhole is running a sort of this project"):
            undo_sort(project, sort_id)
        with pytest.raises(Busy):
            start_sort(project, plan_sort(project, SortRequest(tmp_path / "elsewhere", mode="copy")))
        # The refused ones touched nothing (the third photo's "done" is committed with the fourth's start).
        assert _states(project, sort_id) == Counter(done=2, started=1, planned=6)
        assert not (tmp_path / "elsewhere").exists()
    finally:
        release.touch()  # never leave the first process waiting
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    result = json.loads(out)
    assert (result["done"], result["failed"], result["status"]) == (9, [], "done")
    assert sorted(_tree(dest).values()) == sorted(before.values()) and _tree(root) == {}
    undone = undo_sort(project, sort_id)  # the lock went with the process
    assert undone.status == "undone" and not undone.kept and _tree(root) == before and not dest.exists()


def test_one_process_takes_the_sorting_lock_once_across_start_and_run(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _cats_and_dogs(project, root, cats=1, dogs=1)
    with sorting.exclusive_sorting(project):  # what the CLI holds from journalling to the last photo
        result = run_sort(project, start_sort(project, plan_sort(project, SortRequest(dest))))
        refused: list[BaseException] = []

        def other_thread() -> None:  # another window of the same app: refused like another process
            try:
                run_sort(project, result.sort_id)
            except Busy as exc:
                refused.append(exc)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert result.done == 2 and len(refused) == 1
    assert undo_sort(project).status == "undone"


# --- 2. names that differ only by case ------------------------------------------------------------------------------

def test_files_and_class_folders_differing_only_by_case_are_all_sorted(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    if not case_sensitive(root):
        pytest.skip("needs a case-sensitive file system to hold IMG_1.jpg and img_1.JPG side by side")
    mk.write_jpeg(root / "IMG_1.jpg", 48, 32, seed=1)
    mk.write_jpeg(root / "img_1.JPG", 48, 32, seed=2)
    mk.write_jpeg(root / "Cat" / "x.jpg", 48, 32, seed=3)
    mk.write_jpeg(root / "cat" / "x.jpg", 48, 32, seed=4)
    import_folder(project, root)
    model_id = _add_model(project, ["Cat", "cat"])  # a model's classes may differ only by case
    _predict(project, model_id, {"IMG_1.jpg": (0, 0.9), "img_1.JPG": (0, 0.9), "Cat/x.jpg": (0, 0.9),
                                 "cat/x.jpg": (1, 0.9)})
    before = _tree(root)

    plan = plan_sort(project, SortRequest(dest, mode="copy"))

    assert plan.skipped == []
    assert {op.source.relative_to(root).as_posix(): op.destination.relative_to(dest).as_posix()
            for op in plan.operations} == {"IMG_1.jpg": "Cat/IMG_1.jpg", "img_1.JPG": "Cat/img_1 (2).JPG",
                                           "Cat/x.jpg": "Cat/x.jpg", "cat/x.jpg": "cat (2)/x.jpg"}
    result = run_sort(project, start_sort(project, plan))
    assert (result.done, result.failed, result.skipped) == (4, [], 0)
    assert sorted(_tree(dest).values()) == sorted(before.values())
    assert len({_name_key(str(d)) for _s, d in result.operations}) == 4  # distinct on any file system
    undo_sort(project)
    assert _tree(root) == before and not dest.exists()


def test_class_folders_take_the_spelling_already_on_disk(project: Project, tmp_path: Path) -> None:
    """So a sort lands in the same folders on a case-sensitive drive as on a case-insensitive one."""
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _cats_and_dogs(project, root, cats=1, dogs=1)
    (dest / "CATS").mkdir(parents=True)
    plan = plan_sort(project, SortRequest(dest))
    assert sorted(op.destination.parent.name for op in plan.operations) == ["CATS", "dogs"]
    run_sort(project, start_sort(project, plan))
    undo_sort(project)
    assert sorted(p.name for p in dest.iterdir()) == ["CATS"]  # it was there before: never removed


def test_a_crash_placeholder_in_an_already_listed_folder_keeps_its_name(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _cats_and_dogs(project, root, cats=2, dogs=0)
    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode="copy")))
    first, second = journal.load_ops(project, sort_id)
    second.destination.parent.mkdir(parents=True)
    second.destination.touch()  # a crash left the second photo's placeholder (a drive without hard links)
    with transaction(project.sessions) as session:
        session.execute(update(SortOperation).where(SortOperation.id == second.id).values(state="started"))

    result = run_sort(project, sort_id)  # the first photo lists the folder, placeholder and all

    assert [destination for _source, destination in result.operations] == [first.destination, second.destination]
    assert not _leftovers(dest)


# --- 3. a photo edited after planning -------------------------------------------------------------------------------

def test_a_photo_edited_after_planning_is_not_moved(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _cats_and_dogs(project, root, cats=2, dogs=1)
    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode="move")))
    edited = root / "cats" / "01.jpg"
    info = edited.stat()
    data = bytearray(edited.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size...
    edited.write_bytes(bytes(data))
    os.utime(edited, ns=(info.st_atime_ns, info.st_mtime_ns))  # ...and even the same time

    result = run_sort(project, sort_id)

    assert result.done == 2
    assert [(f.source, f.reason) for f in result.failed] == [
        (edited, f"{edited} changed after the sort was planned; plan the sort again to include it.")]
    assert edited.read_bytes() == bytes(data)  # left where it was, as edited
    assert not (dest / "cats" / "01.jpg").exists()


# --- 5. the project's disk fills up ---------------------------------------------------------------------------------

def _sqlite_busy(folder: Path) -> sqlite3.OperationalError:
    """A genuine SQLITE_BUSY: another connection holds the write lock and this one does not wait."""
    path = folder / "busy.db"
    holder, other = sqlite3.connect(path, isolation_level=None), sqlite3.connect(path, timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        other.execute("CREATE TABLE t (x)")
    except sqlite3.OperationalError as exc:
        assert exc.sqlite_errorcode == sqlite3.SQLITE_BUSY
        return exc
    finally:
        holder.close()
        other.close()
    raise AssertionError("the second connection was not refused")


PROJECT_FULL = ("The disk holding the project is full: {done} of {total} photos were sorted and nothing was lost. "
                "Free some space there, then resume.")


@pytest.mark.parametrize("mode", ["copy", "move"])
def test_a_full_project_disk_stops_the_sort_in_one_sentence(project: Project, tmp_path: Path, mode: str) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _many_photos(project, root, 8)
    before = _tree(root)
    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode=mode)))

    with project_disk_full(after=4):  # the 4th journal write fails: 3 photos recorded, maybe a 4th on disk
        result = run_sort(project, sort_id)

    assert result.stopped == result.message
    assert result.stopped in {PROJECT_FULL.format(done=n, total=8) for n in (2, 3)}
    # One count everywhere: the sentence, the per-class lines and the files sorted (the last photo's outcome
    # could not be journalled, and was left out of the per-class counts).
    assert result.stopped == PROJECT_FULL.format(done=result.done, total=8)
    assert sum(result.per_class.values()) == result.done == len(result.operations)
    _assert_nothing_lost(before, root, dest, move=mode == "move")
    resumed = run_sort(project, sort_id)  # space was freed
    assert (resumed.done, resumed.failed, resumed.status) == (8, [], "done")
    assert sorted(_tree(dest).values()) == sorted(before.values()) and not _leftovers(root, dest)
    assert undo_sort(project, sort_id).status == "undone"
    assert _tree(root) == before and not dest.exists()


def test_a_disk_holding_both_project_and_destination_fills_during_a_copy(project: Project, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _many_photos(project, root, 6)
    before = _tree(root)
    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode="copy")))
    real_copy, copies = safe_files.copy_file, []

    def fill_up(source: Path, target: Path) -> tuple[int, str]:
        copies.append(source)
        if len(copies) >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(source, target)

    with monkeypatch.context() as patch, project_disk_full(statement="UPDATE", when=lambda: len(copies) >= 3):
        patch.setattr(safe_files, "copy_file", fill_up)
        result = run_sort(project, sort_id)  # the copy fails, and so does journalling the failure

    assert result.stopped == ("The destination disk is full: 2 of 6 photos were sorted and nothing was lost. "
                              "Free some space, then resume.")
    assert not _leftovers(dest)
    resumed = run_sort(project, sort_id)
    assert (resumed.done, resumed.status) == (6, "done") and _tree(root) == before
    undo_sort(project, sort_id)
    assert _tree(root) == before and not dest.exists()


def test_a_full_project_disk_when_a_sort_starts_or_is_undone(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _many_photos(project, root, 4)
    before = _tree(root)
    plan = plan_sort(project, SortRequest(dest, mode="move"))
    with project_disk_full(after=1, statement="INSERT INTO sort"), pytest.raises(SortError) as caught:
        start_sort(project, plan)
    assert str(caught.value) == ("The disk holding the project is full, so the sort was not started and no photo "
                                 "was touched. Free some space there, then sort again.")
    assert not dest.exists()

    sort_id = sort_photos(project, SortRequest(dest, mode="move")).sort_id
    with project_disk_full(after=3):
        stopped = undo_sort(project, sort_id)
    assert stopped.status == "undoing" and stopped.stopped.startswith("The disk holding the project is full: ")
    _assert_nothing_lost(before, root, dest, move=True)
    assert undo_sort(project, sort_id).status == "undone" and _tree(root) == before


def test_a_busy_project_database_is_one_sentence_too(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _many_photos(project, root, 4)
    plan = plan_sort(project, SortRequest(dest, mode="move"))
    with project_disk_full(statement="INSERT INTO sort", error=_sqlite_busy(tmp_path)), \
            pytest.raises(SortError) as caught:
        start_sort(project, plan)
    assert str(caught.value) == ("The project's database is busy with another program, so the sort was not "
                                 "started and no photo was touched. When it has finished, sort again.")
    sort_id = start_sort(project, plan)
    with project_disk_full(after=2, error=_sqlite_busy(tmp_path)):
        result = run_sort(project, sort_id)
    assert result.stopped == ("The project's database is busy with another program: 1 of 4 photos were sorted "
                              "and nothing was lost. When it has finished, resume.")
    assert run_sort(project, sort_id).done == 4


# --- 7. links, FIFOs, swapped folders, two projects, one file twice -------------------------------------------------

@needs_posix
@pytest.mark.parametrize("mode", ["copy", "move"])
def test_a_source_swapped_for_a_fifo_fails_without_hanging(project: Project, tmp_path: Path, mode: str,
                                                            hang_guard: None) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _cats_and_dogs(project, root, cats=2, dogs=1)
    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode=mode)))
    fifo = root / "cats" / "00.jpg"
    fifo.unlink()
    os.mkfifo(fifo)

    result = run_sort(project, sort_id)

    assert result.done == 2 and [f.source for f in result.failed] == [fifo]
    assert "not a regular file" in result.failed[0].reason


@needs_posix
def test_reading_a_fifo_never_blocks(tmp_path: Path, hang_guard: None) -> None:
    """The primitives themselves refuse a FIFO, for the moment between the check and the open."""
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="Not a regular file"):
        safe_files.hash_file(fifo)
    with pytest.raises(safe_files.SourceError, match="Not a regular file"):
        safe_files.copy_file(fifo, tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


@needs_posix
def test_a_source_swapped_for_a_symlink_is_not_moved(project: Project, tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _cats_and_dogs(project, root, cats=2, dogs=1)
    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode="move")))
    source = root / "cats" / "00.jpg"
    elsewhere = tmp_path / "private" / "00.jpg"  # same bytes, so size and hash checks alone would pass
    elsewhere.parent.mkdir()
    source.rename(elsewhere)
    source.symlink_to(elsewhere)

    result = run_sort(project, sort_id)

    assert result.done == 2 and [f.source for f in result.failed] == [source]
    assert "symbolic link" in result.failed[0].reason
    assert source.is_symlink() and elsewhere.stat().st_nlink == 1  # no second name of the private file
    assert not (dest / "cats" / "00.jpg").exists()


@needs_posix
def test_a_symlink_swapped_in_after_the_check_is_moved_as_a_link(project: Project, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The race the check cannot close: the link itself is moved, never a second name of what it points to
    (Linux's link(2) never follows a symlink; macOS's does unless told not to)."""
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _cats_and_dogs(project, root, cats=1, dogs=0)
    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode="move")))
    source, elsewhere = root / "cats" / "00.jpg", tmp_path / "private.jpg"
    real_check = steps.SortRun._check_source

    def swap_after_check(worker: steps.SortRun, op: journal.Op):
        info = real_check(worker, op)
        source.rename(elsewhere)
        source.symlink_to(elsewhere)
        return info

    monkeypatch.setattr(steps.SortRun, "_check_source", swap_after_check)
    run_sort(project, sort_id)
    assert elsewhere.stat().st_nlink == 1  # the private file has no name in the destination
    assert not (dest / "cats" / "00.jpg").exists() or (dest / "cats" / "00.jpg").is_symlink()


@needs_posix
@pytest.mark.parametrize("swapped", ["class folder", "destination"])
def test_a_folder_swapped_for_a_symlink_mid_sort_is_not_written_through(project: Project, tmp_path: Path,
                                                                         swapped: str) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _many_photos(project, root, 8)
    before = _tree(root)
    sort_id = start_sort(project, plan_sort(project, SortRequest(dest, mode="move")))
    victim = tmp_path / "victim"
    victim.mkdir()
    link, aside = (dest / "cats", tmp_path / "aside") if swapped == "class folder" else (dest, tmp_path / "aside")

    def swap(progress: sorting.SortProgress) -> None:
        if progress.done == 4 and not link.is_symlink():
            link.rename(aside)
            link.symlink_to(victim, target_is_directory=True)

    result = run_sort(project, sort_id, on_progress=swap)

    assert list(victim.iterdir()) == []  # nothing was written through the link
    assert result.status == "partial" and result.done == 4
    assert result.stopped == (f"The folder {link} was replaced by a link to another place: 4 of 8 photos were "
                              "sorted and nothing was lost. Put the folder back, then resume.")
    _assert_nothing_lost(before, root, dest, aside, move=True)
    link.unlink()
    aside.rename(link)
    assert run_sort(project, sort_id).done == 8
    undo_sort(project, sort_id)
    assert _tree(root) == before


def test_two_projects_sorting_into_one_destination(tmp_path: Path) -> None:
    dest = tmp_path / "sorted"
    with open_project(tmp_path / "a.pigeonhole") as first, open_project(tmp_path / "b.pigeonhole") as second:
        _cats_and_dogs(first, tmp_path / "a", cats=2, dogs=1)
        _cats_and_dogs(second, tmp_path / "b", cats=2, dogs=1)
        before = _files(tmp_path / "a", tmp_path / "b")
        plans = [plan_sort(project, SortRequest(dest, mode="copy")) for project in (first, second)]
        assert [op.destination for op in plans[0].operations] == [op.destination for op in plans[1].operations]
        ids = [start_sort(project, plan) for project, plan in zip((first, second), plans, strict=True)]
        # The first project's sort #1 is half way through a copy: its temp file is in the class folder.
        op = journal.load_ops(first, ids[0])[0]
        temp = _temp_file(first, ids[0], op.id, op.destination.parent)
        temp.parent.mkdir(parents=True)
        temp.write_bytes(b"half a photo of the first project")

        results = [run_sort(second, ids[1])]
        assert temp.read_bytes() == b"half a photo of the first project"  # not the second project's to remove
        results.append(run_sort(first, ids[0]))

        assert [r.done for r in results] == [3, 3]
        assert len({d for r in results for _s, d in r.operations}) == 6  # the second took "(2)" names
        for result in results:
            for source, destination in result.operations:
                assert destination.read_bytes() == source.read_bytes()
        undo_sort(second, ids[1])
        undo_sort(first, ids[0])
        assert _files(tmp_path / "a", tmp_path / "b") == before and not dest.exists()


def test_one_file_listed_by_nested_project_folders_is_moved_once_and_put_back(project: Project,
                                                                             tmp_path: Path) -> None:
    root, dest = tmp_path / "photos", tmp_path / "sorted"
    _cats_and_dogs(project, root, cats=2, dogs=0)
    import_folder(project, root / "cats")  # the same photos again, as a folder of their own
    _predict(project, _add_model(project, ["cats", "dogs"]), {"00.jpg": (0, 0.9), "01.jpg": (0, 0.9)})
    before, places_before = _tree(root), _image_places(project)
    assert len(places_before) == 4

    plan = plan_sort(project, SortRequest(dest, mode="move"))

    assert len(plan.operations) == 2
    assert [why for _path, why in plan.skipped] == ["it is the same file as another selected image"] * 2
    result = run_sort(project, start_sort(project, plan))
    assert (result.done, result.failed) == (2, [])
    undone = undo_sort(project)
    assert not undone.renamed  # the other row at a photo's old place is that photo, not a stranger
    assert _tree(root) == before and _image_places(project) == places_before
