"""Command line: `pigeonhole` starts the GUI; subcommands run the same Qt-free core from a terminal.

Heavy modules (torch, Qt) are imported inside the command that needs them, so `status` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from desktop import __version__

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


class UserError(Exception):
    """Reported as one sentence on stderr with exit code 1."""


def command(name: str):
    def register(function: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = function
        return function

    return register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pigeonhole",
        description="Sort photos with an image classifier you train yourself. Without a command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"Pigeonhole {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("import", help="add image folders to a project (created if needed)")
    p.add_argument("project", type=Path)
    p.add_argument("folders", type=Path, nargs="+")
    p.add_argument("--labels-from-subfolders", action="store_true",
                   help="use each image's top subfolder name (class_name/image.jpg) as its label")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("status", help="counts of images, labels and broken files")
    p.add_argument("project", type=Path)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("gui", help="open the app (the default)")
    p.add_argument("project", type=Path, nargs="?")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `pigeonhole PROJECT` opens that project in the app.
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        return gui_main(argv[:1])
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("pigeonhole: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if _is_user_error(exc):
            print(f"pigeonhole: error: {exc}", file=sys.stderr)
            return 1
        raise


def _is_user_error(exc: Exception) -> bool:
    from desktop.core.classes import ClassError
    from desktop.core.folders import FolderError
    from desktop.core.project import ProjectError

    return isinstance(exc, UserError | ProjectError | ClassError | FolderError | FileNotFoundError)


def gui_main(argv: Sequence[str] | None = None) -> int:
    from desktop.ui.app import run_app

    argv = list(sys.argv[1:] if argv is None else argv)
    return run_app(Path(argv[0]) if argv else None)


def _emit(args: argparse.Namespace, payload: dict, text: str) -> None:
    print(json.dumps(payload, indent=2, ensure_ascii=False) if args.json else text)


@command("gui")
def _gui(args: argparse.Namespace) -> int:
    return gui_main([str(args.project)] if args.project else [])


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
    _emit(args, {"project": str(args.project.resolve()), "folders": results}, "\n".join(lines))
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
    _emit(args, status.as_json(), text)
    return 0
