"""How often Check Photos flags photos of clean real sets: each rule's flag rate, and all rules together.

    python -m bench.health_flag_rate [--sets photos,templates,clipart,fashion] [--fashion-per-class 50]

A clean set should raise few flags (the goal: under 5 % of its photos flagged by all rules together); what a
rule flags there is mostly crying wolf. Sets (a set whose package is missing is skipped):

* ``photos``: scikit-image's sample photographs and scans (``skimage/data``, PNG and JPEG; unlabelled);
* ``templates``: the photographs tuxpaint-data ships as colouring templates (19 JPEGs: a sheep, a lighthouse,
  waves, bark, trees at dusk...; unlabelled);
* ``clipart``: Debian's tuxpaint-stamps-default (every stamp PNG, with alpha; labelled by stamp category);
* ``fashion``: Debian's dataset-fashion-mnist, ``--fashion-per-class`` per class, upscaled to 96 px PNGs
  (labelled).

Each set is imported into a new project under ``bench/out/health-SET/`` (its features are kept beside it for
the next run) and checked with ``desktop.core.health.check_photos``, the code the app runs. Class imbalance flags
classes, not photos: it is printed apart. Duplicates are real in these sets (the stamps come in colour variants,
scikit-image has a chessboard in grey and in colour): they are counted but not crying wolf.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from bench import fashion_mnist

OUT_DIR = Path(__file__).resolve().parent / "out"
TUXPAINT = Path("/usr/share/tuxpaint/stamps")
TEMPLATES = Path("/usr/share/tuxpaint/templates")  # tuxpaint-data's photographs to colour in
PHOTO_EXTENSIONS = (".png", ".jpg")


def photos_folder(root: Path) -> bool:
    try:
        import skimage.data
    except ImportError:
        return False
    for path in sorted(Path(skimage.data.__file__).parent.iterdir()):
        if path.suffix.lower() in PHOTO_EXTENSIONS and not (root / path.name).exists():
            root.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, root / path.name)
    return True


def templates_folder(root: Path) -> bool:
    if not TEMPLATES.is_dir():
        return False
    root.mkdir(parents=True, exist_ok=True)
    for path in sorted(TEMPLATES.glob("*.jpg")):
        if not (root / path.name).exists():
            shutil.copy(path, root / path.name)
    return True


def clipart_folder(root: Path) -> bool:
    if not TUXPAINT.is_dir():
        return False
    for path in sorted(TUXPAINT.rglob("*.png")):
        category = path.relative_to(TUXPAINT).parts[0]
        target = root / category / path.name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    return True


def fashion_folder(root: Path, per_class: int) -> bool:
    if not fashion_mnist.available():
        return False
    if not root.is_dir():
        fashion_mnist.write_folder(root, per_class)
    return True


def measure(name: str, folder: Path, labelled: bool) -> dict:
    from desktop.core.health import KINDS, check_photos
    from desktop.core.importer import import_folder
    from desktop.core.project import open_project

    # A fresh project each run (an earlier one may have been trained: its splits would add train/val findings);
    # the features, keyed by content, are carried over from the last run.
    root = OUT_DIR / f"health-{name}"
    kept_features = root / "features"
    shutil.rmtree(root / "project", ignore_errors=True)
    with open_project(root / "project") as project:
        if kept_features.is_dir():
            shutil.copytree(kept_features, project.cache_dir / "features", dirs_exist_ok=True)
        import_folder(project, folder, labels_from_subfolders=labelled)
        report = check_photos(project)
        shutil.rmtree(kept_features, ignore_errors=True)
        shutil.copytree(project.cache_dir / "features", kept_features)
    flagged: dict[str, set[int]] = {kind: set() for kind in KINDS}
    for finding in report.findings:
        flagged[finding.kind].update(photo.image_id for photo in finding.photos)
    crying_wolf = set().union(*(ids for kind, ids in flagged.items()
                                if kind not in ("exact_duplicates", "near_duplicates", "split_leak")))
    return {"photos": report.photos_checked, "flagged": flagged, "crying_wolf": crying_wolf,
            "imbalance": report.count("class_imbalance"), "notes": report.notes}


def main() -> None:
    from desktop.core.health import KINDS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="photos,templates,clipart,fashion")
    parser.add_argument("--fashion-per-class", type=int, default=50)
    args = parser.parse_args()
    makers = {
        "photos": (lambda root: photos_folder(root), False),
        "templates": (lambda root: templates_folder(root), False),
        "clipart": (lambda root: clipart_folder(root), True),
        "fashion": (lambda root: fashion_folder(root, args.fashion_per_class), True),
    }
    results = {}
    for name in args.sets.split(","):
        make, labelled = makers[name]
        folder = OUT_DIR / f"health-{name}" / "photos"
        if not make(folder):
            print(f"{name}: skipped (its package is not installed)")
            continue
        results[name] = measure(name, folder, labelled)

    names = list(results)
    print(f"\n{'rule':<22}" + "".join(f"{n + ' (' + str(results[n]['photos']) + ')':>18}" for n in names))
    for kind, title in KINDS.items():
        if kind == "class_imbalance":
            continue
        cells = []
        for n in names:
            count = len(results[n]["flagged"][kind])
            cells.append(f"{count:>6} {count / max(results[n]['photos'], 1):>7.1%}   ")
        print(f"{title:<22}" + "".join(f"{c:>18}" for c in cells))
    print(f"{'all but duplicates':<22}" + "".join(
        f"{len(results[n]['crying_wolf']):>6} {len(results[n]['crying_wolf']) / max(results[n]['photos'], 1):>7.1%}   "
        .rjust(18) for n in names))
    print(f"{'classes imbalanced':<22}" + "".join(f"{results[n]['imbalance']:>18}" for n in names))
    for n in names:
        for note in results[n]["notes"]:
            print(f"{n}: {note}")


if __name__ == "__main__":
    main()
