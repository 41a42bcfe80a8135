"""Evaluation preprocessing in numpy and Pillow, the one definition both builds use: the full build wraps it in
tensors (``transforms.eval_transform``), the CPU build feeds it to ONNX Runtime as it is.

It is torchvision's ``Resize(antialias=True)`` → ``CenterCrop`` → ``ToDtype(scale=True)`` → ``Normalize``, step
for step: the shorter side resized to ``spec.resize_size`` (the longer one truncated as torchvision does) with
Pillow's antialiased filter of the spec's interpolation — the filter torchvision's antialiasing was written to
match —, the centre crop anchored where torchvision anchors it (Python's round), then float32 scaled by 1/255 and
normalised. On real photos the result differs from torchvision's by at most one 8-bit level here and there
(tests/ml/test_preprocess.py states the bound).

Input: RGB uint8 (H, W, 3), as ``desktop.io.images.load_rgb`` returns. Output: float32 (3, H', W'), C-contiguous.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from desktop.ml.backbones import BackboneSpec

# Bumped whenever the evaluation preprocessing changes, so cached features computed the old way are not reused.
# 2: numpy/Pillow here (within an 8-bit level or two of version 1's torchvision transforms).
EVAL_PREPROCESSING_VERSION = 2
_FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}
_SCALE = np.float32(1.0 / 255.0)  # what ToDtype(scale=True) multiplies by, in float32


def resized_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) with the shorter side ``short_side``; the longer side truncated, as torchvision does."""
    if width <= height:
        return int(short_side * height / width), short_side
    return short_side, int(short_side * width / height)


def resize_shorter_side(rgb: np.ndarray, short_side: int, interpolation: str) -> np.ndarray:
    """``rgb`` with its shorter side ``short_side`` (antialiased), uint8 (H', W', 3)."""
    height, width = rgb.shape[:2]
    new_height, new_width = resized_size(height, width, short_side)
    if (new_height, new_width) == (height, width):
        return rgb
    try:
        resample = _FILTERS[interpolation]
    except KeyError:
        raise ValueError(f"unknown interpolation {interpolation!r}") from None
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    return np.asarray(image.resize((new_width, new_height), resample))


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` × ``size`` square; a smaller image is padded with black first, as torchvision pads."""
    height, width = rgb.shape[:2]
    if size > height or size > width:
        top, left = max(0, (size - height) // 2), max(0, (size - width) // 2)
        padded = np.zeros((max(size, height), max(size, width), rgb.shape[2]), rgb.dtype)
        padded[top:top + height, left:left + width] = rgb
        rgb, (height, width) = padded, padded.shape[:2]
    top, left = round((height - size) / 2.0), round((width - size) / 2.0)  # round half to even, as torchvision
    return rgb[top:top + size, left:left + size]


def normalised_chw(rgb: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """uint8 (H, W, 3) → float32 (3, H, W): scaled to [0, 1], then (x - mean) / std per channel."""
    chw = np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32)
    chw *= _SCALE
    chw -= np.asarray(mean, np.float32).reshape(3, 1, 1)
    chw /= np.asarray(std, np.float32).reshape(3, 1, 1)
    return chw


@dataclass(frozen=True)
class EvalPreprocessing:
    """A backbone's evaluation preprocessing, plain values only (picklable for DataLoader workers, unlike a spec,
    which holds functions)."""

    resize_size: int
    input_size: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def of(cls, spec: BackboneSpec) -> EvalPreprocessing:
        return cls(spec.resize_size, spec.input_size, spec.interpolation, tuple(spec.mean), tuple(spec.std))

    def crop(self, rgb: np.ndarray, *, flip: bool = False) -> np.ndarray:
        """The evaluation crop, normalised, float32 (3, input_size, input_size); ``flip`` mirrors it."""
        crop = center_crop(resize_shorter_side(rgb, self.resize_size, self.interpolation), self.input_size)
        if flip:
            crop = crop[:, ::-1]
        return normalised_chw(crop, self.mean, self.std)

    def views(self, rgb: np.ndarray, mirrored: Sequence[bool]) -> np.ndarray:
        """Several views of one image stacked, float32 (V, 3, S, S): the crop, and its mirror image where
        ``mirrored[v]``; the resize and crop run once."""
        chw = self.crop(rgb)
        return np.stack([chw[:, :, ::-1] if mirror else chw for mirror in mirrored])

    def whole(self, rgb: np.ndarray) -> np.ndarray:
        """Like ``crop`` without the crop: the whole picture at the scale the model sees its centre."""
        return normalised_chw(resize_shorter_side(rgb, self.resize_size, self.interpolation), self.mean, self.std)


def eval_array(rgb: np.ndarray, spec: BackboneSpec, *, flip: bool = False) -> np.ndarray:
    """The evaluation crop of ``rgb`` for ``spec``, float32 (3, input_size, input_size)."""
    return EvalPreprocessing.of(spec).crop(rgb, flip=flip)


def whole_view_array(rgb: np.ndarray, spec: BackboneSpec) -> np.ndarray:
    """The whole picture resized for ``spec``, float32 (3, H', W')."""
    return EvalPreprocessing.of(spec).whole(rgb)


def eval_preprocessing_id(spec: BackboneSpec) -> str:
    """Everything about evaluation preprocessing that changes the features (part of the feature-cache key)."""
    return json.dumps({"version": EVAL_PREPROCESSING_VERSION, "resize": spec.resize_size, "crop": spec.input_size,
                       "interpolation": spec.interpolation, "mean": list(spec.mean), "std": list(spec.std),
                       "decode_min_short_side": decode_size(spec)}, sort_keys=True)


def decode_size(spec: BackboneSpec) -> int:
    """Smallest shorter side worth decoding (JPEGs decode at 1/2, 1/4, 1/8 size when that is enough)."""
    return spec.resize_size
