"""Check Photos' per-photo rules on real photos: ordinary pictures raise no flag (a product shot on white is not
"too bright", a hammer on white or flat clip art not "low information"); what is really washed out, black,
blank, blurred, tiny or a strip is flagged."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data as skimage_data  # a test extra: missing means a broken install, not a skip

from desktop.core.health_rules import Sized, per_photo_flags, photo_stats

ORDINARY = ("astronaut", "camera", "chelsea", "coffee", "coins", "rocket", "horse", "immunohistochemistry")


def _rgb(picture: np.ndarray) -> np.ndarray:
    picture = picture if picture.dtype == np.uint8 else (picture * 255).astype(np.uint8)
    return picture if picture.ndim == 3 else cv2.cvtColor(picture, cv2.COLOR_GRAY2RGB)


def _ordinary() -> list[np.ndarray]:
    return [_rgb(getattr(skimage_data, name)()) for name in ORDINARY]


def _flags(pictures: list[np.ndarray]) -> dict[str, list[int]]:
    notes: list[str] = []
    sized = [Sized(p.shape[1], p.shape[0], photo_stats(p)) for p in pictures]
    return {kind: [position for position, _reason in flags]
            for kind, flags in per_photo_flags(sized, notes).items()}


def _product_on_white() -> np.ndarray:
    """A coffee cup on a white studio background, a tenth of the frame (mean brightness over 230)."""
    canvas = np.full((480, 640, 3), 255, np.uint8)
    cup = cv2.resize(_rgb(skimage_data.coffee()), (192, 128), interpolation=cv2.INTER_AREA)
    canvas[176:304, 224:416] = cup
    return canvas


def _hammer_on_white() -> np.ndarray:
    """A hammer drawn as a product photo: a dark thin shape on white (its grey histogram has under 2 bits)."""
    canvas = np.full((400, 600, 3), 250, np.uint8)
    cv2.line(canvas, (120, 300), (420, 150), (40, 40, 45), 18)  # the handle
    cv2.rectangle(canvas, (400, 90), (450, 220), (70, 70, 75), -1)  # the head
    return canvas


def test_ordinary_photos_product_shots_on_white_and_flat_clip_art_raise_no_flag():
    clip_art = np.full((120, 120, 3), 232, np.uint8)  # a stamp on the neutral background transparency becomes
    cv2.circle(clip_art, (60, 60), 40, (220, 30, 30), -1)
    cv2.circle(clip_art, (60, 60), 40, (0, 0, 0), 3)
    pictures = [*_ordinary(), _product_on_white(), _hammer_on_white(), clip_art]
    assert photo_stats(_product_on_white()).brightness > 230  # the mean alone called it overexposed
    flags = _flags(pictures)
    assert flags == {kind: [] for kind in flags}, flags


def test_washed_out_black_and_blank_pictures_are_flagged_but_a_night_shot_is_not():
    astronaut = _rgb(skimage_data.astronaut()).astype(np.float32)
    washed_out = np.clip(astronaut * 0.3 + 185, 0, 255).astype(np.uint8)
    rng = np.random.default_rng(0)
    lens_cap = rng.integers(0, 12, (300, 400, 3), dtype=np.uint8)
    night = (_rgb(skimage_data.coffee()).astype(np.float32) * 0.12).astype(np.uint8)
    cv2.circle(night, (300, 120), 14, (255, 240, 200), -1)  # a lamp: the one bright part
    blank = np.full((300, 400, 3), 246, np.uint8)
    pictures = [*_ordinary(), washed_out, lens_cap, night, blank]
    flags = _flags(pictures)
    first = len(ORDINARY)
    assert flags["bright"] == [first, first + 3]
    assert flags["dark"] == [first + 1]
    assert flags["low_information"] == [first + 1, first + 3]  # nothing to see on the lens cap or the page


def test_a_blurred_photo_is_flagged_against_the_collection():
    pictures = _ordinary()
    blurred = cv2.GaussianBlur(_rgb(skimage_data.chelsea()), (0, 0), 6)
    assert _flags([*pictures, blurred])["blurry"] == [len(pictures)]


@pytest.mark.parametrize(("size", "odd"), [((30, 20), True), ((40, 40), False), ((354, 50), True),
                                           ((300, 100), False)])
def test_odd_size_is_a_tiny_picture_or_a_strip_not_a_small_stamp_or_a_panorama(size, odd):
    flags = per_photo_flags([Sized(*size, None)], [])
    assert bool(flags["odd_size"]) == odd
