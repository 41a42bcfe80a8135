"""Train and evaluation preprocessing presets as torch transforms, built from a backbone's spec.

Both take the RGB uint8 (H, W, 3) arrays that ``desktop.io.images.load_rgb`` returns. Training's augmentation is
torchvision's (transforms v2: geometry on uint8, then ``ToDtype(scale=True)`` and the weights' normalisation);
evaluation is ``preprocess``'s numpy, wrapped in tensors, so both builds compute identical inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torchvision.transforms import v2

from desktop.ml.backbones import BackboneSpec
from desktop.ml.preprocess import EvalPreprocessing, decode_size

__all__ = ["decode_size", "eval_transform", "train_transform", "whole_view_transform"]  # decode_size: training's too

# Milder than ImageNet training's scale=(0.08, 1): a user's photos show the object large, and few of them.
CROP_SCALE = (0.35, 1.0)
ROTATION_DEGREES = 10


def _interpolation(spec: BackboneSpec) -> v2.InterpolationMode:
    return v2.InterpolationMode(spec.interpolation)


def _to_normalised_tensor(spec: BackboneSpec) -> list[v2.Transform]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=list(spec.mean), std=list(spec.std))]


def train_transform(spec: BackboneSpec) -> v2.Compose:
    return v2.Compose([
        v2.ToImage(),
        v2.RandomResizedCrop(spec.input_size, scale=CROP_SCALE, interpolation=_interpolation(spec), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomRotation(ROTATION_DEGREES, interpolation=v2.InterpolationMode.BILINEAR),
        v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02),
        *_to_normalised_tensor(spec),
    ])


class _Tensors:
    """numpy preprocessing (``preprocess``) as a torch transform: the full build's tensors are exactly the CPU
    build's arrays. Picklable (plain values), for DataLoader workers."""

    def __init__(self, preprocessing: EvalPreprocessing, *, flip: bool = False, crop: bool = True) -> None:
        self.preprocessing, self.flip, self.crop = preprocessing, flip, crop

    def __call__(self, rgb: np.ndarray) -> torch.Tensor:
        array = self.preprocessing.crop(rgb, flip=self.flip) if self.crop else self.preprocessing.whole(rgb)
        return torch.from_numpy(np.ascontiguousarray(array))


def eval_transform(spec: BackboneSpec, *, flip: bool = False) -> Callable[[np.ndarray], torch.Tensor]:
    """Resize the shorter side, centre-crop; ``flip`` mirrors the result (a second cached view of each image)."""
    return _Tensors(EvalPreprocessing.of(spec), flip=flip)


def whole_view_transform(spec: BackboneSpec) -> Callable[[np.ndarray], torch.Tensor]:
    """Like ``eval_transform`` without the crop: the whole picture at the scale the model sees its centre (Grad-CAM
    over all of a photo, the network being convolutional)."""
    return _Tensors(EvalPreprocessing.of(spec), crop=False)
