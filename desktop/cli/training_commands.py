"""`train`: train the project's classifier from its labelled photos and make it the active model."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from desktop.cli.common import command, emit_result
from desktop.core.training_types import DEFAULT_BACKBONE, MODES


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a classifier on the labelled photos (it becomes the active model)")
    p.add_argument("project", type=Path)
    p.add_argument("--backbone", default=DEFAULT_BACKBONE,
                   help=f"pretrained network (default {DEFAULT_BACKBONE}, built in; see the app's Train tab)")
    p.add_argument("--mode", choices=MODES, default="auto",
                   help="frozen features (fast, few photos) or finetune (more photos, GPU); auto picks")
    p.add_argument("--epochs", type=int, help="epochs (default: the mode's own, with early stopping)")
    p.add_argument("--lr", type=float, help="learning rate of the classifier head")
    p.add_argument("--seed", type=int, default=0, help="seed for a reproducible run (default 0)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then Apple MPS, then CPU), cuda, mps or cpu")
    p.add_argument("--json", action="store_true")


@command("train")
def _train(args: argparse.Namespace) -> int:
    from desktop.core.project import open_project
    from desktop.core.training import train_project
    from desktop.core.training_types import TrainingOptions, TrainingProgress

    interactive = sys.stderr.isatty()

    def show(progress: TrainingProgress) -> None:
        if progress.phase == "notice":
            print(f"\nnote: {progress.message}", file=sys.stderr)
        elif interactive:
            epoch = f"epoch {progress.epoch}/{progress.epochs} " if progress.phase == "training" else ""
            print(f"\r\033[K{epoch}{progress.message}", end="", file=sys.stderr)

    options = TrainingOptions(backbone=args.backbone, mode=args.mode, epochs=args.epochs, learning_rate=args.lr,
                              seed=args.seed, device=args.device)
    with open_project(args.project, create=False) as project:
        summary = train_project(project, options, on_progress=show, cancel=threading.Event())
    if interactive:
        print(file=sys.stderr)
    accuracy = f"{summary.val_accuracy:.1%}" if summary.val_accuracy is not None else "n/a"
    text = (f"Model {summary.model_id} ({summary.backbone}, {summary.mode}, {summary.device}) is now active: "
            f"{accuracy} of {summary.val_images} validation photos right, trained on {summary.train_images} "
            f"photos in {summary.seconds:.1f} s.")
    emit_result(args, summary.as_json(), text)
    return 0
