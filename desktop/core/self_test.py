"""`pigeonhole --self-test`: the whole pipeline once, in a throw-away project, with no network and no display.

It proves an installation works end to end: write a few pictures it draws itself (two easy classes), import
them with labels from their folders, train a short frozen-features run on the built-in backbone, predict
every picture, and check the answers. Used by the packaging smoke tests on the frozen bundle, of both builds:
the CPU build (no torch) trains and predicts through ONNX Runtime and numpy alone.
"""

from __future__ import annotations

import platform
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import select

import desktop
from desktop.core.importer import import_folder
from desktop.core.project import open_project
from desktop.db.models import Image, ImageClass, Label
from desktop.ml.builds import build_name, torch_installed
from desktop.ml.options import TrainingOptions

CLASSES = ("discs", "stripes")
PER_CLASS = 8


def draw(kind: str, rng: np.random.Generator, size: int = 96) -> np.ndarray:
    """A BGR picture: filled discs or parallel stripes in a random colour on a noisy background."""
    image = np.clip(rng.integers(60, 200, 3) + rng.normal(0, 10, (size, size, 3)), 0, 255).astype(np.uint8)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    if kind == "discs":
        for _ in range(int(rng.integers(1, 3))):
            centre = tuple(int(c) for c in rng.integers(size // 4, 3 * size // 4, 2))
            cv2.circle(image, centre, int(rng.integers(size // 6, size // 3)), colour, -1, cv2.LINE_AA)
    else:
        period = int(rng.integers(8, 16))
        ys, xs = np.mgrid[0:size, 0:size]
        angle = rng.uniform(0, np.pi)
        image[(np.cos(angle) * xs + np.sin(angle) * ys) % period < period / 2] = colour
    return image


def write_pictures(root: Path, per_class: int = PER_CLASS, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for kind in CLASSES:
        (root / kind).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            if not cv2.imwrite(str(root / kind / f"{kind}_{index:02d}.jpg"), draw(kind, rng)):
                raise OSError(f"could not write a test picture in {root}")
    return root


def run_self_test(say: Callable[[str], None] = lambda _line: None) -> dict:
    """Run every step; returns a summary whose "ok" says whether all checks passed (never raises for a failed
    check — it reports it)."""
    from desktop.core.predicting import predict_project  # the ML layer: imported here, not at module load
    from desktop.core.prediction_store import prediction_for
    from desktop.core.training import train_project

    started = time.perf_counter()
    checks: dict[str, bool] = {}
    with tempfile.TemporaryDirectory(prefix="pigeonhole-self-test-") as temp:
        temp_path = Path(temp)
        say("writing test pictures")
        photos = write_pictures(temp_path / "pictures")
        with open_project(temp_path / "self-test.pigeonhole") as project:
            say("importing")
            imported = import_folder(project, photos, labels_from_subfolders=True, cancel=threading.Event())
            checks["import"] = imported.imported == len(CLASSES) * PER_CLASS and imported.labelled == imported.imported
            say("training (frozen features, built-in backbone)")
            summary = train_project(project, TrainingOptions(mode="frozen", epochs=20))
            checks["train"] = summary.val_accuracy is not None and summary.val_accuracy > 1 / len(CLASSES)
            say("predicting")
            predict_project(project)
            with project.sessions() as session:
                rows = session.execute(
                    select(Image.id, ImageClass.name)
                    .join(Label, Label.image_id == Image.id).join(ImageClass, ImageClass.id == Label.class_id)
                ).all()
            predictions = {image_id: prediction_for(project, image_id) for image_id, _ in rows}
            correct = sum(p is not None and p.predicted == label for (image_id, label), p
                          in zip(rows, predictions.values(), strict=True))
            checks["predict"] = all(p is not None for p in predictions.values())
            # Training photos included: a working model gets nearly all of these easy pictures right.
            checks["accuracy"] = correct >= 0.8 * len(rows)
    return {
        "ok": all(checks.values()),
        "checks": checks,
        "version": desktop.__version__,
        "python": platform.python_version(),
        "build": build_name(),
        "torch": _torch_version(),
        "device": summary.device,
        "backbone": summary.backbone,
        "images": len(rows),
        "val_accuracy": summary.val_accuracy,
        "predicted": len([p for p in predictions.values() if p is not None]),
        "correct": correct,
        "train_seconds": round(summary.seconds, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _torch_version() -> str | None:
    """torch's version in the full build (imported by training already); None in the CPU build."""
    if not torch_installed():
        return None
    import torch

    return torch.__version__
