"""Check Photos' per-photo rules: the pixel statistics of one picture and the thresholds that turn them, and a
photo's size, into flags (blurry, too dark, too bright, low information, odd size).

Tuned on clean real sets (``bench/health_flag_rate.py``): a rule that flags ordinary photos teaches the user to
ignore every flag. So exposure looks at the ends of the histogram, not its mean: a product shot on white has a
bright mean but real shadows, a night shot a dark mean but real highlights; only a picture with no shadows at all
(washed out, a blank page) is "too bright", and one with no highlights at all (a lens cap) "too dark". Low
information means nearly uniform in grey and in colour (flat clip art and a hammer on white are not); blur is
judged against the collection's own photos, and only where even the picture's steepest edges are soft.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from desktop.wording import plural

STATS_SIDE = 512  # blur is measured on the picture at most this long, so a 12 MP photo and a 0.3 MP one compare
GREY_SIDE = 64  # the small version whose spread says "nothing to see"
BLUR_Z = -3.0  # robust z-score of log sharpness below which a photo is blurry...
BLUR_FACTOR = 4.0  # ...and at least this many times softer than the collection's median...
EDGE_FACTOR = 1.5  # ...and its steepest edges this many times less steep than the collection's median photo's
UNIFORM_STD = 2.0  # grey levels of spread: below this there is nothing to see, no edges to judge blur by
DARK_MEAN, DARK_HIGHLIGHTS = 50.0, 100.0  # too dark: a dim mean, and even the brightest 0.1 % stays under this
BRIGHT_MEAN, BRIGHT_SHADOWS = 210.0, 160.0  # too bright: a light mean, and even the darkest 0.1 % stays over
# this (a lamp or a tool can be a small part of the frame)
TINY_SIDE = 32  # px, the longer side: the backbone sees 224; a picture this small is mostly invented detail
EXTREME_ASPECT = 5.0  # a banner or a strip; a 3:1 panorama is fine
MIN_FOR_STATISTICS = 8  # photos needed before "unlike the others" means anything
PER_PHOTO_KINDS = ("blurry", "dark", "bright", "low_information", "odd_size")
SUMMARIES = {
    "blurry": "soft edges compared with the rest of the collection (or intentionally soft: have a look)",
    "dark": "nearly black, with no bright parts at all",
    "bright": "nearly white, with no dark parts at all",
    "low_information": "nearly uniform pictures: little for the model to learn from",
    "odd_size": f"smaller than {TINY_SIDE} px or longer than {EXTREME_ASPECT:.0f}:1",
}


@dataclass(frozen=True)
class PhotoStats:
    sharpness: float  # variance of the Laplacian of the contrast-stretched grey picture, at <= STATS_SIDE px
    brightness: float  # mean luminance, 0-255
    spread: float  # standard deviation of the small grey version
    colour_spread: float  # the largest standard deviation of the small version's R, G and B
    shadows: float  # the 0.1st percentile of luminance: how dark the darkest parts are
    highlights: float  # the 99.9th percentile of the brightest channel: how bright the brightest parts are (a red
    # light is bright though its luminance is 76)
    edges: float  # the 99.9th percentile of the stretched picture's gradient (grey levels per pixel)


def photo_stats(rgb: np.ndarray) -> PhotoStats:
    """Pixel statistics of one picture (RGB uint8)."""
    height, width = rgb.shape[:2]
    scale = STATS_SIDE / max(height, width)
    if scale < 1:
        rgb = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                         interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    # Stretched to its own 1st-99th percentile range, so a dim but sharp photo is not called blurry.
    low, high = _percentiles(grey, (1.0, 99.0))
    stretched = cv2.convertScaleAbs(grey, alpha=255.0 / max(high - low, 1.0), beta=-low * 255.0 / max(high - low, 1.0))
    stretched = stretched.astype(np.float32)
    sharpness = float(cv2.Laplacian(stretched, cv2.CV_32F).var())
    gradient = cv2.magnitude(cv2.Sobel(stretched, cv2.CV_32F, 1, 0), cv2.Sobel(stretched, cv2.CV_32F, 0, 1)) / 8.0
    small = cv2.resize(rgb, (GREY_SIDE, GREY_SIDE), interpolation=cv2.INTER_AREA)
    small_grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    colour_spread = float(small.reshape(-1, 3).astype(np.float32).std(axis=0).max())
    [shadows] = _percentiles(grey, (0.1,))
    red, green, blue = cv2.split(rgb)
    [highlights] = _percentiles(cv2.max(cv2.max(red, green), blue), (99.9,))  # numpy's max over axis 2: 30x slower
    # The gradient (0-~360 grey levels per pixel) in whole levels: a histogram instead of a sort, 4x faster.
    [edges] = _percentiles(np.minimum(gradient, 1023).astype(np.uint16), (99.9,), 1024)
    return PhotoStats(sharpness, float(grey.mean()), float(small_grey.std()), colour_spread, shadows, highlights,
                      edges)


def _percentiles(values: np.ndarray, qs: tuple[float, ...], levels: int = 256) -> list[float]:
    """Percentiles of small non-negative integers (the lower value at a boundary), by a histogram."""
    cumulative = np.cumsum(np.bincount(values.ravel(), minlength=levels))
    return [float(np.searchsorted(cumulative, q / 100.0 * (cumulative[-1] - 1), side="right")) for q in qs]


def robust_z(values: np.ndarray) -> np.ndarray:
    """(value − median) / (1.4826 · MAD): a z-score that a few extreme values cannot drag along."""
    median = float(np.median(values))
    mad = 1.4826 * float(np.median(np.abs(values - median)))
    return (values - median) / max(mad, 1e-9)


@dataclass(frozen=True)
class Sized:
    """What the per-photo rules need of a photo: its stored size and its statistics (None: not readable)."""

    width: int
    height: int
    stats: PhotoStats | None


def per_photo_flags(photos: Sequence[Sized], notes: list[str]) -> dict[str, list[tuple[int, str]]]:
    """Each per-photo kind's flags as (position in ``photos``, one-line reason); notes say what was skipped."""
    flagged: dict[str, list[tuple[int, str]]] = {kind: [] for kind in PER_PHOTO_KINDS}
    textured = [i for i, p in enumerate(photos) if p.stats is not None and p.stats.spread >= UNIFORM_STD]
    blur: dict[int, tuple[float, float, float]] = {}
    if len(textured) >= MIN_FOR_STATISTICS:
        logs = np.log(np.array([max(photos[i].stats.sharpness, 1e-9) for i in textured]))
        median = math.exp(float(np.median(logs)))
        median_edges = float(np.median([photos[i].stats.edges for i in textured]))
        blur = {i: (z, median, median_edges) for i, z in zip(textured, robust_z(logs).tolist(), strict=True)}
    elif textured:
        notes.append(f"The blur check needs at least {MIN_FOR_STATISTICS} photos with detail; skipped.")

    for position, photo in enumerate(photos):
        short, long = sorted((photo.width, photo.height))
        if 0 < long < TINY_SIDE:
            flagged["odd_size"].append((position, f"tiny: {photo.width}×{photo.height} px"))
        elif short and long / short > EXTREME_ASPECT:
            flagged["odd_size"].append((position, f"extreme aspect ratio {long / short:.1f}:1 "
                                                  f"({photo.width}×{photo.height} px)"))
        found = photo.stats
        if found is None:
            continue
        if found.brightness < DARK_MEAN and found.highlights <= DARK_HIGHLIGHTS:
            flagged["dark"].append((position, f"nearly black: mean brightness {found.brightness:.0f} of 255, "
                                              f"its brightest parts {found.highlights:.0f}"))
        elif found.brightness > BRIGHT_MEAN and found.shadows >= BRIGHT_SHADOWS:
            flagged["bright"].append((position, f"nearly white: mean brightness {found.brightness:.0f} of 255, "
                                                f"its darkest parts {found.shadows:.0f}"))
        if found.spread < UNIFORM_STD and found.colour_spread < UNIFORM_STD:
            flagged["low_information"].append((position, f"nearly uniform (spread {found.spread:.1f} grey "
                                                         "levels)"))
        z, median, median_edges = blur.get(position, (0.0, 0.0, 0.0))
        if z < BLUR_Z and found.sharpness * BLUR_FACTOR < median and found.edges * EDGE_FACTOR < median_edges:
            flagged["blurry"].append((position, f"edges {median / max(found.sharpness, 1e-9):.0f}× softer than "
                                                "the collection's typical photo"))
    return flagged


def summary(kind: str, count: int) -> str:
    return f"{plural(count, 'photo')}: {SUMMARIES[kind]}"
