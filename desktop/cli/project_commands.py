"""`import` and `status`: filling a project with photos and saying what it holds."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from desktop.cli.common import UserError, command, emit_result


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="add image folders to a project (created if needed)")
    p.add_argument("project", type=Path)
    p.add_argument("folders", type=Path, nargs="+")
    p.add_argument("--labels-from-subfolders", action="store_true",
                   help="use each image's top subfolder name (class_name/image.jpg) as its label")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("status", help="counts of images, labels and broken files")
    p.add_argument("project", type=Path)
    p.add_argument("--json", action="store_true")


@command("import")
def _import(args: argparse.Namespace) -> int:
    from desktop.core.importer import ImportProgress, import_folder
    from desktop.core.project import open_project

    for folder in args.folders:
        if not folder.is_dir():
            raise UserError(f"{folder} is not a folder.")
    interactive = sys.stderr.isatty() and not args.json

    def show(progress: ImportProgress) -> None:
        if interactive:
            print(f"\r{progress.folder}: {progress.processed}/{progress.to_process} read, "
                  f"{progress.broken} broken", end="", file=sys.stderr)

    results = []
    with open_project(args.project) as project:
        for folder in args.folders:
            summary = import_folder(project, folder, labels_from_subfolders=args.labels_from_subfolders,
                                    on_progress=show, cancel=threading.Event())
            if interactive:
                print(file=sys.stderr)
            results.append({
                "folder": summary.folder, "imported": summary.imported, "unchanged": summary.unchanged,
                "broken": summary.broken, "missing": summary.missing, "labelled": summary.labelled,
                "seconds": round(summary.seconds, 3),
                "broken_files": [{"path": str(Path(summary.folder) / p), "reason": r}
                                 for p, r in summary.broken_files],
                "warnings": summary.class_warnings,
            })
    lines = [f"{r['folder']}: {r['imported']} imported, {r['unchanged']} unchanged, {r['broken']} broken, "
             f"{r['missing']} missing, {r['labelled']} labelled from subfolders ({r['seconds']:.1f} s)"
             for r in results]
    emit_result(args, {"project": str(args.project.resolve()), "folders": results}, "\n".join(lines))
    return 0


@command("status")
def _status(args: argparse.Namespace) -> int:
    from desktop.core.project import open_project
    from desktop.core.status import project_status

    with open_project(args.project, create=False) as project:
        status = project_status(project)
    classes = ", ".join(f"{name} {count}" for name, count in status.classes.items()) or "no classes yet"
    text = (f"{status.images} images: {status.labelled} labelled, {status.unlabelled} unlabelled, "
            f"{status.broken} broken, {status.missing} missing\nClasses: {classes}")
    for broken in status.broken_files:
        text += f"\n  broken: {broken['path']}: {broken['reason']}"
    emit_result(args, status.as_json(), text)
    return 0
