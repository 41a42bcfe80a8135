"""`sort`, `resume-sort` and `undo-sort`: copy or move photos into class folders, finish or take that back.

Every sort is journalled by ``desktop.core.sorting`` before a file is touched, so an interrupted run (Ctrl+C, a
full disk, a crash) is resumed or undone later; these commands say how whenever that is needed. Class names,
file names and paths come from projects, models and folders that anyone can make: human output shows them
through ``terminal_safe`` (``_safe``), never raw.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from desktop.cli.common import UserError, command, emit_result, path_argument, record_id, terminal_safe
from desktop.wording import plural

T = TypeVar("T")
INTERRUPTED = 130  # the shell's exit status for a command stopped by Ctrl+C


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sort", help="copy or move photos into DEST/<class>/ folders by label and prediction")
    p.add_argument("project", type=path_argument)
    p.add_argument("--dest", required=True, metavar="DIR", type=path_argument,  # refuses "" (not ".")
                   help="destination root: one folder per class is made inside it, plus _unsure")
    p.add_argument("--folder", type=path_argument, metavar="PATH",
                   help="only the photos in this project folder (or a folder inside one); default: every photo")
    p.add_argument("--move", action="store_true", help="move the photos (default: copy them)")
    p.add_argument("--precision", type=float, metavar="P",
                   help="sort a photo by its prediction only where the model is expected to be right at least P "
                        "of the time (0-1; default 0.95): per-class thresholds from its calibrated held-out "
                        "predictions; the rest go to _unsure")
    p.add_argument("--threshold", type=float, metavar="T",
                   help="instead of --precision: predictions less confident than T (0-1) go to _unsure")
    p.add_argument("--dry-run", action="store_true", help="only say what would happen; touch nothing")
    p.add_argument("--no-follow-labels", action="store_true",
                   help="sort labelled photos by the prediction too (default: they go to their label's folder)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("resume-sort", help="finish a sort that was interrupted (cancelled, disk full, crash)")
    p.add_argument("project", type=path_argument)
    p.add_argument("--sort-id", type=record_id, metavar="ID", help="which sort (default: the newest interrupted one)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("undo-sort", help="put a sort's photos back (moves) or delete its copies")
    p.add_argument("project", type=path_argument)
    p.add_argument("--sort-id", type=record_id, metavar="ID", help="which sort (default: the newest one not undone)")
    p.add_argument("--json", action="store_true")


def _safe(text: str) -> str:
    """Lines for the terminal: each one's control characters escaped, the line breaks between them kept."""
    return "\n".join(terminal_safe(line) for line in text.split("\n"))


def _note(text: str) -> None:
    print(_safe(f"pigeonhole: {text}"), file=sys.stderr)


def run_shown(args: argparse.Namespace, run: Callable[[Callable[[Any], None]], T],
               advice: str | Callable[[], str]) -> T | None:
    """``run(show)``'s result, its progress shown on an interactive terminal; on Ctrl+C None, after saying how to go
    on (the journal keeps every step, so nothing is lost). ``advice`` may be asked for only then (a sort's id is
    known once it is journalled)."""
    interactive = sys.stderr.isatty() and not args.json

    def show(progress) -> None:
        if interactive:
            verb = "put back" if progress.phase == "undo" else "sorted"
            print(f"\r\033[K{progress.done}/{progress.total} {verb}, {progress.failed} failed", end="",
                  file=sys.stderr)

    def finish() -> None:
        if interactive:
            print(file=sys.stderr)

    try:
        result = run(show)
    except KeyboardInterrupt:
        finish()
        _note(f"interrupted; nothing was lost: {advice() if callable(advice) else advice}.")
        return None
    finish()
    return result


def how_to_continue(project: Path, sort_id: int) -> str:
    return (f"resume it with `pigeonhole resume-sort {project} --sort-id {sort_id}` "
            f"or undo it with `pigeonhole undo-sort {project} --sort-id {sort_id}`")


def _warn_interrupted(project_path: Path, project) -> None:
    from desktop.core.sorting import SortStatus, interrupted_sorts, sort_in_progress

    running = sort_in_progress(project)
    for summary in interrupted_sorts(project):
        if running and summary.status == SortStatus.RUNNING:  # not interrupted: another Pigeonhole is on it
            _note(f"note: sort #{summary.id} ({summary.mode} into {summary.destination}) is running in another "
                  f"Pigeonhole: {summary.done} of {summary.total} photos done.")
            continue
        _note(f"note: sort #{summary.id} ({summary.mode} into {summary.destination}) did not finish: "
              f"{summary.done} of {summary.total} photos done; {how_to_continue(project_path, summary.id)}.")


def _selection(project, folder: Path | None) -> dict:
    """SortRequest arguments for --folder: a project folder, or the images below a path inside one."""
    if folder is None:
        return {}
    from desktop.core.browse import ImageFilter, list_images
    from desktop.core.folders import list_folders

    wanted = folder.expanduser().resolve()
    folders = list_folders(project)
    for info in folders:
        if Path(info.root).resolve() == wanted:
            return {"folder_id": info.id}
    for info in folders:
        root = Path(info.root).resolve()
        if wanted.is_relative_to(root):
            ids = [row.id for row in list_images(project, ImageFilter(folder_id=info.id))
                   if (root / row.rel_path).is_relative_to(wanted)]
            if not ids:
                raise UserError(f"No photos of the project are in {wanted}.")
            return {"image_ids": ids}
    raise UserError(f"{wanted} is not one of the project's folders (see `pigeonhole status`); "
                    "add it with `pigeonhole import` first.")


def sort_text(result, project_path: Path) -> str:
    from desktop.core.sorting import SortStatus

    lines = [result.message]
    for name, count in result.per_class.items():
        lines.append(f"  {name}: {count}")
    for failure in result.failed[:20]:
        lines.append(f"  failed: {failure.source}: {failure.reason}")
    if len(result.failed) > 20:
        lines.append(f"  … and {len(result.failed) - 20} more failures (see --json)")
    if result.skipped:
        lines.append(f"{result.skipped} photos were skipped (unreadable or missing).")
    if result.unpredicted:
        lines.append(f"{result.unpredicted} photos had no prediction from the active model and went to _unsure.")
    if result.rule.get("precision") is not None and result.expected_mistakes is not None:
        lines.append(f"Sorted by precision {result.rule['precision']:.0%}: about {result.expected_mistakes:.1f} "
                     "photos sorted by prediction are expected in the wrong folder.")
    if result.sort_id is not None and result.status != SortStatus.DONE:
        lines.append(f"To finish: {how_to_continue(project_path, result.sort_id)}.")
    return _safe("\n".join(lines))


def sort_exit_status(result) -> int:
    """1 when a sort did not do all it planned (stopped, cancelled, or a photo failed), else 0."""
    return 1 if result.stopped or result.cancelled or result.failed else 0


def _report(args: argparse.Namespace, result) -> int:
    """A sort's result said (as text or JSON), and the exit status that goes with it; ``INTERRUPTED`` for none
    (Ctrl+C stopped the run, and ``run_shown`` has said how to go on)."""
    if result is None:
        return INTERRUPTED
    emit_result(args, result.as_json(), sort_text(result, args.project))
    return sort_exit_status(result)


@command("sort")
def _sort(args: argparse.Namespace) -> int:
    from desktop.core.project import open_project
    from desktop.core.sorting import (
        COPY,
        DEFAULT_PRECISION,
        DEFAULT_THRESHOLD,
        MOVE,
        SortRequest,
        fraction_problem,
        mistakes_sentence,
        plan_sort,
        sort_plan,
    )

    if args.precision is not None and args.threshold is not None:
        raise UserError("Use --precision or --threshold, not both.")
    for field in ("threshold", "precision"):  # the request's own rule, said with the option's name
        if (problem := fraction_problem(field, getattr(args, field), f"--{field}")) is not None:
            raise UserError(problem)
    with open_project(args.project, create=False) as project:
        _warn_interrupted(args.project, project)
        # One default rule with the Sort dialog: a precision, unless a raw threshold is asked for.
        threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
        precision = args.precision if args.precision is not None or args.threshold is not None else DEFAULT_PRECISION
        request = SortRequest(destination=args.dest, mode=MOVE if args.move else COPY, threshold=threshold,
                              precision=precision, follow_labels=not args.no_follow_labels,
                              **_selection(project, args.folder))
        plan = plan_sort(project, request)
        for warning in plan.warnings:
            _note(f"warning: {warning}")
        for name in plan.unreachable:
            _note(f"note: no threshold of class “{name}” reaches precision {plan.precision:.0%} on the model's "
                  f"held-out photos: its predicted photos go to _unsure.")
        for line in plan.advice.values():
            _note(f"note: {line}")
        if plan.companions:
            _note(f"note: the photos take {plural(plan.companions, 'companion file')} with them (XMP sidecars, "
                  "RAW/JPEG twins).")
        by_prediction = sum(op.why == "prediction" for op in plan.operations)
        if by_prediction:
            _note(f"note: {mistakes_sentence(plan.expected_mistakes, plan.mistakes_range, by_prediction)}.")
        if args.dry_run:
            result = plan.as_result()
        else:
            started: list[int] = []  # the sort's id once journalled: what to resume after Ctrl+C
            result = run_shown(
                args, lambda show: sort_plan(project, plan, show, threading.Event(), on_started=started.append),
                lambda: how_to_continue(args.project, started[0]) if started else "the sort was not started")
    return _report(args, result)


@command("resume-sort")
def _resume_sort(args: argparse.Namespace) -> int:
    from desktop.core.project import open_project
    from desktop.core.sorting import SortStatus, interrupted_sorts, run_sort

    with open_project(args.project, create=False) as project:
        sort_id = args.sort_id
        if sort_id is None:
            unfinished = [s for s in interrupted_sorts(project) if s.status != SortStatus.UNDOING]
            if not unfinished:
                raise UserError("There is no interrupted sort to resume.")
            sort_id = unfinished[0].id
        result = run_shown(args, lambda show: run_sort(project, sort_id, show, threading.Event()),
                            how_to_continue(args.project, sort_id))
    return _report(args, result)


@command("undo-sort")
def _undo_sort(args: argparse.Namespace) -> int:
    from desktop.core.project import open_project
    from desktop.core.sorting import undo_sort

    with open_project(args.project, create=False) as project:
        result = run_shown(args, lambda show: undo_sort(project, args.sort_id, show, threading.Event()),
                            "run `pigeonhole undo-sort` again to finish")
    return _report_undo(args, result)


def _report_undo(args: argparse.Namespace, result) -> int:
    """An undo's result said, and its exit status; ``INTERRUPTED`` for none (as ``_report``)."""
    if result is None:
        return INTERRUPTED
    lines = [f"Sort #{result.sort_id}: {result.message}"]
    lines += [f"  kept: {path}: {reason}" for path, reason in result.kept[:20]]
    lines += [f"  put back as {taken} (a file now has the name {wanted})" for wanted, taken in result.renamed[:20]]
    emit_result(args, result.as_json(), _safe("\n".join(lines)))
    return 1 if result.stopped or result.cancelled or result.kept else 0
