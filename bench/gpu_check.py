"""The CUDA path, proved on an NVIDIA GPU: fine-tuning with mixed precision and channels_last, one out-of-memory
retry, GPU against CPU throughput, and GPU predictions that agree with the CPU's.

    python -m bench.gpu_check [--per-class 100] [--epochs 2] [--batch-size 64] [--cpu-images 96]

On a machine without CUDA it says so in one line and exits 0 (nothing to check). With one it:

1. writes ``--per-class`` generated pictures of each of three shape classes (96-160 px, 20 % validation) to a
   temporary folder;
2. checks the trainer's CUDA settings: autocast (bf16 where the GPU has it, else fp16 with a GradScaler) and
   channels_last, as ``desktop.ml.device`` chooses them;
3. fine-tunes (``mode="finetune"``, ``--epochs``) on the GPU, and in the first fine-tuning epoch asks the CUDA
   allocator for 32 TB, a real ``torch.OutOfMemoryError`` raised where a batch would raise it: the trainer's
   retry (``trainer._Job.finetune``: halve the batch, empty the cache, run the epoch again) must take it, say so in
   a notice and finish;
4. times one fine-tuning epoch and the prediction of every photo on the GPU and on the CPU (the CPU on
   ``--cpu-images`` of them, to keep it short) and prints photos per second and the ratios;
5. predicts the validation photos with the trained model on both devices: the classes must agree on at least
   98 % of them and no probability may differ by more than 0.05 (bf16 against fp32).

Prints one line per check and a JSON summary; exit code 1 when a check fails. Record the figures in
bench/README.md ("gpu_check.py").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

AGREEMENT = 0.98
MAX_PROBABILITY_GAP = 0.05
HUGE_BYTES = 1 << 45  # 32 TB: more than any GPU has, so the allocator raises OutOfMemoryError at once


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cpu-images", type=int, default=96, help="photos the CPU times (it is slow)")
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no NVIDIA GPU (CUDA) on this machine, so nothing was checked.")
        return 0
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as work:
        summary = run_checks(Path(work), args)
    print(json.dumps(summary, indent=2))
    return 0 if all(summary["checks"].values()) else 1


def _items(root: Path, per_class: int):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import imagemakers

    from desktop.ml.train_record import TrainItem

    imagemakers.write_shape_folders(root, per_class)
    items = []
    for label, kind in enumerate(imagemakers.SHAPE_CLASSES):
        for index, path in enumerate(sorted((root / kind).iterdir())):
            digest = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
            items.append(TrainItem(path, digest, label, "val" if index % 5 == 0 else "train", key=len(items)))
    return items, list(imagemakers.SHAPE_CLASSES)


def run_checks(work: Path, args: argparse.Namespace) -> dict:
    import torch

    from desktop.ml import trainer
    from desktop.ml.device import autocast_for, use_channels_last
    from desktop.ml.options import TrainingOptions
    from desktop.ml.predict import Predictor
    from desktop.ml.trainer import train

    items, classes = _items(work / "photos", args.per_class)
    device = torch.device("cuda")
    checks: dict[str, bool] = {}
    figures: dict[str, object] = {"gpu": torch.cuda.get_device_name(device), "torch": torch.__version__,
                                  "photos": len(items)}

    autocast, scaler = autocast_for(device)
    with autocast():
        dtype = (torch.ones(2, 2, device=device) @ torch.ones(2, 2, device=device)).dtype
    figures["autocast_dtype"] = str(dtype).removeprefix("torch.")
    figures["grad_scaler"] = scaler is not None
    checks["mixed precision on CUDA"] = dtype in (torch.bfloat16, torch.float16)
    checks["channels_last on CUDA"] = use_channels_last(device)
    _say("mixed precision on CUDA", checks, f"autocast {figures['autocast_dtype']}, GradScaler {scaler is not None}")
    _say("channels_last on CUDA", checks, "training and inference in NHWC")

    # The out-of-memory retry lives in trainer._Job.finetune, around each fine-tuning epoch.
    original_epoch = trainer._Job._finetune_epoch
    forced = {"raised": 0}

    def epoch_that_runs_out_once(job, *epoch_args):
        if not forced["raised"]:
            forced["raised"] += 1
            torch.empty(HUGE_BYTES, dtype=torch.uint8, device=job.device)  # a real CUDA OutOfMemoryError
        return original_epoch(job, *epoch_args)

    config = TrainingOptions(mode="finetune", device="cuda", epochs=args.epochs, batch_size=args.batch_size, seed=0,
                         patience=0)
    trainer._Job._finetune_epoch = epoch_that_runs_out_once
    try:
        started = time.perf_counter()
        result = train(config, items, classes, work / "features")
        gpu_seconds = time.perf_counter() - started
    finally:
        trainer._Job._finetune_epoch = original_epoch
    retried = [notice for notice in result.notices if "ran out of memory" in notice]
    checks["out-of-memory retry"] = forced["raised"] == 1 and bool(retried)
    _say("out-of-memory retry", checks, retried[0] if retried else "no retry notice")
    finetune_epochs = [r for r in result.history if r.stage == "finetune"]
    checks["fine-tuning ran on the GPU"] = bool(finetune_epochs) and result.device.startswith("GPU")
    train_photos = sum(item.split == "train" for item in items)
    gpu_epoch = min(r.seconds for r in finetune_epochs) if finetune_epochs else float("nan")
    figures |= {"finetune_seconds": round(gpu_seconds, 2), "kept": result.best_stage,
                "val_accuracy": round(result.metrics.accuracy, 4),
                "gpu_train_photos_per_s": round(train_photos / gpu_epoch, 1)}
    _say("fine-tuning ran on the GPU", checks, f"{len(finetune_epochs)} epochs, {result.device}, kept "
         f"{result.best_stage}, validation accuracy {result.metrics.accuracy:.1%}")

    # One CPU fine-tuning epoch on a subset, for the training throughput ratio.
    cpu_items = _subset(items, args.cpu_images)
    cpu_result = train(TrainingOptions(mode="finetune", device="cpu", epochs=1, batch_size=32, seed=0, patience=0),
                       cpu_items, classes, work / "features")
    cpu_epochs = [r for r in cpu_result.history if r.stage == "finetune"]
    cpu_train = sum(item.split == "train" for item in cpu_items)
    figures["cpu_train_photos_per_s"] = round(cpu_train / cpu_epochs[0].seconds, 1) if cpu_epochs else None
    if figures["cpu_train_photos_per_s"]:
        figures["train_speedup"] = round(figures["gpu_train_photos_per_s"] / figures["cpu_train_photos_per_s"], 1)

    # Prediction: throughput on each device, and agreement on the validation photos.
    paths = [item.path for item in items]
    gpu_predictor = Predictor.from_checkpoint(result.checkpoint, device="cuda")
    cpu_predictor = Predictor.from_checkpoint(result.checkpoint, device="cpu")
    gpu_predictor.predict_paths(paths[:args.batch_size], batch_size=args.batch_size)  # warm-up: cuDNN autotune
    started = time.perf_counter()
    gpu_probabilities = gpu_predictor.predict_paths(paths, batch_size=args.batch_size)
    figures["gpu_predict_photos_per_s"] = round(len(paths) / (time.perf_counter() - started), 1)
    cpu_paths = paths[:args.cpu_images]
    started = time.perf_counter()
    cpu_probabilities = cpu_predictor.predict_paths(cpu_paths)
    figures["cpu_predict_photos_per_s"] = round(len(cpu_paths) / (time.perf_counter() - started), 1)
    figures["predict_speedup"] = round(figures["gpu_predict_photos_per_s"] / figures["cpu_predict_photos_per_s"], 1)
    _say_figures(figures)

    compared = gpu_probabilities[:len(cpu_paths)]
    agreement = float((compared.argmax(1) == cpu_probabilities.argmax(1)).mean())
    gap = float(np.abs(compared - cpu_probabilities).max())
    figures |= {"class_agreement": round(agreement, 4), "max_probability_gap": round(gap, 4)}
    checks["GPU predictions agree with the CPU's"] = agreement >= AGREEMENT and gap <= MAX_PROBABILITY_GAP
    _say("GPU predictions agree with the CPU's", checks,
         f"same class for {agreement:.1%} of {len(cpu_paths)} photos, largest probability gap {gap:.4f}")
    return {"checks": checks, "figures": figures}


def _subset(items, count: int):
    """About ``count`` items, every class and both splits kept (every k-th)."""
    step = max(1, len(items) // max(1, count))
    return list(items[::step])


def _say(name: str, checks: dict[str, bool], detail: str) -> None:
    print(f"{'ok  ' if checks.get(name) else 'FAIL'} {name}: {detail}", flush=True)


def _say_figures(figures: dict) -> None:
    print(f"     training: GPU {figures['gpu_train_photos_per_s']} photos/s, CPU {figures['cpu_train_photos_per_s']} "
          f"(x{figures.get('train_speedup')}); prediction: GPU {figures['gpu_predict_photos_per_s']} photos/s, "
          f"CPU {figures['cpu_predict_photos_per_s']} (x{figures['predict_speedup']})", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
