"""`duplicates` and `label-issues`: the quality of the labelled data — (near-)identical photos (and whether
they straddle the train/validation split), and labels that are likely wrong."""

from __future__ import annotations

import argparse

from desktop.cli.common import (
    UserError,
    command,
    emit_result,
    fraction,
    path_argument,
    positive_int,
    terminal_safe,
)
from desktop.cli.progress import ProgressBar, progress_bar
from desktop.wording import plural


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("duplicates", help="groups of identical or nearly identical photos")
    p.add_argument("project", type=path_argument)
    p.add_argument("--threshold", type=fraction, default=None, metavar="T",
                   help="cosine similarity of the backbone's features above which photos count as the same "
                        "picture (default 0.95)")
    p.add_argument("--move-extras", type=path_argument, default=None, metavar="DIR",
                   help="resolve the groups: keep one photo of each and move the others into DIR (their folders "
                        "kept, nothing overwritten), journalled like a sort: undo it with undo-sort")
    p.add_argument("--keeper", default="labelled", metavar="RULE",
                   help="which photo of a group stays: labelled (a labelled one, then the largest; the default), "
                        "largest, sharpest, oldest, or folder:PATH (the one in that folder)")
    p.add_argument("--similarity", type=fraction, default=None, metavar="S",
                   help="with --move-extras: resolve near duplicates at least this alike too (default: exact "
                        "copies only)")
    p.add_argument("--mixed-labels", action="store_true",
                   help="with --move-extras: resolve groups whose photos carry different labels too")
    p.add_argument("--dry-run", action="store_true", help="with --move-extras: show what would move, move nothing")
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
    from desktop.progress import Notice, Progress

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

    if args.move_extras is not None:
        return _move_extras(args)
    if args.similarity is not None or args.dry_run or args.mixed_labels:
        raise UserError("--similarity, --mixed-labels and --dry-run go with --move-extras DIR.")
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    with open_project(args.project, create=False) as project, progress_bar(args, "Computing features") as bar:
        groups = find_duplicates(project, threshold, on_progress=show_features(bar), cancel=threading.Event())
    payload = {"groups": [{"paths": [str(p) for p in g.paths], "splits": g.splits, "similarity": g.similarity,
                           "straddles_split": g.straddles_split} for g in groups]}
    emit_result(args, payload, duplicates_text(groups))
    return 0


def _move_extras(args: argparse.Namespace) -> int:
    """Resolve the groups: one preview, then one journalled move of every extra copy (undo-sort puts them back)."""
    import threading

    from desktop.cli.sort_commands import INTERRUPTED, how_to_continue, run_shown, sort_exit_status, sort_text
    from desktop.core.duplicate_resolving import check_keeper_rule, exact_groups, near_groups, plan_resolution, resolve
    from desktop.core.project import open_project

    if args.threshold is not None:
        raise UserError("With --move-extras, say how alike near duplicates must be with --similarity.")
    check_keeper_rule(args.keeper)
    with open_project(args.project, create=False) as project:
        if args.similarity is None:
            groups = exact_groups(project)
        else:
            with progress_bar(args, "Computing features") as bar:
                groups = near_groups(project, args.similarity, show_features(bar), threading.Event())
        if not groups:
            emit_result(args, {"groups": [], "moves": [], "message": "No duplicates found."}, "No duplicates found.")
            return 0
        resolution = plan_resolution(project, groups, args.keeper, args.move_extras)
        if args.dry_run:
            emit_result(args, {**resolution.as_json(), "dry_run": True}, resolution_text(resolution))
            return 0
        started: list[int] = []
        result = run_shown(
            args, lambda show: resolve(project, resolution, mixed_labels=args.mixed_labels, on_progress=show,
                                       cancel=threading.Event(), on_started=started.append),
            lambda: how_to_continue(args.project, started[0]) if started else "nothing was moved")
    if result is None:
        return INTERRUPTED
    text = sort_text(result, args.project)  # already safe for the terminal
    if result.done:
        text += "\n" + terminal_safe(f"Undo with `pigeonhole undo-sort {args.project}`.")
    emit_result(args, {**result.as_json(), "resolution": resolution.as_json()}, text)
    return sort_exit_status(result)


def resolution_text(resolution) -> str:
    """The preview: each group's keeper and what moves, the groups that mix labels marked, then the sentence."""
    lines = []
    for group in resolution.groups[:50]:
        mark = f"  [labels differ: {' / '.join(group.labels)}]" if group.mixed_labels else ""
        lines.append(f"keep {terminal_safe(group.keeper.path)} ({group.reason}){mark}")
        lines.extend(f"  move {terminal_safe(copy.path)}" for copy in group.extras)
    if len(resolution.groups) > 50:
        lines.append(f"… and {plural(len(resolution.groups) - 50, 'more group')} (see --json)")
    lines.append(resolution.sentence + " Moving them is journalled like a sort: undo-sort puts them back.")
    return "\n".join(lines)
