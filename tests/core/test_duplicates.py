"""Near-duplicates: exact copies and re-saved/resized copies are grouped; different pictures are not."""

from __future__ import annotations

import json
import shutil

import cv2
import pytest

from desktop.cli import main
from desktop.core.duplicates import find_duplicates
from desktop.core.importer import import_folder


def test_copies_and_resaved_copies_group_and_straddling_the_split_is_flagged(trained_project, capsys):
    photos = trained_project.path.parent / "photos"
    original = photos / "discs" / "discs_01.jpg"
    shutil.copy(original, photos / "discs" / "copy_of_01.jpg")
    image = cv2.imread(str(original))
    # Upscaled twice (as a PNG), and brightened and re-saved: the same picture to anyone looking.
    cv2.imwrite(str(photos / "stripes" / "bigger_01.png"), cv2.resize(image, None, fx=2, fy=2))
    cv2.imwrite(str(photos / "checks" / "brighter_01.jpg"), cv2.convertScaleAbs(image, alpha=1.0, beta=15),
                [cv2.IMWRITE_JPEG_QUALITY, 95])
    import_folder(trained_project, photos, labels_from_subfolders=True)
    groups = find_duplicates(trained_project)
    assert len(groups) == 1, [g.paths for g in groups]
    [group] = groups
    assert {p.name for p in group.paths} == {"discs_01.jpg", "copy_of_01.jpg", "bigger_01.png", "brighter_01.jpg"}
    assert 0.95 <= group.similarity < 1.0

    # The training split of the originals is stored; give one copy the other side and it is flagged.
    from sqlalchemy import update

    from desktop.db.models import Image

    with trained_project.sessions() as session, session.begin():
        session.execute(update(Image).where(Image.id == group.image_ids[0]).values(split="train"))
        session.execute(update(Image).where(Image.id == group.image_ids[1]).values(split="val"))
    assert find_duplicates(trained_project)[0].straddles_split

    assert main(["duplicates", str(trained_project.path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["groups"]) == 1 and result["groups"][0]["straddles_split"] is True
    assert len(result["groups"][0]["paths"]) == 4


def test_different_pictures_are_not_duplicates(trained_project):
    assert find_duplicates(trained_project) == []


def test_training_keeps_near_duplicates_in_one_fold_and_says_so(trained_project):
    from desktop.core.training import gather_training_data, train_project
    from desktop.ml.options import TrainingOptions

    data = gather_training_data(trained_project)
    photo = data.items[0]
    # A copy of a photo, labelled like it: in another fold it would vouch for the original's out-of-fold guess.
    shutil.copy(photo.path, photo.path.with_name("again_" + photo.path.name))
    import_folder(trained_project, trained_project.path.parent / "photos", labels_from_subfolders=True)
    summary = train_project(trained_project, TrainingOptions(mode="frozen", epochs=3))
    assert any("1 photo is a near-duplicate" in note and "kept within one cross-validation fold" in note
               for note in summary.notes), summary.notes


def test_a_validation_photo_with_a_copy_in_training_is_found_block_by_block(trained_project, monkeypatch):
    from dataclasses import replace

    from desktop.core import duplicates
    from desktop.core.duplicates import duplicates_across_split
    from desktop.core.training import gather_training_data
    from desktop.ml.options import DEFAULT_BACKBONE

    monkeypatch.setattr(duplicates, "_VAL_BLOCK", 5)  # several blocks of validation photos, the last one short
    data = gather_training_data(trained_project)
    photo = data.items[0]
    shutil.copy(photo.path, photo.path.with_name("again_" + photo.path.name))
    import_folder(trained_project, trained_project.path.parent / "photos", labels_from_subfolders=True)
    items = gather_training_data(trained_project).items
    copies = [item for item in items if item.content_hash == photo.content_hash]
    others = [item for item in items if item.content_hash != photo.content_hash]
    # Every other photo in validation, so the copy's validation side is in the last block, not the first.
    items = [replace(item, split="val") for item in others] + [replace(copies[0], split="train"),
                                                               replace(copies[1], split="val")]
    leaks = duplicates_across_split(trained_project, items, DEFAULT_BACKBONE)
    assert [(val, train) for val, train, _ in leaks] == [(copies[1].key, copies[0].key)]
    assert leaks[0][2] == pytest.approx(1.0, abs=1e-5)
