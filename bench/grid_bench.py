"""The grid with the sidebar's views at 20,000 and 100,000 photos: does a finding view (Check Photos) or a
"more like this" ordering cost more than the plain "All photos" the grid always had?

    QT_QPA_PLATFORM=offscreen python -m bench.grid_bench [--photos 20000 100000] [--repeat 3]

A project database with N photo rows (no image files: the grid's query and model are what is timed) in one
folder, a fifth labelled. Timed, best of ``--repeat``, each with its ratio to (a) in the same run:
(a) "All photos": the grid's query and model reset (``ImageListModel._apply`` of ``list_images``);
(b) a finding view: 2 % of the photos by id in review order (what a sidebar Check entry shows);
(c) "more like this": every photo by id in a given order (what the similar view shows);
(d) the sidebar's counts (``project_status``) and its Check list with ten findings;
(e) one screen's worth of scrolling: ``data()`` for display, tooltip, label and prediction of 2,000 rows.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.map_view_bench import best_seconds


def _make_project(path: Path, photos: int):
    from sqlalchemy import insert

    from desktop.core.classes import add_class
    from desktop.core.project import open_project
    from desktop.db.models import Folder, Image, Label

    project = open_project(path, create=True)
    classes = [add_class(project, f"class {i}") for i in range(5)]
    with project.sessions() as session:
        folder = Folder(root=str(path.parent / "photos"))
        session.add(folder)
        session.flush()
        session.execute(insert(Image), [
            {"folder_id": folder.id, "rel_path": f"{i // 1000:03d}/IMG_{i:06d}.jpg", "size": 1000 + i,
             "mtime": 1.0e9 + i, "content_hash": f"{i:064x}", "width": 640, "height": 480, "missing": False}
            for i in range(photos)])
        session.flush()
        ids = [row[0] for row in session.execute(Image.__table__.select().with_only_columns(Image.id))]
        session.execute(insert(Label), [{"image_id": image_id, "class_id": classes[n % 5].id}
                                        for n, image_id in enumerate(ids[::5])])
        session.commit()
    return project, ids


def _measure(photos: int, repeat: int) -> tuple[float, float, float, float, float]:
    """Seconds for (a) to (e) over a fresh project of ``photos`` rows."""
    from PySide6.QtCore import Qt

    from desktop.core.browse import ImageFilter, Show, list_images
    from desktop.core.health import EXPLANATIONS, KINDS
    from desktop.core.status import project_status
    from desktop.ui.health import FindingView
    from desktop.ui.models.classes import ClassListModel
    from desktop.ui.models.images import ImageListModel, Role, _load
    from desktop.ui.widgets.sidebar import Sidebar

    with tempfile.TemporaryDirectory() as folder:
        project, ids = _make_project(Path(folder) / "bench.pigeonhole", photos)
        model = ImageListModel()
        model._project = project
        sidebar = Sidebar(ClassListModel())
        flagged = tuple(ids[::50][::-1])
        similar = tuple(reversed(ids))
        views = [FindingView(kind, title, photos // 50, "", False, EXPLANATIONS[kind])
                 for kind, title in KINDS.items()]

        def show(image_filter):
            model._generation += 1
            model._apply(model._generation, _load(project, image_filter))

        def scroll():
            for row in range(min(2000, model.rowCount())):
                index = model.index(row)
                for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Role.LABEL, Role.PREDICTION):
                    model.data(index, role)

        def counts():
            project_status(project)
            sidebar.set_findings(views)

        everything = best_seconds(repeat, lambda: show(ImageFilter(Show.ALL)))
        finding = best_seconds(repeat, lambda: show(ImageFilter(Show.IDS, image_ids=flagged, review=True)))
        assert model.rowCount() == len(flagged)
        alike = best_seconds(repeat, lambda: show(ImageFilter(Show.IDS, image_ids=similar, review=True)))
        assert model.rowCount() == photos and model.row_at(0).id == similar[0]
        sidebar_time = best_seconds(repeat, counts)
        scrolled = best_seconds(repeat, scroll)
        assert len(list_images(project, ImageFilter(Show.ALL))) == photos
        project.close()
    return everything, finding, alike, sidebar_time, scrolled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from desktop.ui.app import make_application

    make_application()
    print("| photos | (a) All photos | (b) finding view | ratio | (c) more like this | ratio | (d) counts + Check "
          "list | ratio | (e) 2,000 rows' data() | ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for photos in args.photos:
        everything, finding, alike, sidebar_time, scrolled = _measure(photos, args.repeat)
        print(f"| {photos:,} | {everything * 1000:.0f} ms | {finding * 1000:.0f} ms | {finding / everything:.2f} | "
              f"{alike * 1000:.0f} ms | {alike / everything:.2f} | {sidebar_time * 1000:.0f} ms | "
              f"{sidebar_time / everything:.2f} | {scrolled * 1000:.0f} ms | {scrolled / everything:.2f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
