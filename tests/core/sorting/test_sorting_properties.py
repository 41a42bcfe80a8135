"""A property of sorting, over file names chosen to clash: case variants, composed and decomposed accents, "ß"
and "ss", and names that collide once a suffix is added ("a (2).jpg" already there). Whatever the names, a sort
(copy, then move) and its undo leave every source byte-identical in its place, give every photo its own
destination (distinct on any file system), and never touch a file that was already in the destination."""

from __future__ import annotations

import itertools
import unicodedata
from pathlib import Path

import imagemakers as mk
from diskfaults import case_sensitive
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from test_sorting import _tree

from desktop.core.importer import import_folder
from desktop.core.project import Project
from desktop.core.sorting import UNSURE, SortRequest, plan_sort, run_sort, start_sort, undo_sort
from desktop.db.models import Folder
from desktop.io.file_names import name_key as _name_key
from desktop.io.images import content_hash

STEMS = ["a", "a (2)", "a (2) (2)", "img_1", "\u00e9t\u00e9", "stra\u00dfe", "strasse", "\u03c9", "x.y", "\u65e5\u672c"]
SPELLINGS = [str, str.upper, str.title, lambda stem: unicodedata.normalize("NFD", stem)]  # one name to Windows
names = st.builds(lambda stem, spell, suffix: spell(stem) + suffix, st.sampled_from(STEMS),
                  st.sampled_from(SPELLINGS), st.sampled_from([".jpg", ".JPG"]))
# (source subfolder, name) for the photos; names already in the destination's _unsure folder.
photos = st.lists(st.tuples(st.integers(0, 1), names), min_size=1, max_size=8)
existing = st.lists(names, max_size=4)


def test_any_names_sort_and_undo_without_loss(project: Project, tmp_path: Path) -> None:
    tells_case = case_sensitive(tmp_path / "probe")
    examples = itertools.count()
    seeds = itertools.count(1)

    @settings(max_examples=8, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(photos=photos, existing=existing)
    @example(photos=[(0, "a.jpg"), (0, "A.JPG"), (1, "a.jpg"), (0, "a (2).jpg")], existing=["a (3).jpg"])
    @example(photos=[(0, "\u00e9t\u00e9.jpg"), (0, "e\u0301te\u0301.jpg"), (1, "stra\u00dfe.jpg"),
                     (1, "STRASSE.jpg")], existing=["\u00c9T\u00c9 (2).JPG"])
    def check(photos: list[tuple[int, str]], existing: list[str]) -> None:
        number = next(examples)
        root, dest = tmp_path / f"photos{number}", tmp_path / f"sorted{number}"
        taken: set[str] = set()  # what the file system can hold side by side
        for folder, name in photos:
            path = root / f"in{folder}" / name
            if _key(path, tells_case) not in taken:
                taken.add(_key(path, tells_case))
                mk.write_jpeg(path, 8, 8, seed=next(seeds))
        theirs = {}
        for name in existing:
            path = dest / UNSURE / name
            if _key(path, tells_case) not in theirs:
                theirs[_key(path, tells_case)] = mk.write(path, f"the user's {name}".encode())
        theirs_before = {path: path.read_bytes() for path in theirs.values()}
        import_folder(project, root, workers=1)
        with project.sessions() as session:
            folder_id = session.scalar(select(Folder.id).where(Folder.root == str(root.resolve())))
        before = _tree(root)

        for mode in ("copy", "move"):
            plan = plan_sort(project, SortRequest(dest, mode=mode, folder_id=folder_id))  # no model: all _unsure
            assert (len(plan.operations), plan.skipped) == (len(before), [])
            result = run_sort(project, start_sort(project, plan))
            assert (result.done, result.failed) == (len(before), [])
            destinations = [destination for _source, destination in result.operations]
            keys = {_name_key(str(destination)) for destination in destinations}
            assert len(keys) == len(destinations)  # distinct even where case and accents do not count
            assert not keys & {_name_key(str(path)) for path in theirs_before}
            assert {path: path.read_bytes() for path in theirs_before} == theirs_before
            for source, destination in result.operations:
                assert content_hash(destination.read_bytes()) == before[source.relative_to(root).as_posix()]

            undone = undo_sort(project, result.sort_id)

            assert undone.status == "undone" and not undone.kept and not undone.renamed
            assert _tree(root) == before  # every source in place, byte for byte
            assert {path: path.read_bytes() for path in dest.rglob("*") if path.is_file()} == theirs_before

    check()


def _key(path: Path, case_sensitive: bool) -> str:
    return str(path) if case_sensitive else _name_key(str(path))
