"""`duplicates` and `label-issues`: the quality of the labelled data — (near-)identical photos (and whether
they straddle the train/validation split), and labels that are likely wrong."""

from __future__ import annotations

import argparse
from pathlib import Path

from desktop.cli.common import command, emit_result


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("duplicates", help="groups of identical or nearly identical photos")
    p.add_argument("project", type=Path)
    p.add_argument("--threshold", type=float, default=None,
                   help="cosine similarity of the backbone's features above which photos count as the same "
                        "picture (default 0.95)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("label-issues", help="labelled photos whose label is likely wrong, most suspicious first")
    p.add_argument("project", type=Path)
    p.add_argument("--n", type=int, default=None, help="at most this many")
    p.add_argument("--json", action="store_true")


@command("label-issues")
def _label_issues(args: argparse.Namespace) -> int:
    import threading

    from desktop.core.label_issues import find_label_issues
    from desktop.core.project import open_project

    with open_project(args.project, create=False) as project:
        issues = find_label_issues(project, args.n, cancel=threading.Event())
    payload = {"images": [{"path": str(i.path), "label": i.label, "suggested": i.suggested, "score": i.score}
                          for i in issues]}
    lines = [f"{i.score:.3f}  labelled {i.label!r}, looks like {i.suggested!r}: {i.path}" for i in issues]
    emit_result(args, payload, "\n".join(lines) or "No label looks wrong.")
    return 0


@command("duplicates")
def _duplicates(args: argparse.Namespace) -> int:
    import threading

    from desktop.core.duplicates import DEFAULT_THRESHOLD, find_duplicates
    from desktop.core.project import open_project

    with open_project(args.project, create=False) as project:
        groups = find_duplicates(project, args.threshold or DEFAULT_THRESHOLD, cancel=threading.Event())
    payload = {"groups": [{"paths": [str(p) for p in g.paths], "splits": g.splits, "similarity": g.similarity,
                           "straddles_split": g.straddles_split} for g in groups]}
    straddling = sum(g.straddles_split for g in groups)
    lines = [f"{len(groups)} groups of duplicates"
             + (f"; {straddling} straddle the train/validation split (validation accuracy is flattered)"
                if straddling else "")]
    for group in groups:
        lines.append(f"  {group.similarity:.3f}{'  [train+val]' if group.straddles_split else ''}: "
                     + ", ".join(str(p) for p in group.paths))
    emit_result(args, payload, "\n".join(lines))
    return 0
