"""`train`: train the project's classifier from its labelled photos, make it the active model and predict every
photo with it (``desktop.core.new_model``)."""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import threading
from functools import partial
from typing import TYPE_CHECKING

from desktop.cli.common import (
    UserError,
    command,
    emit_result,
    path_argument,
    positive_float,
    positive_int,
    seed_value,
    terminal_safe,
    user_message,
)
from desktop.cli.launch import add_nproc_argument, is_output_rank, needs_launch, rank_progress_bar, relaunch
from desktop.cli.predict_commands import report_unreadable, show_prediction
from desktop.cli.progress import ProgressBar
from desktop.core.model_results import describe_model
from desktop.core.training_types import TrainingProgress, TrainingSummary
from desktop.ml.options import DEFAULT_BACKBONE, DEVICES, MODES
from desktop.wording import plural

if TYPE_CHECKING:
    from desktop.core.new_model import PredictingFailed
    from desktop.core.predicting import PredictSummary


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a classifier on the labelled photos (it becomes the active model)")
    p.add_argument("project", type=path_argument)
    p.add_argument("--backbone", default=DEFAULT_BACKBONE,
                   help=f"pretrained network (default {DEFAULT_BACKBONE}, built in; see the app's Train tab)")
    p.add_argument("--mode", choices=MODES, default="auto",
                   help="frozen features (fast, few photos) or finetune (more photos, GPU); auto picks")
    p.add_argument("--epochs", type=positive_int, metavar="N",
                   help="epochs (default: the mode's own, with early stopping)")
    p.add_argument("--lr", type=positive_float, metavar="LR", help="learning rate of the classifier head")
    p.add_argument("--batch-size", type=positive_int, metavar="N", help="photos per batch (default 32)")
    p.add_argument("--seed", type=seed_value, default=0, metavar="S", help="seed for a reproducible run (default 0)")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="auto (CUDA, then Apple MPS, then CPU), cuda, mps or cpu")
    p.add_argument("--no-predict", dest="predict", action="store_false",
                   help="only train: do not predict every photo with the new model afterwards")
    add_nproc_argument(p)
    p.add_argument("--json", action="store_true")


_COUNTED = re.compile(r"[:,]?\s*(?P<what>[a-z]+) [\d,]+ of [\d,]+$")
_PLURALS = {"batch": "batches", "fit": "fits", "epoch": "epochs", "photo": "photos"}


def show_training(bar: ProgressBar, progress: TrainingProgress) -> None:
    """One training event on the bar (notices on their own line)."""
    if progress.phase == "notice":
        bar.note(progress.message)
    elif progress.phase == "features":
        bar.update(progress.done, progress.total, eta=progress.eta_seconds, label="Computing features",
                   unit="photos")
    elif progress.phase == "evaluating":
        bar.update(progress.done, progress.total, eta=progress.eta_seconds, label="Checking the validation photos",
                   unit="photos")
    elif progress.phase == "training":
        # "Training the classifier" counts epochs; "Fine-tuning the backbone: batch 3 of 20" (or another stage's
        # "…: fit 3 of 30") counts what it names: the label keeps the stage, the bar the count.
        counted = _COUNTED.search(progress.message)
        if counted:
            stage = progress.message[:counted.start()]
            if counted["what"] == "batch" and progress.epochs:
                stage += f", epoch {min(progress.epoch + 1, progress.epochs)} of {progress.epochs}"
            unit = _PLURALS.get(counted["what"], counted["what"])
        else:
            stage, unit = progress.message, "epochs"
        bar.update(progress.done, progress.total, eta=progress.eta_seconds, label=stage, unit=unit)
    else:  # preparing: no amount of work to count
        bar.update(0, 0, label=progress.message, unit="")


def summary_text(summary: TrainingSummary) -> str:
    """The human report: one sentence, then each class's precision and recall on the photos it was scored on."""
    accuracy = f"{summary.val_accuracy:.1%}" if summary.val_accuracy is not None else "n/a"
    if summary.evaluation == "out-of-fold":  # every photo scored by a classifier that never saw it
        scored = f"{summary.val_images} photos right when held out ({summary.folds}-fold cross-validation)"
    else:
        scored = f"{summary.val_images} validation photos right"
    how = terminal_safe(describe_model(summary.backbone, summary.mode, summary.device))  # the Train tab's words
    lines = [f"Model {summary.model_id} is now active: {accuracy} of {scored}, trained on "
             f"{summary.train_images} photos in {summary.seconds:.1f} s — {how}."]
    if summary.per_class:
        names = {name: terminal_safe(name) for name in summary.per_class}
        width = max(5, *(len(shown) for shown in names.values()))
        lines.append(f"  {'class':<{width}}  precision  recall  photos")
        for name, scores in summary.per_class.items():
            lines.append(f"  {names[name]:<{width}}  {scores['precision']:>9.1%}  {scores['recall']:>6.1%}  "
                         f"{int(scores['support']):>6}")
    return "\n".join(lines)


def predicted_with_it(summary: PredictSummary) -> str:
    """The line after the training's report: the new model's predictions for every photo."""
    unreadable = f" ({len(summary.unreadable)} could not be read)" if summary.unreadable else ""
    return f"Predicted {plural(summary.predicted, 'photo')} with it in {summary.seconds:.1f} s{unreadable}."


@command("train")
def _train(args: argparse.Namespace) -> int:
    if needs_launch(args):
        return relaunch(args)
    from desktop.core.new_model import NewModel, PredictingFailed, train_then_predict
    from desktop.core.project import open_project
    from desktop.ml.distributed import process_group
    from desktop.ml.options import TrainingOptions

    options = TrainingOptions(backbone=args.backbone, mode=args.mode, epochs=args.epochs, learning_rate=args.lr,
                              seed=args.seed, device=args.device, batch_size=args.batch_size)
    shown: set[str] = set()

    def show(progress: TrainingProgress) -> None:
        if progress.phase == "notice":
            shown.add(progress.message)
        show_training(bar, progress)

    with process_group(args.device), open_project(args.project, create=False) as project, \
            rank_progress_bar(args, "Preparing") as bar:
        try:
            new = train_then_predict(project, options, predict=args.predict, on_training=show,
                                     on_predicting=partial(show_prediction, bar, "Predicting every photo"),
                                     cancel=threading.Event())
        except PredictingFailed as failed:
            new = NewModel(failed.training, None)
            reason = predicting_error(failed)
        else:
            reason = None
    if not is_output_rank():
        return 0
    summary = new.training
    for note in summary.notes:  # what the run found out after (left-out classes, duplicates across the split)
        if note not in shown:
            print(f"note: {terminal_safe(note)}", file=sys.stderr)
    text = summary_text(summary)
    if new.predictions is not None:
        report_unreadable(new.predictions)
        text += "\n" + predicted_with_it(new.predictions)
    emit_result(args, new.as_json(), text)
    if reason is not None:
        raise UserError(f"{reason} `pigeonhole predict {terminal_safe(shlex.quote(str(args.project)))}` tries again.")
    return 0


def predicting_error(failed: PredictingFailed) -> str:
    """The sentence for a prediction step that failed after training, with the system's reason; a bug's traceback
    is still raised whole."""
    cause = failed.__cause__
    assert cause is not None  # train_then_predict chains it
    reason = user_message(cause)
    if reason is None:
        raise cause
    return f"{failed} {reason.rstrip('.')}."
