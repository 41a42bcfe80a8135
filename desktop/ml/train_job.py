"""``train(...)``, whichever build this is: the full build's trainer (torch: fine-tuning, GPUs, frozen mode with a
torch fallback), or in the CPU build the torch-free frozen path (``frozen``), where what needs torch says so in
one sentence. Importing this module imports neither."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from desktop.ml.builds import require_torch, torch_installed
from desktop.ml.options import TrainingOptions
from desktop.ml.train_record import TrainItem, TrainResult, WarmStart
from desktop.progress import CancelToken, ProgressCallback


def train(options: TrainingOptions, items: Sequence[TrainItem], class_names: Sequence[str], cache_dir: Path | None,
          on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
          warm_start: WarmStart | None = None) -> TrainResult:
    """Train a classifier (see ``trainer.train``); in the CPU build: frozen mode on the CPU, or FullBuildRequired."""
    if torch_installed():
        from desktop.ml.trainer import train as train_with_torch

        return train_with_torch(options, items, class_names, cache_dir, on_progress, cancel, warm_start)
    from desktop.ml.frozen import train_frozen

    cpu_only_check(options)
    return train_frozen(options.resolved("frozen", "cpu"), items, class_names, cache_dir, on_progress, cancel,
                        warm_start, requested_mode=options.mode)


def cpu_only_check(options: TrainingOptions) -> None:
    """FullBuildRequired for what the CPU build cannot train: fine-tuning, a GPU, random weights."""
    if options.mode == "finetune":
        require_torch("Fine-tuning")
    if options.device not in ("auto", "cpu"):
        require_torch("Training on a GPU")
    if not options.pretrained:
        require_torch("Training from scratch (without pretrained weights)")
