"""Retrain latency: in a 2,000-photo project, label 20 more photos, then Retrain → refreshed "Label next" queue.

    python -m bench.retrain_bench [--photos 2000] [--labelled 200] [--new-labels 20]

A Fashion-MNIST project (Debian's dataset-fashion-mnist, 10 classes, 96-px PNGs) with ``--labelled`` photos
labelled from their class folders and the rest unlabelled. Set-up, not timed: import, a first frozen-mode
training and a prediction of every photo (this computes and caches every photo's features, as the app does
after the first training). Then, timed as the user lives it: the ``--new-labels`` photos at the top of the
"Label next" queue get their true labels, and Retrain = train_project (frozen, warm start) + predict_project
(every photo, with the new model) + suggest_next (the refreshed queue). Aim: under 10 s on a laptop CPU.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from bench import fashion_mnist


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--labelled", type=int, default=200)
    parser.add_argument("--new-labels", type=int, default=20)
    args = parser.parse_args(argv)
    if not fashion_mnist.available():
        raise SystemExit("needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)")

    from sqlalchemy import select

    from desktop.core.importer import import_folder
    from desktop.core.labels import set_label
    from desktop.core.predicting import predict_project
    from desktop.core.project import open_project
    from desktop.core.suggest import suggest_next
    from desktop.core.training import train_project
    from desktop.db.models import ImageClass
    from desktop.ml.options import TrainingOptions

    work = Path(tempfile.mkdtemp(prefix="retrain-bench-"))
    try:
        labelled_per_class = args.labelled // 10
        unlabelled_per_class = (args.photos - args.labelled) // 10
        fashion_mnist.write_folder(work / "labelled", labelled_per_class)
        truth = {}  # file name -> class, for the photos the "user" labels during the benchmark
        for path, name in fashion_mnist.write_folder(work / "unsorted", unlabelled_per_class,
                                                     offset=labelled_per_class, subfolders=False):
            truth[Path(path).name] = name
        options = TrainingOptions(mode="frozen")
        with open_project(work / "bench.pigeonhole") as project:
            started = time.perf_counter()
            import_folder(project, work / "labelled", labels_from_subfolders=True)
            import_folder(project, work / "unsorted")
            first = train_project(project, options)
            predict_project(project)
            setup = time.perf_counter() - started
            _, queue = suggest_next(project)
            with project.sessions() as session:
                class_ids = dict(session.execute(select(ImageClass.name, ImageClass.id)).all())
            for suggestion in queue[:args.new_labels]:  # the user labels the top of "Label next"
                set_label(project, [suggestion.image_id], class_ids[truth[suggestion.path.name]])

            started = time.perf_counter()
            summary = train_project(project, options)
            trained = time.perf_counter()
            predicted = predict_project(project)
            done_predicting = time.perf_counter()
            _, refreshed = suggest_next(project)
            finished = time.perf_counter()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    total = finished - started
    print(f"{args.photos} photos, {args.labelled} labelled at first, {args.new_labels} labelled from the queue")
    print(f"set-up (import, first training, first prediction of every photo): {setup:.1f} s; "
          f"first model {first.val_accuracy:.1%}")
    print(f"Retrain: training {trained - started:.2f} s ({summary.train_images} + {summary.val_images} photos, "
          f"{summary.val_accuracy:.1%}), predicting {predicted.predicted} photos {done_predicting - trained:.2f} s, "
          f"queue {finished - done_predicting:.2f} s ({len(refreshed)} photos)")
    print(f"Retrain → refreshed queue: {total:.2f} s  (aim < 10 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
