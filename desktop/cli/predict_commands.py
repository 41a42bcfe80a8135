"""`predict` and `suggest`: the active model's class probabilities for the project's photos, and what to label
next."""

from __future__ import annotations

import argparse
import sys
import threading
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.cli.common import UserError, command, emit_result, path_argument, positive_int, terminal_safe
from desktop.cli.launch import add_nproc_argument, is_output_rank, needs_launch, rank_progress_bar, relaunch
from desktop.cli.progress import ProgressBar, progress_bar

if TYPE_CHECKING:
    from desktop.core.predicting import PredictProgress, PredictSummary


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="predict every photo (or one folder's) with the active model")
    p.add_argument("project", type=path_argument)
    p.add_argument("--folder", type=path_argument, help="only this folder of the project")
    p.add_argument("--unlabelled", action="store_true", help="only photos without a label")
    p.add_argument("--force", action="store_true", help="predict again even photos predicted before")
    add_nproc_argument(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("suggest", help="unlabelled photos the model is least sure of: label these next")
    p.add_argument("project", type=path_argument)
    p.add_argument("--n", type=positive_int, default=20, metavar="N", help="how many (default 20)")
    p.add_argument("--by", choices=("margin", "entropy"), default="margin",
                   help="margin: torn between two classes (default); entropy: unsure across all classes")
    p.add_argument("--json", action="store_true")


def folder_id_for(project, folder: Path) -> int:
    from desktop.core.folders import list_folders

    wanted = folder.expanduser().resolve()
    for info in list_folders(project):
        root = Path(info.root)
        if wanted == root or root in wanted.parents:
            return info.id
    raise UserError(f"{folder} is not a folder of this project (add it with `pigeonhole import`).")


LOADING = "Loading the model"
PHASES = (LOADING, "Predicting", "Done")  # predict_project's messages; any other is a notice


def show_prediction(bar: ProgressBar, label: str, progress: PredictProgress) -> None:
    """One prediction event on the bar, under ``label``; a notice (a smaller batch…) gets a line of its own."""
    if progress.message not in PHASES and progress.total:
        bar.note(progress.message)
    if progress.total:
        bar.update(progress.done, progress.total, eta=progress.eta_seconds,
                   label=LOADING if progress.message == LOADING else label, unit="photos")


@command("predict")
def _predict(args: argparse.Namespace) -> int:
    if needs_launch(args):
        return relaunch(args)
    from desktop.core.models_registry import active_model
    from desktop.core.predicting import predict_project, predictions_json
    from desktop.core.project import open_project
    from desktop.ml.distributed import process_group

    with process_group(), open_project(args.project, create=False) as project:
        scope = folder_id_for(project, args.folder) if args.folder else ("unlabelled" if args.unlabelled else "all")
        with rank_progress_bar(args, "Predicting", unit="photos") as bar:
            summary = predict_project(project, scope, force=args.force,
                                      on_progress=partial(show_prediction, bar, "Predicting"), cancel=threading.Event())
        if not is_output_rank():
            return 0
        images = predictions_json(project, active_model(project), scope)
    report_unreadable(summary)
    emit_result(args, {"model_id": summary.model_id, "predicted": summary.predicted, "images": images},
                predicted_text(summary))
    return 0


def report_unreadable(summary: PredictSummary) -> None:
    for path, reason in summary.unreadable:
        print(f"pigeonhole: cannot read {terminal_safe(path)}: {terminal_safe(reason)}", file=sys.stderr)


def predicted_text(summary: PredictSummary) -> str:
    return (f"Model {summary.model_id}: {summary.predicted} photos predicted now, {summary.already} already done "
            f"({summary.seconds:.1f} s).")


def suggestions_text(images: list[dict], by: str) -> str:
    """A table, least sure first: how torn the model is, what it guesses, and the photo."""
    if not images:
        return "Nothing to suggest: every photo is labelled (or none has a prediction yet)."
    classes = [terminal_safe(image["predicted"]) for image in images]
    width = max(9, *(len(name) for name in classes))
    extra = "  entropy" if by == "entropy" else ""
    lines = [f"Label these next, least sure first (by {by}):",
             f"  margin  confidence{extra}  {'predicted':<{width}}  photo"]
    for image, name in zip(images, classes, strict=True):
        entropy = f"  {image.get('entropy', 0.0):>7.3f}" if extra else ""
        lines.append(f"  {image['margin']:>6.3f}  {image['confidence']:>10.1%}{entropy}  {name:<{width}}  "
                     f"{terminal_safe(image['path'])}")
    return "\n".join(lines)


@command("suggest")
def _suggest(args: argparse.Namespace) -> int:
    from desktop.core.predicting import predict_project
    from desktop.core.project import open_project
    from desktop.core.suggest import suggest_next

    with open_project(args.project, create=False) as project:
        with progress_bar(args, "Predicting new photos", unit="photos") as bar:  # fresh predictions first
            predict_project(project, "unlabelled", on_progress=partial(show_prediction, bar, "Predicting new photos"),
                            cancel=threading.Event())
        model, suggestions = suggest_next(project, args.n, by=args.by)
    images = [{"path": str(s.path), "predicted": s.predicted, "confidence": round(s.confidence, 6),
               "margin": round(s.margin, 6)} | ({"entropy": round(s.entropy, 6)} if s.entropy is not None else {})
              for s in suggestions]
    emit_result(args, {"model_id": model.id if model else None, "images": images}, suggestions_text(images, args.by))
    return 0
