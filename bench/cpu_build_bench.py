"""The CPU build against the full build, side by side in one run (issue #25's goals).

    nice python -m bench.cpu_build_bench [--photos 10000] [--megapixels 0.3] [--repeat 3]

Both builds are this checkout: the full one as installed, the CPU one with torch unimportable
(``bench.without_torch``: torch, and what only it brings, is what ``pigeonhole-cpu`` lacks), its backbones from a
shipped folder made here first (``python -m desktop.ml.shipped``, as the package build does). Steps:

1. photos: import_bench's photo-like JPEGs (bench/out/cpu-build-N-MPmp/, reused) and the self-test's drawn
   pictures in two labelled folders (20 each);
2. one project: both imported, a frozen model trained by the CPU build (``pigeonhole train``); then a copy of the
   project for each build, without feature cache, so each computes every photo afresh;
3. ``pigeonhole predict COPY --force`` under /usr/bin/time, its feature cache emptied first: peak memory (max RSS)
   and photos/s, twice per build in the order full, CPU, CPU, full (the mean of the two is compared);
4. the two copies' stored predictions compared: same class for every photo? the largest probability difference;
5. start-up, median of ``--repeat``: ``pigeonhole predict --force`` of a project holding only the 40 labelled
   photos, whose features are cached (the command's imports, the project, the model and 40 predictions: a
   command's start-up), and the window's first show, offscreen (``desktop.ui.app.run_app``, closed once shown).

Goals: peak memory without torch <= 400 MB, classes identical and probabilities within 1e-4, throughput not lower,
start-up >= 2x faster.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.import_bench import OUT_DIR, generate

ROOT = Path(__file__).resolve().parents[1]
FULL = [sys.executable, "-m", "desktop.cli"]
CPU = [sys.executable, "-m", "bench.without_torch"]
WINDOW = """
import sys, time
{block}
from PySide6.QtCore import QTimer
import desktop.ui.app as app_module
started = float(sys.argv[1])
show = app_module.MainWindow.show
def shown(self):
    show(self)
    print(f"{{time.time() - started:.3f}} {{sys.modules.get('torch') is not None}}", flush=True)
    QTimer.singleShot(0, self.close)  # closeEvent stops the workers the window started
app_module.MainWindow.show = shown
app_module.run_app(__import__("pathlib").Path(sys.argv[2]))
"""
BLOCK = "for n in ('torch', 'torchvision', 'triton', 'onnxscript'): sys.modules[n] = None"


def run(command: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(seconds, peak KB of the process, stdout) of one command under GNU time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        done = subprocess.run(["/usr/bin/time", "-o", report.name, "-f", "%e %M", *command], env=env, cwd=ROOT,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
        seconds, peak = report.read().split()[-2:]
    return float(seconds), int(peak), done.stdout


def predictions(project: Path) -> dict[str, list[float]]:
    from sqlalchemy import select

    from desktop.core.prediction_store import prediction_for
    from desktop.core.project import open_project
    from desktop.db.models import Image

    with open_project(project, create=False) as opened:
        with opened.sessions() as session:
            ids = session.execute(select(Image.id, Image.content_hash)).all()
        out = {}
        for image_id, content_hash in ids:
            found = prediction_for(opened, image_id)
            if found is not None:
                out[content_hash] = list(found.probabilities)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--megapixels", type=float, default=0.3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    photos = generate(OUT_DIR / f"cpu-build-{args.photos}-{args.megapixels}mp", args.photos, args.megapixels)
    with tempfile.TemporaryDirectory(prefix="cpu-build-bench-") as temp:
        work = Path(temp)
        shipped = work / "shipped-backbones"  # made afresh: the exporter's version is part of what is checked
        subprocess.run([*FULL[:1], "-m", "desktop.ml.shipped", str(shipped), "efficientnet_lite0"], check=True,
                       cwd=ROOT, capture_output=True)
        env = {**os.environ, "PIGEONHOLE_DATA_DIR": str(work / "data"), "PIGEONHOLE_CACHE_DIR": str(work / "cache"),
               "PIGEONHOLE_BACKBONES_DIR": str(shipped), "QT_QPA_PLATFORM": "offscreen"}
        from desktop.core.self_test import write_pictures

        labelled = write_pictures(work / "labelled", per_class=20)
        base = work / "base.pigeonhole"
        run([*CPU, "import", str(base), str(labelled), "--labels-from-subfolders"], env)
        seconds, peak, _ = run([*CPU, "train", str(base)], env)
        print(f"train (CPU build, {2 * 20} labelled photos): {seconds:.1f} s, peak {peak / 1024:.0f} MB")
        small = work / "small.pigeonhole"  # the labelled photos alone, their features cached by training
        shutil.copytree(base, small)
        run([*CPU, "import", str(base), str(photos[0].parent)], env)
        # The full build exports its ONNX file once per computer: done here, not part of the timing.
        run([*FULL, "predict", str(small), "--force"], env)
        figures: dict[str, dict[str, float]] = {}
        copies = {}
        count = len(photos) + 2 * 20
        # Full, CPU, CPU, full: a machine that speeds up or slows down during the run favours neither build.
        for name, command in (("full", FULL), ("cpu", CPU), ("cpu", CPU), ("full", FULL)):
            copy = copies.setdefault(name, work / f"{name}.pigeonhole")
            if not copy.exists():
                shutil.copytree(base, copy, ignore=shutil.ignore_patterns("cache"))
            shutil.rmtree(copy / "cache", ignore_errors=True)  # every photo through the network again
            seconds, peak, _ = run([*command, "predict", str(copy), "--force"], env)
            figure = figures.setdefault(name, {"seconds": 0.0, "peak_mb": 0.0})
            figure["seconds"] += seconds / 2
            figure["peak_mb"] = max(figure["peak_mb"], peak / 1024)
            print(f"predict {count} photos, {name} build: {seconds:.1f} s ({count / seconds:.1f} photos/s), "
                  f"peak {peak / 1024:.0f} MB")
        for figure in figures.values():
            figure["photos_per_s"] = count / figure["seconds"]
        print(f"throughput, mean of two runs each: full {figures['full']['photos_per_s']:.1f} photos/s, CPU "
              f"{figures['cpu']['photos_per_s']:.1f} photos/s, ratio CPU/full "
              f"{figures['cpu']['photos_per_s'] / figures['full']['photos_per_s']:.2f}")
        full, cpu = predictions(copies["full"]), predictions(copies["cpu"])
        same = sum(max(range(len(p)), key=p.__getitem__) == max(range(len(cpu[k])), key=cpu[k].__getitem__)
                   for k, p in full.items() if k in cpu)
        worst = max(abs(a - b) for k, p in full.items() if k in cpu for a, b in zip(p, cpu[k], strict=True))
        print(f"predictions compared: {len(full)} full, {len(cpu)} CPU; same class {same}/{len(full)}; "
              f"largest probability difference {worst:.2e}")

        startup: dict[str, list[float]] = {"full": [], "cpu": []}
        window: dict[str, list[float]] = {"full": [], "cpu": []}
        imported: dict[str, bool] = {}
        for _ in range(args.repeat):
            for name, command in (("full", FULL), ("cpu", CPU)):
                startup[name].append(run([*command, "predict", str(small), "--force"], env)[0])
                code = WINDOW.format(block=BLOCK if name == "cpu" else "")
                out = subprocess.run([sys.executable, "-c", code, str(time.time()), str(copies[name])], env=env,
                                     cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
                window[name].append(float(out[0]))
                imported[name] = out[1] == "True"
        for label, values in (("predict --force, 40 cached photos", startup), ("window shown", window)):
            full_s, cpu_s = statistics.median(values["full"]), statistics.median(values["cpu"])
            print(f"start-up, {label}: full {full_s:.2f} s, CPU {cpu_s:.2f} s, ratio {full_s / cpu_s:.2f}x")
        print(f"torch imported by the time the window shows: full {imported['full']}, CPU {imported['cpu']}")
        print(json.dumps({"predict": figures, "same_class": same, "compared": len(full), "max_difference": worst,
                          "startup_predict": startup, "startup_window": window}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
