"""`predict` and `suggest`: the active model's class probabilities for the project's photos, and what to label
next."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from desktop.cli.common import UserError, command, emit_result


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="predict every photo (or one folder's) with the active model")
    p.add_argument("project", type=Path)
    p.add_argument("--folder", type=Path, help="only this folder of the project")
    p.add_argument("--unlabelled", action="store_true", help="only photos without a label")
    p.add_argument("--force", action="store_true", help="predict again even photos predicted before")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("suggest", help="unlabelled photos the model is least sure of: label these next")
    p.add_argument("project", type=Path)
    p.add_argument("--n", type=int, default=20, help="how many (default 20)")
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


@command("predict")
def _predict(args: argparse.Namespace) -> int:
    from desktop.core.predicting import PredictProgress, predict_project, predictions_json
    from desktop.core.project import open_project

    interactive = sys.stderr.isatty()

    def show(progress: PredictProgress) -> None:
        if interactive and progress.total:
            print(f"\r\033[Kpredicting {progress.done:,}/{progress.total:,}", end="", file=sys.stderr)

    with open_project(args.project, create=False) as project:
        scope = folder_id_for(project, args.folder) if args.folder else ("unlabelled" if args.unlabelled else "all")
        summary = predict_project(project, scope, force=args.force, on_progress=show, cancel=threading.Event())
        if interactive:
            print(file=sys.stderr)
        from desktop.core.models_registry import active_model

        images = predictions_json(project, active_model(project), scope)
    for path, reason in summary.unreadable:
        print(f"pigeonhole: cannot read {path}: {reason}", file=sys.stderr)
    text = (f"Model {summary.model_id}: {summary.predicted} photos predicted now, {summary.already} already done "
            f"({summary.seconds:.1f} s).")
    emit_result(args, {"model_id": summary.model_id, "predicted": summary.predicted, "images": images}, text)
    return 0


@command("suggest")
def _suggest(args: argparse.Namespace) -> int:
    from desktop.core.predicting import predict_project
    from desktop.core.project import open_project
    from desktop.core.suggest import suggest_next

    with open_project(args.project, create=False) as project:
        predict_project(project, "unlabelled", cancel=threading.Event())  # fresh predictions for new photos
        model, suggestions = suggest_next(project, args.n, by=args.by)
    images = [{"path": str(s.path), "predicted": s.predicted, "confidence": round(s.confidence, 6),
               "margin": round(s.margin, 6)} | ({"entropy": round(s.entropy, 6)} if s.entropy is not None else {})
              for s in suggestions]
    lines = [f"{i['margin']:.3f}  {i['predicted']:<16} {i['path']}" for i in images] or ["Nothing to suggest: "
                                                                                        "every photo is labelled."]
    emit_result(args, {"model_id": model.id if model else None, "images": images}, "\n".join(lines))
    return 0
