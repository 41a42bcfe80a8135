"""Train/validation split assignment and the minimum-data check (pure Python)."""

from __future__ import annotations

from collections import Counter

import pytest

from desktop.ml.splits import (
    MIN_IMAGES_PER_CLASS,
    NotEnoughData,
    assign_splits,
    check_enough_data,
    target_val_count,
)


def _val_share(labels: dict, splits: dict) -> dict:
    counts = Counter(labels.values())
    val = Counter(labels[i] for i, s in splits.items() if s == "val" and i in labels)
    return {label: val[label] / counts[label] for label in counts}


def test_new_project_is_stratified() -> None:
    labels = {f"img{i}": ("cat" if i < 50 else "dog" if i < 80 else "bird") for i in range(100)}
    splits = assign_splits(labels, {}, val_fraction=0.2, seed=1)
    assert set(splits) == set(labels)
    val = Counter(labels[i] for i, s in splits.items() if s == "val")
    assert val == {"cat": 10, "dog": 6, "bird": 4}


def test_existing_splits_never_move_and_new_images_rebalance() -> None:
    labels = {i: i % 2 for i in range(40)}
    first = assign_splits(labels, {}, 0.25, seed=3)
    # 60 more images arrive; earlier ones keep their split and each class ends near 25 % validation.
    labels.update({i: i % 2 for i in range(40, 100)})
    second = assign_splits(labels, first, 0.25, seed=3)
    assert not set(second) & set(first), "only new images are assigned"
    merged = {**first, **second}
    assert set(merged) == set(labels)
    assert _val_share(labels, merged) == {0: 0.26, 1: 0.26}  # target round(50 × 0.25) = 13 of 50


def test_a_skewed_existing_split_is_corrected_by_new_images_only() -> None:
    labels = {i: "a" for i in range(20)}
    existing = {i: "train" for i in range(10)}  # labelled before any validation was set aside
    new = assign_splits(labels, existing, 0.2)
    assert Counter(new.values()) == {"val": 4, "train": 6}
    assert all(existing[i] == "train" for i in range(10))


def test_assignment_ignores_mapping_order_and_depends_on_seed() -> None:
    labels = {f"photo-{i}": i % 3 for i in range(60)}
    reversed_labels = dict(reversed(list(labels.items())))
    assert assign_splits(labels, {}, 0.2, seed=7) == assign_splits(reversed_labels, {}, 0.2, seed=7)
    assert assign_splits(labels, {}, 0.2, seed=7) != assign_splits(labels, {}, 0.2, seed=8)


def test_small_classes_keep_their_images_for_training_until_they_can_spare_one() -> None:
    assert target_val_count(2, 0.2) == 0
    assert target_val_count(MIN_IMAGES_PER_CLASS, 0.2) == 1
    assert target_val_count(3, 0.9) == 1  # never fewer than 2 training images
    labels = {"a1": "a", "a2": "a"}
    first = assign_splits(labels, {}, 0.2)
    assert set(first.values()) == {"train"}
    labels["a3"] = "a"
    assert assign_splits(labels, first, 0.2) == {"a3": "val"}


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="val_fraction"):
        assign_splits({1: "a"}, {}, 1.5)
    with pytest.raises(ValueError, match="split"):
        assign_splits({1: "a"}, {1: "test"}, 0.2)


def test_not_enough_data_lists_every_problem_readably() -> None:
    with pytest.raises(NotEnoughData) as caught:
        check_enough_data(["cats", "dogs", "birds"], [0, 0, 0, 0, 1, 1], ["train", "train", "train", "val",
                                                                         "train", "val"])
    message = str(caught.value)
    assert message.startswith("Not enough labelled images to train:")
    assert "“dogs” has 2 labelled images" in message
    assert "“birds” has 0 labelled images" in message
    assert "cats" not in message
    assert len(caught.value.problems) == 2


def test_one_class_or_no_validation_is_not_enough() -> None:
    with pytest.raises(NotEnoughData, match="at least 2 classes"):
        check_enough_data(["only"], [0, 0, 0], ["train", "train", "val"])
    with pytest.raises(NotEnoughData, match="no image is set aside for validation"):
        check_enough_data(["a", "b"], [0, 0, 0, 1, 1, 1], ["train"] * 6)


def test_a_class_without_validation_images_is_a_warning() -> None:
    warnings = check_enough_data(["a", "b"], [0, 0, 0, 1, 1, 1], ["train", "train", "val", "train", "train", "train"])
    assert len(warnings) == 1 and "“b” has no validation image" in warnings[0]


def test_with_content_keys_the_split_follows_the_photos_not_their_ids() -> None:
    hashes = [f"hash-{i:03d}" for i in range(40)]
    first_ids = {100 + i: h for i, h in enumerate(hashes)}  # one import's ids
    shuffled = list(reversed(hashes))
    second_ids = {500 + i: h for i, h in enumerate(shuffled)}  # another import handed the ids out otherwise
    first = assign_splits({i: "a" for i in first_ids}, {}, 0.25, seed=2, content_keys=first_ids)
    second = assign_splits({i: "a" for i in second_ids}, {}, 0.25, seed=2, content_keys=second_ids)
    by_hash = lambda splits, ids: {ids[i]: split for i, split in splits.items()}  # noqa: E731
    assert by_hash(first, first_ids) == by_hash(second, second_ids)
    assert sum(split == "val" for split in first.values()) == 10
