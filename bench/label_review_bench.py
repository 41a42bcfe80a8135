"""How many labels Review Likely Label Mistakes leads with, on clean sets and with 10 % of the labels flipped.

    python -m bench.label_review_bench [--sets clipart,fashion] [--seeds 3]

A clean set should give a short lead list (the review used to offer a third of the labels); with labels flipped
on purpose, the lead list should hold most of the flips. Sets (a set whose package is missing is skipped):

* ``clipart``: Debian's tuxpaint-stamps-default, the 6 distinct stamp categories of ``bench/quality_bench.py``
  (animals, food, household, plants, symbols, vehicles);
* ``fashion``: Debian's dataset-fashion-mnist, 50 photos of each of its 10 classes, 96 px PNGs.

Each set is imported into a new project under ``bench/out/label-review-SET/`` (features kept beside it for the
next run) and reviewed with ``desktop.core.label_issues.find_label_issues``, the app's code: once as it is, then
for each seed with 10 % of the labels moved to another class at random (``core.labels.set_label``). It prints
the suspects (every doubtful label, what "Show more" adds), the lead list (``likely``: the model is at least
90 % sure the label is wrong) and, with flips, how many flips the lead list holds.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from bench import fashion_mnist
from bench.quality_bench import CLIPART_CLASSES, TUXPAINT

OUT_DIR = Path(__file__).resolve().parent / "out"


def clipart_folder(root: Path) -> bool:
    if not TUXPAINT.is_dir():
        return False
    for name in CLIPART_CLASSES:
        for path in sorted((TUXPAINT / name).rglob("*.png")):
            target = root / name / path.name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
    return True


def fashion_folder(root: Path) -> bool:
    if not fashion_mnist.available():
        return False
    if not root.is_dir():
        fashion_mnist.write_folder(root, 50)
    return True


def review(name: str, folder: Path, seeds: int) -> list[str]:
    from sqlalchemy import select

    from desktop.core.importer import import_folder
    from desktop.core.label_issues import find_label_issues
    from desktop.core.labels import set_label
    from desktop.core.project import open_project
    from desktop.db.models import ImageClass, Label

    root = OUT_DIR / f"label-review-{name}"
    kept_features = root / "features"
    shutil.rmtree(root / "project", ignore_errors=True)
    lines = []
    with open_project(root / "project") as project:
        if kept_features.is_dir():
            shutil.copytree(kept_features, project.cache_dir / "features", dirs_exist_ok=True)
        import_folder(project, folder, labels_from_subfolders=True)
        with project.sessions() as session:
            rows = session.execute(select(Label.image_id, Label.class_id).order_by(Label.image_id)).all()
            classes = list(session.scalars(select(ImageClass.id)))
        issues = find_label_issues(project)
        likely = sum(issue.likely for issue in issues)
        lines.append(f"{name:<8} {len(rows):>6} labels  clean:    {len(issues):>4} doubtful "
                     f"({len(issues) / len(rows):.0%})  lead {likely:>4} ({likely / len(rows):.1%})")
        shutil.rmtree(kept_features, ignore_errors=True)
        shutil.copytree(project.cache_dir / "features", kept_features)
        flipped: set[int] = set()
        for seed in range(seeds):
            for image_id in flipped:
                set_label(project, [image_id], dict(rows)[image_id])
            rng = np.random.default_rng(seed)
            flipped = set()
            for index in rng.choice(len(rows), size=len(rows) // 10, replace=False):
                image_id, class_id = rows[index]
                set_label(project, [image_id], int(rng.choice([c for c in classes if c != class_id])))
                flipped.add(image_id)
            issues = find_label_issues(project)
            lead = [issue.image_id for issue in issues if issue.likely]
            found = sum(image_id in flipped for image_id in lead)
            lines.append(f"{'':<8} {'':>6}         seed {seed}: {len(issues):>4} doubtful "
                         f"({len(issues) / len(rows):.0%})  lead {len(lead):>4} ({len(lead) / len(rows):.1%}), "
                         f"{found} of {len(flipped)} flips")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="clipart,fashion")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    makers = {"clipart": clipart_folder, "fashion": fashion_folder}
    for name in args.sets.split(","):
        folder = OUT_DIR / f"label-review-{name}" / "photos"
        if not makers[name](folder):
            print(f"{name}: skipped (its package is not installed)")
            continue
        print("\n".join(review(name, folder, args.seeds)), flush=True)


if __name__ == "__main__":
    main()
