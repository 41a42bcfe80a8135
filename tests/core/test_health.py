"""Check Photos: generated problems are flagged with their reason, dismissals last, keep one is undoable."""

from __future__ import annotations

import shutil

import cv2
import imagemakers
import numpy as np
import pytest
from sqlalchemy import func, select

from desktop.core.health import HealthError, check_photos, dismiss, keep_one, last_check, undo
from desktop.core.health_rules import photo_stats
from desktop.core.importer import import_folder
from desktop.core.project import open_project
from desktop.core.similarity import find_image
from desktop.db.models import Image, Label


def _summary(report, kind: str) -> str:
    [finding] = report.of_kind(kind)
    return finding.summary


def test_every_kind_of_finding_has_a_title_and_one_sentence_saying_what_to_do():
    from desktop.core.health import EXPLANATIONS, KINDS

    assert set(EXPLANATIONS) == set(KINDS)
    for kind, sentence in EXPLANATIONS.items():
        assert sentence.endswith(".") and "\n" not in sentence and len(sentence) < 160, kind
    assert max(len(title) for title in KINDS.values()) <= 20  # the sidebar's width at 1024 px, with its count


def test_photo_stats_tell_blur_darkness_and_uniformity_apart():
    rng = np.random.default_rng(1)
    sharp = imagemakers.draw_shape("checks", rng, 200)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 4)
    assert photo_stats(blurred).sharpness * 10 < photo_stats(sharp).sharpness
    black = np.zeros((100, 100, 3), np.uint8)
    stats = photo_stats(black)
    assert stats.brightness == stats.spread == stats.colour_spread == stats.sharpness == stats.highlights == 0
    # Size-normalised: the same picture 4x larger (and downscaled back to 512 px) scores about the same.
    big = cv2.resize(sharp, (2048, 2048), interpolation=cv2.INTER_NEAREST)
    assert 0.2 < photo_stats(big).sharpness / photo_stats(cv2.resize(sharp, (512, 512),
                                                                    interpolation=cv2.INTER_NEAREST)).sharpness < 5


@pytest.fixture
def problem_project(trained_project, tmp_path):
    """The trained shapes project plus an unlabelled folder of known problems."""
    photos = trained_project.path.parent / "photos"
    extras = tmp_path / "extras"
    extras.mkdir()
    shutil.copy(photos / "discs" / "discs_01.jpg", extras / "copy_of_discs_01.jpg")
    discs = cv2.imread(str(photos / "discs" / "discs_02.jpg"))
    cv2.imwrite(str(extras / "bigger_discs_02.png"), cv2.resize(discs, None, fx=2, fy=2))
    checks = cv2.imread(str(photos / "checks" / "checks_04.jpg"))
    cv2.imwrite(str(extras / "blurred_checks_04.png"), cv2.GaussianBlur(checks, (0, 0), 4))
    cv2.imwrite(str(extras / "black.png"), np.zeros((96, 96, 3), np.uint8))
    noise = np.random.default_rng(5).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    cv2.imwrite(str(extras / "noise.png"), noise)
    cv2.imwrite(str(extras / "tiny.png"), cv2.resize(checks, (30, 20)))
    import_folder(trained_project, extras)
    return trained_project, photos, extras


def _names_of(finding):
    return {p.path.name for p in finding.photos}


def _names(report, kind):
    return {p.path.name for finding in report.of_kind(kind) for p in finding.photos}


def test_known_problems_are_flagged_with_a_reason(problem_project):
    project, photos, extras = problem_project
    report = check_photos(project)
    assert report.photos_checked == 30
    assert "blurred_checks_04.png" in _names(report, "blurry"), report.findings
    assert _names(report, "dark") == {"black.png"}
    assert "black.png" in _names(report, "low_information")
    assert "noise.png" in _names(report, "outlier"), report.findings
    assert _names(report, "odd_size") == {"tiny.png"}
    assert not report.of_kind("class_imbalance")

    [exact] = report.of_kind("exact_duplicates")
    assert {p.path.name for p in exact.photos} == {"discs_01.jpg", "copy_of_discs_01.jpg"}
    # Same content, same size and sharpness: the earlier file (the original; the copy is newer) is kept.
    assert exact.keeper_rule == "oldest"
    assert exact.keeper_id == find_image(project, str(photos / "discs" / "discs_01.jpg"))
    near = [f for f in report.of_kind("near_duplicates") if "bigger_discs_02.png" in _names_of(f)]
    assert len(near) == 1 and near[0].keeper_rule == "largest"
    assert near[0].keeper_id == find_image(project, str(extras / "bigger_discs_02.png"))
    for finding in report.findings:
        assert all(p.reason and "\n" not in p.reason for p in finding.photos)
        assert finding.title and finding.summary
        assert "(s)" not in finding.summary  # "1 photo: …", "2 photos: …", never "1 photo(s)"
    assert _summary(report, "dark").startswith("1 photo: ")


def test_not_a_problem_lasts_across_reopening(problem_project):
    project = problem_project[0]
    report = check_photos(project)
    [dark] = report.of_kind("dark")
    dismiss(project, "dark", dark.keys)
    path = project.path
    project.close()
    with open_project(path, create=False) as reopened:
        again = check_photos(reopened)
        assert not again.of_kind("dark") and again.dismissed == 1
        assert "black.png" in _names(again, "low_information")  # only the dismissed kind is hidden
        with pytest.raises(HealthError, match="no check called"):
            dismiss(reopened, "blury", dark.keys)


def test_keep_one_removes_the_others_from_the_project_and_undo_puts_them_back(trained_project):
    photos = trained_project.path.parent / "photos"
    shutil.copy(photos / "discs" / "discs_01.jpg", photos / "discs" / "again_01.jpg")
    import_folder(trained_project, photos, labels_from_subfolders=True)
    keeper = find_image(trained_project, str(photos / "discs" / "discs_01.jpg"))
    copy = find_image(trained_project, str(photos / "discs" / "again_01.jpg"))

    def state():
        with trained_project.sessions() as session:
            return (session.scalar(select(func.count()).select_from(Image)),
                    session.scalar(select(Label.class_id).where(Label.image_id == copy)))

    images, label = state()
    assert label is not None
    removed = keep_one(trained_project, [keeper, copy], keeper)
    assert removed.image_ids == [copy]
    assert state() == (images - 1, None)
    assert (photos / "discs" / "again_01.jpg").is_file()  # the file stays
    assert undo(trained_project, removed) == 1
    assert state() == (images, label)
    with pytest.raises(HealthError):
        keep_one(trained_project, [keeper, copy], 10_000)


def test_a_cancelled_scan_stops_and_a_missing_photo_is_noted(problem_project):
    import threading

    from desktop.errors import Cancelled

    project, _, extras = problem_project
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        check_photos(project, cancel=cancel)
    (extras / "noise.png").unlink()  # gone since the import: not readable for the pixel checks
    report = check_photos(project)
    assert any("could not be read" in note for note in report.notes)


def _flagged(report) -> dict[str, set[tuple[int, str]]]:
    found: dict[str, set[tuple[int, str]]] = {}
    for finding in report.findings:
        found.setdefault(finding.kind, set()).update((p.image_id, p.reason) for p in finding.photos)
    return found


def test_the_last_check_comes_back_when_the_project_reopens_and_says_when_photos_changed(problem_project):
    project, _photos, extras = problem_project
    report = check_photos(project)
    path = project.path
    project.close()
    with open_project(path, create=False) as reopened:
        again = last_check(reopened)
        assert again is not None and again.stale == "" and again.checked_at is not None
        assert _flagged(again) == _flagged(report) and again.photos_checked == report.photos_checked
        [exact] = again.of_kind("exact_duplicates")
        assert exact.keeper_id == report.of_kind("exact_duplicates")[0].keeper_id
        assert {p.path for p in exact.photos} == {p.path for p in report.of_kind("exact_duplicates")[0].photos}

        # "Not a problem" after the scan applies to the stored findings; Keep one is the user's own change.
        dismiss(reopened, "dark", again.of_kind("dark")[0].keys)
        removed = keep_one(reopened, [p.image_id for p in exact.photos], exact.keeper_id)
        later = last_check(reopened)
        assert not later.of_kind("dark") and later.dismissed == 1
        assert not later.of_kind("exact_duplicates") and later.stale == ""
        undo(reopened, removed)
        assert len(last_check(reopened).of_kind("exact_duplicates")[0].photos) == 2
        assert last_check(reopened).stale == ""

        cv2.imwrite(str(extras / "new.png"), np.full((64, 64, 3), 128, np.uint8))
        import_folder(reopened, extras)
        assert last_check(reopened).stale == "Photos changed since this check (1 photo added) — run it again."
        check_photos(reopened)
        assert last_check(reopened).stale == ""

        assert "new.png" in _names(last_check(reopened), "low_information")

        # A file whose content changed (same name, re-imported) makes the check stale too, and its old findings
        # no longer speak for it.
        cv2.imwrite(str(extras / "new.png"), np.full((64, 64, 3), 90, np.uint8))
        import_folder(reopened, extras)
        changed = last_check(reopened)
        assert changed.stale == "Photos changed since this check (photos changed) — run it again."
        assert _names(changed, "low_information") == {"black.png"}


def test_a_project_never_checked_has_no_last_check(project):
    assert last_check(project) is None
