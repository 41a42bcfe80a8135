"""How long resolving many duplicate groups takes to preview, and to move: ``python -m bench.resolve_duplicates_bench``.

Writes GROUPS pairs of identical small files (a few hundred bytes each: the preview never decodes a photo, it
stats each file and reads the project's rows) under ``bench/out/resolve-dupes-GROUPS/photos``, in 100 sub-folders,
and enters them as image rows directly (an import would time thumbnails, not this). Then times ``exact_groups`` +
``plan_resolution`` (the preview: groups, keepers, every destination name) and ``resolve`` (the journalled move of
the extras, on the same drive: hard links), and undoes it so the next run starts the same.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from sqlalchemy import insert

from desktop.core.duplicate_resolving import exact_groups, plan_resolution, resolve
from desktop.core.project import open_project
from desktop.core.sorting import undo_sort
from desktop.db.engine import transaction
from desktop.db.models import Folder, Image
from desktop.io.safe_files import content_hash

OUT = Path(__file__).resolve().parent / "out"


def _make(root: Path, groups: int) -> list[dict]:
    rows = []
    for index in range(groups):
        data = f"photo {index}".encode() * 20
        for copy in ("a", "b"):
            rel = f"f{index % 100:02d}/{copy}{index:06d}.jpg"
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            info = path.stat()
            rows.append({"rel_path": rel, "size": info.st_size, "mtime": info.st_mtime,
                         "content_hash": content_hash(data), "width": 64, "height": 48, "error": None,
                         "missing": False})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=10_000)
    args = parser.parse_args()
    base = OUT / f"resolve-dupes-{args.groups}"
    shutil.rmtree(base, ignore_errors=True)
    root = base / "photos"
    rows = _make(root, args.groups)
    with open_project(base / "project") as project:
        with transaction(project.sessions) as session:
            folder = Folder(root=str(root), labels_from_subfolders=False)
            session.add(folder)
            session.flush()
            session.execute(insert(Image), [{**row, "folder_id": folder.id} for row in rows])
        started = time.perf_counter()
        groups = exact_groups(project)
        resolution = plan_resolution(project, groups)
        preview = time.perf_counter() - started
        started = time.perf_counter()
        result = resolve(project, resolution)
        moved = time.perf_counter() - started
        undone = undo_sort(project)
        assert not result.failed, result.failed[:3]
        print(f"{len(groups):,} groups: preview {preview:.2f} s; moved {result.done:,} extras in {moved:.1f} s "
              f"({result.done / moved:,.0f} per s); undo: {undone.message}")
        assert sum(1 for _ in os.scandir(root / "f00")) == 2 * ((args.groups + 99) // 100)


if __name__ == "__main__":
    main()
