"""Duplicates resolved for real: the extras moved aside through the sort's journal, kept with their folder structure,
resumed after a kill, never brought back by a re-scan, and undone byte for byte with their labels."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from sqlalchemy import select

import tests.imagemakers as mk
from desktop.cli import main
from desktop.core.browse import ImageFilter, Show, list_images
from desktop.core.duplicate_resolving import (
    ResolveError,
    exact_groups,
    plan_resolution,
    resolve,
)
from desktop.core.importer import import_folder
from desktop.core.project import Project
from desktop.core.sorting import list_sorts, run_sort, start_sort, undo_sort
from desktop.db.models import Folder, Image, ImageClass, Label

HELPER = Path(__file__).with_name("sort_crash_helper.py")
REPO = Path(__file__).resolve().parents[3]
needs_sigkill = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX-only")


def _tree(root: Path) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


def _rows(project: Project) -> dict[str, tuple[str | None, bool]]:
    """Every image row: relative path -> (label, missing)."""
    with project.sessions() as session:
        rows = session.execute(select(Image.rel_path, ImageClass.name, Image.missing).join(Folder)
                               .outerjoin(Label, Label.image_id == Image.id)
                               .outerjoin(ImageClass, ImageClass.id == Label.class_id)).all()
    return {rel: (label, missing) for rel, label, missing in rows}


def _ids(project: Project) -> dict[str, int]:
    with project.sessions() as session:
        return dict(session.execute(select(Image.rel_path, Image.id)).all())


def _forty_photos(root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """28 different photos (cats/, dogs/) and 12 extra copies: 7 exact (some in subfolders, two among the other
    class: mixed labels), 5 near (resized or re-saved). Returns the extras and the near pairs (original, copy)."""
    for index in range(14):
        mk.write_jpeg(root / "cats" / f"c{index:02d}.jpg", 48, 32, seed=index)
        mk.write_jpeg(root / "dogs" / f"d{index:02d}.jpg", 48, 32, seed=100 + index)
    exact = {"cats/c00.jpg": "cats/copies/c00 copy.jpg", "cats/c01.jpg": "cats/copies/old/c01.jpg",
             "dogs/d00.jpg": "dogs/again/d00.jpg", "dogs/d01.jpg": "dogs/d01 (1).jpg",
             "cats/c02.jpg": "dogs/c02.jpg", "dogs/d02.jpg": "cats/misfiled/d02.jpg",  # other label: mixed
             "cats/c03.jpg": "cats/copies/c03b.jpg"}
    for original, copy in exact.items():
        (root / copy).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / original, root / copy)
    (root / "cats/copies/c03b.xmp").write_bytes(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")  # travels with its photo
    near = [("cats/c10.jpg", "cats/bigger/c10.png"), ("cats/c11.jpg", "cats/c11 small.jpg"),
            ("dogs/d10.jpg", "dogs/edited/d10.jpg"), ("dogs/d11.jpg", "dogs/d11 brighter.jpg"),
            ("dogs/d12.jpg", "dogs/edited/deep/d12.jpg")]
    for original, copy in near:
        image = cv2.imread(str(root / original))
        (root / copy).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / copy), cv2.resize(image, None, fx=2, fy=2) if copy.endswith(".png")
                    else cv2.convertScaleAbs(image, alpha=1.0, beta=10))
    return [*exact.values(), *(copy for _original, copy in near)], near


def _helper(project: Project, sort_id: int, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, str(HELPER), str(project.path), str(sort_id), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@needs_sigkill
def test_resolving_forty_photos_killed_halfway_resumes_survives_a_rescan_and_undoes_byte_for_byte(
        project: Project, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    _extras, near = _forty_photos(root)
    import_folder(project, root, labels_from_subfolders=True, workers=2)
    assert len(_rows(project)) == 40
    before, rows_before = _tree(root), _rows(project)
    ids = _ids(project)
    groups = exact_groups(project) + [[ids[original], ids[copy]] for original, copy in near]
    # The destination inside the scanned folder: the re-scan must skip it.
    resolution = plan_resolution(project, groups, destination=root / "_duplicates")

    assert len(resolution.groups) == 12 and len(resolution.plan.photos) == 12 and resolution.plan.companions == 1
    # Default rule: a labelled copy, then the largest; the near copies here are bigger or equal, all labelled.
    assert {str(g.keeper.path.relative_to(root)) for g in resolution.groups if g.reason == "labelled"}
    assert len(resolution.mixed) == 2
    assert "12 extra copies from 12 groups" in resolution.sentence
    with pytest.raises(ResolveError, match="2 groups of duplicates mix labels"):
        resolve(project, resolution)
    moved = {str(op.source.relative_to(root)) for op in resolution.plan.photos}

    sort_id = start_sort(project, resolution.plan)
    process = _helper(project, sort_id, "--kill-after-link", "6")
    process.communicate(timeout=60)
    assert process.returncode == -9
    assert 0 < len(_tree(root / "_duplicates")) < 13  # killed halfway
    result = run_sort(project, sort_id)  # resume

    assert result.status == "done" and result.done == 12 and not result.failed
    after = _tree(root)
    for rel in moved:
        assert rel not in after and f"_duplicates/{rel}" in after  # its folder structure kept
        assert after[f"_duplicates/{rel}"] == before[rel]
    assert after["_duplicates/cats/copies/c03b.xmp"] == before["cats/copies/c03b.xmp"]
    assert all(path.stat().st_nlink == 1 for path in root.rglob("*") if path.is_file())
    kept = set(before) - moved - {"cats/copies/c03b.xmp"}
    assert len(kept) == 28 and all(after[rel] == before[rel] for rel in kept)

    rescan = import_folder(project, root, labels_from_subfolders=True, workers=2)  # F5
    rows = _rows(project)
    assert rescan.imported == 0 and len(rows) == 40
    assert sorted(rel for rel, (_label, missing) in rows.items() if not missing) == sorted(kept)  # 0 revived
    assert list_sorts(project)[0].rule == "duplicates moved aside"
    shown = {row.rel_path for row in list_images(project, ImageFilter(Show.ALL))}
    assert shown == kept  # the grid leaves them out

    undone = undo_sort(project)

    assert undone.status == "undone" and not undone.kept
    assert _tree(root) == before  # _duplicates/ is gone again
    assert _rows(project) == rows_before  # every photo back, with its label
    assert len(list_images(project, ImageFilter(Show.ALL))) == 40
    assert "cats/bigger/c10.png" not in moved  # the largest copy of its group stays


def test_keeper_rules_and_the_default_folder_beside_the_photos(project: Project, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    mk.write_jpeg(root / "a" / "small.jpg", 40, 30, seed=1)
    mk.write_jpeg(root / "b" / "big.jpg", 80, 60, seed=1)
    shutil.copy2(root / "a" / "small.jpg", root / "old.jpg")
    os.utime(root / "old.jpg", (1_000_000, 1_000_000))
    import_folder(project, root, workers=1)
    ids = _ids(project)
    group = [[ids["a/small.jpg"], ids["b/big.jpg"], ids["old.jpg"]]]

    def keeper(rule: str) -> str:
        found = plan_resolution(project, group, rule).groups[0]
        return found.keeper.path.relative_to(root).as_posix()

    assert keeper("largest") == "b/big.jpg"
    assert keeper("labelled") == "b/big.jpg"  # nothing labelled: the largest
    assert keeper("oldest") == "old.jpg"
    assert keeper(f"folder:{root / 'a'}") == "a/small.jpg"
    assert keeper("sharpest") in {"a/small.jpg", "b/big.jpg", "old.jpg"}
    with pytest.raises(ResolveError, match="Unknown keeper rule"):
        plan_resolution(project, group, "prettiest")
    assert plan_resolution(project, group).plan.destination == tmp_path / "_duplicates"


def test_cli_moves_exact_duplicates_aside_and_undo_sort_puts_them_back(project: Project, tmp_path: Path,
                                                                        capsys) -> None:
    root, aside = tmp_path / "photos", tmp_path / "aside"
    for index in range(3):
        mk.write_jpeg(root / "cats" / f"{index}.jpg", 32, 24, seed=index)
    (root / "cats" / "sub").mkdir()
    shutil.copy2(root / "cats" / "0.jpg", root / "cats" / "sub" / "0 copy.jpg")
    shutil.copy2(root / "cats" / "1.jpg", root / "dogs.jpg")
    import_folder(project, root, labels_from_subfolders=True, workers=1)
    before = _tree(root)

    assert main(["duplicates", str(project.path), "--move-extras", str(aside), "--dry-run", "--json"]) == 0
    preview = json.loads(capsys.readouterr().out)
    assert len(preview["moves"]) == 2 and _tree(root) == before and not aside.exists()

    assert main(["duplicates", str(project.path), "--move-extras", str(aside)]) == 0
    out = capsys.readouterr().out
    assert "2 of 2 photos were moved" in out and "undo-sort" in out
    assert sorted(_tree(aside)) == ["cats/sub/0 copy.jpg", "dogs.jpg"]

    assert main(["undo-sort", str(project.path)]) == 0
    assert _tree(root) == before and not aside.exists()


def test_cli_similarity_resolves_near_duplicates_keeping_the_largest(trained_project: Project, tmp_path: Path,
                                                                     capsys) -> None:
    photos = trained_project.path.parent / "photos"
    image = cv2.imread(str(photos / "discs" / "discs_01.jpg"))
    cv2.imwrite(str(photos / "discs" / "bigger_01.png"), cv2.resize(image, None, fx=2, fy=2))
    import_folder(trained_project, photos, labels_from_subfolders=True)
    aside = tmp_path / "aside"

    assert main(["duplicates", str(trained_project.path), "--move-extras", str(aside), "--keeper", "largest",
                 "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["moves"] == []  # exact copies only: none
    assert main(["duplicates", str(trained_project.path), "--move-extras", str(aside), "--keeper", "largest",
                 "--similarity", "0.95", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    [group] = result["resolution"]["groups"]
    assert group["keeper"].endswith("bigger_01.png") and group["reason"] == "largest"
    assert [Path(p).name for p in group["extras"]] == ["discs_01.jpg"]
    assert (aside / "discs" / "discs_01.jpg").is_file() and not (photos / "discs" / "discs_01.jpg").exists()
    assert main(["duplicates", str(trained_project.path), "--move-extras", str(aside), "--keeper", "best"]) == 1
    assert "Unknown keeper rule" in capsys.readouterr().err
