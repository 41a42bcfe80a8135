"""Train and evaluation preprocessing presets (torchvision transforms v2), built from a backbone's spec.

Both take the RGB uint8 (H, W, 3) arrays that ``desktop.io.images.load_rgb`` returns. Geometry runs on
uint8 (cheaper), then ``ToDtype(scale=True)`` and the normalisation the weights were trained with.
"""

from __future__ import annotations

import json

import torch
from torchvision.transforms import v2

from desktop.ml.backbones import BackboneSpec

# Milder than ImageNet training's scale=(0.08, 1): a user's photos show the object large, and few of them.
CROP_SCALE = (0.35, 1.0)
ROTATION_DEGREES = 10
# Bumped whenever eval_transform changes, so cached features computed the old way are not reused.
EVAL_PREPROCESSING_VERSION = 1


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


def eval_transform(spec: BackboneSpec, *, flip: bool = False) -> v2.Compose:
    """Resize the shorter side, centre-crop; ``flip`` mirrors the result (a second cached view of each image)."""
    steps: list[v2.Transform] = [
        v2.ToImage(),
        v2.Resize(spec.resize_size, interpolation=_interpolation(spec), antialias=True),
        v2.CenterCrop(spec.input_size),
    ]
    if flip:
        steps.append(v2.RandomHorizontalFlip(p=1.0))
    return v2.Compose(steps + _to_normalised_tensor(spec))


def whole_view_transform(spec: BackboneSpec) -> v2.Compose:
    """Like ``eval_transform`` without the crop: the whole picture at the scale the model sees its centre (Grad-CAM
    over all of a photo, the network being convolutional)."""
    return v2.Compose([v2.ToImage(), v2.Resize(spec.resize_size, interpolation=_interpolation(spec), antialias=True),
                       *_to_normalised_tensor(spec)])


def eval_preprocessing_id(spec: BackboneSpec) -> str:
    """Everything about evaluation preprocessing that changes the features (part of the feature-cache key)."""
    return json.dumps({"version": EVAL_PREPROCESSING_VERSION, "resize": spec.resize_size, "crop": spec.input_size,
                       "interpolation": spec.interpolation, "mean": list(spec.mean), "std": list(spec.std),
                       "decode_min_short_side": decode_size(spec)}, sort_keys=True)


def decode_size(spec: BackboneSpec) -> int:
    """Smallest shorter side worth decoding (JPEGs decode at 1/2, 1/4, 1/8 size when that is enough)."""
    return spec.resize_size
