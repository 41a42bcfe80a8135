"""`import` and `status`: filling a project with photos and saying what it holds."""

from __future__ import annotations

import argparse
import threading
from functools import partial
from pathlib import Path

from desktop.cli.common import UserError, command, emit_result, path_argument, terminal_safe
from desktop.cli.progress import progress_bar, show_import


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="add image folders to a project (created if needed)")
    p.add_argument("project", type=path_argument)
    p.add_argument("folders", type=path_argument, nargs="+")
    p.add_argument("--labels-from-subfolders", action="store_true",
                   help="use each image's top subfolder name (class_name/image.jpg) as its label")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("status", help="counts of images, labels and broken files")
    p.add_argument("project", type=path_argument)
    p.add_argument("--json", action="store_true")


@command("import")
def _import(args: argparse.Namespace) -> int:
    from desktop.core.importer import import_folder
    from desktop.core.keywords import read_keywords
    from desktop.core.project import open_project

    for folder in args.folders:
        if not folder.is_dir():
            raise UserError(f"{folder} is not a folder.")
    results = []
    with open_project(args.project) as project:
        for folder in args.folders:
            with progress_bar(args, f"Scanning {folder}") as bar:
                summary = import_folder(project, folder, labels_from_subfolders=args.labels_from_subfolders,
                                        on_progress=partial(show_import, bar), cancel=threading.Event())
            keywords = read_keywords(project, summary.folder_id)
            results.append({
                "folder": summary.folder, "imported": summary.imported, "unchanged": summary.unchanged,
                "broken": summary.broken, "missing": summary.missing, "labelled": summary.labelled,
                "seconds": round(summary.seconds, 3),
                "broken_files": [{"path": str(Path(summary.folder) / p), "reason": r}
                                 for p, r in summary.broken_files],
                "with_keywords": keywords.with_keywords,
                "warnings": summary.class_warnings + ([summary.cache_warning] if summary.cache_warning else [])
                + [f"the keywords of {path} were not read: {reason}" for path, reason in keywords.problems],
            })
    lines = []
    for r in results:
        lines.append(f"{terminal_safe(r['folder'])}: {r['imported']} imported, {r['unchanged']} unchanged, "
                     f"{r['broken']} broken, {r['missing']} missing, {r['labelled']} labelled from subfolders, "
                     f"{r['with_keywords']} with keywords ({r['seconds']:.1f} s)")
        lines += [f"  warning: {terminal_safe(warning)}" for warning in r["warnings"]]
    emit_result(args, {"project": str(args.project.resolve()), "folders": results}, "\n".join(lines))
    return 0


@command("status")
def _status(args: argparse.Namespace) -> int:
    from desktop.core.project import open_project
    from desktop.core.status import project_status

    with open_project(args.project, create=False, writes=False) as project:  # a read-only project too
        status = project_status(project)
    emit_result(args, status.as_json(), status_text(status))
    return 0


def status_text(status) -> str:
    classes = ", ".join(f"{terminal_safe(name)} {count}" for name, count in status.classes.items()) or "no classes yet"
    text = (f"{status.images} images: {status.labelled} labelled, {status.unlabelled} unlabelled, "
            f"{status.broken} broken, {status.missing} missing"
            + (f", {status.set_aside} set aside (duplicates moved aside; undo-sort puts them back)"
               if status.set_aside else "")
            + f"\nClasses: {classes}")
    for broken in status.broken_files:
        text += f"\n  broken: {terminal_safe(broken['path'])}: {terminal_safe(broken['reason'])}"
    return text
