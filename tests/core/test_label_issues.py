"""Label-error finder: on real photos with 10 % of the labels flipped on purpose, the flipped ones lead."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from sqlalchemy import select

from bench import fashion_mnist
from desktop.cli import main
from desktop.core.importer import import_folder
from desktop.core.label_issues import find_label_issues
from desktop.core.labels import set_label
from desktop.db.models import Image, ImageClass, Label
from desktop.ml.label_issues import rank_suspects, stratified_folds

# Measured with the app's out-of-fold predictions (crossval.cross_validate, calibrated) on flip seeds 0-5 (5
# Fashion-MNIST classes × 30, 15 labels flipped): precision at 15 was 0.73, 0.73, 0.80, 0.67, 0.87, 0.73 (mean
# 0.76; chance: 0.10; the SGD heads with margin ranking before: mean 0.66). The floors leave room for numeric
# noise, not for a broken method.
FLIP_SEEDS = (0, 1, 2)
PRECISION_FLOOR = 0.6  # every seed
MEAN_PRECISION_FLOOR = 0.65  # measured 0.76 over FLIP_SEEDS
LEAD_RECALL_FLOOR = 0.55  # of the flipped labels, among those the review leads with (``likely``)


@pytest.mark.skipif(not fashion_mnist.available(),
                    reason="Fashion-MNIST not installed: sudo apt-get install dataset-fashion-mnist")
def test_flipped_labels_fill_the_top_of_the_ranking(project, tmp_path, capsys):
    fashion_mnist.write_folder(tmp_path / "photos", 30, classes=5)
    import_folder(project, tmp_path / "photos", labels_from_subfolders=True)
    with project.sessions() as session:
        # By content, not id: the parallel import hands ids out in any order, and the flipped photos must be the
        # same ones on every run (issue #27: this test measured 0.59 to 0.65 from run to run).
        rows = session.execute(select(Label.image_id, Label.class_id).join(Image, Image.id == Label.image_id)
                               .order_by(Image.content_hash)).all()
        classes = list(session.scalars(select(ImageClass.id).order_by(ImageClass.position)))
    flipped: set[int] = set()
    precisions, lead_recalls, lead_sizes = [], [], []
    for seed in FLIP_SEEDS:  # the features are computed once; each further seed costs a few seconds
        for image_id in flipped:
            set_label(project, [image_id], dict(rows)[image_id])
        rng = np.random.default_rng(seed)
        flipped = set()
        for index in rng.choice(len(rows), size=len(rows) // 10, replace=False):
            image_id, class_id = rows[index]
            set_label(project, [image_id], int(rng.choice([c for c in classes if c != class_id])))
            flipped.add(image_id)
        issues = find_label_issues(project)
        top = [issue.image_id for issue in issues[:len(flipped)]]
        precisions.append(sum(image_id in flipped for image_id in top) / len(flipped))
        lead = [issue.image_id for issue in issues if issue.likely]  # what the review shows first
        assert lead == [issue.image_id for issue in issues[:len(lead)]]  # the lead list is the top of the ranking
        lead_recalls.append(sum(image_id in flipped for image_id in lead) / len(flipped))
        lead_sizes.append(len(lead))
    assert min(precisions) >= PRECISION_FLOOR, precisions
    # The few shown first still hold most flips, and not a third of the labels (measured on these 150 photos: 10,
    # 9 and 9 of 15 flips among 14, 13 and 12 photos; on 500 Fashion-MNIST photos 43-47 of 50 flips).
    assert min(lead_recalls) >= LEAD_RECALL_FLOOR and max(lead_sizes) <= 2 * len(flipped), (lead_recalls, lead_sizes)
    assert np.mean(precisions) >= MEAN_PRECISION_FLOOR, precisions
    scores = [issue.score for issue in issues]
    assert scores == sorted(scores, reverse=True)
    assert all(issue.suggested != issue.label for issue in issues)

    assert main(["label-issues", str(project.path), "--n", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["images"]) == 5
    assert all(set(image) == {"path", "label", "suggested", "score", "likely"} for image in result["images"])
    assert [image["likely"] for image in result["images"]] == [issue.likely for issue in issues[:5]]
    assert all(os.path.isabs(image["path"]) and os.path.isfile(image["path"]) for image in result["images"])
    assert [image["score"] for image in result["images"]] == scores[:5]


def test_only_labels_the_model_is_sure_are_wrong_lead():
    probabilities = np.array([[0.05, 0.95], [0.15, 0.85], [0.9, 0.1]], dtype=np.float32)
    suspects = rank_suspects(probabilities, np.array([0, 0, 0]))
    assert [(s.index, s.likely) for s in suspects] == [(0, True), (1, False)]


def test_ranking_rules():
    # Class 0 photos are usually 0.667 sure (t0), class 1 photos 0.6 (t1): rows below their class's level are
    # suspects, least sure of their own label first, with the likeliest other class suggested.
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.2, 0.8], [0.2, 0.8], [0.6, 0.4]], dtype=np.float32)
    labels = np.array([0, 0, 0, 1, 1])
    suspects = rank_suspects(probabilities, labels)
    assert [(s.index, s.suggested) for s in suspects] == [(2, 1), (4, 0)]
    assert [s.score for s in suspects] == pytest.approx([0.8, 0.6])


def test_folds_are_stratified():
    labels = np.array([0] * 10 + [1] * 5)
    folds = stratified_folds(labels, 5)
    for fold in range(5):
        assert (labels[folds == fold] == 0).sum() == 2 and (labels[folds == fold] == 1).sum() == 1


def test_the_command_line_leads_with_the_likely_mistakes_as_the_review_does():
    from pathlib import Path
    from types import SimpleNamespace

    from desktop.cli.quality_commands import label_issues_text

    issues = [SimpleNamespace(score=0.97, label="cat", suggested="dog", path=Path("/p/a.jpg"), likely=True),
              SimpleNamespace(score=0.6, label="cat", suggested="dog", path=Path("/p/b.jpg"), likely=False),
              SimpleNamespace(score=0.55, label="dog", suggested="cat", path=Path("/p/c.jpg"), likely=False)]
    lines = label_issues_text(issues, show_all=False).splitlines()
    assert lines == ["0.970  labelled 'cat', looks like 'dog': /p/a.jpg",
                     "2 more labels look doubtful but less likely wrong (--all lists them)."]
    assert len(label_issues_text(issues, show_all=True).splitlines()) == 3
    assert label_issues_text(issues[1:], show_all=False).splitlines()[0] == "No label looks wrong with 90% certainty."
    assert label_issues_text([], show_all=False) == "No label looks wrong."
