"""Train/validation split of labelled images, and the minimum data needed to train.

Pure Python (no torch), so the database layer and the UI can call it without loading the ML stack.

The split is sticky: once an image is in ``train`` or ``val`` it stays there, even when its label changes,
so validation figures of successive models compare like with like and a validation image never leaks into
training. New images fill whichever side their class (stratum) is short of.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence

from desktop.errors import PigeonholeError

TRAIN = "train"
VAL = "val"
SPLITS = (TRAIN, VAL)

MIN_TRAIN_PER_CLASS = 2
MIN_VAL_PER_CLASS = 1
MIN_IMAGES_PER_CLASS = MIN_TRAIN_PER_CLASS + MIN_VAL_PER_CLASS


class NotEnoughData(PigeonholeError, ValueError):
    """Training cannot start; ``str(error)`` is a message a user can read, ``problems`` one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("Not enough labelled images to train:\n" + "\n".join(f"• {p}" for p in self.problems))


def target_val_count(class_size: int, val_fraction: float) -> int:
    """Validation images a class of ``class_size`` should have: none below the minimum class size, else ≥ 1."""
    if class_size < MIN_IMAGES_PER_CLASS:
        return 0
    wanted = math.floor(class_size * val_fraction + 0.5)  # half up, not Python's round-half-to-even
    return min(class_size - MIN_TRAIN_PER_CLASS, max(MIN_VAL_PER_CLASS, wanted))


def assign_splits(labels_by_image_id: Mapping[Hashable, Hashable], existing_splits: Mapping[Hashable, str],
                  val_fraction: float = 0.2, seed: int = 0,
                  content_keys: Mapping[Hashable, str] | None = None) -> dict[Hashable, str]:
    """Splits for the labelled images that have none yet; returns only those new assignments.

    ``labels_by_image_id`` maps every labelled image to its label (any hashable: class id or name);
    ``existing_splits`` maps images that already have a split (labelled or not) to "train" or "val".
    Per class, new images go to validation until the class has ``target_val_count`` validation images,
    the rest to training. Which new images go to validation is decided by a hash of (seed, content key), the
    content key being ``content_keys[image]`` (the photo's content hash) or else the image id itself: so the
    result does not depend on the order of the mappings, nor, given content keys, on the ids an import happened
    to hand out; adding images never changes earlier answers. Images with one content key (copies) are
    interchangeable; their ids break the tie.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, not {val_fraction}")
    for image_id, split in existing_splits.items():
        if split not in SPLITS:
            raise ValueError(f"image {image_id!r} has split {split!r}; expected one of {SPLITS}")
    by_label: dict[Hashable, list[Hashable]] = defaultdict(list)
    for image_id, label in labels_by_image_id.items():
        by_label[label].append(image_id)

    assigned: dict[Hashable, str] = {}
    for images in by_label.values():
        new = [image_id for image_id in images if image_id not in existing_splits]
        if not new:
            continue
        have_val = sum(existing_splits.get(image_id) == VAL for image_id in images)
        need_val = max(0, target_val_count(len(images), val_fraction) - have_val)
        new.sort(key=lambda image_id: (_stable_rank(seed, _key(content_keys, image_id)),
                                       _key(content_keys, image_id), repr(image_id)))
        for position, image_id in enumerate(new):
            assigned[image_id] = VAL if position < need_val else TRAIN
    return assigned


def _key(content_keys: Mapping[Hashable, str] | None, image_id: Hashable) -> Hashable:
    return image_id if content_keys is None else content_keys[image_id]


def _stable_rank(seed: int, image_id: Hashable) -> str:
    # Python's hash() is salted per process; a digest gives the same order on every run and machine.
    return hashlib.blake2b(f"{seed}:{image_id!r}".encode(), digest_size=8).hexdigest()


def check_enough_data(class_names: Sequence[str], labels: Sequence[int], splits: Sequence[str]) -> list[str]:
    """Raise NotEnoughData listing every problem at once; return warnings that do not block training.

    ``labels`` are indices into ``class_names``; ``splits`` are "train"/"val", one per image.
    """
    problems: list[str] = []
    warnings: list[str] = []
    if len(class_names) < 2:
        problems.append(f"a classifier needs at least 2 classes; this project has {len(class_names)}.")
    train_counts = Counter(label for label, split in zip(labels, splits, strict=True) if split == TRAIN)
    val_counts = Counter(label for label, split in zip(labels, splits, strict=True) if split == VAL)
    for index, name in enumerate(class_names):
        train, val = train_counts[index], val_counts[index]
        if train + val < MIN_IMAGES_PER_CLASS:
            problems.append(f"“{name}” has {_images(train + val)}; each class needs at least "
                            f"{MIN_IMAGES_PER_CLASS} ({MIN_TRAIN_PER_CLASS} to learn from, "
                            f"{MIN_VAL_PER_CLASS} to check the result).")
        elif train < MIN_TRAIN_PER_CLASS:
            problems.append(f"“{name}” has only {_images(train)} for training; it needs at least "
                            f"{MIN_TRAIN_PER_CLASS}. Label a few more.")
        elif val < MIN_VAL_PER_CLASS:
            warnings.append(f"“{name}” has no validation image, so its accuracy cannot be measured. "
                            "Label more images of it.")
    unknown = sorted({label for label in labels if not 0 <= label < len(class_names)})
    if unknown:
        problems.append(f"label indices {unknown} are outside the {len(class_names)} classes.")
    if not problems and not val_counts:
        problems.append("no image is set aside for validation, so training cannot be checked.")
    if problems:
        raise NotEnoughData(problems)
    return warnings


def _images(count: int) -> str:
    return f"{count} labelled image" + ("" if count == 1 else "s")
