"""`folders`: the photo folders a project indexes, and re-linking one that now lives elsewhere (the project
copied to a server, a renamed disk)."""

from __future__ import annotations

import argparse

from desktop.cli.common import command, emit_result, path_argument, terminal_safe


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("folders", help="list the project's photo folders, or re-link one that moved")
    p.add_argument("project", type=path_argument)
    p.add_argument("--relink", nargs=2, type=path_argument, metavar=("OLD", "NEW"),
                   help="the folder indexed as OLD is now at NEW (its photos keep their labels and predictions)")
    p.add_argument("--json", action="store_true")


def folders_text(folders: list[dict]) -> str:
    if not folders:
        return "This project has no photo folders yet (add one with `pigeonhole import`)."
    lines = ["  photos  where"]
    for folder in folders:
        state = "" if folder["available"] else "   (missing: re-link it with --relink)"
        lines.append(f"  {folder['photos']:>6}  {terminal_safe(folder['root'])}{state}")
    return "\n".join(lines)


@command("folders")
def _folders(args: argparse.Namespace) -> int:
    from desktop.core.folders import list_folders, relink_root
    from desktop.core.project import open_project

    with open_project(args.project, create=False, writes=bool(args.relink)) as project:
        if args.relink:
            old, new = args.relink
            relinked = relink_root(project, old, new)
            payload = {"folder_id": relinked.folder_id, "old": str(relinked.old_root), "new": str(relinked.new_root),
                       "photos": relinked.photos, "found": relinked.found}
            text = (f"Re-linked {terminal_safe(relinked.old_root)} to {terminal_safe(relinked.new_root)}: "
                    f"{relinked.found} of its {relinked.photos} photos found there.")
            emit_result(args, payload, text)
            return 0
        folders = [{"folder_id": info.id, "root": str(info.root), "photos": info.images, "available": info.available}
                   for info in list_folders(project)]
    emit_result(args, {"folders": folders}, folders_text(folders))
    return 0
