"""`duplicates` and `label-issues`: the quality of the labelled data — (near-)identical photos (and whether
they straddle the train/validation split), and labels that are likely wrong."""

from __future__ import annotations

import argparse

from desktop.cli.common import command, emit_result, fraction, path_argument, positive_int, terminal_safe
from desktop.cli.progress import ProgressBar, progress_bar
from desktop.wording import plural


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("duplicates", help="groups of identical or nearly identical photos")
    p.add_argument("project", type=path_argument)
    p.add_argument("--threshold", type=fraction, default=None, metavar="T",
                   help="cosine similarity of the backbone's features above which photos count as the same "
                        "picture (default 0.95)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("label-issues", help="labelled photos whose label is likely wrong, most suspicious first")
    p.add_argument("project", type=path_argument)
    p.add_argument("--n", type=positive_int, default=None, metavar="N", help="at most this many")
    p.add_argument("--all", action="store_true",
                   help="every doubtful label (default: the ones the model is at least 90%% sure are wrong, as the "
                        "app's Review Labels shows first)")
    p.add_argument("--json", action="store_true")


def show_features(bar: ProgressBar):
    """The ML layer's events (the backbone's features for uncached photos: the slow part) on the bar."""
    from desktop.ml.progress import Notice, Progress

    def show(event) -> None:
        if isinstance(event, Progress):
            bar.update(event.done, event.total, eta=event.eta_seconds, label=event.phase.capitalize(),
                       unit="photos")
        elif isinstance(event, Notice):
            bar.note(event.message)

    return show


def label_issues_text(issues, show_all: bool = True) -> str:
    """One line per doubtful label; without ``show_all`` only the likely mistakes, and how many more there are."""
    shown = [i for i in issues if show_all or getattr(i, "likely", True)]
    lines = [f"{i.score:.3f}  labelled '{terminal_safe(i.label)}', looks like '{terminal_safe(i.suggested)}': "
             f"{terminal_safe(i.path)}" for i in shown]
    if not shown:
        lines.append("No label looks wrong." if not issues else "No label looks wrong with 90% certainty.")
    if len(issues) > len(shown):
        more = len(issues) - len(shown)
        lines.append(f"{plural(more, 'more label')} {'looks' if more == 1 else 'look'} doubtful but less likely "
                     "wrong (--all lists them).")
    return "\n".join(lines)


def duplicates_text(groups) -> str:
    straddling = sum(g.straddles_split for g in groups)
    lines = [f"{len(groups)} groups of duplicates"
             + (f"; {straddling} straddle the train/validation split (validation accuracy is flattered)"
                if straddling else "")]
    for group in groups:
        lines.append(f"  {group.similarity:.3f}{'  [train+val]' if group.straddles_split else ''}: "
                     + ", ".join(terminal_safe(p) for p in group.paths))
    return "\n".join(lines)


@command("label-issues")
def _label_issues(args: argparse.Namespace) -> int:
    import threading

    from desktop.core.label_issues import find_label_issues
    from desktop.core.project import open_project

    with open_project(args.project, create=False) as project, progress_bar(args, "Computing features") as bar:
        issues = find_label_issues(project, args.n, on_progress=show_features(bar), cancel=threading.Event())
    payload = {"images": [{"path": str(i.path), "label": i.label, "suggested": i.suggested, "score": i.score,
                           "likely": i.likely} for i in issues]}
    emit_result(args, payload, label_issues_text(issues, args.all))
    return 0


@command("duplicates")
def _duplicates(args: argparse.Namespace) -> int:
    import threading

    from desktop.core.duplicates import DEFAULT_THRESHOLD, find_duplicates
    from desktop.core.project import open_project

    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    with open_project(args.project, create=False) as project, progress_bar(args, "Computing features") as bar:
        groups = find_duplicates(project, threshold, on_progress=show_features(bar), cancel=threading.Event())
    payload = {"groups": [{"paths": [str(p) for p in g.paths], "splits": g.splits, "similarity": g.similarity,
                           "straddles_split": g.straddles_split} for g in groups]}
    emit_result(args, payload, duplicates_text(groups))
    return 0
