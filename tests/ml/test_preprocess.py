"""The numpy/Pillow evaluation preprocessing (desktop.ml.preprocess) against torchvision's transforms, which it
replaces in both builds, on real photographs (scikit-image's samples: portrait and landscape, odd sizes).

Measured bound: the inputs differ by at most 2 8-bit levels (bicubic: Pillow and torch round the filter's
intermediate sums differently; bilinear: 1 level), on fewer than 1% of the values; all other values are
bit-identical. In normalised units that is 2/128 (EfficientNet-Lite's std 128/255) or 1/(255·0.225) (ImageNet).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from desktop.ml.backbones import get_backbone
from desktop.ml.preprocess import EvalPreprocessing, center_crop, eval_array, resized_size, whole_view_array

MAX_LEVELS = 2  # 8-bit levels
MAX_DIFFERENT_FRACTION = 0.01
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")


def _torchvision_eval(spec, *, flip: bool = False, crop: bool = True) -> v2.Compose:
    """Version 1 of the evaluation preprocessing (desktop.ml.transforms before preprocess.py)."""
    steps = [v2.ToImage(), v2.Resize(spec.resize_size, interpolation=v2.InterpolationMode(spec.interpolation),
                                     antialias=True)]
    if crop:
        steps.append(v2.CenterCrop(spec.input_size))
    if flip:
        steps.append(v2.RandomHorizontalFlip(p=1.0))
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True),
                       v2.Normalize(mean=list(spec.mean), std=list(spec.std))])


def _real_photos() -> list[np.ndarray]:
    from skimage import data

    photos = []
    for name in PHOTOS:
        rgb = getattr(data, name)()
        photos += [rgb, np.ascontiguousarray(rgb.transpose(1, 0, 2)), np.ascontiguousarray(rgb[:333, :517])]
    return photos


@pytest.fixture(scope="module")
def real_photos() -> list[np.ndarray]:
    return _real_photos()


def _levels(difference: float, spec) -> float:
    return difference * min(spec.std) * 255


@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "efficientnet_lite1", "resnet18", "resnet50"])
def test_eval_crop_matches_torchvision_on_real_photos(backbone: str, real_photos: list[np.ndarray]) -> None:
    spec = get_backbone(backbone)
    worst, different = 0.0, []
    for rgb in real_photos:
        for flip in (False, True):
            expected = _torchvision_eval(spec, flip=flip)(rgb).numpy()
            actual = eval_array(rgb, spec, flip=flip)
            assert actual.shape == expected.shape == (3, spec.input_size, spec.input_size)
            assert actual.dtype == np.float32 and actual.flags.c_contiguous
            worst = max(worst, float(np.abs(actual - expected).max()))
            different.append(float((actual != expected).mean()))
    assert _levels(worst, spec) <= MAX_LEVELS + 1e-3
    assert max(different) < MAX_DIFFERENT_FRACTION


@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "resnet18"])
def test_whole_view_matches_torchvision_on_real_photos(backbone: str, real_photos: list[np.ndarray]) -> None:
    spec = get_backbone(backbone)
    for rgb in real_photos:
        expected = _torchvision_eval(spec, crop=False)(rgb).numpy()
        actual = whole_view_array(rgb, spec)
        assert actual.shape == expected.shape
        assert _levels(float(np.abs(actual - expected).max()), spec) <= MAX_LEVELS + 1e-3


def test_views_are_the_crop_and_its_mirror_image(real_photos: list[np.ndarray]) -> None:
    preprocessing = EvalPreprocessing.of(get_backbone("efficientnet_lite0"))
    views = preprocessing.views(real_photos[0], (False, True))
    assert np.array_equal(views[0], preprocessing.crop(real_photos[0]))
    assert np.array_equal(views[1], preprocessing.crop(real_photos[0], flip=True))
    assert np.array_equal(views[1], views[0][:, :, ::-1])


def test_sizes_and_anchors_are_torchvisions() -> None:
    """The longer side truncated (not rounded), the crop anchored by Python's round, a small image padded."""
    assert resized_size(300, 451, 256) == (256, 384)  # 384.85 → 384
    assert resized_size(451, 300, 256) == (384, 256)
    odd = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    for size in (2, 3, 4, 7, 8):
        expected = v2.CenterCrop(size)(torch.from_numpy(odd).permute(2, 0, 1)).permute(1, 2, 0).numpy()
        assert np.array_equal(center_crop(odd, size), expected), size


def test_transforms_wrap_the_numpy_preprocessing(real_photos: list[np.ndarray]) -> None:
    """The full build's tensors are exactly the CPU build's arrays."""
    from desktop.ml.transforms import eval_transform, whole_view_transform

    spec = get_backbone("efficientnet_lite0")
    rgb = real_photos[1]
    assert np.array_equal(eval_transform(spec, flip=True)(rgb).numpy(), eval_array(rgb, spec, flip=True))
    assert np.array_equal(whole_view_transform(spec)(rgb).numpy(), whole_view_array(rgb, spec))
