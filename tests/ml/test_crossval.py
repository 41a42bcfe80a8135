"""Cross-validation of frozen heads: folds (stratified, near-duplicates together), the logistic fit, the L2 grid."""

from __future__ import annotations

import numpy as np

from desktop.ml.crossval import cross_validate, fit_logistic, fold_count, near_duplicate_groups, stratified_folds


def blobs(seed: int, per_class: int = 20, classes: int = 3, dim: int = 32, spread: float = 1.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 3 + 5  # far from zero mean: the standardisation must be folded in
    labels = np.repeat(np.arange(classes), per_class)
    return (centres[labels] + rng.normal(size=(len(labels), dim)) * spread).astype(np.float32), labels


def test_near_duplicates_share_a_fold_and_folds_stay_stratified():
    features, labels = blobs(0, per_class=10, spread=3.0)
    features[5] = features[3] * 1.001  # a re-saved copy
    features[7] = features[3]  # an exact copy
    groups = near_duplicate_groups(features)
    assert groups[3] == groups[5] == groups[7] and len(np.unique(groups)) == 28
    folds = stratified_folds(labels, 5, seed=0, groups=groups)
    assert folds[3] == folds[5] == folds[7]
    for label in range(3):
        counts = np.bincount(folds[labels == label], minlength=5)
        assert counts.min() >= 1 and counts.max() <= 4


def test_fold_count_follows_the_smallest_class():
    assert fold_count(np.array([0] * 10 + [1] * 3)) == 3
    assert fold_count(np.array([0] * 10 + [1] * 10)) == 5


def test_logistic_head_takes_raw_features_and_is_deterministic():
    train_x, train_y = blobs(1)
    test_x, test_y = blobs(1, spread=1.5)
    head = fit_logistic(train_x, train_y, 3, l2=0.1)
    assert (head.logits(test_x).argmax(1) == test_y).mean() > 0.9
    again = fit_logistic(train_x, train_y, 3, l2=0.1)
    assert np.array_equal(head.weight, again.weight) and np.array_equal(head.bias, again.bias)


def test_cross_validation_predicts_every_row_out_of_fold_and_picks_from_the_grid():
    features, labels = blobs(2, per_class=15, spread=4.0)
    cv = cross_validate(features, labels, 3, grid=(0.01, 1.0))
    assert cv.oof_logits.shape == (45, 3) and cv.folds == 5
    assert cv.l2 in (0.01, 1.0) and set(cv.scores) == {0.01, 1.0}
    assert cv.scores[cv.l2] == min(cv.scores.values())
    # Out-of-fold, so worse than the head's fit on the rows it saw, yet far above chance (1/3).
    fitted = fit_logistic(features, labels, 3, cv.l2).logits(features).argmax(1)
    oof_accuracy = (cv.oof_logits.argmax(1) == labels).mean()
    assert 0.5 < oof_accuracy <= (fitted == labels).mean()
